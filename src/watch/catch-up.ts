import { setImmediate as nextTurn } from 'node:timers/promises';
import { isKvError, KvError } from '../core/errors.js';
import {
  WATCH_REPLAY_BATCH_WATCHERS_MAX,
  WATCH_REPLAY_DRAIN_TIMEOUT_MS,
  WATCH_REPLAY_PAGE_REVISIONS_MAX,
  WATCH_REPLAY_PAGE_VALUE_BYTES_MAX,
  WATCH_REPLAY_READS_MAX,
} from '../core/limits.js';
import type { Revision, RevisionChanges } from '../core/types.js';
import type { StorageEngine } from '../engine/engine.js';
import { groupId, matchesFilter, type WatchFilter, type WatchHub, type WatchSink } from './hub.js';
import { changeMessage } from './messages.js';

/**
 * A watcher while it catches up with history, then live. The scheduler gives
 * it replayed messages, waits for it when it is backlogged, subscribes it to
 * the hub in the same synchronous step as it reaches the hub's revision, and
 * tells it when history cannot be read.
 */
export interface CatchUpSink extends WatchSink {
  /** A replayed `change` message (never dropped: a backlogged sink is waited for, see `backlogged`). */
  replay(message: Buffer): void;
  /** True when the consumer has not taken what it was sent yet: the scheduler then waits for `drained` before sending more. */
  backlogged(): boolean;
  /** Resolves true once the consumer has taken it, false after `timeoutMs` or when it went away. */
  drained(timeoutMs: number): Promise<boolean>;
  /** Caught up and subscribed to the hub after `revision`; `unsubscribe` drops it from the hub. */
  live(unsubscribe: () => void, revision: Revision): void;
  /** History could not be read for it (compacted, the engine failing): it gets no more. */
  failed(error: unknown): void;
}

/** Watchers served by one history read, from the lowest resume point among them. */
interface Batch {
  from: Revision;
  watchers: Watcher[];
  /** Still reading: a watcher that needs the same page may join. */
  open: boolean;
}

interface Watcher {
  filter: WatchFilter;
  withValues: boolean;
  /** Every matching revision up to this one was replayed. */
  after: Revision;
  sink: CatchUpSink;
  /** Left (closed) or done (live, failed): the scheduler forgets it. */
  gone: boolean;
}

export interface CatchUpOptions {
  batchWatchersMax?: number;
  readsMax?: number;
  drainTimeoutMs?: number;
  pageRevisions?: number;
  pageValueBytes?: number;
}

/**
 * Brings watchers that resume from the past up to the hub's revision, for all
 * of them together: lagging watchers wait in one queue; each history read
 * (`engine.changesSince`, one page) serves a batch of up to 512 of them, those
 * furthest behind, from the lowest resume point among them; each watcher gets
 * the page's changes after its own point that match its filter, serialised once
 * per group of identical watchers. At most two reads are in flight, whatever
 * the number of watchers: a thousand clients reconnecting after a restart cost
 * a few reads per page of history, not a thousand (etcd's syncWatchers serves
 * up to 512 unsynced watchers from one read of its backend the same way).
 *
 * A watcher that reaches the hub's revision is subscribed to the hub in the
 * same synchronous step, after exactly the revision it was replayed to: no
 * revision is missed or sent twice at the boundary. A watcher whose consumer
 * is backlogged is set aside until it drains (evicted after 30 s), so that it
 * holds up no one else.
 */
export class CatchUp {
  private readonly waiting = new Set<Watcher>();
  private readonly reading = new Set<Batch>();
  private pumpScheduled = false;
  private reads = 0;
  private replayed = 0;
  private readonly batchWatchersMax: number;
  private readonly readsMax: number;
  private readonly drainTimeoutMs: number;
  private readonly pageRevisions: number;
  private readonly pageValueBytes: number;

  constructor(
    private readonly engine: Pick<StorageEngine, 'changesSince'>,
    private readonly hub: WatchHub,
    options: CatchUpOptions = {},
  ) {
    this.batchWatchersMax = options.batchWatchersMax ?? WATCH_REPLAY_BATCH_WATCHERS_MAX;
    this.readsMax = options.readsMax ?? WATCH_REPLAY_READS_MAX;
    this.drainTimeoutMs = options.drainTimeoutMs ?? WATCH_REPLAY_DRAIN_TIMEOUT_MS;
    this.pageRevisions = options.pageRevisions ?? WATCH_REPLAY_PAGE_REVISIONS_MAX;
    this.pageValueBytes = options.pageValueBytes ?? WATCH_REPLAY_PAGE_VALUE_BYTES_MAX;
  }

  /** History reads made since start. */
  get historyReads(): number {
    return this.reads;
  }

  /** Change events replayed from history since start (live ones are the hub's to count). */
  get replayedEvents(): number {
    return this.replayed;
  }

  /** Watchers waiting for history now (in a read or not). */
  get lagging(): number {
    return this.waiting.size;
  }

  /**
   * Delivers every change after `after` that matches `filter` to `sink`, from
   * history, then live. A watcher already at the hub's revision is subscribed
   * at once, with no read. Returns the function that withdraws it (idempotent;
   * once live, `sink.live`'s unsubscribe is the one to call).
   */
  join(filter: WatchFilter, withValues: boolean, after: Revision, sink: CatchUpSink): () => void {
    const watcher: Watcher = { filter, withValues, after, sink, gone: false };
    if (!this.goLiveIfCaughtUp(watcher) && !this.joinRead(watcher)) {
      this.waiting.add(watcher);
      this.schedulePump();
    }
    return () => {
      watcher.gone = true;
      this.waiting.delete(watcher);
    };
  }

  /**
   * Joins a read in flight whose page `watcher` needs (it resumes at or after
   * the read's start, within a page of it): clients that reconnect together,
   * from one revision, share the read the first of them started.
   */
  private joinRead(watcher: Watcher): boolean {
    for (const batch of this.reading) {
      if (batch.open && watcher.after >= batch.from && watcher.after - batch.from < this.pageRevisions && batch.watchers.length < this.batchWatchersMax) {
        batch.watchers.push(watcher);
        return true;
      }
    }
    return false;
  }

  /** Pumps once the current task is done, so that watchers that join in one go are batched together. */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Starts reads while there are watchers waiting and fewer than readsMax reads in flight. */
  private pump(): void {
    while (this.reading.size < this.readsMax) {
      const watchers = this.nextBatch();
      if (watchers.length === 0) return;
      const batch: Batch = { from: watchers[0]!.after, watchers, open: true };
      this.reading.add(batch);
      void this.serve(batch).finally(() => {
        this.reading.delete(batch);
        this.pump();
      });
    }
  }

  /**
   * The waiting watchers furthest behind whose resume points one page can
   * reach, up to batchWatchersMax, taken out of the queue while their read
   * runs. Those further on wait for a read of their own (which may run at the
   * same time), rather than for pages they do not need.
   */
  private nextBatch(): Watcher[] {
    if (this.waiting.size === 0) return [];
    const sorted = [...this.waiting].sort((a, b) => a.after - b.after);
    const from = sorted[0]!.after;
    const batch: Watcher[] = [];
    for (const watcher of sorted) {
      if (batch.length === this.batchWatchersMax || watcher.after - from >= this.pageRevisions) break;
      batch.push(watcher);
      this.waiting.delete(watcher);
    }
    return batch;
  }

  /** One page of history for `batch`: read once, replayed to each, then each goes live, waits, or queues for the next page. */
  private async serve(read: Batch): Promise<void> {
    const upTo = this.hub.currentRevision;
    let page: RevisionChanges[];
    try {
      this.reads++;
      page = await this.engine.changesSince(read.from, upTo, this.pageRevisions, this.pageValueBytes);
    } catch (error) {
      read.open = false;
      this.failBatch(read.watchers, error);
      return;
    }
    read.open = false;
    const batch = read.watchers;
    // The page covers every revision in (from, coveredTo]: to its last revision, or, empty, to upTo.
    const coveredTo = page.length === 0 ? upTo : page[page.length - 1]!.revision;
    this.replayPage(batch, page);
    for (const watcher of batch) {
      if (watcher.gone) continue;
      watcher.after = Math.max(watcher.after, coveredTo);
      if (this.goLiveIfCaughtUp(watcher)) continue;
      if (watcher.sink.backlogged()) void this.waitForDrain(watcher);
      else this.waiting.add(watcher);
    }
    // A long catch-up must not keep the server from other requests.
    await nextTurn();
  }

  /** Sends each watcher of `batch` the page's changes after its own point that match its filter, each message serialised once per group. */
  private replayPage(batch: Watcher[], page: RevisionChanges[]): void {
    const groups = new Map<string, Watcher[]>();
    for (const watcher of batch) {
      const id = groupId(watcher.filter, watcher.withValues);
      const group = groups.get(id);
      if (group === undefined) groups.set(id, [watcher]);
      else group.push(watcher);
    }
    for (const changes of page) {
      for (const group of groups.values()) {
        const { filter, withValues } = group[0]!;
        let message: Buffer | null = null;
        let events: RevisionChanges['events'] | null = null;
        for (const watcher of group) {
          if (watcher.gone || changes.revision <= watcher.after) continue;
          events ??= changes.events.filter((event) => matchesFilter(filter, event.key));
          if (events.length === 0) break;
          message ??= Buffer.from(changeMessage(changes.revision, events, withValues));
          watcher.sink.replay(message);
          this.replayed += events.length;
        }
      }
    }
  }

  /**
   * Subscribes `watcher` to the hub if it has been replayed up to the hub's
   * revision: in this same step, so that the hub delivers exactly the
   * revisions after the one it was replayed to.
   */
  private goLiveIfCaughtUp(watcher: Watcher): boolean {
    if (watcher.after < this.hub.currentRevision) return false;
    watcher.gone = true;
    // The feed lost changes after this watcher's point (a gap, see WatchHub.lostUpTo): it cannot be brought up to date.
    if (watcher.after < this.hub.lostUpTo) {
      const compactRevision = this.hub.lostUpTo;
      watcher.sink.failed(
        new KvError(
          'history_compacted',
          `history before revision ${compactRevision + 1} is compacted; watch from ${compactRevision} or later, or read the current state first`,
          { compactRevision },
        ),
      );
      return true;
    }
    watcher.sink.live(this.hub.subscribe(watcher.filter, watcher.withValues, watcher.sink, watcher.after), watcher.after);
    return true;
  }

  /** Sets a backlogged watcher aside until its consumer drains, then queues it again; evicts it if it does not in time. */
  private async waitForDrain(watcher: Watcher): Promise<void> {
    const drained = await watcher.sink.drained(this.drainTimeoutMs);
    if (watcher.gone) return;
    if (!drained) {
      watcher.gone = true;
      watcher.sink.evict();
      return;
    }
    if (!this.goLiveIfCaughtUp(watcher)) {
      this.waiting.add(watcher);
      this.pump();
    }
  }

  /**
   * A read failed. History compacted past some of the batch: those get the
   * error, the others (resuming after the compaction) queue again. Any other
   * error (the engine failing): the whole batch gets it.
   */
  private failBatch(batch: Watcher[], error: unknown): void {
    const compactRevision = isKvError(error) && error.code === 'history_compacted' ? error.extras.compactRevision : undefined;
    for (const watcher of batch) {
      if (watcher.gone) continue;
      if (typeof compactRevision === 'number' && watcher.after >= compactRevision) {
        this.waiting.add(watcher);
        continue;
      }
      watcher.gone = true;
      watcher.sink.failed(error);
    }
  }
}
