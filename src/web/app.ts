import { ForbiddenError, KvsClient, PreconditionFailedError, UnauthorizedError, type Entry, type ServerLimits, type WatchMessage } from '../client/index.js';
import { explain, keepToken, notVisible, storedToken } from './auth.js';
import { confirmDialog, tokenDialog } from './dialogs.js';
import { byId, h, keyText, titleText } from './dom.js';
import { Editor } from './editor.js';
import { formatCount } from './format.js';
import { Live, monitoredFetch, type ConnectionState } from './live.js';
import { Rights } from './rights.js';
import { StatusBar } from './status.js';
import { Browser, type BrowseMode } from './tree.js';
import { showEntry, showFolder, showGone, showMessage, showNothing } from './viewer.js';

/**
 * The web console: wires the browser (tree.ts), the detail pane (viewer.ts,
 * editor.ts), the change feed (live.ts) and the status bar (status.ts) to one
 * KvsClient, the SDK, with the user's token. Every request for data is the
 * SDK's; the page itself holds nothing but what the server sends it.
 */

type Selection = { kind: 'key'; key: string } | { kind: 'folder'; prefix: string } | null;

class ConsoleApp {
  private token = storedToken();
  private client: KvsClient;
  private rights: Rights;
  private limits: ServerLimits | null = null;
  private selection: Selection = null;
  private openEntry: Entry | null = null;
  private openSequence = 0;
  private filter = '';
  private live: Live | null = null;
  private reauthorizing: Promise<void> | null = null;
  /** Revisions of writes this page made: their watch events are not "changes by someone else". */
  private readonly ownRevisions = new Set<number>();
  private statusTimer: ReturnType<typeof setTimeout> | null = null;
  /** The open key's re-read after a change (refreshOpenKey): the highest revision it must show, and whether a change was someone else's. */
  private refreshing: { key: string; wanted: number; byOthers: boolean } | null = null;
  private connection: ConnectionState = 'connecting';
  /** Why live updates are limited or off (the status bar's tooltip), or null. */
  private liveNote: string | null = null;

  private readonly pane = byId('detail');
  private readonly newKeyButton = byId<HTMLButtonElement>('new-key');
  private readonly statusBar = new StatusBar(byId('status'), () => this.forgetToken());
  private readonly browser: Browser;
  private readonly editor: Editor;

  constructor() {
    this.client = this.makeClient();
    this.rights = new Rights(this.client);
    this.browser = new Browser(byId('browser'), this.client, {
      openKey: (key) => this.guard(this.openKey(key)),
      openFolder: (prefix) => this.guard(this.openFolder(prefix)),
      unauthorized: (error) => this.guard(this.reauthorize(error)),
      revision: (revision) => this.statusBar.noteRevision(revision),
      readableRoots: () => this.rights.roots(),
    });
    this.editor = new Editor(this.pane, {
      client: () => this.client,
      rights: () => this.rights,
      maxValueBytes: () => this.limits?.maxValueBytes ?? null,
      saved: (key, revision) => {
        this.ownRevisions.add(revision);
        this.notice(`Saved “${titleText(key)}” at revision ${formatCount(revision)}.`);
        this.guard(this.openKey(key, true));
      },
      closed: (key) => {
        if (key === null) this.guard(this.showSelection());
        else this.guard(this.openKey(key, true));
      },
      unauthorized: (error) => this.guard(this.reauthorize(error)),
    });
  }

  async start(): Promise<void> {
    this.wireHeader();
    window.addEventListener('unhandledrejection', (event: PromiseRejectionEvent) => {
      event.preventDefault();
      this.notice(explain(event.reason), 'error');
    });
    showMessage(this.pane, 'info', 'Connecting to kvs…');
    if (!(await this.connect())) return;
    const fromHash = this.selectionFromHash();
    if (fromHash !== null) this.browser.reveal(fromHash.kind === 'key' ? fromHash.key : fromHash.prefix);
    this.browser.render();
    this.startLive();
    if (fromHash?.kind === 'key') await this.openKey(fromHash.key, true);
    else if (fromHash?.kind === 'folder') await this.openFolder(fromHash.prefix);
    else await this.showSelection();
  }

  private makeClient(): KvsClient {
    const base = new URL('.', document.baseURI).href.replace(/\/$/, '');
    return new KvsClient({
      url: base,
      ...(this.token === undefined ? {} : { token: this.token }),
      fetch: monitoredFetch((state) => this.setConnection(state)),
    });
  }

  /**
   * Finds out whether the server takes our token (GET /v1/limits needs any
   * valid one): asks for one on 401 until it does. False when the server
   * cannot be used at all (protected mode, unreachable): the pane says why.
   */
  private async connect(): Promise<boolean> {
    // No token is asked for until the server says it needs one (401).
    for (;;) {
      try {
        this.limits = await this.client.limits();
        break;
      } catch (error) {
        if (error instanceof UnauthorizedError) {
          const reason = this.token === undefined ? null : explain(error);
          this.token = undefined;
          keepToken(undefined);
          this.token = await tokenDialog({ refused: reason });
          this.client = this.makeClient();
          continue;
        }
        const retry = h('button', { type: 'button', class: 'secondary', text: 'Try again', onclick: () => location.reload() });
        showMessage(this.pane, 'error', explain(error));
        this.pane.firstElementChild?.append(retry);
        this.setConnection('off');
        return false;
      }
    }
    keepToken(this.token);
    this.statusBar.setToken(this.token !== undefined);
    this.rights = new Rights(this.client);
    this.rights.load();
    this.browser.setClient(this.client);
    // Not awaited: the keys are listed meanwhile (what may be written waits for it, in rights.ts).
    this.guard(this.refreshStatus());
    void this.updateNewKeyButton();
    return true;
  }

  /** A 401 in the middle of things (the token was revoked): ask again, then read everything again. */
  private reauthorize(error: UnauthorizedError): Promise<void> {
    this.reauthorizing ??= (async () => {
      this.live?.stop();
      this.token = undefined;
      keepToken(undefined);
      this.token = await tokenDialog({ refused: explain(error) });
      this.client = this.makeClient();
      if (await this.connect()) {
        this.browser.render();
        this.startLive();
        await this.showSelection();
      }
    })().finally(() => {
      this.reauthorizing = null;
    });
    return this.reauthorizing;
  }

  private forgetToken(): void {
    keepToken(undefined);
    location.reload();
  }

  private startLive(): void {
    this.live?.stop();
    this.live = new Live(
      this.client,
      {
        message: (message) => this.onChange(message),
        reset: () => {
          this.notice('The change history the page needed is gone (compacted): everything was read again.');
          this.browser.render();
          void this.showSelection();
        },
        unauthorized: (error) => this.guard(this.reauthorize(error)),
        limited: (reason) => {
          this.liveNote = reason;
          this.statusBar.setConnection(this.connection, reason ?? undefined);
        },
      },
      (state) => this.setConnection(state),
    );
    const live = this.live;
    live.start();
    live.narrowTo(this.filter);
    // A token that may watch only one prefix (and not every key) follows that one without a Filter.
    void this.rights.roots('watch').then((roots) => {
      if (roots !== null && roots.length === 1) live.setDefaultScope(roots[0]!);
    });
  }

  private setConnection(state: ConnectionState): void {
    this.connection = state;
    this.statusBar.setConnection(state, this.liveNote ?? undefined);
  }

  private async refreshStatus(): Promise<void> {
    try {
      const status = await this.client.status();
      this.rights.setAdmin(true);
      this.statusBar.setStatus(status);
    } catch (error) {
      if (error instanceof UnauthorizedError) {
        this.rights.setAdmin(false);
        return this.reauthorize(error);
      }
      this.rights.setAdmin(false);
      const engine = await this.engineFromReadyz();
      this.statusBar.setStatusUnavailable(
        error instanceof ForbiddenError
          ? 'Needs an admin token (GET /v1/status): the revision shown is the latest seen in listings and the change feed.'
          : explain(error),
        engine,
      );
    }
  }

  /** /readyz is public and names the engine: what the status bar can show without an admin token. */
  private async engineFromReadyz(): Promise<string | null> {
    try {
      const response = await fetch(new URL('readyz', document.baseURI), { credentials: 'omit' });
      const body = (await response.json()) as { engine?: unknown };
      return typeof body.engine === 'string' ? body.engine : null;
    } catch {
      return null;
    }
  }

  private scheduleStatusRefresh(): void {
    if (this.rights.admin !== true || this.statusTimer !== null) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = null;
      void this.refreshStatus();
    }, 500);
  }

  private onChange(message: WatchMessage): void {
    this.statusBar.noteRevision(message.revision);
    const own = this.ownRevisions.delete(message.revision);
    for (const event of message.events) {
      this.browser.apply(event);
      const editing = this.editor.editing;
      if (editing !== null) {
        if (editing.key === event.key) this.editor.remoteChange(event);
        continue;
      }
      if (this.selection?.kind !== 'key' || this.selection.key !== event.key) continue;
      if (this.openEntry !== null && this.openEntry.key === event.key && event.revision <= this.openEntry.revision) continue;
      if (event.type === 'put') {
        this.refreshOpenKey(event.key, event.revision, !own);
      } else {
        this.openEntry = null;
        showGone(
          this.pane,
          event.key,
          event.type === 'expire'
            ? `This key expired at revision ${formatCount(event.revision)} (its TTL ran out).`
            : `This key was deleted at revision ${formatCount(event.revision)}.`,
        );
      }
    }
    this.scheduleStatusRefresh();
  }

  private wireHeader(): void {
    const filter = byId<HTMLInputElement>('filter');
    let timer: ReturnType<typeof setTimeout> | null = null;
    filter.addEventListener('input', () => {
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(() => {
        this.filter = filter.value;
        this.browser.setFilter(this.filter);
        this.live?.narrowTo(this.filter);
        void this.updateNewKeyButton();
      }, 150);
    });
    document.addEventListener('keydown', (event: KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      if (event.key === '/' && !event.ctrlKey && !event.metaKey && target?.closest('input, textarea, select, dialog') == null) {
        event.preventDefault();
        filter.focus();
      }
    });
    const tree = byId<HTMLButtonElement>('view-tree');
    const list = byId<HTMLButtonElement>('view-list');
    const setMode = (mode: BrowseMode) => {
      tree.setAttribute('aria-pressed', String(mode === 'tree'));
      list.setAttribute('aria-pressed', String(mode === 'list'));
      this.browser.setMode(mode);
    };
    tree.addEventListener('click', () => setMode('tree'));
    list.addEventListener('click', () => setMode('list'));
    this.newKeyButton.addEventListener('click', () => this.guard(this.newKey(this.contextPrefix())));
    window.addEventListener('hashchange', () => {
      const wanted = this.selectionFromHash();
      if (wanted === null) return;
      const id = wanted.kind === 'key' ? wanted.key : wanted.prefix;
      if (this.selection !== null && this.selection.kind === wanted.kind && (this.selection.kind === 'key' ? this.selection.key : this.selection.prefix) === id)
        return;
      this.browser.reveal(id);
      this.guard(wanted.kind === 'key' ? this.openKey(wanted.key) : this.openFolder(wanted.prefix));
    });
  }

  /** Where a new key goes by default: the selected folder, the folder of the selected key, or the Filter. */
  private contextPrefix(): string {
    if (this.selection?.kind === 'folder') return this.selection.prefix;
    if (this.selection?.kind === 'key') return this.selection.key.slice(0, this.selection.key.lastIndexOf('/') + 1);
    return this.filter;
  }

  /** "New key" is shown where the token may write (see rights.ts). */
  private async updateNewKeyButton(): Promise<void> {
    const prefix = this.contextPrefix();
    const allowed = await this.rights.canWriteUnder(prefix).catch(() => false);
    if (prefix === this.contextPrefix()) this.newKeyButton.hidden = !allowed;
  }

  private async leaveEditor(): Promise<boolean> {
    if (this.editor.editing === null) return true;
    if (this.editor.isDirty()) {
      const discard = await confirmDialog({
        title: 'Discard your changes?',
        body: [h('p', { text: 'The form holds changes that are not saved.' })],
        confirm: 'Discard them',
        danger: true,
      });
      if (!discard) return false;
    }
    this.editor.close();
    return true;
  }

  private select(selection: Selection): void {
    this.selection = selection;
    this.browser.select(selection === null ? null : selection.kind === 'key' ? { kind: 'key', id: selection.key } : { kind: 'folder', id: selection.prefix });
    const hash =
      selection === null ? '' : selection.kind === 'key' ? `#key=${encodeURIComponent(selection.key)}` : `#folder=${encodeURIComponent(selection.prefix)}`;
    if (location.hash !== hash) history.replaceState(null, '', hash === '' ? location.pathname + location.search : hash);
    document.title = selection === null ? 'kvs console' : `${titleText(selection.kind === 'key' ? selection.key : selection.prefix)} · kvs console`;
    void this.updateNewKeyButton();
  }

  private selectionFromHash(): Selection {
    const match = /^#(key|folder)=(.*)$/.exec(location.hash);
    if (match === null) return null;
    try {
      const value = decodeURIComponent(match[2]!);
      return match[1] === 'key' ? { kind: 'key', key: value } : { kind: 'folder', prefix: value };
    } catch {
      return null;
    }
  }

  private async showSelection(): Promise<void> {
    const selection = this.selection;
    if (selection?.kind === 'key') return this.openKey(selection.key, true);
    if (selection?.kind === 'folder') return this.openFolder(selection.prefix);
    showNothing(this.pane, !this.newKeyButton.hidden);
  }

  /**
   * Reads the open key again after the watch saw it change. The watch carries
   * no values (the console watches every key, and would be sent every value
   * written anywhere; JSON values would come re-serialised, not as stored), so
   * the value is read with a GET; one at a time: changes that come while a
   * read is on its way make one more read after it, not one each (40 writes of
   * a 4 MiB value made 39 reads).
   */
  private refreshOpenKey(key: string, revision: number, byOthers: boolean): void {
    const running = this.refreshing;
    if (running !== null && running.key === key) {
      running.wanted = Math.max(running.wanted, revision);
      running.byOthers ||= byOthers;
      return;
    }
    const refresh = { key, wanted: revision, byOthers };
    this.refreshing = refresh;
    const note = (entry: Entry) => `Updated on the server at revision ${formatCount(entry.revision)}: this is the new value.`;
    const run = async () => {
      try {
        for (;;) {
          const wanted = refresh.wanted;
          const byOthers = refresh.byOthers;
          refresh.byOthers = false;
          await this.openKey(key, true, byOthers ? note : null);
          const stillOpen = this.selection?.kind === 'key' && this.selection.key === key && this.editor.editing === null;
          const shown = this.openEntry?.key === key ? this.openEntry.revision : 0;
          // Changes came meanwhile, and the read did not already see them: once more.
          if (!stillOpen || refresh.wanted <= Math.max(wanted, shown)) return;
        }
      } finally {
        if (this.refreshing === refresh) this.refreshing = null;
      }
    };
    this.guard(run());
  }

  /** Opens `key` in the pane (`force`: even when it is open already, to read it again); `note` says why, above it. */
  private async openKey(key: string, force = false, note: string | ((entry: Entry) => string) | null = null): Promise<void> {
    if (!force && this.selection?.kind === 'key' && this.selection.key === key && this.editor.editing === null && this.openEntry?.key === key) return;
    if (!(await this.leaveEditor())) return;
    this.select({ kind: 'key', key });
    const sequence = ++this.openSequence;
    try {
      const [entry, writable] = await Promise.all([this.client.get(key), this.rights.canWrite(key).catch(() => false)]);
      if (sequence !== this.openSequence) return;
      this.openEntry = entry;
      if (entry === null) {
        showGone(this.pane, key, 'This key does not exist (now): it was deleted, expired, or never written.');
        return;
      }
      this.statusBar.noteRevision(entry.revision);
      const banner = note === null ? null : h('div', { class: 'banner info', role: 'status' }, h('p', { text: typeof note === 'string' ? note : note(entry) }));
      showEntry(this.pane, entry, writable ? { edit: () => this.guard(this.edit(entry)), delete: () => this.guard(this.deleteKey(entry)) } : {}, banner);
    } catch (error) {
      if (sequence !== this.openSequence) return;
      this.openEntry = null;
      if (error instanceof ForbiddenError) showMessage(this.pane, 'warn', notVisible(error, `The key “${titleText(key)}”`));
      else if (error instanceof UnauthorizedError) await this.reauthorize(error);
      else showMessage(this.pane, 'error', explain(error));
    }
  }

  private async openFolder(prefix: string): Promise<void> {
    if (!(await this.leaveEditor())) return;
    this.select({ kind: 'folder', prefix });
    this.openEntry = null;
    const sequence = ++this.openSequence;
    const writable = await this.rights.canWriteUnder(prefix).catch(() => false);
    if (sequence !== this.openSequence) return;
    showFolder(this.pane, prefix, writable ? { create: () => this.guard(this.newKey(prefix)), delete: () => this.guard(this.deleteFolder(prefix)) } : {});
  }

  private async newKey(prefix: string): Promise<void> {
    if (!(await this.leaveEditor())) return;
    this.openSequence += 1;
    this.openEntry = null;
    this.editor.openNew(prefix);
  }

  private async edit(entry: Entry): Promise<void> {
    this.openSequence += 1;
    if (!this.editor.openEdit(entry)) {
      this.notice(`This value is too large to edit in the browser; download it, change it, and write it back with the CLI (kvs put).`, 'error');
    }
  }

  private async deleteKey(entry: Entry): Promise<void> {
    const confirmed = await confirmDialog({
      title: 'Delete this key?',
      body: [h('p', {}, 'The key ', h('code', {}, keyText(entry.key)), ' and its value will be deleted. This cannot be undone.')],
      confirm: 'Delete',
      danger: true,
    });
    if (!confirmed) return;
    try {
      // Only the version that was shown: a newer one is not deleted unseen.
      const deleted = await this.client.delete(entry.key, { ifRevision: entry.revision });
      this.notice(deleted ? `Deleted “${titleText(entry.key)}”.` : `“${titleText(entry.key)}” was gone already.`);
      if (this.selection?.kind === 'key' && this.selection.key === entry.key) {
        this.openEntry = null;
        showGone(this.pane, entry.key, 'Deleted.');
      }
    } catch (error) {
      if (error instanceof PreconditionFailedError) {
        this.notice('The key changed since it was shown, so nothing was deleted. Here is its new value: delete again if you still mean to.', 'error');
        await this.openKey(entry.key, true);
        return;
      }
      if (error instanceof ForbiddenError) this.rights.refused(entry.key);
      this.notice(explain(error), 'error');
    }
  }

  /** Counts first (a dry run), says how many, deletes only when confirmed. */
  private async deleteFolder(prefix: string): Promise<void> {
    let matched: number;
    try {
      matched = (await this.client.deletePrefix(prefix, { dryRun: true })).matched;
    } catch (error) {
      if (error instanceof ForbiddenError) this.rights.refused(prefix);
      this.notice(explain(error), 'error');
      return;
    }
    if (matched === 0) {
      this.notice(`There are no keys under “${titleText(prefix)}” (any more).`);
      return;
    }
    const count = `${formatCount(matched)} ${matched === 1 ? 'key' : 'keys'}`;
    const confirmed = await confirmDialog({
      title: `Delete ${count}?`,
      body: [h('p', {}, 'Every key under ', h('code', {}, keyText(prefix)), ` will be deleted, at one revision: ${count} right now. This cannot be undone.`)],
      confirm: `Delete ${count}`,
      danger: true,
    });
    if (!confirmed) return;
    try {
      const result = await this.client.deletePrefix(prefix);
      this.ownRevisions.add(result.revision);
      const drift = result.deleted === matched ? '' : ` (${formatCount(matched)} were counted: keys were written or deleted in between.)`;
      this.notice(
        `Deleted ${formatCount(result.deleted)} ${result.deleted === 1 ? 'key' : 'keys'} under “${titleText(prefix)}” at revision ${formatCount(result.revision)}.${drift}`,
      );
      this.select(null);
      showNothing(this.pane, !this.newKeyButton.hidden);
    } catch (error) {
      this.notice(explain(error), 'error');
    }
  }

  private noticeTimer: ReturnType<typeof setTimeout> | null = null;

  private notice(text: string, kind: 'info' | 'error' = 'info'): void {
    const element = byId('notice');
    element.textContent = text;
    element.className = `notice ${kind}`;
    element.hidden = false;
    if (this.noticeTimer !== null) clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => (element.hidden = true), kind === 'error' ? 9000 : 5000);
  }

  /** Runs `work`, saying in words what failed rather than leaving an unhandled rejection. */
  private guard(work: Promise<unknown>): void {
    work.catch((error: unknown) => {
      if (error instanceof UnauthorizedError) void this.reauthorize(error);
      else this.notice(explain(error), 'error');
    });
  }
}

void new ConsoleApp().start();
