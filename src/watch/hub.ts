import type { ChangeEvent, Revision, RevisionChanges } from '../core/types.js';
import type { StorageEngine } from '../engine/engine.js';
import { changeMessage } from './messages.js';

/** What a watcher asks for: one key, or every key under a prefix ('' = all keys). */
export type WatchFilter = { key: string } | { prefix: string };

/** Where a watcher's messages go (an SSE response, a long-poll waiting for one change). */
export interface WatchSink {
  /**
   * Takes one message (a whole SSE `change` message). Returns false when the
   * consumer has fallen too far behind; the hub then drops it and calls `evict`.
   */
  deliver(revision: Revision, message: string, events: readonly ChangeEvent[]): boolean;
  /** The consumer is dropped for being too slow. */
  evict(): void;
}

interface Watcher {
  sink: WatchSink;
  /** Revisions up to this one were delivered (or replayed) already. */
  after: Revision;
}

/** Watchers with the same filter and value option share matching and serialisation. */
interface Group {
  filter: WatchFilter;
  withValues: boolean;
  watchers: Set<Watcher>;
}

/**
 * The fan-out of durable changes to watchers. The engine reports each durable
 * revision once, in order (StorageEngine.onChanges); the hub matches it against
 * each group of identical watchers once, serialises the message once per group,
 * and hands it to every watcher of the group. A watcher whose consumer falls
 * behind is evicted, so no watcher can hold up writers or other watchers.
 */
export class WatchHub {
  private revision: Revision;
  private readonly exactGroups = new Map<string, Map<boolean, Group>>();
  private readonly prefixGroups = new Map<string, Group>();
  private count = 0;
  private evicted = 0;
  private readonly stopListening: () => void;

  constructor(engine: StorageEngine, currentRevision: Revision) {
    this.revision = currentRevision;
    this.stopListening = engine.onChanges((changes) => this.publish(changes));
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

  /**
   * Registers a watcher that receives every matching revision after `after`.
   * Returns the function that unregisters it (idempotent).
   */
  subscribe(filter: WatchFilter, withValues: boolean, sink: WatchSink, after: Revision): () => void {
    const group = this.groupFor(filter, withValues);
    const watcher: Watcher = { sink, after };
    group.watchers.add(watcher);
    this.count++;
    return () => {
      if (group.watchers.delete(watcher)) this.count--;
      if (group.watchers.size === 0) this.dropGroup(group);
    };
  }

  /** Stops listening to the engine. */
  close(): void {
    this.stopListening();
  }

  private publish(changes: RevisionChanges): void {
    this.revision = changes.revision;
    if (this.count === 0) return;
    for (const group of this.prefixGroups.values()) {
      const prefix = (group.filter as { prefix: string }).prefix;
      const events = prefix === '' ? changes.events : changes.events.filter((event) => event.key.startsWith(prefix));
      if (events.length > 0) this.deliver(group, changes.revision, events);
    }
    for (const event of changes.events) {
      const groups = this.exactGroups.get(event.key);
      if (groups === undefined) continue;
      // One key appears at most once per revision, except an expire and a put of the same key.
      const events = changes.events.filter((candidate) => candidate.key === event.key);
      if (events[0] !== event) continue;
      for (const group of groups.values()) this.deliver(group, changes.revision, events);
    }
  }

  private deliver(group: Group, revision: Revision, events: readonly ChangeEvent[]): void {
    let message: string | null = null;
    for (const watcher of group.watchers) {
      if (revision <= watcher.after) continue;
      message ??= changeMessage(revision, events, group.withValues);
      watcher.after = revision;
      if (!watcher.sink.deliver(revision, message, events)) {
        if (group.watchers.delete(watcher)) this.count--;
        this.evicted++;
        watcher.sink.evict();
      }
    }
    if (group.watchers.size === 0) this.dropGroup(group);
  }

  private groupFor(filter: WatchFilter, withValues: boolean): Group {
    if ('key' in filter) {
      let byValues = this.exactGroups.get(filter.key);
      if (byValues === undefined) {
        byValues = new Map();
        this.exactGroups.set(filter.key, byValues);
      }
      let group = byValues.get(withValues);
      if (group === undefined) {
        group = { filter, withValues, watchers: new Set() };
        byValues.set(withValues, group);
      }
      return group;
    }
    const id = `${withValues ? 'v' : '-'}${filter.prefix}`;
    let group = this.prefixGroups.get(id);
    if (group === undefined) {
      group = { filter, withValues, watchers: new Set() };
      this.prefixGroups.set(id, group);
    }
    return group;
  }

  private dropGroup(group: Group): void {
    if (group.watchers.size > 0) return;
    if ('key' in group.filter) {
      const byValues = this.exactGroups.get(group.filter.key);
      if (byValues?.get(group.withValues) === group) byValues.delete(group.withValues);
      if (byValues?.size === 0) this.exactGroups.delete(group.filter.key);
    } else {
      const id = `${group.withValues ? 'v' : '-'}${group.filter.prefix}`;
      if (this.prefixGroups.get(id) === group) this.prefixGroups.delete(id);
    }
  }
}
