import { join } from 'node:path';
import { stopProcess } from '../lib.js';
import { fmt, ratio } from '../format.js';
import { measureInterleaved, row } from '../interleave.js';
import type { Row } from '../measure.js';
import { preload, startKvs } from '../servers.js';
import { CONNECTIONS, log, ROUNDS, SECONDS, SMALL_KEYS, WARMUP_SECONDS, WRK } from '../settings.js';

export const PLAIN_READ = 'GET /v1/kv/{key}';

/**
 * The read paths against the plain read (issue 15): the seed's `GET /get`,
 * and GETs of keys that do not exist (the 404s of `/v1/kv` and `/get`),
 * against `GET /v1/kv/{key}` of an existing key, on one kvs server holding
 * SMALL_KEYS keys, in interleaved rounds. All four are answered before
 * Fastify (src/http/fast-paths.ts). The 404s are checked to be 404s and not
 * counted as errors.
 */
export async function measureReadPaths(): Promise<Row[]> {
  // Loaded, then restarted, as the ceiling scenario's server.
  const loading = await startKvs('read-paths');
  await preload(loading.url, SMALL_KEYS);
  await stopProcess(loading.child);
  const kvs = await startKvs('read-paths', false);
  const script = join(WRK, 'get-key.lua');
  const keys = String(SMALL_KEYS);
  const results = await measureInterleaved(
    [
      { name: 'plain', target: kvs, script, env: { KEYS: keys } },
      { name: 'seed', target: kvs, script, env: { KEYS: keys, PATH_PREFIX: '/get?key=bench/k' } },
      { name: 'missing', target: kvs, script, env: { KEYS: keys, PATH_PREFIX: '/v1/kv/bench/missing' }, expectedStatus: 404 },
      { name: 'seed missing', target: kvs, script, env: { KEYS: keys, PATH_PREFIX: '/get?key=bench/missing' }, expectedStatus: 404 },
    ],
    { seconds: SECONDS, rounds: ROUNDS, connections: CONNECTIONS, warmupSeconds: WARMUP_SECONDS },
  );
  const rows = [
    row('GET /get?key=', results, 'seed', 'plain', PLAIN_READ),
    row('GET /v1/kv/{key}, missing keys (404)', results, 'missing', 'plain', PLAIN_READ),
    row('GET /get?key=, missing keys (404)', results, 'seed missing', 'plain', PLAIN_READ),
  ];
  for (const line of rows) log(`${line.scenario}: ${fmt(line.subject.requestsPerSecond)} req/s vs ${fmt(line.anchor.requestsPerSecond)} (${ratio(line)})`);
  return rows;
}
