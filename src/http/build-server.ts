import { createServer, type RequestListener, type ServerOptions } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Limits } from '../core/limits.js';
import type { StorageEngine } from '../engine/engine.js';
import type { HttpDeps } from './deps.js';
import { createFastRead } from './fast-read.js';
import { clientErrorHandler, frameworkErrorHandler, installErrorHandling } from './plugins/errors.js';
import { installRequestMetrics, ServerMetrics } from './plugins/metrics.js';
import { RouteTable } from './route-table.js';
import { adminRoutes } from './routes/admin.js';
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

export interface BuildServerOptions {
  engine: StorageEngine;
  limits: Limits;
  logger: Logger;
  version: string;
  now?: () => number;
  /** Tokens, protected mode and rate limit (API.md §10). Default: no tokens, protected mode on, no rate limit. */
  access?: { tokens: TokenRegistry; protectedMode: boolean; rateLimit: { perSecond: number; burst: number } | null };
  /** Serve HTTPS with this certificate chain and key (PEM). */
  tls?: { cert: Buffer; key: Buffer };
  /** Where a request comes from; tests of protected mode substitute their own. Default: the socket's peer. */
  clientAddress?: ClientAddress;
}

/**
 * Connection limits, each chosen rather than inherited (a slow or idle client
 * must not hold a connection forever; a big header is a 431, not memory).
 */
export const CONNECTION_LIMITS = Object.freeze({
  /** Request line and headers together, in bytes (Node's default, made explicit); beyond: 431. */
  maxHeaderSize: 16 * 1024,
  /** Time to receive the request headers. */
  headersTimeout: 10_000,
  /** Time to receive a whole request, body included (a 4 MiB value at 1 Mbit/s needs ~35 s). */
  requestTimeout: 60_000,
  /**
   * Idle keep-alive connections are closed after this: above the 60 s idle timeout
   * of common load balancers, so that they close first and never send a request
   * on a connection kvs is closing.
   */
  keepAliveTimeout: 65_000,
});

export interface KvsServer {
  app: FastifyInstance;
  routes: RouteTable;
}

/**
 * Builds the HTTP server without listening, so tests can `inject` requests or
 * listen on a port of their own.
 */
export async function buildServer(options: BuildServerOptions): Promise<KvsServer> {
  const { engine, limits, logger } = options;
  const now = options.now ?? Date.now;
  const startedAtMs = now();
  const hub = new WatchHub(engine, (await engine.status()).revision);
  const watchStreams = new WatchStreams(engine, hub, {
    bufferBytesMax: limits.watchBufferBytesMax,
    progressIntervalMs: limits.watchProgressIntervalMs,
    maxWatchers: limits.maxWatchers,
    onError: (error) => logger.error({ err: error }, 'a watch stream failed (a bug): it was sent an error event and closed'),
  });
  const metrics = new ServerMetrics(engine, options.version, startedAtMs, hub, watchStreams);
  const deps: HttpDeps = { engine, limits, metrics, version: options.version, startedAtMs, now, hub, watchStreams };

  // Request logs are at debug. Below that Fastify gets no logger at all: a
  // child logger per request would cost more than the read it serves. The
  // server's own messages go through `logger`.
  const logRequests = logger.isLevelEnabled('debug');
  const access = options.access ?? { tokens: TokenRegistry.empty(), protectedMode: true, rateLimit: null };
  const rateLimiter = access.rateLimit === null ? null : new RateLimiter(access.rateLimit.perSecond, access.rateLimit.burst);
  const gatekeeper = new Gatekeeper(access.tokens, access.protectedMode, rateLimiter);
  const clientAddress = options.clientAddress ?? socketAddress;
  const fastRead = createFastRead(deps, gatekeeper, clientAddress);
  const serverOptions: ServerOptions = { maxHeaderSize: CONNECTION_LIMITS.maxHeaderSize, headersTimeout: CONNECTION_LIMITS.headersTimeout, requestTimeout: CONNECTION_LIMITS.requestTimeout };
  const app = Fastify({
    ...(logRequests ? { loggerInstance: logger as FastifyBaseLogger } : { logger: false }),
    serverFactory: (handler) => {
      const listener: RequestListener = fastRead === null ? handler : (request, response) => fastRead(request, response) || handler(request, response);
      return options.tls === undefined ? createServer(serverOptions, listener) : createTlsServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key }, listener);
    },
    keepAliveTimeout: CONNECTION_LIMITS.keepAliveTimeout,
    requestTimeout: CONNECTION_LIMITS.requestTimeout,
    // The key is read from the raw URL; this only has to let every valid key route.
    routerOptions: { maxParamLength: limits.maxKeyBytes * 3 + 64 },
    bodyLimit: limits.maxRequestBytes,
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    requestIdHeader: false,
  });

  // Watch streams never end by themselves: end them when the server closes, so
  // that closing does not wait for them (clients reconnect with Last-Event-ID).
  app.addHook('preClose', (done) => {
    watchStreams.closeAll();
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    hub.close();
    done();
  });

  const routes = new RouteTable();
  app.addHook('onRoute', (route) => routes.add(route.url, route.method));
  installErrorHandling(app, routes, logger);
  installAccessControl(app, gatekeeper, clientAddress);
  installRequestMetrics(app, metrics);

  await app.register(seedRoutes, deps);
  await app.register(kvRoutes, deps);
  await app.register(rangeRoutes, deps);
  await app.register(txnRoutes, deps);
  await app.register(serviceRoutes, deps);
  await app.register(adminRoutes, deps);
  await app.register(watchRoutes, deps);
  await app.ready();
  return { app, routes };
}
