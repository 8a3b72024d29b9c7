import type { Limits } from '../core/limits.js';
import type { FreshReader, SnapshotBackup, StorageEngine, SyncReader } from '../engine/engine.js';
import type { WatchHub } from '../watch/hub.js';
import type { ServerMetrics } from './plugins/metrics.js';
import type { WatchStreams } from './watch-streams.js';

/** What route plugins are given: the engine and the settings they enforce. */
export interface HttpDeps {
  engine: StorageEngine;
  /** The engine's synchronous reads, when it has them (the embedded engine): the fast read path's. */
  syncReader: SyncReader | null;
  /** The engine's local reads after a barrier, when it has them (etcd, with its replica): the fast read path's, asynchronously. */
  freshReader: FreshReader | null;
  /** The engine's snapshot copies, when it has them (the embedded engine): GET /v1/admin/backup's. */
  snapshotBackup: SnapshotBackup | null;
  limits: Limits;
  metrics: ServerMetrics;
  /** kvs's version, for /v1/status. */
  version: string;
  startedAtMs: number;
  /** The clock, in ms since the epoch. */
  now: () => number;
  /** Fan-out of durable changes to watch streams and long-polls. */
  hub: WatchHub;
  watchStreams: WatchStreams;
}
