import { ETCD_REQUEST_FRAMING_BYTES, type EtcdLimits, type Limits } from '../../core/limits.js';
import { RECORD_OVERHEAD_BYTES_MAX } from './record-layout.js';

/**
 * The limits kvs serves with on etcd: what the cluster accepts (`cluster`, the
 * catalogue's ETCD_LIMIT_CATALOGUE). A value must fit in one etcd request with
 * its key, record header and framing. A kvs txn commits as one etcd Txn with
 * its writes plus the delete marker (so one op less than etcd allows) and a
 * compare per distinct key it names (the engine refuses a txn naming more keys
 * than etcd allows compares: txnKeysMax). Explicit kvs limits may be lower,
 * never higher.
 */
export function etcdLimits(limits: Limits, cluster: EtcdLimits, namespaceBytes: number, explicit: { valueBytesMax: boolean; txnOpsMax: boolean }): Limits {
  const valueBytesMax = cluster.etcdRequestBytesMax - limits.keyBytesMax - namespaceBytes - RECORD_OVERHEAD_BYTES_MAX - ETCD_REQUEST_FRAMING_BYTES;
  const txnOpsMax = cluster.etcdTxnOpsMax - 1;
  if (valueBytesMax < 1 || txnOpsMax < 1)
    throw new RangeError(`etcd's limits (max request ${cluster.etcdRequestBytesMax} bytes, ${cluster.etcdTxnOpsMax} txn ops) leave no room for a kvs write`);
  if (explicit.valueBytesMax && limits.valueBytesMax > valueBytesMax) {
    throw new RangeError(
      `KV_MAX_VALUE_BYTES=${limits.valueBytesMax} does not fit in an etcd request of ${cluster.etcdRequestBytesMax} bytes; at most ${valueBytesMax} (or raise etcd --max-request-bytes and ETCD_MAX_REQUEST_BYTES)`,
    );
  }
  return {
    ...limits,
    valueBytesMax: explicit.valueBytesMax ? limits.valueBytesMax : valueBytesMax,
    txnOpsMax: Math.min(limits.txnOpsMax, txnOpsMax),
  };
}
