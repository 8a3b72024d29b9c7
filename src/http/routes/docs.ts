import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { PUBLIC } from '../../auth/access.js';
import { KvError } from '../../core/errors.js';
import type { HttpDeps } from '../deps.js';
import { DOCS_INIT_SCRIPT } from '../docs-assets/init.js';
import { DOCS_CSS, DOCS_HTML } from '../docs-assets/page.js';
import { sendStaticAsset, staticAsset, type StaticAsset } from '../static-assets.js';
import { ASSET_HEADERS, ASSET_IF_NONE_MATCH, described, fields, headers, operation, type OperationSpec } from '../openapi/operation.js';

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

/** Headers of every /docs response, errors included (build-server.ts gives them to the error handlers). */
export const DOCS_SECURITY_HEADERS: Readonly<Record<string, string>> = {
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

/** Loaded once per process (tests start many servers), at the first server's start. */
let loaded: { page: StaticAsset; assets: Map<string, StaticAsset> } | null = null;

function loadAssets(): { page: StaticAsset; assets: Map<string, StaticAsset> } {
  if (loaded !== null) return loaded;
  const directory = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const assets = new Map<string, StaticAsset>();
  for (const { name, type, source } of DOCS_ASSETS) {
    assets.set(name, staticAsset(type, 'file' in source ? readFileSync(join(directory, source.file)) : Buffer.from(source.text, 'utf8')));
  }
  loaded = { page: staticAsset('text/html; charset=utf-8', Buffer.from(DOCS_HTML, 'utf8')), assets };
  return loaded;
}

/**
 * `GET /docs`: the API reference, Swagger UI rendering /v1/openapi.json,
 * served entirely by kvs. Public: the page and its files reveal nothing; the
 * document itself needs a token when tokens are configured, which the page
 * asks for.
 */
export async function docsRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { page, assets } = loadAssets();

  app.get('/docs', { schema: operation(DOCS_PAGE_OPERATION, deps.limits), config: { access: PUBLIC } }, (request, reply) =>
    sendStaticAsset(request, reply, page, DOCS_SECURITY_HEADERS),
  );

  // The page's files are relative to /docs (so that it works under a proxy's path prefix too): at /docs/ they would
  // not be found. A redirect to the page, relative for the same reason, with the query kept.
  app.get('/docs/', { schema: operation(DOCS_SLASH_OPERATION, deps.limits), config: { access: PUBLIC } }, (request, reply) => {
    const query = request.url.indexOf('?');
    return reply.redirect(`../docs${query === -1 ? '' : request.url.slice(query)}`, 308);
  });

  app.get('/docs/assets/:file', { schema: operation(DOCS_ASSET_OPERATION, deps.limits), config: { access: PUBLIC } }, (request, reply) => {
    const name = (request.params as { file: string }).file;
    const asset = assets.get(name);
    if (asset === undefined) throw new KvError('not_found', `the reference page has no file ${JSON.stringify(name.slice(0, 100))}`);
    return sendStaticAsset(request, reply, asset, DOCS_SECURITY_HEADERS);
  });
}

const DOCS_PAGE_OPERATION: OperationSpec = {
  operationId: 'docs',
  tag: 'Reference',
  summary: 'This reference as a page (Swagger UI, served by kvs itself)',
  description: "Needs no token; it asks for one when `/v1/openapi.json` does, and keeps it in the tab's session storage.",
  access: 'public',
  headers: fields({ 'If-None-Match': ASSET_IF_NONE_MATCH }),
  responses: {
    200: {
      description: 'The page.',
      headers: { ...ASSET_HEADERS, ...headers('Content-Security-Policy', 'X-Content-Type-Options', 'Referrer-Policy') },
      content: { 'text/html': { schema: { type: 'string' } } },
    },
    304: { description: "The client's copy is current.", headers: ASSET_HEADERS },
  },
};

const DOCS_SLASH_OPERATION: OperationSpec = {
  operationId: 'docsSlash',
  tag: 'Reference',
  summary: "The reference page's address with a trailing slash: a redirect to `/docs`",
  description: "The page's files are relative to `/docs`; this path only sends the browser there, query kept.",
  access: 'public',
  responses: { 308: { description: 'To the page.', headers: headers('Location') } },
};

const DOCS_ASSET_OPERATION: OperationSpec = {
  operationId: 'docsAsset',
  tag: 'Reference',
  summary: 'A file of the reference page',
  description: "Swagger UI's own files (from the `swagger-ui-dist` package) and the page's script and style: only these names.",
  access: 'public',
  params: fields({ file: described("One of the page's files.", { type: 'string', enum: DOCS_ASSETS.map((asset) => asset.name) }) }, ['file']),
  headers: fields({ 'If-None-Match': ASSET_IF_NONE_MATCH, 'Accept-Encoding': described('With `gzip`, scripts and styles are sent gzip-compressed.') }),
  responses: {
    200: {
      description: 'The file.',
      headers: { ...ASSET_HEADERS, ...headers('Vary', 'Content-Encoding') },
      content: Object.fromEntries(
        [...new Set(DOCS_ASSETS.map((asset) => asset.type.split(';')[0]!))].map((type) => [type, { schema: { type: 'string', format: 'binary' } }]),
      ),
    },
    304: { description: "The client's copy is current.", headers: ASSET_HEADERS },
  },
  failures: { not_found: 'No such file.' },
};
