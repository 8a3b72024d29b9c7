import type { Limits } from '../../core/limits.js';

/** etcd's defaults for the request limits kvs must fit in (etcd --max-request-bytes, --max-txn-ops). */
export const ETCD_DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
export const ETCD_DEFAULT_MAX_TXN_OPS = 128;

/**
 * Bytes of a record beyond its value (keyspace.ts's header: format, flags, expiry,
 * the content type's length, and a content type of up to 1024 bytes): what an
 * etcd request limit must leave room for.
 */
const RECORD_OVERHEAD_BYTES_MAX = 2 + 8 + 2 + 1024;

/** Room left in an etcd request for its framing: the txn envelope, compares, and the delete marker. */
const REQUEST_FRAMING_BYTES = 1024;

export interface EtcdServerLimits {
  maxRequestBytes: number;
  maxTxnOps: number;
}

/**
 * The limits kvs serves with on etcd: what the cluster accepts. A value must
 * fit in one etcd request with its key, record header and framing. A kvs txn
 * commits as one etcd Txn with its writes plus the delete marker (so one op
 * less than etcd allows) and a compare per distinct key it names (the engine
 * refuses a txn naming more keys than etcd allows compares: maxTxnKeys).
 * Explicit kvs limits may be lower, never higher.
 */
export function etcdLimits(limits: Limits, server: EtcdServerLimits, namespaceBytes: number, explicit: { maxValueBytes: boolean; maxTxnOps: boolean }): Limits {
  const maxValueBytes = server.maxRequestBytes - limits.maxKeyBytes - namespaceBytes - RECORD_OVERHEAD_BYTES_MAX - REQUEST_FRAMING_BYTES;
  const maxTxnOps = server.maxTxnOps - 1;
  if (maxValueBytes < 1 || maxTxnOps < 1) throw new RangeError(`etcd's limits (max request ${server.maxRequestBytes} bytes, ${server.maxTxnOps} txn ops) leave no room for a kvs write`);
  if (explicit.maxValueBytes && limits.maxValueBytes > maxValueBytes) {
    throw new RangeError(`KV_MAX_VALUE_BYTES=${limits.maxValueBytes} does not fit in an etcd request of ${server.maxRequestBytes} bytes; at most ${maxValueBytes} (or raise etcd --max-request-bytes and ETCD_MAX_REQUEST_BYTES)`);
  }
  return {
    ...limits,
    maxValueBytes: explicit.maxValueBytes ? limits.maxValueBytes : maxValueBytes,
    maxTxnOps: Math.min(limits.maxTxnOps, maxTxnOps),
  };
}
