import assert from 'node:assert/strict';

/** One request a client made through a FetchSpy. */
export interface SpiedCall {
  method: string;
  /** Path and query, e.g. `/v1/kv/a?op=add&by=1`. */
  path: string;
  headers: Headers;
  /** False when the spy failed it instead of sending it. */
  sent: boolean;
  /** The status the server answered (undefined when not sent). */
  status?: number;
}

export interface FetchSpy {
  /** Pass as a client's `fetch` option. */
  fetch: typeof fetch;
  calls: SpiedCall[];
  /** The calls that reached the server. */
  sent(): SpiedCall[];
  /** Makes the next `count` calls fail as fetch does when no connection can be made (a TypeError), without sending them. */
  failNext(count: number): void;
}

/** A fetch that records every call (and can fail some, like a network outage) before handing it to the real one. */
export function fetchSpy(options: { failFirst?: number } = {}): FetchSpy {
  let failures = options.failFirst ?? 0;
  const calls: SpiedCall[] = [];
  const spy: typeof fetch = async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const call: SpiedCall = { method: init?.method ?? 'GET', path: `${url.pathname}${url.search}`, headers: new Headers(init?.headers), sent: failures <= 0 };
    calls.push(call);
    if (failures > 0) {
      failures -= 1;
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED (simulated)'), { code: 'ECONNREFUSED' }) });
    }
    const response = await fetch(input, init);
    call.status = response.status;
    return response;
  };
  return {
    fetch: spy,
    calls,
    sent: () => calls.filter((call) => call.sent),
    failNext(count) {
      failures = count;
    },
  };
}

/**
 * Awaits `promise`, which must reject with an instance of `type` whose members
 * include `members` (compared deeply); returns the error.
 */
export async function rejectsWith<E extends Error>(
  promise: PromiseLike<unknown>,
  type: abstract new (...args: never[]) => E,
  members: Record<string, unknown> = {},
): Promise<E> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  if (!(caught instanceof type))
    throw new Error(`expected a ${type.name}, got ${caught === undefined ? 'no error' : `${(caught as Error).name}: ${(caught as Error).message}`}`);
  for (const [name, value] of Object.entries(members)) assert.deepEqual((caught as unknown as Record<string, unknown>)[name], value, `${type.name}.${name}`);
  return caught;
}
