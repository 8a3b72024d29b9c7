import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { expectProblem, putValue, request } from '../helpers/http.js';
import {
  CLI_PATH,
  collectOutput,
  freePort,
  leftoversCleanedAfter,
  spawnServer,
  startTestServer,
  untilReady,
  useTestServer,
  type ServerProcess,
  TEST_ENGINE,
} from '../helpers/server.js';
import { differencesOf, expectedMaxTxnOps, expectedMaxValueBytes } from '../engine/differences.js';

/** How the engine under test differs from the other, each with its reason (test/engine/differences.ts). */
const ENGINE = differencesOf(TEST_ENGINE);

describe('service routes', () => {
  let url: string;

  const server = useTestServer({}, async () => {
    url = server.url;
  });

  test('GET /healthz is 200 {"status":"ok"}', async () => {
    const response = await request(`${url}/healthz`);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, { status: 'ok' });
  });

  test('GET /readyz is 200 while the engine is usable', async () => {
    const response = await request(`${url}/readyz`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /json/);
  });

  test('GET /metrics is Prometheus text labelled by route pattern, never by key', async () => {
    const secret = 'secret-key-name-123';
    assert.equal((await putValue(url, secret, 'v')).status, 201);
    assert.equal((await request(`${url}/v1/kv/${secret}`)).status, 200);
    assert.equal((await request(`${url}/v1/kv/${secret}-missing`)).status, 404);
    assert.equal((await request(`${url}/get?key=${secret}`)).status, 200);
    assert.equal((await request(`${url}/no/such/route/${secret}`)).status, 404);

    const response = await request(`${url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; ?version=0\.0\.4/);
    const text = response.text;
    assert.match(text, /^# (HELP|TYPE) /m);
    assert.match(text, /^# TYPE kvs_http_requests_total counter$/m);
    assert.match(text, /^kvs_http_requests_total\{[^}]*method="PUT"[^}]*route="\/v1\/kv\/\*"[^}]*status="201"[^}]*\} \d+$/m);
    assert.match(text, /^kvs_http_requests_total\{[^}]*method="GET"[^}]*route="\/v1\/kv\/\*"[^}]*status="200"[^}]*\} \d+$/m);
    assert.match(text, /^kvs_http_requests_total\{[^}]*method="GET"[^}]*route="\/v1\/kv\/\*"[^}]*status="404"[^}]*\} \d+$/m);
    assert.match(text, /^kvs_http_requests_total\{[^}]*route="\/get"[^}]*\} \d+$/m);
    assert.match(text, /^kvs_http_request_duration_seconds_bucket\{[^}]*route="\/v1\/kv\/\*"[^}]*le="\+Inf"[^}]*\} \d+$/m);
    assert.match(text, /^kvs_store_revision \d+$/m);
    assert.match(text, /^kvs_store_keys \d+$/m);
    assert.ok(!text.includes(secret), 'the key never appears in /metrics');

    const status = (await request(`${url}/v1/status`)).body;
    const sample = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
    assert.equal(sample('kvs_store_revision'), status.revision);
    assert.equal(sample('kvs_store_keys'), status.keys);
  });

  test('GET /v1/status reports the store, and revision and keys move with writes', async () => {
    const before = await request(`${url}/v1/status`);
    assert.equal(before.status, 200);
    const status = before.body;
    assert.deepEqual(Object.keys(status).sort(), ['compactRevision', 'engine', 'keys', 'revision', 'uptimeSeconds', 'version']);
    assert.equal(status.engine, TEST_ENGINE);
    assert.equal(typeof status.version, 'string');
    assert.ok(status.version.length > 0);
    for (const name of ['revision', 'compactRevision', 'keys', 'uptimeSeconds']) {
      assert.ok(Number.isInteger(status[name]) && status[name] >= 0, `${name} is a non-negative integer`);
    }

    assert.equal((await putValue(url, 'status/a', '1')).status, 201);
    assert.equal((await putValue(url, 'status/b', '2')).status, 201);
    const afterPuts = (await request(`${url}/v1/status`)).body;
    assert.equal(afterPuts.revision, status.revision + 2);
    assert.equal(afterPuts.keys, status.keys + 2);

    assert.equal((await request(`${url}/v1/kv/status/a`, { method: 'DELETE' })).status, 204);
    const afterDelete = (await request(`${url}/v1/status`)).body;
    assert.equal(afterDelete.revision, status.revision + 3);
    assert.equal(afterDelete.keys, status.keys + 1);

    // A read changes nothing.
    assert.equal((await request(`${url}/v1/kv/status/b`)).status, 200);
    assert.equal((await request(`${url}/v1/status`)).body.revision, afterDelete.revision);
  });

  test('GET /v1/limits reports the defaults', async () => {
    const response = await request(`${url}/v1/limits`);
    assert.equal(response.status, 200);
    const limits = response.body;
    assert.deepEqual(Object.keys(limits).sort(), [
      'historyRetention',
      'maxKeyBytes',
      'maxListLimit',
      'maxRequestBytes',
      'maxTtlSeconds',
      'maxTxnOps',
      'maxValueBytes',
    ]);
    assert.equal(limits.maxKeyBytes, 1024);
    // 4 MiB and 128, or what the engine allows (etcd: what one etcd request takes, --max-request-bytes 1.5 MiB less key and
    // header; --max-txn-ops 128 less the delete marker).
    assert.equal(limits.maxValueBytes, expectedMaxValueBytes(ENGINE, server.dataDirectory));
    assert.ok(limits.maxValueBytes <= 4194304 && limits.maxValueBytes > 1.5 * 1024 * 1024 - 8192, String(limits.maxValueBytes));
    assert.equal(limits.maxTxnOps, expectedMaxTxnOps(ENGINE));
    assert.equal(limits.maxListLimit, 1000);
    assert.equal(limits.historyRetention, 100000);
    assert.ok(Number.isInteger(limits.maxRequestBytes) && limits.maxRequestBytes > 0);
    assert.ok(Number.isInteger(limits.maxTtlSeconds) && limits.maxTtlSeconds > 0);
  });

  // GET /v1/openapi.json (valid OpenAPI 3.1, every route, every problem code, the limits in force): openapi.test.ts.

  test('GET /readyz is 503 once the storage engine is unusable, while /healthz stays 200', async () => {
    const doomed = await startTestServer();
    try {
      assert.equal((await request(`${doomed.url}/readyz`)).status, 200);
      await doomed.engine.close();
      assert.equal((await request(`${doomed.url}/readyz`)).status, 503);
      const health = await request(`${doomed.url}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(health.body, { status: 'ok' });
    } finally {
      await doomed.close();
    }
  });

  test('an unknown route is 404 not_found problem+json', async () => {
    for (const path of ['/v1/no-such-route', '/v1/kv-not', '/v1/admin/nothing']) {
      const problem = expectProblem(await request(`${url}${path}`), 404, 'not_found');
      assert.ok(problem.detail.length > 0);
    }
  });

  test('a wrong method on a known route is 405 with Allow', async () => {
    const cases: Array<[string, string, string[]]> = [
      ['POST', '/healthz', ['GET']],
      ['DELETE', '/v1/status', ['GET']],
      ['PUT', '/v1/limits', ['GET']],
      ['GET', '/v1/txn', ['POST']],
      ['PATCH', '/v1/kv/some-key', ['GET', 'PUT', 'DELETE', 'POST']],
    ];
    for (const [method, path, allowed] of cases) {
      const response = await request(`${url}${path}`, { method });
      assert.equal(response.status, 405, `${method} ${path}: ${response.text}`);
      const allow = (response.headers.get('allow') ?? '').split(',').map((part) => part.trim());
      for (const name of allowed) assert.ok(allow.includes(name), `${method} ${path}: Allow ${JSON.stringify(allow)} names ${name}`);
      assert.ok(!allow.includes(method));
    }
  });
});

/** Runs `kvs serve` with exactly `env` added (nothing set for it), polling `pollUrl` until /readyz answers. */
async function spawnAt(env: Record<string, string>, pollUrl: string): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI_PATH, 'serve'], {
    env: { ...process.env, HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const server = { url: pollUrl, child, kill: (signal: NodeJS.Signals) => void child.kill(signal), ...collectOutput(child) };
  await untilReady(server);
  return server;
}

async function refusesConnections(url: string): Promise<boolean> {
  try {
    await fetch(`${url}/healthz`);
    return false;
  } catch {
    return true;
  }
}

describe('configuration from the environment (kvs serve)', () => {
  const leftovers = leftoversCleanedAfter('kvs-test-');
  const dataDirectory = () => leftovers.directory();
  const track = (server: ServerProcess) => leftovers.track(server);
  const stop = async (server: ServerProcess) => {
    server.child.kill('SIGTERM');
    const result = await server.exited;
    return result;
  };

  test('PORT wins over KV_STORE_PORT when both are set', async () => {
    const otherPort = await freePort();
    const server = track(await spawnServer({ DATA_DIRECTORY: dataDirectory(), KV_STORE_PORT: String(otherPort) }));
    assert.equal((await request(`${server.url}/healthz`)).status, 200);
    assert.ok(await refusesConnections(`http://127.0.0.1:${otherPort}`), 'nothing listens on KV_STORE_PORT');
  });

  test('KV_STORE_PORT alone sets the port', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const server = track(await spawnAt({ PORT: '', DATA_DIRECTORY: dataDirectory(), KV_STORE_PORT: String(port) }, url));
    const response = await request(`${url}/healthz`);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, { status: 'ok' });
    assert.equal((await stop(server)).code, 0);
  });

  test('DATA_DIRECTORY is where the data lives, across restarts', async () => {
    const directory = dataDirectory();
    const first = track(await spawnServer({ DATA_DIRECTORY: directory }));
    assert.equal((await putValue(first.url, 'durable/key', 'kept', { headers: { 'content-type': 'text/plain' } })).status, 201);
    assert.equal((await stop(first)).code, 0);
    // The store file is in DATA_DIRECTORY; an engine whose store lives elsewhere (etcd) leaves none there.
    assert.deepEqual(
      readdirSync(directory).filter((name) => name.endsWith('.mdb')),
      ENGINE.storeFileName === null ? [] : [ENGINE.storeFileName],
    );

    const second = track(await spawnServer({ DATA_DIRECTORY: directory }));
    const response = await request(`${second.url}/v1/kv/durable/key`);
    assert.equal(response.status, 200);
    assert.equal(response.text, 'kept');

    const elsewhere = track(await spawnServer({ DATA_DIRECTORY: dataDirectory() }));
    assert.equal((await request(`${elsewhere.url}/v1/kv/durable/key`)).status, 404);
  });

  test('KV_MAX_VALUE_BYTES lowers the value limit: 413 value_too_large with that limit', async () => {
    const server = track(await spawnServer({ DATA_DIRECTORY: dataDirectory(), KV_MAX_VALUE_BYTES: '64' }));
    assert.equal((await request(`${server.url}/v1/limits`)).body.maxValueBytes, 64);
    assert.equal((await putValue(server.url, 'fits', Buffer.alloc(64, 1))).status, 201);
    const problem = expectProblem(await putValue(server.url, 'too-big', Buffer.alloc(65, 1)), 413, 'value_too_large');
    assert.equal(problem.limit, 64);
    assert.equal((await request(`${server.url}/v1/kv/too-big`)).status, 404);
  });

  test('KV_MAX_KEY_BYTES lowers the key limit', async () => {
    const server = track(await spawnServer({ DATA_DIRECTORY: dataDirectory(), KV_MAX_KEY_BYTES: '16' }));
    assert.equal((await request(`${server.url}/v1/limits`)).body.maxKeyBytes, 16);
    assert.equal((await putValue(server.url, 'k'.repeat(16), 'v')).status, 201);
    expectProblem(await putValue(server.url, 'k'.repeat(17), 'v'), 400, 'invalid_key');
    expectProblem(await putValue(server.url, 'é'.repeat(9), 'v'), 400, 'invalid_key'); // 18 UTF-8 bytes
  });

  /** Runs `kvs serve` expecting it to refuse to start; resolves with its exit code and stderr. */
  async function refusedStart(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [CLI_PATH, 'serve'], {
      env: { ...process.env, HOST: '127.0.0.1', PORT: String(await freePort()), DATA_DIRECTORY: dataDirectory(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // 'close' (not 'exit'): stderr has been read to its end.
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    try {
      return { code: await closed, stderr };
    } finally {
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }

  test('an invalid setting (PORT=abc) exits with code 2 and one line naming PORT on stderr', async () => {
    const { code, stderr } = await refusedStart({ PORT: 'abc' });
    assert.equal(code, 2, stderr);
    const lines = stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `one line: ${JSON.stringify(stderr)}`);
    assert.match(lines[0]!, /\bPORT\b/);
  });

  test('other invalid settings also exit with code 2 and one line naming the variable', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ PORT: '', KV_STORE_PORT: 'eighty' }, 'KV_STORE_PORT'],
      [{ PORT: '70000' }, 'PORT'],
      [{ KV_MAX_VALUE_BYTES: 'lots' }, 'KV_MAX_VALUE_BYTES'],
      [{ KV_MAX_KEY_BYTES: '0' }, 'KV_MAX_KEY_BYTES'],
    ];
    for (const [env, variable] of cases) {
      const { code, stderr } = await refusedStart(env);
      assert.equal(code, 2, `${JSON.stringify(env)}: ${stderr}`);
      const lines = stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `${JSON.stringify(env)}: one line: ${JSON.stringify(stderr)}`);
      assert.ok(lines[0]!.includes(variable), `${JSON.stringify(env)}: ${lines[0]} names ${variable}`);
    }
  });
});
