import { KvError } from '../core/errors.js';
import type { RateLimiter } from './rate-limit.js';
import type { Principal, TokenRegistry } from './tokens.js';

/** Who a request is when no tokens are configured: a loopback client, with full access (protected mode keeps everyone else out). */
export const LOCAL_PRINCIPAL: Principal = Object.freeze({ name: 'local', admin: true, grants: [] });

export type Admission = { ok: true; principal: Principal } | { ok: false; error: KvError };

/**
 * The first check of every request that is not a health check, knowing only
 * its Authorization header and its client address (so the fast read path and
 * Fastify's hooks share it):
 * - tokens configured: a valid Bearer token, else 401;
 * - no tokens and protected mode on (the default): loopback clients only, else 403 protected_mode;
 * - then the client's rate limit, if one is set: 429 with Retry-After.
 * Messages never repeat the token.
 */
export class Gatekeeper {
  constructor(
    private readonly tokens: TokenRegistry,
    private readonly protectedMode: boolean,
    private readonly rateLimiter: RateLimiter | null,
  ) {}

  /** True when requests are rate-limited (then every admission spends from a bucket). */
  get limitsRate(): boolean {
    return this.rateLimiter !== null;
  }

  admit(authorization: string | undefined, clientAddress: string | undefined): Admission {
    let principal: Principal;
    if (this.tokens.enabled) {
      const token = bearerToken(authorization);
      if (token === null) return refuse('unauthorized', 'this server needs a token: send Authorization: Bearer <token>');
      const known = this.tokens.authenticate(token);
      if (known === null) return refuse('unauthorized', 'the bearer token is not one this server accepts');
      principal = known;
    } else {
      if (this.protectedMode && !isLoopback(clientAddress)) {
        return refuse(
          'protected_mode',
          'kvs is in protected mode: with no token configured it serves only clients on this machine. Configure a token (KV_ADMIN_TOKEN, or KV_TOKENS_FILE with entries from `kvs token create`), or, on a network you trust, set KV_PROTECTED_MODE=off.',
        );
      }
      principal = LOCAL_PRINCIPAL;
    }
    if (this.rateLimiter !== null) {
      const waitSeconds = this.rateLimiter.take(this.tokens.enabled ? `token:${principal.name}` : `address:${clientAddress ?? ''}`);
      if (waitSeconds > 0) return refuse('rate_limited', 'too many requests for this client; slow down', { retryAfterSeconds: waitSeconds });
    }
    return { ok: true, principal };
  }
}

function refuse(code: 'unauthorized' | 'protected_mode' | 'rate_limited', detail: string, extras = {}): Admission {
  return { ok: false, error: new KvError(code, detail, extras) };
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(authorization: string | undefined): string | null {
  if (authorization === undefined) return null;
  const match = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(authorization);
  return match === null ? null : match[1]!;
}

/** 127.0.0.0/8, ::1, and their IPv4-mapped IPv6 forms. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
