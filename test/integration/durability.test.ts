import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { request } from '../helpers/http.js';
import { CLI_PATH, leftoversCleanedAfter, sleep, type ServerProcess, TEST_ENGINE } from '../helpers/server.js';
import { differencesOf } from '../engine/differences.js';
import { slowSyncServeCommand, whichStrace } from '../helpers/strace.js';

/** How the engine under test differs from the other, each with its reason (test/engine/differences.ts). */
const ENGINE = differencesOf(TEST_ENGINE);

/**
 * Durability through real processes: what a 2xx promises (API.md §9) must
 * survive a restart, SIGTERM, and kill -9 in the middle of writing.
 */
const leftovers = leftoversCleanedAfter('kvs-durability-');
const dataDirectory = () => leftovers.directory();
const start = (directory: string, command?: string[]): Promise<ServerProcess> => leftovers.spawn({ DATA_DIRECTORY: directory }, command ? { command } : {});

/** Runs writers against `url` until `stop` is set; returns the writes the server acknowledged. */
function runWriters(url: string, writers: number, state: { stop: boolean }, keyPrefix = 'w') {
  const acknowledged = new Map<string, string>();
  let counterAcks = 0;
  let counterAttempts = 0;
  const failures: string[] = [];
  const loops = Array.from({ length: writers }, async (_, writer) => {
    for (let i = 0; !state.stop; i++) {
      const key = `${keyPrefix}${writer}/k${i}`;
      const value = `value-${writer}-${i}`;
      try {
        if (i % 5 === 4) {
          counterAttempts++;
          const response = await fetch(`${url}/v1/kv/counter?op=add`, { method: 'POST' });
          if (response.ok) counterAcks++;
          await response.arrayBuffer();
          continue;
        }
        const response = await fetch(`${url}/v1/kv/${key}`, { method: 'PUT', body: value, headers: { 'content-type': 'text/plain' } });
        await response.arrayBuffer();
        if (response.ok) acknowledged.set(key, value);
      } catch (error) {
        // The server is gone: this write's outcome is unknown, and it was not acknowledged.
        failures.push(String((error as Error).cause ?? error));
        return;
      }
    }
  });
  return { acknowledged, failures, counters: () => ({ acks: counterAcks, attempts: counterAttempts }), done: Promise.all(loops) };
}

async function assertAllPresent(url: string, acknowledged: Map<string, string>): Promise<void> {
  const missing: string[] = [];
  for (const [key, value] of acknowledged) {
    const response = await request(`${url}/v1/kv/${key}`);
    if (response.status !== 200 || response.text !== value) missing.push(`${key}: ${response.status} ${response.text.slice(0, 40)}`);
  }
  assert.deepEqual(missing, [], `acknowledged writes lost: ${missing.length} of ${acknowledged.size}`);
}

describe('durability across processes', () => {
  it('keeps data across a clean restart', async () => {
    const directory = dataDirectory();
    let server = await start(directory);
    assert.equal((await request(`${server.url}/v1/kv/restart/a`, { method: 'PUT', body: 'one' })).status, 201);
    assert.equal(
      (await request(`${server.url}/put`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"key":"seed","value":{"n":1}}' })).status,
      200,
    );
    server.kill('SIGTERM');
    assert.equal((await server.exited).code, 0);
    server = await start(directory);
    assert.equal((await request(`${server.url}/v1/kv/restart/a`)).text, 'one');
    assert.deepEqual((await request(`${server.url}/get?key=seed`)).body, { status: 'success', value: { n: 1 } });
    const status = await request(`${server.url}/v1/status`);
    // Where revisions are shared (etcd: the cluster's, with kvs's bookkeeping), only a lower bound is known.
    assert.ok(
      ENGINE.sharedRevisions === null ? status.body.revision === 2 : status.body.revision >= 2,
      `the store revision survives the restart (${status.body.revision})`,
    );
    server.kill('SIGTERM');
    await server.exited;
  });

  it('loses no acknowledged write when killed with SIGKILL mid-write', async () => {
    const directory = dataDirectory();
    for (let cycle = 0; cycle < 3; cycle++) {
      const server = await start(directory);
      const state = { stop: false };
      const writers = runWriters(server.url, 16, state, `c${cycle}w`);
      await sleep(300 + Math.floor(Math.random() * 400));
      server.kill('SIGKILL');
      await server.exited;
      state.stop = true;
      await writers.done;
      assert.ok(
        writers.acknowledged.size > 20,
        `the writers got going (${writers.acknowledged.size} acknowledged; ${writers.failures.slice(0, 3).join('; ')})`,
      );

      const restarted = await start(directory);
      await assertAllPresent(restarted.url, writers.acknowledged);
      const { acks, attempts } = writers.counters();
      const counter = await request(`${restarted.url}/v1/kv/counter`);
      const value = counter.status === 404 ? 0 : Number(counter.text);
      // Counters accumulate over cycles, so compare this cycle's delta.
      const before = cycle === 0 ? 0 : Number((await readCounterBefore(cycle)) ?? 0);
      assert.ok(value - before >= acks, `counter lost increments: ${value - before} < ${acks} acknowledged`);
      assert.ok(value - before <= attempts, `counter has increments never sent: ${value - before} > ${attempts}`);
      counterHistory[cycle] = value;
      restarted.kill('SIGKILL');
      await restarted.exited;
    }
  });

  it('finishes in-flight requests on SIGTERM, exits 0 within 10 s, and keeps every acknowledged write', async () => {
    const directory = dataDirectory();
    const server = await start(directory);
    const state = { stop: false };
    const writers = runWriters(server.url, 16, state);
    await sleep(400);
    const signalledAt = Date.now();
    server.kill('SIGTERM');
    const exit = await server.exited;
    const shutdownMs = Date.now() - signalledAt;
    state.stop = true;
    await writers.done;
    assert.equal(exit.code, 0, `exit code 0 (got ${exit.code}, signal ${exit.signal}):\n${server.output().slice(-2000)}`);
    assert.ok(shutdownMs < 10_000, `shut down in ${shutdownMs} ms`);
    const restarted = await start(directory);
    await assertAllPresent(restarted.url, writers.acknowledged);
    restarted.kill('SIGTERM');
    await restarted.exited;
  });

  it('still stops on SIGTERM when whatever read its logs has gone away (stdout and stderr closed)', async () => {
    const server = await start(dataDirectory());
    // The log reader disappears: the server's next log line meets a broken pipe.
    server.child.stdout!.destroy();
    server.child.stderr!.destroy();
    assert.equal((await request(`${server.url}/v1/kv/after-logs`, { method: 'PUT', body: 'x' })).status, 201);
    server.kill('SIGTERM');
    const exit = await Promise.race([server.exited, sleep(10_000).then(() => null)]);
    if (exit === null) server.kill('SIGKILL');
    assert.deepEqual(exit, { code: 0, signal: null }, 'the server did not exit within 10 s of SIGTERM');
  });
  it('counts 200 concurrent increments without losing one', async () => {
    const server = await start(dataDirectory());
    const results = await Promise.all(Array.from({ length: 200 }, () => request(`${server.url}/v1/kv/hits?op=add`, { method: 'POST' })));
    assert.ok(results.every((result) => result.status === 200));
    const values = results.map((result) => result.body.value as number).sort((a, b) => a - b);
    assert.deepEqual(
      values,
      Array.from({ length: 200 }, (_, i) => i + 1),
      'every increment saw a distinct value',
    );
    assert.equal((await request(`${server.url}/v1/kv/hits`)).text, '200');
    server.kill('SIGTERM');
    await server.exited;
  });
});

const counterHistory: number[] = [];
async function readCounterBefore(cycle: number): Promise<number | undefined> {
  return counterHistory[cycle - 1];
}

/**
 * The acknowledgement must wait for the sync. The server runs under strace
 * with every fdatasync/fsync slowed down by 300 ms: if a write were
 * acknowledged before its sync, the PUT would answer in milliseconds.
 */
const stracePath = whichStrace();
describe(
  'acknowledgement waits for the sync (strace slows fdatasync)',
  {
    skip:
      (ENGINE.noOwnSync === null ? false : `${ENGINE.noOwnSync} (tested in test/cluster)`) ||
      (stracePath === null ? 'strace is not installed (.ci/run installs it)' : false),
  },
  () => {
    const SYNC_DELAY_MS = 300;

    async function startSlowSync(log: string): Promise<ServerProcess> {
      return start(dataDirectory(), slowSyncServeCommand(stracePath!, CLI_PATH, SYNC_DELAY_MS, log, ['msync']));
    }

    it('answers a PUT only after its fdatasync returned, and reads do not see it before', async () => {
      const log = join(dataDirectory(), 'strace.log');
      const server = await startSlowSync(log);
      const startedAt = Date.now();
      const put = request(`${server.url}/v1/kv/synced`, { method: 'PUT', body: 'durable' });
      await sleep(SYNC_DELAY_MS / 3);
      const early = await request(`${server.url}/v1/kv/synced`);
      const response = await put;
      const elapsedMs = Date.now() - startedAt;
      assert.equal(response.status, 201);
      assert.ok(elapsedMs >= SYNC_DELAY_MS - 20, `the PUT was acknowledged after ${elapsedMs} ms, before the ${SYNC_DELAY_MS} ms sync finished`);
      assert.equal(early.status, 404, 'a read during the sync does not see the unsynced write');
      assert.equal((await request(`${server.url}/v1/kv/synced`)).text, 'durable');
      server.kill('SIGKILL');
    });

    it('answers and shows a write queued behind a syncing one only after its own sync (batches overlap the disk)', async () => {
      const log = join(dataDirectory(), 'strace.log');
      const server = await startSlowSync(log);
      await request(`${server.url}/v1/kv/warmup`, { method: 'PUT', body: 'x' });
      const first = request(`${server.url}/v1/kv/first`, { method: 'PUT', body: 'one' });
      await sleep(SYNC_DELAY_MS / 6);
      // Planned and committed by LMDB while the first one's sync runs: visible in LMDB, not durable.
      const secondSentAt = Date.now();
      const second = request(`${server.url}/v1/kv/second`, { method: 'PUT', body: 'two' });
      await sleep(SYNC_DELAY_MS / 3);
      assert.equal((await request(`${server.url}/v1/kv/second`)).status, 404, 'the second write is not read while the first syncs');
      assert.equal((await request(`${server.url}/get?key=second`)).status, 404, 'nor through /get');
      assert.equal((await first).status, 201);
      const firstAnsweredAt = Date.now();
      // The first is durable now; the second is still syncing.
      assert.equal((await request(`${server.url}/v1/kv/first`)).text, 'one');
      assert.equal((await request(`${server.url}/v1/kv/second`)).status, 404, 'the second write is not read before its own sync');
      assert.equal((await second).status, 201);
      const secondAnsweredAt = Date.now();
      assert.ok(
        secondAnsweredAt - firstAnsweredAt >= SYNC_DELAY_MS - 50,
        `the second write was answered ${secondAnsweredAt - firstAnsweredAt} ms after the first, before a sync of its own`,
      );
      assert.ok(
        secondAnsweredAt - secondSentAt < 3 * SYNC_DELAY_MS,
        `the second write waited ${secondAnsweredAt - secondSentAt} ms: it was not queued behind the first`,
      );
      assert.equal((await request(`${server.url}/v1/kv/second`)).text, 'two');
      server.kill('SIGKILL');
    });

    it('shares one sync among concurrent writes (group commit)', async () => {
      const log = join(dataDirectory(), 'strace.log');
      const server = await startSlowSync(log);
      await request(`${server.url}/v1/kv/warmup`, { method: 'PUT', body: 'x' });
      const syncsBefore = countSyncs(log);
      const writes = 60;
      const responses = await Promise.all(
        Array.from({ length: writes }, (_, i) => request(`${server.url}/v1/kv/group/${i}`, { method: 'PUT', body: String(i) })),
      );
      assert.ok(responses.every((response) => response.status === 201));
      const syncs = countSyncs(log) - syncsBefore;
      assert.ok(syncs < writes / 4, `${writes} concurrent writes took ${syncs} syncs; group commit should share them`);
      server.kill('SIGKILL');
    });
  },
);

function countSyncs(log: string): number {
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => /\b(fdatasync|fsync)\(/.test(line) && !line.includes('resumed>')).length;
}
