import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { ADMIN } from '../../auth/access.js';
import { KvError } from '../../core/errors.js';
import { exportLines, importEntries, parseNdjson, parseSeedDocument } from '../../engine/transfer.js';
import type { HttpDeps } from '../deps.js';
import { acceptAnyBody, bodyBytes } from '../raw-body.js';
import { queryString, type Query } from '../query.js';
import { boundParameter, rangeBounds } from './range.js';

/** Data in and out: `/v1/admin/export` and `/v1/admin/import` (API.md §11). */
export async function adminRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { engine, limits } = deps;

  acceptAnyBody(app, limits.importBytesMax);

  app.get('/v1/admin/export', { config: { access: ADMIN } }, async (request, reply) => {
    // Validated like a listing's prefix: a prefix no key could start with is a 400, not an LMDB error.
    const prefix = boundParameter(request.query as Query, 'prefix', limits) ?? '';
    const { lower, upper } = rangeBounds(prefix, undefined, undefined);
    return reply.type('application/x-ndjson').send(Readable.from(exportLines(engine, lower, upper)));
  });

  app.post('/v1/admin/import', { config: { access: ADMIN, bodyLimitBytes: limits.importBytesMax } }, async (request) => {
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
