import type { Transaction } from 'lmdb';
import { KvError } from '../../core/errors.js';
import { OverloadError } from '../../core/overload.js';
import { NO_WRITE_OBSERVER, type WriteObserver } from '../../core/write-observer.js';
import type { Revision } from '../../core/types.js';
import { latestReadTransaction, META_BATCH, META_REVISION, readBatchSequence, readMetaNumber, type StoredEvent, type Stores } from './stores.js';
import { WriteBatch, type BatchBase } from './write-batch.js';
import { WriteContext } from './write-context.js';

interface Job {
  body: (ctx: WriteContext, batch: WriteBatch) => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** A client's write (not the sweeper's or the compactor's): what batch sizing counts. */
  client: boolean;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** A batch handed to lmdb-js and not settled yet. */
interface InFlight {
  jobs: Job[];
  outcomes: Outcome[];
  batch: WriteBatch;
  /** A read transaction on exactly this batch's state, taken once it was seen committed (before any later batch was queued). */
  snapshot: Transaction | null;
  queuedAt: number;
  committedAt: number;
  /** pending → durable (flushed), or failed; settled batches leave in order. */
  state: 'pending' | 'durable' | 'failed';
  /** false when LMDB skipped the batch: its predecessor did not apply (see queue()). */
  applied: boolean;
  error: unknown;
}

/** What the engine is told when a batch settles: the durable view to read from, and what to publish. */
export interface DurableState {
  /** A read transaction on exactly the durable state; the engine owns it from now on (and calls done()). */
  snapshot: Transaction;
  revision: Revision;
  /** Revisions the batch made durable, with their events, in order (empty after a failure: the engine reads any it missed from the log). */
  appended: ReadonlyArray<{ revision: Revision; events: StoredEvent[] }>;
}

/**
 * Batches handed to lmdb-js at once: one syncing, the next one committed
 * behind it (so that its sync starts the moment the previous one ends). A
 * third would only make the one behind smaller.
 */
const MAX_IN_FLIGHT = 2;

/** The longest a batch waits for more client writes (see queueNext): a bound on the latency it adds. */
const FILL_WAIT_MS = 1;

/**
 * Group commit. Writes are queued and go together as batches: one LMDB
 * transaction, one sync, however many writers. A batch is planned on the main
 * thread (see WriteBatch) and queued as plain write instructions inside one
 * conditional block; lmdb-js's writer thread applies and syncs it without
 * calling back into JavaScript (twice the throughput of `root.transaction()`
 * callbacks: docs/adr/0002-durable-acknowledgements.md).
 *
 * The next batch is planned and queued while the previous one syncs
 * (docs/adr/0013-durable-write-path.md): LMDB commits it behind the sync
 * (overlappingSync), so the disk goes from one sync to the next without
 * waiting for JavaScript, and the main thread plans while the disk works.
 * What keeps that safe:
 *
 * - A batch is planned against the durable snapshot plus the writes of the
 *   batch still in flight (WriteBatch's parent), so it decides as if that one
 *   had applied; it is queued only once that one is seen committed in LMDB
 *   (its batch number, META_BATCH, which each batch sets, in a fresh read
 *   transaction), so it did apply. The batch is also conditional on that
 *   number in LMDB itself (lmdb-js `ifVersion`): if the one before did not
 *   apply, or the store changed behind kvs's back, LMDB skips it and its
 *   writers fail. Nothing is applied on top of a write that failed.
 * - Writers are answered, and reads see a batch, only once it is flushed.
 *   Reads use a read transaction on exactly the durable state. A batch
 *   becomes visible in LMDB as it commits, before its sync, so the snapshot of
 *   a batch is taken once it is seen committed and before the next batch is
 *   queued (checked by its batch number), and the engine reads from it only
 *   once the batch is flushed. A later batch, committed but not synced, is
 *   never in any snapshot the engine reads.
 * - Batches settle in order, each exactly once.
 *
 * Each write gets its own revision and its own outcome: a write whose body
 * throws (a KvError, raised before any mutation) fails alone. If the commit
 * fails, every write of the batch fails and none of it applied.
 */
export class GroupCommit {
  private pending: Job[] = [];
  private readonly inFlight: InFlight[] = [];
  private idleWaiters: Array<() => void> = [];
  private queueScheduled = false;
  /** After a failed commit: no batch is queued until those in flight settle and the view is read afresh. */
  private viewLost = false;
  /** Where the next batch starts when none is in flight. */
  private base: BatchBase;
  /** Client writes among the pending (the sweeper's and the compactor's are not waited for). */
  private pendingClientWrites = 0;
  /** Client writes the last durable batch answered: about as many will come back. */
  private fillTarget = 0;
  private fillTimer: NodeJS.Timeout | null = null;
  private fillWaited = false;

  constructor(
    private readonly stores: Stores,
    private readonly now: () => number,
    /** The durable snapshot, which a batch is planned against (with the batches in flight). */
    private readonly snapshot: () => Transaction,
    /** Called when the durable state changes (after a batch, before its writers hear of it; after a failure, once the view was read afresh). */
    private readonly afterBatch: (durable: DurableState) => void,
    /** Told the cause of a failed commit, which writers only hear of as 503 or 507. */
    private readonly onCommitError: (error: unknown) => void,
    /** Writes that may wait for the next batch; beyond, new ones are refused at once (overload). */
    private readonly maxPending: number = Number.POSITIVE_INFINITY,
    /** Told each durable batch's size and its commit and sync times (/metrics). */
    private readonly observer: WriteObserver = NO_WRITE_OBSERVER,
    /** Told once that the disk failed (see storeFailing): no write will be acknowledged again; the process should stop. */
    private readonly onStoreFailed: (error: unknown) => void = () => {},
  ) {
    this.base = baseOf(stores, snapshot());
  }

  /** Writes queued for the next batch now: what maxPending bounds. */
  get waiting(): number {
    return this.pending.length;
  }

  /** Runs `body` in the next batch; resolves with its result once the batch is on disk. */
  submit<T>(body: (ctx: WriteContext, batch: WriteBatch) => T, client = true): Promise<T> {
    if (this.storeFailed !== null) return Promise.reject(storeFailedError());
    if (this.pending.length >= this.maxPending) {
      // Overloaded: refusing now keeps memory and the wait of queued writers bounded; the client retries.
      return Promise.reject(new OverloadError(`${this.maxPending} writes are already waiting for the disk; retry shortly`));
    }
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ body, resolve: resolve as (value: unknown) => void, reject, client });
      if (client) this.pendingClientWrites++;
      if (!this.queueScheduled) {
        // At the end of this turn of the event loop, so that the writes that
        // arrived together go together (a batch used to start with the first).
        this.queueScheduled = true;
        setImmediate(() => {
          this.queueScheduled = false;
          this.queueNext();
        });
      }
    });
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.inFlight.length === 0 && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Queues the pending writes as the next batch, if the batches in flight
   * allow it now; else it is tried again when one settles, more writes
   * arrive, or the fill wait ends.
   *
   * Batches are sized by what arrives: the next one waits, up to
   * FILL_WAIT_MS, until it holds as many client writes as the last durable
   * batch answered. Those writers come back at about the same time, and a
   * batch queued at the first of them splits them across two syncs (and two
   * LMDB commits, whose cost is per batch, not per write). Measured with 32
   * writers: 11-12 writes per batch with no wait, 15-16 when only a batch
   * waits behind one in flight, 20-30 when every batch waits; CPU per write
   * 77, 71 and 58 µs (docs/adr/0013-durable-write-path.md).
   */
  private queueNext(): void {
    if (this.pending.length === 0) return;
    if (this.viewLost || this.inFlight.length >= MAX_IN_FLIGHT) return;
    const last = this.inFlight.at(-1);
    if (this.pendingClientWrites < this.fillTarget && !this.fillWaited) {
      this.fillTimer ??= setTimeout(() => {
        this.fillTimer = null;
        this.fillWaited = true;
        this.queueNext();
      }, FILL_WAIT_MS);
      return;
    }
    // The snapshot of the batch in flight must be taken before a later batch can commit.
    if (last !== undefined && !this.captureSnapshot(last)) return;
    this.queue(last);
  }

  private queue(parentFlight: InFlight | undefined): void {
    const jobs = this.pending;
    this.pending = [];
    this.pendingClientWrites = 0;
    this.fillWaited = false;
    if (this.fillTimer !== null) {
      clearTimeout(this.fillTimer);
      this.fillTimer = null;
    }
    const outcomes: Outcome[] = [];
    const parent = parentFlight?.batch ?? null;
    const batch = new WriteBatch(
      this.stores,
      this.snapshot(),
      this.now(),
      parent,
      parent === null ? this.base : { revision: parent.revision, sequence: parent.sequence },
    );
    const { root, meta } = this.stores;
    let committed: Promise<unknown>;
    let flushed: Promise<unknown>;
    try {
      // Applied only if the previous batch was (its number is in META_BATCH): see the class comment.
      committed = meta.ifVersion(META_BATCH, batch.sequence - 1, () => {
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
      // This batch's own flush, taken now: `root.flushed` later would wait for whatever was queued since.
      flushed = new Promise((resolve, reject) => {
        root.flushed.then(resolve, reject);
      });
    } catch (error) {
      committed = Promise.reject(error);
      flushed = committed;
    }
    const flight: InFlight = {
      jobs,
      outcomes,
      batch,
      snapshot: null,
      queuedAt: performance.now(),
      committedAt: 0,
      state: 'pending',
      applied: true,
      error: undefined,
    };
    this.inFlight.push(flight);
    committed
      // The durability barrier. lmdb-js documents a write's promise as
      // "committed and visible", not "synced"; `flushed` resolves once the OS
      // reports the commit synced. Only then is any writer answered.
      // (In lmdb-js 3.5.6 the fdatasync runs inside the commit, so the
      // commit time includes it and `flushed` follows at once: ADR 0010.)
      .then((applied) => {
        flight.committedAt = performance.now();
        flight.applied = applied !== false;
        return flushed;
      })
      .then(
        () => {
          flight.state = 'durable';
          this.settle();
        },
        (error: unknown) =>
          void commitCause(error).then((cause) => {
            flight.state = 'failed';
            flight.error = cause;
            this.settle();
          }),
      );
  }

  /** Takes the snapshot of `flight` if it has committed (and nothing after it can have: nothing later is queued). */
  private captureSnapshot(flight: InFlight): boolean {
    if (flight.snapshot !== null) return true;
    flight.snapshot = this.exactSnapshot(flight.batch.sequence);
    return flight.snapshot !== null;
  }

  /** A read transaction on the state after batch `sequence`, or null if it has not committed yet. */
  private exactSnapshot(sequence: number): Transaction | null {
    // A second try: the first may get a transaction someone else holds, not renewed (see latestReadTransaction).
    for (let attempt = 0; attempt < 2; attempt++) {
      const transaction = latestReadTransaction(this.stores.root);
      const seen = readBatchSequence(this.stores, transaction) ?? 0;
      if (seen === sequence) return transaction;
      transaction.done();
      if (seen > sequence) throw new Error(`the store is at batch ${seen}, past batch ${sequence} in flight: a write went around group commit`);
    }
    return null;
  }

  /** Settles the batches at the head of the queue that are done, in order. */
  private settle(): void {
    while (this.inFlight.length > 0 && this.inFlight[0]!.state !== 'pending') {
      const flight = this.inFlight.shift()!;
      if (flight.state === 'failed' && (isDiskFailure(flight.error) || this.visibleDespiteFailure(flight))) this.storeFailing(flight.error);
      if (this.storeFailed !== null) this.outcomeUnknown(flight);
      else if (flight.state === 'durable' && flight.applied) this.durable(flight);
      else this.failed(flight);
    }
    if (this.storeFailed !== null) {
      // Batches behind the failed one are not waited for: whatever their sync says, they are not acknowledged.
      for (const flight of this.inFlight.splice(0)) this.outcomeUnknown(flight);
      for (const job of this.pending.splice(0)) job.reject(storeFailedError());
      this.pendingClientWrites = 0;
      if (this.inFlight.length === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      return;
    }
    // After a failure, once nothing is in flight, reads (and the next batch) see what the store holds.
    if (this.viewLost && this.inFlight.length === 0) this.renewView();
    if (this.pending.length > 0) this.queueNext();
    else if (this.inFlight.length === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private durable(flight: InFlight): void {
    const { batch } = flight;
    // Taken before any later batch was queued (queueNext), or now, when none is.
    const snapshot = flight.snapshot ?? this.exactSnapshot(batch.sequence);
    if (snapshot === null) throw new Error(`batch ${batch.sequence} is flushed but not in the store`);
    flight.snapshot = null;
    // The next batch in flight was planned on this one's overlay: its writes are in the snapshot now.
    const next = this.inFlight[0];
    if (next !== undefined && next.batch.parent === batch) next.batch.parent = null;
    this.base = { revision: batch.revision, sequence: batch.sequence };
    this.fillTarget = flight.jobs.reduce((clients, job) => (job.client ? clients + 1 : clients), 0);
    // A batch that applied after one that failed (whose sync failed after it committed) puts the view back on track.
    this.viewLost = false;
    const flushedAt = performance.now();
    this.observer.batchCommitted(flight.jobs.length, (flight.committedAt - flight.queuedAt) / 1000, (flushedAt - flight.committedAt) / 1000);
    this.afterBatch({ snapshot, revision: batch.revision, appended: batch.appended });
    flight.jobs.forEach((job, index) => {
      const outcome = flight.outcomes[index]!;
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.error);
    });
  }

  /**
   * A batch that failed, or that LMDB skipped because its predecessor did not
   * apply. Nothing of it applied (LMDB commits are atomic). Until those in
   * flight settle, no batch is queued; then the view is read afresh
   * (renewView) and writing resumes.
   */
  private failed(flight: InFlight): void {
    flight.snapshot?.done();
    flight.snapshot = null;
    this.viewLost = true;
    if (flight.state === 'failed') {
      this.lastError = flight.error;
      this.onCommitError(flight.error);
    }
    const reported = commitFailure(flight.state === 'failed' ? flight.error : this.lastError);
    for (const job of flight.jobs) job.reject(reported);
  }

  /**
   * The disk failed a write or a sync (EIO). After a failed fdatasync nothing
   * is known any more: LMDB may have written the batch's meta page (its state
   * is visible), the kernel may have dropped the dirty pages it could not
   * write, and a later sync that succeeds proves nothing about them
   * (PostgreSQL's "fsyncgate"; etcd exits on a failed WAL sync for the same
   * reason). So from here on no write is acknowledged, not even a batch that
   * committed behind it: every writer in flight or waiting hears "outcome
   * unknown", and onStoreFailed stops the process, which restarts from what
   * the disk really holds.
   */
  private storeFailing(cause: unknown): void {
    if (this.storeFailed !== null) return;
    this.storeFailed = cause;
    if (this.fillTimer !== null) {
      clearTimeout(this.fillTimer);
      this.fillTimer = null;
    }
    this.onStoreFailed(cause);
  }

  private storeFailed: unknown = null;

  /**
   * Whether a failed batch reached the store anyway: LMDB writes the meta page
   * before it syncs, so a sync that fails (with any errno: ENOSPC and EDQUOT
   * from a late-allocating filesystem too) leaves the batch visible, and only
   * the disk knows whether it is durable. "Not applied" is said only of a
   * batch the store does not hold.
   */
  private visibleDespiteFailure(flight: InFlight): boolean {
    const transaction = latestReadTransaction(this.stores.root);
    try {
      return (readBatchSequence(this.stores, transaction) ?? 0) >= flight.batch.sequence;
    } finally {
      transaction.done();
    }
  }

  private outcomeUnknown(flight: InFlight): void {
    flight.snapshot?.done();
    flight.snapshot = null;
    for (const job of flight.jobs) job.reject(storeFailedError());
  }

  /** The cause of the last failed commit, which batches skipped behind it report too. */
  private lastError: unknown = new Error('the batch before this one was not applied');

  /** After a failure, with nothing in flight: the durable view is whatever the store holds now. */
  private renewView(): void {
    const snapshot = latestReadTransaction(this.stores.root);
    this.base = baseOf(this.stores, snapshot);
    this.viewLost = false;
    this.afterBatch({ snapshot, revision: this.base.revision, appended: [] });
  }
}

function baseOf(stores: Stores, snapshot: Transaction): BatchBase {
  return { revision: readMetaNumber(stores, META_REVISION, snapshot), sequence: readBatchSequence(stores, snapshot) ?? 0 };
}

/** How long a failed commit's cause (lmdb-js's `commitError`, a promise) is waited for. */
const COMMIT_CAUSE_WAIT_MS = 1000;

/**
 * lmdb-js rejects a failed commit's writes with "Commit failed (see
 * commitError for details)" and the cause in `error.commitError`, a promise
 * that rejects with LMDB's error once the writer thread reports it. That
 * promise is handled here (unhandled, it would stop the process) and its
 * reason becomes the cause: what tells a full disk from a failing one.
 */
function commitCause(error: unknown): Promise<unknown> {
  const pending = (error as { commitError?: unknown } | null)?.commitError;
  if (!(pending instanceof Promise)) return Promise.resolve(error);
  let timer: NodeJS.Timeout | undefined;
  const reported = pending.then(
    () => error,
    (cause: unknown) => cause ?? error,
  );
  const late = new Promise<unknown>((resolve) => {
    timer = setTimeout(() => resolve(error), COMMIT_CAUSE_WAIT_MS);
  });
  return Promise.race([reported, late]).finally(() => clearTimeout(timer));
}

/** An I/O error from the disk (EIO): the store's durable state is unknown (see GroupCommit.storeFailing). */
export function isDiskFailure(error: unknown): boolean {
  // lmdb-js puts the errno (or LMDB's own code) in a numeric `code`; Node's errors a string one.
  const { code, errno } = (error ?? {}) as { code?: unknown; errno?: unknown };
  if (code === 'EIO' || code === EIO || errno === EIO || errno === -EIO || code === MDB_PANIC) return true;
  return error instanceof Error && /\bEIO\b|Input\/output error|MDB_PANIC/i.test(error.message);
}

const EIO = 5;
/** LMDB's "update of meta page failed or environment had fatal error": the environment is unusable until reopened. */
const MDB_PANIC = -30795;
const ENOSPC = 28;

function storeFailedError(): KvError {
  return new KvError(
    'unavailable',
    'the disk failed while making writes durable: this write may or may not have been applied, and kvs is restarting to recover from what is on disk; read the key before retrying a non-idempotent write',
    { retryAfterSeconds: 1 },
  );
}

/**
 * What writers are told when a commit fails: nothing of their write applied.
 * A full disk or map is 507 storage_full; anything else 503 unavailable, so a
 * client may retry. The cause goes to onCommitError.
 */
export function commitFailure(error: unknown): KvError {
  const message = error instanceof Error ? error.message : String(error);
  const { code, errno } = (error ?? {}) as { code?: unknown; errno?: unknown };
  if (code === 'ENOSPC' || code === ENOSPC || errno === ENOSPC || errno === -ENOSPC || /MDB_MAP_FULL|ENOSPC|No space left/i.test(message)) {
    return new KvError('storage_full', 'the store is full; the write was not applied', {});
  }
  return new KvError('unavailable', 'the store could not commit the write; it was not applied', { retryAfterSeconds: 1 });
}
