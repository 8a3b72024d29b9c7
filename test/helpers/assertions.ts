import assert from 'node:assert/strict';
import { KvError, type ErrorCode } from '../../src/core/errors.js';
import { request } from './http.js';

/** Runs `fn`, which must throw a KvError with `code` (and, if given, a matching message and these extras); returns it. */
export function expectKvError(fn: () => unknown, code: ErrorCode | string, expected: { message?: RegExp; extras?: Record<string, unknown> } = {}): KvError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof KvError, `expected a KvError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  if (expected.message !== undefined) assert.match(caught.message, expected.message);
  for (const [name, value] of Object.entries(expected.extras ?? {})) {
    assert.deepEqual((caught.extras as Record<string, unknown>)[name], value, `extras.${name}`);
  }
  return caught;
}

/** Polls `condition` every 20 ms until it holds, failing after `timeoutMs`. */
export async function pollUntil(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The value of an unlabelled gauge or counter in the server's /metrics. */
export async function metricValue(base: string, name: string): Promise<number> {
  const response = await request(`${base}/metrics`);
  assert.equal(response.status, 200);
  const line = response.text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  assert.ok(line !== undefined, `/metrics has no ${name}`);
  return Number(line.slice(name.length + 1));
}
