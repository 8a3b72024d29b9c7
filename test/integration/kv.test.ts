import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeKey, expectProblem, putValue, request, type JsonResponse } from '../helpers/http.js';
import { sleep, TEST_ENGINE, useTestServer } from '../helpers/server.js';
import { differencesOf, expectedMaxValueBytes } from '../engine/differences.js';

/** How the engine under test differs from the other, each with its reason (test/engine/differences.ts). */
const ENGINE = differencesOf(TEST_ENGINE);

/**
 * Single keys over real HTTP: `/v1/kv/{key}` (API.md §2, §3, §8).
 */
let base: string;

const server = useTestServer({}, () => {
  base = server.url;
});

const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** URL of a key, percent-encoded segment by segment. */
function keyUrl(key: string, query?: string): string {
  return `${base}/v1/kv/${encodeKey(key)}${query ? `?${query}` : ''}`;
}

/** URL with the key part exactly as given (for testing the path decoding itself). */
function rawUrl(rawKey: string, query?: string): string {
  return `${base}/v1/kv/${rawKey}${query ? `?${query}` : ''}`;
}

async function getBytes(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; bytes: Buffer }> {
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

async function storeRevision(): Promise<number> {
  const status = await request(`${base}/v1/status`);
  assert.equal(status.status, 200);
  return status.body.revision;
}

function expectCreated(response: JsonResponse, key: string): { revision: number; createRevision: number; version: number } {
  assert.equal(response.status, 201, response.text);
  assert.equal(response.body.key, key);
  return response.body;
}

describe('PUT and GET', () => {
  it('PUT creates with 201 and replaces with 200, with ETag, KV-Revision and a write body', async () => {
    const created = await putValue(base, 'put/basic', 'one', { headers: { 'content-type': 'text/plain' } });
    assert.equal(created.status, 201, created.text);
    assert.equal(typeof created.body.revision, 'number');
    assert.deepEqual(created.body, { key: 'put/basic', revision: created.body.revision, createRevision: created.body.revision, version: 1 });
    assert.equal(created.headers.get('etag'), `"${created.body.revision}"`);
    assert.equal(created.headers.get('kv-revision'), String(created.body.revision));

    const replaced = await putValue(base, 'put/basic', 'two', { headers: { 'content-type': 'text/plain' } });
    assert.equal(replaced.status, 200, replaced.text);
    assert.deepEqual(replaced.body, { key: 'put/basic', revision: created.body.revision + 1, createRevision: created.body.revision, version: 2 });
    assert.equal(replaced.headers.get('etag'), `"${replaced.body.revision}"`);
    assert.equal(replaced.headers.get('kv-revision'), String(replaced.body.revision));

    const third = await putValue(base, 'put/basic', 'three', { headers: { 'content-type': 'text/plain' } });
    assert.equal(third.status, 200);
    assert.equal(third.body.version, 3);
    assert.equal(third.body.createRevision, created.body.revision);
    assert.ok(third.body.revision > replaced.body.revision);
  });

  it('GET returns the stored bytes, the stored Content-Type and the read headers', async () => {
    const put = await putValue(base, 'get/text', 'héllo wörld', { headers: { 'content-type': 'text/plain; charset=utf-8' } });
    assert.equal(put.status, 201);
    const revision = put.body.revision;

    const got = await getBytes(keyUrl('get/text'));
    assert.equal(got.status, 200);
    assert.deepEqual(got.bytes, Buffer.from('héllo wörld', 'utf8'));
    assert.equal(got.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(got.headers.get('etag'), `"${revision}"`);
    assert.equal(got.headers.get('kv-create-revision'), String(revision));
    assert.equal(got.headers.get('kv-version'), '1');
    assert.equal(got.headers.get('cache-control'), 'no-cache');
    assert.equal(got.headers.get('kv-expires-at'), null);
    // A value is never a page of this origin: no sniffing, and a document opened from it is sandboxed.
    assert.equal(got.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(got.headers.get('content-security-policy'), 'sandbox');
    assert.equal(Number(got.headers.get('kv-revision')), await storeRevision());
    assert.ok(Number(got.headers.get('kv-revision')) >= revision);
  });

  it('KV-Revision on GET is the store revision, which moves on when other keys change', async () => {
    const put = await putValue(base, 'get/store-rev', 'x');
    await putValue(base, 'get/store-rev-other', 'y');
    const got = await getBytes(keyUrl('get/store-rev'));
    assert.equal(got.headers.get('etag'), `"${put.body.revision}"`);
    assert.equal(Number(got.headers.get('kv-revision')), await storeRevision());
    assert.ok(Number(got.headers.get('kv-revision')) > put.body.revision);
  });

  it('stores binary bytes exactly', async () => {
    const bytes = Buffer.from([0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0xc3, 0x28, 0x00]);
    const put = await putValue(base, 'get/binary', bytes, { headers: { 'content-type': 'application/x-custom-binary' } });
    assert.equal(put.status, 201);
    const got = await getBytes(keyUrl('get/binary'));
    assert.equal(got.status, 200);
    assert.deepEqual(got.bytes, bytes);
    assert.equal(got.headers.get('content-type'), 'application/x-custom-binary');
    assert.equal(got.headers.get('content-length'), String(bytes.length));
  });

  it('stores an empty value', async () => {
    const put = await putValue(base, 'get/empty', Buffer.alloc(0), { headers: { 'content-type': 'text/plain' } });
    assert.equal(put.status, 201, put.text);
    const got = await getBytes(keyUrl('get/empty'));
    assert.equal(got.status, 200);
    assert.equal(got.bytes.length, 0);
    assert.equal(got.headers.get('content-type'), 'text/plain');
    assert.equal(got.headers.get('kv-version'), '1');
  });

  it('defaults the content type to application/octet-stream when none is sent', async () => {
    const put = await putValue(base, 'get/no-type', Buffer.from('raw bytes'));
    assert.equal(put.status, 201, put.text);
    const got = await getBytes(keyUrl('get/no-type'));
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual(got.bytes, Buffer.from('raw bytes'));
  });

  it('a replace keeps createRevision, bumps version and replaces the content type', async () => {
    const first = await putValue(base, 'get/replace', '{"a":1}', { headers: { 'content-type': 'application/json' } });
    const second = await putValue(base, 'get/replace', 'plain', { headers: { 'content-type': 'text/plain' } });
    assert.equal(second.status, 200);
    const got = await getBytes(keyUrl('get/replace'));
    assert.equal(got.bytes.toString(), 'plain');
    assert.equal(got.headers.get('content-type'), 'text/plain');
    assert.equal(got.headers.get('kv-version'), '2');
    assert.equal(got.headers.get('kv-create-revision'), String(first.body.revision));
    assert.equal(got.headers.get('etag'), `"${second.body.revision}"`);
  });

  it('HEAD gives the same headers as GET and no body', async () => {
    await putValue(base, 'head/k', 'twelve bytes', { headers: { 'content-type': 'text/x-thing' } });
    const get = await getBytes(keyUrl('head/k'));
    const head = await getBytes(keyUrl('head/k'), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.bytes.length, 0);
    for (const name of ['content-type', 'etag', 'kv-revision', 'kv-create-revision', 'kv-version', 'cache-control']) {
      assert.equal(head.headers.get(name), get.headers.get(name), name);
    }
    assert.equal(head.headers.get('content-length'), '12');
    const missing = await getBytes(keyUrl('head/missing'), { method: 'HEAD' });
    assert.equal(missing.status, 404);
    assert.equal(missing.bytes.length, 0);
  });

  it('GET of a missing key is 404 key_not_found', async () => {
    expectProblem(await request(keyUrl('never/written')), 404, 'key_not_found');
  });
});

describe('keys in the path', () => {
  it('accepts keys with unescaped slashes', async () => {
    const put = await putValue(base, 'a/b/c/d', 'deep');
    expectCreated(put, 'a/b/c/d');
    const got = await request(rawUrl('a/b/c/d'));
    assert.equal(got.status, 200);
    assert.equal(got.text, 'deep');
  });

  it('accepts unicode keys', async () => {
    const key = 'ユニコード/ключ/😀';
    const put = await putValue(base, key, 'unicode');
    expectCreated(put, key);
    const got = await request(keyUrl(key));
    assert.equal(got.status, 200);
    assert.equal(got.text, 'unicode');
  });

  it('decodes %2F as a slash: the same key as an unescaped /', async () => {
    const put = await request(rawUrl('enc%2Fslash'), { method: 'PUT', body: 'via %2F' });
    expectCreated(put, 'enc/slash');
    const got = await request(rawUrl('enc/slash'));
    assert.equal(got.status, 200);
    assert.equal(got.text, 'via %2F');
  });

  it('percent-decodes exactly once: %252F is the key with a literal %2F', async () => {
    const put = await request(rawUrl('once%252Fx'), { method: 'PUT', body: 'literal' });
    expectCreated(put, 'once%2Fx');
    const got = await request(rawUrl('once%252Fx'));
    assert.equal(got.status, 200);
    assert.equal(got.text, 'literal');
    expectProblem(await request(rawUrl('once/x')), 404, 'key_not_found');
    expectProblem(await request(rawUrl('once%2Fx')), 404, 'key_not_found');
    const list = await request(`${base}/v1/kv?prefix=${encodeURIComponent('once')}`);
    assert.deepEqual(
      list.body.items.map((item: { key: string }) => item.key),
      ['once%2Fx'],
    );
  });

  it('accepts a key of exactly 1024 UTF-8 bytes and refuses 1025', async () => {
    const ascii1024 = 'k'.repeat(1024);
    expectCreated(await putValue(base, ascii1024, 'max'), ascii1024);
    assert.equal((await request(keyUrl(ascii1024))).text, 'max');

    const multi1024 = 'm' + 'é'.repeat(511) + 'x'; // 1 + 1022 + 1 bytes
    assert.equal(Buffer.byteLength(multi1024), 1024);
    expectCreated(await putValue(base, multi1024, 'max-multi'), multi1024);
    assert.equal((await request(keyUrl(multi1024))).text, 'max-multi');

    const ascii1025 = 'k'.repeat(1025);
    expectProblem(await putValue(base, ascii1025, 'too long'), 400, 'invalid_key');
    expectProblem(await request(keyUrl(ascii1025)), 400, 'invalid_key');
    const multi1025 = multi1024 + 'y';
    expectProblem(await putValue(base, multi1025, 'too long'), 400, 'invalid_key');
  });

  it('refuses "." and ".." segments with 400 invalid_key', async () => {
    // `%2F` keeps fetch from normalising the dot segments away; the decoded keys hold them.
    for (const raw of ['a%2F..%2Fb', '..%2Fb', 'a%2F.', '.%2Fa', 'a%2F.%2Fb']) {
      expectProblem(await request(rawUrl(raw), { method: 'PUT', body: 'x' }), 400, 'invalid_key');
      expectProblem(await request(rawUrl(raw)), 400, 'invalid_key');
    }
    // Dots that are not whole segments are fine.
    expectCreated(await putValue(base, 'dots/.hidden/a..b/...', 'ok'), 'dots/.hidden/a..b/...');
  });

  it('refuses %00 with 400 invalid_key', async () => {
    expectProblem(await request(rawUrl('nul%00byte'), { method: 'PUT', body: 'x' }), 400, 'invalid_key');
    expectProblem(await request(rawUrl('nul%00byte')), 400, 'invalid_key');
  });

  it('refuses malformed percent-encoding with 400 invalid_key', async () => {
    for (const raw of ['bad%zz', 'bad%', 'bad%4', 'bad%C3%28', '%FF']) {
      expectProblem(await request(rawUrl(raw), { method: 'PUT', body: 'x' }), 400, 'invalid_key');
      expectProblem(await request(rawUrl(raw)), 400, 'invalid_key');
    }
  });

  it('refuses the empty key /v1/kv/ with 400 invalid_key', async () => {
    expectProblem(await request(`${base}/v1/kv/`, { method: 'PUT', body: 'x' }), 400, 'invalid_key');
    expectProblem(await request(`${base}/v1/kv/`), 400, 'invalid_key');
    expectProblem(await request(`${base}/v1/kv/`, { method: 'DELETE' }), 400, 'invalid_key');
  });
});

describe('conditional requests', () => {
  it('GET with If-None-Match of the current ETag is 304; another ETag gives 200', async () => {
    const put = await putValue(base, 'cond/inm', 'v');
    const etag = put.headers.get('etag')!;
    const notModified = await getBytes(keyUrl('cond/inm'), { headers: { 'if-none-match': etag } });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.bytes.length, 0);
    assert.equal(notModified.headers.get('etag'), etag);

    const stale = await getBytes(keyUrl('cond/inm'), { headers: { 'if-none-match': `"${put.body.revision - 1}"` } });
    assert.equal(stale.status, 200);
    assert.equal(stale.bytes.toString(), 'v');

    await putValue(base, 'cond/inm', 'v2');
    const changed = await getBytes(keyUrl('cond/inm'), { headers: { 'if-none-match': etag } });
    assert.equal(changed.status, 200);
    assert.equal(changed.bytes.toString(), 'v2');
  });

  it('PUT with a matching If-Match succeeds; a stale one is 412 with currentRevision', async () => {
    const first = await putValue(base, 'cond/im-put', '1');
    const second = await putValue(base, 'cond/im-put', '2', { headers: { 'if-match': `"${first.body.revision}"` } });
    assert.equal(second.status, 200, second.text);
    assert.equal(second.body.version, 2);

    const stale = await putValue(base, 'cond/im-put', '3', { headers: { 'if-match': `"${first.body.revision}"` } });
    const problem = expectProblem(stale, 412, 'precondition_failed');
    assert.equal(problem.currentRevision, second.body.revision);
    assert.equal((await request(keyUrl('cond/im-put'))).text, '2');
  });

  it('If-Match accepts a comma list of ETags', async () => {
    const put = await putValue(base, 'cond/im-list', '1');
    const listed = await putValue(base, 'cond/im-list', '2', { headers: { 'if-match': `"1000000", "${put.body.revision}"` } });
    assert.equal(listed.status, 200, listed.text);
  });

  it('If-Match on a missing key is 412 with currentRevision null', async () => {
    const problem = expectProblem(await putValue(base, 'cond/im-missing', 'x', { headers: { 'if-match': '"1"' } }), 412, 'precondition_failed');
    assert.equal(problem.currentRevision, null);
    expectProblem(await request(keyUrl('cond/im-missing')), 404, 'key_not_found');
  });

  it('DELETE with a matching If-Match succeeds; a stale one is 412 and keeps the key', async () => {
    const first = await putValue(base, 'cond/im-del', '1');
    const second = await putValue(base, 'cond/im-del', '2');
    const stale = await request(keyUrl('cond/im-del'), { method: 'DELETE', headers: { 'if-match': `"${first.body.revision}"` } });
    assert.equal(expectProblem(stale, 412, 'precondition_failed').currentRevision, second.body.revision);
    assert.equal((await request(keyUrl('cond/im-del'))).status, 200);

    const matching = await request(keyUrl('cond/im-del'), { method: 'DELETE', headers: { 'if-match': `"${second.body.revision}"` } });
    assert.equal(matching.status, 204);
    assert.equal((await request(keyUrl('cond/im-del'))).status, 404);

    const gone = await request(keyUrl('cond/im-del'), { method: 'DELETE', headers: { 'if-match': `"${second.body.revision}"` } });
    assert.equal(expectProblem(gone, 412, 'precondition_failed').currentRevision, null);
  });

  it('If-Match: * on a missing key is 412; on an existing key it succeeds', async () => {
    const problem = expectProblem(await putValue(base, 'cond/star', 'x', { headers: { 'if-match': '*' } }), 412, 'precondition_failed');
    assert.equal(problem.currentRevision, null);
    expectProblem(await request(keyUrl('cond/star')), 404, 'key_not_found');

    await putValue(base, 'cond/star', 'x');
    const replaced = await putValue(base, 'cond/star', 'y', { headers: { 'if-match': '*' } });
    assert.equal(replaced.status, 200);
  });

  it('If-None-Match: * creates a missing key and is 412 on an existing key', async () => {
    const created = await putValue(base, 'cond/create-only', 'first', { headers: { 'if-none-match': '*' } });
    assert.equal(created.status, 201, created.text);

    const again = await putValue(base, 'cond/create-only', 'second', { headers: { 'if-none-match': '*' } });
    const problem = expectProblem(again, 412, 'precondition_failed');
    assert.equal(problem.currentRevision, created.body.revision);
    assert.equal((await request(keyUrl('cond/create-only'))).text, 'first');
  });

  it('a malformed If-Match is 400', async () => {
    await putValue(base, 'cond/malformed', 'x');
    const response = await putValue(base, 'cond/malformed', 'y', { headers: { 'if-match': 'abc' } });
    assert.equal(response.status, 400, response.text);
    expectProblem(response, 400, 'invalid_request');
    const del = await request(keyUrl('cond/malformed'), { method: 'DELETE', headers: { 'if-match': 'abc' } });
    assert.equal(del.status, 400);
    assert.equal((await request(keyUrl('cond/malformed'))).text, 'x');
  });
});

describe('DELETE', () => {
  it('deletes with 204 and KV-Revision; the key is then 404', async () => {
    const put = await putValue(base, 'del/k', 'v');
    const deleted = await request(keyUrl('del/k'), { method: 'DELETE' });
    assert.equal(deleted.status, 204);
    assert.equal(deleted.text, '');
    assert.equal(Number(deleted.headers.get('kv-revision')), put.body.revision + 1);
    assert.equal(await storeRevision(), put.body.revision + 1);
    expectProblem(await request(keyUrl('del/k')), 404, 'key_not_found');
  });

  it('DELETE of a missing key is 404 key_not_found and creates no revision', async () => {
    const before = await storeRevision();
    expectProblem(await request(keyUrl('del/missing'), { method: 'DELETE' }), 404, 'key_not_found');
    assert.equal(await storeRevision(), before);
  });

  it('recreating a deleted key starts again at version 1 with a new createRevision', async () => {
    await putValue(base, 'del/recreate', 'a');
    const second = await putValue(base, 'del/recreate', 'b');
    assert.equal(second.body.version, 2);
    assert.equal((await request(keyUrl('del/recreate'), { method: 'DELETE' })).status, 204);
    const recreated = await putValue(base, 'del/recreate', 'c');
    assert.equal(recreated.status, 201);
    assert.equal(recreated.body.version, 1);
    assert.equal(recreated.body.createRevision, recreated.body.revision);
    assert.ok(recreated.body.createRevision > second.body.revision);
    const got = await request(keyUrl('del/recreate'));
    assert.equal(got.headers.get('kv-version'), '1');
    assert.equal(got.headers.get('kv-create-revision'), String(recreated.body.revision));
  });
});

describe('TTL', () => {
  it('?ttl=0.3 sets KV-Expires-At and the key disappears after expiry', async () => {
    const sentAt = Date.now();
    const put = await putValue(base, 'ttl/short', 'brief', { query: 'ttl=0.3' });
    const answeredAt = Date.now();
    assert.equal(put.status, 201, put.text);
    assert.match(put.body.expiresAt, RFC3339_MS);
    const expiresAt = Date.parse(put.body.expiresAt);
    assert.ok(expiresAt >= sentAt + 300 && expiresAt <= answeredAt + 300, `expiresAt ${put.body.expiresAt} is not 300 ms after the write`);

    const got = await request(keyUrl('ttl/short'));
    if (got.status === 200) {
      assert.equal(got.headers.get('kv-expires-at'), put.body.expiresAt);
      assert.equal(got.text, 'brief');
    }

    const deadline = Date.now() + 10_000;
    let status = got.status;
    while (status !== 404 && Date.now() < deadline) {
      await sleep(50);
      status = (await request(keyUrl('ttl/short'))).status;
    }
    assert.equal(status, 404, 'the key did not expire within 10 s');
    assert.ok(Date.now() >= expiresAt);
    expectProblem(await request(keyUrl('ttl/short')), 404, 'key_not_found');
    assert.equal((await request(keyUrl('ttl/short'), { method: 'HEAD' })).status, 404);
    expectProblem(await request(keyUrl('ttl/short'), { method: 'DELETE' }), 404, 'key_not_found');

    // Writing it again starts a new incarnation.
    const again = await putValue(base, 'ttl/short', 'again');
    assert.equal(again.status, 201, again.text);
    assert.equal(again.body.version, 1);
    assert.equal(again.body.createRevision, again.body.revision);
    assert.ok(again.body.createRevision > put.body.revision);
  });

  it('a longer TTL is reported by GET and HEAD', async () => {
    const put = await putValue(base, 'ttl/long', 'v', { query: 'ttl=120.5' });
    assert.equal(put.status, 201);
    assert.match(put.body.expiresAt, RFC3339_MS);
    const got = await request(keyUrl('ttl/long'));
    assert.equal(got.headers.get('kv-expires-at'), put.body.expiresAt);
    const head = await request(keyUrl('ttl/long'), { method: 'HEAD' });
    assert.equal(head.headers.get('kv-expires-at'), put.body.expiresAt);
  });

  it('a PUT without ttl clears an existing TTL', async () => {
    const withTtl = await putValue(base, 'ttl/cleared', 'v1', { query: 'ttl=60' });
    assert.ok(withTtl.body.expiresAt);
    const without = await putValue(base, 'ttl/cleared', 'v2');
    assert.equal(without.status, 200);
    assert.equal('expiresAt' in without.body, false);
    const got = await request(keyUrl('ttl/cleared'));
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('kv-expires-at'), null);
  });

  it('refuses invalid ttl values with 400 invalid_request and writes nothing', async () => {
    for (const ttl of ['0', '-1', 'abc', '1.2345', String(10 * 365 * 24 * 3600 + 1)]) {
      const response = await putValue(base, 'ttl/invalid', 'x', { query: `ttl=${encodeURIComponent(ttl)}` });
      expectProblem(response, 400, 'invalid_request');
    }
    expectProblem(await request(keyUrl('ttl/invalid')), 404, 'key_not_found');
    // The longest allowed TTL is fine.
    assert.equal((await putValue(base, 'ttl/ten-years', 'x', { query: `ttl=${10 * 365 * 24 * 3600}` })).status, 201);
  });
});

describe('value size', () => {
  // 4 MiB on the embedded engine; what fits in one etcd request on etcd (GET /v1/limits says which).
  const maxValueBytes = async (): Promise<number> => (await request(`${base}/v1/limits`)).body.maxValueBytes;

  it('accepts a value of exactly the limit (4 MiB on the embedded engine)', async () => {
    const value = Buffer.alloc(await maxValueBytes(), 0x61);
    const put = await putValue(base, 'size/max', value);
    assert.equal(put.status, 201, put.text);
    const got = await getBytes(keyUrl('size/max'));
    assert.equal(got.bytes.length, value.length);
    assert.ok(got.bytes.equals(value));
  });

  it('refuses a value larger than the limit with 413 value_too_large and the limit', async () => {
    const limit = await maxValueBytes();
    assert.equal(limit, expectedMaxValueBytes(ENGINE, server.dataDirectory));
    const value = Buffer.alloc(limit + 1, 0x62);
    const problem = expectProblem(await putValue(base, 'size/over', value), 413, 'value_too_large');
    assert.equal(problem.limit, limit);
    expectProblem(await request(keyUrl('size/over')), 404, 'key_not_found');
  });
});

describe('POST ?op=add counters', () => {
  const add = (key: string, query: string) => request(keyUrl(key, query), { method: 'POST' });

  it('a missing key counts as 0 and by defaults to 1', async () => {
    const first = await add('ctr/a', 'op=add');
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.body, { key: 'ctr/a', value: 1, revision: first.body.revision, version: 1 });
    const second = await add('ctr/a', 'op=add');
    assert.equal(second.body.value, 2);
    assert.equal(second.body.version, 2);
    assert.ok(second.body.revision > first.body.revision);
  });

  it('adds positive and negative amounts and stores the result as JSON', async () => {
    assert.equal((await add('ctr/b', 'op=add&by=10')).body.value, 10);
    assert.equal((await add('ctr/b', 'op=add&by=-25')).body.value, -15);
    const got = await request(keyUrl('ctr/b'));
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('content-type'), 'application/json');
    assert.equal(got.body, -15);
    assert.equal(got.text, '-15');
  });

  it('adds to a JSON integer written by PUT', async () => {
    await putValue(base, 'ctr/put', '41', { headers: { 'content-type': 'application/json' } });
    const result = await add('ctr/put', 'op=add');
    assert.equal(result.body.value, 42);
    assert.equal(result.body.version, 2);
  });

  it('an existing value that is not a JSON integer is 409 not_a_counter and stays unchanged', async () => {
    const cases = [
      ['ctr/text', 'hello', 'text/plain'],
      ['ctr/float', '1.5', 'application/json'],
      ['ctr/object', '{"n":1}', 'application/json'],
      ['ctr/string', '"3"', 'application/json'],
    ] as const;
    for (const [key, value, contentType] of cases) {
      const put = await putValue(base, key, value, { headers: { 'content-type': contentType } });
      expectProblem(await add(key, 'op=add'), 409, 'not_a_counter');
      const got = await getBytes(keyUrl(key));
      assert.equal(got.bytes.toString(), value);
      assert.equal(got.headers.get('etag'), `"${put.body.revision}"`);
    }
  });

  it('results beyond ±(2^53−1) are 409 counter_overflow', async () => {
    assert.equal((await add('ctr/max', `op=add&by=${MAX_SAFE}`)).body.value, MAX_SAFE);
    expectProblem(await add('ctr/max', 'op=add&by=1'), 409, 'counter_overflow');
    assert.equal((await request(keyUrl('ctr/max'))).text, String(MAX_SAFE));

    assert.equal((await add('ctr/min', `op=add&by=-${MAX_SAFE}`)).body.value, -MAX_SAFE);
    expectProblem(await add('ctr/min', 'op=add&by=-1'), 409, 'counter_overflow');
    assert.equal((await request(keyUrl('ctr/min'))).text, String(-MAX_SAFE));
  });

  it('a non-integer by, or a missing or unknown op, is 400', async () => {
    expectProblem(await add('ctr/bad', 'op=add&by=1.5'), 400, 'invalid_request');
    expectProblem(await add('ctr/bad', 'op=add&by=abc'), 400, 'invalid_request');
    expectProblem(await add('ctr/bad', ''), 400, 'invalid_request');
    expectProblem(await add('ctr/bad', 'op=multiply'), 400, 'invalid_request');
    expectProblem(await request(keyUrl('ctr/bad')), 404, 'key_not_found');
  });
});

describe('methods', () => {
  it('an unsupported method is 405 method_not_allowed with Allow', async () => {
    await putValue(base, 'method/k', 'v');
    const response = await request(keyUrl('method/k'), { method: 'PATCH', body: 'x' });
    expectProblem(response, 405, 'method_not_allowed');
    const allow = (response.headers.get('allow') ?? '').split(',').map((method) => method.trim());
    for (const method of ['GET', 'PUT', 'DELETE']) assert.ok(allow.includes(method), `Allow: ${allow.join(', ')} lacks ${method}`);
    assert.equal(allow.includes('PATCH'), false);
    assert.equal((await request(keyUrl('method/k'))).text, 'v');
  });
});
