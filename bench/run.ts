/**
 * `npm run bench`: kvs against a bare node:http ceiling and Redis with
 * appendfsync always, on this machine, in the same run. Servers run on CPU 0
 * and the load generator on CPU 1 (when there are two cores), and every
 * scenario is measured in interleaved rounds, so noise from a shared machine
 * hits ceiling and subject alike; figures are medians and ratios.
 *
 * The etcd engine is measured against etcd itself (bench/etcd.ts): a 3-member
 * cluster (real etcd processes), GET and PUT through one kvs node and through
 * two kvs nodes, each against etcd's JSON gateway asked for the same read or
 * write directly, on loopback and on simulated hosts (0.5 ms links). Skipped,
 * with a line saying so, when etcd is not installed.
 *
 * Options: --seconds N (per measurement, default 2), --rounds N (default 10),
 * --connections N (default 64), --keys N (large store, default 1000000),
 * --quick (1 s, 1 round, 20000 keys: a smoke run), --watch-only (the watch
 * fan-out alone), --etcd-only (the etcd scenarios alone).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { measureEtcd as measureEtcdScenarios, type EtcdResult } from './etcd.js';
import { measureNpmStart } from './npm-start.js';
import { canPin, cpuSeconds, freePort, has, LOAD_CPU, median, pinned, runWrk, SERVER_CPU, startProcess, stopProcess, waitFor, type LoadResult } from './lib.js';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    keys: { type: 'string', default: '1000000' },
    quick: { type: 'boolean', default: false },
    'watch-only': { type: 'boolean', default: false },
    'etcd-only': { type: 'boolean', default: false },
  },
});
const quick = flags.quick === true;
const SECONDS = quick ? 1 : Number(flags.seconds);
const ROUNDS = quick ? 1 : Number(flags.rounds);
const CONNECTIONS = Number(flags.connections);
const LARGE_KEYS = quick ? 20_000 : Number(flags.keys);
const SMALL_KEYS = 1000;
const WATCHERS = 5000;
const WARMUP_SECONDS = quick ? 1 : 2;
const VALUE = 'x'.repeat(100);

// This file runs as dist/bench/run.js: the repository is two levels up.
const root = new URL('../..', import.meta.url).pathname;
const CLI = join(root, 'dist/src/cli/index.js');
const CEILING = join(root, 'dist/bench/ceiling-server.js');
const WRK = join(root, 'bench/wrk');
const workDirectory = mkdtempSync(join(tmpdir(), 'kvs-bench-'));
const children: Array<ReturnType<typeof startProcess>> = [];

interface Row {
  scenario: string;
  subject: LoadResult;
  anchor: LoadResult;
  anchorName: string;
}

async function main(): Promise<void> {
  if (!has('wrk')) throw new Error('wrk is not installed (apt-get install -y wrk); it is the load generator');
  log(`node ${process.version}; pinning ${canPin ? `servers to CPU ${SERVER_CPU}, load to CPU ${LOAD_CPU}` : 'unavailable (one core or no taskset)'}; ${SECONDS} s x ${ROUNDS} rounds, ${CONNECTIONS} connections`);
  if (flags['watch-only'] === true) {
    process.stdout.write(`${watchLine(await measureWatch(quick ? 500 : WATCHERS))}\n`);
    return;
  }
  if (flags['etcd-only'] === true) {
    const etcd = await measureEtcd();
    const lines = etcd.rows.length === 0 ? etcd.notes : ['', ...tableHeader(), ...etcd.rows.map(rowLine), '', ...etcd.notes, errorsLine(etcd.rows), settingsLine()];
    process.stdout.write(`${lines.join('\n')}\n`);
    return;
  }

  // Loaded, then restarted: every server is measured in steady state, not in the heap an import leaves.
  await preload((await startKvs('small')).url, SMALL_KEYS);
  await stopProcess(children.at(-1)!);
  const small = await startKvs('small', false);
  const ceiling = await startCeiling(small);

  const rows: Row[] = [];
  const getKv = { script: join(WRK, 'get-key.lua'), env: { KEYS: String(SMALL_KEYS) } };
  const getSeed = { script: join(WRK, 'get-key.lua'), env: { KEYS: String(SMALL_KEYS), PATH_PREFIX: '/get?key=bench/k' } };
  const putFresh = { script: join(WRK, 'put-fresh.lua'), env: {} };
  rows.push(await compare('GET /v1/kv/{key}', 'node:http ceiling', ceiling, small, getKv));
  rows.push(await compare('GET /get?key=', 'node:http ceiling', ceiling, small, getSeed));
  rows.push(await compare('PUT /v1/kv/{key} (durable, fresh keys)', 'node:http ceiling', ceiling, small, putFresh));
  const redis = has('redis-server') && has('redis-benchmark') ? await measureRedis() : null;

  // The large-store comparison runs on freshly started servers, as a store runs
  // in steady state, not in the heap a bulk import leaves behind.
  const loadMs = await preload((await startKvs('large')).url, LARGE_KEYS);
  await stopProcess(children.at(-1)!);
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

  const watch = await measureWatch(quick ? 500 : WATCHERS);

  const etcd = await measureEtcd();
  const npmStartMs = await measureNpmStart(root, workDirectory, quick ? 1 : 3);

  report(rows, redis, million, { loadMs, largeStoreRss, startupMs: median(startups), npmStartMs }, watch, etcd);
}

interface WatchResult {
  watchers: number;
  changes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  bytesPerIdleWatcher: number;
}

/**
 * One change to `watchers` watchers of the same prefix: the watchers run in a
 * client process on the load CPU; latency is from sending the PUT to each
 * watcher's receipt of the change (both processes read the same system clock),
 * so it includes the durable write and the client's own parsing of thousands of
 * streams on one core. Memory per idle watcher is the server's RSS
 * growth while they are open, divided by their number.
 */
async function measureWatch(watchers: number): Promise<WatchResult> {
  const server = await startKvs('watch');
  await fetch(`${server.url}/v1/kv/watched/warmup`, { method: 'PUT', body: 'x' });
  const rssBefore = rssMb(server.pid);
  const command = pinned(LOAD_CPU, [process.execPath, join(root, 'dist/bench/watch-clients.js'), server.url, 'watched/', String(watchers)]);
  const clients = spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(clients);
  const lines = createInterface({ input: clients.stdout! })[Symbol.asyncIterator]();
  const nextLine = async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the watch clients did not answer within 60 s (a watcher dropped?)')), 60_000);
    });
    try {
      const { value, done } = await Promise.race([lines.next(), timeout]);
      if (done) throw new Error('the watch clients exited');
      return value as string;
    } finally {
      clearTimeout(timer);
    }
  };
  const ready = await nextLine();
  if (!ready.startsWith('ready')) throw new Error(`watch clients: ${ready}`);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const rssAfter = rssMb(server.pid);
  const latencies: number[] = [];
  const changes = quick ? 2 : 5;
  // Change -1 warms both sides up (the JIT compiles the delivery path) and is not counted.
  for (let change = -1; change < changes; change++) {
    const sentAt = performance.timeOrigin + performance.now();
    const response = await fetch(`${server.url}/v1/kv/watched/key`, { method: 'PUT', body: String(change) });
    if (!response.ok) throw new Error(`the watched PUT failed: ${response.status} ${await response.text()}`);
    const { revision } = (await response.json()) as { revision: number };
    clients.stdin!.write(`expect ${revision} ${sentAt}\n`);
    const line = await nextLine();
    if (change >= 0) latencies.push(...(JSON.parse(line.slice('latencies '.length)) as number[]));
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  clients.stdin!.end();
  await new Promise((resolve) => clients.once('exit', resolve));
  await stopProcess(server.child);
  const sorted = latencies.sort((a, b) => a - b);
  const result = {
    watchers,
    changes,
    p50Ms: sorted[Math.floor(sorted.length * 0.5)]!,
    p99Ms: sorted[Math.floor(sorted.length * 0.99)]!,
    maxMs: sorted.at(-1)!,
    bytesPerIdleWatcher: ((rssAfter - rssBefore) * 1024 * 1024) / watchers,
  };
  log(`watch: ${watchers} watchers, p99 delivery ${result.p99Ms.toFixed(1)} ms, ${(result.bytesPerIdleWatcher / 1024).toFixed(1)} KiB per idle watcher`);
  return result;
}

async function startKvs(name: string, fresh = true, env: Record<string, string> = {}): Promise<{ url: string; pid: number; child: ReturnType<typeof startProcess>; readyMs: number }> {
  const port = await freePort();
  const dataDirectory = join(workDirectory, name);
  if (fresh) rmSync(dataDirectory, { recursive: true, force: true });
  mkdirSync(dataDirectory, { recursive: true });
  const startedAt = performance.now();
  const child = startProcess(pinned(SERVER_CPU, [process.execPath, CLI, 'serve']), { PORT: String(port), HOST: '127.0.0.1', DATA_DIRECTORY: dataDirectory, LOG_LEVEL: 'warn', ...env });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/readyz`);
  return { url, pid: child.pid!, child, readyMs: performance.now() - startedAt };
}

/** Loads `count` keys bench/k0.. through the import API, 50,000 per request. */
async function preload(url: string, count: number): Promise<number> {
  const startedAt = performance.now();
  const value = Buffer.from(VALUE).toString('base64');
  for (let first = 0; first < count; first += 50_000) {
    const lines: string[] = [];
    for (let i = first; i < Math.min(count, first + 50_000); i++) lines.push(`{"key":"bench/k${i}","value":"${value}","contentType":"text/plain"}`);
    const response = await fetch(`${url}/v1/admin/import`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: lines.join('\n') });
    if (!response.ok) throw new Error(`preload failed: ${response.status} ${await response.text()}`);
  }
  return performance.now() - startedAt;
}

interface Server {
  url: string;
  pid: number;
}

/** Starts the ceiling with the responses kvs actually sends for each scenario, captured from `kvs`. */
async function startCeiling(kvs: Server): Promise<Server> {
  const kvsUrl = kvs.url;
  const capture = async (method: string, path: string, body?: string) => {
    const response = await fetch(`${kvsUrl}${path}`, { method, ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/octet-stream' } }) });
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
  const child = startProcess(pinned(SERVER_CPU, [process.execPath, CEILING, String(port), JSON.stringify(responses)]));
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/v1/kv/bench/k1`);
  return { url, pid: child.pid! };
}

type Load = { script: string; env: Record<string, string> };

async function compare(scenario: string, anchorName: string, anchorServer: Server, subjectServer: Server, load: Load): Promise<Row> {
  const row = await compareServers(scenario, subjectServer, load, anchorServer, load);
  return { ...row, anchorName };
}

/** Interleaved rounds of subject and anchor; medians of each. */
async function compareServers(scenario: string, subjectServer: Server, subjectLoad: Load, anchorServer: Server, anchorLoad: Load): Promise<Row> {
  const subject: LoadResult[] = [];
  const anchor: LoadResult[] = [];
  // Unmeasured warm-up, so the JIT has compiled both servers' hot paths.
  load(anchorServer, anchorLoad, WARMUP_SECONDS);
  load(subjectServer, subjectLoad, WARMUP_SECONDS);
  for (let round = 0; round < ROUNDS; round++) {
    anchor.push(load(anchorServer, anchorLoad));
    subject.push(load(subjectServer, subjectLoad));
  }
  const row = { scenario, subject: summarise(subject), anchor: summarise(anchor), anchorName: '' };
  log(`${scenario}: ${fmt(row.subject.requestsPerSecond)} req/s vs ${fmt(row.anchor.requestsPerSecond)} (${ratio(row)})`);
  return row;
}

function load(server: Server, { script, env }: Load, seconds = SECONDS): LoadResult {
  Object.assign(process.env, { RUN_ID: runId() }, env);
  try {
    return runWrk(server.url, server.pid, { seconds, connections: CONNECTIONS, script });
  } finally {
    for (const name of Object.keys(env)) delete process.env[name];
  }
}

/** Tells apart the fresh keys of each wrk process (put-fresh.lua, etcd-gateway.lua). */
function runId(): string {
  return `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

function summarise(results: LoadResult[]): LoadResult {
  return {
    requestsPerSecond: median(results.map((result) => result.requestsPerSecond)),
    p99Ms: median(results.map((result) => result.p99Ms)),
    errors: results.reduce((sum, result) => sum + result.errors, 0),
    cpuUsPerRequest: median(results.map((result) => result.cpuUsPerRequest)),
  };
}

/** Redis with appendfsync always, SET of fresh keys through redis-benchmark: the durable-write anchor. */
async function measureRedis(): Promise<LoadResult> {
  const port = await freePort();
  const directory = join(workDirectory, 'redis');
  mkdirSync(directory, { recursive: true });
  const server = startProcess(pinned(SERVER_CPU, ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--dir', directory]));
  children.push(server);
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'ignore' });
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const results: LoadResult[] = [];
  const pid = server.pid!;
  for (let round = 0; round <= ROUNDS; round++) {
    const cpuBefore = cpuSeconds(pid);
    const requests = Math.max(20_000, SECONDS * 40_000);
    const args = pinned(LOAD_CPU, ['redis-benchmark', '-p', String(port), '-t', 'set', '-n', String(requests), '-c', String(CONNECTIONS), '-r', '1000000000', '-d', '100', '--csv']);
    const output = execFileSync(args[0]!, args.slice(1), { encoding: 'utf8' });
    const row = output.trim().split('\n').find((line) => line.startsWith('"SET"'));
    if (row === undefined) throw new Error(`could not parse redis-benchmark output:\n${output}`);
    const fields = row.split(',').map((field) => field.replace(/"/g, ''));
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    const cpuUsPerRequest = ((cpuSeconds(pid) - cpuBefore) * 1e6) / requests;
    if (round > 0) results.push({ requestsPerSecond: Number(fields[1]), p99Ms: Number(fields[6]), errors: 0, cpuUsPerRequest }); // round 0 warms up
  }
  await stopProcess(server);
  const result = summarise(results);
  log(`Redis SET (appendfsync always): ${fmt(result.requestsPerSecond)} req/s`);
  return result;
}

/** The etcd section (bench/etcd.ts), with this run's settings and helpers. */
function measureEtcd(): Promise<EtcdResult> {
  return measureEtcdScenarios({
    seconds: SECONDS,
    rounds: ROUNDS,
    connections: CONNECTIONS,
    warmupSeconds: WARMUP_SECONDS,
    quick,
    keys: SMALL_KEYS,
    wrkDirectory: WRK,
    benchDirectory: join(root, 'dist/bench'),
    startKvs: (name, env) => startKvs(name, true, env),
    stopProcess,
    preload,
    runId,
    log,
  });
}

function rssMb(pid: number): number {
  try {
    const status = execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' });
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

function report(rows: Row[], redis: LoadResult | null, million: Row, extra: { loadMs: number; largeStoreRss: number; startupMs: number; npmStartMs: number }, watch: WatchResult, etcd: EtcdResult): void {
  const lines = ['', ...tableHeader(), ...rows.map(rowLine)];
  const put = rows.find((row) => row.scenario.startsWith('PUT'));
  if (redis !== null && put !== undefined) lines.push(tableRow(put.scenario, put.subject, 'Redis SET, appendfsync always', redis));
  lines.push(tableRow(million.scenario, million.subject, `kvs with ${SMALL_KEYS} keys`, million.anchor));
  lines.push(...etcd.rows.map(rowLine));
  lines.push(
    '',
    `- ${LARGE_KEYS.toLocaleString('en')} keys loaded through /v1/admin/import in ${(extra.loadMs / 1000).toFixed(1)} s; resident memory of a server holding them, after the GET runs: ${extra.largeStoreRss.toFixed(0)} MiB (LMDB's mapped pages included)`,
    `- start-up with ${LARGE_KEYS.toLocaleString('en')} keys (spawn to first 200 from /readyz, median of 3): ${extra.startupMs.toFixed(0)} ms`,
    `- \`npm start\` on a built checkout (spawn of npm to first 200 from /healthz, median of ${quick ? 1 : 3}): ${extra.npmStartMs.toFixed(0)} ms`,
    watchLine(watch),
    ...etcd.notes,
    errorsLine([...rows, million, ...etcd.rows]),
    settingsLine(),
  );
  const text = lines.join('\n');
  process.stdout.write(`${text}\n`);
  mkdirSync(join(root, '.bench'), { recursive: true });
  writeFileSync(join(root, '.bench', 'latest.md'), `${text}\n`);
}

function tableHeader(): string[] {
  return [`| scenario | kvs req/s | kvs p99 ms | anchor | anchor req/s | anchor p99 ms | ratio (req/s) | ratio (CPU per request) |`, `|---|---:|---:|---|---:|---:|---:|---:|`];
}

function rowLine(row: Row): string {
  return tableRow(row.scenario, row.subject, row.anchorName, row.anchor);
}

function errorsLine(rows: Row[]): string {
  return `- errors (non-2xx or socket) across all runs: ${rows.reduce((sum, row) => sum + row.subject.errors + row.anchor.errors, 0)}`;
}

function settingsLine(): string {
  return `- ${process.version}, ${SECONDS} s x ${ROUNDS} interleaved rounds, ${CONNECTIONS} connections, wrk -t1${canPin ? `, servers on CPU ${SERVER_CPU}, load on CPU ${LOAD_CPU}` : ''}`;
}

function tableRow(scenario: string, subject: LoadResult, anchorName: string, anchor: LoadResult): string {
  const cpuRatio = anchor.cpuUsPerRequest / subject.cpuUsPerRequest;
  return `| ${scenario} | ${fmt(subject.requestsPerSecond)} | ${subject.p99Ms.toFixed(2)} | ${anchorName} | ${fmt(anchor.requestsPerSecond)} | ${anchor.p99Ms.toFixed(2)} | ${(subject.requestsPerSecond / anchor.requestsPerSecond).toFixed(2)}x | ${cpuRatio.toFixed(2)}x (${subject.cpuUsPerRequest.toFixed(1)} vs ${anchor.cpuUsPerRequest.toFixed(1)} µs) |`;
}

function ratio(row: Row): string {
  return `${(row.subject.requestsPerSecond / row.anchor.requestsPerSecond).toFixed(2)}x`;
}

function fmt(value: number): string {
  return Math.round(value).toLocaleString('en');
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

try {
  await main();
} finally {
  for (const child of children) await stopProcess(child);
  rmSync(workDirectory, { recursive: true, force: true });
}

function watchLine(watch: WatchResult): string {
  return `- watch: one change to ${watch.watchers.toLocaleString('en')} watchers of one prefix (${watch.changes} changes): delivery p50 ${watch.p50Ms.toFixed(1)} ms, p99 ${watch.p99Ms.toFixed(1)} ms, max ${watch.maxMs.toFixed(1)} ms (from sending the PUT); server memory per idle watcher ${(watch.bytesPerIdleWatcher / 1024).toFixed(1)} KiB`;
}
