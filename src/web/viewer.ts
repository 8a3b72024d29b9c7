import type { Entry } from '../client/index.js';
import { h, keyText, replace, type Child } from './dom.js';
import { formatBytes, formatCount, formatCountdown, formatInstant } from './format.js';
import { kindOf, releaseValueUrls, valueView } from './value-view.js';

/**
 * The detail pane's read-only views: a key (metadata, a live TTL countdown,
 * the value), a folder, a key that is gone, nothing selected. What to do
 * with them (edit, delete) comes from the caller, as buttons shown only when
 * the token may.
 */

export interface KeyActions {
  edit?: () => void;
  delete?: () => void;
}

let countdown: ReturnType<typeof setInterval> | null = null;

function stopCountdown(): void {
  if (countdown !== null) clearInterval(countdown);
  countdown = null;
}

/** Clears what the pane showed (timers, blob URLs). */
export function leaveView(): void {
  stopCountdown();
  releaseValueUrls();
}

const KIND_LABEL = { json: 'JSON', text: 'Text', image: 'Image', binary: 'Binary' } as const;

export function showEntry(pane: HTMLElement, entry: Entry, actions: KeyActions, banner: HTMLElement | null = null): void {
  leaveView();
  const expires = h('dd', {});
  const buttons: HTMLElement[] = [];
  if (actions.edit !== undefined) buttons.push(h('button', { type: 'button', class: 'secondary', text: 'Edit', onclick: actions.edit }));
  if (actions.delete !== undefined) buttons.push(h('button', { type: 'button', class: 'danger', text: 'Delete', onclick: actions.delete }));
  const item = (label: string, value: Child | Node, title?: string, wide = false) =>
    h(
      'div',
      { ...(title === undefined ? {} : { title }), ...(wide ? { class: 'wide' } : {}) },
      h('dt', { text: label }),
      value instanceof Node ? value : h('dd', { text: String(value) }),
    );
  replace(
    pane,
    h(
      'article',
      { class: 'key-view', 'aria-label': 'Key details' },
      banner,
      h(
        'div',
        { class: 'key-head' },
        h('h2', { class: 'key-name' }, keyText(entry.key)),
        h('span', { class: 'kind', text: KIND_LABEL[kindOf(entry.contentType, entry.value)] }),
        h('div', { class: 'actions' }, ...buttons),
      ),
      h(
        'dl',
        { class: 'meta-grid' },
        item('Revision', formatCount(entry.revision), 'The revision of the write that last changed the key (its ETag)'),
        item('Version', formatCount(entry.version), 'Writes since the key was created'),
        item('Created revision', formatCount(entry.createRevision), 'The revision of the write that created the key'),
        item('Size', `${formatBytes(entry.value.length)}${entry.value.length >= 1024 ? ` (${formatCount(entry.value.length)} bytes)` : ''}`),
        item('Content type', entry.contentType, undefined, true),
        item('Expires', expires, undefined, true),
      ),
      valueView(entry.key, entry.contentType, entry.value),
    ),
  );
  const tick = () => {
    if (entry.expiresAt === null) {
      expires.textContent = 'never (no TTL)';
      return;
    }
    const left = entry.expiresAt.getTime() - Date.now();
    expires.textContent = left > 0 ? `in ${formatCountdown(left)}` : 'expired';
    expires.title = formatInstant(entry.expiresAt);
  };
  tick();
  if (entry.expiresAt !== null) countdown = setInterval(tick, 1000);
}

export function showFolder(pane: HTMLElement, prefix: string, actions: { create?: () => void; delete?: () => void }): void {
  leaveView();
  const buttons: HTMLElement[] = [];
  if (actions.create !== undefined) buttons.push(h('button', { type: 'button', class: 'secondary', text: 'New key here', onclick: actions.create }));
  if (actions.delete !== undefined) buttons.push(h('button', { type: 'button', class: 'danger', text: 'Delete folder…', onclick: actions.delete }));
  replace(
    pane,
    h(
      'article',
      { class: 'folder-view', 'aria-label': 'Folder details' },
      h(
        'div',
        { class: 'key-head' },
        h('h2', { class: 'key-name' }, keyText(prefix)),
        h('span', { class: 'kind', text: 'Folder' }),
        h('div', { class: 'actions' }, ...buttons),
      ),
      h('p', {
        class: 'hint',
        text: 'A folder is every key that starts with this prefix. Its keys are listed in the tree; deleting it deletes all of them, at one revision, after showing how many there are.',
      }),
    ),
  );
}

export function showGone(pane: HTMLElement, key: string, why: string): void {
  leaveView();
  replace(
    pane,
    h(
      'article',
      { class: 'key-view', 'aria-label': 'Key details' },
      h('div', { class: 'banner info', role: 'status' }, h('p', { text: why })),
      h('div', { class: 'key-head' }, h('h2', { class: 'key-name' }, keyText(key))),
    ),
  );
}

export function showMessage(pane: HTMLElement, kind: 'info' | 'warn' | 'error', text: string): void {
  leaveView();
  replace(pane, h('div', { class: `banner ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, h('p', { text })));
}

export function showNothing(pane: HTMLElement, canCreate: boolean): void {
  leaveView();
  replace(
    pane,
    h(
      'div',
      { class: 'detail-empty' },
      h('h2', { text: 'Pick a key to see its value' }),
      h('p', {
        text: canCreate
          ? 'Browse the tree on the left, filter by prefix at the top, or create a key with New key.'
          : 'Browse the tree on the left, or filter by prefix at the top.',
      }),
    ),
  );
}
