import type { Transaction } from 'lmdb';
import { KvError } from '../../core/errors.js';
import { OverloadError } from '../../core/overload.js';
import { NO_WRITE_OBSERVER, type WriteObserver } from '../../core/write-observer.js';
import type { Revision } from '../../core/types.js';
import type { Stores } from './stores.js';
import { WriteBatch } from './write-batch.js';
import { WriteContext } from './write-context.js';

interface Job {
  body: (ctx: WriteContext, batch: WriteBatch) => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Group commit. Writes that arrive while a batch is committing wait and then
 * go together as the next batch: one LMDB transaction, one sync. The batch
 * size follows the load by itself: a write alone commits at once; under load,
 * one sync covers everything that arrived during the previous one.
 *
 * A batch is planned on the main thread (see WriteBatch) and queued as plain
 * write instructions inside `root.batch()`; lmdb-js's writer thread applies
 * and syncs it without calling back into JavaScript. Measured here, that is
 * about twice the throughput of running the writes as `root.transaction()`
 * callbacks, which need a round trip to the busy main thread mid-transaction
 * (docs/adr/0002-durable-acknowledgements.md).
 *
 * Each write gets its own revision and its own outcome: a write whose body
 * throws (a KvError, raised before any mutation) fails alone. If the commit
 * fails, every write of the batch fails and none of it applied.
 */
export class GroupCommit {
  private pending: Job[] = [];
  private committing = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly stores: Stores,
    private readonly now: () => number,
    /** The latest durable snapshot, which a batch is planned against. */
    private readonly snapshot: () => Transaction,
    /** Called after every batch, before its writers hear of it, with the last revision it made durable (null if none, or if it failed). */
    private readonly afterBatch: (durableRevision: Revision | null) => void,
    /** Told the cause of a failed commit, which writers only hear of as 503 or 507. */
    private readonly onCommitError: (error: unknown) => void,
    /** Writes that may wait for the next batch; beyond, new ones are refused at once (overload). */
    private readonly maxPending: number = Number.POSITIVE_INFINITY,
    /** Told each durable batch's size and its commit and sync times (/metrics). */
    private readonly observer: WriteObserver = NO_WRITE_OBSERVER,
  ) {}

  /** Writes queued for the next batch now: what maxPending bounds. */
  get waiting(): number {
    return this.pending.length;
  }

  /** Runs `body` in the next batch; resolves with its result once the batch is on disk. */
  submit<T>(body: (ctx: WriteContext, batch: WriteBatch) => T): Promise<T> {
    if (this.pending.length >= this.maxPending) {
      // Overloaded: refusing now keeps memory and the wait of queued writers bounded; the client retries.
      return Promise.reject(new OverloadError(`${this.maxPending} writes are already waiting for the disk; retry shortly`));
    }
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ body, resolve: resolve as (value: unknown) => void, reject });
      if (!this.committing) this.commitPending();
    });
  }

  /** Resolves when nothing is queued or committing. */
  idle(): Promise<void> {
    if (!this.committing && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private commitPending(): void {
    const jobs = this.pending;
    this.pending = [];
    this.committing = true;
    const outcomes: Outcome[] = [];
    let batch: WriteBatch | null = null;
    const { root } = this.stores;
    let committed: Promise<unknown>;
    try {
      committed = root.batch(() => {
        batch = new WriteBatch(this.stores, this.snapshot(), this.now());
        for (const job of jobs) {
          const ctx = new WriteContext(batch);
          try {
            outcomes.push({ ok: true, value: job.body(ctx, batch) });
          } catch (error) {
            // A KvError comes before any mutation. An error after one is a bug, and its
            // mutations are already queued: log them at the revision they claimed, so
            // the log and the records stay consistent; the writer gets a 500.
            if (ctx.mutated) ctx.commit();
            outcomes.push({ ok: false, error });
          }
        }
        batch.finish();
      });
    } catch (error) {
      committed = Promise.reject(error);
    }
    // Planned and queued: from here the batch is lmdb-js's writer thread's.
    const queuedAt = performance.now();
    let committedAt = queuedAt;
    committed
      // The durability barrier. lmdb-js documents a write's promise as
      // "committed and visible", not "synced"; `flushed` resolves once the OS
      // reports the commit synced. Only then is any writer answered.
      // (In lmdb-js 3.5.6 the fdatasync runs inside the commit, so the
      // commit time includes it and `flushed` follows at once: ADR 0010.)
      .then(() => {
        committedAt = performance.now();
        return root.flushed;
      })
      .then(
        () => {
          this.observer.batchCommitted(jobs.length, (committedAt - queuedAt) / 1000, (performance.now() - committedAt) / 1000);
          const written = batch as WriteBatch | null;
          this.afterBatch(written !== null && written.changed ? written.revision : null);
          jobs.forEach((job, index) => {
            const outcome = outcomes[index]!;
            if (outcome.ok) job.resolve(outcome.value);
            else job.reject(outcome.error);
          });
        },
        (error: unknown) => {
          // Nothing of the batch applied (LMDB commits are atomic). The next batch
          // plans against a renewed snapshot, not this batch's overlay.
          this.afterBatch(null);
          this.onCommitError(error);
          const reported = commitFailure(error);
          for (const job of jobs) job.reject(reported);
        },
      )
      .finally(() => {
        this.committing = false;
        if (this.pending.length > 0) this.commitPending();
        else for (const resolve of this.idleWaiters.splice(0)) resolve();
      });
  }
}

/**
 * What writers are told when a commit fails: nothing of their write applied.
 * A full disk or map is 507 storage_full; anything else 503 unavailable, so a
 * client may retry. The cause goes to onCommitError.
 */
export function commitFailure(error: unknown): KvError {
  const message = error instanceof Error ? `${error.message} ${String((error as { commitError?: unknown }).commitError ?? '')}` : String(error);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || /MDB_MAP_FULL|ENOSPC|No space left/i.test(message)) {
    return new KvError('storage_full', 'the store is full; the write was not applied', {});
  }
  return new KvError('unavailable', 'the store could not commit the write; it was not applied', { retryAfterSeconds: 1 });
}
