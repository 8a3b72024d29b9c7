import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { describe, test } from 'node:test';
import { expectProblem, postJson, putValue, request, type JsonResponse } from '../helpers/http.js';
import { spawnServer, startTestServer, tempDirectory, TEST_ENGINE, useTestServer } from '../helpers/server.js';
import { differencesOf } from '../engine/differences.js';

/** How the engine under test differs from the other, each with its reason (test/engine/differences.ts). */
const ENGINE = differencesOf(TEST_ENGINE);

/**
 * A raw HTTP/1.1 request through node:http: the path is sent as written (no
 * URL normalisation, no re-encoding), and any method may carry a body.
 */
function rawRequest(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string | Buffer,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { hostname, port, method, path, headers: body === undefined ? headers : { 'content-length': String(Buffer.byteLength(body)), ...headers }, agent: false },
      (response) => {
        // An accepted watch is an event stream that never ends: its status is the answer.
        if (String(response.headers['content-type'] ?? '').startsWith('text/event-stream')) {
          resolve({ status: response.statusCode ?? 0, headers: response.headers, text: '' });
          response.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** rawRequest, shaped like the http helpers' responses (for expectProblem). */
async function rawJson(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<JsonResponse> {
  const response = await rawRequest(base, method, path, headers, body);
  const responseHeaders = new Headers();
  for (const [name, value] of Object.entries(response.headers)) if (typeof value === 'string') responseHeaders.set(name, value);
  const type = responseHeaders.get('content-type') ?? '';
  return {
    status: response.status,
    headers: responseHeaders,
    text: response.text,
    body: type.includes('json') && response.text !== '' ? JSON.parse(response.text) : undefined,
  };
}

function allowOf(headers: Headers): string[] {
  return (headers.get('allow') ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}

describe('problem+json errors, one per status and code', () => {
  let url: string;

  const server = useTestServer({}, async () => {
    url = server.url;
  });

  test('400 invalid_key: dot segments, over-long keys, U+0000, bad percent-encoding, empty key', async () => {
    // Sent raw: fetch would resolve the dot segments before sending.
    expectProblem(await rawJson(url, 'PUT', '/v1/kv/a/../b', {}, 'v'), 400, 'invalid_key');
    expectProblem(await rawJson(url, 'GET', '/v1/kv/./a'), 400, 'invalid_key');
    expectProblem(await request(`${url}/v1/kv/a%2F..%2Fb`), 400, 'invalid_key');
    expectProblem(await request(`${url}/v1/kv/a%2F.%2Fb`, { method: 'PUT', body: 'v' }), 400, 'invalid_key');
    const long = expectProblem(await putValue(url, 'k'.repeat(1025), 'v'), 400, 'invalid_key');
    assert.equal(long.limit, 1024);
    expectProblem(await putValue(url, 'é'.repeat(513), 'v'), 400, 'invalid_key'); // 1026 UTF-8 bytes
    expectProblem(await request(`${url}/v1/kv/a%00b`), 400, 'invalid_key');
    expectProblem(await request(`${url}/v1/kv/%FF`), 400, 'invalid_key');
    expectProblem(await request(`${url}/v1/kv/%E0%A4`, { method: 'PUT', body: 'v' }), 400, 'invalid_key');
    expectProblem(await request(`${url}/v1/kv/`), 400, 'invalid_key');
    expectProblem(await postJson(`${url}/v1/txn`, { ops: [{ op: 'put', key: '', value: 1 }] }), 400, 'invalid_key');
    // A key far beyond the limit is still an invalid key, whatever the method.
    for (const method of ['GET', 'PUT', 'DELETE', 'POST']) {
      expectProblem(
        await request(`${url}/v1/kv/${'x'.repeat(5000)}${method === 'POST' ? '?op=add' : ''}`, { method, ...(method === 'PUT' ? { body: 'v' } : {}) }),
        400,
        'invalid_key',
      );
    }
  });

  test('400 invalid_request: bad query parameters and bodies', async () => {
    expectProblem(await request(`${url}/v1/kv?limit=0`), 400, 'invalid_request');
    expectProblem(await request(`${url}/v1/kv?limit=1001`), 400, 'invalid_request');
    expectProblem(await request(`${url}/v1/kv/counter`, { method: 'POST' }), 400, 'invalid_request');
    expectProblem(await request(`${url}/v1/kv?prefix=`, { method: 'DELETE' }), 400, 'invalid_request');
    expectProblem(await putValue(url, 'ttl', 'v', { query: 'ttl=-1' }), 400, 'invalid_request');
    expectProblem(await postJson(`${url}/v1/txn`, { ops: [{ op: 'explode', key: 'a' }] }), 400, 'invalid_request');
    expectProblem(await postJson(`${url}/v1/txn`, [1, 2]), 400, 'invalid_request');
    expectProblem(await putValue(url, 'long-type', 'v', { headers: { 'content-type': `text/${'x'.repeat(260)}` } }), 400, 'invalid_request');
    assert.equal(
      (await putValue(url, 'long-type', 'v', { headers: { 'content-type': `text/${'x'.repeat(251)}` } })).status,
      201,
      'a 256-character content type is accepted',
    );
  });

  test('400 invalid_json: a JSON route given malformed JSON', async () => {
    expectProblem(await request(`${url}/v1/txn`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ops": [' }), 400, 'invalid_json');
    expectProblem(await request(`${url}/v1/txn`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '' }), 400, 'invalid_json');
    expectProblem(
      await request(`${url}/v1/admin/import?format=seed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' }),
      400,
      'invalid_json',
    );
  });

  test('404 key_not_found: GET and DELETE of a missing key', async () => {
    const read = expectProblem(await request(`${url}/v1/kv/missing/key`), 404, 'key_not_found');
    assert.match(read.detail, /missing\/key/);
    expectProblem(await request(`${url}/v1/kv/missing/key`, { method: 'DELETE' }), 404, 'key_not_found');
  });

  test('404 not_found: no such route', async () => {
    expectProblem(await request(`${url}/v1/does-not-exist`), 404, 'not_found');
    expectProblem(await request(`${url}/v1/does-not-exist`, { method: 'POST', body: '{}' }), 404, 'not_found');
  });

  test('405 method_not_allowed with Allow', async () => {
    const onKey = await request(`${url}/v1/kv/a`, { method: 'PATCH', body: 'x' });
    expectProblem(onKey, 405, 'method_not_allowed');
    for (const method of ['GET', 'PUT', 'DELETE', 'POST']) assert.ok(allowOf(onKey.headers).includes(method), `Allow names ${method}`);
    const onStatus = await request(`${url}/v1/status`, { method: 'DELETE' });
    expectProblem(onStatus, 405, 'method_not_allowed');
    assert.ok(allowOf(onStatus.headers).includes('GET'));
    assert.ok(!allowOf(onStatus.headers).includes('DELETE'));
    const onTxn = await request(`${url}/v1/txn`);
    expectProblem(onTxn, 405, 'method_not_allowed');
    assert.deepEqual(allowOf(onTxn.headers), ['POST']);
  });

  test('409 txn_conflict with failedChecks, and nothing applied', async () => {
    assert.equal((await putValue(url, 'txn/present', 'v')).status, 201);
    const response = await postJson(`${url}/v1/txn`, {
      checks: [
        { key: 'txn/present', exists: true },
        { key: 'txn/absent', exists: true },
        { key: 'txn/present', revision: 999999 },
      ],
      ops: [{ op: 'put', key: 'txn/written', value: 1 }],
    });
    const problem = expectProblem(response, 409, 'txn_conflict');
    assert.deepEqual(problem.failedChecks, [1, 2]);
    assert.equal((await request(`${url}/v1/kv/txn/written`)).status, 404);
  });

  test('409 not_a_counter', async () => {
    assert.equal((await putValue(url, 'counter/text', 'twelve', { headers: { 'content-type': 'text/plain' } })).status, 201);
    expectProblem(await request(`${url}/v1/kv/counter/text?op=add&by=1`, { method: 'POST' }), 409, 'not_a_counter');
    assert.equal((await putValue(url, 'counter/float', '1.5', { headers: { 'content-type': 'application/json' } })).status, 201);
    expectProblem(await request(`${url}/v1/kv/counter/float?op=add`, { method: 'POST' }), 409, 'not_a_counter');
  });

  test('409 counter_overflow, and the value is unchanged', async () => {
    assert.equal((await putValue(url, 'counter/max', String(Number.MAX_SAFE_INTEGER), { headers: { 'content-type': 'application/json' } })).status, 201);
    expectProblem(await request(`${url}/v1/kv/counter/max?op=add&by=1`, { method: 'POST' }), 409, 'counter_overflow');
    assert.equal((await request(`${url}/v1/kv/counter/max`)).text, String(Number.MAX_SAFE_INTEGER));
    assert.equal((await putValue(url, 'counter/min', String(-Number.MAX_SAFE_INTEGER), { headers: { 'content-type': 'application/json' } })).status, 201);
    expectProblem(await request(`${url}/v1/kv/counter/min?op=add&by=-1`, { method: 'POST' }), 409, 'counter_overflow');
  });

  test('412 precondition_failed with currentRevision (or null)', async () => {
    const put = await putValue(url, 'cond/key', 'v1');
    assert.equal(put.status, 201);
    const revision = put.body.revision;
    const stale = expectProblem(await putValue(url, 'cond/key', 'v2', { headers: { 'if-match': `"${revision + 1000}"` } }), 412, 'precondition_failed');
    assert.equal(stale.currentRevision, revision);
    const exists = expectProblem(await putValue(url, 'cond/key', 'v2', { headers: { 'if-none-match': '*' } }), 412, 'precondition_failed');
    assert.equal(exists.currentRevision, revision);
    const absent = expectProblem(await putValue(url, 'cond/absent', 'v', { headers: { 'if-match': '*' } }), 412, 'precondition_failed');
    assert.equal(absent.currentRevision, null);
    const deleteStale = expectProblem(
      await request(`${url}/v1/kv/cond/key`, { method: 'DELETE', headers: { 'if-match': `"${revision + 1}"` } }),
      412,
      'precondition_failed',
    );
    assert.equal(deleteStale.currentRevision, revision);
    assert.equal((await request(`${url}/v1/kv/cond/key`)).text, 'v1');
  });

  test('413 value_too_large with limit', async () => {
    const { maxValueBytes } = (await request(`${url}/v1/limits`)).body;
    const problem = expectProblem(await putValue(url, 'big/value', Buffer.alloc(maxValueBytes + 1, 0x61)), 413, 'value_too_large');
    assert.equal(problem.limit, maxValueBytes);
    assert.equal((await request(`${url}/v1/kv/big/value`)).status, 404);
  });

  test('413 request_too_large with limit', async () => {
    const { maxRequestBytes } = (await request(`${url}/v1/limits`)).body;
    const body = Buffer.alloc(maxRequestBytes + 1, 0x20);
    const problem = expectProblem(
      await request(`${url}/v1/txn`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }),
      413,
      'request_too_large',
    );
    assert.equal(problem.limit, maxRequestBytes);
  });

  test('an error raised before routing (headers too large) on /v1 is still problem+json', async () => {
    const response = await request(`${url}/v1/kv/some-key`, { headers: { 'x-padding': 'p'.repeat(32 * 1024) } });
    assert.ok(response.status >= 400 && response.status < 500, `a client error: ${response.status}`);
    assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/, response.text);
    assert.equal(response.body.status, response.status);
    for (const member of ['title', 'code', 'detail']) assert.equal(typeof response.body[member], 'string', member);
  });

  test('problem titles are the HTTP status phrase, as for RFC 9457 "about:blank" and API.md §8\'s example', async () => {
    // API.md §8: {"status": 404, "title": "Not Found", "code": "key_not_found", ...}
    const missing = expectProblem(await request(`${url}/v1/kv/no-such-key`), 404, 'key_not_found');
    assert.equal(missing.title, 'Not Found');
    const badKey = expectProblem(await request(`${url}/v1/kv/%FF`), 400, 'invalid_key');
    if (badKey.type === undefined || badKey.type === 'about:blank') assert.equal(badKey.title, 'Bad Request');
  });

  test('415 unsupported_media_type: a JSON route given another type', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x']) {
      expectProblem(await request(`${url}/v1/txn`, { method: 'POST', headers: { 'content-type': type }, body: '{"ops":[]}' }), 415, 'unsupported_media_type');
    }
  });
});

describe('no input makes the server answer 500', () => {
  let url: string;

  const server = useTestServer({}, async () => {
    url = server.url;
    assert.equal((await putValue(url, 'exists', '{"a":1}', { headers: { 'content-type': 'application/json' } })).status, 201);
    assert.equal((await putValue(url, 'counter', '5', { headers: { 'content-type': 'application/json' } })).status, 201);
  });

  type Odd = [method: string, path: string, headers?: Record<string, string>, body?: string | Buffer];

  /**
   * Sends every request; returns the ones answered 5xx (or not at all), and
   * the errors whose body breaks the contract: problem+json on /v1, the seed's
   * {"status":"error","message"} on /put, /get and /del.
   */
  async function sendAll(base: string, requests: Odd[]): Promise<string[]> {
    const failures: string[] = [];
    for (const [method, path, headers, body] of requests) {
      const label = `${method} ${path.length > 120 ? `${path.slice(0, 120)}…` : path} ${JSON.stringify(headers ?? {})} ${body === undefined ? '' : `body ${String(body).slice(0, 60)}${String(body).length > 60 ? '…' : ''}`}`;
      try {
        const response = await rawRequest(base, method, path, headers, body);
        // On etcd, GET /v1/admin/backup is 501 whatever the input (etcd keeps no local store to copy): its answer, not a failure.
        const etcdBackupRefusal = !ENGINE.capabilities.snapshotBackup && method === 'GET' && path.startsWith('/v1/admin/backup') && response.status === 501;
        if ((response.status >= 500 && !etcdBackupRefusal) || response.status < 100) {
          failures.push(`${label} → ${response.status} ${response.text.slice(0, 200)}`);
          continue;
        }
        if (response.status < 400 || method === 'HEAD') continue;
        const type = String(response.headers['content-type'] ?? '');
        let document: any;
        try {
          document = JSON.parse(response.text);
        } catch {
          document = undefined;
        }
        const route = path.split('?')[0]!;
        if (route.startsWith('/v1/') || route === '/v1') {
          const shaped =
            type.startsWith('application/problem+json') &&
            document?.status === response.status &&
            typeof document.code === 'string' &&
            typeof document.title === 'string' &&
            typeof document.detail === 'string';
          if (!shaped) failures.push(`${label} → ${response.status} is not problem+json: ${type} ${response.text.slice(0, 200)}`);
        } else if (['/put', '/get', '/del'].includes(route)) {
          const shaped = type.startsWith('application/json') && document?.status === 'error' && typeof document.message === 'string';
          if (!shaped) failures.push(`${label} → ${response.status} is not the seed's error body: ${type} ${response.text.slice(0, 200)}`);
        }
      } catch (error) {
        failures.push(`${label} → no answer: ${(error as Error).message}`);
      }
    }
    return failures;
  }

  async function assertHealthy(base: string): Promise<void> {
    const health = await request(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: 'ok' });
  }

  test('a batch of odd requests never gets a 5xx, and the server keeps serving', async () => {
    const json = { 'content-type': 'application/json' };
    const odd: Odd[] = [
      // absurd and huge query values
      ['GET', '/v1/kv?limit=99999999999999999999999999999'],
      ['GET', '/v1/kv?limit=-1'],
      ['GET', '/v1/kv?limit=1e3'],
      ['GET', '/v1/kv?limit=NaN'],
      ['GET', '/v1/kv?limit=0x10'],
      ['GET', '/v1/kv?limit=%20%201'],
      ['GET', '/v1/kv?reverse=maybe&values=2'],
      ['GET', '/v1/kv?delimiter='],
      ['GET', '/v1/kv?delimiter=%FF'],
      ['GET', '/v1/kv?cursor=garbage'],
      ['GET', '/v1/kv?cursor=AAAA'],
      ['GET', '/v1/kv?cursor=%FF%FE'],
      ['GET', '/v1/kv?cursor=eyJ4Ijp0cnVlfQ'],
      ['GET', `/v1/kv?cursor=${'A'.repeat(5000)}`],
      ['GET', '/v1/kv?start=%FF&end=%00'],
      ['GET', '/v1/kv?start=z&end=a'],
      ['GET', '/v1/kv?start=z&end=a&reverse=true'],
      ['GET', `/v1/kv?prefix=${'p'.repeat(3000)}`],
      ['GET', '/v1/kv?prefix=%ED%A0%80'],
      ['DELETE', '/v1/kv'],
      ['DELETE', '/v1/kv?prefix=%FF'],
      ['DELETE', '/v1/kv?prefix=nothing&dry_run=perhaps'],
      ['PUT', '/v1/kv/ttl?ttl=1e309', {}, 'v'],
      ['PUT', '/v1/kv/ttl?ttl=99999999999999999999999', {}, 'v'],
      ['PUT', '/v1/kv/ttl?ttl=0', {}, 'v'],
      ['PUT', '/v1/kv/ttl?ttl=0.0001', {}, 'v'],
      ['PUT', '/v1/kv/ttl?ttl=NaN', {}, 'v'],
      ['PUT', '/v1/kv/ttl?ttl=Infinity', {}, 'v'],
      ['PUT', '/v1/kv/ttl?ttl=', {}, 'v'],
      ['POST', '/v1/kv/counter?op=add&by=1e400'],
      ['POST', '/v1/kv/counter?op=add&by=99999999999999999999999'],
      ['POST', '/v1/kv/counter?op=add&by=-9007199254740992'],
      ['POST', '/v1/kv/counter?op=add&by=abc'],
      ['POST', '/v1/kv/counter?op=sub'],
      ['POST', '/v1/kv/exists?op=add'],
      // arrays and objects in the query
      ['GET', '/get?key=a&key=b'],
      ['GET', '/get?key[]=a'],
      ['GET', '/get?key[a]=b'],
      ['DELETE', '/del?key=a&key=b'],
      ['POST', '/put?key=a&key=b', json, '{"value":1}'],
      ['GET', '/v1/kv?limit=1&limit=2'],
      ['GET', '/v1/kv?prefix=a&prefix=b'],
      ['GET', '/v1/kv?prefix[]=a'],
      ['PUT', '/v1/kv/arr?ttl=1&ttl=2', {}, 'v'],
      ['POST', '/v1/kv/counter?op=add&op=add'],
      ['POST', '/v1/kv/counter?op=add&by=1&by=2'],
      ['GET', '/v1/admin/export?prefix=a&prefix=b'],
      ['POST', '/v1/admin/import?format=seed&format=ndjson', json, '{}'],
      ['POST', '/v1/admin/import?format=xml', {}, '{}'],
      // non-UTF-8 and malformed percent-encodings
      ['GET', '/v1/kv/%FF%FE'],
      ['PUT', '/v1/kv/%C0%80', {}, 'v'],
      ['GET', '/v1/kv/%ED%A0%80'],
      ['DELETE', '/v1/kv/%'],
      ['GET', '/v1/kv/%zz'],
      ['GET', '/v1/kv/a/%2e%2e/b'],
      ['GET', '/v1/kv/a/../b'],
      ['GET', '/v1/kv/./a'],
      ['GET', '/v1/kv//'],
      ['GET', '/get?key=%FF'],
      ['GET', '/get?key=%'],
      ['GET', '/get?key=%ED%A0%80'],
      ['GET', '/get?key='],
      ['GET', '/get?key=a%00b'],
      ['DELETE', '/del?key=%C0%80'],
      ['POST', '/put?key=%ZZ', json, '{"value":1}'],
      ['GET', '/v1/admin/export?prefix=%FF'],
      ['GET', '/v1/status?x=%'],
      ['GET', '/%FF'],
      ['GET', '//v1//kv'],
      ['GET', '/v1/kv/../../etc/passwd'],
      ['GET', `/v1/kv/${'%F0%9F%8E%89'.repeat(400)}`],
      // empty bodies
      ['POST', '/put', json, ''],
      ['POST', '/put', {}, ''],
      ['POST', '/put'],
      ['POST', '/v1/txn', json, ''],
      ['POST', '/v1/txn'],
      ['POST', '/v1/admin/import', {}, ''],
      ['POST', '/v1/admin/import?format=seed', {}, ''],
      ['PUT', '/v1/kv/empty', {}, ''],
      ['PUT', '/v1/kv/empty'],
      // odd JSON and txn bodies
      ['POST', '/v1/txn', json, 'null'],
      ['POST', '/v1/txn', json, '"string"'],
      ['POST', '/v1/txn', json, '{"ops":"x"}'],
      ['POST', '/v1/txn', json, '{"ops":[null]}'],
      ['POST', '/v1/txn', json, '{"ops":[{"op":"put","key":"a"}]}'],
      ['POST', '/v1/txn', json, '{"ops":[{"op":"put","key":"a","value":"@@","encoding":"base64"}]}'],
      ['POST', '/v1/txn', json, '{"ops":[{"op":"put","key":"a","value":1,"encoding":"rot13"}]}'],
      ['POST', '/v1/txn', json, '{"ops":[{"op":"put","key":"a","value":1,"ttl":1e308}]}'],
      ['POST', '/v1/txn', json, '{"ops":[{"op":"put","key":"a","value":1,"ttl":-0}]}'],
      ['POST', '/v1/txn', json, '{"ops":[{"op":"put","key":"a","value":1,"contentType":""}]}'],
      ['POST', '/v1/txn', json, '{"ops":[{"op":"add","key":"a","by":1.5}]}'],
      ['POST', '/v1/txn', json, '{"ops":[{"op":"add","key":"exists"}]}'],
      ['POST', '/v1/txn', json, '{"ops":[{"op":"add","key":"counter","by":9007199254740991}]}'],
      ['POST', '/v1/txn', json, '{"checks":[{"key":"a","revision":1e300}]}'],
      ['POST', '/v1/txn', json, '{"checks":[{"key":"a","revision":-1}]}'],
      ['POST', '/v1/txn', json, '{"checks":[{"key":"a","exists":"yes"}]}'],
      ['POST', '/v1/txn', json, '{"checks":[{"key":{"x":1},"exists":true}]}'],
      ['POST', '/v1/txn', json, '{"__proto__":{"ops":[]}}'],
      ['POST', '/v1/txn', json, '{"constructor":{"prototype":{"x":1}}}'],
      ['POST', '/v1/txn', json, JSON.stringify({ ops: Array.from({ length: 129 }, (_, index) => ({ op: 'get', key: `k${index}` })) })],
      [
        'POST',
        '/v1/txn',
        json,
        JSON.stringify({
          ops: [
            { op: 'get', key: 'a' },
            { op: 'delete', key: 'a' },
          ],
        }),
      ],
      ['POST', '/v1/txn', json, '\uFEFF{"ops":[]}'],
      ['POST', '/v1/txn', json, Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
      ['POST', '/v1/txn', { 'content-type': 'application/json; charset=latin1' }, '{"ops":[]}'],
      ['POST', '/v1/txn', { 'content-type': 'application/jsonx' }, '{"ops":[]}'],
      ['POST', '/v1/txn', { 'content-type': '' }, '{"ops":[]}'],
      ['POST', '/v1/txn', { 'content-type': ';;;' }, '{"ops":[]}'],
      ['POST', '/put', json, '{"key":"inf","value":1e999}'],
      ['POST', '/put', json, '{"key":"__proto__","value":1}'],
      ['POST', '/put', json, '{"key":"a","value":1,"__proto__":{"polluted":true}}'],
      ['POST', '/put', json, '{"key":"a/../b","value":1}'],
      ['POST', '/put', json, `{"key":"${'k'.repeat(5000)}","value":1}`],
      ['POST', '/put', json, Buffer.from([0x7b, 0x22, 0x6b, 0x65, 0x79, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])],
      ['POST', '/v1/admin/import', {}, '{"key":"a","value":"AA==","expiresAt":"not a date"}'],
      ['POST', '/v1/admin/import', {}, '{"key":"a","value":"AA==","expiresAt":1e20}'],
      ['POST', '/v1/admin/import', {}, '{"key":"past","value":"AA==","expiresAt":"1970-01-01T00:00:00.000Z"}'],
      ['POST', '/v1/admin/import', {}, '{"key":"a","value":"AA==","contentType":42}'],
      ['POST', '/v1/admin/import', {}, '[]\n"x"\nnull\n'],
      ['POST', '/v1/admin/import', {}, Buffer.from([0xff, 0xfe, 0x0a, 0x00])],
      ['POST', '/v1/admin/import?format=seed', {}, '[]'],
      ['POST', '/v1/admin/import?format=seed', {}, 'null'],
      ['POST', '/v1/admin/import?format=seed', {}, '{"a":null}'],
      ['POST', '/v1/admin/import?format=seed', {}, '{"inf":1e999}'],
      // odd headers
      ['PUT', '/v1/kv/hdr', { 'if-match': 'garbage' }, 'v'],
      ['PUT', '/v1/kv/hdr', { 'if-match': '"99999999999999999999"' }, 'v'],
      ['PUT', '/v1/kv/hdr', { 'if-none-match': 'W/"1", "x", *' }, 'v'],
      ['DELETE', '/v1/kv/hdr', { 'if-match': '""' }],
      ['GET', '/v1/kv/exists', { 'if-none-match': 'not-a-tag' }],
      ['GET', '/v1/kv/exists', { prefer: 'wait=abc' }],
      ['GET', '/v1/kv/exists', { prefer: 'wait=99999999999999' }],
      ['GET', '/v1/kv/missing', { 'if-none-match': '"1"', prefer: 'wait=0' }],
      ['PUT', '/v1/kv/ct', { 'content-type': 'x'.repeat(300) }, 'v'],
      ['PUT', '/v1/kv/ct', { 'content-type': 'application/json; charset=' }, 'not json'],
      ['GET', '/get?key=ct'],
      ['GET', '/v1/kv?values=true'],
      ['POST', '/v1/kv/exists?op=add', { 'content-type': 'application/json' }, '{}'],
      ['GET', '/v1/status', { 'content-type': 'application/json' }, '{'],
      ['GET', '/healthz', { 'content-type': 'application/json' }, 'not json'],
      ['OPTIONS', '/v1/kv/exists'],
      ['PATCH', '/put', json, '{}'],
      ['TRACE', '/v1/status'],
    ];

    // Every registered route, with every method it serves (and PATCH), given odd content types and bodies.
    const contentTypes = [
      'application/xml',
      'multipart/form-data; boundary=x',
      'application/x-www-form-urlencoded',
      'text/html; charset=utf-16',
      'image/png',
      'application/json',
    ];
    for (const { url: route, methods } of server.routes.entries()) {
      const path = route.replace('*', 'odd/key');
      for (const method of [...methods, 'PATCH']) {
        if (method === 'HEAD') {
          odd.push(['HEAD', path]);
          continue;
        }
        for (const type of contentTypes) {
          odd.push([method, path, { 'content-type': type }, '<xml>not what you want</xml>']);
          odd.push([method, `${path}?key=odd`, { 'content-type': type }, '']);
        }
      }
    }

    const failures = await sendAll(url, odd);
    assert.deepEqual(failures, [], `requests answered 5xx or with a malformed error:\n${failures.join('\n')}`);
    await assertHealthy(url);
  });

  test('JSON nested 10,000 levels deep never gets a 5xx, and the server keeps serving', async () => {
    const depth = 10_000;
    const arrays = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const objects = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    const json = { 'content-type': 'application/json' };
    const deepServer = await startTestServer();
    try {
      const failures = await sendAll(deepServer.url, [
        ['POST', '/v1/txn', json, arrays],
        ['POST', '/v1/txn', json, objects],
        ['POST', '/v1/txn', json, `{"ops":[{"op":"put","key":"deep/txn","value":${arrays}}]}`],
        ['POST', '/v1/txn', json, `{"ops":[{"op":"put","key":"deep/txn2","value":${objects}}]}`],
        ['POST', '/put', json, arrays],
        ['POST', '/put', json, `{"key":"deep/seed","value":${arrays}}`],
        ['POST', '/put', json, `{"key":"deep/seed2","value":${objects}}`],
        ['POST', '/v1/admin/import?format=seed', json, `{"deep/import":${arrays}}`],
        ['POST', '/v1/admin/import', {}, arrays],
        // Stored as raw bytes with a JSON type, then read back through every JSON envelope.
        ['PUT', '/v1/kv/deep/raw', json, arrays],
        ['GET', '/v1/kv/deep/raw'],
        ['GET', '/get?key=deep/raw'],
        ['GET', '/v1/kv?prefix=deep/&values=true'],
        ['POST', '/v1/txn', json, '{"ops":[{"op":"get","key":"deep/raw"}]}'],
        ['GET', '/v1/admin/export?prefix=deep/'],
      ]);
      assert.deepEqual(failures, [], `requests answered 5xx or with a malformed error:\n${failures.join('\n')}`);
      await assertHealthy(deepServer.url);
    } finally {
      await deepServer.close();
    }
  });

  test('an import whose expiresAt is the last instant a Date can hold never breaks reads or stops kvs serve', async () => {
    // The import accepts `+275760-09-13T00:00:00.000Z` (an ISO 8601 expanded year, the largest instant a JavaScript Date
    // holds). It turns it into a TTL from the request's clock and the store adds that TTL to its own, later, clock;
    // concurrent writes make that later clock likely, so a few rounds under load reproduce what one unlucky import does.
    const directory = tempDirectory();
    const kvs = await spawnServer({ DATA_DIRECTORY: directory, LOG_LEVEL: 'warn' });
    const failures: string[] = [];
    const check = async (label: string, path: string, init: RequestInit = {}) => {
      try {
        const response = await fetch(`${kvs.url}${path}`, { ...init, signal: AbortSignal.timeout(5_000) });
        await response.arrayBuffer();
        if (response.status >= 500) failures.push(`${label} → ${response.status}`);
      } catch (error) {
        failures.push(`${label} → no answer: ${(error as Error).message} ${String((error as { cause?: { code?: string } }).cause?.code ?? '')}`);
      }
    };
    try {
      for (let round = 0; round < 5 && failures.length === 0; round++) {
        const load = Array.from({ length: 30 }, (_, index) =>
          fetch(`${kvs.url}/v1/kv/load/${index}`, { method: 'PUT', body: 'x'.repeat(10_000) }).then((response) => response.arrayBuffer()),
        );
        const imported = fetch(`${kvs.url}/v1/admin/import`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson' },
          body: `${JSON.stringify({ key: `far/${round}`, value: 'AA==', contentType: 'application/octet-stream', expiresAt: '+275760-09-13T00:00:00.000Z' })}\n`,
        });
        const [importResponse] = await Promise.all([imported, ...load]);
        if (importResponse.status >= 500) failures.push(`POST /v1/admin/import (round ${round}) → ${importResponse.status}`);
        await importResponse.arrayBuffer();
        await check(`GET /v1/kv/far/${round}`, `/v1/kv/far/${round}`);
        await check(`HEAD /v1/kv/far/${round}`, `/v1/kv/far/${round}`, { method: 'HEAD' });
        await check('GET /v1/kv?prefix=far/', '/v1/kv?prefix=far/');
        await check('GET /v1/admin/export?prefix=far/', '/v1/admin/export?prefix=far/');
      }
      assert.deepEqual(failures, [], `after importing expiresAt +275760-09-13T00:00:00.000Z:\n${failures.join('\n')}\n${kvs.output().slice(-1500)}`);
      assert.equal(kvs.child.exitCode, null, 'kvs serve is still running');
      assert.equal((await request(`${kvs.url}/healthz`)).status, 200);
    } finally {
      if (kvs.child.exitCode === null && kvs.child.signalCode === null) kvs.child.kill('SIGKILL');
      await kvs.exited;
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
