import { join } from 'node:path';
import { freePort, pinned, SERVER_CPU, startProcess, stopProcess, waitFor } from '../lib.js';
import { compare, type Row } from '../measure.js';
import { preload, startKvs, track, type Server } from '../servers.js';
import { CEILING, SMALL_KEYS, VALUE, WRK } from '../settings.js';

/**
 * kvs against the ceiling, a bare node:http server answering with the very
 * responses kvs sends (ceiling-server.ts): GET /v1/kv/{key}, the seed's
 * GET /get?key= and a durable PUT of fresh keys, on a store of SMALL_KEYS keys.
 * Both servers keep running to the end of the run (the Redis row is measured
 * alongside them, as it always was).
 */
export async function measureAgainstCeiling(): Promise<Row[]> {
  // Loaded, then restarted: every server is measured in steady state, not in the heap an import leaves.
  const loading = await startKvs('small');
  await preload(loading.url, SMALL_KEYS);
  await stopProcess(loading.child);
  const small = await startKvs('small', false);
  const ceiling = await startCeiling(small);

  const getKv = { script: join(WRK, 'get-key.lua'), env: { KEYS: String(SMALL_KEYS) } };
  const getSeed = { script: join(WRK, 'get-key.lua'), env: { KEYS: String(SMALL_KEYS), PATH_PREFIX: '/get?key=bench/k' } };
  const putFresh = { script: join(WRK, 'put-fresh.lua'), env: {} };
  return [
    await compare('GET /v1/kv/{key}', 'node:http ceiling', ceiling, small, getKv),
    await compare('GET /get?key=', 'node:http ceiling', ceiling, small, getSeed),
    await compare('PUT /v1/kv/{key} (durable, fresh keys)', 'node:http ceiling', ceiling, small, putFresh),
  ];
}

/** Starts the ceiling with the responses kvs actually sends for each scenario, captured from `kvs`. */
async function startCeiling(kvs: Server): Promise<Server> {
  const kvsUrl = kvs.url;
  const capture = async (method: string, path: string, body?: string) => {
    const response = await fetch(`${kvsUrl}${path}`, {
      method,
      ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/octet-stream' } }),
    });
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (!['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].includes(name)) headers[name] = value;
    });
    return { status: response.status, headers, body: await response.text() };
  };
  const responses = {
    'GET /v1/kv/': await capture('GET', '/v1/kv/bench/k1'),
    'GET /get': await capture('GET', '/get?key=bench/k1'),
    'PUT /v1/kv/': await capture('PUT', '/v1/kv/put/ceiling-sample', VALUE),
  };
  const port = await freePort();
  const child = track(startProcess(pinned(SERVER_CPU, [process.execPath, CEILING, String(port), JSON.stringify(responses)])));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/v1/kv/bench/k1`);
  return { url, pid: child.pid! };
}
