import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { ADMIN } from '../../auth/access.js';
import { KvError } from '../../core/errors.js';
import { exportLines, importEntries, parseNdjson, parseSeedDocument } from '../../engine/transfer.js';
import type { HttpDeps } from '../deps.js';
import { acceptAnyBody, bodyBytes } from '../raw-body.js';
import { queryString, type Query } from '../query.js';
import { boundParameter, rangeBounds } from './range.js';
import type { Limits } from '../../core/limits.js';
import { described, fields, json, operation, rangeBound, ref } from '../openapi/operation.js';

/** Data in and out: `/v1/admin/export` and `/v1/admin/import` (API.md §11). */
export async function adminRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { engine, limits } = deps;

  acceptAnyBody(app, limits.importBytesMax);

  app.get('/v1/admin/export', { schema: exportSchema(limits), config: { access: ADMIN } }, async (request, reply) => {
    // Validated like a listing's prefix: a prefix no key could start with is a 400, not an LMDB error.
    const prefix = boundParameter(request.query as Query, 'prefix', limits) ?? '';
    const { lower, upper } = rangeBounds(prefix, undefined, undefined);
    return reply.type('application/x-ndjson').send(Readable.from(exportLines(engine, lower, upper)));
  });

  app.post('/v1/admin/import', { schema: importSchema(limits), config: { access: ADMIN, bodyLimitBytes: limits.importBytesMax } }, async (request) => {
    const format = queryString(request.query as Query, 'format') ?? 'ndjson';
    if (format !== 'ndjson' && format !== 'seed') throw new KvError('invalid_request', '"format" must be "ndjson" (the default) or "seed"');
    const text = bodyBytes(request.body).toString('utf8');
    const parsed = format === 'seed' ? parseSeedDocument(text, limits) : parseNdjson(text, limits, deps.now());
    if (parsed.problems.length > 0) {
      // All or nothing: an import that would silently drop entries is refused whole.
      const shown = parsed.problems.slice(0, 10).join('; ');
      const more = parsed.problems.length > 10 ? ` (and ${parsed.problems.length - 10} more)` : '';
      throw new KvError('invalid_request', `nothing was imported: ${shown}${more}`);
    }
    return importEntries(engine, parsed.entries, deps.now());
  });
}

const exportSchema = (limits: Limits) =>
  operation(
    {
      operationId: 'exportKeys',
      tag: 'Admin',
      summary: 'Export live keys as NDJSON, from one snapshot',
      access: 'admin',
      engine: true,
      querystring: fields({ prefix: rangeBound('Only keys under this prefix.', limits) }),
      responses: { 200: { description: 'One JSON object per line.', content: { 'application/x-ndjson': { schema: ref('ExportLine') } } } },
      failures: { invalid_request: 'An invalid `prefix`.' },
    },
    limits,
  );

const importSchema = (limits: Limits) =>
  operation(
    {
      operationId: 'importKeys',
      tag: 'Admin',
      summary: 'Import NDJSON (or the original data file with format=seed), atomically',
      description:
        'All or nothing: one bad line refuses the whole import and names the line. On etcd, an import larger than one etcd transaction is applied as consecutive transactions.',
      access: 'admin',
      engine: true,
      writes: 'adds',
      querystring: fields({
        format: described("`ndjson` (the export's lines) or `seed` (a JSON object `{key: value}`).", {
          type: 'string',
          enum: ['ndjson', 'seed'],
          default: 'ndjson',
        }),
      }),
      body: {
        content: { 'application/x-ndjson': { schema: ref('ExportLine') }, 'application/json': { schema: { type: 'object', additionalProperties: true } } },
        limitBytes: limits.importBytesMax,
        tooLarge: 'request_too_large',
      },
      responses: { 200: json(ref('ImportResult'), 'Imported.') },
      failures: {
        invalid_request: 'An invalid line or entry (the detail names up to ten), or an unknown `format`; nothing was imported.',
        invalid_json: 'With `format=seed`: the body is not JSON.',
      },
    },
    limits,
  );
