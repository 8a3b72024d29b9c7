import { join } from 'node:path';
import { median, stopProcess } from '../lib.js';
import { compareServers, type Row } from '../measure.js';
import { preload, rssMb, startKvs } from '../servers.js';
import { LARGE_KEYS, SMALL_KEYS, WRK } from '../settings.js';

export interface LargeStoreResult {
  /** GET of LARGE_KEYS keys against GET of SMALL_KEYS keys. */
  million: Row;
  /** The import of LARGE_KEYS keys. */
  loadMs: number;
  /** Resident memory of the server holding them, after the GET runs. */
  largeStoreRss: number;
  /** Spawn to the first 200 from /readyz with LARGE_KEYS keys, median of 3. */
  startupMs: number;
}

/**
 * A large store (LARGE_KEYS keys, a million by default) against a small one:
 * reads, start-up time and memory.
 */
export async function measureLargeStore(): Promise<LargeStoreResult> {
  // The large-store comparison runs on freshly started servers, as a store runs
  // in steady state, not in the heap a bulk import leaves behind.
  const loading = await startKvs('large');
  const loadMs = await preload(loading.url, LARGE_KEYS);
  await stopProcess(loading.child);
  const emptyish = await startKvs('small-only');
  await preload(emptyish.url, SMALL_KEYS);
  const startups: number[] = [];
  let large = await startKvs('large', false);
  for (let i = 0; i < 2; i++) {
    startups.push(large.readyMs);
    await stopProcess(large.child);
    large = await startKvs('large', false);
  }
  startups.push(large.readyMs);
  const getLarge = { script: join(WRK, 'get-key.lua'), env: { KEYS: String(LARGE_KEYS) } };
  const getSmall = { script: join(WRK, 'get-key.lua'), env: { KEYS: String(SMALL_KEYS) } };
  const million = await compareServers(`GET /v1/kv/{key}, ${LARGE_KEYS.toLocaleString('en')} keys vs ${SMALL_KEYS}`, large, getLarge, emptyish, getSmall);
  const largeStoreRss = rssMb(large.pid);
  return { million, loadMs, largeStoreRss, startupMs: median(startups) };
}
