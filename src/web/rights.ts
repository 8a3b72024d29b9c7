import { ForbiddenError, TxnConflictError, UnauthorizedError, type KvsClient } from '../client/index.js';

/**
 * What the token may write, so that a read-only token gets a console without
 * edit controls rather than controls that fail.
 *
 * An admin token (or a server without tokens) may write everything: known
 * once /v1/status answers. Any other token's grants are prefixes, which kvs
 * does not list to clients; the console asks kvs instead, with a harmless
 * probe per key: a transaction that checks that `key + U+10FFFF` does not
 * exist and deletes it. A token without a write grant for the key gets 403
 * before anything runs; with one, the check holds (nobody names keys so) and
 * the delete of a missing key changes nothing: no revision, no watch event.
 * Should that key exist, the check fails (409) and nothing applies either.
 * A grant covering `key` covers `key + U+10FFFF`, and in practice no grant
 * covers the latter but not the former.
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

  constructor(private readonly client: KvsClient) {}

  /** What /v1/status said: answered (true) or refused (false). */
  setAdmin(admin: boolean): void {
    this.admin = admin;
    this.settled();
  }

  /** Whether the token may write `key` (unknown outcomes count as yes: the write itself will say). */
  async canWrite(key: string): Promise<boolean> {
    await this.adminKnown;
    if (this.admin === true) return true;
    let answer = this.known.get(key);
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
