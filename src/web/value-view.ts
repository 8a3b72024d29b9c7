import { hexDump, isUtf8, toBase64 } from './bytes.js';
import { h, replace } from './dom.js';
import { formatBytes, lastSegment } from './format.js';
import { JSON_MAX_DEPTH, JsonPrinter, utf8Length, type Run } from './json.js';

/**
 * A value shown by its content type: JSON pretty-printed and highlighted,
 * text, hex and base64 for any bytes, an inline preview for raster images.
 * A value of any size or shape never freezes the page: each view is built
 * only when its tab is chosen, and puts a bounded part into the DOM at a time
 * (characters and lines; JSON is formatted only as far as it is shown, with a
 * bounded number of highlighted spans), with "Show more" for the next part
 * and a download link to all the bytes (a blob: URL). A view that fails
 * anyway says so in its box: the tabs and the download stay.
 */

export type ValueKind = 'json' | 'text' | 'image' | 'binary';

/** Characters put into the DOM at a time (JSON, text, base64). */
export const TEXT_LIMIT = 256 * 1024;
/** Lines put into the DOM at a time (JSON, text): layout costs by the line too. */
export const LINE_LIMIT = 5000;
/** Highlighted tokens of a JSON value (a span each); the rest is plain text. */
export const SPAN_LIMIT = 5000;
/** Bytes of a hex dump at a time (16 per line). */
const HEX_LIMIT = 64 * 1024;

/**
 * Images previewed inline, by their exact media type. Not SVG: opened from
 * its blob: URL, an SVG document could run script; it is shown as text.
 */
const PREVIEWABLE = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp', 'image/x-icon', 'image/vnd.microsoft.icon']);

const TEXT_TYPES =
  /^(text\/.+|application\/(xml|javascript|ecmascript|x-ndjson|ndjson|yaml|x-yaml|toml|x-www-form-urlencoded|sql|graphql)|image\/svg\+xml|.+\+xml|.+\+yaml)$/;

export function mediaType(contentType: string): string {
  return contentType.split(';', 1)[0]!.trim().toLowerCase();
}

export function isJsonType(contentType: string): boolean {
  const type = mediaType(contentType);
  return type === 'application/json' || type.endsWith('+json');
}

/** How a value is shown: by its content type, and (when its bytes are known) whether they are text. */
export function kindOf(contentType: string, bytes: Uint8Array | null): ValueKind {
  const type = mediaType(contentType);
  if (PREVIEWABLE.has(type)) return 'image';
  if (isJsonType(contentType)) return 'json';
  if (TEXT_TYPES.test(type)) return bytes === null || isUtf8(bytes) ? 'text' : 'binary';
  return 'binary';
}

interface Tab {
  name: string;
  render(): Node;
}

/** Blob URLs made for the shown value: revoked when another is shown. */
let blobUrls: string[] = [];

function blobUrl(bytes: Uint8Array, type: string): string {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  blobUrls.push(url);
  return url;
}

export function releaseValueUrls(): void {
  for (const url of blobUrls) URL.revokeObjectURL(url);
  blobUrls = [];
}

/** The tabs and the value under them, for `bytes` of `contentType`; `key` names the download. */
export function valueView(key: string, contentType: string, bytes: Uint8Array): HTMLElement {
  releaseValueUrls();
  const kind = kindOf(contentType, bytes);
  const utf8 = kind === 'json' || kind === 'text' || isUtf8(bytes);
  const tabs: Tab[] = [];
  if (kind === 'json') tabs.push({ name: 'JSON', render: () => jsonView(bytes) });
  if (kind === 'image') tabs.push({ name: 'Preview', render: () => imageView(bytes, mediaType(contentType)) });
  if (utf8) tabs.push({ name: 'Text', render: () => textView(bytes) });
  tabs.push({ name: 'Hex', render: () => hexView(bytes) });
  tabs.push({ name: 'Base64', render: () => base64View(bytes) });

  const body = h('div', { class: 'value-box', role: 'tabpanel' });
  const bar = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Show the value as' });
  const buttons = tabs.map((tab) => {
    const button = h('button', { type: 'button', role: 'tab', 'aria-selected': 'false', text: tab.name });
    button.addEventListener('click', () => select(tab, button));
    return button;
  });
  const select = (tab: Tab, button: HTMLButtonElement) => {
    for (const other of buttons) other.setAttribute('aria-selected', String(other === button));
    try {
      replace(body, tab.render());
    } catch (error) {
      // A bug, or a value the browser cannot hold as text: the other views and the download still work.
      replace(
        body,
        h(
          'div',
          { class: 'banner warn', role: 'note' },
          h('p', { text: `The ${tab.name} view cannot show this value (${(error as Error).message}). The other views and the download still can.` }),
        ),
      );
    }
  };
  // Octet-stream that happens to be text still opens as hex: what it is, not what it looks like.
  const first = kind === 'binary' ? tabs.findIndex((tab) => tab.name === 'Hex') : 0;
  const download = h('a', { href: blobUrl(bytes, 'application/octet-stream'), download: lastSegment(key), text: `Download (${formatBytes(bytes.length)})` });
  bar.append(...buttons, h('span', { class: 'spacer' }), download);
  select(tabs[first]!, buttons[first]!);
  return h('div', { class: 'value-view' }, bar, body);
}

/** One part of a view at a time. */
interface Pager {
  /** The next part (the first, then one per "Show more"). */
  next(): Node;
  /** What is shown of the whole, or null once it is all shown; `more` is false when nothing more can be shown here. */
  status(): { text: string; more: boolean } | null;
}

/** A view put into the DOM a part at a time: the first part, and a note with "Show more" while there is more. */
function pagedView(className: string, pager: Pager): HTMLElement {
  const shown = pre(className, pager.next());
  const note = h('div', { class: 'truncated', role: 'note' });
  const view = h('div', {}, shown, note);
  const update = () => {
    const status = pager.status();
    if (status === null) {
      note.remove();
      return;
    }
    const more = h('button', { type: 'button', class: 'link', text: 'Show more' });
    more.addEventListener('click', () => {
      shown.append(pager.next());
      update();
    });
    replace(note, `${status.text} `, status.more ? more : null, status.more ? ' ' : null, 'Download the value for all of it.');
  };
  update();
  return view;
}

function pre(className: string, content: string | Node): HTMLPreElement {
  const element = h('pre', { class: `value ${className}`, tabindex: '0' });
  element.append(content);
  return element;
}

function emptyView(): HTMLElement {
  return h('p', { class: 'value empty', text: 'The value is empty (0 bytes).' });
}

function jsonView(bytes: Uint8Array): Node {
  if (bytes.length === 0) return emptyView();
  // Decoding is linear and cheap; only what is shown is formatted (and checked).
  const text = new TextDecoder('utf-8').decode(bytes);
  const printer = new JsonPrinter(text);
  let first: Run[] | null = printer.next(TEXT_LIMIT, LINE_LIMIT);
  if (printer.error !== null || printer.tooDeep) {
    const why =
      printer.error !== null
        ? `Stored as JSON, but it is not valid JSON (${printer.error}); shown as text.`
        : `This JSON is nested more than ${JSON_MAX_DEPTH} levels deep: shown as stored, not formatted.`;
    return h('div', {}, h('div', { class: 'banner warn', role: 'note' }, h('p', { text: why })), pagedView('text', textPager(bytes)));
  }
  const spans = { left: SPAN_LIMIT };
  const total = formatBytes(bytes.length);
  return pagedView('json', {
    next() {
      const runs = first ?? printer.next(TEXT_LIMIT, LINE_LIMIT);
      first = null;
      return runsFragment(runs, spans);
    },
    status() {
      if (printer.complete) return null;
      const shown = `the first ${formatBytes(utf8Length(text, printer.position))} of ${total}`;
      if (printer.error !== null)
        return { text: `Formatted ${shown}; past that it is not valid JSON (${printer.error}). The Text tab shows it as stored.`, more: false };
      if (printer.tooDeep)
        return { text: `Formatted ${shown}; past that it is nested more than ${JSON_MAX_DEPTH} levels deep. The Text tab shows it as stored.`, more: false };
      return { text: `Showing ${shown}, formatted.`, more: true };
    },
  });
}

/** Runs as nodes: a span per run while `spans` lasts (text nodes, never markup), then the rest as one text node. */
function runsFragment(runs: Run[], spans: { left: number }): DocumentFragment {
  const fragment = document.createDocumentFragment();
  let index = 0;
  for (; index < runs.length && spans.left > 0; index += 1, spans.left -= 1) {
    const [kind, piece] = runs[index]!;
    fragment.append(h('span', { class: kind, text: piece }));
  }
  if (index < runs.length) {
    const rest: string[] = [];
    for (; index < runs.length; index += 1) rest.push(runs[index]![1]);
    fragment.append(rest.join(''));
  }
  return fragment;
}

/** UTF-8 text a part at a time: at most TEXT_LIMIT bytes (so characters) and LINE_LIMIT lines; a character cut between parts is decoded whole. */
function textPager(bytes: Uint8Array): Pager {
  const decoder = new TextDecoder('utf-8');
  let offset = 0;
  return {
    next() {
      const start = offset;
      let end = Math.min(bytes.length, start + TEXT_LIMIT);
      const part = bytes.subarray(start, end);
      let lines = 0;
      for (let at = part.indexOf(0x0a); at !== -1; at = part.indexOf(0x0a, at + 1)) {
        lines += 1;
        if (lines === LINE_LIMIT) {
          end = start + at + 1;
          break;
        }
      }
      offset = end;
      return document.createTextNode(decoder.decode(bytes.subarray(start, end), { stream: end < bytes.length }));
    },
    status: () => (offset >= bytes.length ? null : { text: `Showing the first ${formatBytes(offset)} as text of ${formatBytes(bytes.length)}.`, more: true }),
  };
}

function textView(bytes: Uint8Array): Node {
  if (bytes.length === 0) return emptyView();
  return pagedView('text', textPager(bytes));
}

function hexView(bytes: Uint8Array): Node {
  if (bytes.length === 0) return emptyView();
  let offset = 0;
  return pagedView('hex', {
    next() {
      const start = offset;
      offset = Math.min(bytes.length, start + HEX_LIMIT);
      return document.createTextNode(`${start === 0 ? '' : '\n'}${hexDump(bytes, start, offset)}`);
    },
    status: () => (offset >= bytes.length ? null : { text: `Showing the first ${formatBytes(offset)} in hex of ${formatBytes(bytes.length)}.`, more: true }),
  });
}

function base64View(bytes: Uint8Array): Node {
  if (bytes.length === 0) return emptyView();
  // 3 bytes make 4 characters: parts of a multiple of 3 bytes join into the base64 of the whole.
  const part = Math.floor((TEXT_LIMIT * 3) / 4 / 3) * 3;
  let offset = 0;
  return pagedView('base64', {
    next() {
      const start = offset;
      offset = Math.min(bytes.length, start + part);
      return document.createTextNode(toBase64(bytes.subarray(start, offset)));
    },
    status: () => (offset >= bytes.length ? null : { text: `Showing the first ${formatBytes(offset)} in base64 of ${formatBytes(bytes.length)}.`, more: true }),
  });
}

function imageView(bytes: Uint8Array, type: string): Node {
  // The blob's type is one of PREVIEWABLE, never the stored text.
  const image = h('img', { src: blobUrl(bytes, PREVIEWABLE.has(type) ? type : 'application/octet-stream'), alt: 'The value, as an image' });
  const caption = h('p', { class: 'image-size' });
  const box = h('div', { class: 'value-image' }, image, caption);
  image.addEventListener('load', () => {
    caption.textContent = `${image.naturalWidth} × ${image.naturalHeight} pixels`;
    // A small image is shown larger, its pixels kept sharp.
    if (image.naturalWidth < 96 && image.naturalHeight < 96) image.classList.add('small');
  });
  image.addEventListener('error', () => replace(box, h('p', { class: 'value empty', text: 'The browser could not show these bytes as an image.' })));
  return box;
}
