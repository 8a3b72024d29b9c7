import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { encodeKey, expectProblem, postJson, putValue, request, type JsonResponse } from '../helpers/http.js';
import { sleep, useTestServer } from '../helpers/server.js';

/**
 * Ranges and prefix deletes over real HTTP: `/v1/kv` (API.md §2, §4, §8).
 * Each describe has a server of its own, so listings without a prefix see
 * only the keys that describe wrote.
 */

interface Item {
  key: string;
  revision: number;
  createRevision: number;
  version: number;
  contentType: string;
  size: number;
  expiresAt?: string;
  value?: unknown;
  encoding?: string;
}

function withServer(): { readonly base: string } {
  const server = useTestServer();
  return {
    get base() {
      return server.url;
    },
  };
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) search.set(name, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

async function list(base: string, params: Record<string, string | number | boolean | undefined> = {}): Promise<JsonResponse> {
  return request(`${base}/v1/kv${query(params)}`);
}

async function listOk(
  base: string,
  params: Record<string, string | number | boolean | undefined> = {},
): Promise<{ items: Item[]; prefixes?: string[]; cursor: string | null; revision: number }> {
  const response = await list(base, params);
  assert.equal(response.status, 200, response.text);
  return response.body;
}

const keysOf = (items: Item[]) => items.map((item) => item.key);

/** Walks every page; returns the pages as they came. */
async function walk(base: string, params: Record<string, string | number | boolean | undefined>, between?: (page: number) => Promise<void>) {
  const pages: Array<{ items: Item[]; prefixes?: string[]; cursor: string | null }> = [];
  let cursor: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const body = await listOk(base, { ...params, cursor });
    pages.push(body);
    if (body.cursor === null) return pages;
    assert.equal(typeof body.cursor, 'string');
    cursor = body.cursor;
    if (between) await between(page);
  }
  throw new Error('the walk did not end');
}

/** Writes keys through /v1/txn, at most 100 per transaction. */
async function putMany(base: string, keys: string[], value: unknown = 1): Promise<void> {
  for (let i = 0; i < keys.length; i += 100) {
    const ops = keys.slice(i, i + 100).map((key) => ({ op: 'put', key, value }));
    const response = await postJson(`${base}/v1/txn`, { ops });
    assert.equal(response.status, 200, response.text);
  }
}

async function storeRevision(base: string): Promise<number> {
  return (await request(`${base}/v1/status`)).body.revision;
}

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('bounds and order', () => {
  const s = withServer();
  // UTF-8 byte order: uppercase before lowercase, '/' (0x2f) before '0' (0x30),
  // U+FF5E (EF BD 9E) before U+1F600 (F0 9F 98 80) although UTF-16 orders them the other way.
  const ordered = ['A', 'B', 'a', 'a/b', 'a0', 'b', 'z', 'é', '～', '😀'];

  before(async () => {
    await putMany(s.base, ['😀', 'z', 'a0', 'B', '～', 'a', 'é', 'b', 'A', 'a/b']);
  });

  it('lists every key in UTF-8 byte order', async () => {
    assert.deepEqual([...ordered].sort(byteOrder), ordered);
    assert.notDeepEqual([...ordered].sort(), ordered, 'the fixture must tell byte order from UTF-16 order');
    const body = await listOk(s.base);
    assert.deepEqual(keysOf(body.items), ordered);
    assert.equal(body.cursor, null);
  });

  it('reverse=true lists in descending byte order', async () => {
    const body = await listOk(s.base, { reverse: true });
    assert.deepEqual(keysOf(body.items), [...ordered].reverse());
    assert.equal(body.cursor, null);
  });

  it('prefix selects keys starting with it', async () => {
    assert.deepEqual(keysOf((await listOk(s.base, { prefix: 'a' })).items), ['a', 'a/b', 'a0']);
    assert.deepEqual(keysOf((await listOk(s.base, { prefix: 'a/' })).items), ['a/b']);
    assert.deepEqual(keysOf((await listOk(s.base, { prefix: 'é' })).items), ['é']);
    assert.deepEqual(keysOf((await listOk(s.base, { prefix: 'nothing' })).items), []);
  });

  it('start is inclusive and end is exclusive', async () => {
    assert.deepEqual(keysOf((await listOk(s.base, { start: 'a0' })).items), ['a0', 'b', 'z', 'é', '～', '😀']);
    assert.deepEqual(keysOf((await listOk(s.base, { end: 'b' })).items), ['A', 'B', 'a', 'a/b', 'a0']);
    assert.deepEqual(keysOf((await listOk(s.base, { start: 'B', end: 'b' })).items), ['B', 'a', 'a/b', 'a0']);
    assert.deepEqual(keysOf((await listOk(s.base, { start: 'a1', end: 'é' })).items), ['b', 'z']);
    assert.deepEqual(keysOf((await listOk(s.base, { start: 'z', end: 'b' })).items), []);
  });

  it('prefix, start and end combine as an intersection', async () => {
    assert.deepEqual(keysOf((await listOk(s.base, { prefix: 'a', start: 'a/' })).items), ['a/b', 'a0']);
    assert.deepEqual(keysOf((await listOk(s.base, { prefix: 'a', end: 'a0' })).items), ['a', 'a/b']);
    assert.deepEqual(keysOf((await listOk(s.base, { prefix: 'a', start: 'a/', end: 'a0' })).items), ['a/b']);
    assert.deepEqual(keysOf((await listOk(s.base, { prefix: 'a', start: 'A', end: 'zz' })).items), ['a', 'a/b', 'a0']);
    assert.deepEqual(keysOf((await listOk(s.base, { prefix: 'a', start: 'b' })).items), []);
    assert.deepEqual(keysOf((await listOk(s.base, { prefix: 'a', start: 'a/', reverse: true })).items), ['a0', 'a/b']);
  });

  it('the response carries the store revision', async () => {
    const body = await listOk(s.base, { prefix: 'a' });
    assert.equal(body.revision, await storeRevision(s.base));
    await putValue(s.base, 'zz-other', 'x');
    assert.equal((await listOk(s.base, { prefix: 'a' })).revision, body.revision + 1);
    assert.equal((await request(`${s.base}/v1/kv/zz-other`, { method: 'DELETE' })).status, 204);
  });
});

describe('limit and pagination', () => {
  const s = withServer();
  const keys = Array.from({ length: 250 }, (_, i) => `page/${String(i).padStart(3, '0')}-${'x'.repeat(i % 5)}`).sort(byteOrder);

  before(async () => {
    await putMany(s.base, keys);
  });

  it('limit defaults to 100', async () => {
    const body = await listOk(s.base, { prefix: 'page/' });
    assert.equal(body.items.length, 100);
    assert.deepEqual(keysOf(body.items), keys.slice(0, 100));
    assert.equal(typeof body.cursor, 'string');
  });

  it('limit is 1..1000', async () => {
    assert.equal((await listOk(s.base, { prefix: 'page/', limit: 1 })).items.length, 1);
    const all = await listOk(s.base, { prefix: 'page/', limit: 1000 });
    assert.equal(all.items.length, 250);
    assert.equal(all.cursor, null);
    for (const limit of ['0', '1001', '-1', 'abc', '1.5']) {
      expectProblem(await list(s.base, { prefix: 'page/', limit }), 400, 'invalid_request');
    }
  });

  it('pages with limit 7 return every key once, in order, and end with cursor null', async () => {
    const pages = await walk(s.base, { prefix: 'page/', limit: 7 });
    assert.equal(pages.length, Math.ceil(250 / 7));
    for (const page of pages.slice(0, -1)) assert.equal(page.items.length, 7);
    assert.equal(pages.at(-1)!.cursor, null);
    assert.deepEqual(
      pages.flatMap((page) => keysOf(page.items)),
      keys,
    );
  });

  it('the same walk with reverse=true returns every key once in descending order', async () => {
    const pages = await walk(s.base, { prefix: 'page/', limit: 7, reverse: true });
    assert.equal(pages.length, Math.ceil(250 / 7));
    assert.equal(pages.at(-1)!.cursor, null);
    assert.deepEqual(
      pages.flatMap((page) => keysOf(page.items)),
      [...keys].reverse(),
    );
  });

  it('a walk over start/end pages within the bounds', async () => {
    const pages = await walk(s.base, { start: keys[10]!, end: keys[40]!, limit: 4 });
    assert.deepEqual(
      pages.flatMap((page) => keysOf(page.items)),
      keys.slice(10, 40),
    );
    const reversed = await walk(s.base, { start: keys[10]!, end: keys[40]!, limit: 4, reverse: true });
    assert.deepEqual(
      reversed.flatMap((page) => keysOf(page.items)),
      keys.slice(10, 40).reverse(),
    );
  });

  it('a forward cursor used with reverse=true is 400, and so is a garbage cursor', async () => {
    const forward = await listOk(s.base, { prefix: 'page/', limit: 7 });
    expectProblem(await list(s.base, { prefix: 'page/', limit: 7, reverse: true, cursor: forward.cursor! }), 400, 'invalid_request');
    const backward = await listOk(s.base, { prefix: 'page/', limit: 7, reverse: true });
    expectProblem(await list(s.base, { prefix: 'page/', limit: 7, cursor: backward.cursor! }), 400, 'invalid_request');
    for (const cursor of ['garbage!', 'abc', 'AAAA', '%%%']) {
      expectProblem(await list(s.base, { prefix: 'page/', limit: 7, cursor }), 400, 'invalid_request');
    }
  });

  it('repeated query parameters are 400', async () => {
    expectProblem(await request(`${s.base}/v1/kv?limit=1&limit=2`), 400, 'invalid_request');
    expectProblem(await request(`${s.base}/v1/kv?prefix=a&prefix=b`), 400, 'invalid_request');
    expectProblem(await request(`${s.base}/v1/kv?reverse=true&reverse=false`), 400, 'invalid_request');
  });
});

describe('pages while keys change', () => {
  const s = withServer();
  const stable = Array.from({ length: 40 }, (_, i) => `mod/k${String(i).padStart(2, '0')}`);

  before(async () => {
    await putMany(s.base, stable);
  });

  for (const reverse of [false, true]) {
    it(`never repeats or skips a key that existed throughout (reverse=${reverse})`, async () => {
      const transient: string[] = [];
      const seen: string[] = [];
      const pages = await walk(s.base, { prefix: 'mod/', limit: 5, reverse }, async (page) => {
        // Insert keys on both sides of the walk's position, delete earlier transients, rewrite stable keys.
        const inserted = [
          `mod/k${String(page * 3).padStart(2, '0')}-new${reverse}`,
          `mod/k${String(39 - page * 3).padStart(2, '0')}-new${reverse}`,
          `mod/k${String(page * 5 + 2).padStart(2, '0')}~${reverse}`,
        ];
        await putMany(s.base, inserted, 'transient');
        const doomed = transient.splice(0, 2);
        for (const key of doomed) assert.equal((await request(`${s.base}/v1/kv/${encodeKey(key)}`, { method: 'DELETE' })).status, 204);
        transient.push(...inserted);
        await putValue(s.base, stable[(page * 7) % stable.length]!, 'rewritten');
      });
      for (const page of pages) seen.push(...keysOf(page.items));
      assert.equal(new Set(seen).size, seen.length, `a key was listed twice: ${seen.join(' ')}`);
      const expectedOrder = [...seen].sort(byteOrder);
      assert.deepEqual(seen, reverse ? expectedOrder.reverse() : expectedOrder, 'keys came out of order');
      for (const key of stable) assert.ok(seen.includes(key), `${key} existed throughout but was skipped`);
      // Clean up the transients so the next walk starts from the stable keys only.
      const remaining = await listOk(s.base, { prefix: 'mod/', limit: 1000 });
      for (const key of keysOf(remaining.items)) {
        if (!stable.includes(key)) await request(`${s.base}/v1/kv/${encodeKey(key)}`, { method: 'DELETE' });
      }
    });
  }
});

describe('items and values', () => {
  const s = withServer();

  it('items carry revision, createRevision, version, contentType and size', async () => {
    const first = await putValue(s.base, 'meta/a', 'hello', { headers: { 'content-type': 'text/plain' } });
    const second = await putValue(s.base, 'meta/a', 'hello, world', { headers: { 'content-type': 'text/plain' } });
    await putValue(s.base, 'meta/b', Buffer.from([1, 2, 3]));
    const body = await listOk(s.base, { prefix: 'meta/' });
    assert.deepEqual(body.items, [
      { key: 'meta/a', revision: second.body.revision, createRevision: first.body.revision, version: 2, contentType: 'text/plain', size: 12 },
      {
        key: 'meta/b',
        revision: second.body.revision + 1,
        createRevision: second.body.revision + 1,
        version: 1,
        contentType: 'application/octet-stream',
        size: 3,
      },
    ]);
  });

  it('items carry expiresAt when a TTL is set', async () => {
    const put = await putValue(s.base, 'meta-ttl/a', 'v', { query: 'ttl=600' });
    await putValue(s.base, 'meta-ttl/b', 'v');
    const body = await listOk(s.base, { prefix: 'meta-ttl/' });
    assert.equal(body.items[0]!.expiresAt, put.body.expiresAt);
    assert.match(body.items[0]!.expiresAt!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.equal('expiresAt' in body.items[1]!, false);
  });

  it('values=true adds value and encoding: json, utf8 or base64', async () => {
    await putValue(s.base, 'vals/json', '{"a":[1,2,{"b":null}]}', { headers: { 'content-type': 'application/json' } });
    await putValue(s.base, 'vals/text', 'plain text ✓', { headers: { 'content-type': 'text/plain; charset=utf-8' } });
    await putValue(s.base, 'vals/binary', Buffer.from([0xff, 0xfe, 0x00, 0x80]), { headers: { 'content-type': 'application/octet-stream' } });
    const body = await listOk(s.base, { prefix: 'vals/', values: true });
    const byKey = new Map(body.items.map((item) => [item.key, item]));
    assert.deepEqual(byKey.get('vals/json')!.value, { a: [1, 2, { b: null }] });
    assert.equal(byKey.get('vals/json')!.encoding, 'json');
    assert.equal(byKey.get('vals/text')!.value, 'plain text ✓');
    assert.equal(byKey.get('vals/text')!.encoding, 'utf8');
    assert.equal(byKey.get('vals/binary')!.value, Buffer.from([0xff, 0xfe, 0x00, 0x80]).toString('base64'));
    assert.equal(byKey.get('vals/binary')!.encoding, 'base64');

    const without = await listOk(s.base, { prefix: 'vals/' });
    for (const item of without.items) {
      assert.equal('value' in item, false);
      assert.equal('encoding' in item, false);
    }
  });

  it('expired keys are not listed', async () => {
    await putValue(s.base, 'exp/short', 'v', { query: 'ttl=0.3' });
    await putValue(s.base, 'exp/stays', 'v');
    const deadline = Date.now() + 10_000;
    let keys = keysOf((await listOk(s.base, { prefix: 'exp/' })).items);
    while (keys.includes('exp/short') && Date.now() < deadline) {
      await sleep(50);
      keys = keysOf((await listOk(s.base, { prefix: 'exp/' })).items);
    }
    assert.deepEqual(keys, ['exp/stays']);
    assert.deepEqual(keysOf((await listOk(s.base, { prefix: 'exp/', reverse: true, values: true })).items), ['exp/stays']);
  });
});

describe('delimiter', () => {
  const s = withServer();
  // Walk order (forward): a/ (a/1, a/2), b/ (b/x/1, b/x/2, b/y), c, d/ (d/ itself), e/ (e/f/g), f
  const keys = ['a/1', 'a/2', 'b/x/1', 'b/x/2', 'b/y', 'c', 'd/', 'e/f/g', 'f'];

  before(async () => {
    await putMany(s.base, keys);
  });

  /** The entries of a page in walk order: items and prefixes merged by byte order. */
  function entries(page: { items: Item[]; prefixes?: string[] }, reverse: boolean): string[] {
    const merged = [...keysOf(page.items), ...(page.prefixes ?? [])].sort(byteOrder);
    return reverse ? merged.reverse() : merged;
  }

  it('rolls keys up to the first delimiter into prefixes', async () => {
    const body = await listOk(s.base, { delimiter: '/' });
    assert.deepEqual(keysOf(body.items), ['c', 'f']);
    assert.deepEqual(body.prefixes, ['a/', 'b/', 'd/', 'e/']);
    assert.equal(body.cursor, null);
    assert.equal(body.revision, await storeRevision(s.base));
  });

  it('rolls up after the prefix', async () => {
    const body = await listOk(s.base, { prefix: 'b/', delimiter: '/' });
    assert.deepEqual(keysOf(body.items), ['b/y']);
    assert.deepEqual(body.prefixes, ['b/x/']);
    const deeper = await listOk(s.base, { prefix: 'b/x/', delimiter: '/' });
    assert.deepEqual(keysOf(deeper.items), ['b/x/1', 'b/x/2']);
    assert.deepEqual(deeper.prefixes, []);
    const partial = await listOk(s.base, { prefix: 'b', delimiter: '/' });
    assert.deepEqual(keysOf(partial.items), []);
    assert.deepEqual(partial.prefixes, ['b/']);
  });

  it('reverse lists prefixes in descending order', async () => {
    const body = await listOk(s.base, { delimiter: '/', reverse: true });
    assert.deepEqual(keysOf(body.items), ['f', 'c']);
    assert.deepEqual(body.prefixes, ['e/', 'd/', 'b/', 'a/']);
    assert.equal(body.cursor, null);
  });

  it('each rolled-up prefix counts toward limit', async () => {
    const body = await listOk(s.base, { delimiter: '/', limit: 2 });
    assert.deepEqual(keysOf(body.items), []);
    assert.deepEqual(body.prefixes, ['a/', 'b/']);
    assert.equal(typeof body.cursor, 'string');
    const three = await listOk(s.base, { delimiter: '/', limit: 3 });
    assert.deepEqual(keysOf(three.items), ['c']);
    assert.deepEqual(three.prefixes, ['a/', 'b/']);
  });

  for (const reverse of [false, true]) {
    for (const limit of [1, 2, 4]) {
      it(`paging with limit ${limit} returns each prefix and key once (reverse=${reverse})`, async () => {
        const pages = await walk(s.base, { delimiter: '/', limit, reverse });
        for (const page of pages) assert.ok(page.items.length + (page.prefixes?.length ?? 0) <= limit);
        const expected = ['a/', 'b/', 'c', 'd/', 'e/', 'f'];
        assert.deepEqual(
          pages.flatMap((page) => entries(page, reverse)),
          reverse ? [...expected].reverse() : expected,
        );
        assert.equal(pages.at(-1)!.cursor, null);
      });
    }
  }

  it('pages with a prefix and a delimiter', async () => {
    const forward = await walk(s.base, { prefix: 'b/', delimiter: '/', limit: 1 });
    assert.deepEqual(
      forward.flatMap((page) => entries(page, false)),
      ['b/x/', 'b/y'],
    );
    const backward = await walk(s.base, { prefix: 'b/', delimiter: '/', limit: 1, reverse: true });
    assert.deepEqual(
      backward.flatMap((page) => entries(page, true)),
      ['b/y', 'b/x/'],
    );
  });
});

describe('DELETE /v1/kv?prefix=', () => {
  const s = withServer();
  const remove = (params: string) => request(`${s.base}/v1/kv${params}`, { method: 'DELETE' });

  it('deletes every key under the prefix, and nothing else, in one revision', async () => {
    await putMany(s.base, ['app/a', 'app/b/c', 'app/é', 'app', 'app0', 'apq', 'ap', 'b/app/x']);
    const before = await storeRevision(s.base);
    const response = await remove('?prefix=app%2F');
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.body, { deleted: 3, revision: before + 1 });
    assert.equal(await storeRevision(s.base), before + 1);
    assert.deepEqual(keysOf((await listOk(s.base)).items), ['ap', 'app', 'app0', 'apq', 'b/app/x']);
    for (const key of ['app/a', 'app/b/c', 'app/é']) {
      expectProblem(await request(`${s.base}/v1/kv/${encodeKey(key)}`), 404, 'key_not_found');
    }
  });

  it('dry_run=true counts the matches and deletes nothing', async () => {
    await putMany(s.base, ['dry/1', 'dry/2', 'dry/3', 'dry0']);
    const before = await storeRevision(s.base);
    const response = await remove('?prefix=dry%2F&dry_run=true');
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.body, { matched: 3 });
    assert.equal(await storeRevision(s.base), before);
    assert.deepEqual(keysOf((await listOk(s.base, { prefix: 'dry' })).items), ['dry/1', 'dry/2', 'dry/3', 'dry0']);
  });

  it('a missing or empty prefix is 400 and deletes nothing', async () => {
    await putValue(s.base, 'keep/me', 'v');
    expectProblem(await remove(''), 400, 'invalid_request');
    expectProblem(await remove('?prefix='), 400, 'invalid_request');
    expectProblem(await remove('?start=a'), 400, 'invalid_request');
    expectProblem(await remove('?prefix=keep%2F&prefix=other'), 400, 'invalid_request');
    assert.equal((await request(`${s.base}/v1/kv/keep/me`)).status, 200);
  });
});
