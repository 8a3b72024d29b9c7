import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeKey, expectProblem, request, type JsonResponse } from '../helpers/http.js';
import { sleep, startTestServer, useTestServer } from '../helpers/server.js';
import { metricValue, pollUntil } from '../helpers/assertions.js';

/**
 * The long-poll of a single key (API.md §3): `GET /v1/kv/{key}` with
 * `If-None-Match: "<rev>"` and `Prefer: wait=N` answers when the key changes
 * (200 with the new value, or 404), or with 304 after N seconds.
 */
let base: string;

const server = useTestServer({}, () => {
  base = server.url;
});

function keyUrl(key: string, query?: string): string {
  return `${base}/v1/kv/${encodeKey(key)}${query ? `?${query}` : ''}`;
}

async function put(key: string, value: string, query?: string): Promise<number> {
  const response = await request(keyUrl(key, query), { method: 'PUT', body: value, headers: { 'content-type': 'text/plain' } });
  assert.ok(response.status === 200 || response.status === 201, `PUT ${key}: ${response.status} ${response.text}`);
  return response.body.revision;
}

const metric = (name: string) => metricValue(base, name);

/** Waits until the server holds exactly `count` watchers (a long-poll is waiting once it is subscribed). */
async function untilWatchers(count: number): Promise<void> {
  await pollUntil(async () => (await metric('kvs_watchers')) === count, `kvs_watchers is ${count}`);
}

interface Timed {
  response: JsonResponse;
  /** When the response arrived, ms since the epoch. */
  at: number;
  /** ms from sending the request to the response. */
  elapsed: number;
}

/** A long-poll GET, timed; bounded so a server that never answers fails the test. */
async function longPoll(key: string, revision: number | string, wait: number | string): Promise<Timed> {
  const startedAt = Date.now();
  const response = await request(keyUrl(key), {
    headers: { 'if-none-match': typeof revision === 'number' ? `"${revision}"` : revision, prefer: `wait=${wait}` },
    signal: AbortSignal.timeout(30_000),
  });
  const at = Date.now();
  return { response, at, elapsed: at - startedAt };
}

describe('long-poll: the key changes during the wait', () => {
  it('a PUT ends the wait at once with 200, the new value and the new ETag', async () => {
    const first = await put('lp/change', 'one');
    const polling = longPoll('lp/change', first, 10);
    await untilWatchers(1);
    const writeStartedAt = Date.now();
    const second = await put('lp/change', 'two');
    const writtenAt = Date.now();
    const { response, at, elapsed } = await polling;

    assert.equal(response.status, 200, response.text);
    assert.equal(response.text, 'two');
    assert.equal(response.headers.get('etag'), `"${second}"`);
    assert.equal(response.headers.get('kv-version'), '2');
    assert.equal(response.headers.get('content-type'), 'text/plain');
    assert.equal(response.headers.get('preference-applied'), 'wait=10');
    assert.ok(at >= writeStartedAt, 'the long-poll answered before the write was made');
    assert.ok(at - writtenAt < 1_000, `answered ${at - writtenAt} ms after the write was acknowledged`);
    assert.ok(elapsed < 9_000, `answered after ${elapsed} ms, close to the wait of 10 s`);
    await untilWatchers(0);
  });

  it('a DELETE ends the wait with 404', async () => {
    const revision = await put('lp/delete', 'doomed');
    const polling = longPoll('lp/delete', revision, 10);
    await untilWatchers(1);
    const deleted = await request(keyUrl('lp/delete'), { method: 'DELETE' });
    assert.equal(deleted.status, 204);
    const deletedAt = Date.now();
    const { response, at } = await polling;
    expectProblem(response, 404, 'key_not_found');
    assert.ok(at - deletedAt < 1_000, `answered ${at - deletedAt} ms after the delete`);
    await untilWatchers(0);
  });

  it('the key expiring ends the wait with 404', async () => {
    const startedAt = Date.now();
    const revision = await put('lp/expire', 'brief', 'ttl=1');
    const { response, at } = await longPoll('lp/expire', revision, 10);
    expectProblem(response, 404, 'key_not_found');
    const sincePut = at - startedAt;
    assert.ok(sincePut >= 900, `answered ${sincePut} ms after a PUT with ttl=1`);
    assert.ok(sincePut < 4_000, `answered ${sincePut} ms after a PUT with ttl=1 (the sweeper runs every 250 ms)`);
    await untilWatchers(0);
  });
});

describe('long-poll: no change', () => {
  it('answers 304 after about N seconds when nothing changes', async () => {
    const revision = await put('lp/idle', 'same');
    const { response, elapsed } = await longPoll('lp/idle', revision, 1);
    assert.equal(response.status, 304, response.text);
    assert.equal(response.text, '');
    assert.equal(response.headers.get('etag'), `"${revision}"`);
    assert.equal(response.headers.get('preference-applied'), 'wait=1');
    assert.ok(elapsed >= 900, `304 after only ${elapsed} ms of a 1 s wait`);
    assert.ok(elapsed < 3_000, `304 after ${elapsed} ms of a 1 s wait`);
    assert.equal(await metric('kvs_watchers'), 0);
  });

  it('a write to another key does not end the wait', async () => {
    const revision = await put('lp/mine', 'mine');
    await put('lp/mine/child', 'child');
    const polling = longPoll('lp/mine', revision, 2);
    await untilWatchers(1);
    await put('lp/other', 'x');
    await put('lp/mine/child', 'y');
    await put('lp/mine2', 'z');
    const { response, elapsed } = await polling;
    assert.equal(response.status, 304, `the wait ended with ${response.status} after ${elapsed} ms`);
    assert.equal(response.headers.get('etag'), `"${revision}"`);
    assert.ok(elapsed >= 1_500, `the wait of 2 s ended after ${elapsed} ms`);
    assert.ok(elapsed < 5_000, `the wait of 2 s ended after ${elapsed} ms`);
  });
});

describe('long-poll: answered at once', () => {
  it('If-None-Match that does not match the current revision answers 200 without waiting', async () => {
    const first = await put('lp/stale', 'one');
    const second = await put('lp/stale', 'two');
    const { response, elapsed } = await longPoll('lp/stale', first, 10);
    assert.equal(response.status, 200);
    assert.equal(response.text, 'two');
    assert.equal(response.headers.get('etag'), `"${second}"`);
    assert.ok(elapsed < 1_000, `answered after ${elapsed} ms`);
  });

  it('a missing key answers 404 without waiting', async () => {
    const { response, elapsed } = await longPoll('lp/missing', 5, 10);
    expectProblem(response, 404, 'key_not_found');
    assert.ok(elapsed < 1_000, `answered after ${elapsed} ms`);
  });

  it('Prefer: wait without If-None-Match is a plain read', async () => {
    const revision = await put('lp/plain', 'plain');
    const startedAt = Date.now();
    const response = await request(keyUrl('lp/plain'), { headers: { prefer: 'wait=10' }, signal: AbortSignal.timeout(30_000) });
    const elapsed = Date.now() - startedAt;
    assert.equal(response.status, 200);
    assert.equal(response.text, 'plain');
    assert.equal(response.headers.get('etag'), `"${revision}"`);
    assert.equal(response.headers.get('preference-applied'), null);
    assert.ok(elapsed < 1_000, `answered after ${elapsed} ms`);
  });
});

describe('long-poll: invalid waits', () => {
  it('Prefer: wait=0, wait=301 and wait=abc are 400 invalid_request', async () => {
    const revision = await put('lp/invalid', 'v');
    for (const wait of ['0', '301', 'abc']) {
      const { response, elapsed } = await longPoll('lp/invalid', revision, wait);
      expectProblem(response, 400, 'invalid_request');
      assert.ok(elapsed < 1_000, `wait=${wait} answered after ${elapsed} ms`);
    }
    assert.equal(await metric('kvs_watchers'), 0);
  });
});

describe('long-poll: abandoned', () => {
  it('a client that gives up mid-wait leaves no watcher behind', async () => {
    const revision = await put('lp/abandon', 'v');
    const controller = new AbortController();
    const polling = fetch(keyUrl('lp/abandon'), { headers: { 'if-none-match': `"${revision}"`, prefer: 'wait=60' }, signal: controller.signal });
    polling.catch(() => {});
    await untilWatchers(1);
    controller.abort();
    await assert.rejects(polling);
    await untilWatchers(0);
    // The key still works, and a later long-poll still gets its change.
    const next = longPoll('lp/abandon', revision, 10);
    await untilWatchers(1);
    const changed = await put('lp/abandon', 'w');
    const { response } = await next;
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('etag'), `"${changed}"`);
    await untilWatchers(0);
  });
});

describe('long-poll: shutdown', () => {
  it('a waiting long-poll does not hold server.close() up', async () => {
    const own = await startTestServer();
    const controller = new AbortController();
    let closed = false;
    let closing: Promise<unknown> | null = null;
    try {
      const written = await request(`${own.url}/v1/kv/lp/shutdown`, { method: 'PUT', body: 'v' });
      assert.equal(written.status, 201);
      const polling = fetch(`${own.url}/v1/kv/lp/shutdown`, {
        headers: { 'if-none-match': `"${written.body.revision}"`, prefer: 'wait=60' },
        signal: controller.signal,
      }).then(
        async (response) => ({ status: response.status, text: await response.text() }),
        (error: unknown) => ({ status: 0, text: String(error) }),
      );
      await pollUntil(async () => {
        const metrics = await request(`${own.url}/metrics`);
        return /^kvs_watchers 1$/m.test(metrics.text);
      }, 'the long-poll waits');

      const startedAt = Date.now();
      closing = own.close().then(() => (closed = true));
      const outcome = await Promise.race([closing.then(() => 'closed'), sleep(10_000).then(() => 'timeout')]);
      const elapsed = Date.now() - startedAt;
      assert.equal(outcome, 'closed', `server.close() had not resolved after ${elapsed} ms: the long-poll (wait=60) held it up`);
      assert.ok(elapsed < 5_000, `server.close() took ${elapsed} ms`);
      // The long-poll was answered (or its connection closed) rather than left hanging.
      const answer = await Promise.race([polling, sleep(1_000).then(() => null)]);
      assert.notEqual(answer, null, 'the long-poll was neither answered nor closed');
    } finally {
      // Let a server that waits for the long-poll finish closing.
      controller.abort();
      if (!closed) await (closing ?? own.close());
    }
  });
});
