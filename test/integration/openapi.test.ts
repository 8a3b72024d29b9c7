import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { ERROR_CATALOGUE } from '../../src/core/errors.js';
import { DEFAULT_LIMITS } from '../../src/core/limits.js';
import { TokenRegistry } from '../../src/auth/tokens.js';
import { expectProblem, postJson, request } from '../helpers/http.js';
import { leftoversCleanedAfter, startTestServer, TEST_ENGINE, useTestServer, type TestServer } from '../helpers/server.js';
import { differencesOf, expectedMaxTxnOps } from '../engine/differences.js';

/** How the engine under test differs from the other, each with its reason (test/engine/differences.ts). */
const ENGINE = differencesOf(TEST_ENGINE);

/**
 * /v1/openapi.json (API.md §7) against the running server: a valid OpenAPI
 * 3.1 document that describes every route of its route table, every problem
 * code of the catalogue, and the limits the server was started with (on etcd,
 * what one etcd request takes). Runs on both engines.
 */

type Document = Record<string, any>;

const processes = leftoversCleanedAfter('kvs-openapi-');

const METHODS = ['get', 'put', 'post', 'delete', 'head', 'patch', 'options', 'trace'];

/** The OpenAPI path of a route-table URL: `/v1/kv/*` is `/v1/kv/{key}`, `:name` is `{name}`. */
function openApiPath(url: string): string {
  return url.replace('/v1/kv/*', '/v1/kv/{key}').replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** Every operation of the document as [path, method, operation]. */
function operations(document: Document): Array<[string, string, Document]> {
  return Object.entries(document.paths as Record<string, Document>).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method] !== undefined).map((method): [string, string, Document] => [path, method, item[method]]),
  );
}

/** Every response object of the document (each operation's, and the shared ones under components), with where it is. */
function responses(document: Document): Array<{ where: string; status: string; response: Document }> {
  const found = operations(document).flatMap(([path, method, operation]) =>
    Object.entries(operation.responses as Record<string, Document>).map(([status, response]) => ({
      where: `${method.toUpperCase()} ${path}`,
      status,
      response,
    })),
  );
  for (const [name, response] of Object.entries((document.components?.responses ?? {}) as Record<string, Document>)) {
    found.push({ where: `components.responses.${name}`, status: name === 'UnknownRoute' ? '404' : name.replace('BeforeRouting', ''), response });
  }
  return found;
}

/** The codes a problem response names: the enum of `code` in its allOf. */
function problemCodes(response: Document): string[] {
  const schema = response.content?.['application/problem+json']?.schema;
  if (schema === undefined) return [];
  return (schema.allOf as Document[]).flatMap((part) => part.properties?.code?.enum ?? []);
}

async function openApiOf(server: TestServer, headers: Record<string, string> = {}): Promise<Document> {
  const response = await request(`${server.url}/v1/openapi.json`, { headers });
  assert.equal(response.status, 200, response.text);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  return response.body;
}

describe('/v1/openapi.json describes the server', () => {
  let document: Document;

  const server = useTestServer({}, async () => {
    document = await openApiOf(server);
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    assert.match(document.openapi, /^3\.1\./);
    assert.equal(document.info.title, 'kvs');
    assert.equal(document.info.version, 'test');
    const validator = new Validator();
    // A copy: resolveRefs() replaces the $refs of the document it validated in place.
    const result = await validator.validate(structuredClone(document));
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    assert.equal(validator.version, '3.1');
    // Every $ref resolves (resolveRefs throws on one that does not).
    assert.doesNotThrow(() => validator.resolveRefs());
  });

  it('describes every route and method of the route table, and no operation the server does not serve', () => {
    const entries = server.routes.entries();
    assert.ok(entries.length >= 15, 'the route table is populated');
    const served = new Set<string>();
    const missing: string[] = [];
    for (const { url, methods } of entries) {
      const path = openApiPath(url);
      for (const method of methods) {
        served.add(`${method} ${path}`);
        // Fastify adds HEAD to every GET route; only HEAD /v1/kv/{key} is an operation of its own.
        if (method === 'HEAD' && path !== '/v1/kv/{key}') continue;
        const operation = document.paths?.[path]?.[method.toLowerCase()];
        if (typeof operation !== 'object' || operation === null || typeof operation.responses !== 'object') missing.push(`${method} ${path}`);
      }
    }
    assert.deepEqual(missing, [], 'every route is described in paths');
    const stale = operations(document)
      .map(([path, method]) => `${method.toUpperCase()} ${path}`)
      .filter((operation) => !served.has(operation));
    assert.deepEqual(stale, [], 'every operation described is served');
    assert.ok(document.paths['/docs']?.get && document.paths['/docs/assets/{file}']?.get, 'the reference page is described');
  });

  it('names every problem code of the catalogue (but internal) in some response, each under its own status', () => {
    const named = new Set<string>();
    const misfiled: string[] = [];
    for (const { where, status, response } of responses(document)) {
      for (const code of problemCodes(response)) {
        named.add(code);
        const expected = ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE]?.status;
        if (String(expected) !== status) misfiled.push(`${where}: ${code} under ${status} (the catalogue says ${expected})`);
      }
    }
    assert.deepEqual(misfiled, []);
    const unnamed = Object.keys(ERROR_CATALOGUE).filter((code) => code !== 'internal' && !named.has(code));
    assert.deepEqual(unnamed, [], 'codes no response names');
  });

  it('gives every operation the problems of its kind: 401/403/429 when it needs a token, 405 with Allow, Retry-After on 429 and 503', () => {
    const problems: string[] = [];
    for (const [path, method, operation] of operations(document)) {
      const where = `${method.toUpperCase()} ${path}`;
      const codes = (status: number) => problemCodes(operation.responses[status] ?? {});
      const seedRoute = ['/put', '/get', '/del'].includes(path);
      const public_ = Array.isArray(operation.security) && operation.security.length === 0;
      if (!public_ && !seedRoute) {
        if (!codes(401).includes('unauthorized')) problems.push(`${where}: no 401 unauthorized`);
        if (!codes(403).includes('protected_mode')) problems.push(`${where}: no 403 protected_mode`);
        if (!codes(429).includes('rate_limited')) problems.push(`${where}: no 429 rate_limited`);
      }
      if (!seedRoute && !codes(405).includes('method_not_allowed')) problems.push(`${where}: no 405 method_not_allowed`);
      if (operation.responses[405]?.headers?.Allow === undefined) problems.push(`${where}: 405 without Allow`);
      if (operation.responses[401] !== undefined && operation.responses[401].headers?.['WWW-Authenticate'] === undefined)
        problems.push(`${where}: 401 without WWW-Authenticate`);
      for (const status of [429, 503]) {
        const response = operation.responses[status];
        // /readyz's 503 is its status document, not a refusal.
        if (response !== undefined && path !== '/readyz' && response.headers?.['Retry-After'] === undefined)
          problems.push(`${where}: ${status} without Retry-After`);
      }
      if (operation.requestBody !== undefined && operation.responses[413] === undefined) problems.push(`${where}: a body but no 413`);
    }
    assert.deepEqual(problems, []);
    // The seed routes keep the seed's error body, not problem+json.
    for (const [path, method] of [
      ['/put', 'post'],
      ['/get', 'get'],
      ['/del', 'delete'],
    ] as const) {
      const operation = document.paths[path][method];
      for (const [status, response] of Object.entries(operation.responses as Record<string, Document>)) {
        if (Number(status) < 400) continue;
        assert.deepEqual(Object.keys(response.content), ['application/json'], `${method} ${path} ${status}`);
        assert.equal(response.content['application/json'].schema.$ref, '#/components/schemas/SeedError');
      }
    }
    // 415 where only JSON is taken.
    assert.deepEqual(problemCodes(document.paths['/v1/txn'].post.responses[415]), ['unsupported_media_type']);
  });

  it('describes the response headers where they are sent', () => {
    const headersOf = (path: string, method: string, status: number) => Object.keys(document.paths[path][method].responses[status].headers ?? {}).sort();
    // X-Content-Type-Options and Content-Security-Policy: a value is never a page of the server's origin.
    for (const name of ['ETag', 'KV-Revision', 'KV-Create-Revision', 'KV-Version', 'KV-Expires-At', 'X-Content-Type-Options', 'Content-Security-Policy']) {
      assert.ok(headersOf('/v1/kv/{key}', 'get', 200).includes(name), `GET 200 sends ${name}`);
      assert.ok(headersOf('/v1/kv/{key}', 'head', 200).includes(name), `HEAD 200 sends ${name}`);
    }
    assert.deepEqual(headersOf('/v1/kv/{key}', 'put', 201), ['ETag', 'KV-Revision']);
    assert.deepEqual(headersOf('/v1/kv/{key}', 'delete', 204), ['KV-Revision']);
    assert.ok(headersOf('/v1/watch', 'get', 200).includes('KV-Revision'));
    assert.ok(headersOf('/v1/admin/backup', 'get', 200).includes('KV-Revision'));
    assert.ok(headersOf('/docs', 'get', 200).includes('Content-Security-Policy'));
    assert.equal(document.paths['/v1/kv/{key}'].get.responses[200].headers['Content-Security-Policy'].$ref, '#/components/headers/ValueContentSecurityPolicy');
    assert.deepEqual(headersOf('/docs/', 'get', 308), ['Location']);
    assert.equal(document.paths['/v1/auth/me'].get.responses[200].content['application/json'].schema.$ref, '#/components/schemas/Me');
    // Every header a response names is defined once, under components.headers.
    for (const { where, status, response } of responses(document)) {
      for (const [name, header] of Object.entries((response.headers ?? {}) as Record<string, Document>)) {
        const target = String(header.$ref).replace('#/components/headers/', '');
        assert.ok(document.components.headers[target] !== undefined, `${where} ${status}: ${name} refers to ${header.$ref}`);
      }
    }
  });

  it('publishes the limits in force, the same as /v1/limits', async () => {
    const limits = (await request(`${server.url}/v1/limits`)).body;
    const txn = document.components.schemas.TxnRequest.properties;
    assert.equal(txn.checks.maxItems, limits.maxTxnOps);
    assert.equal(txn.ops.maxItems, limits.maxTxnOps);
    // On etcd, one op less than etcd takes (API-NOTES): the hard-coded 128 of old would promise a txn etcd refuses.
    assert.equal(limits.maxTxnOps, expectedMaxTxnOps(ENGINE, DEFAULT_LIMITS.txnOpsMax));
    const listLimit = document.paths['/v1/kv'].get.parameters.find((parameter: Document) => parameter.name === 'limit').schema;
    assert.equal(listLimit.maximum, limits.maxListLimit);
    assert.equal(listLimit.default, DEFAULT_LIMITS.listLimitDefault);
    assert.equal(document.paths['/v1/kv/{key}'].put.requestBody['x-max-bytes'], limits.maxValueBytes);
    assert.equal(document.paths['/v1/txn'].post.requestBody['x-max-bytes'], limits.maxRequestBytes);
    for (const [name, schema] of Object.entries(document.components.schemas.Limits.properties as Record<string, Document>)) {
      assert.equal(schema.const, limits[name], `Limits.${name}`);
    }
  });
});

describe('/v1/openapi.json follows the configuration', () => {
  it('a server started with other limits publishes those numbers', async () => {
    const configured = {
      listLimitMax: 50,
      listLimitDefault: 20,
      txnOpsMax: 10,
      keyBytesMax: 64,
      valueBytesMax: 1000,
      requestBytesMax: 4096,
      importBytesMax: 65536,
      ttlSecondsMax: 3600,
      waitSecondsMax: 60,
    };
    const server = await startTestServer({ limits: configured });
    try {
      const document = await openApiOf(server);
      const { schemas } = document.components;
      const paths = document.paths;
      const parameter = (path: string, method: string, name: string) =>
        [...(paths[path].parameters ?? []), ...(paths[path][method].parameters ?? [])].find((candidate: Document) => candidate.name === name);

      assert.equal(schemas.TxnRequest.properties.checks.maxItems, 10);
      assert.equal(schemas.TxnRequest.properties.ops.maxItems, 10);
      assert.deepEqual(
        { maximum: parameter('/v1/kv', 'get', 'limit').schema.maximum, default: parameter('/v1/kv', 'get', 'limit').schema.default },
        { maximum: 50, default: 20 },
      );
      const key = parameter('/v1/kv/{key}', 'get', 'key');
      assert.equal(key['x-max-bytes'], 64);
      assert.equal(key.schema.maxLength, 64);
      assert.match(key.description, /\b64 UTF-8 bytes\b/);
      assert.equal(schemas.Key.maxLength, 64);
      assert.equal(paths['/v1/kv/{key}'].put.requestBody['x-max-bytes'], 1000);
      assert.match(paths['/v1/kv/{key}'].put.responses[413].description, /\b1000 bytes\b/);
      assert.match(schemas.TxnOp.oneOf[0].properties.value.description, /\b1000 bytes\b/);
      assert.equal(parameter('/v1/kv/{key}', 'put', 'ttl').schema.maximum, 3600);
      assert.equal(schemas.TxnOp.oneOf[0].properties.ttl.maximum, 3600);
      assert.match(parameter('/v1/kv/{key}', 'get', 'Prefer').description, /from 1 to 60 seconds/);
      assert.equal(paths['/v1/txn'].post.requestBody['x-max-bytes'], 4096);
      assert.equal(paths['/put'].post.requestBody['x-max-bytes'], 4096);
      assert.equal(paths['/v1/admin/import'].post.requestBody['x-max-bytes'], 65536);
      assert.match(paths['/v1/txn'].post.responses[413].description, /\b4096 bytes\b/);

      // The same numbers the server enforces and reports.
      const limits = (await request(`${server.url}/v1/limits`)).body;
      assert.deepEqual([limits.maxListLimit, limits.maxTxnOps, limits.maxKeyBytes, limits.maxValueBytes, limits.maxTtlSeconds], [50, 10, 64, 1000, 3600]);
      const tooMany = await request(`${server.url}/v1/txn`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ops: Array.from({ length: 11 }, (_, index) => ({ op: 'get', key: `k${index}` })) }),
      });
      assert.equal(tooMany.status, 400);
      assert.equal(tooMany.body.limit, 10);
      assert.equal((await request(`${server.url}/v1/kv?limit=51`)).status, 400);
    } finally {
      await server.close();
    }
  });

  it('on this engine, the txn maxItems is /v1/limits maxTxnOps (127 on etcd) even when more were asked for', async () => {
    const server = await startTestServer({ limits: { txnOpsMax: 500 } });
    try {
      const document = await openApiOf(server);
      const limits = (await request(`${server.url}/v1/limits`)).body;
      assert.equal(limits.maxTxnOps, expectedMaxTxnOps(ENGINE, 500));
      assert.equal(document.components.schemas.TxnRequest.properties.ops.maxItems, limits.maxTxnOps);
      assert.match(document.info.description, new RegExp(`\\| ${limits.maxTxnOps} each \\|`));
    } finally {
      await server.close();
    }
  });

  it('`kvs serve` publishes the limits its environment configured (ETCD_MAX_TXN_OPS=8 on etcd: 7 ops)', async () => {
    const server = await processes.spawn({
      DATA_DIRECTORY: processes.directory(),
      KV_MAX_KEY_BYTES: '64',
      KV_MAX_VALUE_BYTES: '1000',
      KV_MAX_REQUEST_BYTES: '4096',
      ETCD_MAX_TXN_OPS: '8',
    });
    try {
      const document = (await request(`${server.url}/v1/openapi.json`)).body;
      const limits = (await request(`${server.url}/v1/limits`)).body;
      // On LMDB no setting bounds a txn below the default; on etcd, one op less than etcd takes (test/engine/differences.ts).
      const maxTxnOps = ENGINE.maxTxnOps === null ? DEFAULT_LIMITS.txnOpsMax : 8 - 1;
      assert.deepEqual([limits.maxKeyBytes, limits.maxValueBytes, limits.maxRequestBytes, limits.maxTxnOps], [64, 1000, 4096, maxTxnOps]);
      assert.equal(document.components.schemas.TxnRequest.properties.ops.maxItems, maxTxnOps);
      assert.equal(document.components.schemas.Limits.properties.maxTxnOps.const, maxTxnOps);
      assert.match(document.info.description, new RegExp(`\\| ${maxTxnOps} each \\|`));
      assert.match(document.paths['/v1/txn'].post.description, new RegExp(`At most ${maxTxnOps} checks and ${maxTxnOps} ops`));
      const key = document.paths['/v1/kv/{key}'].get.parameters.find((parameter: Document) => parameter.name === 'key');
      assert.equal(key['x-max-bytes'], 64);
      assert.equal(document.paths['/v1/kv/{key}'].put.requestBody['x-max-bytes'], 1000);
      assert.equal(document.paths['/v1/txn'].post.requestBody['x-max-bytes'], 4096);
      assert.equal(document.paths['/v1/txn'].post.responses[413].content['application/problem+json'].example.limit, 4096);
    } finally {
      server.kill('SIGTERM');
      await server.exited;
    }
  });

  it('needs a valid token when tokens are configured', async () => {
    const server = await startTestServer({
      access: { tokens: TokenRegistry.load({ adminToken: 'openapi-admin-secret' }), protectedMode: true, rateLimit: null },
    });
    try {
      const refused = await request(`${server.url}/v1/openapi.json`);
      assert.equal(refused.status, 401);
      assert.equal(refused.headers.get('www-authenticate'), 'Bearer');
      assert.equal((await request(`${server.url}/v1/openapi.json`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
      const document = await openApiOf(server, { authorization: 'Bearer openapi-admin-secret' });
      assert.equal(document.openapi, '3.1.0');
    } finally {
      await server.close();
    }
  });
});

describe('route schemas are documentation only', () => {
  const server = useTestServer();

  it("a request the declared schemas refuse is answered by kvs's own validation, not Fastify's", async () => {
    // Each breaks its route's schema (type, minimum, enum, required, pattern); ajv would answer FST_ERR_VALIDATION with "querystring/..." details.
    const refused: Array<[string, RequestInit, string, RegExp]> = [
      ['/v1/kv?limit=0', {}, 'invalid_request', /"limit"/],
      ['/v1/kv?limit=ten', {}, 'invalid_request', /"limit"/],
      ['/v1/kv?reverse=maybe', {}, 'invalid_request', /"reverse"/],
      ['/v1/kv/k?op=add&by=1.5', { method: 'POST' }, 'invalid_request', /"by"/],
      ['/v1/kv/k?op=subtract', { method: 'POST' }, 'invalid_request', /op=add/],
      ['/v1/kv/k?ttl=-1', { method: 'PUT', body: 'x' }, 'invalid_request', /ttl/],
      ['/v1/kv', { method: 'DELETE' }, 'invalid_request', /non-empty "prefix"/],
      ['/v1/watch?key=k', { headers: { 'last-event-id': 'x' } }, 'invalid_request', /Last-Event-ID/],
      ['/v1/admin/import?format=csv', { method: 'POST', body: '' }, 'invalid_request', /"format"/],
    ];
    for (const [path, init, code, detail] of refused) {
      const problem = expectProblem(await request(`${server.url}${path}`, init), 400, code);
      assert.match(problem.detail, detail, path);
      assert.doesNotMatch(problem.detail, /querystring\/|headers\/|body\//, path);
    }
    // A txn the TxnRequest schema refuses (an unknown member): kvs names the member.
    const txn = expectProblem(await postJson(`${server.url}/v1/txn`, { ops: [], extra: 1 }), 400, 'invalid_request');
    assert.match(txn.detail, /extra/);
  });

  it('sends what the handler gives, not what the response schema has room for, and adds no defaults', async () => {
    await request(`${server.url}/v1/kv/doc-only`, { method: 'PUT', body: 'v' });
    // `values` defaults to false in the schema: no default is filled in, and items carry no value.
    const page = (await request(`${server.url}/v1/kv?prefix=doc-only`)).body;
    assert.deepEqual(Object.keys(page), ['items', 'cursor', 'revision']);
    assert.equal(page.items[0].value, undefined);
    const status = (await request(`${server.url}/v1/status`)).body;
    assert.deepEqual(Object.keys(status).sort(), ['compactRevision', 'engine', 'keys', 'revision', 'uptimeSeconds', 'version']);
  });
});
