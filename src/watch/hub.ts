import type { ChangeEvent, Revision, RevisionChanges } from '../core/types.js';
import type { FeedGap, StorageEngine } from '../engine/engine.js';
import { changeMessage } from './messages.js';

/** What a watcher asks for: one key, or every key under a prefix ('' = all keys). */
export type WatchFilter = { key: string } | { prefix: string };

/** Whether a change to `key` concerns a watcher with `filter` (live and replayed alike). */
export function matchesFilter(filter: WatchFilter, key: string): boolean {
  return 'key' in filter ? key === filter.key : key.startsWith(filter.prefix);
}

/** Watchers with the same filter and value option get the same messages: one key of a group. */
export function groupId(filter: WatchFilter, withValues: boolean): string {
  return `${withValues ? 'v' : '-'}${'key' in filter ? `k${filter.key}` : `p${filter.prefix}`}`;
}

/** Where a watcher's messages go (an SSE response, a long-poll waiting for one change). */
export interface WatchSink {
  /**
   * Takes one whole SSE `change` message. Returns false when the consumer has
   * fallen too far behind; the hub then drops it and calls `evict`.
   */
  deliver(message: Buffer): boolean;
  /**
   * The consumer is dropped: by default for being too slow (or its sink
   * failed); with `gap`, because the feed lost changes it can no longer be
   * told (it must resume, and will be told 410 history_compacted if its
   * resume point is gone).
   */
  evict(gap?: FeedGap): void;
}

interface Watcher {
  sink: WatchSink;
  /** Revisions up to this one were delivered (or replayed) already. */
  after: Revision;
}

/** Watchers with the same filter and value option share matching and serialisation. */
interface Group {
  id: string;
  filter: WatchFilter;
  withValues: boolean;
  watchers: Set<Watcher>;
}

/**
 * The fan-out of durable changes to watchers. The engine reports each durable
 * revision once, in order (StorageEngine.onChanges); the hub matches it against
 * each group of identical watchers once, serialises the message once per group
 * (to bytes, once), and appends it to every watcher's socket buffer. Nothing
 * here waits for a consumer: one that falls behind is evicted.
 */
export class WatchHub {
  private revision: Revision;
  /** Exact-key groups by key, then prefix groups by id: a change costs a lookup per key plus a check per distinct prefix. */
  private readonly exactGroups = new Map<string, Map<string, Group>>();
  private readonly prefixGroups = new Map<string, Group>();
  private count = 0;
  private evicted = 0;
  private sent = 0;
  private dropped = 0;
  private gapEvictions = 0;
  private lost: Revision = 0;
  private readonly stopListening: () => void;

  constructor(engine: StorageEngine, currentRevision: Revision) {
    this.revision = currentRevision;
    this.stopListening = engine.onChanges(
      (changes) => this.publish(changes),
      (gap) => this.evictAll(gap),
    );
  }

  /** Watchers dropped because the feed lost changes (FeedGap) since start. */
  get gapEvicted(): number {
    return this.gapEvictions;
  }

  /**
   * The last revision the feed lost (0: none): a watcher that has seen only
   * up to a revision below it cannot be brought up to date by subscribing.
   */
  get lostUpTo(): Revision {
    return this.lost;
  }

  /** The last durable revision watchers have been told about. */
  get currentRevision(): Revision {
    return this.revision;
  }

  /** Watchers registered now. */
  get size(): number {
    return this.count;
  }

  /** Watchers evicted as slow consumers since start. */
  get evictions(): number {
    return this.evicted;
  }

  /** Change events handed to watchers since start, counted once per watcher that got them. */
  get eventsSent(): number {
    return this.sent;
  }

  /** Change events a watcher did not get because it was evicted then, too far behind (or its sink failed). */
  get eventsDropped(): number {
    return this.dropped;
  }

  /**
   * Registers a watcher that receives every matching revision after `after`.
   * Returns the function that unregisters it (idempotent).
   */
  subscribe(filter: WatchFilter, withValues: boolean, sink: WatchSink, after: Revision): () => void {
    const group = this.groupFor(filter, withValues);
    const watcher: Watcher = { sink, after };
    group.watchers.add(watcher);
    this.count++;
    return () => this.remove(group, watcher);
  }

  /** Stops listening to the engine. */
  close(): void {
    this.stopListening();
  }

  private publish(changes: RevisionChanges): void {
    this.revision = Math.max(this.revision, changes.revision);
    if (this.count === 0) return;
    for (const group of this.prefixGroups.values()) {
      const prefix = (group.filter as { prefix: string }).prefix;
      const events = prefix === '' ? changes.events : changes.events.filter((event) => event.key.startsWith(prefix));
      if (events.length > 0) this.deliver(group, changes.revision, events);
    }
    if (this.exactGroups.size === 0) return;
    // A key appears once per revision, or twice (an expire, then a put of the key).
    const byKey = new Map<string, ChangeEvent[]>();
    for (const event of changes.events) {
      if (!this.exactGroups.has(event.key)) continue;
      const events = byKey.get(event.key);
      if (events === undefined) byKey.set(event.key, [event]);
      else events.push(event);
    }
    for (const [key, events] of byKey) {
      for (const group of this.exactGroups.get(key)?.values() ?? []) this.deliver(group, changes.revision, events);
    }
  }

  /**
   * The feed lost changes: every watcher registered now has missed some it
   * can never be sent, so each is dropped and told (a watch stream gets
   * `event: error` history_compacted, a long-poll reads its key again).
   */
  private evictAll(gap: FeedGap): void {
    if (gap.compactRevision < this.revision) {
      // etcd's history went back (restored from a backup, docs/adr/0011-replica-reads.md): the revisions after it are void, and
      // the feed publishes from there again; a long-poll comparing its read with a revision that no longer exists would spin.
      this.revision = gap.compactRevision;
      this.lost = gap.compactRevision;
    } else {
      this.lost = Math.max(this.lost, gap.compactRevision);
    }
    const groups = [...this.prefixGroups.values(), ...[...this.exactGroups.values()].flatMap((byId) => [...byId.values()])];
    for (const group of groups) {
      for (const watcher of [...group.watchers]) {
        this.remove(group, watcher);
        this.gapEvictions++;
        try {
          watcher.sink.evict(gap);
        } catch {
          // a sink that fails to take the news is gone anyway
        }
      }
    }
  }

  private deliver(group: Group, revision: Revision, events: readonly ChangeEvent[]): void {
    let message: Buffer | null = null;
    for (const watcher of group.watchers) {
      if (revision <= watcher.after) continue;
      message ??= Buffer.from(changeMessage(revision, events, group.withValues));
      watcher.after = revision;
      let kept: boolean;
      try {
        kept = watcher.sink.deliver(message);
      } catch {
        kept = false; // a sink that fails is dropped like a slow one, never left half-served
      }
      if (kept) {
        this.sent += events.length;
      } else {
        this.remove(group, watcher);
        this.evicted++;
        this.dropped += events.length;
        watcher.sink.evict();
      }
    }
  }

  private remove(group: Group, watcher: Watcher): void {
    if (group.watchers.delete(watcher)) this.count--;
    if (group.watchers.size > 0) return;
    if ('key' in group.filter) {
      const byId = this.exactGroups.get(group.filter.key);
      if (byId?.get(group.id) === group) byId.delete(group.id);
      if (byId?.size === 0) this.exactGroups.delete(group.filter.key);
    } else if (this.prefixGroups.get(group.id) === group) {
      this.prefixGroups.delete(group.id);
    }
  }

  private groupFor(filter: WatchFilter, withValues: boolean): Group {
    const id = groupId(filter, withValues);
    let groups: Map<string, Group>;
    if ('key' in filter) {
      groups = this.exactGroups.get(filter.key) ?? new Map();
      this.exactGroups.set(filter.key, groups);
    } else {
      groups = this.prefixGroups;
    }
    let group = groups.get(id);
    if (group === undefined) {
      group = { id, filter, withValues, watchers: new Set() };
      groups.set(id, group);
    }
    return group;
  }
}
