import { COUNTER_ABS_MAX } from './limits.js';
import { KvError } from './errors.js';

// JSON allows only space, tab, LF and CR around a value; \s would also let through NBSP, BOM and the like.
const INTEGER_TEXT = /^[ \t\n\r]*-?(?:0|[1-9]\d*)[ \t\n\r]*$/;

/**
 * Reads stored bytes as a counter: a JSON integer within ±(2^53−1).
 * Anything else (a float, a string, an object, too big a number) is not a counter.
 */
export function parseCounter(bytes: Buffer, key: string): number {
  const text = bytes.toString('utf8');
  if (!INTEGER_TEXT.test(text)) {
    throw new KvError('not_a_counter', `the value of "${key}" is not a JSON integer, so it cannot be added to`);
  }
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new KvError('not_a_counter', `the value of "${key}" is beyond ±(2^53−1), so it cannot be added to`);
  }
  return value;
}

/** `current + by`, refusing results a JSON client could not read back exactly. */
export function addToCounter(current: number, by: number, key: string): number {
  const next = current + by;
  if (!Number.isSafeInteger(next) || Math.abs(next) > COUNTER_ABS_MAX) {
    throw new KvError('counter_overflow', `adding ${by} to "${key}" (${current}) leaves ±(2^53−1)`);
  }
  return next;
}
