import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { encodeKey, putValue, request, type JsonResponse } from '../helpers/http.js';
import { spawnServer, tempDirectory, useTestServer, type ServerProcess } from '../helpers/server.js';

/** The original server's README, next to the sources (this file runs from dist/test/integration/). */
const SEED_README = new URL('../../../test/fixtures/seed-README.md', import.meta.url);

/** The ```bash blocks of the README's "Sample Requests" section that are requests (the first two). */
function sampleRequests(): string[] {
  const readme = readFileSync(SEED_README, 'utf8');
  const start = readme.indexOf('Sample Requests');
  assert.notEqual(start, -1, 'the seed README has a "Sample Requests" section');
  const blocks = [...readme.slice(start).matchAll(/```bash\n([\s\S]*?)```/g)].map((match) => match[1]!.trim());
  const requests = blocks.slice(0, 2);
  assert.equal(requests.length, 2);
  for (const command of requests) assert.ok(command.includes('http://localhost:8080'), `a sample request names http://localhost:8080: ${command}`);
  return requests;
}

function postSeed(
  base: string,
  body: string | Buffer,
  headers: Record<string, string> = { 'content-type': 'application/json' },
  query = '',
): Promise<JsonResponse> {
  return request(`${base}/put${query}`, { method: 'POST', headers, body });
}

function seedGet(base: string, key: string): Promise<JsonResponse> {
  return request(`${base}/get?key=${encodeURIComponent(key)}`);
}

/** Asserts the seed's error body: exactly {"status":"error","message": <non-empty string>}. */
function expectSeedError(response: JsonResponse, status: number, message?: string): void {
  assert.equal(response.status, status, response.text);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  assert.deepEqual(Object.keys(response.body).sort(), ['message', 'status']);
  assert.equal(response.body.status, 'error');
  assert.equal(typeof response.body.message, 'string');
  assert.ok(response.body.message.length > 0);
  if (message !== undefined) assert.equal(response.body.message, message);
}

describe('the seed README sample requests, run verbatim with curl', () => {
  let server: ServerProcess;
  let dataDirectory: string;

  before(async () => {
    dataDirectory = tempDirectory();
    // A real `kvs serve` process: curl runs synchronously, so the server must not share this event loop.
    server = await spawnServer({ DATA_DIRECTORY: dataDirectory, LOG_LEVEL: 'warn' });
  });

  after(async () => {
    server?.child.kill('SIGKILL');
    await server?.exited;
    rmSync(dataDirectory, { recursive: true, force: true });
  });

  test('"Create a key-value pair" then "Read a key-value pair" answer as the seed did', () => {
    const [create, read] = sampleRequests();
    const run = (command: string) =>
      execFileSync('sh', ['-c', command.replaceAll('http://localhost:8080', server.url)], {
        encoding: 'utf8',
        timeout: 10_000,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    assert.deepEqual(JSON.parse(run(create!)), { status: 'success' });
    assert.deepEqual(JSON.parse(run(read!)), { status: 'success', value: 'new_value' });
  });
});

describe('seed routes /put, /get, /del', () => {
  let url: string;

  const server = useTestServer({}, async () => {
    url = server.url;
  });

  test('/put with the key in the body stores the value', async () => {
    const put = await postSeed(url, JSON.stringify({ key: 'body-key', value: 'v1' }));
    assert.equal(put.status, 200);
    assert.deepEqual(put.body, { status: 'success' });
    const get = await seedGet(url, 'body-key');
    assert.equal(get.status, 200);
    assert.deepEqual(get.body, { status: 'success', value: 'v1' });
  });

  test('/put with ?key= and a body of {"value": ...} stores the value', async () => {
    const put = await postSeed(url, JSON.stringify({ value: [1, 'two'] }), undefined, '?key=query-key');
    assert.equal(put.status, 200, put.text);
    assert.deepEqual(put.body, { status: 'success' });
    const get = await seedGet(url, 'query-key');
    assert.deepEqual(get.body, { status: 'success', value: [1, 'two'] });
  });

  test('values of every JSON type round-trip through /get', async () => {
    const values: Record<string, unknown> = {
      object: { a: 1, nested: { b: [true, null, 'x'] }, empty: {} },
      array: [1, 'two', { three: 3 }, [4], null, false],
      emptyArray: [],
      integer: 42,
      negative: -7,
      float: 3.25,
      zero: 0,
      true: true,
      false: false,
      string: 'hello',
      emptyString: '',
      unicode: 'grüße, 日本, 🎉',
      jsonLookingString: '{"not":"an object"}',
    };
    for (const [name, value] of Object.entries(values)) {
      const put = await postSeed(url, JSON.stringify({ key: `types/${name}`, value }));
      assert.equal(put.status, 200, `${name}: ${put.text}`);
    }
    for (const [name, value] of Object.entries(values)) {
      const get = await seedGet(url, `types/${name}`);
      assert.equal(get.status, 200, `${name}: ${get.text}`);
      assert.deepEqual(get.body, { status: 'success', value }, name);
    }
  });

  test('/put replaces an existing value', async () => {
    assert.equal((await postSeed(url, JSON.stringify({ key: 'replace-me', value: { v: 1 } }))).status, 200);
    const second = await postSeed(url, JSON.stringify({ key: 'replace-me', value: 'second' }));
    assert.equal(second.status, 200);
    assert.deepEqual(second.body, { status: 'success' });
    assert.deepEqual((await seedGet(url, 'replace-me')).body, { status: 'success', value: 'second' });
    const raw = await request(`${url}/v1/kv/replace-me`);
    assert.equal(raw.headers.get('kv-version'), '2');
  });

  test('/put without a key is 400 in the seed format', async () => {
    expectSeedError(await postSeed(url, JSON.stringify({ value: 1 })), 400);
  });

  test('/put without a value is 400 in the seed format and stores nothing', async () => {
    expectSeedError(await postSeed(url, JSON.stringify({ key: 'no-value' })), 400);
    expectSeedError(await seedGet(url, 'no-value'), 404, 'Key not found');
  });

  test('/put with a null value is 400 in the seed format and stores nothing', async () => {
    expectSeedError(await postSeed(url, JSON.stringify({ key: 'null-value', value: null })), 400);
    expectSeedError(await seedGet(url, 'null-value'), 404, 'Key not found');
  });

  test('/put with a key that is not a string is 400 in the seed format', async () => {
    for (const key of [123, true, ['a'], { a: 1 }]) {
      expectSeedError(await postSeed(url, JSON.stringify({ key, value: 1 })), 400);
    }
    expectSeedError(await seedGet(url, '123'), 404, 'Key not found');
  });

  test('/put with a body that is not JSON is 400 in the seed format', async () => {
    expectSeedError(await postSeed(url, 'key=a&value=b'), 400);
    expectSeedError(await postSeed(url, '{"key": "a", "value": '), 400);
    expectSeedError(await postSeed(url, ''), 400);
    expectSeedError(await seedGet(url, 'a'), 404, 'Key not found');
  });

  test('/put with JSON that is not an object is 400 in the seed format', async () => {
    for (const body of ['[1, 2]', '"key"', '42', 'true', 'null']) {
      expectSeedError(await postSeed(url, body), 400);
    }
  });

  test('/put reads a JSON body sent without a JSON content type (as curl -d sends it)', async () => {
    const form = await postSeed(url, JSON.stringify({ key: 'curl-d', value: { from: 'curl -d' } }), { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 200, form.text);
    assert.deepEqual(form.body, { status: 'success' });
    assert.deepEqual((await seedGet(url, 'curl-d')).body, { status: 'success', value: { from: 'curl -d' } });

    const text = await postSeed(url, JSON.stringify({ key: 'text-plain', value: 5 }), { 'content-type': 'text/plain' });
    assert.equal(text.status, 200, text.text);
    assert.deepEqual((await seedGet(url, 'text-plain')).body, { status: 'success', value: 5 });
  });

  test('/get of a missing key is 404 {"status":"error","message":"Key not found"}', async () => {
    const response = await seedGet(url, 'never-written');
    assert.equal(response.status, 404);
    assert.deepEqual(response.body, { status: 'error', message: 'Key not found' });
  });

  test('/get without a key is 400 in the seed format', async () => {
    expectSeedError(await request(`${url}/get`), 400);
  });

  test('/del deletes (200 {"status":"success"}), then the key is 404 and a second /del is 404', async () => {
    assert.equal((await postSeed(url, JSON.stringify({ key: 'to-delete', value: 'x' }))).status, 200);
    const deleted = await request(`${url}/del?key=to-delete`, { method: 'DELETE' });
    assert.equal(deleted.status, 200);
    assert.deepEqual(deleted.body, { status: 'success' });
    assert.deepEqual((await seedGet(url, 'to-delete')).body, { status: 'error', message: 'Key not found' });
    const again = await request(`${url}/del?key=to-delete`, { method: 'DELETE' });
    assert.equal(again.status, 404);
    assert.deepEqual(again.body, { status: 'error', message: 'Key not found' });
  });

  test('/del without a key is 400 in the seed format', async () => {
    expectSeedError(await request(`${url}/del`, { method: 'DELETE' }), 400);
  });

  test('a value written with /put is visible through GET /v1/kv/{key} as application/json', async () => {
    const value = { list: [1, 2, 3], name: 'seeded', ok: true };
    assert.equal((await postSeed(url, JSON.stringify({ key: 'shared/visible', value }))).status, 200);
    const response = await fetch(`${url}/v1/kv/${encodeKey('shared/visible')}`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json(;|$)/);
    assert.deepEqual(JSON.parse(await response.text()), value);
  });

  test('a text/plain value written with PUT /v1/kv/{key} reads back through /get as a JSON string', async () => {
    const text = 'plain text, not JSON: {oops';
    const put = await putValue(url, 'text/value', text, { headers: { 'content-type': 'text/plain' } });
    assert.equal(put.status, 201, put.text);
    const get = await seedGet(url, 'text/value');
    assert.equal(get.status, 200);
    assert.deepEqual(get.body, { status: 'success', value: text });
  });

  test('binary (invalid UTF-8) bytes read back through /get as base64 with "encoding":"base64"', async () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x41]);
    const put = await putValue(url, 'binary/value', bytes, { headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(put.status, 201, put.text);
    const get = await seedGet(url, 'binary/value');
    assert.equal(get.status, 200);
    assert.deepEqual(get.body, { status: 'success', value: bytes.toString('base64'), encoding: 'base64' });
  });

  test('a wrong method on a seed path is 405 in the seed format with Allow', async () => {
    const cases: Array<[string, string, string]> = [
      ['GET', '/put', 'POST'],
      ['POST', '/get?key=a', 'GET'],
      ['GET', '/del?key=a', 'DELETE'],
      ['PUT', '/put', 'POST'],
    ];
    for (const [method, path, allowed] of cases) {
      const response = await request(`${url}${path}`, { method });
      expectSeedError(response, 405);
      const allow = (response.headers.get('allow') ?? '').split(',').map((part) => part.trim());
      assert.ok(allow.includes(allowed), `${method} ${path}: Allow ${JSON.stringify(allow)} names ${allowed}`);
      assert.ok(!allow.includes(method), `${method} ${path}: Allow does not name ${method}`);
    }
  });
});
