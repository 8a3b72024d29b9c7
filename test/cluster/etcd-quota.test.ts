import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EtcdCluster } from '../helpers/etcd-cluster.js';
import { expectProblem, request } from '../helpers/http.js';
import { leftoversCleanedAfter, type ServerProcess } from '../helpers/server.js';
import { SseClient } from '../helpers/sse.js';

/**
 * etcd over its space quota (--quota-backend-bytes): it raises the NOSPACE
 * alarm and refuses every put. kvs must answer writes 507 storage_full, keep
 * serving reads, and keep taking deletes, which are how space is freed
 * (the embedded engine behaves the same at KV_MAX_DATA_BYTES).
 */
const leftovers = leftoversCleanedAfter('kvs-cluster-quota-');
const QUOTA_BYTES = 16 * 1024 * 1024;
let cluster: EtcdCluster;
let node: ServerProcess;

before(async () => {
  cluster = await EtcdCluster.start({ members: 1, extraFlags: ['--quota-backend-bytes', String(QUOTA_BYTES)] });
  node = await leftovers.spawn({
    KV_ENGINE: 'etcd',
    ETCD_ENDPOINTS: cluster.endpoints.join(','),
    KV_ETCD_PREFIX: 'quota/',
    DATA_DIRECTORY: leftovers.directory(),
    LOG_LEVEL: 'warn',
  });
});

after(async () => {
  node?.kill('SIGKILL');
  await node?.exited;
  await cluster?.stop();
});

describe('etcd space quota reached', () => {
  it('writes get 507 storage_full; reads, deletes and prefix deletes still work', async () => {
    const value = Buffer.alloc(1024 * 1024, 0x61);
    const written: string[] = [];
    let refused: Awaited<ReturnType<typeof request>> | null = null;
    let refusedKey = '';
    for (let i = 0; i < 60 && refused === null; i++) {
      const response = await request(`${node.url}/v1/kv/fill/${i}`, { method: 'PUT', body: value });
      if (response.status === 201) written.push(`fill/${i}`);
      else [refused, refusedKey] = [response, `fill/${i}`];
    }
    assert.ok(refused !== null, `etcd took 60 MiB under a ${QUOTA_BYTES}-byte quota`);
    const problem = expectProblem(refused, 507, 'storage_full');
    assert.match(problem.detail, /quota-backend-bytes/);
    assert.match(problem.detail, /alarm disarm/, 'the detail says how to recover');
    assert.match(problem.detail, /may have been/, 'and that this write may have applied');
    // etcd applies the write that crosses its quota and then answers NOSPACE: the refused key may exist.
    if ((await request(`${node.url}/v1/kv/${refusedKey}`)).status === 200) written.push(refusedKey);
    assert.ok(written.length >= 5, `only ${written.length} values fit`);

    // Reads go on.
    assert.equal((await request(`${node.url}/v1/kv/${written[0]}`)).status, 200);
    expectProblem(await request(`${node.url}/v1/kv/small`, { method: 'PUT', body: 'x' }), 507, 'storage_full');

    // Deletes go on: one key, then the rest by prefix. A watcher is told of each.
    const watch = await SseClient.connect(`${node.url}/v1/watch?prefix=fill/`);
    try {
      assert.equal((await request(`${node.url}/v1/kv/${written[0]}`, { method: 'DELETE' })).status, 204);
      assert.equal((await request(`${node.url}/v1/kv/${written[0]}`)).status, 404);
      const prefixDelete = await request(`${node.url}/v1/kv?prefix=fill/`, { method: 'DELETE' });
      assert.equal(prefixDelete.status, 200, prefixDelete.text);
      assert.equal(prefixDelete.body.deleted, written.length - 1);
      assert.equal((await request(`${node.url}/v1/kv?prefix=fill/`)).body.items.length, 0);
      await watch.until(
        (messages) => messages.filter((message) => message.event === 'change').flatMap((message) => JSON.parse(message.data).events).length === written.length,
        10_000,
        'an event per deleted key',
      );
      // Without the delete marker (a put, which etcd refuses), these deletes read as expiries in the feed (ADR 0006).
      const types = new Set(watch.events('change').flatMap((message) => JSON.parse(message.data).events.map((event: { type: string }) => event.type)));
      assert.ok(
        [...types].every((type) => type === 'delete' || type === 'expire'),
        [...types].join(),
      );
    } finally {
      watch.close();
    }
    assert.equal((await request(`${node.url}/readyz`)).status, 200, 'a full etcd still serves');
  });
});
