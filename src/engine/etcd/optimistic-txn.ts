import { KvError } from '../../core/errors.js';
import { ETCD_CONFLICT_ATTEMPTS_MAX, ETCD_CONFLICT_BACKOFF_MS_MAX } from '../../core/limits.js';
import type { Entry } from '../../core/types.js';
import type { TxnRequest, TxnResult } from '../engine.js';
import { entryAfterPut, planTxn, putDeadline, type PlannedWrite } from '../txn-plan.js';
import { CompareResult, CompareTarget, headerRevision, type Compare, type RequestOp, type TxnRequest as EtcdTxnRequest, type TxnResponse } from './etcd-api.js';
import type { EtcdClient } from './etcd-client.js';
import { LeaseNotFound } from './etcd-errors.js';
import { KeyLocks } from './key-locks.js';
import { decodeStored, encodeRecord, type Keyspace, type StoredEntry } from './keyspace.js';
import type { LeasePool } from './leases.js';
import { isExpired, withoutLease } from './scans.js';

/** An attempt's answer when a stale read decided what only a fresh read may. */
const CONFIRM = Symbol('confirm on a fresh read');

export interface OptimisticTxnsOptions {
  client: () => EtcdClient;
  keyspace: Keyspace;
  now: () => number;
  leases: () => LeasePool;
  /** Sends a write Txn (Committer.commit). */
  commit: (request: EtcdTxnRequest) => Promise<TxnResponse>;
  /** The delete marker's put, which every delete kvs makes carries. */
  markerPut: () => RequestOp;
  /** etcd's --max-txn-ops: a txn may name at most this many distinct keys (one compare each). */
  txnKeysMax: number;
  /**
   * The keys as the node's replica holds them: after a barrier when `fresh`
   * (linearizable), as they are now otherwise. Null when the replica cannot
   * answer; the keys are then read from etcd.
   */
  replicaRead?: (keys: readonly string[], fresh: boolean) => Promise<KeysRead | null>;
}

/** Keys as read for a transaction: each one's stored entry (expired ones included), the revision read at, and whether the read may be stale. */
export interface KeysRead {
  stored: Map<string, StoredEntry | null>;
  revision: number;
  stale: boolean;
}

/**
 * kvs transactions on etcd, by optimistic concurrency: read every key the
 * transaction names, decide it in kvs with the shared planner
 * (engine/txn-plan.ts), then commit its writes in one etcd Txn whose
 * compares require each key's mod revision to be what was read; when another
 * writer got in between, read and decide again. Transactions of this node on
 * the same keys wait for each other (KeyLocks) instead of racing.
 *
 * The first read is the node's replica as it is, without a barrier
 * (docs/adr/0011-replica-reads.md): the commit's pins make a stale read
 * safe, since a key that changed since fails its compare and the
 * transaction is decided again, on a fresh read (after a barrier). What a
 * stale read alone would decide is confirmed on a fresh read first: a failed
 * compare (412), an error of the planner (a counter that is not one), and a
 * transaction that writes nothing (its gets are answered without a commit).
 */
export class OptimisticTxns {
  private readonly keyLocks = new KeyLocks();

  constructor(private readonly options: OptimisticTxnsOptions) {}

  async run(request: TxnRequest): Promise<TxnResult> {
    if (request.compares.length === 0 && request.ops.length === 1) {
      const quick = await this.singleOpFastPath(request);
      if (quick !== null) return quick;
    }
    const release = await this.keyLocks.acquire([...request.compares.map((compare) => compare.key), ...request.ops.map((op) => op.key)]);
    try {
      let fresh = false;
      for (let attempt = 0; attempt < ETCD_CONFLICT_ATTEMPTS_MAX; attempt++) {
        const outcome = await this.attempt(request, fresh);
        if (outcome === CONFIRM) {
          fresh = true;
          continue;
        }
        if (outcome !== null) return outcome;
        fresh = true;
        await backoff(attempt);
      }
    } finally {
      release();
    }
    throw new KvError('unavailable', 'the keys of this transaction kept changing under it; retry', { retryAfterSeconds: 1 });
  }

  /**
   * One op without compares, in one round trip when the key holds no lease
   * (so it cannot be an expired entry etcd has not removed yet): a put, or a
   * delete of a key that exists. Returns null when the general path must run.
   *
   * The guard is etcd's own compare, evaluated when the write commits: not a
   * read made earlier. A plain etcd Put (cheaper for etcd) was tried and
   * removed: guarded only by a read, it overwrote as the same incarnation a
   * key another node had written meanwhile with a TTL that passed before the
   * Put committed (ADR 0011, "What writes cost").
   */
  private async singleOpFastPath(request: TxnRequest): Promise<TxnResult | null> {
    const { keyspace, commit } = this.options;
    const op = request.ops[0]!;
    if (op.op !== 'put' && op.op !== 'delete') return null;
    const key = keyspace.etcdKey(op.key);
    const noLease: Compare = { result: CompareResult.equal, target: CompareTarget.lease, key, lease: 0 };
    if (op.op === 'delete') {
      const exists: Compare = { result: CompareResult.greater, target: CompareTarget.create, key, create_revision: 0 };
      const response = await commit({
        compare: [noLease, exists],
        success: [{ request_delete_range: { key } }, this.options.markerPut()],
        failure: [{ request_range: { key } }],
      });
      const revision = headerRevision(response);
      if (response.succeeded) return { succeeded: true, revision, results: [{ op: 'delete', key: op.key, deleted: true }] };
      if ((response.responses[0]?.response_range?.kvs.length ?? 0) === 0)
        return { succeeded: true, revision, results: [{ op: 'delete', key: op.key, deleted: false }] };
      return null;
    }
    const expiresAtMs = putDeadline(op, this.options.now());
    for (;;) {
      const lease = expiresAtMs === null ? '0' : await this.options.leases().leaseFor(expiresAtMs);
      let response: TxnResponse;
      try {
        response = await commit({
          compare: [noLease],
          success: [{ request_put: { key, value: encodeRecord(op.value, op.contentType, expiresAtMs), lease, prev_kv: true } }],
          failure: [],
        });
      } catch (error) {
        if (error instanceof LeaseNotFound) {
          this.options.leases().forget(lease);
          continue;
        }
        throw error;
      }
      if (!response.succeeded) return null;
      const revision = headerRevision(response);
      const previous = response.responses[0]?.response_put?.prev_kv ?? null;
      const current = previous === null ? null : decodeStored(keyspace, previous);
      return {
        succeeded: true,
        revision,
        results: [
          { op: 'put', key: op.key, entry: entryAfterPut(op.key, current, op.value.length, op.contentType, expiresAtMs, revision), created: current === null },
        ],
      };
    }
  }

  /**
   * One read, decide, commit. Returns null when another writer got in
   * between (the caller tries again), CONFIRM when a stale read decided
   * something only a fresh one may (the caller reads again, fresh).
   */
  private async attempt(request: TxnRequest, fresh: boolean): Promise<TxnResult | null | typeof CONFIRM> {
    const { keyspace, txnKeysMax } = this.options;
    const keys = [...new Set([...request.compares.map((compare) => compare.key), ...request.ops.map((op) => op.key)])];
    if (keys.length > txnKeysMax) {
      throw new KvError(
        'invalid_request',
        `the transaction names ${keys.length} distinct keys in its checks and ops; on etcd at most ${txnKeysMax} (etcd --max-txn-ops)`,
        { limit: txnKeysMax },
      );
    }
    const { stored, revision: baseRevision, stale } = (await this.options.replicaRead?.(keys, fresh)) ?? (await this.readEtcd(keys));
    const now = this.options.now();
    const live = new Map<string, Entry | null>();
    for (const key of keys) {
      const entry = stored.get(key) ?? null;
      live.set(key, entry !== null && !isExpired(entry, now) ? withoutLease(entry) : null);
    }

    let plan;
    try {
      plan = planTxn(request, { read: (key) => live.get(key) ?? null }, now);
    } catch (error) {
      if (stale && error instanceof KvError) return CONFIRM;
      throw error;
    }
    if (!plan.succeeded) {
      if (stale) return CONFIRM;
      return { succeeded: false, revision: baseRevision, failedCompares: plan.failedCompares, currentRevisions: plan.currentRevisions };
    }
    const writes = plan.writes;
    if (writes.length === 0) {
      if (stale) return CONFIRM;
      return { succeeded: true, revision: baseRevision, results: plan.results(baseRevision) };
    }

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
    if (writes.some((write) => write.kind === 'delete')) success.push(this.options.markerPut());
    const compare: Compare[] = keys.map((key) => ({
      result: CompareResult.equal,
      target: CompareTarget.mod,
      key: keyspace.etcdKey(key),
      mod_revision: stored.get(key)?.revision ?? 0,
    }));
    let response: TxnResponse;
    try {
      response = await this.options.commit({ compare, success, failure: [] });
    } catch (error) {
      if (!(error instanceof LeaseNotFound)) throw error;
      for (const op of success) if ('request_put' in op && op.request_put.lease) this.options.leases().forget(op.request_put.lease);
      return null;
    }
    if (!response.succeeded) return null;
    const revision = headerRevision(response);
    return { succeeded: true, revision, results: plan.results(revision) };
  }

  /** The keys from etcd, in one linearizable read. */
  private async readEtcd(keys: readonly string[]): Promise<KeysRead> {
    const { keyspace } = this.options;
    const client = this.options.client();
    const read = await client.read(client.methods.txn, {
      compare: [],
      success: keys.map((key) => ({ request_range: { key: keyspace.etcdKey(key) } })),
      failure: [],
    });
    const stored = new Map<string, StoredEntry | null>();
    keys.forEach((key, index) => {
      const kv = read.responses[index]?.response_range?.kvs[0];
      stored.set(key, kv === undefined ? null : decodeStored(keyspace, kv));
    });
    return { stored, revision: headerRevision(read), stale: false };
  }

  /** A planned write as an etcd request op; a deadline is a lease: the key's own when the write keeps it (an add), else one of the pool's. */
  private async writeOp(write: PlannedWrite, currentLease: string): Promise<RequestOp> {
    const key = this.options.keyspace.etcdKey(write.key);
    if (write.kind === 'delete') return { request_delete_range: { key } };
    let lease = '0';
    if (write.expiresAtMs !== null)
      lease = write.keepsDeadline && currentLease !== '0' ? currentLease : await this.options.leases().leaseFor(write.expiresAtMs);
    return { request_put: { key, value: encodeRecord(write.value, write.contentType, write.expiresAtMs), lease } };
  }

  /** Removes expired entries etcd still holds (if unchanged since read), without the delete marker: `expire` events. */
  private async expire(entries: readonly StoredEntry[]): Promise<void> {
    const { keyspace } = this.options;
    await this.options.commit({
      compare: entries.map((entry) => ({
        result: CompareResult.equal,
        target: CompareTarget.mod,
        key: keyspace.etcdKey(entry.key),
        mod_revision: entry.revision,
      })),
      success: entries.map((entry) => ({ request_delete_range: { key: keyspace.etcdKey(entry.key) } })),
      failure: [],
    });
  }
}

/** A short random pause that grows with each lost race, so contending writers spread out. */
function backoff(attempt: number): Promise<void> {
  if (attempt === 0) return Promise.resolve();
  return new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(ETCD_CONFLICT_BACKOFF_MS_MAX, 2 * attempt)));
}
