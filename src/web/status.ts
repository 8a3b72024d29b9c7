import { h, replace } from './dom.js';
import { formatCount } from './format.js';
import type { ConnectionState } from './live.js';

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  off: 'Not live',
};

/**
 * The status bar: server version, engine, store revision, key count and the
 * watch's connection state. /v1/status needs an admin token when tokens are
 * configured; without one, what is known from elsewhere is shown (the
 * engine from /readyz, the revision from listings and the watch) and the rest
 * says why it is missing.
 */
export class StatusBar {
  private readonly version = h('b', { class: 'unknown', text: '…' });
  private readonly engine = h('b', { class: 'unknown', text: '…' });
  private readonly revisionText = h('b', { class: 'unknown', text: '…' });
  private readonly keys = h('b', { class: 'unknown', text: '…' });
  private readonly connection = h('span', { class: 'item connecting', title: 'The change feed (GET /v1/watch)' });
  private readonly token = h('span', { class: 'item' });
  private revision = 0;

  constructor(
    root: HTMLElement,
    private readonly forget: () => void,
  ) {
    replace(
      root,
      h('span', { class: 'item' }, 'kvs ', this.version),
      h('span', { class: 'item' }, 'engine ', this.engine),
      h('span', { class: 'item', title: 'The store revision: every write that changes a key moves it' }, 'revision ', this.revisionText),
      h('span', { class: 'item' }, this.keys, ' keys'),
      this.connection,
      h('span', { class: 'grow' }),
      this.token,
    );
    this.setConnection('connecting');
  }

  /** What /v1/status said. */
  setStatus(status: { version: string; engine: string; revision: number; keys: number }): void {
    this.show(this.version, status.version);
    this.show(this.engine, status.engine);
    this.show(this.keys, formatCount(status.keys));
    this.revision = 0;
    this.noteRevision(status.revision);
  }

  /** /v1/status was refused: say why the version and key count are missing. */
  setStatusUnavailable(reason: string, engine: string | null): void {
    this.unknown(this.version, reason);
    this.unknown(this.keys, reason);
    if (engine === null) this.unknown(this.engine, reason);
    else this.show(this.engine, engine);
  }

  /** A revision seen in a listing or the change feed: the store is at least there. */
  noteRevision(revision: number): void {
    if (!Number.isFinite(revision) || revision <= this.revision) return;
    this.revision = revision;
    this.show(this.revisionText, formatCount(revision));
  }

  setConnection(state: ConnectionState, note?: string): void {
    this.connection.className = `item ${state}`;
    this.connection.title = note ?? 'The change feed (GET /v1/watch)';
    replace(this.connection, h('span', { class: 'dot' }), CONNECTION_TEXT[state]);
  }

  setToken(present: boolean): void {
    if (!present) {
      replace(this.token);
      return;
    }
    replace(this.token, 'Using a token ', h('button', { type: 'button', class: 'link', text: 'Forget it', onclick: () => this.forget() }));
  }

  private show(element: HTMLElement, text: string): void {
    element.className = '';
    element.textContent = text;
    element.removeAttribute('title');
  }

  private unknown(element: HTMLElement, reason: string): void {
    element.className = 'unknown';
    element.textContent = '—';
    element.title = reason;
  }
}
