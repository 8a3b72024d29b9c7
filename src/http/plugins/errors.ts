import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorStatus, errorTitle, isKvError, KvError, type ErrorCode, type ErrorFacts } from '../../core/errors.js';
import { REFUSED_BODY_DRAIN_BYTES_MAX, REFUSED_BODY_DRAIN_MS_MAX } from '../../core/limits.js';
import type { Logger } from 'pino';
import type { RouteTable } from '../route-table.js';

/** How a route reports errors: problem+json (RFC 9457) everywhere except the seed routes, which keep the seed's own body. */
export type ErrorFormat = 'problem' | 'seed';

declare module 'fastify' {
  interface FastifyContextConfig {
    errorFormat?: ErrorFormat;
    /** The code of a 413 on this route: `value_too_large` where the body is a value. */
    bodyTooLargeCode?: 'value_too_large' | 'request_too_large';
    /** The body limit in bytes, reported as `limit` with 413. */
    bodyLimitBytes?: number;
  }
}

export const SEED_PATHS = new Set(['/put', '/get', '/del']);

/**
 * The only place that maps errors to HTTP. KvErrors are operating errors and
 * become their catalogue status; Fastify's own client errors (body too large,
 * bad media type, bad JSON) are mapped onto the catalogue; anything else is a
 * bug: logged with its stack and answered 500 without details.
 */
export function installErrorHandling(app: FastifyInstance, routes: RouteTable, logger: Logger, pageHeaders: PageHeaders = () => undefined): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    withPageHeaders(request, reply, pageHeaders);
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') keepReadingRefusedBody(request, reply);
    const kvError = toKvError(error, request);
    if (kvError === null) {
      logUnhandled(logger, error, request.method, request.url);
      return sendError(request, reply, INTERNAL_ERROR);
    }
    return sendError(request, reply, kvError);
  });

  app.setNotFoundHandler((request, reply) => {
    withPageHeaders(request, reply, pageHeaders);
    const path = pathOf(request.url);
    const allowed = routes.allowedMethods(path);
    if (allowed.length > 0) {
      return sendError(
        request,
        reply,
        new KvError('method_not_allowed', `${request.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`, { allow: allowed }),
      );
    }
    return sendError(request, reply, new KvError('not_found', `no route ${request.method} ${path}`));
  });
}

/** Logs an error that is not a KvError (a bug), which is answered 500 without details. */
export function logUnhandled(logger: Logger, error: unknown, method: string | undefined, url: string | undefined): void {
  logger.error({ err: error, url, method }, 'unhandled error (a bug): answered 500');
}

/**
 * The headers a page's paths carry on every answer, errors included (the
 * console's and /docs' Content-Security-Policy and nosniff): by request path,
 * undefined for none.
 */
export type PageHeaders = (path: string) => Readonly<Record<string, string>> | undefined;

function withPageHeaders(request: FastifyRequest, reply: FastifyReply, pageHeaders: PageHeaders): void {
  const headers = pageHeaders(pathOf(request.url));
  if (headers !== undefined) reply.headers(headers);
}

/** Handles errors Fastify raises before routing (a URL it cannot decode). */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const path = pathOf(request.url);
  const code: ErrorCode = path.startsWith('/v1/kv/') ? 'invalid_key' : 'invalid_request';
  void sendError(request, reply, new KvError(code, `the request URL is malformed: ${error.message}`));
}

/**
 * A body refused as too large is answered at once (413, before it is read), and then
 * still read and thrown away, up to a bound, on a connection kept alive. Fastify would
 * close the connection with the body unread, and a client still sending it then gets a
 * reset in place of the answer (measured: 1 in 2 fetch PUTs of 5 MB over a 1 KiB limit
 * failed with EPIPE). Beyond REFUSED_BODY_DRAIN_*, the connection is closed as before.
 */
function keepReadingRefusedBody(request: FastifyRequest, reply: FastifyReply): void {
  const body = request.raw;
  if (body.readableEnded || body.destroyed) return;
  // Declared far past what is worth reading: not read at all, the connection closes after the answer.
  if (Number(request.headers['content-length']) > REFUSED_BODY_DRAIN_BYTES_MAX) return;
  reply.removeHeader('connection');
  let drainedBytes = 0;
  const giveUp = () => body.socket?.destroy();
  const timer = setTimeout(giveUp, REFUSED_BODY_DRAIN_MS_MAX);
  timer.unref();
  body.on('data', (chunk: Buffer) => {
    drainedBytes += chunk.length;
    if (drainedBytes > REFUSED_BODY_DRAIN_BYTES_MAX) giveUp();
  });
  body.once('end', () => clearTimeout(timer));
  body.once('close', () => clearTimeout(timer));
  body.resume();
}

export function toKvError(error: unknown, request: FastifyRequest): KvError | null {
  if (isKvError(error)) return error;
  const fastifyError = error as Partial<FastifyError>;
  const config = request.routeOptions?.config;
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': {
      const limit = config?.bodyLimitBytes;
      const code = config?.bodyTooLargeCode ?? 'request_too_large';
      const what = code === 'value_too_large' ? 'the value' : 'the request body';
      return new KvError(code, `${what} exceeds the limit of ${limit ?? 'the configured'} bytes`, limit === undefined ? {} : { limit });
    }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new KvError(
        'unsupported_media_type',
        `this route takes application/json, not ${JSON.stringify(request.headers['content-type'] ?? 'no content type')}`,
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new KvError('invalid_json', 'the body is empty; send a JSON document');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new KvError('invalid_json', `the body is not valid JSON: ${fastifyError.message ?? ''}`);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new KvError('invalid_request', 'the Content-Length header does not match the body');
    default:
      break;
  }
  if (error instanceof SyntaxError && fastifyError.statusCode === 400) {
    return new KvError('invalid_json', `the body is not valid JSON: ${error.message}`);
  }
  // Other client errors from Fastify or its dependencies (status 4xx) keep their status.
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new KvError(
      status === 413 ? 'request_too_large' : status === 415 ? 'unsupported_media_type' : 'invalid_request',
      fastifyError.message ?? 'bad request',
    );
  }
  return null;
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: KvError): FastifyReply {
  const answer = errorAnswer(error, errorFormatOf(request), pathOf(request.url));
  reply.code(answer.status);
  for (let index = 0; index < answer.headers.length; index += 2) reply.header(answer.headers[index]!, answer.headers[index + 1]!);
  return reply.send(answer.body);
}

/** An error as the client receives it: status, headers (name, value, ...; Content-Length aside) and body. */
export interface ErrorAnswer {
  status: number;
  headers: string[];
  body: string;
}

/**
 * The answer to `error` on a route with `format` for the request path
 * `path`: what sendError sends through Fastify and what the fast paths
 * (http/fast-paths.ts) write themselves, so that both send the same bytes.
 * The content type carries the charset Fastify would add to a JSON type.
 */
export function errorAnswer(error: ErrorFacts, format: ErrorFormat, path: string): ErrorAnswer {
  const { extras } = error;
  const status = errorStatus(error.code);
  const headers: string[] = [];
  if (extras.allow !== undefined) headers.push('allow', extras.allow.join(', '));
  if (extras.retryAfterSeconds !== undefined) headers.push('retry-after', String(extras.retryAfterSeconds));
  if (error.code === 'unauthorized') headers.push('www-authenticate', 'Bearer');
  if (format === 'seed') {
    headers.push('content-type', 'application/json; charset=utf-8');
    return { status, headers, body: JSON.stringify({ status: 'error', message: error.message }) };
  }
  headers.push('content-type', 'application/problem+json; charset=utf-8');
  return { status, headers, body: JSON.stringify(problemDocument(error, path)) };
}

/** The 500 of an error that is not a KvError (a bug), once logged. */
export const INTERNAL_ERROR = new KvError('internal', 'an internal error occurred; it has been logged');

/** The RFC 9457 body of an error: its extras are members, but for those sent as headers (Allow, Retry-After). */
function problemDocument(error: ErrorFacts, instance: string | undefined): Record<string, unknown> {
  const document: Record<string, unknown> = {
    type: 'about:blank',
    status: errorStatus(error.code),
    title: errorTitle(error.code),
    code: error.code,
    detail: error.message,
  };
  if (instance !== undefined) document.instance = instance;
  const extras = error.extras as Record<string, unknown>;
  for (const name in extras) if (name !== 'allow' && name !== 'retryAfterSeconds') document[name] = extras[name];
  return document;
}

/**
 * Answers a request outside Fastify (before routing) with a problem document
 * and closes the connection: for the few cases Node would otherwise answer
 * itself with an empty body.
 */
export function writeProblem(response: ServerResponse, error: KvError): void {
  const body = JSON.stringify(problemDocument({ code: error.code, message: error.message, extras: {} }, undefined));
  response.writeHead(error.status, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body), connection: 'close' });
  response.end(body);
}

/**
 * Answers requests Node's HTTP parser rejects before Fastify sees them (headers
 * too large, malformed requests, timeouts) with problem+json too, then closes
 * the connection, whose state is unknown.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  // A request before the bad one, received whole, may still be answering (a
  // write waiting for its sync, pipelined ahead): its answer comes first, or
  // its client would read our 400 as the answer to a write that was applied.
  // An error in the body of the request being answered is answered at once.
  const pending = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (pending != null && !pending.writableFinished) {
    if (pending.req.complete) {
      pending.once('finish', () => clientErrorHandler(error, socket));
      pending.once('close', () => {
        if (!pending.writableFinished) socket.destroy();
      });
      return;
    }
    // A response already under way must not get another written into its body: just close.
    if (pending.headersSent) {
      socket.destroy();
      return;
    }
  }
  const kvError =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new KvError('header_too_large', 'the request headers are too large')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new KvError('request_timeout', 'the request took too long to arrive')
        : new KvError('invalid_request', 'the request is not valid HTTP/1.1');
  const body = JSON.stringify(problemDocument({ code: kvError.code, message: kvError.message, extras: {} }, undefined));
  socket.end(
    `HTTP/1.1 ${kvError.status} ${kvError.title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function errorFormatOf(request: FastifyRequest): ErrorFormat {
  return request.routeOptions?.config?.errorFormat ?? (SEED_PATHS.has(pathOf(request.url)) ? 'seed' : 'problem');
}

export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
