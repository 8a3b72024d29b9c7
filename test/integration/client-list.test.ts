import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Entry, InvalidRequestError, KvsClient, TxnConflictError, type ListItem, type ListPage, type TxnRequest } from '../../src/client/index.js';
import { fetchSpy, rejectsWith } from '../helpers/sdk.js';
import { useTestServer } from '../helpers/server.js';

/** The SDK's listings (`list`: awaited, iterated, pages) and transactions (`txn`), against a real server. */

let kvs: KvsClient;

/** 250 keys under one prefix, written before the tests, and the revision they were written by. */
const MANY = 250;
const MANY_PREFIX = 'many/';
const manyKeys = Array.from({ length: MANY }, (_, index) => `${MANY_PREFIX}${String(index).padStart(3, '0')}`);
let manyRevision = 0;

const server = useTestServer({}, async () => {
  kvs = new KvsClient({ url: server.url });
  // In transactions as large as this server takes (etcd: fewer ops than lmdb).
  const { maxTxnOps } = await kvs.limits();
  for (let start = 0; start < MANY; start += maxTxnOps) {
    const ops = manyKeys.slice(start, start + maxTxnOps).map((key) => ({ op: 'put' as const, key, value: key }));
    manyRevision = (await kvs.txn({ ops })).revision;
  }
  // Neighbours just outside the prefix.
  await kvs.put('many', 'outside');
  await kvs.put('many0', 'outside');
});

const utf8 = (text: string) => new TextEncoder().encode(text);
const keysOf = (items: ListItem[]) => items.map((item) => item.key);

async function collect(iterable: AsyncIterable<ListItem>): Promise<string[]> {
  const keys: string[] = [];
  for await (const item of iterable) keys.push(item.key);
  return keys;
}

describe('list', () => {
  it('awaited, is one page: its items, a cursor for the next, and the revision it was read at', async () => {
    const spy = fetchSpy();
    const client = new KvsClient({ url: server.url, fetch: spy.fetch });
    const first = await client.list({ prefix: MANY_PREFIX, limit: 100 });
    assert.equal(spy.sent().length, 1, 'awaiting a listing makes one request');
    assert.deepEqual(keysOf(first.items), manyKeys.slice(0, 100));
    assert.equal(typeof first.cursor, 'string');
    assert.ok(first.revision >= manyRevision, `read at ${first.revision}, written at ${manyRevision}`);
    assert.deepEqual(first.prefixes, []);
    const second = await client.list({ prefix: MANY_PREFIX, limit: 100, cursor: first.cursor! });
    assert.deepEqual(keysOf(second.items), manyKeys.slice(100, 200));
    const last = await client.list({ prefix: MANY_PREFIX, limit: 100, cursor: second.cursor! });
    assert.deepEqual(keysOf(last.items), manyKeys.slice(200));
    assert.equal(last.cursor, null);
  });

  it('for await, walks every page: each key once, in order, none skipped', async () => {
    const spy = fetchSpy();
    const client = new KvsClient({ url: server.url, fetch: spy.fetch });
    assert.deepEqual(await collect(client.list({ prefix: MANY_PREFIX, limit: 7 })), manyKeys);
    assert.equal(spy.sent().length, Math.ceil(MANY / 7), 'one request per page');
    for (const call of spy.sent()) assert.match(call.path, /limit=7/);
    // Without a limit: the server's default page size, still every key.
    assert.deepEqual(await collect(kvs.list({ prefix: MANY_PREFIX })), manyKeys);
  });

  it('pages() yields whole pages, the last with a null cursor', async () => {
    const pages: ListPage[] = [];
    for await (const page of kvs.list({ prefix: MANY_PREFIX, limit: 60 }).pages()) pages.push(page);
    assert.deepEqual(
      pages.map((page) => page.items.length),
      [60, 60, 60, 60, 10],
    );
    assert.deepEqual(
      pages.flatMap((page) => keysOf(page.items)),
      manyKeys,
    );
    assert.ok(pages.slice(0, -1).every((page) => typeof page.cursor === 'string'));
    assert.equal(pages.at(-1)!.cursor, null);
  });

  it('start (inclusive) and end (exclusive) bound the range, and intersect with prefix', async () => {
    assert.deepEqual(await collect(kvs.list({ start: 'many/010', end: 'many/020' })), manyKeys.slice(10, 20));
    assert.deepEqual(await collect(kvs.list({ prefix: MANY_PREFIX, start: 'many/245' })), manyKeys.slice(245));
    assert.deepEqual(await collect(kvs.list({ prefix: MANY_PREFIX, end: 'many/003' })), manyKeys.slice(0, 3));
    // Without the prefix, the neighbours are in range too.
    assert.deepEqual(await collect(kvs.list({ start: 'many', end: 'many/001' })), ['many', 'many/000']);
  });

  it('reverse walks descending, across pages too', async () => {
    const page = await kvs.list({ prefix: MANY_PREFIX, reverse: true, limit: 3 });
    assert.deepEqual(keysOf(page.items), ['many/249', 'many/248', 'many/247']);
    assert.deepEqual(await collect(kvs.list({ prefix: MANY_PREFIX, reverse: true, limit: 9 })), [...manyKeys].reverse());
    assert.deepEqual(await collect(kvs.list({ start: 'many/010', end: 'many/020', reverse: true, limit: 4 })), manyKeys.slice(10, 20).reverse());
  });

  it("values adds each item's value (text, JSON, bytes); items carry every field; without values, text() throws", async () => {
    const startedAt = Date.now();
    const text = await kvs.put('vals/text', 'héllo');
    await kvs.put('vals/json', { a: [1, 2] });
    await kvs.put('vals/bin', new Uint8Array([0, 0xff, 0x80]), { ttlSeconds: 600 });
    const items = (await kvs.list({ prefix: 'vals/', values: true })).items;
    assert.deepEqual(keysOf(items), ['vals/bin', 'vals/json', 'vals/text']);
    const [bin, json, plain] = items as [ListItem, ListItem, ListItem];
    assert.deepEqual(bin.value, new Uint8Array([0, 0xff, 0x80]));
    assert.equal(bin.contentType, 'application/octet-stream');
    assert.equal(bin.size, 3);
    assert.ok(bin.expiresAt instanceof Date && bin.expiresAt.getTime() >= startedAt + 600_000 - 1, String(bin.expiresAt));
    assert.deepEqual(json.json(), { a: [1, 2] });
    assert.equal(json.contentType, 'application/json');
    assert.equal(json.expiresAt, null);
    assert.equal(plain.text(), 'héllo');
    assert.deepEqual(plain.value, utf8('héllo'));
    assert.equal(plain.size, utf8('héllo').length);
    assert.deepEqual(
      { revision: plain.revision, createRevision: plain.createRevision, version: plain.version },
      { revision: text.revision, createRevision: text.revision, version: 1 },
    );

    const bare = (await kvs.list({ prefix: 'vals/' })).items;
    assert.deepEqual(keysOf(bare), keysOf(items));
    assert.equal(bare[2]!.value, undefined);
    assert.equal(bare[2]!.size, plain.size);
    assert.throws(() => bare[2]!.text(), /without its value/);
    assert.throws(() => bare[1]!.json(), /without its value/);
  });

  it('delimiter rolls keys up into prefixes (each counts toward the limit, across pages too)', async () => {
    for (const key of ['dl/a/1', 'dl/a/2', 'dl/b/x/1', 'dl/c', 'dl/d', 'dl/e/1']) await kvs.put(key, key);
    const page = await kvs.list({ prefix: 'dl/', delimiter: '/' });
    assert.deepEqual(keysOf(page.items), ['dl/c', 'dl/d']);
    assert.deepEqual(page.prefixes, ['dl/a/', 'dl/b/', 'dl/e/']);
    assert.equal(page.cursor, null);

    const pages: ListPage[] = [];
    for await (const small of kvs.list({ prefix: 'dl/', delimiter: '/', limit: 2 }).pages()) pages.push(small);
    assert.ok(pages.length >= 3, `${pages.length} pages of at most 2`);
    for (const small of pages) assert.ok(small.items.length + small.prefixes.length <= 2, JSON.stringify(small));
    assert.deepEqual(
      pages.flatMap((small) => small.prefixes),
      ['dl/a/', 'dl/b/', 'dl/e/'],
    );
    assert.deepEqual(
      pages.flatMap((small) => keysOf(small.items)),
      ['dl/c', 'dl/d'],
    );
  });

  it('an invalid page size is InvalidRequestError', async () => {
    await rejectsWith(kvs.list({ limit: 0 }), InvalidRequestError, { status: 400, code: 'invalid_request' });
    await rejectsWith(kvs.list({ limit: (await kvs.limits()).maxListLimit + 1 }), InvalidRequestError);
  });
});

describe('txn', () => {
  it('with passing checks, applies every op at one revision and returns typed results in order', async () => {
    const startedAt = Date.now();
    const a = await kvs.put('txn/a', 'old');
    await kvs.put('txn/gone', 'bye');
    await kvs.put('txn/n', 10);
    const read = await kvs.put('txn/read', { r: 1 });
    const readBytes = await kvs.put('txn/read-bin', new Uint8Array([9, 0, 255]));
    const bytes = new Uint8Array([0, 255, 1, 254, 128, 0x2b, 0x2f]);

    const result = await kvs.txn({
      checks: [
        { key: 'txn/a', revision: a.revision },
        { key: 'txn/new', exists: false },
        { key: 'txn/never', revision: 0 },
      ],
      ops: [
        { op: 'put', key: 'txn/a', value: { x: 1 } },
        { op: 'put', key: 'txn/bin', value: bytes },
        { op: 'put', key: 'txn/text', value: 'plain', encoding: 'utf8', ttl: 60 },
        { op: 'put', key: 'txn/typed', value: 'PGEvPg==', encoding: 'base64', contentType: 'application/xml' },
        { op: 'delete', key: 'txn/gone' },
        { op: 'delete', key: 'txn/never' },
        { op: 'add', key: 'txn/n', by: 5 },
        { op: 'get', key: 'txn/read' },
        { op: 'get', key: 'txn/read-bin' },
        { op: 'get', key: 'txn/missing' },
      ],
    });
    const revision = result.revision;
    assert.ok(revision > readBytes.revision);
    const [putA, putBin, putText, putTyped, deleted, notDeleted, added, got, gotBin, missing] = result.results;
    assert.deepEqual(putA, { op: 'put', key: 'txn/a', revision, createRevision: a.revision, version: 2, expiresAt: null, created: false });
    assert.deepEqual(putBin, { op: 'put', key: 'txn/bin', revision, createRevision: revision, version: 1, expiresAt: null, created: true });
    assert.ok(
      putText?.op === 'put' && putText.created && putText.expiresAt instanceof Date && putText.expiresAt.getTime() >= startedAt + 60_000 - 1,
      JSON.stringify(putText),
    );
    assert.ok(putTyped?.op === 'put' && putTyped.created);
    assert.deepEqual(deleted, { op: 'delete', key: 'txn/gone', deleted: true });
    assert.deepEqual(notDeleted, { op: 'delete', key: 'txn/never', deleted: false });
    assert.deepEqual(added, { op: 'add', key: 'txn/n', value: 15, revision, version: 2 });

    assert.ok(got?.op === 'get' && got.entry instanceof Entry, JSON.stringify(got));
    assert.equal(got.key, 'txn/read');
    assert.deepEqual(got.entry.json(), { r: 1 });
    assert.equal(got.entry.key, 'txn/read');
    assert.equal(got.entry.contentType, 'application/json');
    assert.deepEqual(
      { revision: got.entry.revision, createRevision: got.entry.createRevision, version: got.entry.version },
      { revision: read.revision, createRevision: read.revision, version: 1 },
    );
    assert.ok(gotBin?.op === 'get' && gotBin.entry !== null);
    assert.deepEqual(gotBin.entry.value, new Uint8Array([9, 0, 255]));
    assert.equal(gotBin.entry.contentType, 'application/octet-stream');
    assert.deepEqual(missing, { op: 'get', key: 'txn/missing', entry: null });

    // What the ops wrote, read back.
    const bin = (await kvs.get('txn/bin'))!;
    assert.deepEqual(bin.value, bytes, 'a Uint8Array put in a txn is stored as those bytes');
    assert.equal(bin.contentType, 'application/octet-stream');
    assert.equal((await kvs.get('txn/text'))!.contentType, 'text/plain; charset=utf-8');
    const typed = (await kvs.get('txn/typed'))!;
    assert.equal(typed.contentType, 'application/xml');
    assert.equal(typed.text(), '<a/>');
    assert.deepEqual((await kvs.get('txn/a'))!.json(), { x: 1 });
    assert.equal(await kvs.get('txn/gone'), null);
    for (const key of ['txn/a', 'txn/bin', 'txn/text', 'txn/n']) assert.equal((await kvs.get(key))!.revision, revision, `${key} changed at the txn's revision`);
  });

  it('with a failing check, applies nothing: TxnConflictError lists the failed checks', async () => {
    const a = await kvs.put('conflict/a', 1);
    await kvs.put('conflict/a', 2);
    await kvs.put('conflict/b', 'here');
    const conflict = await rejectsWith(
      kvs.txn({
        checks: [
          { key: 'conflict/a', revision: a.revision },
          { key: 'conflict/b', exists: true },
          { key: 'conflict/c', exists: true },
          { key: 'conflict/b', revision: 0 },
        ],
        ops: [
          { op: 'put', key: 'conflict/new', value: 'must not appear' },
          { op: 'delete', key: 'conflict/b' },
          { op: 'add', key: 'conflict/n' },
        ],
      }),
      TxnConflictError,
      { status: 409, code: 'txn_conflict' },
    );
    assert.deepEqual(conflict.failedChecks, [0, 2, 3]);
    assert.equal(await kvs.get('conflict/new'), null);
    assert.equal(await kvs.get('conflict/n'), null);
    assert.equal((await kvs.get('conflict/b'))!.text(), 'here');
  });

  it("a get result's Entry carries the key's expiresAt", async () => {
    const startedAt = Date.now();
    await kvs.put('txn-ttl/k', 'v', { ttlSeconds: 300 });
    const [result] = (await kvs.txn({ ops: [{ op: 'get', key: 'txn-ttl/k' }] })).results;
    assert.ok(result?.op === 'get' && result.entry !== null);
    assert.ok(
      result.entry.expiresAt instanceof Date && result.entry.expiresAt.getTime() >= startedAt + 300_000 - 1,
      `expiresAt ${String(result.entry.expiresAt)}`,
    );
  });

  it('a txn of only gets reads at one revision; a key twice in ops is InvalidRequestError', async () => {
    const first = await kvs.put('quiet/a', 'A');
    const second = await kvs.put('quiet/b', 'B');
    const reads = await kvs.txn({
      ops: [
        { op: 'get', key: 'quiet/a' },
        { op: 'get', key: 'quiet/b' },
      ],
    });
    assert.ok(reads.revision >= second.revision);
    const entries = reads.results.map((result) => (result.op === 'get' ? result.entry : null));
    assert.deepEqual(
      entries.map((entry) => [entry?.text(), entry?.revision]),
      [
        ['A', first.revision],
        ['B', second.revision],
      ],
    );
    await rejectsWith(
      kvs.txn({
        ops: [
          { op: 'put', key: 'quiet/x', value: 1 },
          { op: 'delete', key: 'quiet/x' },
        ],
      }),
      InvalidRequestError,
      { code: 'invalid_request' },
    );
  });

  it("a malformed request (from JavaScript without types) is the server's InvalidRequestError, never a TypeError", async () => {
    const malformed: unknown[] = [{ ops: {} }, { ops: [null] }, { ops: [3, 'put'] }, { ops: 'all' }, { checks: {}, ops: [] }, { checks: [null] }];
    for (const request of malformed) {
      const error = await rejectsWith(kvs.txn(request as TxnRequest), InvalidRequestError, { status: 400, code: 'invalid_request' });
      assert.match(error.detail, /must be (an array|a JSON object)/, JSON.stringify(request));
    }
  });
});
