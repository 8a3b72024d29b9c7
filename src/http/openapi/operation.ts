import type { ErrorCode } from '../../core/errors.js';
import type { Limits } from '../../core/limits.js';
import { addFailure, problemResponses, sized, standardFailures, type Failures, type OperationKind, type Schema } from './problems.js';

export { headerRef, headers, ref, type Schema } from './problems.js';

/**
 * What a route says of itself for the OpenAPI document: declared beside the
 * route (its `schema:`), with the limits of the running server, so that the
 * document is generated from the routes (@fastify/swagger, plugins/openapi.ts)
 * and cannot describe a route that is not served, or miss one that is.
 */
export interface OperationSpec extends OperationKind {
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  /**
   * The request body, by media type (`content`), limited to `limitBytes` (413 `tooLarge` beyond); `json`: only
   * application/json (415, invalid_json). Without `content`, a body the route reads and ignores: only its 413 is described.
   */
  body?: OperationKind['body'] & { content?: Schema; optional?: boolean };
  /** Errors in the seed's `{"status":"error","message"}` body rather than problem+json (plugins/errors.ts). */
  seedErrors?: boolean;
  /** Path parameters, query parameters and request headers: JSON Schemas of objects (`fields()`), one property each. */
  params?: Schema;
  querystring?: Schema;
  headers?: Schema;
  /** Responses that are not problems (successes, 304, /readyz's 503), as OpenAPI Response Objects. */
  responses: Record<string, Schema>;
  /** The operation's own problem codes; merged with those every operation of its kind can get. */
  failures?: Failures;
  /** Headers a problem response carries besides the usual (Allow, Retry-After, WWW-Authenticate), by status. */
  problemHeaders?: Record<number, Record<string, Schema>>;
}

/**
 * A route's `schema:`. Fastify's keys (params, querystring, headers, body,
 * response) and @fastify/swagger's (operationId, tags, summary, description,
 * security). `body` is an OpenAPI Request Body Object and each `response` an
 * OpenAPI Response Object (Fastify reads only their `content`); Fastify
 * neither validates nor serialises with them (plugins/openapi.ts).
 */
export type RouteSchema = Schema & { operationId: string; body?: Schema; response: Record<string, Schema> };

/** The JSON Schema of an object whose properties are parameters (or headers), each with its description. */
export function fields(properties: Record<string, Schema>, required: string[] = []): Schema {
  return { type: 'object', properties, ...(required.length === 0 ? {} : { required }) };
}

/** `schema` with a description: one parameter or header of `fields()`. */
export const described = (description: string, schema: Schema = { type: 'string' }): Schema => ({ ...schema, description });

export const json = (schema: Schema, description: string, headerMap?: Record<string, Schema>): Schema => ({
  description,
  ...(headerMap === undefined ? {} : { headers: headerMap }),
  content: { 'application/json': { schema } },
});

export const revision = { type: 'integer', minimum: 0 };

/** The route schema of an operation: its own parameters, body and responses, plus the problems of its kind. */
export function operation(spec: OperationSpec, limits: Limits): RouteSchema {
  const failures = standardFailures(spec);
  for (const [code, when] of Object.entries(spec.failures ?? {}) as Array<[ErrorCode, string]>) addFailure(failures, code, when);
  // The `limit` a sample 413 shows: the body's own for its code.
  const limitOf: Partial<Record<ErrorCode, number>> = { value_too_large: limits.valueBytesMax, request_too_large: limits.requestBytesMax };
  if (spec.body !== undefined) limitOf[spec.body.tooLarge] = spec.body.limitBytes;
  const problems = problemResponses(failures, { seedErrors: spec.seedErrors ?? false, headers: spec.problemHeaders ?? {}, limitOf });
  for (const status of Object.keys(spec.responses)) {
    if (status in problems) throw new Error(`${spec.operationId}: ${status} is both a problem and another response`);
  }
  return {
    operationId: spec.operationId,
    tags: [spec.tag],
    summary: spec.summary,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    ...(spec.access === 'public' ? { security: [] } : {}),
    ...(spec.params === undefined ? {} : { params: spec.params }),
    ...(spec.querystring === undefined ? {} : { querystring: spec.querystring }),
    ...(spec.headers === undefined ? {} : { headers: spec.headers }),
    ...(spec.body?.content === undefined
      ? {}
      : {
          body: {
            required: !spec.body.optional,
            description: `At most ${sized(spec.body.limitBytes)}.`,
            'x-max-bytes': spec.body.limitBytes,
            content: spec.body.content,
          },
        }),
    response: { ...spec.responses, ...problems },
  };
}

/** A key as the document describes it: its limits, in words. */
export const keyText = (limits: Limits): string =>
  `1 to ${limits.keyBytesMax} UTF-8 bytes, without U+0000 and without \`.\` or \`..\` as a \`/\`-separated segment`;

/** A key as a query parameter (`key=`), or a key-length string. maxLength counts characters, which never outnumber the key's bytes: a bound, not the limit. */
export const keyString = (limits: Limits): Schema => ({ type: 'string', minLength: 1, maxLength: limits.keyBytesMax });

/** What a key route needs: a grant of `action` on the key. */
export const keyGrant = (action: string) => ({ grant: `\`${action}\` on the key` });

/** A range bound or prefix parameter (`prefix`, `start`, `end`). */
export const rangeBound = (description: string, limits: Limits): Schema =>
  described(`${description} At most ${limits.keyBytesMax} bytes.`, { type: 'string', maxLength: limits.keyBytesMax });

/** `?stale` (API.md §11, API-NOTES.md): a read's documentation, shared with listings. */
export const staleParameterSchema: Schema = described(
  "On the etcd engine: answer from the node's replica without the barrier that makes a read linearizable (Consul's `?stale`, etcd's serializable read): faster, and it still answers when the node cannot reach etcd, but it may miss recent writes; `KV-Staleness-Ms` says how old it may be. `?stale` alone means true. On the embedded engine it changes nothing.",
  { type: 'boolean', default: false },
);

/** The caching headers of a static file (/docs, the console). */
export const ASSET_HEADERS = { ETag: { $ref: '#/components/headers/AssetETag' }, 'Cache-Control': { $ref: '#/components/headers/AssetCacheControl' } };

/** The request header of a static file's revalidation. */
export const ASSET_IF_NONE_MATCH = described('The `ETag` of a copy the client has: 304 when it is current.');
