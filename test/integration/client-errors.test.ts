import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TokenRegistry, tokenEntry } from '../../src/auth/tokens.js';
import {
  ForbiddenError,
  InvalidRequestError,
  KvsClient,
  KvsError,
  KvsNetworkError,
  KvsTimeoutError,
  NotFoundError,
  RateLimitedError,
  StorageFullError,
  TooLargeError,
  UnauthorizedError,
  UnavailableError,
  type KvsClientOptions,
} from '../../src/client/index.js';
import { fetchSpy, rejectsWith, type FetchSpy } from '../helpers/sdk.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { freePort, onlyOnLmdb, startTestServer, tempDirectory, type TestServer } from '../helpers/server.js';

/**
 * The SDK's errors, each through a server that really answers so (kvs with
 * tokens, a rate limit, a size cap, a full watcher table, refused writes; or
 * something that is not kvs), and its retries: idempotent requests a bounded
 * number of times, the others never.
 */

/** What a describe block started (servers, directories): closed and removed after the file. */
const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

const ADMIN = 'admin-token-0123456789';
const APP = 'app-token-0123456789'; // read, write, watch under app/
const WATCH_ONLY = 'watch-only-token-0123456789'; // watch under app/, no read

function tokens(): TokenRegistry {
  const directory = tempDirectory('kvs-client-tokens-');
  closers.push(async () => rmSync(directory, { recursive: true, force: true }));
  const file = join(directory, 'tokens.json');
  const entries = [
    tokenEntry('app', APP, [{ prefix: 'app/', actions: ['read', 'write', 'watch'] }], false),
    tokenEntry('watcher', WATCH_ONLY, [{ prefix: 'app/', actions: ['watch'] }], false),
  ];
  writeFileSync(file, JSON.stringify({ tokens: entries }));
  return TokenRegistry.load({ adminToken: ADMIN, tokensFile: file });
}

async function kvsServer(options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const server = await startTestServer(options);
  closers.push(() => server.close());
  return server;
}

/** A client whose every request goes through a spy. */
function spied(url: string, options: Partial<KvsClientOptions> = {}): { client: KvsClient; spy: FetchSpy } {
  const spy = fetchSpy();
  return { client: new KvsClient({ url, fetch: spy.fetch, ...options }), spy };
}

/** A plain node:http server (not kvs) answering with `handler`'s status, type and body. */
async function notKvs(handler: (method: string, path: string) => { status: number; type?: string; body: string }): Promise<string> {
  const server: Server = createHttpServer((request, response) => {
    const { status, type = 'text/plain', body } = handler(request.method!, request.url!);
    response.writeHead(status, { 'content-type': type }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
}

describe('tokens: UnauthorizedError, ForbiddenError, fromEnv with KVS_TOKEN', () => {
  let server: TestServer;
  before(async () => {
    server = await kvsServer({ access: { tokens: tokens(), protectedMode: true, rateLimit: null } });
  });

  it('no token, or one the server does not know, is UnauthorizedError (401 unauthorized), on reads, writes, lists and watches', async () => {
    for (const client of [new KvsClient({ url: server.url }), new KvsClient({ url: server.url, token: 'nobody-has-this-token' })]) {
      await rejectsWith(client.get('app/a'), UnauthorizedError, { status: 401, code: 'unauthorized' });
      await rejectsWith(client.put('app/a', 'v'), UnauthorizedError);
      await rejectsWith(client.list({ prefix: 'app/' }), UnauthorizedError);
      await rejectsWith(client.watch({ prefix: 'app/' })[Symbol.asyncIterator]().next(), UnauthorizedError);
    }
    assert.equal(await new KvsClient({ url: server.url }).ready(), true, '/readyz needs no token');
  });

  it('a token without the grant is ForbiddenError (403 forbidden): outside its prefix, a range it does not cover, admin routes', async () => {
    const app = new KvsClient({ url: server.url, token: APP });
    await app.put('app/mine', 'ok');
    await rejectsWith(app.get('other/x'), ForbiddenError, { status: 403, code: 'forbidden' });
    await rejectsWith(app.put('other/x', 'no'), ForbiddenError, { code: 'forbidden' });
    await rejectsWith(app.list({ prefix: '' }), ForbiddenError);
    await rejectsWith(app.status(), ForbiddenError);
    await rejectsWith(
      app.txn({
        ops: [
          { op: 'get', key: 'app/mine' },
          { op: 'get', key: 'other/x' },
        ],
      }),
      ForbiddenError,
    );
    // watch without read may not watch (a watch shows values).
    await rejectsWith(new KvsClient({ url: server.url, token: WATCH_ONLY }).watch({ prefix: 'app/' })[Symbol.asyncIterator]().next(), ForbiddenError, {
      code: 'forbidden',
    });
  });

  it('a token with read and watch on a prefix can watch a key or the prefix without since, from now', async () => {
    const app = new KvsClient({ url: server.url, token: APP });
    for (const options of [{ key: 'app/w' }, { prefix: 'app/' }]) {
      const controller = new AbortController();
      const iterator = app.watch({ ...options, signal: controller.signal })[Symbol.asyncIterator]();
      const next = iterator.next();
      // Written until the watch (which starts when first asked for a message) has seen one.
      let written = 0;
      const writer = setInterval(() => void app.put('app/w', ++written), 100);
      try {
        const first = await next;
        assert.equal(first.done, false);
        assert.equal(first.value!.events[0]!.key, 'app/w');
      } finally {
        clearInterval(writer);
        controller.abort();
      }
    }
  });

  it('fromEnv sends KVS_TOKEN as a bearer token', async () => {
    const spy = fetchSpy();
    const client = KvsClient.fromEnv({ KVS_URL: server.url, KVS_TOKEN: APP }, { fetch: spy.fetch });
    await client.put('app/env', 'from env');
    assert.equal((await client.get('app/env'))!.text(), 'from env');
    assert.equal(spy.calls[0]!.headers.get('authorization'), `Bearer ${APP}`);
    await rejectsWith(KvsClient.fromEnv({ KVS_URL: server.url, KVS_TOKEN: '' }).get('app/env'), UnauthorizedError);
  });

  it('a client the server serves only on loopback (protected mode) gets ForbiddenError with code protected_mode', async () => {
    const remote = await kvsServer({ clientAddress: () => '203.0.113.9' });
    const problem = await rejectsWith(new KvsClient({ url: remote.url }).get('k'), ForbiddenError, { status: 403, code: 'protected_mode' });
    assert.match(problem.detail, /KV_PROTECTED_MODE=off/);
  });
});

describe('RateLimitedError', () => {
  it('beyond the burst, 429 rate_limited with retryAfter in seconds, and not retried', async () => {
    const server = await kvsServer({ access: { tokens: tokens(), protectedMode: true, rateLimit: { perSecond: 1, burst: 2 } } });
    const { client, spy } = spied(server.url, { token: APP });
    let refused: RateLimitedError | undefined;
    for (let i = 0; i < 6 && refused === undefined; i++) {
      try {
        await client.get('app/a');
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        refused = error;
      }
    }
    assert.ok(refused !== undefined, 'never rate limited');
    assert.equal(refused.status, 429);
    assert.equal(refused.code, 'rate_limited');
    assert.ok(refused.retryAfter !== null && refused.retryAfter >= 1, `retryAfter ${refused.retryAfter}`);
    assert.equal(spy.sent().length, 3, 'two within the burst, then one refused, not retried');
  });
});

describe('StorageFullError', () => {
  it(
    'at the size cap a put is 507 storage_full; a delete still works',
    { skip: onlyOnLmdb('KV_MAX_DATA_BYTES is the embedded store’s cap (etcd has its own quota)') },
    async () => {
      const server = await kvsServer({ limits: { dataBytesMax: 512 * 1024 } });
      const client = new KvsClient({ url: server.url });
      let full: StorageFullError | undefined;
      let written = 0;
      for (let i = 0; i < 2000 && full === undefined; i++) {
        try {
          await client.put(`fill/${i}`, 'x'.repeat(2000));
          written += 1;
        } catch (error) {
          if (!(error instanceof StorageFullError)) throw error;
          full = error;
        }
      }
      assert.ok(full !== undefined, 'the cap was never reached');
      assert.ok(written > 50, `only ${written} writes before the cap`);
      assert.equal(full.status, 507);
      assert.equal(full.code, 'storage_full');
      assert.equal(await client.delete('fill/0'), true);
    },
  );
});

describe('UnavailableError and its retries', () => {
  let server: TestServer;
  let existing: number;
  before(async () => {
    // A key to long-poll (a long-poll of a missing key is answered at once), written before the server refuses writes.
    const dataDirectory = tempDirectory('kvs-client-unavailable-');
    closers.push(async () => rmSync(dataDirectory, { recursive: true, force: true }));
    const filling = await startTestServer({ dataDirectory });
    existing = (await new KvsClient({ url: filling.url }).put('k', 'v')).revision;
    await filling.close();
    // Every write is refused (503, Retry-After: 1); so is every long-poll (no watcher place at all).
    server = await kvsServer({ dataDirectory, limits: { pendingWritesMax: 0, watchersMax: 0 } });
  });

  it('a write that is not idempotent (add, txn, conditional put and delete, import, prefix delete) is sent once', async () => {
    const attempts: Array<[string, (client: KvsClient) => Promise<unknown>]> = [
      ['add', (client) => client.add('n')],
      ['txn', (client) => client.txn({ ops: [{ op: 'put', key: 't', value: 1 }] })],
      ['put ifRevision', (client) => client.put('k', 'v', { ifRevision: 1 })],
      ['put ifAbsent', (client) => client.put('k', 'v', { ifAbsent: true })],
      ['delete ifRevision', (client) => client.delete('k', { ifRevision: 1 })],
      ['import', (client) => client.import('{"key":"i","value":"aGk=","contentType":"text/plain"}\n')],
      ['deletePrefix', (client) => client.deletePrefix('p/')],
    ];
    for (const [what, attempt] of attempts) {
      const { client, spy } = spied(server.url);
      const error = await rejectsWith(attempt(client), UnavailableError, { status: 503, code: 'unavailable' });
      assert.equal(error.retryAfter, 1, what);
      assert.equal(spy.sent().length, 1, `${what} was sent ${spy.sent().length} times`);
    }
  });

  it('a read (a long-poll GET) is retried after Retry-After, at most maxRetries times; a plain put is not (a 503 may follow an applied write)', async () => {
    const put = spied(server.url, { maxRetries: 1 });
    await rejectsWith(put.client.put('k', 'v'), UnavailableError);
    assert.equal(put.spy.sent().length, 1, 'a plain put answered 503 is not sent again');

    const wait = spied(server.url);
    const startedAt = Date.now();
    const error = await rejectsWith(wait.client.waitForChange('k', { revision: existing, seconds: 5 }), UnavailableError);
    assert.equal(error.retryAfter, 1);
    assert.deepEqual(
      wait.spy.sent().map((call) => [call.method, call.status]),
      [
        ['GET', 503],
        ['GET', 503],
        ['GET', 503],
      ],
      'the first attempt and maxRetries (default 2) more',
    );
    assert.ok(Date.now() - startedAt >= 1_900, `the retries waited Retry-After: ${Date.now() - startedAt} ms`);
    // Reads are not refused: this server only refuses writes and waits.
    assert.equal((await new KvsClient({ url: server.url }).get('k'))!.revision, existing);
  });
});

describe('InvalidRequestError, TooLargeError, NotFoundError', () => {
  let server: TestServer;
  let client: KvsClient;
  before(async () => {
    server = await kvsServer({ limits: { valueBytesMax: 1024 } });
    client = new KvsClient({ url: server.url });
  });

  it('an invalid key is InvalidRequestError with code invalid_key; a bad parameter, invalid_request', async () => {
    await rejectsWith(client.get('a\u0000b'), InvalidRequestError, { status: 400, code: 'invalid_key' });
    await rejectsWith(client.put('', 'v'), InvalidRequestError, { code: 'invalid_key' });
    await rejectsWith(client.put('k'.repeat((await client.limits()).maxKeyBytes + 1), 'v'), InvalidRequestError, { code: 'invalid_key' });
    await rejectsWith(client.put('k', 'v', { ttlSeconds: -1 }), InvalidRequestError, { code: 'invalid_request' });
    await rejectsWith(client.list({ limit: 0 }), InvalidRequestError, { code: 'invalid_request' });
  });

  it("a key with a '.' or '..' segment is InvalidRequestError (invalid_key), never sent as the key a URL parser makes of it", async () => {
    await client.put('victim', 'precious');
    await client.put('a/b', 'also precious');
    await rejectsWith(client.put('x/../victim', 'overwritten'), InvalidRequestError, { status: 400, code: 'invalid_key' });
    await rejectsWith(client.delete('a/./b/../../victim'), InvalidRequestError, { code: 'invalid_key' });
    await rejectsWith(client.get('a/../b'), InvalidRequestError, { code: 'invalid_key' });
    await rejectsWith(client.add('a/./b'), InvalidRequestError, { code: 'invalid_key' });
    await rejectsWith(client.delete('..'), InvalidRequestError, { code: 'invalid_key' });
    await rejectsWith(client.waitForChange('a/b/..', { revision: 1, seconds: 1 }), InvalidRequestError, { code: 'invalid_key' });
    assert.equal((await client.get('victim'))!.text(), 'precious');
    assert.equal((await client.get('a/b'))!.text(), 'also precious');
    // In a txn the key travels in JSON, where the server itself refuses it.
    await rejectsWith(client.txn({ ops: [{ op: 'delete', key: 'x/../victim' }] }), InvalidRequestError, { code: 'invalid_key' });
    // Dots that are not a whole segment are ordinary keys.
    for (const key of ['a/.hidden', 'a/..b', 'a/...', 'a/%2e%2e/b']) {
      await client.put(key, key);
      assert.equal((await client.get(key))!.text(), key);
    }
  });

  it('a key or prefix that is not valid Unicode (a lone surrogate) is InvalidRequestError, not some other key', async () => {
    await client.put('lone/\uFFFD', 'the replacement character');
    await rejectsWith(client.get('lone/\uD800'), InvalidRequestError, { code: 'invalid_key' });
    await rejectsWith(client.put('lone/\uDC00', 'v'), InvalidRequestError, { code: 'invalid_key' });
    // Not quietly sent as U+FFFD (what URLSearchParams would make of it): that is another prefix.
    await rejectsWith(client.list({ prefix: 'lone/\uD800' }), InvalidRequestError);
    await rejectsWith(client.watch({ key: 'lone/\uD800' })[Symbol.asyncIterator]().next(), InvalidRequestError);
  });

  it('a value over maxValueBytes is TooLargeError (413 value_too_large) with the limit', async () => {
    const { maxValueBytes } = await client.limits();
    await client.put('big', new Uint8Array(maxValueBytes));
    const error = await rejectsWith(client.put('big', new Uint8Array(maxValueBytes + 1)), TooLargeError, { status: 413, code: 'value_too_large' });
    assert.equal(error.limit, maxValueBytes);
    await rejectsWith(client.txn({ ops: [{ op: 'put', key: 'big', value: new Uint8Array(maxValueBytes + 1) }] }), TooLargeError, { limit: maxValueBytes });
    assert.equal((await client.get('big'))!.value.length, maxValueBytes);
  });

  it('a kvs server under another base URL answers 404 not_found: NotFoundError, not a missing key', async () => {
    const wrong = new KvsClient({ url: `${server.url}/not-the-base` });
    await rejectsWith(wrong.get('k'), NotFoundError, { status: 404, code: 'not_found' });
    await rejectsWith(wrong.delete('k'), NotFoundError);
    await rejectsWith(wrong.list(), NotFoundError);
  });
});

describe('answers from something that is not kvs', () => {
  let url: string;
  before(async () => {
    url = await notKvs((method, path) => {
      if (path === '/readyz') return { status: 503, body: 'starting' };
      if (path.startsWith('/v1/status')) return { status: 500, body: 'oops' };
      if (path.startsWith('/v1/limits')) return { status: 502, type: 'text/html', body: '<h1>502 Bad Gateway</h1>' };
      return { status: 404, body: `no ${method} ${path} here` };
    });
  });

  it('a plain 404 is an error (NotFoundError), never a missing key: get is not null, delete not false, a wait not deleted', async () => {
    const client = new KvsClient({ url });
    const error = await rejectsWith(client.get('k'), NotFoundError, { status: 404 });
    assert.match(error.message, /kvs/);
    await rejectsWith(client.delete('k'), NotFoundError);
    await rejectsWith(client.waitForChange('k', { revision: 1, seconds: 1 }), NotFoundError);
  });

  it('other statuses are a KvsError with code http_<status> and the body in its detail; ready() is false on a 503', async () => {
    const client = new KvsClient({ url });
    const error = await rejectsWith(client.status(), KvsError, { status: 500, code: 'http_500' });
    assert.equal(error.constructor, KvsError);
    assert.match(error.detail, /oops/);
    const gateway = await rejectsWith(client.limits(), KvsError, { status: 502, code: 'http_502' });
    assert.match(gateway.detail, /Bad Gateway/);
    assert.equal(await client.ready(), false);
  });
});

describe('a stream whose connection breaks mid-way', () => {
  it('fails with KvsNetworkError naming the URL, not fetch\'s bare "terminated"', async () => {
    const server = await kvsServer();
    const proxy = await TcpProxy.start(server.url);
    try {
      const value = Buffer.alloc(1024, 'v').toString('base64');
      const ndjson = Array.from({ length: 20_000 }, (_, index) => JSON.stringify({ key: `cut/${index}`, value, contentType: 'text/plain' })).join('\n');
      await new KvsClient({ url: server.url }).import(ndjson);
      const records = new KvsClient({ url: proxy.url }).export('cut/');
      const first = await records.next();
      assert.equal(first.done, false);
      proxy.cut();
      const error = await rejectsWith(
        (async () => {
          for await (const _ of records) void _;
        })(),
        KvsNetworkError,
      );
      assert.ok(!(error instanceof KvsTimeoutError));
      assert.match(error.message, /broke before the answer was complete/);
      assert.equal(error.url, `${proxy.url}/v1/admin/export?prefix=cut%2F`);
    } finally {
      await proxy.close();
    }
  });
});

describe('KvsNetworkError and KvsTimeoutError', () => {
  it('a refused connection is KvsNetworkError naming the URL (not a KvsError), after the retries of a read', async () => {
    const port = await freePort();
    const client = new KvsClient({ url: `http://127.0.0.1:${port}`, maxRetries: 0 });
    const error = await rejectsWith(client.get('some/key'), KvsNetworkError);
    assert.ok(!(error instanceof KvsError) && !(error instanceof KvsTimeoutError));
    assert.equal(error.url, `http://127.0.0.1:${port}/v1/kv/some/key`);
    assert.match(error.message, /connection refused/);
    assert.ok(error.message.includes(error.url), error.message);
  });

  it('a server that accepts and never answers is KvsTimeoutError after timeoutMs, and is not asked again (a read neither)', async () => {
    const requests: string[] = [];
    const sockets = new Set<Socket>();
    const silent = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('data', (chunk) => requests.push(chunk.toString().split('\r\n', 1)[0]!));
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    try {
      const client = new KvsClient({ url, timeoutMs: 200 });
      const startedAt = Date.now();
      const error = await rejectsWith(client.get('k'), KvsTimeoutError);
      assert.ok(error instanceof KvsNetworkError);
      assert.match(error.message, /no answer within 200 ms/);
      assert.equal(error.url, `${url}/v1/kv/k`);
      assert.ok(Date.now() - startedAt < 5_000);
      assert.deepEqual(requests, ['GET /v1/kv/k HTTP/1.1'], 'a timeout means what it says: no retry multiplying the wait');
      assert.equal(error.mayHaveApplied, false, 'a read applies nothing');

      requests.length = 0;
      const write = await rejectsWith(client.add('n'), KvsTimeoutError);
      assert.deepEqual(requests, ['POST /v1/kv/n?op=add&by=1 HTTP/1.1']);
      // A server too slow to answer may have applied the write all the same.
      assert.equal(write.mayHaveApplied, true);
      assert.match(write.message, /no answer within 200 ms \(the write may have been applied\)/);

      // An abort is the caller's: it rejects with the signal's reason at once, no retry, no KvsNetworkError.
      requests.length = 0;
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const aborted = await rejectsWith(new KvsClient({ url, timeoutMs: 10_000 }).get('k', { signal: controller.signal }), Error);
      assert.equal(aborted.name, 'AbortError');
      assert.equal(requests.length, 1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('retries after network errors', () => {
  let server: TestServer;
  before(async () => {
    server = await kvsServer();
  });

  it('an idempotent request that fails to connect is retried up to maxRetries times', async () => {
    const direct = new KvsClient({ url: server.url });
    await direct.put('r/k', 'v');
    const reads: Array<[string, (client: KvsClient) => Promise<unknown>]> = [
      ['get', (client) => client.get('r/k')],
      ['list', async (client) => await client.list({ prefix: 'r/' })],
      ['status', (client) => client.status()],
      ['limits', (client) => client.limits()],
      [
        'export',
        async (client) => {
          for await (const _ of client.export('r/')) void _;
        },
      ],
      ['put', (client) => client.put('r/k', 'v')],
      ['delete', (client) => client.delete('r/gone')],
      ['deletePrefix dryRun', (client) => client.deletePrefix('r/', { dryRun: true })],
      ['waitForChange', (client) => client.waitForChange('r/k', { revision: 1, seconds: 1 })],
    ];
    for (const [what, read] of reads) {
      const { client, spy } = spied(server.url);
      spy.failNext(2);
      await read(client);
      assert.deepEqual(
        spy.calls.map((call) => call.sent),
        [false, false, true],
        what,
      );
    }
    const { client, spy } = spied(server.url, { maxRetries: 3 });
    spy.failNext(10);
    const error = await rejectsWith(client.get('r/k'), KvsNetworkError);
    assert.match(error.message, /connection refused/);
    assert.equal(spy.calls.length, 4, 'the first attempt and maxRetries (3) more');
    const once = spied(server.url, { maxRetries: 0 });
    once.spy.failNext(1);
    await rejectsWith(once.client.get('r/k'), KvsNetworkError);
    assert.equal(once.spy.calls.length, 1);
  });

  it('a plain put or delete whose connection broke after it was sent is not sent again; a read is', async () => {
    const direct = new KvsClient({ url: server.url });
    await direct.put('sent/k', 'v');
    // The request reaches the server, then its answer is lost (the connection is reset): the write may have applied.
    const lostAnswers = (count: number) => {
      let left = count;
      const calls: string[] = [];
      const fetchLosingAnswers: typeof fetch = async (input, init) => {
        const response = await fetch(input, init);
        calls.push(init?.method ?? 'GET');
        if (left-- > 0) {
          await response.arrayBuffer();
          throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up (simulated)'), { code: 'ECONNRESET' }) });
        }
        return response;
      };
      return { client: new KvsClient({ url: server.url, fetch: fetchLosingAnswers }), calls };
    };
    const deleting = lostAnswers(1);
    await rejectsWith(deleting.client.delete('sent/k'), KvsNetworkError);
    assert.deepEqual(deleting.calls, ['DELETE'], 'sent once: a second try would answer "not found" for a delete that applied');
    assert.equal(await direct.get('sent/k'), null, 'the delete did apply');
    const putting = lostAnswers(1);
    await rejectsWith(putting.client.put('sent/new', 'v'), KvsNetworkError);
    assert.deepEqual(putting.calls, ['PUT']);
    const reading = lostAnswers(1);
    assert.equal((await reading.client.get('sent/new'))?.text(), 'v');
    assert.deepEqual(reading.calls, ['GET', 'GET'], 'a read is safe to repeat');
  });

  it('add, txn, a conditional put or delete, a prefix delete and an import are never retried', async () => {
    const direct = new KvsClient({ url: server.url });
    const k = await direct.put('n/k', 'v');
    const writes: Array<[string, (client: KvsClient) => Promise<unknown>]> = [
      ['add', (client) => client.add('n/counter')],
      ['txn', (client) => client.txn({ ops: [{ op: 'put', key: 'n/txn', value: 1 }] })],
      ['put ifRevision', (client) => client.put('n/k', 'changed', { ifRevision: k.revision })],
      ['put ifAbsent', (client) => client.put('n/new', 'v', { ifAbsent: true })],
      ['delete ifRevision', (client) => client.delete('n/k', { ifRevision: k.revision })],
      ['deletePrefix', (client) => client.deletePrefix('n/')],
      ['import', (client) => client.import('{"key":"n/imported","value":"aGk=","contentType":"text/plain"}\n')],
    ];
    for (const [what, write] of writes) {
      const { client, spy } = spied(server.url);
      spy.failNext(1);
      await rejectsWith(write(client), KvsNetworkError);
      assert.equal(spy.calls.length, 1, `${what} was attempted ${spy.calls.length} times`);
    }
    // None of them reached the server.
    assert.deepEqual(
      (await direct.list({ prefix: 'n/', values: true })).items.map((item) => [item.key, item.text()]),
      [['n/k', 'v']],
    );
    assert.equal((await direct.get('n/k'))!.revision, k.revision);
  });
});
