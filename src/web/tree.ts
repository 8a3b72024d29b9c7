import { ForbiddenError, UnauthorizedError, type KvsClient, type ListItem, type ListPage, type WatchEvent } from '../client/index.js';
import { explain, notVisible } from './auth.js';
import { h, keyText, replace, titleText } from './dom.js';
import { compareKeys, formatBytes, formatCount } from './format.js';
import { kindOf } from './value-view.js';

/**
 * The key browser: a tree by `/`, one level at a time (`delimiter=/`, so a
 * folder of a million keys opens as fast as one of ten), or a flat list; the
 * Filter lists every key starting with it, across all levels. Each level
 * pages by cursor ("Load more") and says how much it shows. Live changes are
 * applied where they fall inside what is loaded. Keys are shown as exactly
 * their characters (dom.ts keyText) and addressed by their exact string.
 */

const PAGE_SIZE = 100;

export type BrowseMode = 'tree' | 'list';

/** What the detail pane shows: a key, or a folder (by its prefix). */
export interface Selected {
  kind: 'key' | 'folder';
  id: string;
}

export interface BrowserHandlers {
  openKey(key: string): void;
  openFolder(prefix: string): void;
  /** A failure of the page, not of one listing (401: ask for a token). */
  unauthorized(error: UnauthorizedError): void;
  revision(revision: number): void;
  /** The prefixes the token may read when it may not read every key (null: it may, or it is not known). */
  readableRoots(): Promise<string[] | null>;
}

interface KeyMeta {
  key: string;
  contentType: string;
  size: number | null;
}

/** One level of the tree, or the flat list. */
interface Listing {
  generation: number;
  prefix: string;
  tree: boolean;
  list: HTMLUListElement;
  foot: HTMLLIElement;
  folders: Map<string, FolderNode>;
  keys: Map<string, HTMLLIElement>;
  folderOrder: string[];
  keyOrder: string[];
  pages: AsyncGenerator<ListPage> | null;
  done: boolean;
  /** The greatest key or prefix loaded: a live change beyond it is left for "Load more". */
  last: string | null;
  loading: boolean;
  note: HTMLLIElement | null;
  /** The page of the Filter, or of the whole store: what to say when it is refused. */
  root: boolean;
  /** The whole store was refused: this level holds the prefixes the token may read instead, as folders. */
  grantRoots: boolean;
}

interface FolderNode {
  prefix: string;
  item: HTMLLIElement;
  button: HTMLButtonElement;
  child: Listing | null;
}

export class Browser {
  private mode: BrowseMode = 'tree';
  private filter = '';
  private generation = 0;
  private root: Listing | null = null;
  private readonly expanded = new Set<string>();
  /** The rows shown, by key and by folder prefix apart: the key `trail/` is not the folder `trail/`. */
  private readonly keyButtons = new Map<string, HTMLButtonElement>();
  private readonly folderButtons = new Map<string, HTMLButtonElement>();
  private current: Selected | null = null;
  /** Keys deleted lately, with the revision: a page read before that revision must not bring them back. */
  private readonly recentDeletes = new Map<string, number>();
  private readonly sizeWanted = new Map<string, Listing>();
  private readonly emptyChecks = new Map<string, { listing: Listing; node: FolderNode }>();
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  /** First pages of the open folders, asked for together with the top level's (a reload, an address with a folder). */
  private readonly prefetched = new Map<string, { pages: AsyncGenerator<ListPage>; first: Promise<IteratorResult<ListPage>> }>();

  constructor(
    private readonly container: HTMLElement,
    private client: KvsClient,
    private readonly handlers: BrowserHandlers,
  ) {}

  setClient(client: KvsClient): void {
    this.client = client;
  }

  setMode(mode: BrowseMode): void {
    this.mode = mode;
    this.render();
  }

  setFilter(filter: string): void {
    if (filter === this.filter) return;
    this.filter = filter;
    this.render();
  }

  /** Shows the selection (a key, or a folder by its prefix) where it is in the browser. */
  select(selected: Selected | null): void {
    if (this.current !== null) this.buttonOf(this.current)?.removeAttribute('aria-current');
    this.current = selected;
    if (selected !== null) this.buttonOf(selected)?.setAttribute('aria-current', 'true');
  }

  private buttonOf(selected: Selected): HTMLButtonElement | undefined {
    return (selected.kind === 'key' ? this.keyButtons : this.folderButtons).get(selected.id);
  }

  private isCurrent(kind: Selected['kind'], id: string): boolean {
    return this.current !== null && this.current.kind === kind && this.current.id === id;
  }

  /**
   * Opens the folders that lead to `id` (a key, or a folder prefix itself):
   * those not listed yet open when they are.
   */
  reveal(id: string): void {
    for (let at = id.indexOf('/'); at !== -1; at = id.indexOf('/', at + 1)) this.expanded.add(id.slice(0, at + 1));
    if (this.root !== null) this.expandRevealed(this.root);
  }

  private expandRevealed(listing: Listing): void {
    for (const node of listing.folders.values()) {
      if (!this.expanded.has(node.prefix)) continue;
      if (node.child === null) this.expand(node);
      else this.expandRevealed(node.child);
    }
  }

  /** Reads everything again (a new token, history compacted). */
  render(): void {
    this.generation += 1;
    this.keyButtons.clear();
    this.folderButtons.clear();
    this.sizeWanted.clear();
    this.emptyChecks.clear();
    this.prefetched.clear();
    const flat = this.filter !== '' || this.mode === 'list';
    if (!flat) {
      for (const prefix of this.expanded) {
        const pages = this.pages(prefix, true);
        const first = pages.next();
        first.catch(() => {});
        this.prefetched.set(prefix, { pages, first });
      }
    }
    const where =
      this.filter !== ''
        ? h('span', { class: 'where' }, keyText(this.filter), h('span', { class: 'placeholder', text: ' …' }))
        : h('span', { class: 'where', text: flat ? 'all keys' : '/' });
    const head = h(
      'div',
      { class: 'browser-head' },
      h('span', { text: this.filter !== '' ? 'Keys starting with' : flat ? 'Keys' : 'Folders and keys' }),
      where,
    );
    const listing = this.newListing(this.filter, !flat, true);
    this.root = listing;
    replace(this.container, head, listing.list);
    void this.loadMore(listing);
  }

  /** Applies a change from the watch to what is shown. */
  apply(event: WatchEvent): void {
    if (event.type !== 'put') {
      this.recentDeletes.set(event.key, event.revision);
      if (this.recentDeletes.size > 2000) this.recentDeletes.delete(this.recentDeletes.keys().next().value!);
    } else {
      this.recentDeletes.delete(event.key);
    }
    if (this.root !== null) this.applyTo(this.root, event);
  }

  private newListing(prefix: string, tree: boolean, root: boolean): Listing {
    const foot = h('li', { class: 'level-foot' });
    const list = h('ul', { class: 'level', role: 'list' }, foot);
    return {
      generation: this.generation,
      prefix,
      tree,
      list,
      foot,
      folders: new Map(),
      keys: new Map(),
      folderOrder: [],
      keyOrder: [],
      pages: null,
      done: false,
      last: null,
      loading: false,
      note: null,
      root,
      grantRoots: false,
    };
  }

  private async loadMore(listing: Listing): Promise<void> {
    if (listing.loading || listing.done) return;
    listing.loading = true;
    this.updateFoot(listing);
    try {
      const prefetched = listing.pages === null && listing.tree ? this.prefetched.get(listing.prefix) : undefined;
      this.prefetched.delete(listing.prefix);
      listing.pages ??= prefetched?.pages ?? this.pages(listing.prefix, listing.tree);
      const next = await (prefetched?.first ?? listing.pages.next());
      if (listing.generation !== this.generation) return;
      if (next.done === true) {
        listing.done = true;
      } else {
        const page = next.value;
        this.handlers.revision(page.revision);
        for (const prefix of page.prefixes) this.addFolder(listing, prefix, false);
        for (const item of page.items) {
          const deletedAt = this.recentDeletes.get(item.key);
          if (deletedAt !== undefined && deletedAt > page.revision) continue;
          this.addKey(listing, metaOf(item), false);
        }
        const candidates = [...page.prefixes, ...page.items.map((item) => item.key)];
        for (const candidate of candidates) if (listing.last === null || compareKeys(candidate, listing.last) > 0) listing.last = candidate;
        if (page.cursor === null) listing.done = true;
      }
    } catch (error) {
      if (listing.generation !== this.generation) return;
      listing.done = true;
      if (error instanceof ForbiddenError) {
        // The whole store is not visible: what the token may read is.
        const roots = listing.root && listing.prefix === '' ? await this.handlers.readableRoots().catch(() => null) : null;
        if (listing.generation !== this.generation) return;
        if (roots !== null && roots.length > 0 && listing.tree) {
          listing.grantRoots = true;
          for (const prefix of roots) this.addFolder(listing, prefix, false);
        } else {
          this.setNote(listing, 'refused', this.refusal(listing, error, roots));
        }
      } else {
        if (error instanceof UnauthorizedError) this.handlers.unauthorized(error);
        listing.done = false;
        listing.pages = null;
        this.setNote(
          listing,
          'error',
          `${explain(error)} `,
          h('button', { type: 'button', class: 'link', text: 'Try again', onclick: () => void this.loadMore(listing) }),
        );
      }
    } finally {
      listing.loading = false;
      if (listing.generation === this.generation) this.updateFoot(listing);
    }
  }

  private pages(prefix: string, tree: boolean): AsyncGenerator<ListPage> {
    return this.client.list({ prefix, limit: PAGE_SIZE, ...(tree ? { delimiter: '/' } : {}) }).pages();
  }

  private refusal(listing: Listing, error: ForbiddenError, roots: string[] | null): string {
    if (listing.root && listing.prefix === '') {
      const which = roots !== null && roots.length > 0 ? `: ${roots.map((root) => `“${titleText(root)}”`).join(', ')}` : ' (for example app/)';
      return `${notVisible(error, 'The whole store')} Type a prefix your token may read into Filter${which} to see those keys.`;
    }
    return notVisible(error, `The keys under “${titleText(listing.prefix)}”`);
  }

  private setNote(listing: Listing, kind: 'refused' | 'error', ...content: Array<string | Node>): void {
    listing.note?.remove();
    listing.note = h('li', { class: `level-note ${kind}`, role: kind === 'error' ? 'alert' : 'note' }, ...content);
    listing.list.insertBefore(listing.note, listing.foot);
  }

  private updateFoot(listing: Listing): void {
    const folders = listing.folders.size;
    const keys = listing.keys.size;
    const parts: Array<string | Node> = [];
    if (listing.loading && folders + keys === 0) {
      parts.push(h('span', { text: 'Loading…' }));
    } else if (folders + keys === 0) {
      if (listing.note === null)
        parts.push(h('span', { text: listing.root && listing.prefix === '' && listing.done ? 'The store is empty.' : listing.done ? 'No keys.' : '' }));
    } else if (listing.grantRoots) {
      parts.push(h('span', { class: 'shown', text: `${folders === 1 ? 'The prefix' : 'The prefixes'} your token may read` }));
    } else {
      const counted = [
        folders > 0 ? `${formatCount(folders)} ${folders === 1 ? 'folder' : 'folders'}` : '',
        keys > 0 ? `${formatCount(keys)} ${keys === 1 ? 'key' : 'keys'}` : '',
      ]
        .filter((part) => part !== '')
        .join(' and ');
      parts.push(h('span', { class: 'shown', text: `${listing.done ? 'All' : 'Showing'} ${counted}${listing.done ? '' : ', more to load'}` }));
    }
    if (!listing.done && folders + keys > 0) {
      parts.push(
        h('button', {
          type: 'button',
          text: listing.loading ? 'Loading…' : 'Load more',
          disabled: listing.loading,
          onclick: () => void this.loadMore(listing),
        }),
      );
    }
    replace(listing.foot, ...parts);
  }

  private addFolder(listing: Listing, prefix: string, live: boolean): void {
    if (listing.folders.has(prefix)) return;
    const label = prefix.slice(listing.prefix.length);
    // A folder ends with "/"; a granted prefix may not ("cfg" holds cfg, cfg/x and cfgx): shown with "…".
    const name = label.endsWith('/') ? [keyText(label.slice(0, -1)), '/'] : [keyText(label), h('span', { class: 'placeholder', text: '…' })];
    const twisty = h('span', { class: 'twisty', 'aria-hidden': 'true', text: '▸' });
    const button = h(
      'button',
      { type: 'button', class: 'entry folder', title: titleText(prefix), 'aria-expanded': 'false', 'data-prefix': prefix },
      twisty,
      h('span', { class: 'icon', 'aria-hidden': 'true' }),
      h('span', { class: 'name' }, ...name),
    );
    const item = h('li', { class: 'folder-item' }, button);
    const node: FolderNode = { prefix, item, button, child: null };
    button.addEventListener('click', () => {
      this.toggle(node);
      this.handlers.openFolder(prefix);
    });
    const at = insertionPoint(listing.folderOrder, prefix);
    listing.folderOrder.splice(at, 0, prefix);
    const before =
      at + 1 < listing.folderOrder.length
        ? listing.folders.get(listing.folderOrder[at + 1]!)!.item
        : (listing.keys.get(listing.keyOrder[0] ?? '') ?? listing.note ?? listing.foot);
    listing.list.insertBefore(item, before);
    listing.folders.set(prefix, node);
    this.folderButtons.set(prefix, button);
    if (this.isCurrent('folder', prefix)) button.setAttribute('aria-current', 'true');
    if (live) flash(button);
    if (this.expanded.has(prefix)) this.expand(node);
    this.updateFoot(listing);
  }

  private toggle(node: FolderNode): void {
    if (node.child !== null) {
      node.child.list.remove();
      node.child = null;
      node.button.setAttribute('aria-expanded', 'false');
      node.button.querySelector('.twisty')!.textContent = '▸';
      this.expanded.delete(node.prefix);
    } else {
      this.expand(node);
    }
  }

  private expand(node: FolderNode): void {
    this.expanded.add(node.prefix);
    node.button.setAttribute('aria-expanded', 'true');
    node.button.querySelector('.twisty')!.textContent = '▾';
    const child = this.newListing(node.prefix, true, false);
    node.child = child;
    node.item.append(child.list);
    void this.loadMore(child);
  }

  private addKey(listing: Listing, meta: KeyMeta, live: boolean): void {
    const existing = listing.keys.get(meta.key);
    if (existing !== undefined) {
      const button = existing.firstElementChild as HTMLButtonElement;
      replace(button.querySelector('.meta')!, metaText(meta));
      button.dataset['kind'] = kindOf(meta.contentType, null);
      if (live) flash(button);
      return;
    }
    const label = listing.tree ? meta.key.slice(listing.prefix.length) : meta.key;
    const name = h('span', { class: 'name' });
    if (!listing.tree && listing.prefix !== '') name.append(h('mark', {}, keyText(listing.prefix)), keyText(meta.key.slice(listing.prefix.length)));
    else name.append(keyText(label));
    const button = h(
      'button',
      { type: 'button', class: 'entry key', title: titleText(meta.key), 'data-kind': kindOf(meta.contentType, null) },
      h('span', { class: 'twisty', 'aria-hidden': 'true' }),
      h('span', { class: 'icon', 'aria-hidden': 'true' }),
      name,
      h('span', { class: 'meta' }, metaText(meta)),
    );
    button.addEventListener('click', () => this.handlers.openKey(meta.key));
    const item = h('li', {}, button);
    const at = insertionPoint(listing.keyOrder, meta.key);
    listing.keyOrder.splice(at, 0, meta.key);
    const before = at + 1 < listing.keyOrder.length ? listing.keys.get(listing.keyOrder[at + 1]!)! : (listing.note ?? listing.foot);
    listing.list.insertBefore(item, before);
    listing.keys.set(meta.key, item);
    this.keyButtons.set(meta.key, button);
    if (this.isCurrent('key', meta.key)) button.setAttribute('aria-current', 'true');
    if (live) flash(button);
    this.updateFoot(listing);
  }

  private removeKey(listing: Listing, key: string): void {
    const item = listing.keys.get(key);
    if (item === undefined) return;
    item.remove();
    listing.keys.delete(key);
    listing.keyOrder.splice(listing.keyOrder.indexOf(key), 1);
    if (this.keyButtons.get(key) === item.firstElementChild) this.keyButtons.delete(key);
    this.updateFoot(listing);
  }

  private removeFolder(listing: Listing, node: FolderNode): void {
    if (listing.folders.get(node.prefix) !== node) return;
    node.item.remove();
    listing.folders.delete(node.prefix);
    listing.folderOrder.splice(listing.folderOrder.indexOf(node.prefix), 1);
    if (this.folderButtons.get(node.prefix) === node.button) this.folderButtons.delete(node.prefix);
    this.updateFoot(listing);
  }

  /** Whether a new key or folder belongs to what `listing` has loaded (else "Load more" will bring it). */
  private inWindow(listing: Listing, key: string): boolean {
    return listing.done || (listing.last !== null && compareKeys(key, listing.last) < 0);
  }

  private applyTo(listing: Listing, event: WatchEvent): void {
    if (!event.key.startsWith(listing.prefix) || listing.note !== null) return;
    if (listing.grantRoots) {
      // The roots are the grants, not the store's folders: a change goes to the root it is under, if it is shown.
      for (const node of listing.folders.values()) if (node.child !== null && event.key.startsWith(node.prefix)) this.applyTo(node.child, event);
      return;
    }
    const rest = event.key.slice(listing.prefix.length);
    const slash = listing.tree ? rest.indexOf('/') : -1;
    if (slash === -1) {
      if (event.type === 'put') {
        if (listing.keys.has(event.key) || this.inWindow(listing, event.key)) {
          this.addKey(listing, { key: event.key, contentType: event.contentType ?? 'application/octet-stream', size: null }, true);
          this.wantSize(event.key, listing);
        }
      } else {
        this.removeKey(listing, event.key);
      }
      return;
    }
    const folder = listing.prefix + rest.slice(0, slash + 1);
    const node = listing.folders.get(folder);
    if (node !== undefined) {
      if (node.child !== null) this.applyTo(node.child, event);
      if (event.type !== 'put') this.checkEmpty(listing, node);
    } else if (event.type === 'put' && this.inWindow(listing, folder)) {
      this.addFolder(listing, folder, true);
    }
  }

  /** A watch put carries no size (the console watches without values): ask for the one item. */
  private wantSize(key: string, listing: Listing): void {
    this.sizeWanted.set(key, listing);
    this.scheduleFlush();
  }

  /** A key under `node` went: is the folder empty now? */
  private checkEmpty(listing: Listing, node: FolderNode): void {
    this.emptyChecks.set(node.prefix, { listing, node });
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = null;
      void this.flush();
    }, 150);
  }

  private async flush(): Promise<void> {
    const generation = this.generation;
    const sizes = [...this.sizeWanted].slice(0, 25);
    const checks = [...this.emptyChecks.values()].slice(0, 25);
    this.sizeWanted.clear();
    this.emptyChecks.clear();
    await Promise.all([
      ...sizes.map(async ([key, listing]) => {
        const page = await Promise.resolve(this.client.list({ prefix: key, limit: 1 })).catch(() => null);
        const item = page?.items[0];
        if (generation !== this.generation || item === undefined || item.key !== key || !listing.keys.has(key)) return;
        this.addKey(listing, metaOf(item), false);
      }),
      ...checks.map(async ({ listing, node }) => {
        const page = await Promise.resolve(this.client.list({ prefix: node.prefix, limit: 1 })).catch(() => null);
        if (generation !== this.generation || page === null || page.items.length > 0) return;
        this.removeFolder(listing, node);
      }),
    ]);
  }
}

function metaOf(item: ListItem): KeyMeta {
  return { key: item.key, contentType: item.contentType, size: item.size };
}

function metaText(meta: KeyMeta): string {
  const type = meta.contentType.split(';', 1)[0]!.trim();
  return meta.size === null ? type : `${type} · ${formatBytes(meta.size)}`;
}

/** Where `key` goes in the sorted `order` (binary search, kvs's key order). */
function insertionPoint(order: readonly string[], key: string): number {
  let low = 0;
  let high = order.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareKeys(order[middle]!, key) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

function flash(element: HTMLElement): void {
  element.classList.remove('flash');
  // Restart the animation.
  void element.offsetWidth;
  element.classList.add('flash');
}
