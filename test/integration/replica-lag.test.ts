import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReplicaReporter } from '../../src/engine/engine.js';
import { postJson, putValue, request, type JsonResponse } from '../helpers/http.js';
import { TEST_ENGINE, useTestServer, type TestServer } from '../helpers/server.js';

/**
 * Reads through a node whose replica lags (docs/adr/0011-replica-reads.md):
 * its change feed is paused, so the replica stops at the revision it had, and
 * the barrier gives up on it after its wait; every read must then come from
 * etcd, or from the replica only where it holds the revision the read needs.
 * No read may be older than a write acknowledged before it began: gets,
 * listings with and without a delimiter, pages followed by cursor, counts,
 * exports, transactions' gets, status. Etcd engine only.
 */

const server = useTestServer();

interface Batches {
  advance(batch: unknown): void;
}

/** Holds back what the node's change feed hands its replica until `resume` (a feed that stalled). */
function pauseFeed(node: TestServer): { resume(): void } {
  const replica = (node.engine as unknown as { replica: Batches }).replica;
  const original = replica.advance.bind(replica);
  const queue: unknown[] = [];
  let paused = true;
  replica.advance = (batch) => {
    if (paused) queue.push(batch);
    else original(batch);
  };
  return {
    resume() {
      paused = false;
      replica.advance = original;
      for (const batch of queue.splice(0)) original(batch);
    },
  };
}

const stats = () => (server.engine as unknown as ReplicaReporter).replicaStats();

async function put(key: string, value: string): Promise<number> {
  const response = await putValue(server.url, key, value);
  assert.ok(response.status === 200 || response.status === 201, `PUT ${key}: ${response.status} ${response.text}`);
  return response.body.revision as number;
}

describe(
  'reads while the node’s replica lags behind etcd',
  { skip: TEST_ENGINE !== 'etcd' ? 'the etcd engine’s replica only (npm run test:etcd)' : false },
  () => {
    it('every read is at least as new as the last acknowledged write: get, listings (delimiter, pages), count, export, txn get, status', async () => {
      await put('a/1', 'one');
      await put('b/1', 'bee');
      for (let i = 0; i < 10; i++) await put(`page/${String(i).padStart(2, '0')}`, `p${i}`);
      assert.equal((await request(`${server.url}/v1/kv/a/1`)).text, 'one');
      assert.ok(stats().serving && stats().freshReads > 0, `the replica serves: ${JSON.stringify(stats())}`);

      const pause = pauseFeed(server);
      try {
        // Acknowledged while the replica is stuck before them.
        await put('c/1', 'new prefix');
        await put('a/1', 'changed');
        assert.equal((await request(`${server.url}/v1/kv/b/1`, { method: 'DELETE' })).status, 204);
        for (let i = 10; i < 15; i++) await put(`page/${i}`, `p${i}`);
        const last = await put('z', 'top level');
        const sourceBefore = stats().sourceReads;

        const got = await request(`${server.url}/v1/kv/c/1`);
        assert.equal(got.status, 200, 'a get sees a key written after the replica stopped');
        assert.equal(got.text, 'new prefix');
        assert.ok(Number(got.headers.get('kv-revision')) >= last);
        assert.equal((await request(`${server.url}/v1/kv/a/1`)).text, 'changed');
        assert.equal((await request(`${server.url}/v1/kv/b/1`)).status, 404, 'and not a key deleted since');

        const rolled = await request(`${server.url}/v1/kv?delimiter=/`);
        assert.equal(rolled.status, 200);
        assert.deepEqual(rolled.body.prefixes, ['a/', 'c/', 'page/'], 'a delimiter listing: every range of its walk as new as the writes');
        assert.deepEqual(
          rolled.body.items.map((item: { key: string }) => item.key),
          ['z'],
        );
        assert.ok(rolled.body.revision >= last);
        const rolledValues = await request(`${server.url}/v1/kv?delimiter=/&start=a/&values=true`);
        assert.deepEqual(rolledValues.body.prefixes, ['a/', 'c/', 'page/']);

        const flat = await request(`${server.url}/v1/kv?prefix=&values=true`);
        assert.deepEqual(
          flat.body.items.map((item: { key: string }) => item.key).filter((key: string) => !key.startsWith('page/')),
          ['a/1', 'c/1', 'z'],
        );
        assert.equal(flat.body.items.find((item: { key: string }) => item.key === 'a/1').value, 'changed');

        const paged: string[] = [];
        let cursor: string | null = null;
        do {
          const response: JsonResponse = await request(
            `${server.url}/v1/kv?prefix=page/&limit=4${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
          );
          assert.equal(response.status, 200);
          assert.ok(response.body.revision >= last, `page revision ${response.body.revision} >= ${last}`);
          paged.push(...response.body.items.map((item: { key: string }) => item.key));
          cursor = response.body.cursor;
        } while (cursor !== null);
        assert.equal(paged.length, 15, `pages followed by cursor: ${paged.join(' ')}`);

        assert.deepEqual((await request(`${server.url}/v1/kv?prefix=page/&dry_run=true`, { method: 'DELETE' })).body, { matched: 15 }, 'a count');
        const exported = await (await fetch(`${server.url}/v1/admin/export`)).text();
        const exportedKeys = exported
          .trim()
          .split('\n')
          .map((line) => (JSON.parse(line) as { key: string }).key);
        assert.deepEqual(
          exportedKeys.filter((key) => !key.startsWith('page/')),
          ['a/1', 'c/1', 'z'],
          'an export',
        );
        assert.equal(exportedKeys.length, 18);

        const txn = await postJson(`${server.url}/v1/txn`, {
          ops: [
            { op: 'get', key: 'c/1' },
            { op: 'get', key: 'a/1' },
            { op: 'get', key: 'b/1' },
          ],
        });
        assert.equal(txn.status, 200, txn.text);
        assert.deepEqual(
          txn.body.results.map((result: { value?: unknown }) => result.value ?? null),
          ['new prefix', 'changed', null],
          'a transaction’s gets',
        );

        const status = await request(`${server.url}/v1/status`);
        assert.ok(status.body.revision >= last, 'status');

        assert.ok(stats().sourceReads > sourceBefore, `etcd answered meanwhile: ${JSON.stringify(stats())}`);
      } finally {
        pause.resume();
      }

      // Caught up again, the replica answers once more.
      const fresh = stats().freshReads;
      assert.equal((await request(`${server.url}/v1/kv/c/1`)).text, 'new prefix');
      const rolled = await request(`${server.url}/v1/kv?delimiter=/`);
      assert.deepEqual(rolled.body.prefixes, ['a/', 'c/', 'page/']);
      assert.ok(stats().freshReads > fresh, `the replica answers again: ${JSON.stringify(stats())}`);
    });
  },
);
