import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** The Content-Type header as the client sent it, on routes that take any body (see acceptAnyBody). */
    sentContentType: string | undefined;
  }
}

/**
 * Makes the routes of `app` take any body, of any content type, as a Buffer
 * of at most `bodyLimitBytes`. Fastify picks a body parser by content type and
 * answers 415 to types it cannot parse (`foo`, an empty header); these routes
 * store or ignore the type instead, so the header is kept aside as
 * `request.sentContentType` and Fastify is shown a type its catch-all parser takes.
 */
export function acceptAnyBody(app: FastifyInstance, bodyLimitBytes: number): void {
  app.decorateRequest('sentContentType', undefined);
  app.addHook('onRequest', (request, _reply, done) => {
    const sent = request.headers['content-type'];
    request.sentContentType = sent;
    if (sent !== undefined) request.headers['content-type'] = 'application/octet-stream';
    done();
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: bodyLimitBytes }, (_request, body, done) => done(null, body));
}

/** The request body of a route set up by acceptAnyBody (empty when none was sent). */
export function bodyBytes(body: unknown): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.alloc(0);
}
