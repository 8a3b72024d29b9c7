/**
 * The read paths against the plain read (issue 15): the seed's `GET /get`,
 * and GETs of keys that do not exist (the 404s of `/v1/kv` and `/get`),
 * against `GET /v1/kv/{key}` of an existing key, on the same kvs server in
 * interleaved rounds. All four are answered before Fastify (fast-paths.ts).
 */
import { join } from 'node:path';
import { measureInterleaved, row, type Row, type RunSettings, type Target } from './interleave.js';

export interface ReadPathOptions extends RunSettings {
  root: string;
  /** A kvs server holding the keys bench/k0 .. bench/k<keys - 1>. */
  kvs: Target;
  keys: number;
  log(message: string): void;
}

export const PLAIN_READ = 'GET /v1/kv/{key}';

export async function measureReadPaths(options: ReadPathOptions): Promise<Row[]> {
  const script = join(options.root, 'bench/wrk/get-key.lua');
  const keys = String(options.keys);
  const results = await measureInterleaved(
    [
      { name: 'plain', target: options.kvs, script, env: { KEYS: keys } },
      { name: 'seed', target: options.kvs, script, env: { KEYS: keys, PATH_PREFIX: '/get?key=bench/k' } },
      { name: 'missing', target: options.kvs, script, env: { KEYS: keys, PATH_PREFIX: '/v1/kv/bench/missing' }, expectedStatus: 404 },
      { name: 'seed missing', target: options.kvs, script, env: { KEYS: keys, PATH_PREFIX: '/get?key=bench/missing' }, expectedStatus: 404 },
    ],
    options,
  );
  const rows = [
    row('GET /get?key=', results, 'seed', 'plain', PLAIN_READ),
    row('GET /v1/kv/{key}, missing keys (404)', results, 'missing', 'plain', PLAIN_READ),
    row('GET /get?key=, missing keys (404)', results, 'seed missing', 'plain', PLAIN_READ),
  ];
  for (const line of rows) options.log(`${line.scenario}: ${Math.round(line.subject.requestsPerSecond)} req/s vs ${Math.round(line.anchor.requestsPerSecond)} (${(line.subject.requestsPerSecond / line.anchor.requestsPerSecond).toFixed(2)}x)`);
  return rows;
}
