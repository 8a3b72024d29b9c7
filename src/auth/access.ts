import { keyBytes, prefixEnd } from '../core/keys.js';
import type { Action, Principal } from './tokens.js';

/**
 * What a request needs (API.md §10):
 * - `public`: nothing (health checks);
 * - `token`: any valid token (limits, the OpenAPI document, unknown routes);
 * - `admin`: an admin token (metrics, status, admin routes);
 * - `keys`: each listed key with its action (single keys, seed routes, txns);
 * - `range`: one grant covering the whole byte range (lists, prefix deletes, prefix watches);
 * - `all`: each of several (a watch: read and watch).
 */
export type Access =
  | { kind: 'public' }
  | { kind: 'token' }
  | { kind: 'admin' }
  | { kind: 'keys'; needs: ReadonlyArray<{ key: string; action: Action }> }
  | { kind: 'range'; action: Action; start: Buffer; end: Buffer | null }
  /** Every one of these (a watch needs read and watch over its range). */
  | { kind: 'all'; of: readonly Access[] };

export const PUBLIC: Access = { kind: 'public' };
export const ANY_TOKEN: Access = { kind: 'token' };
export const ADMIN: Access = { kind: 'admin' };

export function keyAccess(key: string, ...actions: Action[]): Access {
  return { kind: 'keys', needs: actions.map((action) => ({ key, action })) };
}

/** Whether `principal` may do what `access` needs. */
export function allows(principal: Principal, access: Access): boolean {
  if (principal.admin) return true;
  switch (access.kind) {
    case 'public':
    case 'token':
      return true;
    case 'admin':
      return false;
    case 'keys':
      return access.needs.every(({ key, action }) => principal.grants.some((grant) => grant.actions.has(action) && key.startsWith(grant.prefix)));
    case 'range':
      return principal.grants.some((grant) => grant.actions.has(access.action) && grantCovers(grant.prefix, access.start, access.end));
    case 'all':
      return access.of.every((part) => allows(principal, part));
  }
}

/**
 * True when every key in [start, end) starts with `prefix`: the range lies
 * within [prefix, prefixEnd(prefix)). The empty prefix covers everything.
 */
export function grantCovers(prefix: string, start: Buffer, end: Buffer | null): boolean {
  if (prefix === '') return true;
  const low = keyBytes(prefix);
  const high = prefixEnd(low);
  if (Buffer.compare(start, low) < 0) return false;
  if (high === null) return true;
  return end !== null && Buffer.compare(end, high) <= 0;
}
