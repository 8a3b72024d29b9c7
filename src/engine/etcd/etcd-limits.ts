import type { Limits } from '../../core/limits.js';
import { RECORD_OVERHEAD_BYTES_MAX } from './keyspace.js';

/** etcd's defaults for the request limits kvs must fit in (etcd --max-request-bytes, --max-txn-ops). */
export const ETCD_REQUEST_BYTES_MAX_DEFAULT = 1.5 * 1024 * 1024;
export const ETCD_TXN_OPS_MAX_DEFAULT = 128;

/** Room left in an etcd request for its framing: the txn envelope, compares, and the delete marker. */
const REQUEST_FRAMING_BYTES = 1024;

export interface EtcdServerLimits {
  requestBytesMax: number;
  txnOpsMax: number;
}

/**
 * The limits kvs serves with on etcd: what the cluster accepts. A value must
 * fit in one etcd request with its key, record header and framing. A kvs txn
 * commits as one etcd Txn with its writes plus the delete marker (so one op
 * less than etcd allows) and a compare per distinct key it names (the engine
 * refuses a txn naming more keys than etcd allows compares: txnKeysMax).
 * Explicit kvs limits may be lower, never higher.
 */
export function etcdLimits(limits: Limits, server: EtcdServerLimits, namespaceBytes: number, explicit: { valueBytesMax: boolean; txnOpsMax: boolean }): Limits {
  const valueBytesMax = server.requestBytesMax - limits.keyBytesMax - namespaceBytes - RECORD_OVERHEAD_BYTES_MAX - REQUEST_FRAMING_BYTES;
  const txnOpsMax = server.txnOpsMax - 1;
  if (valueBytesMax < 1 || txnOpsMax < 1) throw new RangeError(`etcd's limits (max request ${server.requestBytesMax} bytes, ${server.txnOpsMax} txn ops) leave no room for a kvs write`);
  if (explicit.valueBytesMax && limits.valueBytesMax > valueBytesMax) {
    throw new RangeError(`KV_MAX_VALUE_BYTES=${limits.valueBytesMax} does not fit in an etcd request of ${server.requestBytesMax} bytes; at most ${valueBytesMax} (or raise etcd --max-request-bytes and ETCD_MAX_REQUEST_BYTES)`);
  }
  return {
    ...limits,
    valueBytesMax: explicit.valueBytesMax ? limits.valueBytesMax : valueBytesMax,
    txnOpsMax: Math.min(limits.txnOpsMax, txnOpsMax),
  };
}
