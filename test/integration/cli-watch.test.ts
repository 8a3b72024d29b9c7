import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tokenEntry } from '../../src/auth/tokens.js';
import { pollUntil, metricValue } from '../helpers/assertions.js';
import { assertFailure, kvs, ndjson, quietPort, startKvs } from '../helpers/cli.js';
import { postJson, putValue, request } from '../helpers/http.js';
import { leftoversCleanedAfter, sleep, useTestServer, type ServerProcess } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

/**
 * `kvs watch` of the real CLI: NDJSON, one line per revision, as writes
 * happen or from history; its end (--count, SIGINT); and its resumption
 * after the connection breaks or the server restarts, without missing or
 * repeating a revision.
 */
let url: string;
const leftovers = leftoversCleanedAfter('kvs-cli-watch-');

const server = useTestServer({}, () => {
  url = server.url;
});

async function put(base: string, key: string, value: string, contentType = 'text/plain; charset=utf-8'): Promise<number> {
  const response = await putValue(base, key, value, { headers: { 'content-type': contentType } });
  assert.ok(response.status === 200 || response.status === 201, response.text);
  return response.body.revision;
}

async function storeRevision(base: string): Promise<number> {
  return (await request(`${base}/v1/status`)).body.revision;
}

/** Resolves once `base` holds `count` open watch streams (a watch started without --since sees only later writes). */
async function streamsOpen(base: string, count: number): Promise<void> {
  await pollUntil(async () => (await metricValue(base, 'kvs_watch_streams')) === count, `${count} watch stream(s) are open on ${base}`);
}

/** A put event as `kvs watch` prints it. */
function putEvent(
  key: string,
  revision: number,
  value: unknown,
  encoding: string,
  contentType: string,
  version = 1,
  createRevision = revision,
): Record<string, unknown> {
  return { type: 'put', key, revision, version, createRevision, contentType, value, encoding };
}

describe('kvs watch', () => {
  let startRevision: number;
  let live: string[];

  it('prints one NDJSON line per matching revision as writes happen, and exits 0 after --count N', async () => {
    startRevision = await storeRevision(url);
    await streamsOpen(url, 0);
    const watch = startKvs(['watch', 'cw/', '--count', '3'], { url });
    await streamsOpen(url, 1);
    const a = await put(url, 'cw/a', '{"n": 1}', 'application/json');
    await put(url, 'other/x', 'not watched');
    const b = await put(url, 'cw/b', 'text');
    const txn = await postJson(`${url}/v1/txn`, {
      ops: [
        { op: 'put', key: 'cw/c', value: 'AP8=', encoding: 'base64', contentType: 'application/octet-stream' },
        { op: 'delete', key: 'cw/a' },
      ],
    });
    assert.equal(txn.status, 200, txn.text);
    await put(url, 'cw/after-the-count', 'x');

    const result = await watch.exited;
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, '');
    assert.deepEqual(ndjson(result.stdout), [
      { revision: a, events: [putEvent('cw/a', a, { n: 1 }, 'json', 'application/json')] },
      { revision: b, events: [putEvent('cw/b', b, 'text', 'utf8', 'text/plain; charset=utf-8')] },
      {
        revision: txn.body.revision,
        events: [
          putEvent('cw/c', txn.body.revision, 'AP8=', 'base64', 'application/octet-stream'),
          { type: 'delete', key: 'cw/a', revision: txn.body.revision },
        ],
      },
    ]);
    live = result.stdout.toString().split('\n').slice(0, 3);
  });

  it('--since R replays the history after R, line for line as it was printed live', async () => {
    const result = await kvs(['watch', 'cw/', '--since', String(startRevision), '--count', '3'], { url });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(result.stdout.toString().split('\n').slice(0, 3), live);
    assert.equal(result.stdout.toString(), `${live.join('\n')}\n`);
  });

  it('--key watches one key only (not the keys it is a prefix of); --no-values leaves values out', async () => {
    const since = await storeRevision(url);
    const first = await put(url, 'kw/k', 'one');
    await put(url, 'kw/k2', 'other key');
    const second = await put(url, 'kw/k', 'two');
    const deleted = await request(`${url}/v1/kv/kw/k`, { method: 'DELETE' });
    assert.equal(deleted.status, 204);
    const deletedAt = Number(deleted.headers.get('kv-revision'));

    const withValues = await kvs(['watch', '--key', 'kw/k', '--since', String(since), '--count', '2'], { url });
    assert.equal(withValues.status, 0, withValues.stderr);
    assert.deepEqual(ndjson(withValues.stdout), [
      { revision: first, events: [putEvent('kw/k', first, 'one', 'utf8', 'text/plain; charset=utf-8')] },
      { revision: second, events: [putEvent('kw/k', second, 'two', 'utf8', 'text/plain; charset=utf-8', 2, first)] },
    ]);

    const withoutValues = await kvs(['watch', '--key', 'kw/k', '--since', String(since), '--count', '3', '--no-values'], { url });
    assert.equal(withoutValues.status, 0, withoutValues.stderr);
    assert.deepEqual(ndjson(withoutValues.stdout), [
      { revision: first, events: [{ type: 'put', key: 'kw/k', revision: first, version: 1, createRevision: first, contentType: 'text/plain; charset=utf-8' }] },
      {
        revision: second,
        events: [{ type: 'put', key: 'kw/k', revision: second, version: 2, createRevision: first, contentType: 'text/plain; charset=utf-8' }],
      },
      { revision: deletedAt, events: [{ type: 'delete', key: 'kw/k', revision: deletedAt }] },
    ]);
  });

  it('ends with exit 0 and nothing on stderr on SIGINT, before or after printing', async () => {
    await streamsOpen(url, 0);
    const idle = startKvs(['watch', 'sigint/'], { url });
    await streamsOpen(url, 1);
    idle.child.kill('SIGINT');
    const idleResult = await idle.exited;
    assert.deepEqual({ status: idleResult.status, stdout: idleResult.stdout.toString(), stderr: idleResult.stderr }, { status: 0, stdout: '', stderr: '' });

    await streamsOpen(url, 0);
    const busy = startKvs(['watch', 'sigint/'], { url });
    await streamsOpen(url, 1);
    const revision = await put(url, 'sigint/a', 'x');
    await busy.waitForLines(1);
    busy.child.kill('SIGINT');
    const busyResult = await busy.exited;
    assert.equal(busyResult.status, 0, busyResult.stderr);
    assert.equal(busyResult.stderr, '');
    assert.deepEqual(
      ndjson(busyResult.stdout).map((line) => line.revision),
      [revision],
    );
  });

  it('refuses a PREFIX with --key, and a bad --since or --count (exit 2)', async () => {
    assertFailure(await kvs(['watch', 'a/', '--key', 'b'], { url }), 'watch', 2, /PREFIX, or --key KEY/);
    assertFailure(await kvs(['watch', '--since', 'yesterday'], { url }), 'watch', 2, /--since must be a whole number/);
    assertFailure(await kvs(['watch', '--count', '0'], { url }), 'watch', 2, /--count must be a whole number >= 1/);
  });
});

describe('kvs watch resumes where it left off', () => {
  it('after its connection is cut mid-stream: no revision missed or repeated', async () => {
    await streamsOpen(url, 0);
    const proxy = await TcpProxy.start(url);
    try {
      const watch = startKvs(['watch', 'cut/', '--count', '8'], { url: proxy.url });
      await streamsOpen(url, 1);
      const revisions: number[] = [];
      for (let index = 1; index <= 3; index += 1) revisions.push(await put(url, `cut/${index}`, `v${index}`));
      await watch.waitForLines(3);
      // Written, then cut at once: it may or may not have reached the CLI before the cut.
      revisions.push(await put(url, 'cut/4', 'v4'));
      proxy.cut();
      for (let index = 5; index <= 8; index += 1) revisions.push(await put(url, `cut/${index}`, `v${index}`));
      const result = await watch.exited;
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stderr, '');
      const lines = ndjson(result.stdout);
      assert.deepEqual(
        lines.map((line) => line.revision),
        revisions,
      );
      assert.deepEqual(
        lines.map((line) => line.events[0].key),
        revisions.map((_, index) => `cut/${index + 1}`),
      );
      assert.ok(proxy.accepted >= 2, `the watch reconnected (${proxy.accepted} connections)`);
    } finally {
      await proxy.close();
    }
  });

  it('after the server is killed (kill -9) and restarted on the same port: no revision missed or repeated', async () => {
    const port = await quietPort('listen');
    const dataDirectory = leftovers.directory();
    let serving = await serveOnPort(port, dataDirectory);
    try {
      const base = serving.url;
      const watch = startKvs(['watch', 'restart/', '--count', '10'], { url: base, timeoutMs: 60_000 });
      await streamsOpen(base, 1);
      const revisions: number[] = [];
      for (let index = 1; index <= 4; index += 1) revisions.push(await put(base, `restart/${index}`, `v${index}`));
      await watch.waitForLines(4);
      revisions.push(await put(base, 'restart/5', 'v5'));
      serving.kill('SIGKILL');
      await serving.exited;
      // Down for a moment: the CLI's reconnection attempts are refused meanwhile.
      await sleep(300);
      serving = await serveOnPort(port, dataDirectory);
      for (let index = 6; index <= 10; index += 1) revisions.push(await put(base, `restart/${index}`, `v${index}`));

      const result = await watch.exited;
      assert.equal(result.status, 0, `exit ${result.status}; stderr: ${result.stderr}\nserver: ${serving.output()}`);
      assert.equal(result.stderr, '');
      const lines = ndjson(result.stdout);
      assert.deepEqual(
        lines.map((line) => line.revision),
        revisions,
      );
      assert.deepEqual(
        lines.map((line) => [line.events.length, line.events[0].key, line.events[0].value]),
        revisions.map((_, index) => [1, `restart/${index + 1}`, `v${index + 1}`]),
      );
    } finally {
      serving.kill('SIGKILL');
      await serving.exited;
    }
  });
});

describe('kvs watch under a rate limit (KV_RATE_LIMIT, KV_RATE_BURST)', () => {
  const ADMIN = 'admin-secret-0123456789';
  const WATCHER = 'watcher-secret-0123456789';
  /** Requests of the test itself refused with 429, so that the watch's own refusals can be told apart in /metrics. */
  let refusedTestRequests = 0;

  /** fetch with `token`, waiting out a 429 (Retry-After) until the answer is another. */
  async function patiently(target: string, token: string, init: RequestInit = {}): Promise<Response> {
    for (;;) {
      const response = await fetch(target, { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } });
      if (response.status !== 429) return response;
      refusedTestRequests += 1;
      await response.body?.cancel();
      await sleep(Number(response.headers.get('retry-after') ?? 1) * 1000);
    }
  }

  async function rateLimitedTotal(base: string): Promise<number> {
    const text = await (await patiently(`${base}/metrics`, ADMIN)).text();
    const line = text.split('\n').find((candidate) => candidate.startsWith('kvs_http_requests_rejected_total{reason="rate_limited"} '));
    assert.ok(line !== undefined, 'the rate_limited refusal counter');
    return Number(line.split(' ').at(-1));
  }

  it('a reconnection refused with 429 waits Retry-After and resumes: no revision missed or repeated', async () => {
    const tokensFile = join(leftovers.directory(), 'tokens.json');
    writeFileSync(tokensFile, JSON.stringify({ tokens: [tokenEntry('watcher', WATCHER, [{ prefix: 'rl/', actions: ['read', 'watch'] }], false)] }));
    // One request a second per token, no burst beyond it: a request that gets through leaves its bucket empty for a second.
    const limited = await leftovers.spawn({
      DATA_DIRECTORY: leftovers.directory(),
      KV_RATE_LIMIT: '1',
      KV_RATE_BURST: '1',
      KV_TOKENS_FILE: tokensFile,
      KV_ADMIN_TOKEN: ADMIN,
    });
    const proxy = await TcpProxy.start(limited.url);
    try {
      const put = async (key: string) =>
        ((await (await patiently(`${limited.url}/v1/kv/${key}`, ADMIN, { method: 'PUT', body: key })).json()) as { revision: number }).revision;
      const first = await put('rl/1');
      const watch = startKvs(['watch', 'rl/', '--since', String(first - 1), '--count', '2'], { url: proxy.url, env: { KVS_TOKEN: WATCHER } });
      await watch.waitForLines(1);
      const refusedBefore = (await rateLimitedTotal(limited.url)) - refusedTestRequests;
      // The watcher's bucket emptied by a request that gets through, then its stream cut: it reconnects within the second.
      await (await patiently(`${limited.url}/v1/kv/rl/1`, WATCHER)).body?.cancel();
      proxy.cut();
      const second = await put('rl/2');
      const result = await watch.exited;
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stderr, '');
      assert.deepEqual(
        ndjson(result.stdout).map((line) => [line.revision, line.events[0].key]),
        [
          [first, 'rl/1'],
          [second, 'rl/2'],
        ],
      );
      const refusedWatches = (await rateLimitedTotal(limited.url)) - refusedTestRequests - refusedBefore;
      assert.ok(refusedWatches >= 1, `the watch's reconnection was refused with 429 (${refusedWatches} times)`);
    } finally {
      await proxy.close();
      limited.kill('SIGTERM');
    }
  });
});

/** `kvs serve` on a port of the test's choosing, so that it can be restarted on the same one; killed after the file's tests. */
function serveOnPort(port: number, dataDirectory: string): Promise<ServerProcess> {
  return leftovers.spawn({ DATA_DIRECTORY: dataDirectory, LOG_LEVEL: 'warn' }, { port });
}
