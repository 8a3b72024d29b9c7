import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeKey, expectProblem, postJson, putValue, request, type JsonResponse } from '../helpers/http.js';
import { TEST_ENGINE, useTestServer } from '../helpers/server.js';
import { differencesOf, expectedMaxTxnOps, expectedMaxValueBytes } from '../engine/differences.js';

/** How the engine under test differs from the other, each with its reason (test/engine/differences.ts). */
const ENGINE = differencesOf(TEST_ENGINE);

/**
 * Transactions over real HTTP: `POST /v1/txn` (API.md §2, §5, §8).
 */
let base: string;

const server = useTestServer({}, () => {
  base = server.url;
});

const MIB = 1024 * 1024;

function txn(body: unknown): Promise<JsonResponse> {
  return postJson(`${base}/v1/txn`, body);
}

function rawTxn(body: string | Buffer, contentType = 'application/json'): Promise<JsonResponse> {
  return request(`${base}/v1/txn`, { method: 'POST', headers: { 'content-type': contentType }, body });
}

async function committed(body: unknown): Promise<{ committed: true; revision: number; results: any[] }> {
  const response = await txn(body);
  assert.equal(response.status, 200, response.text);
  assert.equal(response.body.committed, true);
  return response.body;
}

async function storeRevision(): Promise<number> {
  const response = await request(`${base}/v1/status`);
  assert.equal(response.status, 200);
  return response.body.revision;
}

async function getRaw(key: string): Promise<{ status: number; headers: Headers; bytes: Buffer }> {
  const response = await fetch(`${base}/v1/kv/${encodeKey(key)}`);
  return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

describe('applying operations', () => {
  it('applies put, delete, add and get atomically at one revision, with results in order', async () => {
    const doomed = await putValue(base, 'atom/c', 'bye');
    const readable = await putValue(base, 'atom/d', '{"hello":"world"}', { headers: { 'content-type': 'application/json' } });
    await putValue(base, 'atom/n', '40', { headers: { 'content-type': 'application/json' } });
    const before = await storeRevision();
    assert.ok(before >= doomed.body.revision);

    const body = await committed({
      ops: [
        { op: 'put', key: 'atom/a', value: { x: 1 } },
        { op: 'put', key: 'atom/b', value: 'aGk=', encoding: 'base64' },
        { op: 'delete', key: 'atom/c' },
        { op: 'add', key: 'atom/n', by: 2 },
        { op: 'get', key: 'atom/d' },
        { op: 'get', key: 'atom/missing' },
      ],
    });
    const revision = body.revision;
    assert.equal(revision, before + 1);
    assert.equal(await storeRevision(), revision);

    assert.equal(body.results.length, 6);
    assert.equal(body.results[0].key, 'atom/a');
    assert.equal(body.results[0].revision, revision);
    assert.equal(body.results[0].createRevision, revision);
    assert.equal(body.results[0].version, 1);
    assert.equal(body.results[1].key, 'atom/b');
    assert.equal(body.results[1].revision, revision);
    assert.equal(body.results[2].key, 'atom/c');
    assert.equal(body.results[3].key, 'atom/n');
    assert.equal(body.results[3].value, 42);
    assert.equal(body.results[3].revision, revision);
    assert.equal(body.results[4].key, 'atom/d');
    assert.equal(body.results[4].found, true);
    assert.deepEqual(body.results[4].value, { hello: 'world' });
    assert.equal(body.results[4].encoding, 'json');
    assert.equal(body.results[4].revision, readable.body.revision);
    assert.equal(body.results[5].key, 'atom/missing');
    assert.equal(body.results[5].found, false);
    assert.equal('value' in body.results[5], false);

    for (const key of ['atom/a', 'atom/b', 'atom/n']) {
      const got = await getRaw(key);
      assert.equal(got.status, 200, key);
      assert.equal(got.headers.get('etag'), `"${revision}"`, key);
    }
    assert.equal((await getRaw('atom/a')).bytes.toString(), '{"x":1}');
    assert.equal((await getRaw('atom/b')).bytes.toString(), 'hi');
    assert.equal((await getRaw('atom/n')).bytes.toString(), '42');
    assert.equal((await getRaw('atom/c')).status, 404);
    assert.equal((await getRaw('atom/d')).headers.get('etag'), `"${readable.body.revision}"`);
  });

  it('get results show utf8 and base64 values with their encoding', async () => {
    await putValue(base, 'getenc/text', 'héllo', { headers: { 'content-type': 'text/plain' } });
    await putValue(base, 'getenc/bin', Buffer.from([0xff, 0x00, 0xfe]));
    const body = await committed({
      ops: [
        { op: 'get', key: 'getenc/text' },
        { op: 'get', key: 'getenc/bin' },
      ],
    });
    assert.equal(body.results[0].found, true);
    assert.equal(body.results[0].value, 'héllo');
    assert.equal(body.results[0].encoding, 'utf8');
    assert.equal(body.results[1].found, true);
    assert.equal(body.results[1].value, Buffer.from([0xff, 0x00, 0xfe]).toString('base64'));
    assert.equal(body.results[1].encoding, 'base64');
  });

  it('put encodes json by default, utf8 and base64 on request, and contentType overrides', async () => {
    const body = await committed({
      ops: [
        { op: 'put', key: 'enc/json', value: { list: [1, 'two', null], nested: { ok: true } } },
        { op: 'put', key: 'enc/json-string', value: 'just a string', encoding: 'json' },
        { op: 'put', key: 'enc/utf8', value: 'plain ✓ text', encoding: 'utf8' },
        { op: 'put', key: 'enc/base64', value: Buffer.from([0, 1, 2, 0xff]).toString('base64'), encoding: 'base64' },
        { op: 'put', key: 'enc/override', value: '<p>hi</p>', encoding: 'utf8', contentType: 'text/html; charset=utf-8' },
        { op: 'put', key: 'enc/json-override', value: { a: 1 }, contentType: 'application/vnd.kvs+json' },
      ],
    });
    assert.equal(body.results.length, 6);

    const json = await getRaw('enc/json');
    assert.equal(json.bytes.toString(), JSON.stringify({ list: [1, 'two', null], nested: { ok: true } }));
    assert.equal(json.headers.get('content-type'), 'application/json');

    const jsonString = await getRaw('enc/json-string');
    assert.equal(jsonString.bytes.toString(), '"just a string"');
    assert.equal(jsonString.headers.get('content-type'), 'application/json');

    const utf8 = await getRaw('enc/utf8');
    assert.deepEqual(utf8.bytes, Buffer.from('plain ✓ text', 'utf8'));
    assert.match(utf8.headers.get('content-type') ?? '', /^text\/plain/);

    const base64 = await getRaw('enc/base64');
    assert.deepEqual(base64.bytes, Buffer.from([0, 1, 2, 0xff]));
    assert.equal(base64.headers.get('content-type'), 'application/octet-stream');

    const override = await getRaw('enc/override');
    assert.equal(override.bytes.toString(), '<p>hi</p>');
    assert.equal(override.headers.get('content-type'), 'text/html; charset=utf-8');

    const jsonOverride = await getRaw('enc/json-override');
    assert.equal(jsonOverride.bytes.toString(), '{"a":1}');
    assert.equal(jsonOverride.headers.get('content-type'), 'application/vnd.kvs+json');
  });

  it('put with ttl sets an expiry', async () => {
    const sentAt = Date.now();
    const body = await committed({
      ops: [
        { op: 'put', key: 'ttl/txn', value: 1, ttl: 300 },
        { op: 'put', key: 'ttl/none', value: 1 },
      ],
    });
    const answeredAt = Date.now();
    const got = await getRaw('ttl/txn');
    const expiresAt = got.headers.get('kv-expires-at');
    assert.match(expiresAt ?? '', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const deadline = Date.parse(expiresAt!);
    assert.ok(deadline >= sentAt + 300_000 && deadline <= answeredAt + 300_000, `expiry ${expiresAt} is not 300 s after the write`);
    assert.equal(body.results[0].expiresAt, expiresAt);
    assert.equal((await getRaw('ttl/none')).headers.get('kv-expires-at'), null);
  });

  it('__proto__ and constructor inside a JSON value are plain data', async () => {
    const value = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"a":1}';
    const response = await rawTxn(`{"ops":[{"op":"put","key":"proto/x","value":${value}}]}`);
    assert.equal(response.status, 200, response.text);

    const got = await getRaw('proto/x');
    assert.equal(got.bytes.toString(), value);
    assert.equal(got.headers.get('content-type'), 'application/json');

    const read = await committed({ ops: [{ op: 'get', key: 'proto/x' }] });
    const readValue = read.results[0].value;
    assert.ok(Object.hasOwn(readValue, '__proto__'));
    assert.deepEqual(readValue, JSON.parse(value));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);

    const listed = await request(`${base}/v1/kv?prefix=proto%2F&values=true`);
    assert.ok(Object.hasOwn(listed.body.items[0].value, '__proto__'));
    assert.deepEqual(listed.body.items[0].value, JSON.parse(value));
  });

  it('keys named __proto__ and constructor are ordinary keys', async () => {
    const body = await committed({
      ops: [
        { op: 'put', key: '__proto__', value: { a: 1 } },
        { op: 'put', key: 'constructor', value: 'c', encoding: 'utf8' },
      ],
    });
    assert.equal(body.results.length, 2);
    assert.equal((await getRaw('__proto__')).bytes.toString(), '{"a":1}');
    assert.equal((await getRaw('constructor')).bytes.toString(), 'c');
    const read = await committed({
      ops: [
        { op: 'get', key: '__proto__' },
        { op: 'get', key: 'constructor' },
      ],
    });
    assert.deepEqual(read.results[0].value, { a: 1 });
    assert.equal(read.results[1].value, 'c');
  });

  it('a transaction with only gets, or deleting a missing key, creates no revision', async () => {
    await putValue(base, 'norev/a', 'x');
    const before = await storeRevision();
    const gets = await committed({
      ops: [
        { op: 'get', key: 'norev/a' },
        { op: 'get', key: 'norev/missing' },
      ],
    });
    assert.equal(gets.revision, before);
    assert.equal(await storeRevision(), before);

    const deletes = await committed({ ops: [{ op: 'delete', key: 'norev/missing' }] });
    assert.equal(deletes.revision, before);
    assert.equal(await storeRevision(), before);

    const empty = await committed({ checks: [{ key: 'norev/a', exists: true }], ops: [] });
    assert.equal(empty.revision, before);
    assert.equal(await storeRevision(), before);
    assert.equal((await getRaw('norev/a')).headers.get('etag'), `"${before}"`);
  });
});

describe('checks', () => {
  it('revision R passes when the key is at R; 0 passes when the key is absent', async () => {
    const put = await putValue(base, 'chk/a', '1');
    const body = await committed({
      checks: [
        { key: 'chk/a', revision: put.body.revision },
        { key: 'chk/absent', revision: 0 },
        { key: 'chk/a', exists: true },
        { key: 'chk/absent', exists: false },
      ],
      ops: [{ op: 'put', key: 'chk/a', value: 2 }],
    });
    assert.equal((await getRaw('chk/a')).bytes.toString(), '2');
    assert.equal((await getRaw('chk/a')).headers.get('etag'), `"${body.revision}"`);
  });

  it('a failing check is 409 txn_conflict with the failing indices, and nothing applies', async () => {
    const first = await putValue(base, 'chk/b', '1');
    await putValue(base, 'chk/b', '2');
    await putValue(base, 'chk/exists', 'x');
    const before = await storeRevision();
    const response = await txn({
      checks: [
        { key: 'chk/exists', exists: true }, // passes
        { key: 'chk/b', revision: first.body.revision }, // stale
        { key: 'chk/exists', revision: 0 }, // exists, so 0 fails
        { key: 'chk/nothing', exists: true }, // absent
        { key: 'chk/nothing', exists: false }, // passes
        { key: 'chk/exists', exists: false }, // present
        { key: 'chk/nothing', revision: first.body.revision }, // absent
      ],
      ops: [
        { op: 'put', key: 'chk/new', value: 1 },
        { op: 'delete', key: 'chk/exists' },
        { op: 'add', key: 'chk/counter' },
      ],
    });
    const problem = expectProblem(response, 409, 'txn_conflict');
    assert.deepEqual(problem.failedChecks, [1, 2, 3, 5, 6]);
    assert.equal(await storeRevision(), before);
    assert.equal((await getRaw('chk/new')).status, 404);
    assert.equal((await getRaw('chk/counter')).status, 404);
    assert.equal((await getRaw('chk/exists')).status, 200);
    assert.equal((await getRaw('chk/b')).bytes.toString(), '2');
  });

  it('compare-and-swap: only one of two transactions checking the same revision commits', async () => {
    const put = await putValue(base, 'chk/cas', '0');
    const swap = (value: number) => txn({ checks: [{ key: 'chk/cas', revision: put.body.revision }], ops: [{ op: 'put', key: 'chk/cas', value }] });
    const [a, b] = await Promise.all([swap(1), swap(2)]);
    const statuses = [a.status, b.status].sort();
    assert.deepEqual(statuses, [200, 409]);
    const winner = a.status === 200 ? '1' : '2';
    assert.equal((await getRaw('chk/cas')).bytes.toString(), winner);
  });
});

describe('counters in transactions', () => {
  it('add on a value that is not a counter is 409 not_a_counter and nothing of the txn applies', async () => {
    await putValue(base, 'cnt/text', 'not a number', { headers: { 'content-type': 'text/plain' } });
    await putValue(base, 'cnt/ok', '5', { headers: { 'content-type': 'application/json' } });
    const before = await storeRevision();
    const response = await txn({
      ops: [
        { op: 'put', key: 'cnt/side-effect', value: 'x' },
        { op: 'add', key: 'cnt/ok', by: 1 },
        { op: 'add', key: 'cnt/text', by: 1 },
      ],
    });
    expectProblem(response, 409, 'not_a_counter');
    assert.equal(await storeRevision(), before);
    assert.equal((await getRaw('cnt/side-effect')).status, 404);
    assert.equal((await getRaw('cnt/ok')).bytes.toString(), '5');
    assert.equal((await getRaw('cnt/text')).bytes.toString(), 'not a number');
  });

  it('add beyond ±(2^53−1) is 409 counter_overflow', async () => {
    await committed({ ops: [{ op: 'add', key: 'cnt/big', by: Number.MAX_SAFE_INTEGER }] });
    expectProblem(await txn({ ops: [{ op: 'add', key: 'cnt/big', by: 1 }] }), 409, 'counter_overflow');
    assert.equal((await getRaw('cnt/big')).bytes.toString(), String(Number.MAX_SAFE_INTEGER));
  });

  it('50 concurrent transactions adding to one counter end at exactly 50', async () => {
    const responses = await Promise.all(Array.from({ length: 50 }, () => txn({ ops: [{ op: 'add', key: 'cnt/concurrent', by: 1 }] })));
    for (const response of responses) assert.equal(response.status, 200, response.text);
    const values = responses.map((response) => response.body.results[0].value as number).sort((a, b) => a - b);
    assert.deepEqual(
      values,
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    const revisions = new Set(responses.map((response) => response.body.revision));
    assert.equal(revisions.size, 50, 'each committed add has a revision of its own');
    const got = await getRaw('cnt/concurrent');
    assert.equal(got.bytes.toString(), '50');
    assert.equal(got.headers.get('kv-version'), '50');
  });
});

describe('validation', () => {
  it('the same key twice in ops is 400', async () => {
    const before = await storeRevision();
    const response = await txn({
      ops: [
        { op: 'put', key: 'dup/a', value: 1 },
        { op: 'get', key: 'dup/a' },
      ],
    });
    expectProblem(response, 400, 'invalid_request');
    expectProblem(
      await txn({
        ops: [
          { op: 'put', key: 'dup/a', value: 1 },
          { op: 'put', key: 'dup/a', value: 2 },
        ],
      }),
      400,
      'invalid_request',
    );
    assert.equal(await storeRevision(), before);
    assert.equal((await getRaw('dup/a')).status, 404);
  });

  it('at most maxTxnOps ops and maxTxnOps checks (128; 127 on etcd)', async () => {
    const max: number = (await request(`${base}/v1/limits`)).body.maxTxnOps;
    assert.equal(max, expectedMaxTxnOps(ENGINE));
    const ops = (n: number) => Array.from({ length: n }, (_, i) => ({ op: 'put', key: `many/${i}`, value: i }));
    const checks = (n: number) => Array.from({ length: n }, (_, i) => ({ key: `many-check/${i}`, exists: false }));

    expectProblem(await txn({ ops: ops(max + 1) }), 400, 'invalid_request');
    expectProblem(await txn({ checks: checks(max + 1), ops: [] }), 400, 'invalid_request');
    assert.equal((await getRaw('many/0')).status, 404);

    const distinctKeys = ENGINE.txnDistinctKeysMax;
    if (distinctKeys !== null) {
      // One etcd Txn holds a compare per distinct key, and etcd takes 128 (--max-txn-ops).
      const tooMany = expectProblem(await txn({ checks: checks(max), ops: ops(max) }), 400, 'invalid_request');
      assert.equal(tooMany.limit, distinctKeys.value);
      assert.equal((await getRaw('many/0')).status, 404);
      const ok = await committed({ checks: checks(1), ops: ops(max) });
      assert.equal(ok.results.length, max);
      assert.equal((await getRaw(`many/${max - 1}`)).headers.get('etag'), `"${ok.revision}"`);
      return;
    }
    const ok = await committed({ checks: checks(max), ops: ops(max) });
    assert.equal(ok.results.length, max);
    assert.equal((await getRaw(`many/${max - 1}`)).headers.get('etag'), `"${ok.revision}"`);
  });

  it('unknown ops, unknown members, bad encodings and bad base64 are 400 invalid_request', async () => {
    const bad: unknown[] = [
      { ops: [{ op: 'increment', key: 'v/a' }] },
      { ops: [{ key: 'v/a', value: 1 }] },
      { ops: [{ op: 'put', key: 'v/a', value: 1, extra: true }] },
      { ops: [{ op: 'get', key: 'v/a', value: 1 }] },
      { ops: [], extra: [] },
      { checks: [{ key: 'v/a', exists: true, extra: 1 }], ops: [] },
      { checks: [{ key: 'v/a' }], ops: [] },
      { checks: [{ key: 'v/a', revision: -1 }], ops: [] },
      { checks: [{ key: 'v/a', revision: 1.5 }], ops: [] },
      { ops: [{ op: 'put', key: 'v/a', value: 'x', encoding: 'hex' }] },
      { ops: [{ op: 'put', key: 'v/a', value: 'not base64!', encoding: 'base64' }] },
      { ops: [{ op: 'put', key: 'v/a', value: 'abc', encoding: 'base64' }] },
      { ops: [{ op: 'put', key: 'v/a', value: 42, encoding: 'base64' }] },
      { ops: [{ op: 'put', key: 'v/a', value: 42, encoding: 'utf8' }] },
      { ops: [{ op: 'put', key: 'v/a' }] },
      { ops: [{ op: 'put', key: 'v/a', value: 1, ttl: 0 }] },
      { ops: [{ op: 'put', key: 'v/a', value: 1, ttl: -5 }] },
      { ops: [{ op: 'add', key: 'v/a', by: 1.5 }] },
      { ops: { op: 'get', key: 'v/a' } },
      [{ op: 'get', key: 'v/a' }],
    ];
    for (const body of bad) {
      const response = await txn(body);
      if (response.status !== 400) assert.fail(`expected 400 for ${JSON.stringify(body)}, got ${response.status}: ${response.text}`);
      expectProblem(response, 400, 'invalid_request');
    }
    assert.equal((await getRaw('v/a')).status, 404);
  });

  it('invalid keys in ops or checks are 400 invalid_key', async () => {
    for (const key of ['', 'a/../b', './a', 'nul\u0000', 'k'.repeat(1025)]) {
      expectProblem(await txn({ ops: [{ op: 'put', key, value: 1 }] }), 400, 'invalid_key');
      expectProblem(await txn({ checks: [{ key, exists: true }], ops: [] }), 400, 'invalid_key');
    }
  });

  it('a body that is not JSON is 400 invalid_json', async () => {
    expectProblem(await rawTxn('{"ops": ['), 400, 'invalid_json');
    expectProblem(await rawTxn('not json at all'), 400, 'invalid_json');
    expectProblem(await rawTxn(''), 400, 'invalid_json');
  });

  it('accepts application/json with parameters', async () => {
    const response = await rawTxn(JSON.stringify({ ops: [{ op: 'put', key: 'mt/charset', value: 1 }] }), 'application/json; charset=utf-8');
    assert.equal(response.status, 200, response.text);
    assert.equal((await getRaw('mt/charset')).bytes.toString(), '1');
  });

  it('a body that is not application/json is 415 unsupported_media_type', async () => {
    const body = JSON.stringify({ ops: [{ op: 'put', key: 'mt/a', value: 1 }] });
    expectProblem(await rawTxn(body, 'text/plain'), 415, 'unsupported_media_type');
    expectProblem(await rawTxn(body, 'application/x-www-form-urlencoded'), 415, 'unsupported_media_type');
    assert.equal((await getRaw('mt/a')).status, 404);
  });

  it('a body over the request limit (8 MiB) is 413 request_too_large with the limit', async () => {
    const padding = 'a'.repeat(9 * MIB);
    const body = JSON.stringify({ ops: [{ op: 'put', key: 'huge/a', value: padding }] });
    const problem = expectProblem(await rawTxn(body), 413, 'request_too_large');
    assert.equal(problem.limit, 8 * MIB);
    assert.equal((await getRaw('huge/a')).status, 404);
  });

  it('a put value over the value limit (4 MiB; ~1.5 MiB on etcd) inside a smaller body is 413 value_too_large with the limit', async () => {
    const max: number = (await request(`${base}/v1/limits`)).body.maxValueBytes;
    assert.equal(max, expectedMaxValueBytes(ENGINE, server.dataDirectory));
    const value = 'v'.repeat(max + 1);
    const problem = expectProblem(await txn({ ops: [{ op: 'put', key: 'huge/value', value, encoding: 'utf8' }] }), 413, 'value_too_large');
    assert.equal(problem.limit, max);
    assert.equal((await getRaw('huge/value')).status, 404);
    const fits = await committed({ ops: [{ op: 'put', key: 'huge/fits', value: 'v'.repeat(max), encoding: 'utf8' }] });
    assert.equal((await getRaw('huge/fits')).headers.get('etag'), `"${fits.revision}"`);
  });
});
