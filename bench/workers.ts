/**
 * `node dist/bench/workers.js`: would `kvs serve --workers N` pay on this
 * machine? (docs/adr/0012-beyond-one-core.md). A prototype, measured, not a
 * feature: node:cluster workers sharing one port, in two shapes.
 *
 * - Reads: each worker opens the store read-only (LMDB lets processes read
 *   one environment without locks) and answers GET /v1/kv/{key} as kvs's
 *   fast path does (same lookup, same headers and body).
 * - Durable writes: the primary owns the embedded engine (group commit, the
 *   only writer); each worker answers PUT /v1/kv/{key} and hands the write
 *   to the primary over the cluster's IPC channel, then answers with the
 *   result, as kvs's fast path does.
 *
 * Each shape runs with 1 and 2 workers, against kvs itself (one process),
 * in interleaved rounds. The machine has 2 cores, and wrk needs one: "pinned"
 * runs put the servers on CPU 0 and wrk on CPU 1 (the bench's setting); the
 * 2-worker runs cannot, so every subject is also run unpinned (servers and
 * wrk share both cores), which is the fair comparison. CPU per request counts
 * every server process (primary and workers).
 *
 * Options: --seconds N (default 2), --rounds N (default 5), --connections N (default 64).
 */
import cluster, { type Worker } from 'node:cluster';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { keyBytes } from '../src/core/keys.js';
import type { TxnResult } from '../src/engine/engine.js';
import { LmdbEngine } from '../src/engine/lmdb/lmdb-engine.js';
import { decodeRecordCopy } from '../src/engine/lmdb/record-codec.js';
import { databasesOf, getBinaryFast, META_REVISION, openEnvironmentReadOnly, readMetaNumber } from '../src/engine/lmdb/stores.js';
import { etag } from '../src/http/conditions.js';
import { KEY_PATH_PREFIX, keyFromUrl, readHeaderList } from '../src/http/key-path.js';
import { writeResultJson } from '../src/http/presenters.js';
import { STORE_FILE_NAME } from '../src/main.js';
import { cpuSeconds, freePort, has, LOAD_CPU, median, parseWrk, startProcess, stopProcess, waitFor, type LoadResult } from './lib.js';

interface WorkerMessage {
  id: number;
  key: string;
  value: Uint8Array;
  contentType: string;
}

interface PrimaryReply {
  id: number;
  result?: { status: number; body: string; revision: number };
  error?: string;
}

const role = process.env['KVS_WORKERS_ROLE'];
if (role === 'cluster') await runCluster();
else await measure();

/** The prototype: KVS_WORKERS_MODE read|write, KVS_WORKERS count, PORT, STORE. */
async function runCluster(): Promise<void> {
  const mode = process.env['KVS_WORKERS_MODE']!;
  const store = process.env['STORE']!;
  const port = Number(process.env['PORT']);
  if (cluster.isPrimary) {
    cluster.setupPrimary({ serialization: 'advanced' });
    const engine = mode === 'write' ? new LmdbEngine({ file: store, historyRetentionRevisions: 1000 }) : null;
    await engine?.open();
    const workers: Worker[] = [];
    for (let i = 0; i < Number(process.env['KVS_WORKERS']); i++) workers.push(cluster.fork());
    for (const worker of workers) {
      // The primary writes: each worker's PUTs come here, one message each way.
      worker.on('message', (message: WorkerMessage) => {
        engine!
          .txn({
            compares: [],
            ops: [
              {
                op: 'put',
                key: message.key,
                value: Buffer.from(message.value.buffer, message.value.byteOffset, message.value.byteLength),
                contentType: message.contentType,
                ttlMs: null,
              },
            ],
          })
          .then(
            (outcome: TxnResult) => {
              const result = outcome.succeeded ? outcome.results[0] : undefined;
              if (result?.op !== 'put') throw new Error('not a put');
              worker.send({
                id: message.id,
                result: { status: result.created ? 201 : 200, body: JSON.stringify(writeResultJson(result.entry)), revision: result.entry.revision },
              } satisfies PrimaryReply);
            },
            (error: unknown) => worker.send({ id: message.id, error: String(error) } satisfies PrimaryReply),
          );
      });
    }
    process.on('SIGTERM', () => {
      for (const worker of workers) worker.kill();
      void engine?.close().then(() => process.exit(0));
      if (engine === null) process.exit(0);
    });
    return;
  }
  const handler = mode === 'read' ? readHandler(store) : writeHandler();
  createServer(handler).listen(port, '127.0.0.1');
}

/** GET /v1/kv/{key} from a read-only view of the store, with kvs's fast path's headers and body. */
function readHandler(store: string): (request: IncomingMessage, response: ServerResponse) => void {
  const stores = databasesOf(openEnvironmentReadOnly(store));
  return (request, response) => {
    const url = request.url ?? '';
    if (request.method !== 'GET' || !url.startsWith(KEY_PATH_PREFIX)) return void response.writeHead(404).end();
    const key = keyFromUrl(url, 1024);
    const record = getBinaryFast(stores.kv, keyBytes(key), undefined);
    if (record === undefined) return void response.writeHead(404).end();
    const entry = decodeRecordCopy(key, record);
    response.writeHead(200, readHeaderList(entry, readMetaNumber(stores, META_REVISION)));
    response.end(entry.value);
  };
}

/** PUT /v1/kv/{key}: the body to the primary, the answer from it. */
function writeHandler(): (request: IncomingMessage, response: ServerResponse) => void {
  const waiting = new Map<number, ServerResponse>();
  let next = 0;
  process.on('message', (reply: PrimaryReply) => {
    const response = waiting.get(reply.id)!;
    waiting.delete(reply.id);
    if (reply.result === undefined) return void response.writeHead(503).end(reply.error);
    const { status, body, revision } = reply.result;
    response.writeHead(status, [
      'etag',
      etag(revision),
      'kv-revision',
      String(revision),
      'content-type',
      'application/json; charset=utf-8',
      'content-length',
      String(Buffer.byteLength(body)),
    ]);
    response.end(body);
  });
  return (request, response) => {
    const url = request.url ?? '';
    if (request.method !== 'PUT' || !url.startsWith(KEY_PATH_PREFIX)) return void response.writeHead(404).end();
    const key = keyFromUrl(url, 1024);
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const id = next++;
      waiting.set(id, response);
      process.send!({
        id,
        key,
        value: Buffer.concat(chunks),
        contentType: request.headers['content-type'] ?? 'application/octet-stream',
      } satisfies WorkerMessage);
    });
  };
}

interface Started {
  url: string;
  pids: () => number[];
  stop: () => Promise<void>;
}

async function measure(): Promise<void> {
  const { values: flags } = parseArgs({
    options: { seconds: { type: 'string', default: '2' }, rounds: { type: 'string', default: '5' }, connections: { type: 'string', default: '64' } },
  });
  if (availableParallelism() < 2 || !has('taskset') || !has('wrk')) throw new Error('needs 2 cores, taskset and wrk');
  const seconds = Number(flags.seconds);
  const rounds = Number(flags.rounds);
  const connections = Number(flags.connections);
  const root = new URL('../..', import.meta.url).pathname;
  const directory = mkdtempSync(join(tmpdir(), 'kvs-workers-'));
  const started: Started[] = [];
  try {
    // A kvs store with 1,000 keys, made and left by kvs itself.
    const seedStore = join(directory, 'reads');
    const kvs = await startKvs(root, seedStore, '0');
    const lines = Array.from(
      { length: 1000 },
      (_, i) => `{"key":"bench/k${i}","value":"${Buffer.from('x'.repeat(100)).toString('base64')}","contentType":"text/plain"}`,
    );
    const imported = await fetch(`${kvs.url}/v1/admin/import`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: lines.join('\n') });
    if (!imported.ok) throw new Error(`import: ${imported.status}`);
    await kvs.stop();

    const rows: string[] = ['| shape | pinning | req/s | p99 ms | CPU µs per request | × one kvs process, same pinning |', '|---|---|---:|---:|---:|---:|'];
    for (const mode of ['read', 'write'] as const) {
      const script = join(root, 'bench/wrk', mode === 'read' ? 'get-key.lua' : 'put-fresh.lua');
      for (const pinning of ['pinned', 'unpinned'] as const) {
        // Pinned: every server process on CPU 0. Unpinned: the scheduler places servers and wrk alike.
        const cpuOf = (_index: number): string | null => (pinning === 'pinned' ? '0' : null);
        const subjects: Array<{ name: string; server: Started }> = [];
        const kvsStore = join(directory, `${mode}-${pinning}-kvs`);
        execFileSync('cp', ['-r', seedStore, kvsStore]);
        subjects.push({ name: 'kvs, one process', server: await startKvs(root, kvsStore, pinning === 'pinned' ? '0' : null) });
        for (const workers of pinning === 'pinned' ? [1] : [1, 2]) {
          const store = join(directory, `${mode}-${pinning}-${workers}`);
          execFileSync('cp', ['-r', seedStore, store]);
          subjects.push({
            name: `${workers} worker${workers === 1 ? '' : 's'}${mode === 'write' ? ' + the writing primary' : ''}`,
            server: await startCluster(root, mode, workers, join(store, STORE_FILE_NAME), cpuOf),
          });
        }
        started.push(...subjects.map((subject) => subject.server));
        const results = new Map<string, LoadResult[]>(subjects.map((subject) => [subject.name, []]));
        const load = async (server: Started, time: number) => runWrk(server, { script, seconds: time, connections, pinned: pinning === 'pinned' });
        for (const subject of subjects) await load(subject.server, 2);
        for (let round = 0; round < rounds; round++) for (const subject of subjects) results.get(subject.name)!.push(await load(subject.server, seconds));
        const one = summary(results.get('kvs, one process')!);
        for (const subject of subjects) {
          const result = summary(results.get(subject.name)!);
          rows.push(
            `| ${mode === 'read' ? 'GET /v1/kv/{key}' : 'durable PUT /v1/kv/{key}, fresh keys'}: ${subject.name} | ${pinning === 'pinned' ? 'servers CPU 0, wrk CPU 1' : 'servers and wrk on both cores'} | ${Math.round(result.requestsPerSecond).toLocaleString('en')} | ${result.p99Ms.toFixed(2)} | ${result.cpuUsPerRequest.toFixed(1)} | ${(result.requestsPerSecond / one.requestsPerSecond).toFixed(2)}x |`,
          );
        }
        for (const subject of subjects) await subject.server.stop();
        started.length = 0;
      }
    }
    process.stdout.write(`${rows.join('\n')}\n- ${process.version}, ${seconds} s x ${rounds} interleaved rounds, ${connections} connections, wrk -t1\n`);
  } finally {
    for (const server of started) await server.stop();
    rmSync(directory, { recursive: true, force: true });
  }
}

/** wrk against `server`, on the load CPU when `pinned`, else anywhere; CPU per request counts every server process. */
function runWrk(server: Started, options: { script: string; seconds: number; connections: number; pinned: boolean }): LoadResult {
  const pids = server.pids();
  const cpuBefore = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const wrk = ['wrk', '-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--latency', '-s', options.script, server.url];
  const command = options.pinned ? ['taskset', '-c', LOAD_CPU, ...wrk] : wrk;
  const output = execFileSync(command[0]!, command.slice(1), {
    encoding: 'utf8',
    env: { ...process.env, RUN_ID: `${Date.now()}${Math.random()}`, KEYS: '1000' },
  });
  const cpuUsed = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - cpuBefore;
  const { requests, ...result } = parseWrk(output);
  return { ...result, cpuUsPerRequest: (cpuUsed * 1e6) / requests };
}

function summary(results: LoadResult[]): LoadResult {
  return {
    requestsPerSecond: median(results.map((result) => result.requestsPerSecond)),
    p99Ms: median(results.map((result) => result.p99Ms)),
    errors: results.reduce((sum, result) => sum + result.errors, 0),
    cpuUsPerRequest: median(results.map((result) => result.cpuUsPerRequest)),
  };
}

async function startKvs(root: string, dataDirectory: string, cpu: string | null): Promise<Started> {
  const port = await freePort();
  const command = [process.execPath, join(root, 'dist/src/cli/index.js'), 'serve'];
  const child = startProcess(cpu === null ? command : ['taskset', '-c', cpu, ...command], {
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIRECTORY: dataDirectory,
    LOG_LEVEL: 'warn',
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/readyz`);
  return { url, pids: () => [child.pid!], stop: () => stopProcess(child) };
}

async function startCluster(root: string, mode: 'read' | 'write', workers: number, store: string, cpuOf: (index: number) => string | null): Promise<Started> {
  const port = await freePort();
  const command = [process.execPath, join(root, 'dist/bench/workers.js')];
  const cpu = cpuOf(0);
  const child = startProcess(cpu === null ? command : ['taskset', '-c', cpu, ...command], {
    KVS_WORKERS_ROLE: 'cluster',
    KVS_WORKERS_MODE: mode,
    KVS_WORKERS: String(workers),
    PORT: String(port),
    STORE: store,
  });
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    try {
      await fetch(`${url}/ready`);
      break;
    } catch (error) {
      if (attempt > 400) throw new Error(`the cluster did not start: ${String(error)}`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  // Forked workers inherit the primary's CPU affinity.
  const pids = () => [child.pid!, ...childPidsOf(child.pid!)];
  return { url, pids, stop: () => stopProcess(child) };
}

function childPidsOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}
