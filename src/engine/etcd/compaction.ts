import type { Revision } from '../../core/types.js';
import { CompareResult, CompareTarget, headerRevision, revisionOf, type Compare, type TxnRequest, type TxnResponse } from './etcd-api.js';
import type { EtcdClient } from './etcd-client.js';
import { etcdErrorKind } from './etcd-errors.js';
import type { Keyspace } from './keyspace.js';
import { putOp } from './commit.js';

export interface CompactionOptions {
  client: () => EtcdClient;
  keyspace: Keyspace;
  commit: (request: TxnRequest) => Promise<TxnResponse>;
  /** The last revision that changed a key of the namespace (ChangeFeed.lastChangeRevision). */
  lastChangeRevision: () => Revision;
  historyRetentionRevisions: number;
}

/**
 * Compacts etcd's history to `historyRetentionRevisions` revisions behind the head.
 * The point is recorded first (a compare keeps it from going back when
 * nodes race), so status() and the watch route's 410 know it.
 */
export async function compactHistory(options: CompactionOptions): Promise<void> {
  const { keyspace } = options;
  const client = options.client();
  const head = await client.read(client.methods.range, { key: keyspace.compactedKey });
  const recorded = recordedCompactRevision(head.kvs[0]?.value);
  // etcd keeps `target` and after: the last `historyRetentionRevisions` revisions, as the embedded engine does,
  // counted back from the last revision that changed a key: kvs's own records of compactions
  // must not count, or each compaction would make room for the next.
  const target = Math.min(options.lastChangeRevision(), headerRevision(head)) - options.historyRetentionRevisions + 1;
  if (target <= 1 || target - 1 <= recorded) return;
  const value = Buffer.from(String(target - 1).padStart(16, '0'));
  const unchanged: Compare =
    head.kvs[0] === undefined
      ? { result: CompareResult.equal, target: CompareTarget.create, key: keyspace.compactedKey, create_revision: 0 }
      : { result: CompareResult.equal, target: CompareTarget.mod, key: keyspace.compactedKey, mod_revision: revisionOf(head.kvs[0].mod_revision) };
  const recordedNow = await options.commit({ compare: [unchanged], success: [putOp(keyspace.compactedKey, value)], failure: [] });
  if (!recordedNow.succeeded) return; // another node is compacting
  try {
    await client.write(client.methods.compact, { revision: target, physical: false });
  } catch (error) {
    // Another node (or another kvs store on the cluster) compacted past it already.
    if (etcdErrorKind(error) !== 'compacted') throw error;
  }
}

/** The revision history is compacted up to, as kvs recorded it (0: never), from a read of Keyspace.compactedKey. */
export function recordedCompactRevision(value: Buffer | undefined): Revision {
  return value === undefined ? 0 : Number(value.toString('utf8'));
}
