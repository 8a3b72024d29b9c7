import type { FastifyInstance } from 'fastify';
import { ADMIN, ANY_TOKEN, PUBLIC } from '../../auth/access.js';
import { ACTIONS } from '../../auth/tokens.js';
import type { HttpDeps } from '../deps.js';
import { openApiDocument } from '../openapi.js';

/** Health, readiness, metrics and service information (API.md §7). */
export async function serviceRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { engine, limits } = deps;

  app.get('/healthz', { config: { access: PUBLIC } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { config: { access: PUBLIC } }, async (_request, reply) => {
    const ready = await engine.isReady().catch(() => false);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', engine: engine.name });
  });

  app.get('/metrics', { config: { access: ADMIN } }, async (_request, reply) => {
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(await deps.metrics.render());
  });

  app.get('/v1/status', { config: { access: ADMIN } }, async () => {
    const status = await engine.status();
    return {
      revision: status.revision,
      compactRevision: status.compactRevision,
      keys: status.keys,
      engine: engine.name,
      version: deps.version,
      uptimeSeconds: Math.floor((deps.now() - deps.startedAtMs) / 1000),
    };
  });

  const publishedLimits = {
    maxKeyBytes: limits.keyBytesMax,
    maxValueBytes: limits.valueBytesMax,
    maxRequestBytes: limits.requestBytesMax,
    maxTxnOps: limits.txnOpsMax,
    maxListLimit: limits.listLimitMax,
    maxTtlSeconds: limits.ttlSecondsMax,
    historyRetention: limits.historyRetentionRevisions,
  };
  app.get('/v1/limits', { config: { access: ANY_TOKEN } }, async () => publishedLimits);

  // Who the token is and what it may do: what a client (the web console) shows and offers.
  app.get('/v1/auth/me', { config: { access: ANY_TOKEN } }, async (request) => {
    const { name, admin, grants } = request.principal;
    return { name, admin, grants: grants.map((grant) => ({ prefix: grant.prefix, actions: ACTIONS.filter((action) => grant.actions.has(action)) })) };
  });

  // From the limits in force (on etcd: what one etcd request takes), so the document never promises what this server refuses.
  const openApi = JSON.stringify(openApiDocument(deps.version, limits));
  app.get('/v1/openapi.json', { config: { access: ANY_TOKEN } }, async (_request, reply) => reply.type('application/json').send(openApi));
}
