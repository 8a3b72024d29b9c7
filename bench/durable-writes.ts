/**
 * Durable writes against the physical limit (issue 15): kvs's durable
 * `PUT /v1/kv/{key}` and the seed's `POST /put` of fresh keys, against the
 * durable ceiling (bench/durable-ceiling-server.ts: bare node:http that
 * group-commits every body to a file with fdatasync before answering), which
 * is itself shown against the bare node:http ceiling (no durability). One
 * set of interleaved rounds per connection count: batching, and so the
 * ratios, depend on how many writers there are.
 */
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { freePort, pinned, SERVER_CPU, startProcess } from './lib.js';
import { measureInterleaved, row, type Row, type RunSettings, type Target } from './interleave.js';

export interface DurableWriteOptions extends RunSettings {
  /** The repository root (scripts and the built servers are found from it). */
  root: string;
  workDirectory: string;
  /** A kvs server to write to (pinned to the server CPU). */
  kvs: Target;
  /** Connection counts to measure at. */
  connectionCounts: number[];
  /** Told of every process started, to stop it at the end. */
  started(child: ChildProcess): void;
  log(message: string): void;
}

export const DURABLE_CEILING = 'durable ceiling (node:http + fdatasync group commit)';
export const BARE_CEILING = 'node:http ceiling (not durable)';

export async function measureDurableWrites(options: DurableWriteOptions): Promise<Row[]> {
  const responses = await captureResponses(options.kvs.url);
  const bare = await startServer(options, join(options.root, 'dist/bench/ceiling-server.js'), [], responses);
  const durable = await startServer(options, join(options.root, 'dist/bench/durable-ceiling-server.js'), [join(options.workDirectory, 'durable-ceiling.ring')], responses);
  const putFresh = join(options.root, 'bench/wrk/put-fresh.lua');
  const seedPutFresh = join(options.root, 'bench/wrk/seed-put-fresh.lua');
  const rows: Row[] = [];
  for (const connections of options.connectionCounts) {
    const results = await measureInterleaved(
      [
        { name: 'bare', target: bare, script: putFresh, connections },
        { name: 'durable', target: durable, script: putFresh, connections },
        { name: 'put', target: options.kvs, script: putFresh, connections },
        { name: 'seed', target: options.kvs, script: seedPutFresh, connections },
      ],
      options,
    );
    const at = `${connections} connections`;
    rows.push(
      row(`${DURABLE_CEILING}, ${at}`, results, 'durable', 'bare', BARE_CEILING),
      row(`PUT /v1/kv/{key} (durable, fresh keys), ${at}`, results, 'put', 'durable', DURABLE_CEILING),
      row(`POST /put (durable, fresh keys), ${at}`, results, 'seed', 'put', 'PUT /v1/kv/{key} (durable, fresh keys)'),
    );
    for (const line of rows.slice(-3)) options.log(`${line.scenario}: ${Math.round(line.subject.requestsPerSecond)} req/s vs ${Math.round(line.anchor.requestsPerSecond)} (${(line.subject.requestsPerSecond / line.anchor.requestsPerSecond).toFixed(2)}x)`);
  }
  return rows;
}

/** The answer kvs sends to a PUT, for the ceilings to send (status, headers, body size alike). */
async function captureResponses(kvsUrl: string): Promise<Record<string, { status: number; headers: Record<string, string>; body: string }>> {
  const capture = async (method: string, path: string, body: string, contentType: string) => {
    const response = await fetch(`${kvsUrl}${path}`, { method, body, headers: { 'content-type': contentType } });
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (!['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].includes(name)) headers[name] = value;
    });
    return { status: response.status, headers, body: await response.text() };
  };
  return {
    'PUT /v1/kv/': await capture('PUT', '/v1/kv/put/ceiling-sample', 'v'.repeat(100), 'application/octet-stream'),
  };
}

/** Starts a ceiling on the server CPU: `script PORT ...args RESPONSES`. */
async function startServer(options: DurableWriteOptions, script: string, args: string[], responses: unknown): Promise<Target> {
  const port = await freePort();
  const child = startProcess(pinned(SERVER_CPU, [process.execPath, script, String(port), ...args, JSON.stringify(responses)]));
  options.started(child);
  const url = `http://127.0.0.1:${port}`;
  // The durable ceiling fills its ring file first.
  for (let attempt = 0; ; attempt++) {
    try {
      await fetch(`${url}/ready`);
      break;
    } catch (error) {
      if (attempt > 600) throw new Error(`${script} did not start: ${String(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { url, pid: child.pid! };
}
