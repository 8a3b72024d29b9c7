import { KvError } from './errors.js';

/**
 * A range cursor says where the next page starts. It is opaque to clients
 * (base64url) and holds a byte-string bound in the walk direction: a forward
 * walk resumes at `from` (inclusive), a reverse walk below `to` (exclusive).
 * Bounds are bytes, not keys, so that a page ending in a rolled-up prefix can
 * resume after everything under it. A bound never repeats or skips a key that
 * existed throughout.
 */
export type Cursor = { from: Buffer } | { to: Buffer };

const CURSOR_VERSION = 1;
const FORWARD = 0x66; // 'f'
const REVERSE = 0x74; // 't'

export function encodeCursor(cursor: Cursor): string {
  const bound = 'from' in cursor ? cursor.from : cursor.to;
  const direction = 'from' in cursor ? FORWARD : REVERSE;
  return Buffer.concat([Buffer.from([CURSOR_VERSION, direction]), bound]).toString('base64url');
}

/** Parses a cursor and checks it belongs to a walk in the given direction. */
export function decodeCursor(text: string, reverse: boolean): Cursor {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) throw invalidCursor();
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.length < 2 || bytes[0] !== CURSOR_VERSION || (bytes[1] !== FORWARD && bytes[1] !== REVERSE)) throw invalidCursor();
  const isForward = bytes[1] === FORWARD;
  if (isForward === reverse) {
    throw new KvError('invalid_request', 'the cursor belongs to a walk in the other direction: pass the same "reverse" as for the first page');
  }
  const bound = Buffer.from(bytes.subarray(2));
  return isForward ? { from: bound } : { to: bound };
}

function invalidCursor(): KvError {
  return new KvError('invalid_request', 'the cursor is not one this server issued; pass back the "cursor" of the previous page unchanged');
}
