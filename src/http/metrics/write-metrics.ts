import type { WriteObserver } from '../../core/write-observer.js';
import { Histogram, type Registry } from './registry.js';

/** From 50 µs (a commit to the page cache) to seconds (a disk or an etcd cluster in trouble). */
const COMMIT_BUCKETS_SECONDS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Powers of two up to past the default KV_MAX_PENDING_WRITES (10000): a batch is at most the writes that waited. */
const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384];
/** The sweeper runs every 250 ms (EXPIRY_SWEEP_INTERVAL_MS): a healthy lag is below 0.5 s. */
const EXPIRY_LAG_BUCKETS_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * The engine's side of /metrics: the WriteObserver the composition root gives
 * the engine, whose histograms ServerMetrics renders. Each call is a few
 * additions (a bucket search over a dozen bounds), once per batch or swept key,
 * never per read.
 */
export class WriteMetrics implements WriteObserver {
  readonly commitDuration = new Histogram(
    'kvs_write_commit_duration_seconds',
    'Commit of one write batch, from handing it to the store to the commit returning (embedded engine: one LMDB transaction, and in lmdb-js 3.5.6 its fdatasync; etcd: one Txn round trip).',
    [],
    COMMIT_BUCKETS_SECONDS,
  );
  readonly syncDuration = new Histogram(
    'kvs_write_sync_duration_seconds',
    'Embedded engine: from a batch commit returning to the store reporting it synced (root.flushed); no samples on etcd.',
    [],
    COMMIT_BUCKETS_SECONDS,
  );
  readonly batchSize = new Histogram(
    'kvs_write_batch_size',
    'Writes per committed batch (group commit; always 1 on etcd, one Txn per write).',
    [],
    BATCH_SIZE_BUCKETS,
  );
  readonly expiryLag = new Histogram(
    'kvs_expiry_lag_seconds',
    "Embedded engine: how long after its deadline an expired key's removal was durable (the sweeper); no samples on etcd, whose leases expire keys.",
    [],
    EXPIRY_LAG_BUCKETS_SECONDS,
  );
  // Every series exists from the start, with zero buckets, so that a rate or a
  // quantile over it has a value before the first sample (and stays at zero
  // where none comes: a sync or a sweep only happens on the embedded engine).
  private readonly observeCommit = this.commitDuration.observer([]);
  private readonly observeBatchSize = this.batchSize.observer([]);
  private readonly observeSync = this.syncDuration.observer([]);
  private readonly observeLag = this.expiryLag.observer([]);

  batchCommitted(writes: number, commitSeconds: number, syncSeconds: number | null): void {
    this.observeBatchSize(writes);
    this.observeCommit(commitSeconds);
    if (syncSeconds !== null) this.observeSync(syncSeconds);
  }

  keySwept(lagSeconds: number): void {
    this.observeLag(Math.max(0, lagSeconds));
  }

  register(registry: Registry): void {
    for (const histogram of [this.commitDuration, this.syncDuration, this.batchSize, this.expiryLag]) registry.register(histogram);
  }
}
