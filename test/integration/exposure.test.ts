import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Agent, get as httpGet, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { readdirSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { TokenRegistry } from '../../src/auth/tokens.js';
import { expectProblem, putValue, request } from '../helpers/http.js';
import { httpsFetch, makeCertificate, type TestCertificate } from '../helpers/https.js';
import { CLI_PATH, sleep, spawnServer, startTestServer, tempDirectory, useTestServer } from '../helpers/server.js';

/**
 * What a server exposed to a network does: protected mode when no token is
 * configured, HTTPS, tokens kept out of the logs, bad security settings
 * refused at start, and connection limits.
 */

/** A client address the test claims for a request (the server's own seam), else the socket's peer. */
const TEST_PEER_HEADER = 'x-test-peer';
const claimedPeer = (request: IncomingMessage) => (request.headers[TEST_PEER_HEADER] as string | undefined) ?? request.socket.remoteAddress;
const fromAfar = { [TEST_PEER_HEADER]: '203.0.113.9' };

describe('protected mode (no token configured), through the client-address seam', () => {
  const server = useTestServer({ clientAddress: claimedPeer });
  const open = useTestServer({ clientAddress: claimedPeer, access: { tokens: TokenRegistry.empty(), protectedMode: false, rateLimit: null } });

  it('a non-loopback client gets 403 protected_mode saying how to add a token or turn it off', async () => {
    const problem = expectProblem(await request(`${server.url}/v1/kv/a`, { headers: fromAfar }), 403, 'protected_mode');
    assert.match(problem.detail, /KV_PROTECTED_MODE=off/);
    assert.match(problem.detail, /KV_ADMIN_TOKEN/);
    assert.match(problem.detail, /KV_TOKENS_FILE/);
  });

  it('refuses every kind of request from afar, writes included, and they change nothing', async () => {
    expectProblem(await putValue(server.url, 'a', 'x', { headers: fromAfar }), 403, 'protected_mode');
    assert.equal(
      (await request(`${server.url}/put`, { method: 'POST', headers: { ...fromAfar, 'content-type': 'application/json' }, body: '{"key":"a","value":1}' }))
        .status,
      403,
    );
    expectProblem(await request(`${server.url}/v1/kv?prefix=`, { headers: fromAfar }), 403, 'protected_mode');
    expectProblem(await request(`${server.url}/metrics`, { headers: fromAfar }), 403, 'protected_mode');
    assert.equal((await request(`${server.url}/v1/kv/a`)).status, 404, 'a refused write was applied');
  });

  it('loopback clients and the health checks are served', async () => {
    assert.equal((await putValue(server.url, 'b', 'local')).status, 201);
    assert.equal((await request(`${server.url}/v1/kv/b`, { headers: { [TEST_PEER_HEADER]: '127.0.0.1' } })).text, 'local');
    assert.equal((await request(`${server.url}/v1/kv/b`, { headers: { [TEST_PEER_HEADER]: '::ffff:127.0.0.1' } })).text, 'local');
    assert.equal((await request(`${server.url}/v1/kv/b`, { headers: { [TEST_PEER_HEADER]: '::1' } })).text, 'local');
    assert.equal((await request(`${server.url}/healthz`, { headers: fromAfar })).status, 200);
    assert.equal((await request(`${server.url}/readyz`, { headers: fromAfar })).status, 200);
  });

  it('with KV_PROTECTED_MODE=off, clients from afar are served', async () => {
    assert.equal((await putValue(open.url, 'c', 'far', { headers: fromAfar })).status, 201);
    assert.equal((await request(`${open.url}/v1/kv/c`, { headers: fromAfar })).text, 'far');
  });

  it('with a token configured, a client from afar is served with it (protected mode is for token-less servers)', async () => {
    const withToken = await startTestServer({
      clientAddress: claimedPeer,
      access: { tokens: TokenRegistry.load({ adminToken: 'afar-admin-token-123' }), protectedMode: true, rateLimit: null },
    });
    try {
      assert.equal((await request(`${withToken.url}/v1/kv/d`, { headers: fromAfar })).status, 401);
      assert.equal((await request(`${withToken.url}/v1/kv/d`, { headers: { ...fromAfar, authorization: 'Bearer afar-admin-token-123' } })).status, 404);
    } finally {
      await withToken.close();
    }
  });
});

/** A non-loopback IPv4 address of this machine, if it has one. */
function nonLoopbackAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return undefined;
}

/** GET from a given local address: the server sees that address as the peer, though it listens on 127.0.0.1 only. */
function getFrom(localAddress: string, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { localAddress }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

/** GET through a given agent (its keep-alive connections stay open afterwards). */
function getWith(agent: Agent, url: string, headers: Record<string, string> = {}): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent, headers }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0 }));
    }).on('error', reject);
  });
}

const localAddress = nonLoopbackAddress();

describe('protected mode with a real non-loopback client', () => {
  // Needs a non-loopback address on this machine to connect from; the seam tests above cover the logic without one.
  const skip = localAddress === undefined ? 'this machine has no non-loopback IPv4 address to connect from' : false;

  it("a connection from this machine's own network address is refused; one from 127.0.0.1 is served", { skip }, async () => {
    const server = await startTestServer();
    try {
      const far = await getFrom(localAddress!, `${server.url}/v1/kv/x`);
      assert.equal(far.status, 403, far.body);
      assert.equal(JSON.parse(far.body).code, 'protected_mode');
      assert.equal((await getFrom('127.0.0.1', `${server.url}/v1/kv/x`)).status, 404);
    } finally {
      await server.close();
    }
  });
});

describe('HTTPS', () => {
  let certificate: TestCertificate;
  before(() => {
    certificate = makeCertificate(tempDirectory('kvs-tls-'));
  });

  it('serves the API over TLS with the configured certificate, and nothing in clear on that port', async () => {
    const server = await startTestServer({ tls: { cert: certificate.cert, key: certificate.key } });
    try {
      assert.match(server.url, /^https:\/\//);
      const put = await httpsFetch(`${server.url}/v1/kv/secure`, certificate.cert, { method: 'PUT', body: 'over tls' });
      assert.equal(put.status, 201, put.text);
      const read = await httpsFetch(`${server.url}/v1/kv/secure`, certificate.cert);
      assert.equal(read.text, 'over tls');
      await assert.rejects(fetch(server.url.replace('https:', 'http:') + '/healthz'), 'plain HTTP must not be answered');
      // A client that does not trust the certificate refuses it.
      await assert.rejects(fetch(`${server.url}/healthz`));
    } finally {
      await server.close();
    }
  });

  it('closing does not wait for a TCP connection that never finished its TLS handshake', async () => {
    const server = await startTestServer({ tls: { cert: certificate.cert, key: certificate.key } });
    const silent = connect(Number(new URL(server.url).port), '127.0.0.1');
    silent.on('error', () => {});
    await new Promise((resolve) => silent.once('connect', resolve));
    await sleep(50);
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 3_000, `close took ${Date.now() - started} ms`);
    silent.destroy();
  });

  it('kvs serve with KV_TLS_CERT and KV_TLS_KEY listens on https://', async () => {
    const server = await spawnServer(
      { DATA_DIRECTORY: tempDirectory(), KV_TLS_CERT: certificate.certFile, KV_TLS_KEY: certificate.keyFile },
      { httpsCa: certificate.cert },
    );
    try {
      assert.equal((await httpsFetch(`${server.url}/v1/kv/x`, certificate.cert)).status, 404);
      assert.match(server.output(), /"url":"https:\/\/127\.0\.0\.1:/);
    } finally {
      server.kill('SIGTERM');
      await server.exited;
    }
  });
});

/** Runs `kvs serve` expecting it to refuse to start. */
function failedStart(env: Record<string, string>): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [CLI_PATH, 'serve'], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', DATA_DIRECTORY: tempDirectory(), ...env },
    encoding: 'utf8',
    timeout: 15_000,
  });
  return { status: result.status, stderr: result.stderr };
}

describe('security settings that cannot work stop the start', () => {
  it('a certificate without a key, or an unreadable one: exit 2, one line naming the setting', () => {
    const missingKey = failedStart({ KV_TLS_CERT: '/etc/hostname' });
    assert.equal(missingKey.status, 2);
    assert.match(missingKey.stderr, /KV_TLS_KEY/);
    const unreadable = failedStart({ KV_TLS_CERT: '/no/such/cert.pem', KV_TLS_KEY: '/no/such/key.pem' });
    assert.equal(unreadable.status, 2);
    assert.match(unreadable.stderr, /TLS/);
    assert.equal(unreadable.stderr.trim().split('\n').length, 1, unreadable.stderr);
    // Files that exist but are no PEM certificate and key: exit 2 too, before any store is created.
    const directory = tempDirectory();
    const notPem = failedStart({ KV_TLS_CERT: '/etc/hostname', KV_TLS_KEY: '/etc/hostname', DATA_DIRECTORY: directory });
    assert.equal(notPem.status, 2, notPem.stderr);
    assert.match(notPem.stderr, /KV_TLS_CERT/);
    assert.deepEqual(readdirSync(directory), [], 'the data directory was written to');
  });

  it('an empty KV_ADMIN_TOKEN or a bad KV_PROTECTED_MODE: exit 2', () => {
    for (const env of [{ KV_ADMIN_TOKEN: '' }, { KV_PROTECTED_MODE: 'maybe' }, { KV_RATE_LIMIT: '-1' }] as Array<Record<string, string>>) {
      const result = failedStart(env);
      assert.equal(result.status, 2, `${JSON.stringify(env)}: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(Object.keys(env)[0]!));
    }
  });
});

describe('tokens never reach the logs', () => {
  it('with request logging at debug, neither a valid nor an invalid token appears in stdout or stderr', async () => {
    const adminToken = 'kvs_admin_token_that_must_stay_secret_0001';
    const wrongToken = 'kvs_wrong_token_that_must_stay_secret_0002';
    const server = await spawnServer({ DATA_DIRECTORY: tempDirectory(), KV_ADMIN_TOKEN: adminToken, LOG_LEVEL: 'trace' });
    try {
      const auth = (token: string) => ({ authorization: `Bearer ${token}` });
      assert.equal((await putValue(server.url, 'logged', 'x', { headers: auth(adminToken) })).status, 201);
      assert.equal((await request(`${server.url}/v1/kv/logged`, { headers: auth(adminToken) })).status, 200);
      assert.equal((await request(`${server.url}/v1/kv/logged`, { headers: auth(wrongToken) })).status, 401);
      assert.equal((await putValue(server.url, 'logged', 'x', { query: 'ttl=abc', headers: auth(adminToken) })).status, 400);
      assert.equal((await request(`${server.url}/metrics`, { headers: auth(adminToken) })).status, 200);
    } finally {
      server.kill('SIGTERM');
      await server.exited;
    }
    const output = server.output();
    // The requests were logged (so the check below looked at request logs), without their tokens.
    assert.match(output, /\/v1\/kv\/logged/);
    assert.ok(!output.includes(adminToken), 'the admin token was logged');
    assert.ok(!output.includes(wrongToken), 'a presented token was logged');
    assert.ok(!output.includes('kvs_admin_token'), 'part of the admin token was logged');
  });
});

describe('connection limits', () => {
  const server = useTestServer({ connectionLimits: { headersTimeoutMs: 500, connectionsCheckingIntervalMs: 100 } });

  it('headers over 16 KiB: 431 problem+json, and the server goes on', async () => {
    const response = await fetch(`${server.url}/v1/kv/x`, { headers: { 'x-big': 'a'.repeat(20 * 1024) } });
    assert.equal(response.status, 431);
    assert.equal(((await response.json()) as { code: string }).code, 'header_too_large');
    assert.equal((await request(`${server.url}/healthz`)).status, 200);
  });

  it('a client that never finishes its headers is answered 408 and disconnected when headersTimeout passes', async () => {
    const port = Number(new URL(server.url).port);
    const started = Date.now();
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('GET /v1/kv/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '));
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString()));
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
      setTimeout(() => reject(new Error('the server kept the connection for 10 s')), 10_000).unref();
    });
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.ok(Date.now() - started < 5_000, `closed after ${Date.now() - started} ms`);
  });

  it('closing does not wait out the 65 s keep-alive of connections that went idle, nor cut a response under way', async () => {
    const closing = await startTestServer();
    const agent = new Agent({ keepAlive: true });
    try {
      // Two idle keep-alive connections, and one long-poll answered while the server closes.
      await Promise.all([getWith(agent, `${closing.url}/v1/kv/x`), getWith(agent, `${closing.url}/v1/kv/y`)]);
      const put = await putValue(closing.url, 'lp', 'v1');
      const longPoll = getWith(agent, `${closing.url}/v1/kv/lp`, { 'if-none-match': put.headers.get('etag')!, prefer: 'wait=1' });
      await sleep(100);
      const started = Date.now();
      await closing.close();
      assert.ok(Date.now() - started < 3_000, `close took ${Date.now() - started} ms`);
      assert.equal((await longPoll).status, 304, 'the long-poll under way was answered, not cut');
    } finally {
      agent.destroy();
    }
  });

  it('a connection that never sends a byte is answered 408 and closed when headersTimeout passes', async () => {
    const port = Number(new URL(server.url).port);
    const started = Date.now();
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let received = '';
      // Read (a paused socket would never see the close).
      socket.on('data', (chunk) => (received += chunk.toString()));
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
      setTimeout(() => reject(new Error('a silent connection was kept for 10 s')), 10_000).unref();
    });
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.ok(Date.now() - started < 5_000, `closed after ${Date.now() - started} ms`);
  });

  it('the default limits are the documented ones', () => {
    const node = server.app.server as HttpServer & { maxHeaderSize: number };
    assert.equal(node.keepAliveTimeout, 65_000);
    assert.equal(node.requestTimeout, 60_000);
    assert.equal(node.maxHeaderSize, 16 * 1024);
  });
});
