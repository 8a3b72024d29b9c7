import { ForbiddenError, PreconditionFailedError, UnauthorizedError, type Entry, type KvsClient, type WatchEvent } from '../client/index.js';
import { explain } from './auth.js';
import { fromBase64, isUtf8, toBase64, utf8Prefix } from './bytes.js';
import { h, keyText, replace, titleText } from './dom.js';
import { formatBytes, formatCount, formatInstant, parseTtl, secondsUntil } from './format.js';
import type { Rights } from './rights.js';
import { textBytes, textForm } from './text-edit.js';
import { isJsonType } from './value-view.js';
import { leaveView } from './viewer.js';

/**
 * "New key" and "Edit": a form (Key, Content type, TTL, Value), saved with
 * `If-None-Match: *` (new) or `If-Match` on the revision that was loaded
 * (edit). A concurrent change is never overwritten silently: the save is
 * refused (412) and the page shows both versions and a choice. A change to
 * the key seen on the watch while the form is open is flagged, not applied.
 *
 * Saving writes only what the user changed: the text form keeps a value's
 * CRLF line endings and byte order mark, a value a text box would change is
 * edited as base64 (text-edit.ts), and a TTL left as it is keeps the key's
 * deadline.
 */

/** Values larger than this are not edited in a textarea. */
const EDIT_LIMIT = 1024 * 1024;
/** What a conflict shows of each version. */
const COMPARE_LIMIT = 64 * 1024;

const CONTENT_TYPES = [
  'application/json',
  'text/plain; charset=utf-8',
  'application/octet-stream',
  'text/html; charset=utf-8',
  'text/csv',
  'application/xml',
  'application/yaml',
  'image/png',
  'image/jpeg',
];

export interface EditorHost {
  client(): KvsClient;
  rights(): Rights;
  maxValueBytes(): number | null;
  /** Saved, at `revision`: show the key. */
  saved(key: string, revision: number): void;
  /** Closed without saving: show `key` again (null: nothing). */
  closed(key: string | null): void;
  unauthorized(error: UnauthorizedError): void;
}

type Encoding = 'utf8' | 'base64';

interface Draft {
  bytes: Uint8Array;
  contentType: string;
  /** Seconds from the write, or a deadline to keep (the seconds left are worked out as it is sent); null: none. */
  ttl: { seconds: number } | { until: Date } | null;
}

interface Session {
  mode: 'new' | 'edit';
  key: string | null;
  /** The version the edit started from (edit), updated when the user chooses to keep editing over a newer one. */
  base: Entry | null;
  form: HTMLFormElement;
  fields: { key: HTMLInputElement | null; contentType: HTMLInputElement; ttl: HTMLInputElement; encoding: HTMLSelectElement; value: HTMLTextAreaElement };
  initial: string;
  banner: HTMLElement;
  error: HTMLElement;
  saveButton: HTMLButtonElement;
  encoding: Encoding;
  /** The text is written back with CRLF line endings (the value had them). */
  crlf: boolean;
  /** Says how the value is edited (line endings, BOM, why base64). */
  valueHint: HTMLElement;
  /** The TTL field as it was opened: left so, the key keeps its deadline. */
  ttlInitial: string;
  /** The key was deleted on the server and the user kept editing: saving creates it again (If-None-Match: *). */
  recreate: boolean;
  /** A write is on its way: its own change, coming back on the watch, is no news. */
  saving: boolean;
}

export class Editor {
  private session: Session | null = null;

  constructor(
    private readonly pane: HTMLElement,
    private readonly host: EditorHost,
  ) {}

  /** The key being edited (null for a new key, or when closed). */
  get editing(): { key: string | null } | null {
    return this.session === null ? null : { key: this.session.key };
  }

  /** Whether the form holds changes that saving would write. */
  isDirty(): boolean {
    return this.session !== null && this.snapshot(this.session) !== this.session.initial;
  }

  close(): void {
    this.session = null;
  }

  openNew(prefix: string): void {
    this.open('new', null, null, prefix);
  }

  /** Edits `entry`; false when it is too large for the browser (the pane then says so). */
  openEdit(entry: Entry): boolean {
    if (entry.value.length > EDIT_LIMIT) return false;
    this.open('edit', entry.key, entry, '');
    return true;
  }

  /** The watch saw a change to the key being edited: flag it, leave the form alone. */
  remoteChange(event: WatchEvent): void {
    const session = this.session;
    if (session === null || session.mode !== 'edit' || event.key !== session.key || session.saving) return;
    if (session.base !== null && event.revision <= session.base.revision) return;
    const what =
      event.type === 'put'
        ? `changed on the server (revision ${formatCount(event.revision)})`
        : event.type === 'expire'
          ? `expired on the server (revision ${formatCount(event.revision)})`
          : `deleted on the server (revision ${formatCount(event.revision)})`;
    replace(
      session.banner,
      h('p', { text: `This key was ${what} while you were editing. The change was not applied to your edit; saving will show both versions first.` }),
      h('button', {
        type: 'button',
        class: 'secondary',
        text: 'Compare now',
        onclick: () => {
          const draft = this.draftOrNull(session);
          if (draft !== null) void this.conflict(session, draft);
        },
      }),
    );
    session.banner.className = 'banner warn';
    session.banner.hidden = false;
  }

  private open(mode: 'new' | 'edit', key: string | null, base: Entry | null, prefix: string): void {
    leaveView();
    const asText = base === null ? null : textForm(base.value);
    const encoding: Encoding = asText === null || asText.editable ? 'utf8' : 'base64';
    const keyInput =
      mode === 'new'
        ? h('input', { id: 'edit-key', class: 'mono', type: 'text', autocomplete: 'off', spellcheck: 'false', required: true, value: prefix })
        : null;
    const contentType = h('input', {
      id: 'edit-type',
      class: 'mono',
      type: 'text',
      list: 'edit-types',
      autocomplete: 'off',
      spellcheck: 'false',
      value: base?.contentType ?? 'text/plain; charset=utf-8',
    });
    const expiresAt = base?.expiresAt ?? null;
    const ttlLeft = expiresAt === null ? '' : String(Math.max(1, Math.ceil((expiresAt.getTime() - Date.now()) / 1000)));
    const ttl = h('input', { id: 'edit-ttl', class: 'mono', type: 'text', inputmode: 'decimal', placeholder: 'none', autocomplete: 'off', value: ttlLeft });
    const encodingSelect = h(
      'select',
      { id: 'edit-encoding' },
      h('option', { value: 'utf8', text: 'Text (UTF-8)' }),
      h('option', { value: 'base64', text: 'Base64 (any bytes)' }),
    );
    encodingSelect.value = encoding;
    const value = h('textarea', { id: 'edit-value', spellcheck: 'false', autocomplete: 'off' });
    value.value = base === null ? '' : asText?.editable === true ? asText.text : toBase64(base.value);
    const valueHint = h('span', { class: 'hint', id: 'edit-value-hint' });
    const banner = h('div', { class: 'banner warn', role: 'status', hidden: true });
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const saveButton = h('button', { type: 'submit', class: 'primary', text: 'Save' });
    const cancel = h('button', { type: 'button', class: 'secondary', text: 'Cancel', onclick: () => this.cancel() });
    const field = (id: string, label: string, input: HTMLElement, hint?: string) =>
      h('div', { class: 'field' }, h('label', { for: id, text: label }), input, hint === undefined ? null : h('span', { class: 'hint', text: hint }));
    const form = h(
      'form',
      { class: 'editor', 'aria-label': mode === 'new' ? 'New key' : 'Edit key', novalidate: true },
      h('h2', {}, ...(mode === 'new' ? ['New key'] : ['Edit ', h('code', {}, keyText(key!))])),
      base === null
        ? null
        : h('p', {
            class: 'hint',
            text: `Editing revision ${formatCount(base.revision)} (version ${formatCount(base.version)}). Saving writes only if the key is still at that revision.`,
          }),
      banner,
      error,
      keyInput === null ? null : field('edit-key', 'Key', keyInput, 'Any characters; "/" makes folders. Shown and stored exactly as typed.'),
      h(
        'div',
        { class: 'field-row' },
        field('edit-type', 'Content type', contentType),
        field(
          'edit-ttl',
          'TTL (seconds)',
          ttl,
          base === null
            ? 'Empty: the key never expires.'
            : expiresAt === null
              ? 'Empty: no expiry. A number sets one, from the save.'
              : `Left as it is, the key keeps its expiry (${formatInstant(expiresAt)}): saving sends the seconds left then, by this computer's clock. Another number sets it anew, from the save; empty: no expiry.`,
        ),
        field('edit-encoding', 'Value as', encodingSelect),
      ),
      h('div', { class: 'field' }, h('label', { for: 'edit-value', text: 'Value' }), value, valueHint),
      h('datalist', { id: 'edit-types' }, ...CONTENT_TYPES.map((type) => h('option', { value: type }))),
      h('div', { class: 'form-actions' }, saveButton, cancel),
    );
    const session: Session = {
      mode,
      key,
      base,
      form,
      fields: { key: keyInput, contentType, ttl, encoding: encodingSelect, value },
      initial: '',
      banner,
      error,
      saveButton,
      encoding,
      crlf: asText?.editable === true && asText.crlf,
      valueHint,
      ttlInitial: ttlLeft,
      recreate: false,
      saving: false,
    };
    value.setAttribute('aria-describedby', valueHint.id);
    this.describeValue(session, asText?.editable === false ? asText.reason : null, asText?.editable === true && asText.bom);
    session.initial = this.snapshot(session);
    encodingSelect.addEventListener('change', () => this.changeEncoding(session));
    form.addEventListener('submit', (event: Event) => {
      event.preventDefault();
      void this.save(session);
    });
    this.session = session;
    replace(this.pane, form);
    (keyInput ?? value).focus();
    if (keyInput !== null) keyInput.setSelectionRange(keyInput.value.length, keyInput.value.length);
  }

  private snapshot(session: Session): string {
    const { key, contentType, ttl, value } = session.fields;
    return JSON.stringify([key?.value ?? session.key, contentType.value, ttl.value, session.encoding, value.value]);
  }

  private cancel(): void {
    const key = this.session?.mode === 'edit' ? this.session.key : null;
    this.session = null;
    this.host.closed(key);
  }

  /** The hint under Value: why it is base64 (`notText`), or what the text form keeps (CRLF, a BOM). */
  private describeValue(session: Session, notText: string | null, bom: boolean): void {
    const parts: string[] = [];
    if (notText !== null) parts.push(`${notText}: it is edited as base64, so that saving changes only the bytes you change.`);
    if (session.encoding === 'utf8' && session.crlf) parts.push('Its line endings are CRLF, as stored: shown as line breaks, saved as CRLF.');
    if (session.encoding === 'utf8' && bom) parts.push('It starts with a byte order mark (U+FEFF, not shown), which is kept.');
    session.valueHint.textContent = parts.join(' ');
    session.valueHint.hidden = parts.length === 0;
  }

  private changeEncoding(session: Session): void {
    const next = session.fields.encoding.value as Encoding;
    const text = session.fields.value.value;
    if (next === session.encoding) return;
    session.error.hidden = true;
    if (next === 'base64') {
      session.fields.value.value = toBase64(textBytes(text, session.crlf));
      session.encoding = next;
      this.describeValue(session, null, false);
      return;
    }
    const bytes = fromBase64(text);
    const asText = bytes === null ? null : textForm(bytes);
    if (asText === null || !asText.editable) {
      session.fields.encoding.value = session.encoding;
      this.fail(session, asText === null ? 'The value is not valid base64.' : `${asText.reason}: keep editing it as base64.`);
      return;
    }
    session.fields.value.value = asText.text;
    session.encoding = next;
    session.crlf = asText.crlf;
    this.describeValue(session, null, asText.bom);
  }

  private fail(session: Session, ...content: Array<string | Node>): void {
    replace(session.error, ...content);
    session.error.hidden = false;
  }

  /** The form as a value to write, or null after saying what is wrong. */
  private draftOrNull(session: Session): Draft | null {
    session.error.hidden = true;
    const contentType = session.fields.contentType.value.trim() || 'application/octet-stream';
    const ttlText = session.fields.ttl.value;
    const deadline = session.base?.expiresAt ?? null;
    let ttl: Draft['ttl'];
    if (session.mode === 'edit' && deadline !== null && ttlText === session.ttlInitial) {
      // Left as it was: the key keeps its deadline (kvs has no "keep the TTL" write: the seconds left are sent).
      ttl = { until: deadline };
    } else {
      const seconds = parseTtl(ttlText);
      if (seconds === 'invalid') {
        this.fail(session, 'TTL must be a number of seconds greater than 0 (up to 3 decimals), or empty for none.');
        return null;
      }
      ttl = seconds === null ? null : { seconds };
    }
    let bytes: Uint8Array;
    if (session.encoding === 'base64') {
      const decoded = fromBase64(session.fields.value.value);
      if (decoded === null) {
        this.fail(session, 'The value is not valid base64.');
        return null;
      }
      bytes = decoded;
    } else {
      const text = session.fields.value.value;
      if (isJsonType(contentType)) {
        try {
          JSON.parse(text);
        } catch (error) {
          this.fail(session, `The value is not valid JSON (${(error as Error).message}). Fix it, or choose another content type.`);
          return null;
        }
      }
      bytes = textBytes(text, session.crlf);
    }
    const max = this.host.maxValueBytes();
    if (max !== null && bytes.length > max) {
      this.fail(session, `The value is ${formatBytes(bytes.length)}; this server takes at most ${formatBytes(max)}.`);
      return null;
    }
    return { bytes, contentType, ttl };
  }

  private async save(session: Session): Promise<void> {
    const key = session.mode === 'new' ? session.fields.key!.value : session.key!;
    if (key === '') {
      this.fail(session, 'A key needs a name.');
      session.fields.key?.focus();
      return;
    }
    const draft = this.draftOrNull(session);
    if (draft === null) return;
    await this.write(session, key, draft, session.mode === 'new' || session.recreate ? { ifAbsent: true } : { ifRevision: session.base!.revision });
  }

  private async write(session: Session, key: string, draft: Draft, condition: { ifAbsent: true } | { ifRevision: number }): Promise<void> {
    session.saveButton.disabled = true;
    session.saveButton.textContent = 'Saving…';
    session.saving = true;
    try {
      const ttlSeconds = draft.ttl === null ? null : 'until' in draft.ttl ? secondsUntil(draft.ttl.until) : draft.ttl.seconds;
      const result = await this.host
        .client()
        .put(key, draft.bytes, { contentType: draft.contentType, ...(ttlSeconds === null ? {} : { ttlSeconds }), ...condition });
      if (this.session !== session) return;
      this.session = null;
      this.host.saved(key, result.revision);
    } catch (error) {
      if (this.session !== session) return;
      if (error instanceof PreconditionFailedError && session.mode === 'new' && 'ifAbsent' in condition) {
        this.fail(
          session,
          `A key named “${titleText(key)}” exists already; nothing was written. Open it to edit it, or choose another name. `,
          h('button', { type: 'button', class: 'link', text: 'Open it', onclick: () => this.openExisting(key) }),
        );
      } else if (error instanceof PreconditionFailedError) {
        await this.conflict(session, draft);
      } else if (error instanceof ForbiddenError) {
        this.host.rights().refused(key);
        this.fail(session, explain(error));
      } else {
        if (error instanceof UnauthorizedError) this.host.unauthorized(error);
        this.fail(session, explain(error));
      }
    } finally {
      session.saving = false;
      session.saveButton.disabled = false;
      session.saveButton.textContent = 'Save';
    }
  }

  private openExisting(key: string): void {
    this.session = null;
    this.host.closed(key);
  }

  /**
   * Both versions, side by side, and a choice: write mine over theirs (again
   * with If-Match, on theirs), keep editing (on top of theirs), or discard mine.
   */
  private async conflict(session: Session, mine: Draft): Promise<void> {
    const key = session.key!;
    let theirs: Entry | null;
    try {
      theirs = await this.host.client().get(key);
    } catch (error) {
      if (error instanceof UnauthorizedError) this.host.unauthorized(error);
      this.fail(session, `The key changed on the server, and reading its new version failed: ${explain(error)}`);
      return;
    }
    if (this.session !== session) return;
    const from = session.base === null ? 'a version' : `revision ${formatCount(session.base.revision)}`;
    const heading = theirs === null ? 'This key was deleted while you were editing' : 'This key changed while you were editing';
    const explanation =
      theirs === null
        ? `You started from ${from}; since then the key was deleted. Nothing was saved.`
        : `You started from ${from}; it is now at revision ${formatCount(theirs.revision)} (version ${formatCount(theirs.version)}). Nothing was saved: choose which version to keep.`;
    const overwrite = h('button', { type: 'button', class: 'primary', text: theirs === null ? 'Create it again with mine' : 'Save mine over theirs' });
    const keep = h('button', { type: 'button', class: 'secondary', text: 'Keep editing' });
    const discard = h('button', { type: 'button', class: 'danger', text: theirs === null ? 'Discard mine' : 'Discard mine, keep theirs' });
    const panel = h(
      'section',
      { class: 'conflict', 'aria-label': 'Conflict' },
      h('div', { class: 'banner error', role: 'alert' }, h('p', {}, h('strong', { text: `${heading}. ` }), explanation)),
      h(
        'div',
        { class: 'versions' },
        h(
          'section',
          { 'aria-label': 'Your version' },
          h('h4', { text: `Yours (not saved) · ${mine.contentType}` }),
          h('pre', { class: 'mine' }, comparable(mine.bytes)),
        ),
        h(
          'section',
          { 'aria-label': 'Version on the server' },
          h('h4', { text: theirs === null ? 'On the server: deleted' : `On the server · revision ${formatCount(theirs.revision)} · ${theirs.contentType}` }),
          h('pre', { class: 'theirs' }, theirs === null ? '(no value: the key does not exist)' : comparable(theirs.value)),
        ),
      ),
      h('div', { class: 'form-actions' }, overwrite, keep, discard),
    );
    overwrite.addEventListener('click', () => {
      replace(this.pane, session.form);
      void this.write(session, key, mine, theirs === null ? { ifAbsent: true } : { ifRevision: theirs.revision });
    });
    keep.addEventListener('click', () => {
      // The edit goes on over their version: the next save writes only if the key is still at it.
      if (theirs !== null) session.base = theirs;
      session.recreate = theirs === null;
      session.banner.className = 'banner info';
      replace(
        session.banner,
        h('p', {
          text:
            theirs === null
              ? 'The key was deleted on the server; saving will create it again.'
              : `Now editing over revision ${formatCount(theirs.revision)} (the server's). Their value is not in the form: merge what you need by hand.`,
        }),
      );
      session.banner.hidden = false;
      replace(this.pane, session.form);
    });
    discard.addEventListener('click', () => {
      this.session = null;
      this.host.closed(key);
    });
    replace(this.pane, panel);
    overwrite.focus();
  }
}

/** A version as text to compare: UTF-8 as it is, anything else in base64; both cut at COMPARE_LIMIT. */
function comparable(bytes: Uint8Array): string {
  if (bytes.length === 0) return '(empty)';
  const cut = bytes.length > COMPARE_LIMIT ? `\n… (${formatBytes(bytes.length)} in all)` : '';
  if (isUtf8(bytes)) return utf8Prefix(bytes, COMPARE_LIMIT) + cut;
  return `(binary, base64) ${toBase64(bytes.subarray(0, COMPARE_LIMIT))}${cut}`;
}
