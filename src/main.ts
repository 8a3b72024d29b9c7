import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { join } from 'node:path';
import { TokenRegistry, TokensFileError } from './auth/tokens.js';
import { pino, type DestinationStream, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import { createRequire } from 'node:module';
import { ConfigError, type Config } from './config.js';
import { SHUTDOWN_TIMEOUT_MS } from './core/limits.js';
import { engineCapabilities, type EngineCapabilities, type StorageEngine } from './engine/engine.js';
import { EtcdEngine } from './engine/etcd/etcd-engine.js';
import { LmdbEngine } from './engine/lmdb/lmdb-engine.js';
import { ReplicaStore } from './engine/lmdb/replica-store.js';
import { STORE_FILE_NAME } from './engine/lmdb/store-file.js';
import { buildServer, type KvsServer } from './http/build-server.js';
import { WriteMetrics } from './http/metrics/write-metrics.js';
import type { WriteObserver } from './core/write-observer.js';
import { importSeedFileOnce, SEED_FILE_NAME } from './seed-import.js';
import { checkDataDirectory } from './engine/lmdb/data-directory.js';
import { VERSION } from './version.js';

/** Where a node on etcd keeps its replica of the store, under DATA_DIRECTORY (docs/adr/0011-replica-reads.md). */
export const ETCD_REPLICA_DIRECTORY = 'etcd-replica';
/** `kvs serve`'s exit code after the disk failed a write or a sync (EIO): distinct from 1 so that an operator's supervisor and logs tell it apart. */
const EXIT_DISK_FAILED = 74; // EX_IOERR in sysexits.h
const DISK_FAILURE_EXIT_DELAY_MS = 250;

// Defined beside the store's other file checks, where `kvs restore` finds it without loading the server.
export { STORE_FILE_NAME };

export interface RunningServer extends KvsServer {
  engine: StorageEngine;
  logger: Logger;
  /** The address the server listens on, e.g. http://127.0.0.1:8080. */
  url: string;
  /** Stops accepting, finishes in-flight requests, closes the store. Idempotent. */
  close(): Promise<void>;
}

export function createLogger(config: Pick<Config, 'logLevel'> & Partial<Pick<Config, 'logFormat'>>, stdoutIsTerminal = process.stdout.isTTY === true): Logger {
  // Synchronous writes to stdout. pino's default asynchronous destination
  // flushes on process exit in a loop that never ends when stdout is a
  // closed pipe (sonic-boom 4 retries EPIPE forever): a server whose log
  // reader went away could then never stop. Written synchronously, a broken
  // pipe is an error pino handles by dropping further lines.
  const destination = pino.destination({ fd: 1, sync: true });
  const format = config.logFormat ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && stdoutIsTerminal);
  return pino(
    {
      level: config.logLevel,
      // Tokens must never reach the logs (API.md §10), in either format: pino redacts before the line is formatted.
      redact: { paths: ['req.headers.authorization', 'headers.authorization'], censor: '[redacted]' },
    },
    pretty ? prettyLines(destination, stdoutIsTerminal) : destination,
  );
}

/**
 * Lines for people (LOG_FORMAT=pretty, or a terminal): each JSON line pino
 * makes is formatted by pino-pretty's formatter and written, in the same call,
 * to the same synchronous destination. Not pino-pretty's stream or a
 * transport: those write later (a stream pipeline, a worker thread), so the
 * last lines before process.exit could be lost and a closed stdout would no
 * longer be the destination's own broken-pipe handling.
 */
function prettyLines(destination: DestinationStream, toTerminal: boolean): DestinationStream {
  // Loaded only for pretty logs (it takes ~40 ms to load); a CommonJS module, so synchronously.
  const pinoPretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  // Colours only on a terminal, and there as pino-pretty judges it (NO_COLOR, TERM=dumb).
  const colorize = toTerminal && pinoPretty.isColorSupported;
  const format = pinoPretty.prettyFactory({ colorize, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l', ignore: 'pid,hostname' });
  return {
    write(line: string) {
      const text = format(line);
      if (text) destination.write(text);
    },
  };
}

/** The composition root: the only place that picks an engine. */
export function createEngine(config: Config, logger: Logger, observer?: WriteObserver): StorageEngine {
  if (config.engine === 'etcd') {
    return new EtcdEngine({
      ...(observer === undefined ? {} : { observer }),
      endpoints: config.etcdEndpoints,
      namespace: config.etcdPrefix,
      txnKeysMax: config.etcdTxnOpsMax,
      requestBytesMax: config.etcdRequestBytesMax,
      historyRetentionRevisions: config.limits.historyRetentionRevisions,
      pendingWritesMax: config.limits.pendingWritesMax,
      replica: { directory: join(config.dataDirectory, ETCD_REPLICA_DIRECTORY), open: (directory) => ReplicaStore.open(directory) },
      onBackgroundError: (error) => logger.warn({ err: error }, 'etcd background work failed; it is retried'),
    });
  }
  return new LmdbEngine({
    ...(observer === undefined ? {} : { observer }),
    file: join(config.dataDirectory, STORE_FILE_NAME),
    historyRetentionRevisions: config.limits.historyRetentionRevisions,
    dataBytesMax: config.limits.dataBytesMax,
    pendingWritesMax: config.limits.pendingWritesMax,
    onBackgroundError: (error) => logger.error({ err: error }, 'background maintenance failed; it will be retried'),
    onWriteError: (error) => logger.error({ err: error }, 'a write batch failed to commit; its writers were told nothing applied'),
    onStoreFailed: (error) => {
      logger.fatal(
        { err: error },
        'the disk failed while making writes durable: no write is acknowledged any more; exiting so that kvs restarts from what the disk holds',
      );
      // Long enough for the writers in flight to receive their 503 ("outcome unknown").
      setTimeout(() => process.exit(EXIT_DISK_FAILED), DISK_FAILURE_EXIT_DELAY_MS);
    },
  });
}

/**
 * The engine as the HTTP layer receives it: with what it can do beyond
 * StorageEngine (synchronous reads, backups), checked here once. The test
 * harness (test/helpers/server.ts) wires its engines through this too.
 */
export function servedEngine(engine: StorageEngine): { engine: StorageEngine; capabilities: EngineCapabilities } {
  return { engine, capabilities: engineCapabilities(engine) };
}

/** Tokens and TLS material from the files the configuration names; a bad file stops the start with a ConfigError. */
function loadAccess(config: Config): { tokens: TokenRegistry; tls: { cert: Buffer; key: Buffer } | undefined } {
  let tokens: TokenRegistry;
  try {
    tokens = TokenRegistry.load({
      ...(config.adminToken === undefined ? {} : { adminToken: config.adminToken }),
      ...(config.tokensFile === undefined ? {} : { tokensFile: config.tokensFile }),
    });
  } catch (error) {
    if (error instanceof TokensFileError) throw new ConfigError(error.message);
    throw error;
  }
  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (config.tls !== undefined) {
    try {
      tls = { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) };
    } catch (error) {
      throw new ConfigError(`the TLS certificate or key could not be read: ${(error as Error).message}`);
    }
    try {
      // Parsed now, so that a file that is not a PEM certificate and its key stops the start before anything is opened.
      createSecureContext(tls);
    } catch (error) {
      throw new ConfigError(`KV_TLS_CERT / KV_TLS_KEY are not a usable PEM certificate and private key: ${(error as Error).message}`);
    }
  }
  return { tokens, tls };
}

function describeAccess(config: Config, tokens: TokenRegistry): string {
  if (tokens.enabled) return 'bearer tokens required (except /healthz, /readyz)';
  return config.protectedMode ? 'protected mode: no token configured, loopback clients only' : 'open: no token configured and protected mode off';
}

export async function startServer(config: Config, logger: Logger = createLogger(config)): Promise<RunningServer> {
  const { tokens, tls } = loadAccess(config);
  if (config.engine === 'lmdb') {
    // A replica an etcd node left here (its own, thrown away at every start) is no reason to refuse the directory; removed unless a node is using it.
    checkDataDirectory(config.dataDirectory, STORE_FILE_NAME, SEED_FILE_NAME, [ETCD_REPLICA_DIRECTORY]);
    await ReplicaStore.removeLeftover(join(config.dataDirectory, ETCD_REPLICA_DIRECTORY));
  }
  // The engine's commits and sweeps, for /metrics.
  const writeMetrics = new WriteMetrics();
  const engine = createEngine(config, logger, writeMetrics);
  await engine.open();
  try {
    await importSeedFileOnce(engine, config.dataDirectory, config.limits, logger, Date.now());
    const server = await buildServer({
      ...servedEngine(engine),
      limits: config.limits,
      logger,
      version: VERSION,
      access: { tokens, protectedMode: config.protectedMode, rateLimit: config.rateLimit },
      writeMetrics,
      ...(tls === undefined ? {} : { tls }),
    });
    const url = await server.listen(config.host, config.port);
    logger.info({ url, engine: engine.name, dataDirectory: config.dataDirectory, version: VERSION, access: describeAccess(config, tokens) }, 'kvs is serving');
    if (!tokens.enabled && !config.protectedMode) {
      logger.warn(
        'no token is configured and protected mode is off (KV_PROTECTED_MODE=off): anyone who can reach this port can read, write and delete every key. Configure a token: KV_ADMIN_TOKEN (one full-access token), or KV_TOKENS_FILE with entries from `kvs token create`',
      );
    }
    let closing: Promise<void> | null = null;
    const close = () => {
      closing ??= (async () => {
        await server.app.close();
        await engine.close();
      })();
      return closing;
    };
    return { ...server, engine, logger, url, close };
  } catch (error) {
    await engine.close();
    throw error;
  }
}

/**
 * SIGTERM/SIGINT: stop accepting, finish in-flight requests, close the store,
 * exit 0. If that takes longer than SHUTDOWN_TIMEOUT_MS, or a second signal
 * arrives, exit 1 at once: every acknowledged write is already on disk.
 */
export function exitOnSignals(server: RunningServer): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      server.logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    server.logger.info({ signal }, 'shutting down: finishing in-flight requests');
    const timer = setTimeout(() => {
      server.logger.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'shutdown took too long: exiting');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    server.close().then(
      () => {
        server.logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        server.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
