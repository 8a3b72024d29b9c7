import type { FastifyInstance } from 'fastify';
import { reportsReplica, type ReplicaReporter, type StorageEngine, type StoreStatus } from '../../engine/engine.js';
import type { WatchHub } from '../../watch/hub.js';
import type { WatchStreams } from '../watch-streams.js';
import { isKvError } from '../../core/errors.js';
import { isOverload } from '../../core/overload.js';
import { LoopLag } from '../metrics/loop-lag.js';
import { registerProcessMetrics } from '../metrics/process-metrics.js';
import { Counter, Gauge, Histogram, ReadCounter, Registry } from '../metrics/registry.js';
import { WriteMetrics } from '../metrics/write-metrics.js';

const DURATION_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Why a request was refused before it was served: every value is a series from the start. */
export const REJECTION_REASONS = ['overload', 'rate_limited', 'unauthorized', 'forbidden', 'protected_mode'] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

/** The server's metrics; the store gauges read a status snapshot refreshed before each scrape. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = this.registry.register(
    new Counter('kvs_http_requests_total', 'HTTP requests answered, by method, route and status.', ['method', 'route', 'status']),
  );
  readonly durations = this.registry.register(
    new Histogram('kvs_http_request_duration_seconds', 'Time from request to response, by method and route.', ['method', 'route'], DURATION_BUCKETS_SECONDS),
  );
  readonly rejected = this.registry.register(
    new Counter(
      'kvs_http_requests_rejected_total',
      'Requests refused before being served, by reason: overload (KV_MAX_PENDING_WRITES writes or KV_MAX_WATCHERS watches already waiting: 503), rate_limited (429), unauthorized (401), forbidden (403: the token has no grant), protected_mode (403).',
      ['reason'],
    ),
  );
  private status: StoreStatus = { revision: 0, compactRevision: 0, keys: 0 };
  private readonly loopLag = processLoopLag();
  private lag = { p99Seconds: 0, maxSeconds: 0 };

  constructor(
    private readonly engine: StorageEngine,
    version: string,
    startedAtMs: number,
    hub: WatchHub,
    watchStreams: WatchStreams,
    /** The observer the engine was given (main.ts); a new one, which nothing feeds, if none. */
    writeMetrics: WriteMetrics = new WriteMetrics(),
  ) {
    for (const reason of REJECTION_REASONS) this.rejected.series([reason]);
    writeMetrics.register(this.registry);
    this.registry.register(
      new Gauge('kvs_writes_waiting', 'Writes waiting for a commit now (the number KV_MAX_PENDING_WRITES bounds).', () => [{ value: engine.waitingWrites() }]),
    );
    this.registry.register(new Gauge('kvs_watch_streams', 'Open watch streams (GET /v1/watch).', () => [{ value: watchStreams.size }]));
    this.registry.register(new Gauge('kvs_watchers', 'Live watch subscriptions: caught-up streams and waiting long-polls.', () => [{ value: hub.size }]));
    this.registry.register(new ReadCounter('kvs_watch_evictions_total', 'Watchers dropped as slow consumers since start.', () => [{ value: hub.evictions }]));
    this.registry.register(
      new ReadCounter(
        'kvs_watch_events_sent_total',
        'Change events sent to watch streams and long-polls, once per watcher (history replayed included).',
        () => [{ value: hub.eventsSent + watchStreams.replayedEvents }],
      ),
    );
    this.registry.register(
      new ReadCounter('kvs_watch_events_dropped_total', 'Change events not sent because their watcher was evicted as a slow consumer then.', () => [
        { value: hub.eventsDropped },
      ]),
    );
    this.registry.register(
      new Gauge('kvs_build_info', 'Always 1; labels say the version and the engine.', () => [{ labels: { version, engine: engine.name }, value: 1 }]),
    );
    this.registry.register(new Gauge('kvs_store_revision', 'The store revision.', () => [{ value: this.status.revision }]));
    this.registry.register(
      new Gauge('kvs_store_compact_revision', 'History is compacted up to this revision.', () => [{ value: this.status.compactRevision }]),
    );
    this.registry.register(new Gauge('kvs_store_keys', 'Keys in the store (including expired keys not yet swept).', () => [{ value: this.status.keys }]));
    this.registry.register(
      new Gauge('kvs_store_data_bytes', 'Bytes the store occupies (the cap KV_MAX_DATA_BYTES applies to this).', () =>
        this.status.dataBytes === undefined ? [] : [{ value: this.status.dataBytes }],
      ),
    );
    this.registry.register(
      new Gauge('nodejs_eventloop_lag_p99_seconds', 'Event-loop lag, 99th percentile since the last scrape.', () => [{ value: this.lag.p99Seconds }]),
    );
    this.registry.register(
      new Gauge('nodejs_eventloop_lag_max_seconds', 'Event-loop lag, maximum since the last scrape.', () => [{ value: this.lag.maxSeconds }]),
    );
    this.registry.register(new Gauge('process_uptime_seconds', 'Seconds since the server started.', () => [{ value: (Date.now() - startedAtMs) / 1000 }]));
    if (reportsReplica(engine)) registerReplicaMetrics(this.registry, engine);
    registerProcessMetrics(this.registry);
  }

  async render(): Promise<string> {
    this.status = await this.engine.status();
    this.lag = this.loopLag.read();
    return this.registry.render();
  }
}

/** The etcd engine's replica (docs/adr/0011-replica-reads.md): how reads were answered, and the barriers that let them. */
function registerReplicaMetrics(registry: Registry, engine: ReplicaReporter): void {
  registry.register(
    new Gauge('kvs_replica_serving', '1 while the node answers reads from its replica of the store (0: loading; reads go to etcd).', () => [
      { value: engine.replicaStats().serving ? 1 : 0 },
    ]),
  );
  registry.register(new Gauge('kvs_replica_revision', 'The etcd revision the replica has applied.', () => [{ value: engine.replicaStats().revision }]));
  registry.register(
    new ReadCounter('kvs_replica_loads_total', 'Loads of the replica since start: the first, and one after each loss of history.', () => [
      { value: engine.replicaStats().loads },
    ]),
  );
  registry.register(
    new ReadCounter('kvs_replica_barriers_total', 'Quorum reads made for read barriers; each serves every read that waited for it.', () => [
      { value: engine.replicaStats().barriers },
    ]),
  );
  registry.register(
    new ReadCounter(
      'kvs_replica_reads_total',
      'Reads by how they were answered: fresh (replica, after a barrier), stale (replica, without one), source (etcd: the replica could not answer).',
      () => {
        const stats = engine.replicaStats();
        return [
          { labels: { answer: 'fresh' }, value: stats.freshReads },
          { labels: { answer: 'stale' }, value: stats.staleReads },
          { labels: { answer: 'source' }, value: stats.sourceReads },
        ];
      },
    ),
  );
}

let loopLag: LoopLag | null = null;

/** One sampler per process: the loop is the process's, whatever the number of servers in it (tests). */
function processLoopLag(): LoopLag {
  loopLag ??= new LoopLag();
  return loopLag;
}

/** Counts every answered request by its route pattern (never the raw URL: keys must not become label values). */
export function installRequestMetrics(app: FastifyInstance, metrics: ServerMetrics): void {
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const method = request.method;
    metrics.requests.inc([method, route, String(reply.statusCode)]);
    metrics.durations.observe([method, route], reply.elapsedTime / 1000);
    done();
  });
  // Before the error handler answers: the refusals of the access hooks and the engines' bounds.
  app.addHook('onError', (_request, _reply, error, done) => {
    const reason = rejectionReason(error);
    if (reason !== null) metrics.rejected.inc([reason]);
    done();
  });
}

/** The reason of a refusal counted in kvs_http_requests_rejected_total, or null for any other error. */
export function rejectionReason(error: unknown): RejectionReason | null {
  if (isOverload(error)) return 'overload';
  if (!isKvError(error)) return null;
  switch (error.code) {
    case 'rate_limited':
    case 'unauthorized':
    case 'forbidden':
    case 'protected_mode':
      return error.code;
    default:
      return null;
  }
}
