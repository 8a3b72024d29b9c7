import { ForbiddenError, KvsError, KvsNetworkError, KvsTimeoutError, UnauthorizedError } from '../client/index.js';

/**
 * The token (kept in the tab's sessionStorage: gone when the tab closes, never
 * shared with other tabs or sent elsewhere) and errors in words.
 */

const TOKEN_KEY = 'kvs-console-token';

export function storedToken(): string | undefined {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function keepToken(token: string | undefined): void {
  try {
    if (token === undefined) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage refused (a private window's quota): the token lives as long as the page.
  }
}

/** "detail (403 forbidden)": the server's words, then its status and code. */
function problemWords(error: KvsError): string {
  return `${error.detail.replace(/\.$/, '')} (${error.status} ${error.code})`;
}

/** What went wrong, in words a user can act on. */
export function explain(error: unknown): string {
  if (error instanceof UnauthorizedError) return `kvs did not accept the token: ${problemWords(error)}. Enter a token this server knows.`;
  if (error instanceof ForbiddenError) {
    if (error.code === 'protected_mode') return `kvs serves only clients on its own machine: ${problemWords(error)}.`;
    return `Your token may not do this: ${problemWords(error)}.`;
  }
  if (error instanceof KvsTimeoutError) return `kvs did not answer in time (${error.message}).`;
  if (error instanceof KvsNetworkError) return `kvs could not be reached (${error.message}). Is the server running?`;
  if (error instanceof KvsError) return `kvs refused: ${problemWords(error)}.`;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** A refusal for something that cannot be seen with this token, in words, for a place in the page (not an error of the page). */
export function notVisible(error: ForbiddenError, what: string): string {
  return `${what} ${error.code === 'protected_mode' ? 'cannot be shown' : 'is not visible with this token'}: ${problemWords(error)}.`;
}
