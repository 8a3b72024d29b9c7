import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Files the pages kvs serves (the web console, the API reference) hold in memory: the bytes,
 * a strong ETag from their SHA-256, and a gzip copy made on first request.
 * Answers revalidate on every use (`Cache-Control: no-cache`), usually with a
 * 304 and no body, so that an upgraded kvs is seen at once.
 */
export interface StaticAsset {
  type: string;
  body: Buffer;
  etag: string;
  /** Text (scripts, styles, SVG) is worth compressing; PNGs are compressed already. */
  compressible: boolean;
  gzipped: Promise<{ body: Buffer; etag: string }> | null;
}

const gzipAsync = promisify(gzip);

export function staticAsset(type: string, body: Buffer): StaticAsset {
  const compressible = !type.startsWith('image/') || type.startsWith('image/svg+xml');
  return { type, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`, compressible, gzipped: null };
}

/** Sends `asset` with `headers` (the page's security headers), gzip-compressed when the client takes it, or 304. */
export async function sendStaticAsset(
  request: FastifyRequest,
  reply: FastifyReply,
  asset: StaticAsset,
  headers: Record<string, string>,
): Promise<FastifyReply> {
  const compressed = asset.compressible && acceptsGzip(request.headers['accept-encoding']);
  const variant = compressed ? await gzipped(asset) : asset;
  reply.headers({ ...headers, etag: variant.etag, 'cache-control': 'no-cache' });
  if (asset.compressible) reply.header('vary', 'accept-encoding');
  if (ifNoneMatchHits(request.headers['if-none-match'], variant.etag)) return reply.code(304).send();
  reply.type(asset.type);
  if (compressed) reply.header('content-encoding', 'gzip');
  return reply.send(variant.body);
}

function gzipped(asset: StaticAsset): Promise<{ body: Buffer; etag: string }> {
  asset.gzipped ??= gzipAsync(asset.body, { level: 9 }).then((body) => ({ body, etag: `${asset.etag.slice(0, -1)}-gzip"` }));
  return asset.gzipped;
}

/** Whether `Accept-Encoding` takes gzip (named, with no `q=0`). */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((element) => {
    const [coding, ...parameters] = element.split(';').map((part) => part.trim().toLowerCase());
    if (coding !== 'gzip') return false;
    const quality = parameters.find((parameter) => parameter.startsWith('q='));
    return quality === undefined || Number(quality.slice(2)) > 0;
  });
}

/** `If-None-Match` (weak comparison, RFC 9110 §13.1.2): `*`, or a list naming `etag`. Malformed lists simply do not match. */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
