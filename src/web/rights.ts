import { ForbiddenError, TxnConflictError, UnauthorizedError, type KvsClient, type TokenInfo } from '../client/index.js';
import { compareKeys } from './format.js';

/**
 * What the token may read, write and watch, so that a read-only token gets a
 * console without edit controls rather than controls that fail, and a token
 * limited to some prefixes gets a tree rooted at them.
 *
 * kvs says it: `GET /v1/auth/me` answers the token's grants (any valid
 * token may ask). Should that fail (a kvs without it, behind a proxy that
 * refuses it), the console falls back to asking per key: an admin token (or a
 * server without tokens) may write everything, known once /v1/status
 * answers; otherwise a harmless probe per key, a transaction that checks that
 * `key + U+10FFFF` does not exist and deletes it. A token without a write
 * grant for the key gets 403 before anything runs; with one, the check holds
 * (nobody names keys so) and the delete of a missing key changes nothing: no
 * revision, no watch event. Should that key exist, the check fails (409) and
 * nothing applies either.
 *
 * A write that is refused anyway (403) marks the key read-only too.
 */
export class Rights {
  /** True once /v1/status answered (admin, or no tokens configured); false when it was refused; null before. */
  admin: boolean | null = null;
  private readonly known = new Map<string, Promise<boolean>>();
  private settled!: () => void;
  /** Until /v1/status has answered, nothing is probed: an admin needs no probe. */
  private readonly adminKnown = new Promise<void>((resolve) => (this.settled = resolve));
  private loaded!: (token: TokenInfo | null) => void;
  /** What /v1/auth/me said; null when it could not say (then /v1/status and probes decide). Pending until load(). */
  private readonly token = new Promise<TokenInfo | null>((resolve) => (this.loaded = resolve));

  constructor(private readonly client: KvsClient) {}

  /** Asks kvs what the token may do: once the token is known to be valid (nothing is decided before). */
  load(): void {
    this.client.me().then(this.loaded, () => this.loaded(null));
  }

  /** What /v1/status said: answered (true) or refused (false). */
  setAdmin(admin: boolean): void {
    this.admin = admin;
    this.settled();
  }

  /** Whether the token may write `key` (unknown outcomes count as yes: the write itself will say). */
  async canWrite(key: string): Promise<boolean> {
    const refused = this.known.get(key);
    const token = await this.token;
    if (token !== null) return (refused === undefined || (await refused)) && allowed(token, 'write', key);
    await this.adminKnown;
    if (this.admin === true) return true;
    let answer = refused;
    if (answer === undefined) {
      answer = this.probe(key);
      this.known.set(key, answer);
    }
    return answer;
  }

  /** Whether the token may write keys that start with `prefix` ('' = at the top). */
  canWriteUnder(prefix: string): Promise<boolean> {
    return this.canWrite(prefix);
  }

  /** A write to `key` was refused with 403. */
  refused(key: string): void {
    this.known.set(key, Promise.resolve(false));
  }

  /**
   * The prefixes the token may read (and, with `watch`, also watch), when it may
   * not read every key: the roots of its tree, the outermost of its grants
   * only, in key order. Null when it may read everything, or when kvs did not say.
   */
  async roots(...actions: Array<'read' | 'watch'>): Promise<string[] | null> {
    const token = await this.token;
    if (token === null || token.admin) return null;
    const wanted = ['read', ...actions] as const;
    const prefixes = token.grants.filter((grant) => wanted.every((action) => grant.actions.includes(action))).map((grant) => grant.prefix);
    if (prefixes.includes('')) return null;
    // A prefix inside another is no root of its own.
    return [...new Set(prefixes)].filter((prefix) => !prefixes.some((other) => other !== prefix && prefix.startsWith(other))).sort(compareKeys);
  }

  private async probe(key: string): Promise<boolean> {
    const probeKey = `${key}\u{10FFFF}`;
    try {
      await this.client.txn({ checks: [{ key: probeKey, exists: false }], ops: [{ op: 'delete', key: probeKey }] });
      return true;
    } catch (error) {
      if (error instanceof ForbiddenError) return false;
      if (error instanceof TxnConflictError) return true;
      if (error instanceof UnauthorizedError) throw error;
      // A key too long for the suffix, a network failure: let the write itself say.
      return true;
    }
  }
}

/** Whether a grant of `token` lets it do `action` on `key` (as kvs decides, auth/access.ts). */
function allowed(token: TokenInfo, action: 'read' | 'write' | 'watch', key: string): boolean {
  return token.admin || token.grants.some((grant) => grant.actions.includes(action) && key.startsWith(grant.prefix));
}
