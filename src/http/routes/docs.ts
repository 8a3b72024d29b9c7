import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PUBLIC } from '../../auth/access.js';
import { KvError } from '../../core/errors.js';
import type { HttpDeps } from '../deps.js';
import { DOCS_INIT_SCRIPT } from '../docs-assets/init.js';
import { DOCS_CSS, DOCS_HTML } from '../docs-assets/page.js';

/**
 * What the page may load: its own files only (no CDN; it works offline), no
 * inline script, no eval, no inline style. Swagger UI needs two exceptions,
 * both found in Chromium (test/e2e/docs.test.ts fails on any violation):
 * - img-src data: its style sheet draws its icons as data: SVGs;
 * - img-src blob: it shows an image a "Try it out" response returned (a
 *   value stored as image/png) from a blob: URL.
 * It sets styles through the DOM (which CSP allows), never as inline markup,
 * so style-src needs no 'unsafe-inline'.
 */
export const DOCS_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers of every /docs response. */
const SECURITY_HEADERS = {
  'content-security-policy': DOCS_CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Where an asset's bytes come from: a file of swagger-ui-dist, or text kvs holds. */
type Source = { file: string } | { text: string };

/** The files /docs/assets/{file} serves: this list only; the URL only picks a name of it, it never names a path. */
export const DOCS_ASSETS: ReadonlyArray<{ name: string; type: string; source: Source }> = [
  { name: 'swagger-ui.css', type: 'text/css; charset=utf-8', source: { file: 'swagger-ui.css' } },
  { name: 'swagger-ui-bundle.js', type: 'text/javascript; charset=utf-8', source: { file: 'swagger-ui-bundle.js' } },
  { name: 'favicon-32x32.png', type: 'image/png', source: { file: 'favicon-32x32.png' } },
  { name: 'favicon-16x16.png', type: 'image/png', source: { file: 'favicon-16x16.png' } },
  { name: 'init.js', type: 'text/javascript; charset=utf-8', source: { text: DOCS_INIT_SCRIPT } },
  { name: 'docs.css', type: 'text/css; charset=utf-8', source: { text: DOCS_CSS } },
];

interface LoadedAsset {
  type: string;
  body: Buffer;
  etag: string;
  /** Text (scripts, styles) is worth compressing; PNGs are compressed already. */
  compressible: boolean;
  gzipped: Promise<{ body: Buffer; etag: string }> | null;
}

const gzipAsync = promisify(gzip);

/** Loaded once per process (tests start many servers), at the first server's start. */
let loaded: { page: LoadedAsset; assets: Map<string, LoadedAsset> } | null = null;

function loadAssets(): { page: LoadedAsset; assets: Map<string, LoadedAsset> } {
  if (loaded !== null) return loaded;
  const directory = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const asset = (type: string, body: Buffer): LoadedAsset => ({ type, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`, compressible: !type.startsWith('image/'), gzipped: null });
  const assets = new Map<string, LoadedAsset>();
  for (const { name, type, source } of DOCS_ASSETS) {
    assets.set(name, asset(type, 'file' in source ? readFileSync(join(directory, source.file)) : Buffer.from(source.text, 'utf8')));
  }
  loaded = { page: asset('text/html; charset=utf-8', Buffer.from(DOCS_HTML, 'utf8')), assets };
  return loaded;
}

/**
 * `GET /docs`: the API reference, Swagger UI rendering /v1/openapi.json,
 * served entirely by kvs. Public: the page and its files reveal nothing; the
 * document itself needs a token when tokens are configured, which the page
 * asks for.
 */
export async function docsRoutes(app: FastifyInstance, _deps: HttpDeps): Promise<void> {
  const { page, assets } = loadAssets();

  app.get('/docs', { config: { access: PUBLIC } }, (request, reply) => sendAsset(request, reply, page));

  app.get('/docs/assets/:file', { config: { access: PUBLIC } }, (request, reply) => {
    const name = (request.params as { file: string }).file;
    const asset = assets.get(name);
    if (asset === undefined) throw new KvError('not_found', `the reference page has no file ${JSON.stringify(name.slice(0, 100))}`);
    return sendAsset(request, reply, asset);
  });
}

async function sendAsset(request: FastifyRequest, reply: FastifyReply, asset: LoadedAsset): Promise<FastifyReply> {
  const compressed = asset.compressible && acceptsGzip(request.headers['accept-encoding']);
  const variant = compressed ? await gzipped(asset) : asset;
  // no-cache: revalidated on every use, so an upgraded kvs is seen at once; the answer is usually a 304 without a body.
  reply.headers({ ...SECURITY_HEADERS, etag: variant.etag, 'cache-control': 'no-cache' });
  if (asset.compressible) reply.header('vary', 'accept-encoding');
  if (ifNoneMatchHits(request.headers['if-none-match'], variant.etag)) return reply.code(304).send();
  reply.type(asset.type);
  if (compressed) reply.header('content-encoding', 'gzip');
  return reply.send(variant.body);
}

function gzipped(asset: LoadedAsset): Promise<{ body: Buffer; etag: string }> {
  asset.gzipped ??= gzipAsync(asset.body, { level: 9 }).then((body) => ({ body, etag: `${asset.etag.slice(0, -1)}-gzip"` }));
  return asset.gzipped;
}

/** Whether `Accept-Encoding` takes gzip (named, with no `q=0`). */
function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((element) => {
    const [coding, ...parameters] = element.split(';').map((part) => part.trim().toLowerCase());
    if (coding !== 'gzip') return false;
    const quality = parameters.find((parameter) => parameter.startsWith('q='));
    return quality === undefined || Number(quality.slice(2)) > 0;
  });
}

/** `If-None-Match` (weak comparison, RFC 9110 §13.1.2): `*`, or a list naming `etag`. Malformed lists simply do not match. */
function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
