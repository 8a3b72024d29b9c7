import { createServer, type RequestListener, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { CONNECTION_LIMITS, type ConnectionLimits, type Limits } from '../core/limits.js';
import type { EngineCapabilities, StorageEngine } from '../engine/engine.js';
import type { HttpDeps } from './deps.js';
import { guardConnections } from './connection-drain.js';
import { createFastPaths } from './fast-paths.js';
import { lacksHost, toOriginForm } from './request-target.js';
import { KvError } from '../core/errors.js';
import { clientErrorHandler, frameworkErrorHandler, installErrorHandling, writeProblem } from './plugins/errors.js';
import { installRequestMetrics, ServerMetrics } from './plugins/metrics.js';
import type { WriteMetrics } from './metrics/write-metrics.js';
import { RouteTable } from './route-table.js';
import { adminRoutes } from './routes/admin.js';
import { backupRoutes } from './routes/backup.js';
import { CONSOLE_SECURITY_HEADERS, consoleRoutes } from './routes/console.js';
import { DOCS_SECURITY_HEADERS, docsRoutes } from './routes/docs.js';
import { kvRoutes } from './routes/kv.js';
import { rangeRoutes } from './routes/range.js';
import { seedRoutes } from './routes/seed.js';
import { serviceRoutes } from './routes/service.js';
import { txnRoutes } from './routes/txn.js';
import { watchRoutes } from './routes/watch.js';
import { WatchStreams } from './watch-streams.js';
import { WatchHub } from '../watch/hub.js';
import { Gatekeeper } from '../auth/gatekeeper.js';
import { RateLimiter } from '../auth/rate-limit.js';
import { TokenRegistry } from '../auth/tokens.js';
import { installAccessControl, socketAddress, type ClientAddress } from './plugins/access.js';
import { installOpenApi } from './plugins/openapi.js';

export interface BuildServerOptions {
  engine: StorageEngine;
  /** What the engine can do beyond StorageEngine, checked once where it was chosen (main.ts, engineCapabilities). */
  capabilities: EngineCapabilities;
  limits: Limits;
  logger: Logger;
  version: string;
  now?: () => number;
  /** Tokens, protected mode and rate limit (API.md §10). Default: no tokens, protected mode on, no rate limit. */
  access?: { tokens: TokenRegistry; protectedMode: boolean; rateLimit: { perSecond: number; burst: number } | null };
  /** Serve HTTPS with this certificate chain and key (PEM). */
  tls?: { cert: Buffer; key: Buffer };
  /** Overrides of CONNECTION_LIMITS (tests use short timeouts). */
  connectionLimits?: Partial<ConnectionLimits>;
  /** Where a request comes from; tests of protected mode substitute their own. Default: the socket's peer. */
  clientAddress?: ClientAddress;
  /** The WriteObserver the engine was given, rendered in /metrics (main.ts makes one per engine). */
  writeMetrics?: WriteMetrics;
  /** Answer the hot paths before Fastify (http/fast-paths.ts); default true. False: every request through Fastify. */
  fastPaths?: boolean;
}

const NO_HOST = new KvError('invalid_request', 'an HTTP/1.1 request needs a Host header');

export interface KvsServer {
  app: FastifyInstance;
  routes: RouteTable;
  /** Listens and resolves with the server's base URL (https:// when serving TLS, which Fastify's own listen cannot tell). */
  listen(host: string, port: number): Promise<string>;
  /** Requests answered before Fastify so far (http/fast-paths.ts): tests check which path answered. */
  fastPathAnswers(): number;
}

/**
 * Builds the HTTP server without listening, so tests can `inject` requests or
 * listen on a port of their own.
 */
/** The pages' security headers, on their errors too (a 404 under /console/ is still the console's origin). */
function pageHeaders(path: string): Readonly<Record<string, string>> | undefined {
  if (path === '/' || path.startsWith('/console/')) return CONSOLE_SECURITY_HEADERS;
  if (path === '/docs' || path.startsWith('/docs/')) return DOCS_SECURITY_HEADERS;
  return undefined;
}

export async function buildServer(options: BuildServerOptions): Promise<KvsServer> {
  const { engine, limits, logger } = options;
  const now = options.now ?? Date.now;
  const startedAtMs = now();
  const hub = new WatchHub(engine, engine.changeFeedRevision());
  const watchStreams = new WatchStreams(engine, hub, {
    bufferBytesMax: limits.watchBufferBytesMax,
    progressIntervalMs: limits.watchProgressIntervalMs,
    watchersMax: limits.watchersMax,
    closeGraceMs: limits.watchCloseGraceMs,
    onError: (error) => logger.error({ err: error }, 'a watch stream failed (a bug): it was sent an error event and closed'),
  });
  const metrics = new ServerMetrics(engine, options.version, startedAtMs, hub, watchStreams, options.writeMetrics);
  const { syncReader, freshReader, snapshotBackup } = options.capabilities;
  const deps: HttpDeps = { engine, syncReader, freshReader, snapshotBackup, limits, metrics, version: options.version, startedAtMs, now, hub, watchStreams };

  // Request logs are at debug. Below that Fastify gets no logger at all: a
  // child logger per request would cost more than the read it serves. The
  // server's own messages go through `logger`.
  const logRequests = logger.isLevelEnabled('debug');
  const access = options.access ?? { tokens: TokenRegistry.empty(), protectedMode: true, rateLimit: null };
  const rateLimiter = access.rateLimit === null ? null : new RateLimiter(access.rateLimit.perSecond, access.rateLimit.burst);
  const gatekeeper = new Gatekeeper(access.tokens, access.protectedMode, rateLimiter);
  const clientAddress = options.clientAddress ?? socketAddress;
  // BuildServerOptions.fastPaths false: every request through Fastify (the parity test's reference).
  const fastPaths = options.fastPaths === false ? null : createFastPaths(deps, gatekeeper, clientAddress, logger);
  const connection = { ...CONNECTION_LIMITS, ...options.connectionLimits };
  // All given to the server itself: with a serverFactory, Fastify applies none of its own timeout options.
  const serverOptions: ServerOptions = {
    maxHeaderSize: connection.headerBytesMax,
    headersTimeout: connection.headersTimeoutMs,
    requestTimeout: connection.requestTimeoutMs,
    keepAliveTimeout: connection.keepAliveTimeoutMs,
    connectionsCheckingInterval: connection.connectionsCheckingIntervalMs,
    // Refused by lacksHost() instead, with a problem document.
    requireHostHeader: false,
  };
  let guard: ReturnType<typeof guardConnections> = { startDraining: () => {} };
  const app = Fastify({
    ...(logRequests ? { loggerInstance: logger as FastifyBaseLogger } : { logger: false }),
    serverFactory: (handler) => {
      const listener: RequestListener =
        fastPaths === null
          ? (request, response) => {
              if (lacksHost(request)) return writeProblem(response, NO_HOST);
              toOriginForm(request);
              handler(request, response);
            }
          : (request, response) => {
              if (lacksHost(request)) return writeProblem(response, NO_HOST);
              toOriginForm(request);
              if (!fastPaths(request, response, handler)) handler(request, response);
            };
      const server =
        options.tls === undefined
          ? createServer(serverOptions, listener)
          : createTlsServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key, handshakeTimeout: connection.headersTimeoutMs }, listener);
      guard = guardConnections(server, options.tls !== undefined);
      // Expect: anything but 100-continue (which Node answers itself).
      server.on('checkExpectation', (_request, response: ServerResponse) =>
        writeProblem(response, new KvError('expectation_failed', 'only "Expect: 100-continue" is supported')),
      );
      return server;
    },
    // The key is read from the raw URL; this only has to let every valid key route.
    routerOptions: { maxParamLength: limits.keyBytesMax * 3 + 64 },
    bodyLimit: limits.requestBytesMax,
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    requestIdHeader: false,
  });

  // Watch streams never end by themselves: end them when the server closes, so
  // that closing does not wait for them (clients reconnect with Last-Event-ID).
  app.addHook('preClose', (done) => {
    // Fastify answers 503 to requests from now on (return503OnClosing): the fast paths leave them to it.
    fastPaths?.close();
    watchStreams.closeAll();
    guard.startDraining();
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    hub.close();
    done();
  });

  const routes = new RouteTable();
  app.addHook('onRoute', (route) => routes.add(route.url, route.method));
  installErrorHandling(app, routes, logger, pageHeaders);
  installAccessControl(app, gatekeeper, clientAddress);
  installRequestMetrics(app, metrics);
  await installOpenApi(app, { version: options.version, limits });

  await app.register(seedRoutes, deps);
  await app.register(kvRoutes, deps);
  await app.register(rangeRoutes, deps);
  await app.register(txnRoutes, deps);
  await app.register(serviceRoutes, deps);
  await app.register(adminRoutes, deps);
  await app.register(backupRoutes, deps);
  await app.register(watchRoutes, deps);
  await app.register(docsRoutes, deps);
  await app.register(consoleRoutes, deps);
  await app.ready();
  const listen = async (host: string, port: number) => {
    const url = await app.listen({ host, port });
    return options.tls === undefined ? url : url.replace(/^http:/, 'https:');
  };
  return { app, routes, listen, fastPathAnswers: () => fastPaths?.answered ?? 0 };
}
