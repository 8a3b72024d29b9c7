import { KvError } from '../../core/errors.js';
import { keySuccessor } from '../../core/keys.js';
import { OverloadError } from '../../core/overload.js';
import { NO_WRITE_OBSERVER, type WriteObserver } from '../../core/write-observer.js';
import type { Entry, Revision, RevisionChanges } from '../../core/types.js';
import type { RangeItem, RangeRequest, RangeResult, ReadResult, StorageEngine, StoreStatus, TxnRequest, TxnResult } from '../engine.js';
import { ChangeFeed, readHistory } from './change-feed.js';
import { CompareResult, CompareTarget, revisionOf, SortOrder, type Compare, type KeyValue, type RequestOp, type TxnResponse } from './etcd-api.js';
import { EtcdClient, LeaseNotFound, translateError } from './etcd-client.js';
import { decodeStored, encodeRecord, Keyspace, type StoredEntry } from './keyspace.js';
import { KeyLocks } from './key-locks.js';
import { LeasePool } from './leases.js';
import { ETCD_DEFAULT_MAX_REQUEST_BYTES, ETCD_DEFAULT_MAX_TXN_OPS } from './etcd-limits.js';
import { entryAfterPut, planTxn, putDeadline, type PlannedWrite } from '../txn-plan.js';

export interface EtcdEngineOptions {
  endpoints: string[];
  /** Prefix of every etcd key of this store (several stores can share a cluster). */
  namespace: string;
  historyRetention: number;
  now?: () => number;
  /** Deadline of one etcd call (default 3 s). */
  callTimeoutMs?: number;
  /** How often history is compacted (default 60 s). */
  maintenanceIntervalMs?: number;
  /** etcd's --max-txn-ops: a txn may name at most this many distinct keys (one compare each). Default 128. */
  maxTxnKeys?: number;
  /** etcd's --max-request-bytes (default 1.5 MiB): bounds what one import txn carries. */
  maxRequestBytes?: number;
  /** Writes in flight at once; beyond, 503 (default: no bound). */
  maxPendingWrites?: number;
  onBackgroundError?: (error: unknown) => void;
  /** Told each write Txn's round trip (as a batch of one, with no sync of its own), for /metrics. */
  observer?: WriteObserver;
}

/** Attempts of one transaction that keep losing optimistic races before it gives up with 503. */
const CONFLICT_ATTEMPTS_MAX = 200;
/** Keys read per etcd Range while listing, counting or exporting. */
const SCAN_CHUNK = 500;
/** A record's header without its content type: format, flags, expiry, type length. */
const RECORD_HEADER_BYTES_MAX = 12;
/** The first etcd Range of a scan takes at most this many keys: values can be ~1.5 MiB each. */
const FIRST_SCAN_CHUNK = 100;
/** Later Ranges take as many keys as the values seen so far say fit in about this many bytes. */
const SCAN_BYTES_TARGET = 16 * 1024 * 1024;
/** /readyz must answer within a load balancer's probe timeout, even with members down. */
const READY_PROBE_TIMEOUT_MS = 1_000;

/**
 * The etcd engine: many stateless kvs nodes on one etcd cluster (issue 6,
 * docs/SCALING.md). Revisions, create/mod revisions and versions are etcd's
 * own. Every read is a linearizable etcd read; every write is one etcd Txn
 * whose compares pin what it read (optimistic concurrency), so conditional
 * writes, transactions and counters are exact across nodes. TTLs are leases
 * shared per expiry second (LeasePool); the change feed is one etcd watch
 * (ChangeFeed).
 */
export class EtcdEngine implements StorageEngine {
  readonly name = 'etcd';
  private readonly keyspace: Keyspace;
  private readonly now: () => number;
  private client: EtcdClient | null = null;
  private leases: LeasePool | null = null;
  private feed: ChangeFeed | null = null;
  private readonly listeners = new Set<(changes: RevisionChanges) => void>();
  private maintenanceTimer: NodeJS.Timeout | null = null;
  private pendingWrites = 0;
  /** Optimistic txns on the same keys from this node wait for each other instead of racing (KeyLocks). */
  private readonly keyLocks = new KeyLocks();
  private closed = false;
  private fresh = false;

  constructor(private readonly options: EtcdEngineOptions) {
    this.keyspace = new Keyspace(options.namespace);
    this.now = options.now ?? Date.now;
  }

  /**
   * One etcd Txn: its op count, and its request size less what each op adds
   * beyond what an import counts (the namespace and data prefix of its key in
   * the compare and the put, the record header, compare framing) and slack.
   */
  get txnCapacity(): { ops: number; bytes: number } {
    const ops = (this.options.maxTxnKeys ?? ETCD_DEFAULT_MAX_TXN_OPS) - 1;
    const perOp = 2 * this.keyspace.dataPrefix.length + RECORD_HEADER_BYTES_MAX + 64;
    return { ops, bytes: (this.options.maxRequestBytes ?? ETCD_DEFAULT_MAX_REQUEST_BYTES) - ops * perOp - 16 * 1024 };
  }

  async open(): Promise<void> {
    if (this.client !== null) throw new Error('the engine is already open');
    const client = new EtcdClient({ endpoints: this.options.endpoints, callTimeoutMs: this.options.callTimeoutMs ?? 3_000 });
    this.client = client;
    this.leases = new LeasePool(client, this.now);
    let opened: TxnResponse;
    try {
      // A write of our own: its revision is one the change feed (and history reads) can end on.
      // Its compare tells whether any node had opened this store before: one node alone sees it fresh.
      const marker = put(this.keyspace.openMarker, Buffer.alloc(0));
      opened = await this.commit({ compare: [{ result: CompareResult.equal, target: CompareTarget.create, key: this.keyspace.openMarker, create_revision: 0 }], success: [marker], failure: [marker] });
      this.fresh = opened.succeeded;
    } catch (error) {
      client.close();
      this.client = null;
      throw new Error(`etcd at ${this.options.endpoints.join(', ')} did not accept a write: ${(error as Error).message}`);
    }
    const feed = new ChangeFeed({
      client,
      keyspace: this.keyspace,
      after: revisionOf(opened.header.revision),
      publish: (changes) => {
        for (const listener of this.listeners) listener(changes);
      },
      onError: (error) => this.options.onBackgroundError?.(error),
    });
    this.feed = feed;
    feed.start();
    this.maintenanceTimer = setInterval(() => void this.compact().catch((error) => this.options.onBackgroundError?.(error)), this.options.maintenanceIntervalMs ?? 60_000);
    this.maintenanceTimer.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.maintenanceTimer !== null) clearInterval(this.maintenanceTimer);
    this.feed?.close();
    this.client?.close();
  }

  async isReady(): Promise<boolean> {
    if (this.client === null || this.closed) return false;
    try {
      // A linearizable read needs the leader and a quorum: exactly what serving needs.
      await this.etcd().read(this.etcd().methods.range, { key: this.keyspace.openMarker, count_only: true }, READY_PROBE_TIMEOUT_MS);
      return true;
    } catch {
      return false;
    }
  }

  /** True when no kvs node had opened this namespace before this one did. */
  neverWritten(): boolean {
    return this.fresh;
  }

  /** The last revision onChanges reported: watches start from it (see StorageEngine.changeFeedRevision). */
  changeFeedRevision(): Revision {
    return this.feed?.revision ?? 0;
  }

  async get(key: string): Promise<ReadResult> {
    const response = await this.etcd().read(this.etcd().methods.range, { key: this.keyspace.etcdKey(key) });
    return { entry: this.liveEntry(response.kvs[0], this.now()), revision: revisionOf(response.header.revision) };
  }

  async range(request: RangeRequest): Promise<RangeResult> {
    const items: RangeItem[] = [];
    let valueBytes = 0;
    let more = false;
    const now = this.now();
    let revision: Revision | undefined;
    let lower = this.keyspace.etcdKey(request.start);
    let upper = this.keyspace.etcdEnd(request.end);
    // Even without values, etcd sends them (each record's deadline is in its value): chunks are sized by bytes.
    let chunk = FIRST_SCAN_CHUNK;
    scan: for (;;) {
      const want = request.limit - items.length + 1; // one more than the page: is there more?
      const page = await this.etcd().read(this.etcd().methods.range, {
        key: lower,
        range_end: upper,
        limit: Math.min(want, chunk),
        sort_order: request.reverse ? SortOrder.descend : SortOrder.none,
        ...(revision === undefined ? {} : { revision }),
      });
      revision ??= revisionOf(page.header.revision);
      chunk = nextChunk(page.kvs);
      for (const kv of page.kvs) {
        if (request.reverse) upper = kv.key;
        else lower = keySuccessor(kv.key);
        const entry = this.liveEntry(kv, now);
        if (entry === null) continue;
        if (items.length >= request.limit || (request.valueBytesMax !== undefined && items.length > 0 && valueBytes >= request.valueBytesMax)) {
          more = true;
          break scan;
        }
        valueBytes += entry.value.length;
        items.push(rangeItem(entry, request.withValues));
      }
      if (!page.more) break;
    }
    return { items, more, revision: revision ?? 0 };
  }

  async count(start: Buffer, end: Buffer | null): Promise<number> {
    let live = 0;
    for await (const _entry of this.snapshot(start, end)) live++;
    return live;
  }

  async *snapshot(start: Buffer, end: Buffer | null): AsyncIterable<Entry> {
    let lower = this.keyspace.etcdKey(start);
    const upper = this.keyspace.etcdEnd(end);
    let revision: Revision | undefined;
    let chunk = FIRST_SCAN_CHUNK;
    for (;;) {
      const page = await this.etcd().read(this.etcd().methods.range, { key: lower, range_end: upper, limit: chunk, ...(revision === undefined ? {} : { revision }) });
      revision ??= revisionOf(page.header.revision);
      chunk = nextChunk(page.kvs);
      const now = this.now();
      for (const kv of page.kvs) {
        lower = keySuccessor(kv.key);
        const entry = this.liveEntry(kv, now);
        if (entry !== null) yield entry;
      }
      if (!page.more || page.kvs.length === 0) return;
    }
  }

  async txn(request: TxnRequest): Promise<TxnResult> {
    return this.admitWrite(async () => {
      if (request.compares.length === 0 && request.ops.length === 1) {
        const quick = await this.singleOpFastPath(request);
        if (quick !== null) return quick;
      }
      const release = await this.keyLocks.acquire([...request.compares.map((compare) => compare.key), ...request.ops.map((op) => op.key)]);
      try {
        for (let attempt = 0; attempt < CONFLICT_ATTEMPTS_MAX; attempt++) {
          const outcome = await this.optimisticTxn(request);
          if (outcome !== null) return outcome;
          await backoff(attempt);
        }
      } finally {
        release();
      }
      throw new KvError('unavailable', 'the keys of this transaction kept changing under it; retry', { retryAfterSeconds: 1 });
    });
  }

  async deleteRange(start: Buffer, end: Buffer | null): Promise<{ deleted: number; revision: Revision }> {
    return this.admitWrite(async () => {
      const key = this.keyspace.etcdKey(start);
      const rangeEnd = this.keyspace.etcdEnd(end);
      // Only when some key exists: a delete that matches nothing makes no revision (not even the marker's).
      const response = await this.commit({
        compare: [{ result: CompareResult.greater, target: CompareTarget.create, key, range_end: rangeEnd, create_revision: 0 }],
        success: [{ request_delete_range: { key, range_end: rangeEnd } }, put(this.keyspace.deleteMarker, Buffer.alloc(0))],
        failure: [],
      });
      const deleted = response.succeeded ? revisionOf(response.responses[0]?.response_delete_range?.deleted) : 0;
      return { deleted, revision: revisionOf(response.header.revision) };
    });
  }

  async status(): Promise<StoreStatus> {
    const response = await this.etcd().read(this.etcd().methods.txn, {
      compare: [],
      success: [
        { request_range: { key: this.keyspace.dataPrefix, range_end: this.keyspace.dataEnd, count_only: true } },
        { request_range: { key: this.keyspace.compactedKey } },
      ],
      failure: [],
    });
    const keys = revisionOf(response.responses[0]?.response_range?.count);
    const compacted = response.responses[1]?.response_range?.kvs[0]?.value.toString('utf8');
    return { revision: revisionOf(response.header.revision), compactRevision: compacted === undefined ? 0 : Number(compacted), keys };
  }

  async changesSince(after: Revision, upTo: Revision, limit: number, valueBytesMax = Number.POSITIVE_INFINITY): Promise<RevisionChanges[]> {
    if (upTo <= after) return [];
    return readHistory(this.etcd(), this.keyspace, after, upTo, limit, valueBytesMax, 15_000);
  }

  onChanges(listener: (changes: RevisionChanges) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Compacts etcd's history to `historyRetention` revisions behind the head.
   * The point is recorded first (a compare keeps it from going back when
   * nodes race), so status() and the watch route's 410 know it.
   */
  async compact(): Promise<void> {
    const client = this.etcd();
    const head = await client.read(client.methods.range, { key: this.keyspace.compactedKey });
    const recorded = head.kvs[0] === undefined ? 0 : Number(head.kvs[0].value.toString('utf8'));
    // etcd keeps `target` and after: the last `historyRetention` revisions, as the embedded engine does,
    // counted back from the last revision that changed a key: kvs's own records of compactions
    // must not count, or each compaction would make room for the next.
    const lastChange = this.feed?.lastChangeRevision ?? 0;
    const target = Math.min(lastChange, revisionOf(head.header.revision)) - this.options.historyRetention + 1;
    if (target <= 1 || target - 1 <= recorded) return;
    const value = Buffer.from(String(target - 1).padStart(16, '0'));
    const unchanged: Compare =
      head.kvs[0] === undefined
        ? { result: CompareResult.equal, target: CompareTarget.create, key: this.keyspace.compactedKey, create_revision: 0 }
        : { result: CompareResult.equal, target: CompareTarget.mod, key: this.keyspace.compactedKey, mod_revision: revisionOf(head.kvs[0].mod_revision) };
    const recordedNow = await this.commit({ compare: [unchanged], success: [put(this.keyspace.compactedKey, value)], failure: [] });
    if (!recordedNow.succeeded) return; // another node is compacting
    try {
      await client.write(client.methods.compact, { revision: target, physical: false });
    } catch (error) {
      if (!/compacted/.test((error as Error).message)) throw error;
    }
  }

  /**
   * One op without compares, in one round trip when the key holds no lease
   * (so it cannot be an expired entry etcd has not removed yet): a put, or a
   * delete of a key that exists. Returns null when the general path must run.
   */
  private async singleOpFastPath(request: TxnRequest): Promise<TxnResult | null> {
    const op = request.ops[0]!;
    if (op.op !== 'put' && op.op !== 'delete') return null;
    const key = this.keyspace.etcdKey(op.key);
    const noLease: Compare = { result: CompareResult.equal, target: CompareTarget.lease, key, lease: 0 };
    if (op.op === 'delete') {
      const exists: Compare = { result: CompareResult.greater, target: CompareTarget.create, key, create_revision: 0 };
      const response = await this.commit({
        compare: [noLease, exists],
        success: [{ request_delete_range: { key } }, put(this.keyspace.deleteMarker, Buffer.alloc(0))],
        failure: [{ request_range: { key } }],
      });
      const revision = revisionOf(response.header.revision);
      if (response.succeeded) return { succeeded: true, revision, results: [{ op: 'delete', key: op.key, deleted: true }] };
      if ((response.responses[0]?.response_range?.kvs.length ?? 0) === 0) return { succeeded: true, revision, results: [{ op: 'delete', key: op.key, deleted: false }] };
      return null;
    }
    const expiresAtMs = putDeadline(op, this.now());
    for (;;) {
      const lease = expiresAtMs === null ? '0' : await this.leasePool().leaseFor(expiresAtMs);
      let response: TxnResponse;
      try {
        response = await this.commit({
          compare: [noLease],
          success: [{ request_put: { key, value: encodeRecord(op.value, op.contentType, expiresAtMs), lease, prev_kv: true } }],
          failure: [],
        });
      } catch (error) {
        if (error instanceof LeaseNotFound) {
          this.leasePool().forget(lease);
          continue;
        }
        throw error;
      }
      if (!response.succeeded) return null;
      const revision = revisionOf(response.header.revision);
      const previous = response.responses[0]?.response_put?.prev_kv ?? null;
      const current = previous === null ? null : decodeStored(this.keyspace, previous);
      return { succeeded: true, revision, results: [{ op: 'put', key: op.key, entry: entryAfterPut(op.key, current, op.value.length, op.contentType, expiresAtMs, revision), created: current === null }] };
    }
  }

  /**
   * Read every key the transaction names (one linearizable read), decide it
   * here with the shared planner (engine/txn-plan.ts), then commit the writes in one etcd Txn whose
   * compares require each key's mod revision to be what was read. Returns
   * null when another writer got in between (the caller tries again).
   */
  private async optimisticTxn(request: TxnRequest): Promise<TxnResult | null> {
    const keys = [...new Set([...request.compares.map((compare) => compare.key), ...request.ops.map((op) => op.key)])];
    const maxKeys = this.options.maxTxnKeys ?? ETCD_DEFAULT_MAX_TXN_OPS;
    if (keys.length > maxKeys) {
      throw new KvError('invalid_request', `the transaction names ${keys.length} distinct keys in its checks and ops; on etcd at most ${maxKeys} (etcd --max-txn-ops)`, { limit: maxKeys });
    }
    const read = await this.etcd().read(this.etcd().methods.txn, {
      compare: [],
      success: keys.map((key) => ({ request_range: { key: this.keyspace.etcdKey(key) } })),
      failure: [],
    });
    const baseRevision = revisionOf(read.header.revision);
    const now = this.now();
    const stored = new Map<string, StoredEntry | null>();
    const live = new Map<string, Entry | null>();
    keys.forEach((key, index) => {
      const kv = read.responses[index]?.response_range?.kvs[0];
      const entry = kv === undefined ? null : decodeStored(this.keyspace, kv);
      stored.set(key, entry);
      live.set(key, entry !== null && !isExpired(entry, now) ? withoutLease(entry) : null);
    });

    const plan = planTxn(request, { read: (key) => live.get(key) ?? null }, now);
    if (!plan.succeeded) return { succeeded: false, revision: baseRevision, failedCompares: plan.failedCompares, currentRevisions: plan.currentRevisions };
    const writes = plan.writes;
    if (writes.length === 0) return { succeeded: true, revision: baseRevision, results: plan.results(baseRevision) };

    // An expired entry etcd has not removed yet is removed first, in its own
    // revision (an `expire` event), so the write creates a new incarnation.
    const expiredWritten = writes.flatMap((write) => {
      const entry = stored.get(write.key);
      return entry !== null && entry !== undefined && live.get(write.key) === null ? [entry] : [];
    });
    if (expiredWritten.length > 0) {
      await this.expire(expiredWritten);
      return null;
    }

    const success: RequestOp[] = [];
    for (const write of writes) success.push(await this.writeOp(write, stored.get(write.key)?.lease ?? '0'));
    if (writes.some((write) => write.kind === 'delete')) success.push(put(this.keyspace.deleteMarker, Buffer.alloc(0)));
    const compare: Compare[] = keys.map((key) => ({ result: CompareResult.equal, target: CompareTarget.mod, key: this.keyspace.etcdKey(key), mod_revision: stored.get(key)?.revision ?? 0 }));
    let response: TxnResponse;
    try {
      response = await this.commit({ compare, success, failure: [] });
    } catch (error) {
      if (!(error instanceof LeaseNotFound)) throw error;
      for (const op of success) if ('request_put' in op && op.request_put.lease) this.leasePool().forget(op.request_put.lease);
      return null;
    }
    if (!response.succeeded) return null;
    const revision = revisionOf(response.header.revision);
    return { succeeded: true, revision, results: plan.results(revision) };
  }

  /** A planned write as an etcd request op; a deadline is a lease: the key's own when the write keeps it (an add), else one of the pool's. */
  private async writeOp(write: PlannedWrite, currentLease: string): Promise<RequestOp> {
    const key = this.keyspace.etcdKey(write.key);
    if (write.kind === 'delete') return { request_delete_range: { key } };
    let lease = '0';
    if (write.expiresAtMs !== null) lease = write.keepsDeadline && currentLease !== '0' ? currentLease : await this.leasePool().leaseFor(write.expiresAtMs);
    return { request_put: { key, value: encodeRecord(write.value, write.contentType, write.expiresAtMs), lease } };
  }

  /** Removes expired entries etcd still holds (if unchanged since read), without the delete marker: `expire` events. */
  private async expire(entries: readonly StoredEntry[]): Promise<void> {
    await this.commit({
      compare: entries.map((entry) => ({ result: CompareResult.equal, target: CompareTarget.mod, key: this.keyspace.etcdKey(entry.key), mod_revision: entry.revision })),
      success: entries.map((entry) => ({ request_delete_range: { key: this.keyspace.etcdKey(entry.key) } })),
      failure: [],
    });
  }

  waitingWrites(): number {
    return this.pendingWrites;
  }

  private async commit(request: { compare: Compare[]; success: RequestOp[]; failure: RequestOp[] }): Promise<TxnResponse> {
    const client = this.etcd();
    const observer = this.options.observer ?? NO_WRITE_OBSERVER;
    const startedAt = performance.now();
    try {
      const response = await client.write(client.methods.txn, request);
      observer.batchCommitted(1, (performance.now() - startedAt) / 1000, null);
      return response;
    } catch (error) {
      const failure = translateError(error, true);
      // etcd over its space quota refuses every put, the delete marker's too,
      // but still takes deletes: they are how space is freed. Without the
      // marker, watchers see these deletes as `expire` events.
      if (failure instanceof KvError && failure.code === 'storage_full' && this.onlyDeletesBesidesMarker(request.success)) {
        try {
          const retriedAt = performance.now();
          const response = await client.write(client.methods.txn, { ...request, success: request.success.filter((op) => !this.isMarkerPut(op)) });
          observer.batchCommitted(1, (performance.now() - retriedAt) / 1000, null);
          return response;
        } catch (retryError) {
          throw translateError(retryError, true);
        }
      }
      throw failure;
    }
  }

  private isMarkerPut(op: RequestOp): boolean {
    return 'request_put' in op && op.request_put.key.equals(this.keyspace.deleteMarker);
  }

  private onlyDeletesBesidesMarker(ops: readonly RequestOp[]): boolean {
    return ops.some((op) => this.isMarkerPut(op)) && ops.every((op) => this.isMarkerPut(op) || 'request_delete_range' in op);
  }

  private async admitWrite<T>(work: () => Promise<T>): Promise<T> {
    const bound = this.options.maxPendingWrites;
    if (bound !== undefined && this.pendingWrites >= bound) {
      throw new OverloadError(`${bound} writes are waiting for etcd, the most this node queues; retry shortly`);
    }
    this.pendingWrites++;
    try {
      return await work();
    } finally {
      this.pendingWrites--;
    }
  }

  private liveEntry(kv: KeyValue | undefined, now: number): Entry | null {
    if (kv === undefined) return null;
    const entry = decodeStored(this.keyspace, kv);
    return isExpired(entry, now) ? null : withoutLease(entry);
  }

  private etcd(): EtcdClient {
    if (this.client === null || this.closed) throw new KvError('unavailable', 'the store is closed', { retryAfterSeconds: 1 });
    return this.client;
  }

  private leasePool(): LeasePool {
    if (this.leases === null) throw new Error('the engine is not open');
    return this.leases;
  }
}

/** Keys the next Range of a scan may take: about SCAN_BYTES_TARGET of records like the last page's, 1 to SCAN_CHUNK. */
function nextChunk(kvs: readonly KeyValue[]): number {
  if (kvs.length === 0) return SCAN_CHUNK;
  const bytes = kvs.reduce((sum, kv) => sum + kv.key.length + kv.value.length, 0);
  return Math.max(1, Math.min(SCAN_CHUNK, Math.floor(SCAN_BYTES_TARGET / Math.max(1, bytes / kvs.length))));
}

function put(key: Buffer, value: Buffer): RequestOp {
  return { request_put: { key, value } };
}

function isExpired(entry: Entry, now: number): boolean {
  return entry.expiresAtMs !== null && entry.expiresAtMs <= now;
}

function withoutLease(entry: StoredEntry): Entry {
  const { lease: _lease, ...rest } = entry;
  return rest;
}

function rangeItem(entry: Entry, withValues: boolean): RangeItem {
  const { value, ...meta } = entry;
  return withValues ? { ...meta, size: value.length, value } : { ...meta, size: value.length };
}

/** A short random pause that grows with each lost race, so contending writers spread out. */
function backoff(attempt: number): Promise<void> {
  if (attempt === 0) return Promise.resolve();
  return new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 * attempt)));
}
