import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before } from 'node:test';
import { join } from 'node:path';
import { pino } from 'pino';
import { DEFAULT_ETCD_LIMITS, DEFAULT_LIMITS, type Limits } from '../../src/core/limits.js';
import { LmdbEngine } from '../../src/engine/lmdb/lmdb-engine.js';
import { ReplicaStore } from '../../src/engine/lmdb/replica-store.js';
import { buildServer, type BuildServerOptions, type KvsServer } from '../../src/http/build-server.js';
import { WriteMetrics } from '../../src/http/metrics/write-metrics.js';
import { ETCD_REPLICA_DIRECTORY, servedEngine, STORE_FILE_NAME } from '../../src/main.js';
import { httpsFetch } from './https.js';
import { EtcdCluster, sharedEtcdCluster } from './etcd-cluster.js';

/** Private etcd clusters of test servers, by data directory: stopped when the server closes. */
const stopWithServer = new Map<string, EtcdCluster>();
import { freePort, sleep } from './ports.js';
import type { StorageEngine } from '../../src/engine/engine.js';
import { EtcdEngine } from '../../src/engine/etcd/etcd-engine.js';
import { etcdLimits } from '../../src/engine/etcd/etcd-limits.js';

export { freePort, sleep };

/**
 * The engine the suite runs against: `lmdb` (default) or `etcd` (KV_TEST_ENGINE=etcd,
 * the conformance run of `npm test`, on a 3-member cluster per test file).
 */
export const TEST_ENGINE: 'lmdb' | 'etcd' = process.env['KV_TEST_ENGINE'] === 'etcd' ? 'etcd' : 'lmdb';

/** A reason to skip a test that only applies to the embedded engine (null when running on it). */
export function onlyOnLmdb(reason: string): string | false {
  return TEST_ENGINE === 'lmdb' ? false : `embedded engine only: ${reason}`;
}

export interface TestServer extends KvsServer {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  engine: StorageEngine;
  dataDirectory: string;
  close(): Promise<void>;
}

export function tempDirectory(prefix = 'kvs-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * A kvs server in this process on a free loopback port, with its own data
 * directory (removed on close unless `keepData`).
 */
export interface TestServerOptions {
  limits?: Partial<Limits>;
  dataDirectory?: string;
  keepData?: boolean;
  now?: () => number;
  maintenanceIntervalMs?: number;
  /** Tokens, protected mode, rate limit (default: none, on, off). */
  access?: BuildServerOptions['access'];
  /** Where requests come from, instead of the socket's peer (the protected-mode test seam). */
  clientAddress?: BuildServerOptions['clientAddress'];
  /** Serve HTTPS; `url` is then https://. */
  tls?: BuildServerOptions['tls'];
  /** Shorter connection timeouts than the server's defaults. */
  connectionLimits?: BuildServerOptions['connectionLimits'];
  /** false: every request through Fastify, none on the fast paths (their parity test's reference). */
  fastPaths?: boolean;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDirectory = options.dataDirectory ?? tempDirectory();
  let limits = { ...DEFAULT_LIMITS, ...options.limits };
  // What the engine reports of its commits and sweeps, rendered by the server's /metrics (as main.ts wires it).
  const writeMetrics = new WriteMetrics();
  let engine: StorageEngine;
  if (TEST_ENGINE === 'etcd') {
    // The data directory names the store's etcd namespace, so a restart on the same directory finds the same data.
    const namespace = `${dataDirectory}/`;
    limits = etcdLimits(limits, DEFAULT_ETCD_LIMITS, Buffer.byteLength(namespace), {
      valueBytesMax: options.limits?.valueBytesMax !== undefined,
      txnOpsMax: false,
    });
    // Compaction is cluster-wide in etcd: a store that keeps a short history gets a cluster of its own,
    // so that it does not take history away from the file's other tests.
    const privateCluster = options.limits?.historyRetentionRevisions === undefined ? null : await EtcdCluster.start();
    if (privateCluster !== null) stopWithServer.set(dataDirectory, privateCluster);
    engine = new EtcdEngine({
      endpoints: (privateCluster ?? (await sharedEtcdCluster())).endpoints,
      namespace,
      historyRetentionRevisions: limits.historyRetentionRevisions,
      pendingWritesMax: limits.pendingWritesMax,
      observer: writeMetrics,
      replica: { directory: join(dataDirectory, ETCD_REPLICA_DIRECTORY), open: (directory) => ReplicaStore.open(directory) },
      ...(options.now ? { now: options.now } : {}),
      ...(options.maintenanceIntervalMs ? { maintenanceIntervalMs: options.maintenanceIntervalMs } : {}),
    });
  } else {
    engine = new LmdbEngine({
      file: join(dataDirectory, STORE_FILE_NAME),
      historyRetentionRevisions: limits.historyRetentionRevisions,
      dataBytesMax: limits.dataBytesMax,
      pendingWritesMax: limits.pendingWritesMax,
      observer: writeMetrics,
      ...(options.now ? { now: options.now } : {}),
      ...(options.maintenanceIntervalMs ? { maintenanceIntervalMs: options.maintenanceIntervalMs } : {}),
    });
  }
  await engine.open();
  const server = await buildServer({
    ...servedEngine(engine),
    limits,
    logger: pino({ level: 'silent' }),
    version: 'test',
    writeMetrics,
    ...(options.now ? { now: options.now } : {}),
    ...(options.access ? { access: options.access } : {}),
    ...(options.clientAddress ? { clientAddress: options.clientAddress } : {}),
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.connectionLimits ? { connectionLimits: options.connectionLimits } : {}),
    ...(options.fastPaths === false ? { fastPaths: false } : {}),
  });
  const url = await server.listen('127.0.0.1', 0);
  return {
    ...server,
    url,
    engine,
    dataDirectory,
    async close() {
      await server.app.close();
      await engine.close();
      await stopWithServer.get(dataDirectory)?.stop();
      stopWithServer.delete(dataDirectory);
      if (!options.keepData && options.dataDirectory === undefined) rmSync(dataDirectory, { recursive: true, force: true });
    },
  };
}

/**
 * A test server for the tests of the enclosing describe (or of the whole file,
 * when called at its top level): a `before` hook starts it, an `after` hook
 * closes it. Instead of
 *
 *     let server: TestServer;
 *     before(async () => {
 *       server = await startTestServer(options);
 *       await seed(server.url);
 *     });
 *     after(() => server.close());
 *
 * write
 *
 *     const server = useTestServer(options, async () => {
 *       await seed(server.url);
 *     });
 *
 * and use `server.url`, `server.engine`, ... in tests as before: the object
 * returned reads every property through to the server once its hook has
 * started it (reading one earlier throws; after the `after` hook, it is the
 * closed server). `options` may be a function, called by the hook, for options
 * made at that time (tokens in a temporary file). `setup` runs in the same
 * hook once the server is up: put there whatever needs the server before the
 * tests (seeding, reading its URL). Not in a `before` of your own: at a file's
 * top level, node:test starts each `before` hook as soon as it is registered,
 * so such a hook would run alongside this one, not after it.
 */
export function useTestServer(
  options: TestServerOptions | (() => TestServerOptions | Promise<TestServerOptions>) = {},
  setup?: (server: TestServer) => unknown,
): TestServer {
  let current: TestServer | undefined;
  before(async () => {
    current = await startTestServer(typeof options === 'function' ? await options() : options);
    await setup?.(current);
  });
  after(() => current?.close());
  const started = (property: PropertyKey): TestServer => {
    if (current === undefined) throw new Error(`useTestServer: server.${String(property)} was read before its before hook started the server`);
    return current;
  };
  return new Proxy({} as TestServer, {
    get(_, property) {
      // Asked by await and by inspection: a server that is not running yet is not a thenable either.
      if (current === undefined && (property === 'then' || typeof property === 'symbol')) return undefined;
      const server = started(property);
      const value: unknown = Reflect.get(server, property);
      return typeof value === 'function' ? value.bind(server) : value;
    },
    has: (_, property) => Reflect.has(started(property), property),
    ownKeys: () => Reflect.ownKeys(started('keys')),
    getOwnPropertyDescriptor(_, property) {
      const descriptor = Reflect.getOwnPropertyDescriptor(started(property), property);
      return descriptor === undefined ? undefined : { ...descriptor, configurable: true };
    },
  });
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** Signals the server and everything it started (a wrapper such as strace included). */
  kill(signal: NodeJS.Signals): void;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export const CLI_PATH = new URL('../../src/cli/index.js', import.meta.url).pathname;

/**
 * `kvs serve` as a child process (what `npm start` runs), on a free port (or
 * `port`, for a test that restarts it on the same one), for tests that need a
 * real process: restart, kill -9, signals. Resolves once it answers /readyz.
 */
export async function spawnServer(
  env: Record<string, string>,
  options: { command?: string[]; httpsCa?: Buffer; port?: number; readyWithinMs?: number } = {},
): Promise<ServerProcess> {
  const port = options.port ?? (await freePort());
  const command = options.command ?? [process.execPath, CLI_PATH, 'serve'];
  if (TEST_ENGINE === 'etcd' && env['KV_ENGINE'] === undefined) {
    // Same as startTestServer: the data directory names the etcd namespace.
    const namespace = `${env['DATA_DIRECTORY'] ?? tempDirectory()}/`;
    env = { KV_ENGINE: 'etcd', ETCD_ENDPOINTS: (await sharedEtcdCluster()).endpoints.join(','), KV_ETCD_PREFIX: namespace, ...env };
  }
  const child = spawn(command[0]!, command.slice(1), {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that kill() reaches a server started through a wrapper (strace).
    detached: true,
  });
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  const server = { url: `${options.httpsCa === undefined ? 'http' : 'https'}://127.0.0.1:${port}`, child, kill, ...collectOutput(child) };
  await untilReady(server, options.httpsCa, options.readyWithinMs);
  return server;
}

/** What a child process writes to stdout and stderr, as it comes, and its end. */
export function collectOutput(child: ChildProcess): Pick<ServerProcess, 'output' | 'exited'> {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { output: () => output, exited };
}

/**
 * Polls the server's /readyz every 25 ms until it answers 200 (through `httpsCa`
 * for an https:// URL); fails at once if the process exits first, and after
 * `readyWithinMs` (15 s unless given), then killing it.
 */
export async function untilReady(server: Omit<ServerProcess, 'child'>, httpsCa?: Buffer, readyWithinMs = 15_000): Promise<void> {
  const readyStatus = async () =>
    httpsCa === undefined ? (await fetch(`${server.url}/readyz`)).status : (await httpsFetch(`${server.url}/readyz`, httpsCa)).status;
  const deadline = Date.now() + readyWithinMs;
  let running = true;
  void server.exited.then(() => (running = false));
  while (Date.now() < deadline) {
    if (!running) throw new Error(`kvs exited before it was ready at ${server.url}:\n${server.output()}`);
    try {
      if ((await readyStatus()) === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(25);
  }
  server.kill('SIGKILL');
  throw new Error(`kvs did not become ready at ${server.url} within ${readyWithinMs / 1000} s:\n${server.output()}`);
}

/**
 * The data directories and `kvs serve` processes one test file (or describe)
 * makes: after its tests, every process still running is killed (and waited
 * for) and every directory removed. Call once per file, at its top level, or
 * once per describe.
 */
export function leftoversCleanedAfter(prefix: string): {
  directory(): string;
  spawn(env: Record<string, string>, options?: Parameters<typeof spawnServer>[1]): Promise<ServerProcess>;
  /** A server started otherwise, to be killed likewise; returns it. */
  track(server: ServerProcess): ServerProcess;
} {
  const directories: string[] = [];
  const processes = new Set<ServerProcess>();
  after(async () => {
    const running = [...processes];
    for (const server of running) server.kill('SIGKILL');
    await Promise.all(running.map((server) => server.exited));
    for (const directory of directories) rmSync(directory, { recursive: true, force: true });
  });
  const track = (server: ServerProcess) => {
    processes.add(server);
    // Forget it once it has exited: its process group id may be reused.
    void server.exited.then(() => processes.delete(server));
    return server;
  };
  return {
    directory() {
      const made = tempDirectory(prefix);
      directories.push(made);
      return made;
    },
    async spawn(env, options) {
      return track(await spawnServer(env, options));
    },
    track,
  };
}
