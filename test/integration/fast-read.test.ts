import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { describe, it } from 'node:test';
import { useTestServer } from '../helpers/server.js';

/**
 * Plain reads are answered before Fastify (src/http/fast-read.ts); everything
 * else by the Fastify route. Both must send the same thing: this compares a
 * read over a socket (fast path) with the same read injected into Fastify
 * (the route), header by header and byte by byte.
 */
const server = useTestServer();

function rawGet(path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    // The raw path, not a URL object: WHATWG URLs would resolve `%2E%2E` segments away.
    const { hostname, port } = new URL(server.url);
    const req = httpRequest({ hostname, port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const NODE_OWN_HEADERS = ['date', 'connection', 'keep-alive'];

function comparable(headers: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !NODE_OWN_HEADERS.includes(name)));
}

describe('the fast read path and the Fastify route agree', () => {
  const cases: Array<{ key: string; body: Buffer; contentType: string; query?: string }> = [
    { key: 'plain', body: Buffer.from('hello'), contentType: 'text/plain' },
    { key: 'dir/ünïcödé key', body: Buffer.from([0, 1, 2, 255, 254]), contentType: 'application/octet-stream' },
    { key: 'json', body: Buffer.from('{"a":[1,2,3]}'), contentType: 'application/json; charset=utf-8' },
    { key: 'empty', body: Buffer.alloc(0), contentType: 'application/x-empty' },
    { key: 'ttl', body: Buffer.from('expires'), contentType: 'text/plain', query: 'ttl=3600' },
    { key: 'page.html', body: Buffer.from('<script>alert(1)</script>'), contentType: 'text/html; charset=utf-8' },
  ];

  for (const testCase of cases) {
    it(`sends the same status, headers and bytes for ${JSON.stringify(testCase.key)}`, async () => {
      const path = `/v1/kv/${testCase.key.split('/').map(encodeURIComponent).join('/')}`;
      const put = await fetch(`${server.url}${path}${testCase.query ? `?${testCase.query}` : ''}`, {
        method: 'PUT',
        body: testCase.body,
        headers: { 'content-type': testCase.contentType },
      });
      assert.equal(put.status, 201);

      const fast = await rawGet(path);
      const routed = await server.app.inject({ method: 'GET', url: path });
      assert.equal(fast.status, 200);
      assert.equal(routed.statusCode, 200);
      assert.deepEqual(fast.body, testCase.body);
      assert.deepEqual(routed.rawPayload, testCase.body);
      assert.deepEqual(comparable(fast.headers), comparable(routed.headers));
      assert.equal(fast.headers['content-type'], testCase.contentType);
    });
  }

  it('a stored text/html value is sent with nosniff and a sandbox CSP, on both paths and on HEAD and 304', async () => {
    const path = '/v1/kv/served/page.html';
    const put = await fetch(`${server.url}${path}`, { method: 'PUT', body: '<script>fetch("/v1/kv")</script>', headers: { 'content-type': 'text/html' } });
    assert.equal(put.status, 201);
    const fast = await rawGet(path);
    const routed = await server.app.inject({ method: 'GET', url: path });
    const head = await server.app.inject({ method: 'HEAD', url: path });
    const notModified = await server.app.inject({ method: 'GET', url: path, headers: { 'if-none-match': put.headers.get('etag')! } });
    assert.equal(notModified.statusCode, 304);
    for (const [name, headers] of [
      ['fast path', fast.headers],
      ['route', routed.headers],
      ['HEAD', head.headers],
      ['304', notModified.headers],
    ] as const) {
      assert.equal(headers['x-content-type-options'], 'nosniff', name);
      assert.equal(headers['content-security-policy'], 'sandbox', name);
    }
    assert.equal(fast.headers['content-type'], 'text/html');
    assert.equal(routed.headers['content-type'], 'text/html');
  });

  it('answers through the socket what the fast path leaves to the route: 404, 304, invalid keys', async () => {
    const missing = await rawGet('/v1/kv/never-written');
    assert.equal(missing.status, 404);
    assert.match(String(missing.headers['content-type']), /^application\/problem\+json/);

    const put = await fetch(`${server.url}/v1/kv/cached`, { method: 'PUT', body: 'x' });
    const etag = put.headers.get('etag')!;
    const notModified = await fetch(`${server.url}/v1/kv/cached`, { headers: { 'if-none-match': etag } });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.get('etag'), etag);

    const invalid = await rawGet('/v1/kv/a/%2E%2E/b');
    assert.equal(invalid.status, 400);
    assert.equal(JSON.parse(invalid.body.toString()).code, 'invalid_key');
  });
});
