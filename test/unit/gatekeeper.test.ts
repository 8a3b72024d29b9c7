import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gatekeeper, type Admission } from '../../src/auth/gatekeeper.js';
import { RateLimiter } from '../../src/auth/rate-limit.js';
import { TokenRegistry, sha256, type Principal } from '../../src/auth/tokens.js';
import { KvError, type ErrorCode, type ProblemExtras } from '../../src/core/errors.js';
import { tempDirectory } from '../helpers/server.js';

const ADMIN_TOKEN = 'kvs_admin-secret-Zx9';
const APP_TOKEN = 'kvs_app-secret-Qw7';
const OTHER_TOKEN = 'kvs_other-secret-Rt3';

// A tokens file with two granted tokens, next to the admin token.
const directory = tempDirectory('kvs-gatekeeper-');
after(() => rmSync(directory, { recursive: true, force: true }));
const tokensFile = join(directory, 'tokens.json');
writeFileSync(
  tokensFile,
  JSON.stringify({
    tokens: [
      { name: 'app', sha256: sha256(APP_TOKEN).toString('hex'), grants: [{ prefix: 'app/', actions: ['read', 'write'] }] },
      { name: 'other', sha256: sha256(OTHER_TOKEN).toString('hex'), grants: [{ prefix: 'other/', actions: ['read'] }] },
    ],
  }),
);
const REGISTRY = TokenRegistry.load({ adminToken: ADMIN_TOKEN, tokensFile });

function fakeClock(): { now: () => number; advance(ms: number): void } {
  let nowMs = 5_000_000;
  return { now: () => nowMs, advance: (ms) => (nowMs += ms) };
}

function admitted(admission: Admission): Principal {
  assert.ok(admission.ok, `expected admission, got ${admission.ok ? '' : `${admission.error.code}: ${admission.error.message}`}`);
  return admission.principal;
}

/** The admission must be refused with `code` (and its status, and these extras); returns the error. */
function refused(admission: Admission, code: ErrorCode, status: number, extras: ProblemExtras = {}): KvError {
  assert.ok(!admission.ok, `expected ${code}, got admission as ${admission.ok ? admission.principal.name : ''}`);
  assert.ok(admission.error instanceof KvError);
  assert.equal(admission.error.code, code);
  assert.equal(admission.error.status, status);
  for (const [name, value] of Object.entries(extras)) assert.deepEqual((admission.error.extras as Record<string, unknown>)[name], value, `extras.${name}`);
  return admission.error;
}

/** Nothing about a refusal may repeat the token presented. */
function assertNoSecret(error: KvError, ...secrets: string[]): void {
  const text = `${error.message} ${JSON.stringify(error.extras)} ${String(error.stack)}`;
  for (const secret of secrets) assert.ok(!text.includes(secret), `the error repeats ${secret}: ${error.message}`);
}

describe('Gatekeeper with tokens configured', () => {
  // Protected mode has no say once tokens exist: test with it on, from a remote address.
  const gatekeeper = new Gatekeeper(REGISTRY, true, null);

  it('refuses a request without an Authorization header with 401 unauthorized', () => {
    const error = refused(gatekeeper.admit(undefined, '10.0.0.1'), 'unauthorized', 401);
    assert.match(error.message, /Bearer/);
    // Loopback clients need a token too.
    refused(gatekeeper.admit(undefined, '127.0.0.1'), 'unauthorized', 401);
  });

  it('refuses malformed headers with 401', () => {
    for (const header of [
      '',
      'Basic x',
      `Basic ${APP_TOKEN}`,
      'Bearer',
      'Bearer ',
      'Bearer a b',
      `Bearer ${APP_TOKEN} x`,
      `Token ${APP_TOKEN}`,
      `Bearer${APP_TOKEN}`,
      APP_TOKEN,
    ]) {
      const error = refused(gatekeeper.admit(header, '127.0.0.1'), 'unauthorized', 401);
      assertNoSecret(error, APP_TOKEN);
    }
  });

  it('refuses an unknown token with 401, without repeating it', () => {
    const wrong = 'kvs_not-a-real-token-123';
    for (const token of [wrong, `${APP_TOKEN}x`, APP_TOKEN.slice(0, -1), sha256(APP_TOKEN).toString('hex')]) {
      const error = refused(gatekeeper.admit(`Bearer ${token}`, '127.0.0.1'), 'unauthorized', 401);
      assertNoSecret(error, token);
    }
  });

  it('admits a known token as its principal', () => {
    const app = admitted(gatekeeper.admit(`Bearer ${APP_TOKEN}`, '10.0.0.1'));
    assert.equal(app.name, 'app');
    assert.equal(app.admin, false);
    assert.equal(app.grants[0]?.prefix, 'app/');
    assert.equal(admitted(gatekeeper.admit(`Bearer ${OTHER_TOKEN}`, undefined)).name, 'other');
    const admin = admitted(gatekeeper.admit(`Bearer ${ADMIN_TOKEN}`, '192.168.1.2'));
    assert.equal(admin.admin, true);
  });

  it('reads the scheme case-insensitively and tolerates extra spaces', () => {
    for (const header of [`bearer ${APP_TOKEN}`, `BEARER ${APP_TOKEN}`, `BeArEr ${APP_TOKEN}`, `Bearer   ${APP_TOKEN}`, `Bearer ${APP_TOKEN} `]) {
      assert.equal(admitted(gatekeeper.admit(header, '10.0.0.1')).name, 'app', JSON.stringify(header));
    }
  });
});

describe('Gatekeeper without tokens, protected mode on', () => {
  const gatekeeper = new Gatekeeper(TokenRegistry.empty(), true, null);

  it('admits loopback clients with full access', () => {
    for (const address of ['127.0.0.1', '127.5.5.5', '127.255.255.254', '::1', '::ffff:127.0.0.1']) {
      const principal = admitted(gatekeeper.admit(undefined, address));
      assert.equal(principal.admin, true, address);
    }
    // A header is ignored: there is no token to check it against.
    assert.equal(admitted(gatekeeper.admit('Bearer whatever', '127.0.0.1')).admin, true);
  });

  it('refuses every other client with 403 protected_mode, saying how to fix it', () => {
    for (const address of ['10.0.0.1', '::ffff:10.0.0.1', '192.168.1.2', '0.0.0.0', '::', '::2', '128.0.0.1', '1.127.0.0', 'fe80::1', undefined]) {
      const error = refused(gatekeeper.admit(undefined, address), 'protected_mode', 403);
      assert.match(error.message, /KV_PROTECTED_MODE=off/);
      assert.match(error.message, /KV_ADMIN_TOKEN/);
    }
  });

  it('does not let a header get a remote client in', () => {
    refused(gatekeeper.admit(`Bearer ${ADMIN_TOKEN}`, '10.0.0.1'), 'protected_mode', 403);
  });
});

describe('Gatekeeper without tokens, protected mode off', () => {
  it('admits any client with full access', () => {
    const gatekeeper = new Gatekeeper(TokenRegistry.empty(), false, null);
    for (const address of ['10.0.0.1', '::ffff:10.0.0.1', '192.168.1.2', '127.0.0.1', '::1', undefined]) {
      assert.equal(admitted(gatekeeper.admit(undefined, address)).admin, true, String(address));
    }
  });
});

describe('Gatekeeper rate limiting', () => {
  it('reports whether it limits', () => {
    assert.equal(new Gatekeeper(TokenRegistry.empty(), true, null).limitsRate, false);
    assert.equal(new Gatekeeper(TokenRegistry.empty(), true, new RateLimiter(1, 1)).limitsRate, true);
  });

  it('refuses the request after the burst with 429 rate_limited and a retry time', () => {
    const clock = fakeClock();
    const gatekeeper = new Gatekeeper(TokenRegistry.empty(), false, new RateLimiter(1, 2, clock.now));
    admitted(gatekeeper.admit(undefined, '10.0.0.1'));
    admitted(gatekeeper.admit(undefined, '10.0.0.1'));
    const error = refused(gatekeeper.admit(undefined, '10.0.0.1'), 'rate_limited', 429);
    assert.ok(typeof error.extras.retryAfterSeconds === 'number' && error.extras.retryAfterSeconds >= 1, `retryAfterSeconds ${error.extras.retryAfterSeconds}`);
    // After the wait it is served again.
    clock.advance(error.extras.retryAfterSeconds * 1000);
    admitted(gatekeeper.admit(undefined, '10.0.0.1'));
  });

  it('limits per address when no tokens are configured', () => {
    const clock = fakeClock();
    const gatekeeper = new Gatekeeper(TokenRegistry.empty(), false, new RateLimiter(1, 2, clock.now));
    for (let i = 0; i < 2; i++) admitted(gatekeeper.admit(undefined, '10.0.0.1'));
    refused(gatekeeper.admit(undefined, '10.0.0.1'), 'rate_limited', 429);
    // Another address has its own bucket.
    for (let i = 0; i < 2; i++) admitted(gatekeeper.admit(undefined, '10.0.0.2'));
    refused(gatekeeper.admit(undefined, '10.0.0.2'), 'rate_limited', 429);
  });

  it('limits per token, not per address, when tokens are configured', () => {
    const clock = fakeClock();
    const gatekeeper = new Gatekeeper(REGISTRY, true, new RateLimiter(1, 2, clock.now));
    // The app token from two addresses shares one bucket.
    admitted(gatekeeper.admit(`Bearer ${APP_TOKEN}`, '10.0.0.1'));
    admitted(gatekeeper.admit(`Bearer ${APP_TOKEN}`, '10.0.0.2'));
    const error = refused(gatekeeper.admit(`Bearer ${APP_TOKEN}`, '10.0.0.3'), 'rate_limited', 429);
    assert.ok((error.extras.retryAfterSeconds ?? 0) >= 1);
    assertNoSecret(error, APP_TOKEN);
    // Another token from the same address has its own.
    admitted(gatekeeper.admit(`Bearer ${OTHER_TOKEN}`, '10.0.0.1'));
    admitted(gatekeeper.admit(`Bearer ${OTHER_TOKEN}`, '10.0.0.1'));
    refused(gatekeeper.admit(`Bearer ${OTHER_TOKEN}`, '10.0.0.1'), 'rate_limited', 429);
    admitted(gatekeeper.admit(`Bearer ${ADMIN_TOKEN}`, '10.0.0.1'));
  });

  it('checks the token before the rate limit', () => {
    const clock = fakeClock();
    const gatekeeper = new Gatekeeper(REGISTRY, true, new RateLimiter(1, 1, clock.now));
    admitted(gatekeeper.admit(`Bearer ${APP_TOKEN}`, '10.0.0.1'));
    // A bad token is told it is unauthorized, not rate limited.
    refused(gatekeeper.admit('Bearer nope', '10.0.0.1'), 'unauthorized', 401);
    refused(gatekeeper.admit(undefined, '10.0.0.1'), 'unauthorized', 401);
  });
});
