import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, pinned, SERVER_CPU, startProcess } from '../lib.js';
import { fmt, ratio } from '../format.js';
import { measureInterleaved, row, type Target } from '../interleave.js';
import type { Row } from '../measure.js';
import { startKvs, track } from '../servers.js';
import { CEILING, CONNECTIONS, DURABLE_CEILING, log, ROUNDS, SECONDS, VALUE, WARMUP_SECONDS, workDirectory, WRK } from '../settings.js';

export const DURABLE_CEILING_NAME = 'durable ceiling (node:http + fdatasync group commit)';
export const BARE_CEILING_NAME = 'node:http ceiling (not durable)';
const PUT_NAME = 'PUT /v1/kv/{key} (durable, fresh keys)';

/**
 * Durable writes against the physical limit (issue 15): kvs's durable
 * `PUT /v1/kv/{key}` and the seed's `POST /put` of fresh keys, against the
 * durable ceiling (durable-ceiling-server.ts: bare node:http that
 * group-commits every body to a file with fdatasync before answering), which
 * is itself shown against the bare node:http ceiling (no durability). One set
 * of interleaved rounds per connection count (32, as issue 15's study, and the
 * run's): batching, and so the ratios, depend on how many writers there are.
 */
export async function measureDurableWrites(): Promise<Row[]> {
  const kvs = await startKvs('durable-writes');
  const responses = { 'PUT /v1/kv/': await capture(kvs.url) };
  const bare = await startCeiling(CEILING, [], responses);
  const durable = await startCeiling(DURABLE_CEILING, [join(workDirectory, 'durable-ceiling.ring')], responses);
  const putFresh = join(WRK, 'put-fresh.lua');
  const seedPutFresh = join(WRK, 'seed-put-fresh.lua');
  const rows: Row[] = [];
  for (const connections of [...new Set([32, CONNECTIONS])]) {
    const results = await measureInterleaved(
      [
        { name: 'bare', target: bare, script: putFresh, connections },
        { name: 'durable', target: durable, script: putFresh, connections },
        { name: 'put', target: kvs, script: putFresh, connections },
        { name: 'seed', target: kvs, script: seedPutFresh, connections },
      ],
      { seconds: SECONDS, rounds: ROUNDS, connections: CONNECTIONS, warmupSeconds: WARMUP_SECONDS },
    );
    const at = `${connections} connections`;
    const measured = [
      row(`${DURABLE_CEILING_NAME}, ${at}`, results, 'durable', 'bare', BARE_CEILING_NAME),
      row(`${PUT_NAME}, ${at}`, results, 'put', 'durable', DURABLE_CEILING_NAME),
      row(`POST /put (durable, fresh keys), ${at}`, results, 'seed', 'put', PUT_NAME),
    ];
    for (const line of measured)
      log(`${line.scenario}: ${fmt(line.subject.requestsPerSecond)} req/s vs ${fmt(line.anchor.requestsPerSecond)} (${ratio(line)})`);
    rows.push(...measured);
  }
  return rows;
}

/** The answer kvs sends to a PUT, for the ceilings to send (status, headers, body size alike). */
async function capture(kvsUrl: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const response = await fetch(`${kvsUrl}/v1/kv/put/ceiling-sample`, { method: 'PUT', body: VALUE, headers: { 'content-type': 'application/octet-stream' } });
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (!['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].includes(name)) headers[name] = value;
  });
  return { status: response.status, headers, body: await response.text() };
}

/** Starts a ceiling on the server CPU: `script PORT ...args RESPONSES`. */
async function startCeiling(script: string, args: string[], responses: unknown): Promise<Target> {
  const port = await freePort();
  const child: ChildProcess = track(startProcess(pinned(SERVER_CPU, [process.execPath, script, String(port), ...args, JSON.stringify(responses)])));
  const url = `http://127.0.0.1:${port}`;
  // The durable ceiling fills its ring file first.
  for (let attempt = 0; ; attempt++) {
    try {
      await fetch(`${url}/ready`);
      break;
    } catch (error) {
      if (attempt > 600) throw new Error(`${script} did not start: ${String(error)}`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { url, pid: child.pid! };
}
