import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** What a grant lets a token do under its prefix (API.md §10). */
export type Action = 'read' | 'write' | 'watch';
export const ACTIONS: readonly Action[] = ['read', 'write', 'watch'];

export interface Grant {
  /** Keys starting with this ('' = every key). */
  prefix: string;
  actions: ReadonlySet<Action>;
}

/** Who a request is, once its token is known. */
export interface Principal {
  name: string;
  admin: boolean;
  grants: readonly Grant[];
}

interface StoredToken {
  principal: Principal;
  sha256: Buffer;
}

/** The name KV_ADMIN_TOKEN goes by (in messages and rate-limit buckets). */
const ADMIN_TOKEN_NAME = 'admin';

export class TokensFileError extends Error {
  override name = 'TokensFileError';
}

/**
 * The tokens the server accepts: `KV_ADMIN_TOKEN` (one full-access token,
 * given in clear) and the entries of `KV_TOKENS_FILE`, which holds only
 * SHA-256 hashes. A presented token is hashed and compared with every stored
 * hash in constant time, so neither a match nor its position leaks through timing.
 */
export class TokenRegistry {
  private constructor(private readonly tokens: readonly StoredToken[]) {}

  static empty(): TokenRegistry {
    return new TokenRegistry([]);
  }

  /** Builds the registry from the configured admin token and tokens file; throws TokensFileError on a bad file. */
  static load(options: { adminToken?: string; tokensFile?: string }): TokenRegistry {
    const tokens: StoredToken[] = [];
    if (options.adminToken !== undefined) {
      tokens.push({ principal: { name: ADMIN_TOKEN_NAME, admin: true, grants: [] }, sha256: sha256(options.adminToken) });
    }
    if (options.tokensFile !== undefined) {
      const fileTokens = parseTokensFile(options.tokensFile);
      if (options.adminToken !== undefined && fileTokens.some((stored) => stored.principal.name === ADMIN_TOKEN_NAME)) {
        throw new TokensFileError(`KV_TOKENS_FILE ${options.tokensFile}: the name "${ADMIN_TOKEN_NAME}" is KV_ADMIN_TOKEN's; name that entry differently`);
      }
      tokens.push(...fileTokens);
    }
    return new TokenRegistry(tokens);
  }

  /** True when any token is configured (access control is on; protected mode is off). */
  get enabled(): boolean {
    return this.tokens.length > 0;
  }

  /** The principal a presented token stands for, or null. */
  authenticate(token: string): Principal | null {
    const presented = sha256(token);
    let found: Principal | null = null;
    for (const stored of this.tokens) {
      // Every entry is compared, match or not: the time taken does not depend on which one matches.
      if (timingSafeEqual(presented, stored.sha256) && found === null) found = stored.principal;
    }
    return found;
  }
}

export function sha256(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** A new random token: 32 bytes of entropy, recognisable by its prefix. */
export function newToken(): string {
  return `kvs_${randomBytes(32).toString('base64url')}`;
}

/** The tokens file entry for a token (the hash only: the file never holds a token). */
export function tokenEntry(name: string, token: string, grants: Array<{ prefix: string; actions: Action[] }>, admin: boolean): Record<string, unknown> {
  return admin ? { name, sha256: sha256(token).toString('hex'), admin: true } : { name, sha256: sha256(token).toString('hex'), grants };
}

/**
 * Reads `{"tokens":[{"name","sha256","grants":[{"prefix","actions"}]} | {"name","sha256","admin":true}]}`
 * and refuses anything else with a message naming the entry.
 */
function parseTokensFile(file: string): StoredToken[] {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new TokensFileError(`KV_TOKENS_FILE ${file} could not be read as JSON: ${(error as Error).message}`);
  }
  const entries = (document as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(entries)) throw new TokensFileError(`KV_TOKENS_FILE ${file} must be {"tokens": [...]}`);
  // An empty list would turn access control off: surely not what a configured tokens file means.
  if (entries.length === 0) throw new TokensFileError(`KV_TOKENS_FILE ${file} has no tokens; add one (kvs token create) or unset KV_TOKENS_FILE`);
  const names = new Set<string>();
  return entries.map((entry: unknown, index) => {
    const where = `KV_TOKENS_FILE ${file}: tokens[${index}]`;
    if (typeof entry !== 'object' || entry === null) throw new TokensFileError(`${where} must be an object`);
    const { name, sha256: hash, grants, admin } = entry as Record<string, unknown>;
    if (typeof name !== 'string' || name === '') throw new TokensFileError(`${where}.name must be a non-empty string`);
    if (names.has(name)) throw new TokensFileError(`${where}.name ${JSON.stringify(name)} is used twice`);
    names.add(name);
    if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/i.test(hash)) {
      throw new TokensFileError(`${where}.sha256 must be the 64-hex-digit SHA-256 of the token (kvs token create prints it)`);
    }
    if (admin !== undefined && admin !== true && admin !== false) throw new TokensFileError(`${where}.admin must be true or false`);
    if (admin === true) return { principal: { name, admin: true, grants: [] }, sha256: Buffer.from(hash, 'hex') };
    if (!Array.isArray(grants) || grants.length === 0) throw new TokensFileError(`${where} needs "grants" (or "admin": true)`);
    const parsed = grants.map((grant: unknown, grantIndex) => parseGrant(grant, `${where}.grants[${grantIndex}]`));
    return { principal: { name, admin: false, grants: parsed }, sha256: Buffer.from(hash, 'hex') };
  });
}

function parseGrant(grant: unknown, where: string): Grant {
  if (typeof grant !== 'object' || grant === null) throw new TokensFileError(`${where} must be an object`);
  const { prefix, actions } = grant as Record<string, unknown>;
  if (typeof prefix !== 'string') throw new TokensFileError(`${where}.prefix must be a string ("" for every key)`);
  // Keys are well-formed Unicode; a prefix with a lone surrogate would match differently as text and as bytes.
  if (!prefix.isWellFormed()) throw new TokensFileError(`${where}.prefix must be well-formed Unicode`);
  if (!Array.isArray(actions) || actions.length === 0 || !actions.every((action) => (ACTIONS as readonly unknown[]).includes(action))) {
    throw new TokensFileError(`${where}.actions must be a non-empty list of ${ACTIONS.join(', ')}`);
  }
  return { prefix, actions: new Set(actions as Action[]) };
}
