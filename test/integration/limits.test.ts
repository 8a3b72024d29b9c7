import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LIST_PAGE_VALUE_BYTES_MAX, MIB, TXN_READ_VALUE_BYTES_MAX } from '../../src/core/limits.js';
import { expectProblem, postJson, request } from '../helpers/http.js';
import { useTestServer } from '../helpers/server.js';

/**
 * Responses stay serialisable however large the values: a listing with values
 * ends its page early (with a cursor), a transaction whose gets would read too
 * much is refused whole before anything applies.
 */
/** The largest value the engine takes, up to 4 MiB (etcd takes about 1.5 MiB). */
let VALUE_BYTES = 4 * MIB;
let COUNT = 0;

const server = useTestServer({}, async () => {
  VALUE_BYTES = Math.min(4 * MIB, (await request(`${server.url}/v1/limits`)).body.maxValueBytes);
  COUNT = Math.floor(TXN_READ_VALUE_BYTES_MAX / VALUE_BYTES) + 1; // one more than fits
  for (let i = 0; i < COUNT; i++) {
    const value = Buffer.alloc(VALUE_BYTES, 0x80 + i); // not UTF-8: listed as base64
    const response = await request(`${server.url}/v1/kv/big/${String(i).padStart(2, '0')}`, { method: 'PUT', body: value });
    assert.equal(response.status, 201);
  }
});

describe('response size limits', () => {
  it('ends a page of values at the byte budget, and the cursor walks the rest', async () => {
    const perPage = Math.ceil(LIST_PAGE_VALUE_BYTES_MAX / VALUE_BYTES);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `prefix=big/&values=true&limit=1000${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await request(`${server.url}/v1/kv?${query}`);
      assert.equal(page.status, 200);
      assert.ok(page.body.items.length <= perPage, `a page carried ${page.body.items.length} values of ${VALUE_BYTES} bytes`);
      for (const item of page.body.items) {
        assert.equal(item.encoding, 'base64');
        assert.equal(Buffer.from(item.value, 'base64').length, VALUE_BYTES);
        seen.push(item.key);
      }
      cursor = page.body.cursor;
      pages++;
    } while (cursor !== null);
    assert.ok(pages > 1);
    assert.deepEqual(
      seen,
      Array.from({ length: COUNT }, (_, i) => `big/${String(i).padStart(2, '0')}`),
    );
  });

  it('refuses a transaction whose gets read too much, and applies none of it', async () => {
    const ops = [
      { op: 'put', key: 'marker', value: 'written?' },
      ...Array.from({ length: COUNT }, (_, i) => ({ op: 'get', key: `big/${String(i).padStart(2, '0')}` })),
    ];
    const problem = expectProblem(await postJson(`${server.url}/v1/txn`, { ops }), 413, 'request_too_large');
    assert.equal(problem.limit, TXN_READ_VALUE_BYTES_MAX);
    assert.equal((await request(`${server.url}/v1/kv/marker`)).status, 404);

    const fits = await postJson(`${server.url}/v1/txn`, { ops: ops.slice(0, 3) });
    assert.equal(fits.status, 200);
    assert.equal(fits.body.results[1].found, true);
  });
});

describe('content types the body parser does not know', () => {
  for (const [sent, stored] of [
    ['foo', 'foo'],
    ['', 'application/octet-stream'],
    [' ', 'application/octet-stream'],
    [';', ';'],
  ] as const) {
    it(`stores a PUT sent with Content-Type ${JSON.stringify(sent)} as ${JSON.stringify(stored)}`, async () => {
      const put = await request(`${server.url}/v1/kv/ctype`, { method: 'PUT', body: 'raw', headers: { 'content-type': sent } });
      assert.ok(put.status === 200 || put.status === 201, `got ${put.status} ${put.text}`);
      const read = await fetch(`${server.url}/v1/kv/ctype`);
      assert.equal(read.headers.get('content-type'), stored);
      assert.equal(await read.text(), 'raw');
    });
  }

  it('takes a seed /put whatever its content type', async () => {
    const response = await request(`${server.url}/put`, { method: 'POST', body: '{"key":"ct","value":1}', headers: { 'content-type': 'foo' } });
    assert.deepEqual(response.body ?? JSON.parse(response.text), { status: 'success' });
  });
});

describe('a body over the limit', () => {
  const small = useTestServer({ limits: { valueBytesMax: 1024 } });

  it('is answered 413 even while the client is still sending it, never with a reset (EPIPE)', async () => {
    // The 413 goes out before the body is read; a connection closed then would reset a client still sending.
    const body = new Uint8Array(5 * MIB);
    for (let attempt = 0; attempt < 20; attempt++) {
      const response = await fetch(`${small.url}/v1/kv/too-big`, { method: 'PUT', body });
      const problem = (await response.json()) as { code: string; limit: number };
      assert.equal(response.status, 413);
      assert.deepEqual([problem.code, problem.limit], ['value_too_large', 1024]);
    }
    assert.equal((await request(`${small.url}/v1/kv/too-big`)).status, 404, 'nothing was stored');
  });
});
