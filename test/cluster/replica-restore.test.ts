import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { FeedGap } from '../../src/engine/engine.js';
import { EtcdEngine } from '../../src/engine/etcd/etcd-engine.js';
import { ReplicaStore } from '../../src/engine/lmdb/replica-store.js';
import { EtcdCluster } from '../helpers/etcd-cluster.js';
import { sleep } from '../helpers/server.js';

/**
 * etcd restored from a backup while a kvs node runs (docs/adr/0011-replica-reads.md,
 * "etcd's history going back"): its revision is then below what the node's
 * replica applied. The node must stop answering from the replica (it holds
 * writes etcd no longer has), tell its watchers as for a gap, and reload.
 */

let cluster: EtcdCluster;
let node: EtcdEngine;
const errors: string[] = [];
const gaps: FeedGap[] = [];
const directory = mkdtempSync(join(tmpdir(), 'kvs-replica-restore-'));

before(async () => {
  cluster = await EtcdCluster.start({ members: 1 });
  node = new EtcdEngine({
    endpoints: cluster.endpoints,
    namespace: 'kvs-test/restore/',
    historyRetentionRevisions: 1_000,
    maintenanceIntervalMs: 3_600_000,
    callTimeoutMs: 1_000,
    replica: { directory: join(directory, 'etcd-replica'), open: (path) => ReplicaStore.open(path) },
    onBackgroundError: (error) => errors.push(String((error as Error).message)),
  });
  await node.open();
  node.onChanges(
    () => {},
    (gap) => gaps.push(gap),
  );
});

after(async () => {
  await node?.close();
  await cluster?.stop();
  rmSync(directory, { recursive: true, force: true });
});

const put = (key: string, value: string) =>
  node.txn({ compares: [], ops: [{ op: 'put', key, value: Buffer.from(value), contentType: 'text/plain', ttlMs: null }] });
const value = async (key: string, stale = false) => (await node.get(key, { stale })).entry?.value.toString() ?? null;

it('stops serving a replica ahead of a restored etcd, tells watchers, and reloads from it', async () => {
  await put('k', 'v1');
  const data = cluster.dataDirectory(0);
  await cluster.kill(0);
  cpSync(data, `${data}.backup`, { recursive: true });
  await cluster.restart(0);
  for (let i = 2; i <= 20; i++) await put('k', `v${i}`);
  await put('only-after-backup', 'x');
  assert.equal(await value('k'), 'v20');
  const seenBefore = node.replicaStats().revision;

  await cluster.kill(0);
  rmSync(data, { recursive: true });
  cpSync(`${data}.backup`, data, { recursive: true });
  await cluster.restart(0);

  // The first read after the restore already answers as etcd does now, not from the replica.
  assert.equal(await value('k'), 'v1');
  assert.equal(await value('only-after-backup'), null);
  assert.equal(gaps.length, 1, 'watchers are told once');
  assert.ok(
    gaps[0]!.compactRevision < seenBefore,
    `the gap is at etcd's revision now (${gaps[0]!.compactRevision}), below the one the node had seen (${seenBefore})`,
  );
  assert.ok(
    errors.some((message) => /revision .* below revision/.test(message)),
    errors.join('\n'),
  );
  assert.ok(node.changeFeedRevision() <= gaps[0]!.compactRevision + 1, 'the feed went back with etcd');

  // The reloaded replica serves etcd's state now, and the feed follows etcd's new revisions.
  const deadline = Date.now() + 10_000;
  while (!(node.replicaStats().serving && node.replicaStats().loads >= 2) && Date.now() < deadline) await sleep(20);
  assert.ok(node.replicaStats().serving && node.replicaStats().loads >= 2, JSON.stringify(node.replicaStats()));
  await put('new-after-restore', 'y');
  assert.equal(await value('new-after-restore'), 'y');
  assert.equal(await value('k', true), 'v1');
  assert.equal(await value('only-after-backup', true), null);
  assert.equal(node.replicaStats().sourceReads > 0, true);
  const fresh = node.replicaStats().freshReads;
  assert.equal(await value('k'), 'v1');
  assert.equal(node.replicaStats().freshReads, fresh + 1, 'answered by the reloaded replica');
  assert.equal(gaps.length, 1, 'no second gap once the node follows the restored etcd');
});
