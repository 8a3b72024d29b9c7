import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { EtcdEngine } from '../../src/engine/etcd/etcd-engine.js';
import { ReplicaStore } from '../../src/engine/lmdb/replica-store.js';
import { EtcdCluster } from '../helpers/etcd-cluster.js';
import { sleep } from '../helpers/server.js';

/**
 * A replica load's pages are bounded in bytes (ETCD_REPLICA_LOAD_PAGE_BYTES_MAX,
 * lowered here to 1 MiB): small keys first, then values of 100 KiB, so that
 * a page sized on the small ones would be far larger than the bound. The load
 * shrinks the page that was refused and finishes, rather than retrying it
 * for ever.
 */

const SMALL = 10;
const LARGE = 60;
const LARGE_BYTES = 100 * 1024;
let cluster: EtcdCluster;
const directory = mkdtempSync(join(tmpdir(), 'kvs-replica-load-'));
const engines: EtcdEngine[] = [];

const engine = (replica: boolean, errors: string[] = []) =>
  new EtcdEngine({
    endpoints: cluster.endpoints,
    namespace: 'kvs-test/load/',
    historyRetentionRevisions: 1_000,
    maintenanceIntervalMs: 3_600_000,
    requestBytesMax: 256 * 1024,
    replicaLoadPageBytesMax: 1024 * 1024,
    replicaOpenWaitMs: 0,
    replica: replica ? { directory: join(directory, `r${engines.length}`), open: (path) => ReplicaStore.open(path) } : null,
    onBackgroundError: (error) => errors.push(String((error as Error).message)),
  });

before(async () => {
  cluster = await EtcdCluster.start({ members: 1 });
});

after(async () => {
  for (const opened of engines) await opened.close();
  await cluster?.stop();
  rmSync(directory, { recursive: true, force: true });
});

it('loads a namespace whose pages would exceed the bound, by shrinking the refused page', async () => {
  const writer = engine(false);
  engines.push(writer);
  await writer.open();
  const put = (key: string, value: Buffer) =>
    writer.txn({ compares: [], ops: [{ op: 'put', key, value, contentType: 'application/octet-stream', ttlMs: null }] });
  for (let i = 0; i < SMALL; i++) await put(`a/${i}`, Buffer.from('x'));
  for (let i = 0; i < LARGE; i++) await put(`b/${String(i).padStart(3, '0')}`, Buffer.alloc(LARGE_BYTES, i));

  const errors: string[] = [];
  const reader = engine(true, errors);
  engines.push(reader);
  await reader.open();
  const deadline = Date.now() + 20_000;
  while (!reader.replicaStats().serving && Date.now() < deadline) await sleep(20);
  assert.ok(reader.replicaStats().serving, `the load finished: ${JSON.stringify(reader.replicaStats())}\n${errors.slice(0, 3).join('\n')}`);
  assert.equal(reader.replicaStats().loads, 1, 'in one load, not by starting over');
  assert.ok(
    errors.some((message) => /larger than the load accepts/.test(message)),
    'a page was refused and shrunk',
  );

  assert.equal(await reader.count(Buffer.alloc(0), null), SMALL + LARGE);
  const read = await reader.get('b/059');
  assert.deepEqual(read.entry?.value, Buffer.alloc(LARGE_BYTES, 59));
  assert.ok(reader.replicaStats().freshReads >= 2, 'answered by the replica');
});
