import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CounterOverflowError,
  Entry,
  InvalidRequestError,
  KvsClient,
  NotACounterError,
  PreconditionFailedError,
  type WriteResult,
} from '../../src/client/index.js';
import { pollUntil } from '../helpers/assertions.js';
import { request } from '../helpers/http.js';
import { rejectsWith } from '../helpers/sdk.js';
import { TEST_ENGINE, useTestServer } from '../helpers/server.js';
import { differencesOf } from '../engine/differences.js';

/**
 * The SDK (src/client) against a real server: single keys, prefix deletes,
 * counters, long-polls, service routes, export/import and backup. Listings and
 * transactions: client-list.test.ts; the change feed: client-watch.test.ts;
 * errors and retries: client-errors.test.ts; constructing a client and the
 * package entry: client-package.test.ts.
 */

let kvs: KvsClient;

const server = useTestServer({}, () => {
  kvs = new KvsClient({ url: server.url });
});

const utf8 = (text: string) => new TextEncoder().encode(text);

/** A fresh key prefix per test, so that tests never see each other's keys. */
let prefixes = 0;
const fresh = (name: string) => `${name}-${++prefixes}/`;

/** `get` of a key that must exist. */
async function mustGet(key: string): Promise<Entry> {
  const entry = await kvs.get(key);
  assert.ok(entry !== null, `${key} is missing`);
  return entry;
}

/** The deadline of a write made between `startedAt` and now with a TTL of `ttlSeconds`, within clock ticks. */
function assertDeadline(expiresAt: Date | null, startedAt: number, ttlSeconds: number): void {
  assert.ok(expiresAt instanceof Date, `expiresAt is ${String(expiresAt)}`);
  const ms = expiresAt.getTime();
  assert.ok(
    ms >= startedAt + ttlSeconds * 1000 - 1 && ms <= Date.now() + ttlSeconds * 1000 + 1,
    `deadline ${expiresAt.toISOString()} for a ${ttlSeconds} s TTL set at ${new Date(startedAt).toISOString()}`,
  );
}

describe('get', () => {
  it('returns an Entry with the value bytes and every field the server sent', async () => {
    const key = `${fresh('get')}k`;
    const startedAt = Date.now();
    const first = await kvs.put(key, 'héllo ✓', { ttlSeconds: 120 });
    const second = await kvs.put(key, 'wörld', { ttlSeconds: 120 });
    const entry = await mustGet(key);
    assert.ok(entry instanceof Entry);
    assert.equal(entry.key, key);
    assert.ok(entry.value instanceof Uint8Array);
    assert.deepEqual(entry.value, utf8('wörld'));
    assert.equal(entry.text(), 'wörld');
    assert.equal(entry.contentType, 'text/plain; charset=utf-8');
    assert.equal(entry.revision, second.revision);
    assert.ok(second.revision > first.revision);
    assert.equal(entry.createRevision, first.revision);
    assert.equal(entry.version, 2);
    assertDeadline(entry.expiresAt, startedAt, 120);
    assert.equal(entry.expiresAt!.getTime(), second.expiresAt!.getTime());
    // The same fields as the raw response's headers.
    const raw = await fetch(`${server.url}/v1/kv/${key}`);
    assert.equal(raw.headers.get('etag'), `"${entry.revision}"`);
    assert.equal(raw.headers.get('kv-create-revision'), String(entry.createRevision));
    assert.equal(raw.headers.get('kv-expires-at'), entry.expiresAt!.toISOString());
  });

  it('json() parses a JSON value; text() of a JSON value is its stored text', async () => {
    const key = `${fresh('get')}json`;
    await kvs.put(key, { mode: 'blue', n: [1, 2, { deep: null }] });
    const entry = await mustGet(key);
    assert.deepEqual(entry.json(), { mode: 'blue', n: [1, 2, { deep: null }] });
    assert.equal(entry.text(), '{"mode":"blue","n":[1,2,{"deep":null}]}');
    assert.equal(entry.contentType, 'application/json');
    await kvs.put(key, 'not json');
    const text = await mustGet(key);
    assert.equal(text.text(), 'not json');
    assert.throws(() => text.json(), SyntaxError);
  });

  it('is null for a key that does not exist, or no longer does', async () => {
    const key = `${fresh('get')}gone`;
    assert.equal(await kvs.get(key), null);
    await kvs.put(key, 'here');
    assert.notEqual(await kvs.get(key), null);
    await kvs.delete(key);
    assert.equal(await kvs.get(key), null);
  });

  it("keys with '/', '%', spaces, '?', '#', '+', quotes, newlines and non-ASCII round-trip exactly", async () => {
    const prefix = fresh('chars');
    const names = [
      'a b',
      '100%',
      '%2F',
      'a%2Fb',
      '%252F',
      'what?x=1&y=2',
      '#hash',
      'plus+sign',
      'semi;colon,comma',
      `q'uo"te`,
      'line\nbreak',
      'back\\slash',
      'dots/%2e%2e/%2E',
      '.hidden/..more',
      'ключ/日本語/🎉',
      'deep/er/still/',
    ];
    const keys = names.map((name) => `${prefix}${name}`);
    for (const key of keys) await kvs.put(key, key);
    for (const key of keys) {
      const entry = await mustGet(key);
      assert.equal(entry.key, key);
      assert.equal(entry.text(), key, `the value stored under ${JSON.stringify(key)}`);
    }
    // Each is its own key: `%2F` was not taken for `/`, nor `%252F` for `%2F`.
    assert.equal(await kvs.get(`${prefix}a/b`), null);
    const listed = (await kvs.list({ prefix, values: true, limit: 100 })).items;
    const byBytes = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    assert.deepEqual(
      listed.map((item) => item.key),
      byBytes,
    );
    for (const item of listed) assert.equal(item.text(), item.key);
    for (const key of keys) assert.equal(await kvs.delete(key), true, `delete ${JSON.stringify(key)}`);
    assert.deepEqual((await kvs.list({ prefix })).items, []);
  });
});

describe('put', () => {
  it('stores a string as UTF-8 with text/plain; charset=utf-8', async () => {
    const key = `${fresh('put')}text`;
    await kvs.put(key, 'naïve — 日本 🎉');
    const entry = await mustGet(key);
    assert.equal(entry.contentType, 'text/plain; charset=utf-8');
    assert.deepEqual(entry.value, utf8('naïve — 日本 🎉'));
  });

  it('stores a Uint8Array (and an ArrayBuffer) byte for byte as application/octet-stream', async () => {
    const prefix = fresh('put');
    const every = new Uint8Array(256).map((_, index) => 255 - index);
    await kvs.put(`${prefix}bytes`, every);
    const entry = await mustGet(`${prefix}bytes`);
    assert.equal(entry.contentType, 'application/octet-stream');
    assert.deepEqual(entry.value, every);
    // A view into a larger buffer sends only its own bytes.
    await kvs.put(`${prefix}view`, every.subarray(10, 14));
    assert.deepEqual((await mustGet(`${prefix}view`)).value, new Uint8Array([245, 244, 243, 242]));
    await kvs.put(`${prefix}buffer`, new Uint8Array([0, 0xff, 0xc3]).buffer);
    assert.deepEqual((await mustGet(`${prefix}buffer`)).value, new Uint8Array([0, 0xff, 0xc3]));
    await kvs.put(`${prefix}empty`, new Uint8Array(0));
    assert.equal((await mustGet(`${prefix}empty`)).value.length, 0);
  });

  it('stores objects, arrays, numbers, booleans and null as application/json', async () => {
    const prefix = fresh('put');
    const values = { object: { a: 1, b: { c: [true, null] } }, array: [1, 'two', { three: 3 }], number: 42.5, negative: -7, boolean: false, null: null };
    for (const [name, value] of Object.entries(values)) await kvs.put(`${prefix}${name}`, value);
    for (const [name, value] of Object.entries(values)) {
      const entry = await mustGet(`${prefix}${name}`);
      assert.equal(entry.contentType, 'application/json', name);
      assert.deepEqual(entry.json(), value, name);
    }
  });

  it('contentType overrides the inferred type, for text and for bytes', async () => {
    const prefix = fresh('put');
    await kvs.put(`${prefix}csv`, 'a,b\n1,2', { contentType: 'text/csv' });
    await kvs.put(`${prefix}png`, new Uint8Array([0x89, 0x50, 0x4e, 0x47]), { contentType: 'image/png' });
    await kvs.put(`${prefix}json-text`, '{"already":"json"}', { contentType: 'application/json' });
    assert.equal((await mustGet(`${prefix}csv`)).contentType, 'text/csv');
    assert.equal((await mustGet(`${prefix}png`)).contentType, 'image/png');
    const jsonText = await mustGet(`${prefix}json-text`);
    assert.equal(jsonText.contentType, 'application/json');
    assert.deepEqual(jsonText.json(), { already: 'json' });
  });

  it('ttlSeconds sets expiresAt (ms precision) and the key expires; a put without it clears the TTL', async () => {
    const prefix = fresh('put');
    const startedAt = Date.now();
    const written = await kvs.put(`${prefix}ttl`, 'v', { ttlSeconds: 90.25 });
    assertDeadline(written.expiresAt, startedAt, 90.25);
    assert.equal((await mustGet(`${prefix}ttl`)).expiresAt!.getTime(), written.expiresAt!.getTime());
    const cleared = await kvs.put(`${prefix}ttl`, 'v2');
    assert.equal(cleared.expiresAt, null);
    assert.equal((await mustGet(`${prefix}ttl`)).expiresAt, null);

    await kvs.put(`${prefix}short`, 'soon gone', { ttlSeconds: 0.3 });
    await pollUntil(async () => (await kvs.get(`${prefix}short`)) === null, 'the key with a 0.3 s TTL expires', 5_000);
  });

  it('created is true when the put created the key, false when it replaced it; version counts writes', async () => {
    const key = `${fresh('put')}k`;
    const created = await kvs.put(key, 1);
    assert.deepEqual(created, { key, revision: created.revision, createRevision: created.revision, version: 1, expiresAt: null, created: true });
    const replaced = await kvs.put(key, 2);
    assert.deepEqual(replaced, { key, revision: replaced.revision, createRevision: created.revision, version: 2, expiresAt: null, created: false });
    assert.ok(replaced.revision > created.revision);
  });

  it('ifRevision is a compare-and-swap: it writes at that revision, else PreconditionFailedError with currentRevision', async () => {
    const prefix = fresh('cas');
    const first = await kvs.put(`${prefix}k`, 'one');
    const second = await kvs.put(`${prefix}k`, 'two', { ifRevision: first.revision });
    assert.equal(second.version, 2);
    assert.equal(second.created, false);
    const stale = await rejectsWith(kvs.put(`${prefix}k`, 'three', { ifRevision: first.revision }), PreconditionFailedError, {
      status: 412,
      code: 'precondition_failed',
    });
    assert.equal(stale.currentRevision, second.revision);
    assert.equal((await mustGet(`${prefix}k`)).text(), 'two', 'a failed CAS writes nothing');
    const absent = await rejectsWith(kvs.put(`${prefix}missing`, 'x', { ifRevision: first.revision }), PreconditionFailedError);
    assert.equal(absent.currentRevision, null);
    assert.equal(await kvs.get(`${prefix}missing`), null);
  });

  it('ifAbsent creates only: a second create is PreconditionFailedError naming the existing revision', async () => {
    const key = `${fresh('create')}k`;
    const created = await kvs.put(key, 'first', { ifAbsent: true });
    assert.equal(created.created, true);
    const refused = await rejectsWith(kvs.put(key, 'second', { ifAbsent: true }), PreconditionFailedError);
    assert.equal(refused.currentRevision, created.revision);
    assert.equal((await mustGet(key)).text(), 'first');
  });
});

describe('delete and deletePrefix', () => {
  it('delete is true when the key existed, false when it did not', async () => {
    const key = `${fresh('del')}k`;
    await kvs.put(key, 'v');
    assert.equal(await kvs.delete(key), true);
    assert.equal(await kvs.get(key), null);
    assert.equal(await kvs.delete(key), false);
  });

  it('delete with ifRevision deletes only at that revision, else PreconditionFailedError', async () => {
    const key = `${fresh('del')}k`;
    const first = await kvs.put(key, 'v1');
    const second = await kvs.put(key, 'v2');
    const refused = await rejectsWith(kvs.delete(key, { ifRevision: first.revision }), PreconditionFailedError);
    assert.equal(refused.currentRevision, second.revision);
    assert.equal((await mustGet(key)).text(), 'v2');
    assert.equal(await kvs.delete(key, { ifRevision: second.revision }), true);
    assert.equal(await kvs.get(key), null);
  });

  it('deletePrefix deletes every key under the prefix at one revision; dryRun only counts them', async () => {
    const prefix = fresh('dp');
    const writes: WriteResult[] = [];
    for (let i = 0; i < 5; i++) writes.push(await kvs.put(`${prefix}${i}`, i));
    const outside = `${prefix.slice(0, -1)}0`; // the prefix without its '/' plus a character: not under it
    await kvs.put(outside, 'stays');

    assert.deepEqual(await kvs.deletePrefix(prefix, { dryRun: true }), { matched: 5 });
    assert.equal((await kvs.list({ prefix })).items.length, 5, 'a dry run deletes nothing');

    const result = await kvs.deletePrefix(prefix);
    assert.equal(result.deleted, 5);
    assert.ok(result.revision > writes.at(-1)!.revision);
    assert.deepEqual((await kvs.list({ prefix })).items, []);
    assert.equal((await mustGet(outside)).text(), 'stays');
    assert.equal((await kvs.deletePrefix(prefix)).deleted, 0);
    await rejectsWith(kvs.deletePrefix(''), InvalidRequestError, { status: 400, code: 'invalid_request' });
  });
});

describe('add (counters)', () => {
  it('adds 1 by default to a missing key (as 0), then any integer, negative too; the value is JSON', async () => {
    const key = `${fresh('add')}n`;
    const one = await kvs.add(key);
    assert.deepEqual(one, { key, value: 1, revision: one.revision, version: 1 });
    const six = await kvs.add(key, 5);
    assert.equal(six.value, 6);
    assert.equal(six.version, 2);
    assert.ok(six.revision > one.revision);
    assert.equal((await kvs.add(key, -10)).value, -4);
    const entry = await mustGet(key);
    assert.equal(entry.contentType, 'application/json');
    assert.equal(entry.json(), -4);
  });

  it('a value that is not a JSON integer is NotACounterError; a result beyond ±(2^53−1) is CounterOverflowError', async () => {
    const prefix = fresh('add');
    for (const [name, value] of [
      ['text', 'seven'],
      ['fraction', 1.5],
      ['object', { n: 1 }],
    ] as const) {
      await kvs.put(`${prefix}${name}`, value);
      await rejectsWith(kvs.add(`${prefix}${name}`), NotACounterError, { status: 409, code: 'not_a_counter' });
    }
    await kvs.put(`${prefix}max`, Number.MAX_SAFE_INTEGER - 1);
    assert.equal((await kvs.add(`${prefix}max`)).value, Number.MAX_SAFE_INTEGER);
    await rejectsWith(kvs.add(`${prefix}max`), CounterOverflowError, { status: 409, code: 'counter_overflow' });
    assert.equal((await mustGet(`${prefix}max`)).json(), Number.MAX_SAFE_INTEGER);
    await kvs.put(`${prefix}min`, -Number.MAX_SAFE_INTEGER);
    await rejectsWith(kvs.add(`${prefix}min`, -1), CounterOverflowError);
  });

  it('ifRevision adds only at that revision, else PreconditionFailedError', async () => {
    const key = `${fresh('add')}cas`;
    const first = await kvs.add(key, 2);
    const second = await kvs.add(key, 3, { ifRevision: first.revision });
    assert.equal(second.value, 5);
    const refused = await rejectsWith(kvs.add(key, 100, { ifRevision: first.revision }), PreconditionFailedError);
    assert.equal(refused.currentRevision, second.revision);
    assert.equal((await mustGet(key)).json(), 5);
  });
});

describe('waitForChange (long-poll)', () => {
  it('is changed, with the new entry, once the key is written', async () => {
    const key = `${fresh('wait')}k`;
    const written = await kvs.put(key, 'before');
    const waiting = kvs.waitForChange(key, { revision: written.revision, seconds: 10 });
    setTimeout(() => void kvs.put(key, 'after'), 200);
    const result = await waiting;
    assert.equal(result.status, 'changed');
    assert.ok(result.status === 'changed');
    assert.equal(result.entry.text(), 'after');
    assert.ok(result.entry.revision > written.revision);
    assert.equal(result.entry.version, 2);
  });

  it('is deleted when the key is deleted, or missing from the start', async () => {
    const key = `${fresh('wait')}k`;
    const written = await kvs.put(key, 'v');
    const waiting = kvs.waitForChange(key, { revision: written.revision, seconds: 10 });
    setTimeout(() => void kvs.delete(key), 200);
    assert.deepEqual(await waiting, { status: 'deleted' });
    assert.deepEqual(await kvs.waitForChange(key, { revision: written.revision, seconds: 1 }), { status: 'deleted' });
  });

  it('is unchanged when nothing changed within the wait; changed at once when the key is already past the revision', async () => {
    const key = `${fresh('wait')}k`;
    const first = await kvs.put(key, 'one');
    const startedAt = Date.now();
    assert.deepEqual(await kvs.waitForChange(key, { revision: first.revision, seconds: 1 }), { status: 'unchanged' });
    assert.ok(Date.now() - startedAt >= 900, `answered after ${Date.now() - startedAt} ms of a 1 s wait`);
    await kvs.put(key, 'two');
    const quick = Date.now();
    const result = await kvs.waitForChange(key, { revision: first.revision, seconds: 30 });
    assert.ok(result.status === 'changed' && result.entry.text() === 'two', JSON.stringify(result));
    assert.ok(Date.now() - quick < 5_000);
  });
});

describe('status, limits, me, ready', () => {
  it('status reports the store revision, key count, engine and version', async () => {
    const written = await kvs.put(`${fresh('status')}k`, 1);
    const status = await kvs.status();
    assert.deepEqual(Object.keys(status).sort(), ['compactRevision', 'engine', 'keys', 'revision', 'uptimeSeconds', 'version']);
    assert.equal(status.engine, TEST_ENGINE);
    assert.equal(status.version, 'test');
    assert.ok(status.revision >= written.revision, `status revision ${status.revision}, last write ${written.revision}`);
    assert.ok(status.keys >= 1);
    assert.ok(status.uptimeSeconds >= 0);
    assert.equal(typeof status.compactRevision, 'number');
  });

  it("limits are the server's /v1/limits", async () => {
    const limits = await kvs.limits();
    assert.deepEqual(limits, (await request(`${server.url}/v1/limits`)).body);
    assert.equal(limits.maxListLimit, 1000);
    assert.ok(limits.maxValueBytes > 0 && limits.maxTxnOps > 0);
  });

  it("me is the server's /v1/auth/me (no tokens: the local client, admin)", async () => {
    assert.deepEqual(await kvs.me(), { name: 'local', admin: true, grants: [] });
  });

  it('ready is true for a serving server (false for a 503: client-errors.test.ts)', async () => {
    assert.equal(await kvs.ready(), true);
  });
});

describe('export and import', () => {
  it('imports NDJSON (a string or bytes) and exports the same records back', async () => {
    const prefix = fresh('io');
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const records = [
      { key: `${prefix}a`, value: Buffer.from('hello').toString('base64'), contentType: 'text/plain' },
      { key: `${prefix}b`, value: Buffer.from([0, 1, 254, 255]).toString('base64'), contentType: 'application/octet-stream' },
      { key: `${prefix}c`, value: Buffer.from('{"x":1}').toString('base64'), contentType: 'application/json', expiresAt },
    ];
    const before = await kvs.status();
    const imported = await kvs.import(records.map((record) => JSON.stringify(record)).join('\n') + '\n');
    assert.equal(imported.imported, 3);
    assert.ok(imported.revision > before.revision);
    assert.equal((await mustGet(`${prefix}a`)).text(), 'hello');
    assert.deepEqual((await mustGet(`${prefix}b`)).value, new Uint8Array([0, 1, 254, 255]));
    const c = await mustGet(`${prefix}c`);
    assert.deepEqual(c.json(), { x: 1 });
    assert.equal(c.expiresAt?.toISOString(), expiresAt);

    const exported = [];
    for await (const record of kvs.export(prefix)) exported.push(record);
    assert.deepEqual(exported, records);

    // Bytes import the same; an export can be stopped early.
    const copy = records.map((record) => JSON.stringify({ ...record, key: record.key.replace(prefix, `${prefix}copy/`) })).join('\n');
    assert.equal((await kvs.import(utf8(copy))).imported, 3);
    for await (const record of kvs.export(`${prefix}copy/`)) {
      assert.equal(record.key, `${prefix}copy/a`);
      break;
    }
    assert.equal((await mustGet(`${prefix}copy/b`)).value.length, 4);
  });

  it("imports the original server's data file with format 'seed'; a bad import applies nothing", async () => {
    const prefix = fresh('seed');
    const file = JSON.stringify({ [`${prefix}obj`]: { x: [1, 2] }, [`${prefix}str`]: 'text', [`${prefix}num`]: 5 });
    assert.equal((await kvs.import(file, { format: 'seed' })).imported, 3);
    assert.deepEqual((await mustGet(`${prefix}obj`)).json(), { x: [1, 2] });
    assert.equal((await mustGet(`${prefix}str`)).json(), 'text');
    assert.equal((await mustGet(`${prefix}num`)).json(), 5);

    const bad = `${JSON.stringify({ key: `${prefix}ok`, value: 'aGk=', contentType: 'text/plain' })}\n{"key": 5}\n`;
    await rejectsWith(kvs.import(bad), InvalidRequestError, { status: 400 });
    assert.equal(await kvs.get(`${prefix}ok`), null);
  });
});

describe('backup', () => {
  it(
    'streams a snapshot with its revision, size and SHA-256',
    { skip: differencesOf(TEST_ENGINE).capabilities.snapshotBackup ? false : 'the engine has no local store to back up' },
    async () => {
      const written = await kvs.put(`${fresh('backup')}k`, 'in the snapshot');
      const backup = await kvs.backup();
      assert.ok(backup.revision >= written.revision, `backup revision ${backup.revision}, last write ${written.revision}`);
      const bytes = Buffer.from(await new Response(backup.body).arrayBuffer());
      assert.ok(bytes.length > 0);
      assert.equal(backup.size, bytes.length);
      const { createHash } = await import('node:crypto');
      assert.equal(backup.sha256, createHash('sha256').update(bytes).digest('base64'));
    },
  );
});
