import type { FastifyInstance } from 'fastify';
import { ADMIN, ANY_TOKEN, PUBLIC } from '../../auth/access.js';
import { ACTIONS } from '../../auth/tokens.js';
import type { HttpDeps } from '../deps.js';
import { json, operation, ref, type OperationSpec } from '../openapi/operation.js';

/** Health, readiness, metrics and service information (API.md §7). */
export async function serviceRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { engine, limits } = deps;
  const schema = (spec: OperationSpec) => operation(spec, limits);

  app.get('/healthz', { schema: schema(HEALTHZ), config: { access: PUBLIC } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: schema(READYZ), config: { access: PUBLIC } }, async (_request, reply) => {
    const ready = await engine.isReady().catch(() => false);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', engine: engine.name });
  });

  app.get('/metrics', { schema: schema(METRICS), config: { access: ADMIN } }, async (_request, reply) => {
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(await deps.metrics.render());
  });

  app.get('/v1/status', { schema: schema(STATUS), config: { access: ADMIN } }, async () => {
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
  app.get('/v1/limits', { schema: schema(LIMITS), config: { access: ANY_TOKEN } }, async () => publishedLimits);

  // Who the token is and what it may do: what a client (the web console) shows and offers.
  app.get('/v1/auth/me', { schema: schema(ME), config: { access: ANY_TOKEN } }, async (request) => {
    const { name, admin, grants } = request.principal;
    return { name, admin, grants: grants.map((grant) => ({ prefix: grant.prefix, actions: ACTIONS.filter((action) => grant.actions.has(action)) })) };
  });

  // Generated from every route's schema (plugins/openapi.ts), with the limits in force (on etcd: what one etcd
  // request takes), so the document never promises what this server refuses. At the first request for it, not at
  // start: generating takes some 20 ms that a server's start need not wait for.
  let openApi: string | null = null;
  app.get('/v1/openapi.json', { schema: schema(OPENAPI), config: { access: ANY_TOKEN } }, async (_request, reply) => {
    openApi ??= JSON.stringify(app.swagger());
    return reply.type('application/json').send(openApi);
  });
}

const HEALTHZ: OperationSpec = {
  operationId: 'healthz',
  tag: 'Service',
  summary: 'Liveness: 200 while the process serves',
  access: 'public',
  responses: { 200: json({ type: 'object', properties: { status: { const: 'ok' } } }, 'Serving.') },
};

const READYZ: OperationSpec = {
  operationId: 'readyz',
  tag: 'Service',
  summary: 'Readiness: whether the storage engine is usable',
  access: 'public',
  responses: {
    200: json(ref('Readiness'), 'Ready.'),
    503: json(ref('Readiness'), 'Not ready (`status: "unavailable"`).'),
  },
};

const METRICS: OperationSpec = {
  operationId: 'metrics',
  tag: 'Service',
  summary: 'Prometheus metrics',
  access: 'admin',
  engine: true,
  responses: { 200: { description: 'The Prometheus text exposition format (0.0.4).', content: { 'text/plain': { schema: { type: 'string' } } } } },
};

const STATUS: OperationSpec = {
  operationId: 'status',
  tag: 'Service',
  summary: 'Store status',
  access: 'admin',
  engine: true,
  responses: { 200: json(ref('Status'), 'Status.') },
};

const LIMITS: OperationSpec = {
  operationId: 'limits',
  tag: 'Service',
  summary: 'The limits in force',
  access: 'token',
  responses: { 200: json(ref('Limits'), 'Limits.') },
};

const ME: OperationSpec = {
  operationId: 'me',
  tag: 'Service',
  summary: 'The token of the request: its name, whether it is admin, and its grants',
  description:
    'For a client to show what it may do (the web console roots its tree at the grants a token may read). An admin token may do everything, whatever its `grants`. Without tokens configured (protected mode), a client on this machine is `{"name": "local", "admin": true, "grants": []}`.',
  access: 'token',
  responses: { 200: json(ref('Me'), 'The token.') },
};

const OPENAPI: OperationSpec = {
  operationId: 'openapi',
  tag: 'Service',
  summary: 'This document',
  access: 'token',
  responses: { 200: json({ type: 'object' }, "OpenAPI 3.1, with this server's limits.") },
};
