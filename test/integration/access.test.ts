import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Action } from '../../src/auth/tokens.js';
import { TokenRegistry, tokenEntry } from '../../src/auth/tokens.js';
import { expectProblem, putValue, request, type JsonResponse } from '../helpers/http.js';
import { startTestServer, tempDirectory, useTestServer } from '../helpers/server.js';

/**
 * API.md §10 through real HTTP: a server with an admin token and named tokens
 * with prefix grants, and what each may and may not do on every route.
 */

const ADMIN_TOKEN = 'admin-secret-0123456789';
/** Named tokens and their grants: all under `app/`, each with a different set of actions. */
const NAMED: Record<string, { token: string; actions: Action[] }> = {
  app: { token: 'app-secret-0123456789', actions: ['read', 'write', 'watch'] },
  reader: { token: 'reader-secret-0123456789', actions: ['read'] },
  writer: { token: 'writer-secret-0123456789', actions: ['write'] },
  watcher: { token: 'watcher-secret-0123456789', actions: ['watch'] },
};

function tokensFile(): string {
  const file = join(tempDirectory('kvs-tokens-'), 'tokens.json');
  const tokens = Object.entries(NAMED).map(([name, { token, actions }]) => tokenEntry(name, token, [{ prefix: 'app/', actions }], false));
  writeFileSync(file, JSON.stringify({ tokens }));
  return file;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const as = (name: keyof typeof NAMED | 'admin') => bearer(name === 'admin' ? ADMIN_TOKEN : NAMED[name]!.token);

/** A concrete path for a route pattern: wildcards and parameters filled in. */
function concretePath(url: string): string {
  return url.replace(/\*/g, 'app/some-key').replace(/:[A-Za-z0-9_]+/g, 'x');
}

let base: string;

const server = useTestServer(
  () => ({ access: { tokens: TokenRegistry.load({ adminToken: ADMIN_TOKEN, tokensFile: tokensFile() }), protectedMode: true, rateLimit: null } }),
  async () => {
    base = server.url;
    // Keys just inside and just outside the grant's prefix `app/`.
    for (const key of ['app/a', 'app/b', 'app/m/1', 'app', 'ap', 'app0', 'apq', 'other/x']) {
      const response = await putValue(base, key, `value of ${key}`, { headers: as('admin') });
      assert.equal(response.status, 201, response.text);
    }
  },
);

function expectUnauthorized(response: JsonResponse, what: string): void {
  assert.equal(response.status, 401, `${what}: ${response.status} ${response.text}`);
  assert.equal(response.headers.get('www-authenticate'), 'Bearer', what);
}

describe('every route needs a token except the health checks, the reference page and the web console', () => {
  it('walks the route table: without a token, or with an unknown one, only /healthz, /readyz, /docs (and its /docs/ redirect) and / answer', async () => {
    const entries = server.routes.entries();
    assert.ok(entries.length >= 15, `the route table looks incomplete: ${JSON.stringify(entries)}`);
    const open: string[] = [];
    let checked = 0;
    for (const { url, methods } of entries) {
      for (const method of methods) {
        for (const headers of [{}, bearer('not-a-token-anyone-has')]) {
          const path = concretePath(url);
          const response = await request(`${base}${path}`, {
            method,
            redirect: 'manual',
            headers: { ...headers, 'content-type': 'application/json' },
            ...(method === 'GET' || method === 'HEAD' ? {} : { body: '{}' }),
          });
          checked += 1;
          if (response.status !== 401) {
            open.push(`${method} ${path} → ${response.status}`);
            continue;
          }
          assert.equal(response.headers.get('www-authenticate'), 'Bearer', `${method} ${path}`);
        }
      }
    }
    assert.ok(checked > 30);
    // The reference page, the web console and their files reveal nothing (the documents and data they show need a
    // token); /docs/assets/x and /console/x/x are no files of theirs.
    const publicRoutes = [
      'GET /healthz → 200',
      'GET /readyz → 200',
      'GET /docs → 200',
      'GET /docs/ → 308',
      'GET /docs/assets/x → 404',
      'GET / → 200',
      'GET /console/x/x → 404',
    ].flatMap((route) => [route, route.replace('GET', 'HEAD')]);
    assert.deepEqual(open.sort(), publicRoutes.flatMap((route) => [route, route]).sort());
  });

  it('an unknown path or method is 401 too, so the route table is not probeable without a token', async () => {
    expectUnauthorized(await request(`${base}/no/such/route`), 'unknown path');
    expectUnauthorized(await request(`${base}/v1/kv/app/a`, { method: 'PATCH' }), 'unknown method');
    assert.equal((await request(`${base}/no/such/route`, { headers: as('app') })).status, 404);
  });

  it('a 401 is problem+json on /v1 and never repeats the token presented', async () => {
    const secret = 'presented-secret-that-must-not-echo';
    for (const path of ['/v1/kv/app/a', '/v1/kv?prefix=app/', '/v1/status', '/get?key=app/a']) {
      const response = await request(`${base}${path}`, { headers: bearer(secret) });
      expectUnauthorized(response, path);
      assert.ok(!response.text.includes(secret), `${path} echoed the token: ${response.text}`);
    }
    expectProblem(await request(`${base}/v1/kv/app/a`), 401, 'unauthorized');
  });

  it('the Authorization scheme is case-insensitive and other schemes are refused', async () => {
    assert.equal((await request(`${base}/v1/kv/app/a`, { headers: { authorization: `bearer ${NAMED.app!.token}` } })).status, 200);
    expectUnauthorized(
      await request(`${base}/v1/kv/app/a`, { headers: { authorization: `Basic ${Buffer.from(`x:${NAMED.app!.token}`).toString('base64')}` } }),
      'Basic',
    );
    expectUnauthorized(await request(`${base}/v1/kv/app/a`, { headers: { authorization: NAMED.app!.token } }), 'no scheme');
  });
});

describe('a grant covers keys under its prefix, and a range only when all of it is inside', () => {
  it('single keys: app/… is readable, app, ap, app0 and other/… are not', async () => {
    assert.equal((await request(`${base}/v1/kv/app/a`, { headers: as('reader') })).text, 'value of app/a');
    assert.equal((await request(`${base}/v1/kv/app/a`, { method: 'HEAD', headers: as('reader') })).status, 200);
    for (const key of ['app', 'ap', 'app0', 'other/x']) {
      expectProblem(await request(`${base}/v1/kv/${key}`, { headers: as('reader') }), 403, 'forbidden');
    }
  });

  it('a missing key under the prefix is 404 (the grant is checked first, so 403 never depends on existence)', async () => {
    assert.equal((await request(`${base}/v1/kv/app/missing`, { headers: as('reader') })).status, 404);
    expectProblem(await request(`${base}/v1/kv/zzz/missing`, { headers: as('reader') }), 403, 'forbidden');
  });

  it('lists: prefix app/ and ranges inside it are allowed; app, ap, app0 and open-ended ranges are not', async () => {
    const allowed = ['prefix=app/', 'prefix=app/m/', 'start=app/a&end=app/c', 'prefix=app/&start=app/b', 'start=app/&end=app0'];
    for (const query of allowed) {
      const response = await request(`${base}/v1/kv?${query}`, { headers: as('reader') });
      assert.equal(response.status, 200, `${query}: ${response.text}`);
    }
    const listed = (await request(`${base}/v1/kv?prefix=app/`, { headers: as('reader') })).body;
    assert.deepEqual(
      listed.items.map((item: { key: string }) => item.key),
      ['app/a', 'app/b', 'app/m/1'],
    );
    const refused = ['prefix=app', 'prefix=ap', 'prefix=app0', 'prefix=', '', 'start=app/', 'start=app/a&end=app1', 'start=ap&end=app/b', 'end=app/b'];
    for (const query of refused) {
      expectProblem(await request(`${base}/v1/kv?${query}`, { headers: as('reader') }), 403, 'forbidden');
    }
  });

  it('prefix delete: app/ is allowed for a writer; app, ap and app0 are refused and delete nothing', async () => {
    for (const prefix of ['app', 'ap', 'app0']) {
      expectProblem(await request(`${base}/v1/kv?prefix=${prefix}`, { method: 'DELETE', headers: as('writer') }), 403, 'forbidden');
    }
    for (const key of ['app', 'ap', 'app0', 'app/a']) {
      assert.equal((await request(`${base}/v1/kv/${key}`, { headers: as('admin') })).status, 200, `${key} was deleted by a refused request`);
    }
    await putValue(base, 'app/doomed/1', 'x', { headers: as('writer') });
    await putValue(base, 'app/doomed/2', 'x', { headers: as('writer') });
    const deleted = await request(`${base}/v1/kv?prefix=app/doomed/`, { method: 'DELETE', headers: as('writer') });
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal(deleted.body.deleted, 2);
    // A reader may not delete even inside its prefix.
    expectProblem(await request(`${base}/v1/kv?prefix=app/`, { method: 'DELETE', headers: as('reader') }), 403, 'forbidden');
  });
});

describe('actions: read, write and watch are separate', () => {
  it('a read-only token reads but cannot write, delete, add, or watch', async () => {
    const headers = as('reader');
    assert.equal((await request(`${base}/v1/kv/app/a`, { headers })).status, 200);
    expectProblem(await putValue(base, 'app/a', 'changed', { headers }), 403, 'forbidden');
    expectProblem(await request(`${base}/v1/kv/app/a`, { method: 'DELETE', headers }), 403, 'forbidden');
    expectProblem(await request(`${base}/v1/kv/app/n?op=add&by=1`, { method: 'POST', headers }), 403, 'forbidden');
    expectProblem(await request(`${base}/v1/watch?key=app/a`, { headers }), 403, 'forbidden');
    expectProblem(await request(`${base}/v1/watch?prefix=app/`, { headers }), 403, 'forbidden');
    assert.equal((await request(`${base}/v1/kv/app/a`, { headers: as('admin') })).text, 'value of app/a', 'a refused write changed the value');
    assert.equal((await request(`${base}/v1/kv/app/n`, { headers: as('admin') })).status, 404, 'a refused add created the counter');
  });

  it('a write-only token writes but cannot read it back', async () => {
    const headers = as('writer');
    assert.equal((await putValue(base, 'app/w', 'written', { headers })).status, 201);
    expectProblem(await request(`${base}/v1/kv/app/w`, { headers }), 403, 'forbidden');
    expectProblem(await request(`${base}/v1/kv?prefix=app/`, { headers }), 403, 'forbidden');
    assert.equal((await request(`${base}/v1/kv/app/n2?op=add&by=5`, { method: 'POST', headers })).status, 200);
    expectProblem(await putValue(base, 'other/w', 'x', { headers }), 403, 'forbidden');
  });

  it('a watch needs read and watch over its range: watch alone would reveal values and history', async () => {
    const controller = new AbortController();
    try {
      const response = await fetch(`${base}/v1/watch?prefix=app/`, { headers: as('app'), signal: controller.signal });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    } finally {
      controller.abort();
    }
    for (const query of ['prefix=app/', 'prefix=app/&since=0', 'prefix=app/&values=false', 'key=app/a']) {
      expectProblem(await request(`${base}/v1/watch?${query}`, { headers: as('watcher') }), 403, 'forbidden');
      expectProblem(await request(`${base}/v1/watch?${query}`, { headers: as('reader') }), 403, 'forbidden');
    }
    for (const query of ['prefix=ap', 'prefix=', 'key=app0', 'key=other/x']) {
      expectProblem(await request(`${base}/v1/watch?${query}`, { headers: as('app') }), 403, 'forbidden');
    }
  });

  it('a long-poll (If-None-Match + Prefer: wait) needs read and watch', async () => {
    const current = await request(`${base}/v1/kv/app/b`, { headers: as('admin') });
    const longPoll = { 'if-none-match': current.headers.get('etag')!, prefer: 'wait=1' };
    expectProblem(await request(`${base}/v1/kv/app/b`, { headers: { ...as('reader'), ...longPoll } }), 403, 'forbidden');
    expectProblem(await request(`${base}/v1/kv/app/b`, { headers: { ...as('watcher'), ...longPoll } }), 403, 'forbidden');
    assert.equal((await request(`${base}/v1/kv/app/b`, { headers: { ...as('app'), ...longPoll } })).status, 304);
    // Without Prefer it is a plain conditional read: read is enough.
    assert.equal((await request(`${base}/v1/kv/app/b`, { headers: { ...as('reader'), 'if-none-match': current.headers.get('etag')! } })).status, 304);
  });
});

describe('transactions need a grant for every key they name', () => {
  const txn = (body: unknown, name: keyof typeof NAMED | 'admin') =>
    request(`${base}/v1/txn`, { method: 'POST', headers: { ...as(name), 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('one foreign key refuses the whole txn, and nothing of it applies', async () => {
    const revisionBefore = (await request(`${base}/v1/status`, { headers: as('admin') })).body.revision;
    const refused = await txn(
      {
        ops: [
          { op: 'put', key: 'app/t1', value: 1 },
          { op: 'put', key: 'other/t2', value: 2 },
        ],
      },
      'app',
    );
    expectProblem(refused, 403, 'forbidden');
    assert.equal((await request(`${base}/v1/kv/app/t1`, { headers: as('admin') })).status, 404);
    assert.equal((await request(`${base}/v1/kv/other/t2`, { headers: as('admin') })).status, 404);
    assert.equal((await request(`${base}/v1/status`, { headers: as('admin') })).body.revision, revisionBefore);
  });

  it('a check or a get on a foreign key is refused too (they read it)', async () => {
    expectProblem(await txn({ checks: [{ key: 'other/x', revision: 1 }], ops: [{ op: 'put', key: 'app/t3', value: 1 }] }, 'app'), 403, 'forbidden');
    expectProblem(
      await txn(
        {
          ops: [
            { op: 'put', key: 'app/t3', value: 1 },
            { op: 'get', key: 'other/x' },
          ],
        },
        'app',
      ),
      403,
      'forbidden',
    );
  });

  it('gets need read, puts, deletes and adds need write', async () => {
    assert.equal((await txn({ ops: [{ op: 'get', key: 'app/a' }] }, 'reader')).status, 200);
    for (const op of [
      { op: 'put', key: 'app/t4', value: 1 },
      { op: 'delete', key: 'app/a' },
      { op: 'add', key: 'app/t5', by: 1 },
    ]) {
      expectProblem(await txn({ ops: [op] }, 'reader'), 403, 'forbidden');
    }
    expectProblem(await txn({ ops: [{ op: 'get', key: 'app/a' }] }, 'writer'), 403, 'forbidden');
    const committed = await txn(
      {
        ops: [
          { op: 'put', key: 'app/t6', value: 1 },
          { op: 'add', key: 'app/t7', by: 2 },
        ],
      },
      'writer',
    );
    assert.equal(committed.status, 200, committed.text);
  });

  it('a malformed txn is still 400 for a token holder, not 403 or 500', async () => {
    expectProblem(await txn({ ops: 'nope' }, 'app'), 400, 'invalid_request');
  });
});

describe('admin-only and any-token routes', () => {
  it('/metrics, /v1/status and /v1/admin/* need admin', async () => {
    for (const [method, path] of [
      ['GET', '/metrics'],
      ['GET', '/v1/status'],
      ['GET', '/v1/admin/export'],
      ['POST', '/v1/admin/import'],
    ] as const) {
      const headers = { ...as('app'), 'content-type': 'application/x-ndjson' };
      const refused = await fetch(`${base}${path}`, { method, headers, ...(method === 'POST' ? { body: '' } : {}) });
      assert.equal(refused.status, 403, `${method} ${path}: ${await refused.text()}`);
    }
    assert.equal((await request(`${base}/metrics`, { headers: as('admin') })).status, 200);
    assert.equal((await request(`${base}/v1/status`, { headers: as('admin') })).status, 200);
    // The export is NDJSON: read as text.
    const exported = await fetch(`${base}/v1/admin/export`, { headers: as('admin') });
    assert.equal(exported.status, 200);
    assert.ok(!(await exported.text()).includes(ADMIN_TOKEN));
  });

  it('/v1/limits and /v1/openapi.json need any valid token', async () => {
    for (const path of ['/v1/limits', '/v1/openapi.json']) {
      assert.equal((await request(`${base}${path}`, { headers: as('watcher') })).status, 200, path);
      expectUnauthorized(await request(`${base}${path}`), path);
    }
  });

  it('GET /v1/auth/me says who the token is and what it may do, to any valid token', async () => {
    for (const [name, { actions }] of Object.entries(NAMED)) {
      const response = await request(`${base}/v1/auth/me`, { headers: as(name) });
      assert.equal(response.status, 200, name);
      assert.deepEqual(response.body, { name, admin: false, grants: [{ prefix: 'app/', actions }] });
    }
    assert.deepEqual((await request(`${base}/v1/auth/me`, { headers: as('admin') })).body, { name: 'admin', admin: true, grants: [] });
    expectUnauthorized(await request(`${base}/v1/auth/me`), '/v1/auth/me');
    expectUnauthorized(await request(`${base}/v1/auth/me`, { headers: bearer('not-a-token-anyone-has') }), '/v1/auth/me');
    // Without tokens (protected mode), a client on this machine may do everything.
    const open = await startTestServer();
    try {
      assert.deepEqual((await request(`${open.url}/v1/auth/me`)).body, { name: 'local', admin: true, grants: [] });
    } finally {
      await open.close();
    }
  });

  it('metrics never carry a token or a token name in their labels', async () => {
    const metrics = (await request(`${base}/metrics`, { headers: as('admin') })).text;
    for (const { token } of Object.values(NAMED)) assert.ok(!metrics.includes(token));
    assert.ok(!metrics.includes(ADMIN_TOKEN));
  });
});

describe('the seed routes are enforced like the rest', () => {
  const seedPut = (body: unknown, headers: Record<string, string>) =>
    request(`${base}/put`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('no token: 401 in the seed error shape', async () => {
    const response = await seedPut({ key: 'app/s', value: 1 }, {});
    expectUnauthorized(response, '/put');
    assert.equal(response.body.status, 'error');
    expectUnauthorized(await request(`${base}/get?key=app/a`), '/get');
    expectUnauthorized(await request(`${base}/del?key=app/a`, { method: 'DELETE' }), '/del');
  });

  it('/put and /del need write on the key, /get read', async () => {
    assert.equal((await seedPut({ key: 'app/s', value: { n: 1 } }, as('writer'))).status, 200);
    assert.deepEqual((await request(`${base}/get?key=app/s`, { headers: as('reader') })).body, { status: 'success', value: { n: 1 } });
    assert.equal((await seedPut({ key: 'app/s', value: 2 }, as('reader'))).status, 403);
    assert.equal((await seedPut({ key: 'other/s', value: 2 }, as('writer'))).status, 403);
    assert.equal((await request(`${base}/get?key=other/x`, { headers: as('reader') })).status, 403);
    assert.equal((await request(`${base}/del?key=app/s`, { method: 'DELETE', headers: as('reader') })).status, 403);
    assert.equal((await request(`${base}/del?key=app/s`, { method: 'DELETE', headers: as('writer') })).status, 200);
    assert.equal((await request(`${base}/get?key=other/x`, { headers: as('admin') })).status, 200);
  });
});

describe('per-client rate limit', () => {
  const limited = useTestServer(() => ({
    access: { tokens: TokenRegistry.load({ adminToken: ADMIN_TOKEN, tokensFile: tokensFile() }), protectedMode: true, rateLimit: { perSecond: 1, burst: 3 } },
  }));

  it('beyond the burst: 429 rate_limited with Retry-After; other tokens and the health checks are not affected', async () => {
    const statuses: number[] = [];
    let refused: JsonResponse | undefined;
    for (let i = 0; i < 5; i++) {
      const response = await request(`${limited.url}/v1/kv/app/a`, { headers: as('reader') });
      statuses.push(response.status);
      if (response.status === 429) refused ??= response;
    }
    // Three within the burst; the fourth and fifth come within a second of the first.
    assert.deepEqual(statuses.slice(0, 3), [404, 404, 404]);
    assert.ok(refused !== undefined, `never limited: ${statuses.join(',')}`);
    expectProblem(refused, 429, 'rate_limited');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1, `Retry-After: ${refused.headers.get('retry-after')}`);
    assert.equal((await request(`${limited.url}/v1/kv/app/a`, { headers: as('writer') })).status, 403, 'another token has its own bucket');
    assert.equal((await request(`${limited.url}/healthz`)).status, 200);
  });
});
