import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after } from 'node:test';
import { join } from 'node:path';
import { pino } from 'pino';
import { DEFAULT_LIMITS, type Limits } from '../../src/core/limits.js';
import { LmdbEngine } from '../../src/engine/lmdb/lmdb-engine.js';
import { buildServer, type BuildServerOptions, type KvsServer } from '../../src/http/build-server.js';
import { STORE_FILE_NAME } from '../../src/main.js';
import { httpsFetch } from './https.js';

export interface TestServer extends KvsServer {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  engine: LmdbEngine;
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
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDirectory = options.dataDirectory ?? tempDirectory();
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const engine = new LmdbEngine({
    file: join(dataDirectory, STORE_FILE_NAME),
    historyRetention: limits.historyRetention,
    maxDataBytes: limits.maxDataBytes,
    maxPendingWrites: limits.maxPendingWrites,
    ...(options.now ? { now: options.now } : {}),
    ...(options.maintenanceIntervalMs ? { maintenanceIntervalMs: options.maintenanceIntervalMs } : {}),
  });
  await engine.open();
  const server = await buildServer({
    engine,
    limits,
    logger: pino({ level: 'silent' }),
    version: 'test',
    ...(options.now ? { now: options.now } : {}),
    ...(options.access ? { access: options.access } : {}),
    ...(options.clientAddress ? { clientAddress: options.clientAddress } : {}),
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.connectionLimits ? { connectionLimits: options.connectionLimits } : {}),
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
      if (!options.keepData && options.dataDirectory === undefined) rmSync(dataDirectory, { recursive: true, force: true });
    },
  };
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
 * `kvs serve` as a child process (what `npm start` runs), on a free port, for
 * tests that need a real process: restart, kill -9, signals. Resolves once it
 * answers /readyz.
 */
export async function spawnServer(env: Record<string, string>, options: { command?: string[]; httpsCa?: Buffer } = {}): Promise<ServerProcess> {
  const port = await freePort();
  const command = options.command ?? [process.execPath, CLI_PATH, 'serve'];
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
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const url = `${options.httpsCa === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
  const readyStatus = async () => (options.httpsCa === undefined ? (await fetch(`${url}/readyz`)).status : (await httpsFetch(`${url}/readyz`, options.httpsCa)).status);
  const deadline = Date.now() + 15_000;
  let running = true;
  void exited.then(() => (running = false));
  while (Date.now() < deadline) {
    if (!running) throw new Error(`kvs exited before it was ready:\n${output}`);
    try {
      if ((await readyStatus()) === 200) return { url, child, kill, output: () => output, exited };
    } catch {
      // not listening yet
    }
    await sleep(25);
  }
  kill('SIGKILL');
  throw new Error(`kvs did not become ready within 15 s:\n${output}`);
}

export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The data directories and `kvs serve` processes one test file makes: after
 * its tests, every process still running is killed and every directory removed.
 * Call once per file, at its top level.
 */
export function leftoversCleanedAfter(prefix: string): {
  directory(): string;
  spawn(env: Record<string, string>, options?: Parameters<typeof spawnServer>[1]): Promise<ServerProcess>;
} {
  const directories: string[] = [];
  const processes = new Set<ServerProcess>();
  after(() => {
    for (const server of processes) server.kill('SIGKILL');
    for (const directory of directories) rmSync(directory, { recursive: true, force: true });
  });
  return {
    directory() {
      const made = tempDirectory(prefix);
      directories.push(made);
      return made;
    },
    async spawn(env, options) {
      const server = await spawnServer(env, options);
      processes.add(server);
      // Forget it once it has exited: its process group id may be reused.
      void server.exited.then(() => processes.delete(server));
      return server;
    },
  };
}
