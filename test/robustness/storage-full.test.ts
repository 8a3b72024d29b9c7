import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectProblem, postJson, putValue, request } from '../helpers/http.js';
import { startTestServer, tempDirectory } from '../helpers/server.js';
import { metricValue, pollUntil } from '../helpers/assertions.js';

/**
 * KV_MAX_DATA_BYTES: at the cap, writes that add data are 507 storage_full;
 * reads and deletes go on; once space is freed (keys deleted, their history
 * compacted) writes are accepted again; nothing acknowledged is lost.
 */

const CAP_BYTES = 512 * 1024;
const VALUE = 'x'.repeat(2000);

describe('storage full (KV_MAX_DATA_BYTES)', () => {
  it('refuses writes at the cap, keeps reads and deletes, accepts writes again once space is freed, and loses nothing', async () => {
    const dataDirectory = tempDirectory();
    // The change log keeps every value written too (history is far below its
    // retention here), so deleting keys frees their live copies only: enough.
    const limits = { dataBytesMax: CAP_BYTES };
    let server = await startTestServer({ dataDirectory, limits });
    const acknowledged: string[] = [];
    try {
      let refused;
      for (let i = 0; i < 2000 && refused === undefined; i++) {
        const response = await putValue(server.url, `fill/${String(i).padStart(5, '0')}`, VALUE);
        if (response.status === 201) acknowledged.push(`fill/${String(i).padStart(5, '0')}`);
        else refused = response;
      }
      assert.ok(refused !== undefined, 'the cap was never reached');
      const problem = expectProblem(refused, 507, 'storage_full');
      assert.match(problem.detail, /KV_MAX_DATA_BYTES/);
      assert.ok(acknowledged.length > 50, `only ${acknowledged.length} writes before the cap`);
      // Refused when the next write would not fit: the store is just under its cap.
      const used = await metricValue(server.url, 'kvs_store_data_bytes');
      assert.ok(used > CAP_BYTES - 32 * 1024 && used <= CAP_BYTES, `${used} bytes used at the refusal, cap ${CAP_BYTES}`);

      // Every kind of write that adds as much is refused...
      expectProblem(await postJson(`${server.url}/v1/txn`, { ops: [{ op: 'put', key: 'txn', value: VALUE }] }), 507, 'storage_full');
      assert.equal((await postJson(`${server.url}/put`, { key: 'seed', value: VALUE })).status, 507);
      // ...down to the smallest, once the room left is used up.
      let counter;
      for (let i = 0; i < 1000 && counter?.status !== 507; i++) counter = await request(`${server.url}/v1/kv/counter/${i}?op=add&by=1`, { method: 'POST' });
      expectProblem(counter!, 507, 'storage_full');
      // ...while reads, lists and deletes work.
      assert.equal((await request(`${server.url}/v1/kv/${acknowledged[0]}`)).text, VALUE);
      assert.equal((await request(`${server.url}/v1/kv?prefix=fill/&limit=5`)).status, 200);
      assert.equal((await request(`${server.url}/v1/kv/${acknowledged.at(-1)}`, { method: 'DELETE' })).status, 204);
      acknowledged.pop();
      assert.equal(
        (
          await postJson(`${server.url}/v1/txn`, {
            ops: [
              { op: 'delete', key: acknowledged.at(-1) },
              { op: 'get', key: acknowledged[0] },
            ],
          })
        ).status,
        200,
      );
      acknowledged.pop();

      // Free half the keys: writes are accepted again.
      const freed = acknowledged.splice(acknowledged.length / 2);
      for (const key of freed) assert.equal((await request(`${server.url}/v1/kv/${key}`, { method: 'DELETE' })).status, 204);
      await pollUntil(async () => (await putValue(server.url, 'after-free', 'ok')).status === 201, 'a write is accepted again after space was freed');
      acknowledged.push('after-free');
    } finally {
      await server.close();
    }

    // Nothing acknowledged was lost, and the store opens cleanly.
    server = await startTestServer({ dataDirectory, limits });
    try {
      for (const key of acknowledged) {
        const response = await request(`${server.url}/v1/kv/${key}`);
        assert.equal(response.status, 200, `${key} lost`);
      }
      assert.equal((await request(`${server.url}/v1/kv/after-free`)).text, 'ok');
    } finally {
      await server.close();
    }
  });

  it('a burst of large writes below the cap cannot take the store past it, and one write larger than the room left is refused', async () => {
    const cap = 1024 * 1024;
    const server = await startTestServer({ limits: { dataBytesMax: cap } });
    try {
      const big = Buffer.alloc(200 * 1024, 7);
      const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => putValue(server.url, `big/${i}`, big)));
      const accepted = responses.filter((response) => response.status === 201).length;
      assert.ok(accepted >= 1, 'nothing fitted');
      assert.ok(
        responses.every((response) => response.status === 201 || response.status === 507),
        responses.map((response) => response.status).join(','),
      );
      assert.ok((await metricValue(server.url, 'kvs_store_data_bytes')) <= cap, 'the store went past its cap');
      // A value larger than the whole cap never fits, even in an empty store's room.
      expectProblem(await putValue(server.url, 'huge', Buffer.alloc(cap, 1)), 507, 'storage_full');
      expectProblem(
        await request(`${server.url}/v1/admin/import`, {
          method: 'POST',
          body: `${JSON.stringify({ key: 'imp', value: Buffer.alloc(600 * 1024, 2).toString('base64'), contentType: 'application/octet-stream' })}\n`,
        }),
        507,
        'storage_full',
      );
    } finally {
      await server.close();
    }
  });
});
