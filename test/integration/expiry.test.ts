import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from '../helpers/http.js';
import { sleep, useTestServer } from '../helpers/server.js';
import { pollUntil } from '../helpers/assertions.js';
import { SseClient } from '../helpers/sse.js';

/**
 * The background sweeper (API.md §3, issue 2 item 4): expired keys are not only
 * hidden from reads, they are removed from the store, each removal recorded at a
 * new revision, without any request touching them.
 */
const server = useTestServer({ maintenanceIntervalMs: 50 });

async function status(): Promise<{ revision: number; keys: number }> {
  return (await request(`${server.url}/v1/status`)).body;
}

const waitUntil = pollUntil;

describe('the expiry sweeper', () => {
  it('removes expired keys from the store on its own, at a new revision', async () => {
    for (let i = 0; i < 5; i++) {
      assert.equal((await request(`${server.url}/v1/kv/sweep/${i}?ttl=0.5`, { method: 'PUT', body: 'x' })).status, 201);
    }
    const kept = await request(`${server.url}/v1/kv/sweep/kept`, { method: 'PUT', body: 'y' });
    const lastWrite = kept.body.revision as number;

    // status().keys counts live keys only, so it drops to 1 at the deadlines, before the sweep;
    // the sweep's removal is what moves the store's revision past the last write.
    await waitUntil(async () => {
      const now = await status();
      return now.keys === 1 && now.revision > lastWrite;
    }, 'the sweeper removed the expired keys at a new revision, and only the key without a TTL is left');
    assert.equal((await request(`${server.url}/v1/kv/sweep/kept`)).text, 'y');
    const listing = await request(`${server.url}/v1/kv?prefix=sweep/`);
    assert.deepEqual(
      listing.body.items.map((item: { key: string }) => item.key),
      ['sweep/kept'],
    );
  });

  it('does not remove a key whose TTL was replaced before it passed', async () => {
    await request(`${server.url}/v1/kv/renewed?ttl=0.2`, { method: 'PUT', body: 'old' });
    await request(`${server.url}/v1/kv/renewed`, { method: 'PUT', body: 'new' }); // clears the TTL
    await sleep(500);
    const read = await request(`${server.url}/v1/kv/renewed`);
    assert.equal(read.status, 200);
    assert.equal(read.text, 'new');
    assert.equal(read.headers.get('kv-expires-at'), null);
  });

  it('keeps a TTL across counter increments, like Redis INCRBY', async () => {
    await request(`${server.url}/v1/kv/window?ttl=0.3`, { method: 'PUT', body: '0', headers: { 'content-type': 'application/json' } });
    const added = await request(`${server.url}/v1/kv/window?op=add&by=2`, { method: 'POST' });
    assert.equal(added.body.value, 2);
    assert.ok((await request(`${server.url}/v1/kv/window`)).headers.get('kv-expires-at'));
    await waitUntil(async () => (await request(`${server.url}/v1/kv/window`)).status === 404, 'the counter expired');
  });

  it('a plain PUT over a key whose deadline just passed creates a new incarnation (201, version 1), and a watch sees expire then put', async () => {
    const watch = await SseClient.connect(`${server.url}/v1/watch?key=reborn`);
    try {
      const first = await request(`${server.url}/v1/kv/reborn?ttl=0.3`, { method: 'PUT', body: 'short-lived' });
      assert.equal(first.status, 201);
      // Past the deadline, as soon as reads say so: etcd may still hold the key under its lease (up to ~2.5 s more).
      await waitUntil(async () => (await request(`${server.url}/v1/kv/reborn`)).status === 404, 'the deadline passed');
      const second = await request(`${server.url}/v1/kv/reborn`, { method: 'PUT', body: 'mine' });
      assert.equal(second.status, 201, `a new incarnation is created: ${second.text}`);
      assert.equal(second.body.version, 1);
      assert.equal(second.body.createRevision, second.body.revision);
      await watch.until((messages) => messages.filter((message) => message.event === 'change').length >= 3, 10_000, 'put, expire, put');
      const events = watch.events('change').flatMap((message) => (JSON.parse(message.data) as { events: Array<{ type: string; version?: number }> }).events);
      assert.deepEqual(
        events.map((event) => event.type),
        ['put', 'expire', 'put'],
      );
      assert.equal(events[2]!.version, 1);
    } finally {
      watch.close();
    }
  });
});
