import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { HistoryCompactedError, InvalidRequestError, KvsClient, type WatchMessage, type WatchOptions } from '../../src/client/index.js';
import { tokenEntry, TokenRegistry } from '../../src/auth/tokens.js';
import { metricValue, pollUntil } from '../helpers/assertions.js';
import { fetchSpy, rejectsWith } from '../helpers/sdk.js';
import { sleep, startTestServer, tempDirectory, useTestServer } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

/**
 * The SDK's change feed (`watch`) against a real server: events and their
 * fields, key and prefix filters, `since`, `values: false`, ending by signal or
 * break, resuming across cut connections (through a TCP proxy the test cuts)
 * with every revision exactly once, compacted history, and a full server.
 */

let kvs: KvsClient;

const server = useTestServer({}, () => {
  kvs = new KvsClient({ url: server.url });
});

const utf8 = (text: string) => new TextEncoder().encode(text);

/**
 * A watch consumed in the background: its messages as they arrive, `until` to
 * wait for one, `stop` to end it (also done after each test by `openWatches`).
 */
interface Watching {
  messages: WatchMessage[];
  revisions(): number[];
  /** Resolves once a message at `revision` or later arrived; rejects if the watch ended or threw first. */
  until(revision: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  /** Settles when the iteration ends: with its error, if it threw. */
  ended: Promise<unknown>;
}

/** Every watch a test started and did not stop: stopped after each test, so none outlives its test. */
const openWatches = new Set<Watching>();
afterEach(async () => {
  for (const watching of openWatches) await watching.stop();
  // Gone on the server too, so that the next test's stream count is of its own watches only.
  await untilStreams(server.url, 0);
});

function startWatch(client: KvsClient, options: Omit<WatchOptions, 'signal'>, onMessage?: (message: WatchMessage) => void): Watching {
  const controller = new AbortController();
  const messages: WatchMessage[] = [];
  let wake: () => void = () => {};
  let done = false;
  const ended = (async () => {
    try {
      for await (const message of client.watch({ ...options, signal: controller.signal })) {
        messages.push(message);
        onMessage?.(message);
        wake();
      }
      return undefined;
    } catch (error) {
      return error;
    } finally {
      done = true;
      wake();
    }
  })();
  const watching: Watching = {
    messages,
    revisions: () => messages.map((message) => message.revision),
    async until(revision, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!messages.some((message) => message.revision >= revision)) {
        if (done) throw new Error(`the watch ended (${String(await ended)}) before revision ${revision}; got ${watching.revisions().join(',')}`);
        if (Date.now() > deadline) throw new Error(`no message at revision ${revision} within ${timeoutMs} ms; got ${watching.revisions().join(',')}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
    },
    async stop() {
      controller.abort();
      await ended;
      openWatches.delete(watching);
    },
    ended,
  };
  openWatches.add(watching);
  return watching;
}

/** Waits until the server holds exactly `count` watch streams. */
async function untilStreams(url: string, count: number): Promise<void> {
  await pollUntil(async () => (await metricValue(url, 'kvs_watch_streams')) === count, `the server holds ${count} watch streams`);
}

function assertIncreasing(revisions: number[]): void {
  for (let i = 1; i < revisions.length; i++) assert.ok(revisions[i]! > revisions[i - 1]!, `revision ${revisions[i]} after ${revisions[i - 1]}`);
}

describe('watch: messages and filters', () => {
  it('a prefix watch delivers each revision under the prefix once, with every event field', async () => {
    const watching = startWatch(kvs, { prefix: 'w1/' });
    await untilStreams(server.url, 1);
    const startedAt = Date.now();
    const json = await kvs.put('w1/json', { a: [1, null] }, { ttlSeconds: 300 });
    await kvs.put('w1-outside', 'not under w1/');
    const text = await kvs.put('w1/text', 'héllo');
    const bin = await kvs.put('w1/bin', new Uint8Array([0xff, 0, 0x80]));
    const again = await kvs.put('w1/text', 'second');
    const txn = await kvs.txn({
      ops: [
        { op: 'put', key: 'w1/t1', value: 1 },
        { op: 'put', key: 'w1/t2', value: 2 },
        { op: 'put', key: 'elsewhere', value: 3 },
      ],
    });
    const deleted = await kvs.delete('w1/json');
    const last = (await kvs.put('w1/end', 'end')).revision;
    await watching.until(last);
    await watching.stop();

    assert.equal(deleted, true);
    assert.equal(watching.messages.length, 7, `revisions ${watching.revisions().join(',')}`);
    assert.deepEqual(watching.revisions().slice(0, 5), [json.revision, text.revision, bin.revision, again.revision, txn.revision]);
    const deleteRevision = watching.messages[5]!.revision;
    assert.ok(deleteRevision > txn.revision && deleteRevision < last, `the delete at ${deleteRevision}, between ${txn.revision} and ${last}`);
    assert.equal(watching.messages[6]!.revision, last);
    for (const message of watching.messages) for (const event of message.events) assert.equal(event.revision, message.revision);

    const [jsonEvent] = watching.messages[0]!.events;
    assert.equal(jsonEvent!.type, 'put');
    assert.equal(jsonEvent!.key, 'w1/json');
    assert.equal(jsonEvent!.version, 1);
    assert.equal(jsonEvent!.createRevision, json.revision);
    assert.equal(jsonEvent!.contentType, 'application/json');
    assert.deepEqual(jsonEvent!.json(), { a: [1, null] });
    assert.ok(jsonEvent!.expiresAt instanceof Date && jsonEvent!.expiresAt.getTime() >= startedAt + 300_000 - 1);
    assert.equal(jsonEvent!.expiresAt.getTime(), json.expiresAt!.getTime());

    const textEvent = watching.messages[1]!.events[0]!;
    assert.equal(textEvent.text(), 'héllo');
    assert.deepEqual(textEvent.value, utf8('héllo'));
    assert.equal(textEvent.contentType, 'text/plain; charset=utf-8');
    assert.equal(textEvent.expiresAt, null);
    assert.deepEqual(watching.messages[2]!.events[0]!.value, new Uint8Array([0xff, 0, 0x80]));
    assert.equal(watching.messages[2]!.events[0]!.contentType, 'application/octet-stream');
    assert.deepEqual([watching.messages[3]!.events[0]!.version, watching.messages[3]!.events[0]!.createRevision], [2, text.revision]);
    // A transaction is one message with the events under the prefix only.
    assert.deepEqual(watching.messages[4]!.events.map((event) => [event.type, event.key]).sort(), [
      ['put', 'w1/t1'],
      ['put', 'w1/t2'],
    ]);
    const deleteEvent = watching.messages[5]!.events[0]!;
    assert.deepEqual([deleteEvent.type, deleteEvent.key, deleteEvent.value, deleteEvent.version], ['delete', 'w1/json', undefined, undefined]);
  });

  it('a key watch sees only that key, not its children nor longer keys', async () => {
    const watching = startWatch(kvs, { key: 'w2/k' });
    await untilStreams(server.url, 1);
    await kvs.put('w2/k/child', 1);
    await kvs.put('w2/k2', 2);
    const first = await kvs.put('w2/k', 'one');
    await kvs.put('w2/k/child', 3);
    const gone = await kvs.txn({
      ops: [
        { op: 'delete', key: 'w2/k' },
        { op: 'put', key: 'w2/k2', value: 4 },
      ],
    });
    await kvs.put('w2/k2', 5);
    const second = await kvs.put('w2/k', 'two');
    await watching.until(second.revision);
    await watching.stop();
    assert.deepEqual(watching.revisions(), [first.revision, gone.revision, second.revision]);
    assert.deepEqual(
      watching.messages.map((message) => message.events.map((event) => `${event.type} ${event.key}`)),
      [['put w2/k'], ['delete w2/k'], ['put w2/k']],
    );
    assert.equal(watching.messages[2]!.events[0]!.text(), 'two');
  });

  it('since replays the history after that revision, then continues live; without since, only what comes next', async () => {
    const revisions: number[] = [];
    for (let i = 0; i < 5; i++) revisions.push((await kvs.put(`w3/${i}`, i)).revision);
    const replaying = startWatch(kvs, { prefix: 'w3/', since: revisions[1]! });
    const fromNow = startWatch(kvs, { prefix: 'w3/' });
    await untilStreams(server.url, 2);
    const live = (await kvs.put('w3/live', 'live')).revision;
    await replaying.until(live);
    await fromNow.until(live);
    assert.deepEqual(replaying.revisions(), [...revisions.slice(2), live]);
    assert.deepEqual(
      replaying.messages.map((message) => message.events[0]!.key),
      ['w3/2', 'w3/3', 'w3/4', 'w3/live'],
    );
    assert.deepEqual(fromNow.revisions(), [live]);
    await replaying.stop();
    await fromNow.stop();
  });

  it('values: false leaves values out (text() then throws) but keeps every other field', async () => {
    const written = await kvs.put('w4/k', 'secret');
    const bare = startWatch(kvs, { prefix: 'w4/', since: written.revision - 1, values: false });
    await bare.until(written.revision);
    await bare.stop();
    const [event] = bare.messages[0]!.events;
    assert.equal(event!.value, undefined);
    assert.throws(() => event!.text(), /without its value/);
    assert.deepEqual([event!.type, event!.key, event!.version, event!.contentType], ['put', 'w4/k', 1, 'text/plain; charset=utf-8']);
  });

  it('needs exactly one of key and prefix; a bad key is InvalidRequestError', async () => {
    assert.throws(() => kvs.watch({}), TypeError);
    assert.throws(() => kvs.watch({ key: 'a', prefix: 'b' }), TypeError);
    const iterator = kvs.watch({ key: 'a/../b' })[Symbol.asyncIterator]();
    await rejectsWith(iterator.next(), InvalidRequestError, { status: 400, code: 'invalid_key' });
  });
});

describe('watch: ending', () => {
  it('an abort ends the iteration cleanly (no error), while waiting and before the start, and closes the stream', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const consuming = (async () => {
      for await (const message of kvs.watch({ prefix: 'w5/', signal: controller.signal })) seen.push(message.revision);
      return 'ended';
    })();
    await untilStreams(server.url, 1);
    const written = await kvs.put('w5/a', 1);
    await pollUntil(async () => seen.length === 1, 'the first message');
    controller.abort();
    assert.equal(await consuming, 'ended');
    await untilStreams(server.url, 0);
    await kvs.put('w5/b', 2);
    assert.deepEqual(seen, [written.revision]);

    const aborted = new AbortController();
    aborted.abort();
    const none: WatchMessage[] = [];
    for await (const message of kvs.watch({ prefix: 'w5/', since: 0, signal: aborted.signal })) none.push(message);
    assert.deepEqual(none, []);
  });

  it('a break out of for await closes the stream on the server', async () => {
    const written = await kvs.put('w6/a', 1);
    for await (const message of kvs.watch({ prefix: 'w6/', since: written.revision - 1 })) {
      assert.equal(message.revision, written.revision);
      break;
    }
    await untilStreams(server.url, 0);
  });
});

describe('watch: resuming after a dropped connection', () => {
  let proxy: TcpProxy;
  before(async () => {
    proxy = await TcpProxy.start(server.url);
  });
  after(() => proxy.close());

  it('across several cuts mid-stream, every revision arrives exactly once, in order, none missing', async () => {
    const viaProxy = new KvsClient({ url: proxy.url });
    const start = (await kvs.status()).revision;
    const cutsAt = new Set([5, 20, 35, 50]);
    let received = 0;
    // A cut can find no connection open: messages already buffered reach the consumer after the last cut,
    // before the watch has reconnected. Only cuts that broke a connection must be made up for.
    let effectiveCuts = 0;
    const watching = startWatch(viaProxy, { prefix: 'cut/', since: start, reconnectDelayMaxMs: 100 }, () => {
      received += 1;
      if (cutsAt.has(received) && proxy.cut() > 0) effectiveCuts += 1;
    });
    const acceptedBefore = proxy.accepted;
    const acked: number[] = [];
    for (let i = 0; i < 70; i++) {
      acked.push((await kvs.put(`cut/${i % 9}`, { i })).revision);
      if (i % 4 === 0) await sleep(5); // let the stream interleave with the writes
    }
    await watching.until(acked.at(-1)!, 30_000);
    await watching.stop();
    assert.ok(effectiveCuts >= 1, 'at least one cut broke the stream mid-way');
    assert.ok(proxy.accepted - acceptedBefore >= effectiveCuts, `the watch connected ${proxy.accepted - acceptedBefore} times, for ${effectiveCuts} cuts`);
    assertIncreasing(watching.revisions());
    assert.deepEqual(watching.revisions(), acked);
    assert.deepEqual(
      watching.messages.map((message) => message.events[0]!.json<{ i: number }>().i),
      acked.map((_, i) => i),
    );
  });

  it('a watch without since, cut before its first message, still delivers what was written while it was away', async () => {
    const viaProxy = new KvsClient({ url: proxy.url });
    const watching = startWatch(viaProxy, { prefix: 'gap/', reconnectDelayMaxMs: 100 });
    await untilStreams(server.url, 1);
    // The server is unreachable for a moment: the stream is cut, reconnections wait.
    proxy.hold();
    proxy.cut();
    await untilStreams(server.url, 0);
    const during = await kvs.put('gap/during', 'written while the watch was away');
    await sleep(300);
    proxy.release();
    await untilStreams(server.url, 1);
    const afterwards = await kvs.put('gap/after', 'written after it was back');
    await watching.until(afterwards.revision);
    await watching.stop();
    assert.deepEqual(watching.revisions(), [during.revision, afterwards.revision]);
  });

  it('a watch that cannot resume without a gap (history compacted meanwhile) throws HistoryCompactedError', async () => {
    const compacting = await startTestServer({ limits: { historyRetentionRevisions: 5 }, maintenanceIntervalMs: 50 });
    const cutting = await TcpProxy.start(compacting.url);
    try {
      const direct = new KvsClient({ url: compacting.url });
      const watching = startWatch(new KvsClient({ url: cutting.url }), { prefix: 'hc/', since: (await direct.status()).revision, reconnectDelayMaxMs: 100 });
      const first = await direct.put('hc/0', 0);
      await watching.until(first.revision);
      cutting.hold();
      cutting.cut();
      let head = 0;
      for (let i = 1; i < 40; i++) head = (await direct.put(`hc/${i % 3}`, i)).revision;
      await pollUntil(async () => (await direct.status()).compactRevision > first.revision + 1, 'history is compacted past the last revision the watch saw');
      cutting.release();
      const error = await watching.ended;
      assert.ok(error instanceof HistoryCompactedError, `the watch ended with ${String(error)}`);
      assert.equal(error.status, 410);
      assert.equal(error.code, 'history_compacted');
      const { compactRevision } = await direct.status();
      assert.ok(
        error.compactRevision > first.revision && error.compactRevision <= compactRevision && compactRevision <= head,
        `compactRevision ${error.compactRevision} (now ${compactRevision}), last seen ${first.revision}, head ${head}`,
      );
      assert.deepEqual(watching.revisions(), [first.revision]);
    } finally {
      await cutting.close();
      await compacting.close();
    }
  });
});

describe('watch: a rate-limited client', () => {
  const WATCHER = 'watcher-secret-0123456789';

  it('a reconnection refused with 429 rate_limited waits Retry-After and resumes, every revision once', async () => {
    const tokensFile = join(tempDirectory('kvs-tokens-'), 'tokens.json');
    writeFileSync(tokensFile, JSON.stringify({ tokens: [tokenEntry('watcher', WATCHER, [{ prefix: 'rl/', actions: ['read', 'watch'] }], false)] }));
    // One request a second, and no burst beyond it: a request that gets through leaves the bucket empty for a second.
    const limited = await startTestServer({
      access: { tokens: TokenRegistry.load({ tokensFile }), protectedMode: true, rateLimit: { perSecond: 1, burst: 1 } },
    });
    const cutting = await TcpProxy.start(limited.url);
    try {
      // Written straight to the engine: the test's writes spend nothing from the watcher's bucket.
      const write = async (key: string) =>
        (await limited.engine.txn({ compares: [], ops: [{ op: 'put', key, value: Buffer.from(key), contentType: 'text/plain', ttlMs: null }] })).revision;
      const first = await write('rl/1');
      const spy = fetchSpy();
      const watching = startWatch(new KvsClient({ url: cutting.url, token: WATCHER, fetch: spy.fetch }), { prefix: 'rl/', since: first - 1 });
      await watching.until(first);
      // The bucket emptied by a request that gets through, then the stream cut: the reconnection comes within the second.
      while ((await fetch(`${limited.url}/v1/kv/rl/1`, { headers: { authorization: `Bearer ${WATCHER}` } })).status === 429) await sleep(50);
      cutting.cut();
      const second = await write('rl/2');
      await watching.until(second, 15_000);
      await watching.stop();
      assert.deepEqual(watching.revisions(), [first, second]);
      const statuses = spy.calls.filter((call) => call.path.startsWith('/v1/watch')).map((call) => call.status);
      assert.ok(statuses.includes(429), `a reconnection was refused with 429 (statuses ${statuses.join(',')})`);
      assert.equal(statuses.at(-1), 200);
    } finally {
      await cutting.close();
      await limited.close();
    }
  });
});

describe('watch: compacted history and a full server', () => {
  it('since older than the retained history is HistoryCompactedError with compactRevision; from compactRevision it replays the tail', async () => {
    const compacting = await startTestServer({ limits: { historyRetentionRevisions: 5 }, maintenanceIntervalMs: 50 });
    try {
      const client = new KvsClient({ url: compacting.url });
      const revisions: number[] = [];
      for (let i = 0; i < 40; i++) revisions.push((await client.put(`h/${i % 4}`, i)).revision);
      await pollUntil(async () => (await client.status()).compactRevision >= revisions.at(-1)! - 5, 'history is compacted up to the retention');
      const { compactRevision } = await client.status();
      const iterator = client.watch({ prefix: 'h/', since: 1 })[Symbol.asyncIterator]();
      const error = await rejectsWith(iterator.next(), HistoryCompactedError, { status: 410, code: 'history_compacted' });
      assert.equal(error.compactRevision, compactRevision);

      const tail = startWatch(client, { prefix: 'h/', since: error.compactRevision });
      await tail.until(revisions.at(-1)!);
      await tail.stop();
      assert.deepEqual(
        tail.revisions(),
        revisions.filter((revision) => revision > compactRevision),
      );
    } finally {
      await compacting.close();
    }
  });

  it('while the server holds its most watchers (503 with Retry-After), a watch waits and starts once a place is free', async () => {
    const full = await startTestServer({ limits: { watchersMax: 1 } });
    try {
      const client = new KvsClient({ url: full.url });
      const held = await client.put('full/held', 'h');
      // A long-poll takes the only place for about 2 s.
      const longPoll = client.waitForChange('full/held', { revision: held.revision, seconds: 2 });
      await pollUntil(async () => (await metricValue(full.url, 'kvs_watchers')) === 1, 'the long-poll is waiting');
      const spy = fetchSpy();
      const watching = startWatch(new KvsClient({ url: full.url, fetch: spy.fetch }), { prefix: 'full/', since: held.revision });
      const written = await client.put('full/k', 'v');
      await watching.until(written.revision, 15_000);
      await watching.stop();
      assert.deepEqual(await longPoll, { status: 'unchanged' });
      const watchCalls = spy.calls.filter((call) => call.path.startsWith('/v1/watch'));
      assert.equal(watchCalls[0]!.status, 503, 'the first attempt found the server full');
      assert.equal(watchCalls.at(-1)!.status, 200);
      assert.deepEqual(watching.revisions(), [written.revision]);
    } finally {
      await full.close();
    }
  });
});
