import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_LIMITS } from '../../src/core/limits.js';
import { EtcdClient } from '../../src/engine/etcd/etcd-client.js';
import { EtcdEngine } from '../../src/engine/etcd/etcd-engine.js';
import { etcdErrorKind, type EtcdErrorKind } from '../../src/engine/etcd/etcd-errors.js';
import { ReplicaStore } from '../../src/engine/lmdb/replica-store.js';
import { EtcdCluster } from '../helpers/etcd-cluster.js';
import { runEngineConformance } from './conformance.js';
import { ETCD_DIFFERENCES } from './differences.js';

/**
 * The etcd engine against the StorageEngine conformance suite, on a 3-member
 * etcd cluster of this file's own (compaction is cluster-wide): each store a
 * namespace of its own.
 */
let cluster: EtcdCluster;
const run = randomBytes(4).toString('hex');

const replicaRoot = mkdtempSync(join(tmpdir(), 'kvs-conformance-replicas-'));
before(async () => {
  cluster = await EtcdCluster.start();
});
after(async () => {
  await cluster?.stop();
  rmSync(replicaRoot, { recursive: true, force: true });
});

runEngineConformance(
  'etcd',
  (store, options) =>
    new EtcdEngine({
      endpoints: cluster.endpoints,
      namespace: `conformance-${run}/${store}/`,
      historyRetentionRevisions: options.historyRetentionRevisions ?? DEFAULT_LIMITS.historyRetentionRevisions,
      now: options.now,
      // Each engine a replica of its own (two may serve one store at once).
      replica: { directory: mkdtempSync(join(replicaRoot, `${store}-`)), open: (directory) => ReplicaStore.open(directory) },
      ...(options.maintenanceIntervalMs === undefined ? {} : { maintenanceIntervalMs: options.maintenanceIntervalMs }),
    }),
  ETCD_DIFFERENCES,
);

describe('etcd’s refusals, as a running etcd words them, are in the table (etcd-errors.ts)', () => {
  it('lease not found, too many operations, request too large, compacted and future revisions', async () => {
    const client = new EtcdClient({ endpoints: cluster.endpoints, callTimeoutMs: 3_000 });
    const key = (name: string) => Buffer.from(`errors-${run}/${name}`);
    const refusal = (promise: Promise<unknown>): Promise<EtcdErrorKind | null | 'applied'> =>
      promise.then(
        () => 'applied' as const,
        (error: unknown) => etcdErrorKind(error),
      );
    try {
      const txn = (success: object[]) => client.write(client.methods.txn, { compare: [], success, failure: [] });
      assert.equal(await refusal(txn([{ request_put: { key: key('a'), value: Buffer.from('v'), lease: '123456789' } }])), 'leaseNotFound');
      assert.equal(
        await refusal(txn(Array.from({ length: 129 }, (_, i) => ({ request_put: { key: key(`many/${i}`), value: Buffer.from('v') } })))),
        'tooManyOps',
      );
      assert.equal(await refusal(txn([{ request_put: { key: key('big'), value: Buffer.alloc(1.6 * 1024 * 1024) } }])), 'requestTooLarge');
      const head = Number((await client.read(client.methods.range, { key: key('a') })).header?.revision);
      await client.write(client.methods.compact, { revision: head, physical: false });
      assert.equal(await refusal(client.write(client.methods.compact, { revision: head - 1, physical: false })), 'compacted');
      assert.equal(await refusal(client.read(client.methods.range, { key: key('a'), revision: head - 1 })), 'compacted');
      assert.equal(await refusal(client.read(client.methods.range, { key: key('a'), revision: head + 1_000_000 })), 'futureRevision');
    } finally {
      client.close();
    }
  });
});
