import { createServer } from 'node:http';
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

export interface BuildServerOptions {
  engine: StorageEngine;
  limits: Limits;
  logger: Logger;
  version: string;
  now?: () => number;
}

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
  const fastRead = createFastRead(deps);
  const app = Fastify({
    ...(logRequests ? { loggerInstance: logger as FastifyBaseLogger } : { logger: false }),
    serverFactory: (handler) => createServer(fastRead === null ? handler : (request, response) => fastRead(request, response) || handler(request, response)),
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
