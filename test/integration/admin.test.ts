import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeKey, expectProblem, putValue, request, type JsonResponse } from '../helpers/http.js';
import { leftoversCleanedAfter, sleep, startTestServer, TEST_ENGINE, type ServerProcess, type TestServer } from '../helpers/server.js';
import { differencesOf, expectedMaxTxnOps } from '../engine/differences.js';

/** How the engine under test differs from the other, each with its reason (test/engine/differences.ts). */
const ENGINE = differencesOf(TEST_ENGINE);

interface ExportLine {
  key: string;
  value: string;
  contentType: string;
  expiresAt?: string;
}

interface TextResponse {
  status: number;
  headers: Headers;
  text: string;
}

/** GET /v1/admin/export as text (the json helper would try to parse NDJSON as one document). */
async function fetchExport(base: string, query = ''): Promise<TextResponse> {
  const response = await fetch(`${base}/v1/admin/export${query}`);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

function parseExport(response: TextResponse): ExportLine[] {
  assert.equal(response.status, 200, response.text);
  assert.match(response.headers.get('content-type') ?? '', /^application\/x-ndjson/);
  if (response.text === '') return [];
  assert.ok(response.text.endsWith('\n'), 'every line ends with a newline');
  return response.text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as ExportLine);
}

function importNdjson(base: string, body: string, query = ''): Promise<JsonResponse> {
  return request(`${base}/v1/admin/import${query}`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
}

async function readRaw(base: string, key: string): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const response = await fetch(`${base}/v1/kv/${encodeKey(key)}`);
  return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()), headers: response.headers };
}

describe('export and import', () => {
  let source: TestServer;
  let target: TestServer;

  const binary = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41, 0x0a]);
  const live: Record<string, { body: string | Buffer; contentType: string | null; ttl?: string }> = {
    'app/config': { body: '{"mode":"fast","n":[1,2]}', contentType: 'application/json' },
    'app/greeting': { body: 'hello, wörld', contentType: 'text/plain; charset=utf-8', ttl: '3600' },
    'app/empty': { body: '', contentType: 'text/plain' },
    'bin/blob': { body: binary, contentType: null },
    'other/x': { body: '42', contentType: 'application/json', ttl: '7200.5' },
  };

  before(async () => {
    source = await startTestServer();
    target = await startTestServer();
    for (const [key, { body, contentType, ttl }] of Object.entries(live)) {
      const response = await putValue(source.url, key, body, {
        ...(contentType === null ? {} : { headers: { 'content-type': contentType } }),
        ...(ttl ? { query: `ttl=${ttl}` } : {}),
      });
      assert.equal(response.status, 201, response.text);
    }
    assert.equal((await putValue(source.url, 'app/short-lived', 'bye', { query: 'ttl=0.1' })).status, 201);
    await sleep(300);
    assert.equal((await request(`${source.url}/v1/kv/app/short-lived`)).status, 404, 'the short-lived key has expired');
  });

  after(async () => {
    await source?.close();
    await target?.close();
  });

  test('GET /v1/admin/export is NDJSON, one line per live key, values in base64, expired keys left out', async () => {
    const lines = parseExport(await fetchExport(source.url));
    assert.deepEqual(lines.map((line) => line.key).sort(), Object.keys(live).sort());
    for (const line of lines) {
      const expected = live[line.key]!;
      assert.deepEqual(Object.keys(line).sort(), expected.ttl ? ['contentType', 'expiresAt', 'key', 'value'] : ['contentType', 'key', 'value'], line.key);
      assert.deepEqual(Buffer.from(line.value, 'base64'), Buffer.from(expected.body), line.key);
      assert.equal(line.contentType, expected.contentType ?? 'application/octet-stream', line.key);
      if (expected.ttl) {
        const { headers } = await readRaw(source.url, line.key);
        assert.equal(line.expiresAt, headers.get('kv-expires-at'), `${line.key}: expiresAt is the key's expiry`);
        const remainingMs = Date.parse(line.expiresAt!) - Date.now();
        assert.ok(
          remainingMs > Number(expected.ttl) * 1000 - 60_000 && remainingMs <= Number(expected.ttl) * 1000,
          `${line.key}: expiresAt is about ttl from now`,
        );
      }
    }
    assert.ok(!lines.some((line) => line.key === 'app/short-lived'));
  });

  test('GET /v1/admin/export?prefix= exports only that prefix', async () => {
    const lines = parseExport(await fetchExport(source.url, '?prefix=app/'));
    assert.deepEqual(lines.map((line) => line.key).sort(), ['app/config', 'app/empty', 'app/greeting']);
    assert.deepEqual(parseExport(await fetchExport(source.url, '?prefix=nothing-here/')), []);
  });

  test('POST /v1/admin/import of an export reproduces keys, values, content types and TTLs at one revision', async () => {
    const exported = await fetchExport(source.url);
    const lines = parseExport(exported);
    const before = (await request(`${target.url}/v1/status`)).body;

    const response = await importNdjson(target.url, exported.text);
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(Object.keys(response.body).sort(), ['imported', 'revision']);
    assert.equal(response.body.imported, lines.length);
    const revision = response.body.revision;
    assert.equal(revision, before.revision + 1, 'one import is one revision');
    assert.equal((await request(`${target.url}/v1/status`)).body.keys, before.keys + lines.length);

    for (const line of lines) {
      const read = await readRaw(target.url, line.key);
      assert.equal(read.status, 200, line.key);
      assert.deepEqual(read.bytes, Buffer.from(line.value, 'base64'), line.key);
      assert.equal(read.headers.get('content-type'), line.contentType, line.key);
      assert.equal(read.headers.get('etag'), `"${revision}"`, `${line.key} was written at the import's revision`);
      // The same expiry (to the millisecond: the next test holds the import to that).
      const expiresAt = read.headers.get('kv-expires-at');
      if (line.expiresAt === undefined) assert.equal(expiresAt, null, `${line.key} has no TTL`);
      else
        assert.ok(
          expiresAt !== null && Math.abs(Date.parse(expiresAt) - Date.parse(line.expiresAt)) <= 1000,
          `${line.key}: expiry ${expiresAt} is ${line.expiresAt}`,
        );
    }

    // Exporting the copy gives the same keys, values and content types.
    const withoutExpiry = (all: ExportLine[]) => all.map(({ expiresAt: _expiresAt, ...rest }) => rest);
    assert.deepEqual(withoutExpiry(parseExport(await fetchExport(target.url))), withoutExpiry(lines));
  });

  test('an import keeps each expiresAt exactly, even when the clock moves on during the request', async () => {
    // A clock that never reads the same millisecond twice: what a real clock does whenever a request spans a millisecond.
    let last = 0;
    const moving = await startTestServer({ now: () => (last = Math.max(Date.now(), last + 1)) });
    try {
      const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
      const line = { key: 'ttl/exact', value: Buffer.from('x').toString('base64'), contentType: 'text/plain', expiresAt };
      const response = await importNdjson(moving.url, `${JSON.stringify(line)}\n`);
      assert.equal(response.status, 200, response.text);
      assert.equal((await readRaw(moving.url, 'ttl/exact')).headers.get('kv-expires-at'), expiresAt);
      assert.deepEqual(parseExport(await fetchExport(moving.url)), [line], 'export → import → export is the identity');
    } finally {
      await moving.close();
    }
  });

  test('POST /v1/admin/import?format=seed imports the original data file, values stored as application/json', async () => {
    const seed = { 'seed/obj': { x: [1, 2], y: { z: null } }, 'seed/str': 'text', 'seed/num': 42, 'seed/bool': false, 'seed/list': ['a', 1] };
    const response = await request(`${target.url}/v1/admin/import?format=seed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(seed),
    });
    assert.equal(response.status, 200, response.text);
    assert.equal(response.body.imported, 5);
    assert.ok(Number.isInteger(response.body.revision));
    for (const [key, value] of Object.entries(seed)) {
      const read = await readRaw(target.url, key);
      assert.equal(read.status, 200, key);
      assert.match(read.headers.get('content-type') ?? '', /^application\/json(;|$)/, key);
      assert.equal(read.headers.get('etag'), `"${response.body.revision}"`, key);
      assert.deepEqual(JSON.parse(read.bytes.toString('utf8')), value, key);
      assert.deepEqual((await request(`${target.url}/get?key=${encodeURIComponent(key)}`)).body, { status: 'success', value }, key);
    }
  });

  test('an import with one bad line imports nothing and answers 400 naming the line', async () => {
    const before = (await request(`${target.url}/v1/status`)).body;
    const body = [
      JSON.stringify({ key: 'bad-import/one', value: Buffer.from('1').toString('base64'), contentType: 'application/json' }),
      JSON.stringify({ key: 'bad-import/two', value: 'this is not base64!', contentType: 'text/plain' }),
      JSON.stringify({ key: 'bad-import/three', value: Buffer.from('3').toString('base64'), contentType: 'application/json' }),
    ].join('\n');
    const problem = expectProblem(await importNdjson(target.url, `${body}\n`), 400, 'invalid_request');
    assert.match(problem.detail, /line 2\b/);
    assert.doesNotMatch(problem.detail, /line [13]\b/);
    for (const key of ['bad-import/one', 'bad-import/two', 'bad-import/three']) assert.equal((await request(`${target.url}/v1/kv/${key}`)).status, 404, key);
    const afterStatus = (await request(`${target.url}/v1/status`)).body;
    assert.equal(afterStatus.revision, before.revision);
    assert.equal(afterStatus.keys, before.keys);

    const notJson = expectProblem(await importNdjson(target.url, `${body.split('\n')[0]}\n{not json\n`), 400, 'invalid_request');
    assert.match(notJson.detail, /line 2\b/);
    assert.equal((await request(`${target.url}/v1/kv/bad-import/one`)).status, 404);
  });

  test('an import of long keys near the request limit is chunked by what the engine sends, and imports every key', async () => {
    // 127 keys of 1000 bytes with 11,000-byte values: ~1.4 MiB, which etcd carries with each key twice (compare and put).
    const records = Array.from({ length: 127 }, (_, i) => ({
      key: `long/${String(i).padStart(3, '0')}/${'k'.repeat(990)}`,
      value: Buffer.alloc(11_000, i).toString('base64'),
    }));
    const response = await importNdjson(target.url, records.map((record) => JSON.stringify(record)).join('\n'));
    assert.equal(response.status, 200, response.text);
    assert.equal(response.body.imported, 127);
    for (const index of [0, 126]) assert.equal((await readRaw(target.url, records[index]!.key)).bytes.toString('base64'), records[index]!.value);
  });

  test('an import larger than one etcd transaction (more keys, more bytes) imports every key, in order', async () => {
    // 300 keys and ~3 MiB: over etcd's 128 ops and 1.5 MiB per request. On etcd it is applied as consecutive
    // transactions (docs/SCALING.md); on the embedded engine as one.
    const big = Buffer.alloc(600 * 1024, 0x5a).toString('base64');
    const records = Array.from({ length: 300 }, (_, i) => ({
      key: `bulk/${String(i).padStart(3, '0')}`,
      value: i % 60 === 0 ? big : Buffer.from(`v${i}`).toString('base64'),
      contentType: 'text/plain',
    }));
    const before = (await request(`${target.url}/v1/status`)).body;
    const response = await importNdjson(target.url, records.map((record) => JSON.stringify(record)).join('\n'));
    assert.equal(response.status, 200, response.text);
    assert.equal(response.body.imported, 300);
    const after = (await request(`${target.url}/v1/status`)).body;
    assert.equal(after.keys, before.keys + 300);
    assert.equal(after.revision, response.body.revision);
    // One txn, one revision; an engine with bounded txns (etcd) applies it as several, at least one per txnOpsMax keys.
    const txns = ENGINE.importsInSeveralTxns === null ? 1 : Math.ceil(300 / expectedMaxTxnOps(ENGINE));
    const revisions = response.body.revision - before.revision;
    assert.ok(ENGINE.sharedRevisions === null ? revisions === txns : revisions >= txns, `${revisions} revisions for ${txns} txns`);
    for (const index of [0, 1, 60, 127, 128, 299]) {
      const read = await readRaw(target.url, records[index]!.key);
      assert.equal(read.status, 200);
      assert.equal(read.bytes.toString('base64'), records[index]!.value);
    }
    const last = await readRaw(target.url, 'bulk/299');
    assert.equal(last.headers.get('etag'), `"${response.body.revision}"`, 'the revision answered is the last write of the import');
  });
});

describe("start-up import of the original server's key_value_data.json", () => {
  const leftovers = leftoversCleanedAfter('kvs-test-');
  const dataDirectory = () => leftovers.directory();
  const spawn = (env: Record<string, string>) => leftovers.spawn(env);
  const stop = async (server: ServerProcess) => {
    server.child.kill('SIGTERM');
    return server.exited;
  };

  test('a fresh store imports the file once; a deleted key stays deleted after a restart; the file is left in place', async () => {
    const directory = dataDirectory();
    const seedFile = join(directory, 'key_value_data.json');
    const original = JSON.stringify({ a: 1, b: { x: [1, 2] }, c: 'text', d: [true, 'two'] });
    writeFileSync(seedFile, original);

    const first = await spawn({ DATA_DIRECTORY: directory });
    const expected: Record<string, unknown> = { a: 1, b: { x: [1, 2] }, c: 'text', d: [true, 'two'] };
    for (const [key, value] of Object.entries(expected)) {
      assert.deepEqual((await request(`${first.url}/get?key=${key}`)).body, { status: 'success', value }, key);
    }
    assert.equal((await request(`${first.url}/v1/status`)).body.keys, 4);
    assert.match(first.output(), /import/i, 'the import is logged');

    assert.deepEqual((await request(`${first.url}/del?key=a`, { method: 'DELETE' })).body, { status: 'success' });
    assert.equal((await stop(first)).code, 0);
    assert.ok(existsSync(seedFile), 'the seed file is left in place');
    assert.equal(readFileSync(seedFile, 'utf8'), original, 'the seed file is unchanged');

    const second = await spawn({ DATA_DIRECTORY: directory });
    assert.deepEqual((await request(`${second.url}/get?key=a`)).body, { status: 'error', message: 'Key not found' });
    assert.equal((await request(`${second.url}/get?key=a`)).status, 404);
    assert.deepEqual((await request(`${second.url}/get?key=b`)).body, { status: 'success', value: { x: [1, 2] } });
    assert.equal((await request(`${second.url}/v1/status`)).body.keys, 3);
    assert.ok(existsSync(seedFile));
  });

  test('a seed file with invalid keys still imports the valid keys and the server starts', async () => {
    const directory = dataDirectory();
    writeFileSync(
      join(directory, 'key_value_data.json'),
      JSON.stringify({ '': 'empty key', 'a/../b': 'dot segment', './x': 'dot', ok: { fine: true }, 'also/ok': 7 }),
    );
    const server = await spawn({ DATA_DIRECTORY: directory });
    assert.deepEqual((await request(`${server.url}/get?key=ok`)).body, { status: 'success', value: { fine: true } });
    assert.deepEqual((await request(`${server.url}/get?key=also/ok`)).body, { status: 'success', value: 7 });
    assert.equal((await request(`${server.url}/v1/status`)).body.keys, 2);
    const exported = parseExport(await fetchExport(server.url)).map((line) => line.key);
    assert.deepEqual(exported.sort(), ['also/ok', 'ok']);
  });
});
