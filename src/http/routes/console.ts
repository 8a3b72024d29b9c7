import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { PUBLIC } from '../../auth/access.js';
import { KvError } from '../../core/errors.js';
import type { HttpDeps } from '../deps.js';
import { CONSOLE_CSS, CONSOLE_FAVICON, consoleHtml } from '../console-assets/page.js';
import { sendStaticAsset, staticAsset, type StaticAsset } from '../static-assets.js';
import { ASSET_HEADERS, ASSET_IF_NONE_MATCH, described, fields, headerRef, headers, operation, type OperationSpec } from '../openapi/operation.js';

/**
 * The import map of the console's page: the SDK imports the bare specifier
 * 'eventsource-parser', which a browser resolves only through it. Relative, so
 * that the console works under a proxy's path too. Its exact text is hashed
 * into the Content-Security-Policy: the only inline script the page may run.
 */
export const CONSOLE_IMPORT_MAP = JSON.stringify({ imports: { 'eventsource-parser': './console/vendor/eventsource-parser.js' } });

export const CONSOLE_IMPORT_MAP_HASH = `sha256-${createHash('sha256').update(CONSOLE_IMPORT_MAP, 'utf8').digest('base64')}`;

/**
 * What the console may do: run its own modules and the hashed import map (no
 * other inline script, no eval), style itself from its own sheet, talk to this
 * server only, and show images from blob: URLs (a value stored as image/png is
 * previewed from its bytes). `require-trusted-types-for 'script'` with no
 * policy makes every HTML-from-text sink (innerHTML, document.write, eval)
 * throw, so keys and values cannot be turned into markup even by a bug.
 * No framing (clickjacking), no forms posted, no <base>.
 */
export const CONSOLE_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src 'self' '${CONSOLE_IMPORT_MAP_HASH}'`,
  "style-src 'self'",
  "img-src 'self' blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

/** Headers of every console response, errors included (build-server.ts gives them to the error handlers). */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const JAVASCRIPT = 'text/javascript; charset=utf-8';

/** The directories of dist/src whose compiled modules the console loads: the SDK and the console itself. */
export const CONSOLE_MODULE_DIRECTORIES = ['client', 'web'] as const;

/** The page's entry module. */
export const CONSOLE_ENTRY = 'web/app.js';

/** The compiled source tree (dist/src) this module belongs to. */
const SOURCE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface ConsoleAssets {
  /** Null when the console's modules are not built. */
  page: StaticAsset | null;
  /** By `dir/file`, exactly as /console/{dir}/{file} names them: the URL only picks a name, never a path. */
  assets: Map<string, StaticAsset>;
  /** The modules the page preloads: the graph of its entry. */
  preloads: string[];
}

/** Loaded once per process (tests start many servers), at the first server's start. */
let loaded: ConsoleAssets | null = null;

/**
 * The allowlist, built at start-up: every compiled module of dist/src/client
 * and dist/src/web (a plain name ending in .js), eventsource-parser's ES
 * module (the SDK's one dependency), the style sheet and the icon. Source map
 * comments are dropped: the package ships no maps.
 */
export function loadConsoleAssets(): ConsoleAssets {
  if (loaded !== null) return loaded;
  const assets = new Map<string, StaticAsset>();
  for (const directory of CONSOLE_MODULE_DIRECTORIES) {
    for (const name of filesOf(join(SOURCE_ROOT, directory))) {
      if (!/^[a-z0-9][a-z0-9-]*\.js$/.test(name)) continue;
      assets.set(`${directory}/${name}`, staticAsset(JAVASCRIPT, withoutSourceMap(readFileSync(join(SOURCE_ROOT, directory, name)))));
    }
  }
  assets.set('vendor/eventsource-parser.js', staticAsset(JAVASCRIPT, withoutSourceMap(readFileSync(eventsourceParserModule()))));
  assets.set('web/console.css', staticAsset('text/css; charset=utf-8', Buffer.from(CONSOLE_CSS, 'utf8')));
  assets.set('web/favicon.svg', staticAsset('image/svg+xml', Buffer.from(CONSOLE_FAVICON, 'utf8')));
  const preloads = moduleGraph(CONSOLE_ENTRY, assets).filter((name) => name !== CONSOLE_ENTRY);
  const html = consoleHtml(
    CONSOLE_IMPORT_MAP,
    `console/${CONSOLE_ENTRY}`,
    preloads.map((name) => `console/${name}`),
  );
  // A kvs built without its console (a partial build) still serves data; GET / then says what is missing.
  const page = assets.has(CONSOLE_ENTRY) ? staticAsset('text/html; charset=utf-8', Buffer.from(html, 'utf8')) : null;
  loaded = { page, assets, preloads };
  return loaded;
}

/** The names in `directory`, sorted; none when it does not exist. */
function filesOf(directory: string): string[] {
  try {
    return readdirSync(directory).sort();
  } catch {
    return [];
  }
}

/** The ES module file of eventsource-parser (its package's `exports` "import" condition). */
function eventsourceParserModule(): string {
  const manifestPath = createRequire(import.meta.url).resolve('eventsource-parser/package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { exports?: { '.'?: { import?: string } }; module?: string };
  const file = manifest.exports?.['.']?.import ?? manifest.module;
  if (typeof file !== 'string') throw new Error('eventsource-parser has no ES module entry');
  return join(dirname(manifestPath), file);
}

function withoutSourceMap(body: Buffer): Buffer {
  return Buffer.from(body.toString('utf8').replace(/\n\/\/# sourceMappingURL=[^\n]*\s*$/, '\n'), 'utf8');
}

/**
 * The modules `entry` imports, directly or not (relative specifiers and the
 * import map's), in the order found: what the page preloads so that the
 * browser fetches them at once rather than level by level. Only an
 * optimisation: a module this misses is still loaded when imported.
 */
function moduleGraph(entry: string, assets: Map<string, StaticAsset>): string[] {
  const seen = new Set<string>([entry]);
  const queue = [entry];
  while (queue.length > 0) {
    const name = queue.shift()!;
    const text = assets.get(name)?.body.toString('utf8') ?? '';
    for (const match of text.matchAll(/(?:^|[\s;])(?:import|export)\s[^;'"]*?from\s*(['"])([^'"]+)\1|(?:^|[\s;])import\s*(['"])([^'"]+)\3/gm)) {
      const specifier = match[2] ?? match[4];
      if (specifier === undefined) continue;
      const target =
        specifier === 'eventsource-parser' ? 'vendor/eventsource-parser.js' : new URL(specifier, `https://console.invalid/${name}`).pathname.slice(1);
      if (!assets.has(target) || seen.has(target)) continue;
      seen.add(target);
      queue.push(target);
    }
  }
  return [...seen];
}

/**
 * `GET /`: the web console, on the SDK, served entirely by kvs (no CDN).
 * Public, like /docs: the page and its modules reveal nothing; every request
 * for data is the SDK's, with the token the user gives the page.
 */
export async function consoleRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { page, assets } = loadConsoleAssets();

  app.get('/', { schema: operation(CONSOLE_PAGE_OPERATION, deps.limits), config: { access: PUBLIC } }, (request, reply) => {
    if (page === null) throw new KvError('not_found', `this kvs was built without its web console (no ${CONSOLE_ENTRY} in ${SOURCE_ROOT}): run npm run build`);
    return sendStaticAsset(request, reply, page, CONSOLE_SECURITY_HEADERS);
  });

  app.get('/console/:dir/:file', { schema: operation(CONSOLE_ASSET_OPERATION, deps.limits), config: { access: PUBLIC } }, (request, reply) => {
    const { dir, file } = request.params as { dir: string; file: string };
    const name = `${dir}/${file}`;
    const asset = assets.get(name);
    if (asset === undefined) throw new KvError('not_found', `the console has no file ${JSON.stringify(name.slice(0, 100))}`);
    return sendStaticAsset(request, reply, asset, CONSOLE_SECURITY_HEADERS);
  });
}

/** Headers of every console response, as the document names them. */
const CONSOLE_HEADERS = { 'Content-Security-Policy': headerRef('ConsoleContentSecurityPolicy'), ...headers('X-Content-Type-Options', 'Referrer-Policy') };

const CONSOLE_PAGE_OPERATION: OperationSpec = {
  operationId: 'console',
  tag: 'Console',
  summary: 'The web console: browse, edit and watch the store in a browser',
  description:
    "Served entirely by kvs (no CDN), built on the SDK (`kvs/client`). The page and its files need no token; when the server does, the page asks for one, keeps it in the tab's session storage, and sends it with every request for data, to this server only.",
  access: 'public',
  headers: fields({ 'If-None-Match': ASSET_IF_NONE_MATCH }),
  responses: {
    200: { description: 'The page.', headers: { ...ASSET_HEADERS, ...CONSOLE_HEADERS }, content: { 'text/html': { schema: { type: 'string' } } } },
    304: { description: "The client's copy is current.", headers: ASSET_HEADERS },
  },
};

const CONSOLE_ASSET_OPERATION: OperationSpec = {
  operationId: 'consoleAsset',
  tag: 'Console',
  summary: 'A file of the web console',
  description:
    "The console's compiled modules, its style sheet and icon (`web`), the SDK's modules (`client`) and eventsource-parser's ES module (`vendor`): only the files kvs listed at start-up.",
  access: 'public',
  params: fields(
    {
      dir: described('Which part of the console.', { type: 'string', enum: [...CONSOLE_MODULE_DIRECTORIES, 'vendor'] }),
      file: described('A file of it, e.g. `app.js`.'),
    },
    ['dir', 'file'],
  ),
  headers: fields({
    'If-None-Match': ASSET_IF_NONE_MATCH,
    'Accept-Encoding': described('With `gzip`, scripts, styles and the icon are sent gzip-compressed.'),
  }),
  responses: {
    200: {
      description: 'The file.',
      headers: { ...ASSET_HEADERS, ...headers('Vary', 'Content-Encoding'), ...CONSOLE_HEADERS },
      content: Object.fromEntries(['text/javascript', 'text/css', 'image/svg+xml'].map((type) => [type, { schema: { type: 'string', format: 'binary' } }])),
    },
    304: { description: "The client's copy is current.", headers: ASSET_HEADERS },
  },
  failures: { not_found: 'No such file.' },
};
