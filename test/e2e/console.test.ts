import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { get } from 'node:http';
import { deflateSync, gunzipSync } from 'node:zlib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { pino } from 'pino';
import { tokenEntry, TokenRegistry } from '../../src/auth/tokens.js';
import { DEFAULT_LIMITS } from '../../src/core/limits.js';
import { LmdbEngine } from '../../src/engine/lmdb/lmdb-engine.js';
import { buildServer } from '../../src/http/build-server.js';
import { servedEngine, STORE_FILE_NAME } from '../../src/main.js';
import { VERSION } from '../../src/version.js';
import { CONSOLE_CONTENT_SECURITY_POLICY, CONSOLE_IMPORT_MAP, CONSOLE_IMPORT_MAP_HASH, loadConsoleAssets } from '../../src/http/routes/console.js';
import { encodeKey, expectProblem, putValue, request } from '../helpers/http.js';
import { startTestServer, tempDirectory, useTestServer, type TestServer } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

/**
 * The web console at `/` (issue 13): first over plain HTTP (headers, the
 * asset allowlist, the import map's hash), then in a real Chromium (Debian's
 * /usr/bin/chromium; playwright never downloads a browser here), against
 * real kvs servers: browsing, filtering, viewing each kind of value, creating,
 * editing with If-Match, conflicts, deleting keys and folders, live updates
 * (and their resume after a dropped connection), tokens, stored XSS, and a
 * folder of 100,000 keys. Every page records console errors, uncaught
 * exceptions, CSP violations, dialogs and requests beyond the server: none
 * may happen but the failed requests a test provokes on purpose (Chromium
 * logs a 4xx answer to fetch as an error).
 *
 * The run saves a screenshot of the console to docs/images/console.png (the
 * README shows it); other screenshots go to a temporary directory, or to
 * KVS_E2E_SCREENSHOTS when it names one.
 */

const CHROMIUM = '/usr/bin/chromium';
const noChromium = existsSync(CHROMIUM) ? false : `needs Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`;
const REPOSITORY = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const README_SCREENSHOT = join(REPOSITORY, 'docs', 'images', 'console.png');
const SOURCE_ROOT = join(REPOSITORY, 'dist', 'src');
const TIMEOUT_MS = 15_000;

const ADMIN_TOKEN = 'console-admin-secret-0123456789';
const TOKENS: Record<string, { token: string; grants: Array<{ prefix: string; actions: Array<'read' | 'write' | 'watch'> }> }> = {
  reader: { token: 'console-reader-secret-0123456789', grants: [{ prefix: '', actions: ['read', 'watch'] }] },
  appReader: { token: 'console-app-reader-secret-0123456789', grants: [{ prefix: 'app/', actions: ['read', 'watch'] }] },
  appWriter: { token: 'console-app-writer-secret-0123456789', grants: [{ prefix: 'app/', actions: ['read', 'write', 'watch'] }] },
  appAndUsers: {
    token: 'console-app-and-users-secret-0123456789',
    grants: [
      { prefix: 'app/', actions: ['read', 'watch'] },
      { prefix: 'users/', actions: ['read'] },
      { prefix: 'users/alice', actions: ['read', 'write'] },
    ],
  },
};

describe('the console over HTTP', () => {
  const server = useTestServer();

  it('GET / is the page, with a strict CSP (no inline script but the hashed import map, no eval), nosniff and no referrer', async () => {
    const response = await request(`${server.url}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.equal(csp, CONSOLE_CONTENT_SECURITY_POLICY);
    const directives = new Map(
      csp
        .split(';')
        .map((directive) => directive.trim().split(/\s+/))
        .map(([name, ...values]) => [name!, values]),
    );
    assert.deepEqual(directives.get('default-src'), ["'none'"]);
    assert.deepEqual(directives.get('script-src'), ["'self'", `'${CONSOLE_IMPORT_MAP_HASH}'`]);
    assert.deepEqual(directives.get('style-src'), ["'self'"]);
    assert.deepEqual(directives.get('connect-src'), ["'self'"]);
    assert.deepEqual(directives.get('frame-ancestors'), ["'none'"]);
    assert.deepEqual(directives.get('require-trusted-types-for'), ["'script'"]);
    assert.ok(!csp.includes('unsafe-eval') && !csp.includes('unsafe-inline') && !csp.includes('*'), csp);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer');

    const html = response.text;
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    const inline = scripts.filter(([, , body]) => body !== '');
    assert.equal(inline.length, 1, 'one inline script: the import map');
    assert.match(inline[0]![1]!, /^\s*type="importmap"\s*$/);
    assert.equal(inline[0]![2], CONSOLE_IMPORT_MAP);
    // The hash in the CSP is that of the exact text the page carries.
    assert.equal(`sha256-${createHash('sha256').update(inline[0]![2]!).digest('base64')}`, CONSOLE_IMPORT_MAP_HASH);
    assert.deepEqual(JSON.parse(CONSOLE_IMPORT_MAP), { imports: { 'eventsource-parser': './console/vendor/eventsource-parser.js' } });
    for (const [, attributes, body] of scripts.filter(([, , body]) => body === '')) {
      assert.match(attributes!, /^ type="module" src="console\/web\/app\.js"$/);
      assert.equal(body, '');
    }
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'no inline event handler');
    assert.doesNotMatch(html, /<style\b|\sstyle\s*=/i, 'no inline style');
    assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org)/, 'nothing from elsewhere');
    // Every module of the entry's graph is preloaded, from the allowlist.
    const preloads = [...html.matchAll(/<link rel="modulepreload" href="console\/([^"]+)">/g)].map((match) => match[1]!);
    assert.ok(
      preloads.includes('client/index.js') && preloads.includes('vendor/eventsource-parser.js') && preloads.includes('web/tree.js'),
      preloads.join(' '),
    );
  });

  it("serves the allowlisted files (the compiled SDK and console, eventsource-parser's ES module, style, icon) as they are, with the same headers", async () => {
    const { assets } = loadConsoleAssets();
    const names = [...assets.keys()];
    for (const needed of [
      'web/app.js',
      'web/tree.js',
      'client/index.js',
      'client/watch.js',
      'vendor/eventsource-parser.js',
      'web/console.css',
      'web/favicon.svg',
    ])
      assert.ok(names.includes(needed), `${needed} is served`);
    const parser = join(dirname(createRequire(import.meta.url).resolve('eventsource-parser/package.json')), 'dist', 'index.js');
    for (const name of names) {
      const response = await fetch(`${server.url}/console/${name}`, { headers: { 'accept-encoding': 'identity' } });
      assert.equal(response.status, 200, name);
      const type = response.headers.get('content-type') ?? '';
      if (name.endsWith('.js')) assert.equal(type, 'text/javascript; charset=utf-8', name);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', name);
      assert.equal(response.headers.get('content-security-policy'), CONSOLE_CONTENT_SECURITY_POLICY, name);
      assert.equal(response.headers.get('cache-control'), 'no-cache', name);
      const body = Buffer.from(await response.arrayBuffer()).toString('utf8');
      if (name.endsWith('.js')) {
        const source = name.startsWith('vendor/') ? parser : join(SOURCE_ROOT, name);
        assert.equal(body, readFileSync(source, 'utf8').replace(/\n\/\/# sourceMappingURL=[^\n]*\s*$/, '\n'), `${name} is the built file`);
        assert.doesNotMatch(body, /sourceMappingURL/);
      }
      const revalidated = await fetch(`${server.url}/console/${name}`, {
        headers: { 'accept-encoding': 'identity', 'if-none-match': response.headers.get('etag')! },
      });
      assert.equal(revalidated.status, 304, name);
    }
    // Compressed on request (fetch would decompress it: the bytes as sent).
    const compressed = await new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
      get(`${server.url}/console/web/app.js`, { headers: { 'accept-encoding': 'gzip' } }, (message) => {
        const chunks: Buffer[] = [];
        message.on('data', (chunk: Buffer) => chunks.push(chunk));
        message.on('end', () => resolve({ encoding: message.headers['content-encoding'], body: Buffer.concat(chunks) }));
      }).on('error', reject);
    });
    assert.equal(compressed.encoding, 'gzip');
    assert.ok(gunzipSync(compressed.body).equals(assets.get('web/app.js')!.body));
  });

  it("serves no other file: sources, maps, declarations, other packages' files and traversals are 404 not_found", async () => {
    // Every answer under /console/ is the console's origin: errors carry its CSP and nosniff too.
    const secured = (response: { headers: Headers }, what: string) => {
      assert.equal(response.headers.get('content-security-policy'), CONSOLE_CONTENT_SECURITY_POLICY, what);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', what);
    };
    for (const path of [
      'web/app.ts',
      'web/app.js.map',
      'web/app.d.ts',
      'client/index.d.ts',
      'web/tsconfig.json',
      'vendor/index.cjs',
      'vendor/package.json',
      'http/build-server.js',
      'web/..%2Fclient%2Findex.js',
      '..%2F..%2Fpackage.json/x',
      'web/%2E%2E%2F%2E%2E%2Fpackage.json',
      'WEB/APP.JS',
      'web/constructor',
      '__proto__/x',
    ]) {
      const response = await request(`${server.url}/console/${path}`);
      expectProblem(response, 404, 'not_found');
      secured(response, path);
    }
    // (fetch resolves the dots: this asks for /package.json, outside the console.)
    assert.equal((await request(`${server.url}/console/web/../../package.json`)).status, 404);
    const noFile = await request(`${server.url}/console/web`);
    assert.equal(noFile.status, 404);
    secured(noFile, '/console/web');
    const wrongMethod = await request(`${server.url}/`, { method: 'POST' });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'GET, HEAD');
    secured(wrongMethod, 'POST /');
  });

  it('needs no token even when tokens are configured (the data it shows does)', async () => {
    const guarded = await startTestServer({ access: { tokens: TokenRegistry.load({ adminToken: ADMIN_TOKEN }), protectedMode: true, rateLimit: null } });
    try {
      assert.equal((await request(`${guarded.url}/`)).status, 200);
      assert.equal((await fetch(`${guarded.url}/console/web/app.js`)).status, 200);
      assert.equal((await request(`${guarded.url}/v1/kv`)).status, 401);
    } finally {
      await guarded.close();
    }
  });
});

/** A failed request Chromium logs as a console error that a test provokes on purpose. */
type Expected = { status: number | string; path: RegExp };

interface Opened {
  context: BrowserContext;
  page: Page;
  /** Console errors, uncaught exceptions, dialogs (alert() would be XSS), requests beyond the server. */
  problems(expected?: Expected[]): Promise<string[]>;
}

describe('the console in Chromium', { skip: noChromium }, () => {
  let browser: Browser;
  let server: TestServer;
  const screenshots = process.env['KVS_E2E_SCREENSHOTS'] ?? tempDirectory('kvs-console-e2e-');

  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM });
    server = await startTestServer();
    await seed(server.url);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    if (process.env['KVS_E2E_SCREENSHOTS'] === undefined) rmSync(screenshots, { recursive: true, force: true });
  });

  /** A fresh context (its own sessionStorage) on `url`'s console, recording everything that must not happen. */
  async function openConsole(url: string, options: { path?: string; viewport?: { width: number; height: number } } = {}): Promise<Opened> {
    const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 860 }, acceptDownloads: true });
    const errors: Array<{ text: string; url: string }> = [];
    const outside: string[] = [];
    const origin = new URL(url).origin;
    await context.route('**/*', (route) => {
      const target = new URL(route.request().url());
      if (target.origin === origin || target.protocol === 'blob:' || target.protocol === 'data:') return route.continue();
      outside.push(target.href);
      return route.abort();
    });
    // (Browser code as text: the tests are type-checked without the DOM's types.)
    await context.addInitScript({
      // And a heartbeat: the longest the main thread went without running a 20 ms timer (script and layout alike).
      content: `window.kvsViolations = []; document.addEventListener('securitypolicyviolation', (event) => window.kvsViolations.push(event.violatedDirective + ' ' + event.blockedURI));
        window.kvsBlocked = { max: 0, last: performance.now() };
        setInterval(() => { const now = performance.now(); window.kvsBlocked.max = Math.max(window.kvsBlocked.max, now - window.kvsBlocked.last); window.kvsBlocked.last = now; }, 20);`,
    });
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning')
        errors.push({ text: `${message.type()}: ${message.text()}`, url: message.location().url });
    });
    page.on('pageerror', (error) => errors.push({ text: `uncaught: ${error.message}`, url: '' }));
    page.on('dialog', (dialog) => {
      errors.push({ text: `a ${dialog.type()} dialog: ${dialog.message()}`, url: '' });
      void dialog.dismiss();
    });
    await page.goto(`${url}${options.path ?? '/'}`);
    return {
      context,
      page,
      async problems(expected = []) {
        const violations = await page.evaluate<string[]>('window.kvsViolations').catch(() => []);
        const unexpected = errors.filter(({ text, url: at }) => {
          const failed = /Failed to load resource: (?:the server responded with a status of (\d+)|net::(\S+))/.exec(text);
          if (failed === null) return true;
          const status = failed[1] === undefined ? failed[2]! : Number(failed[1]);
          return !expected.some((allowed) => allowed.status === status && allowed.path.test(new URL(at).pathname));
        });
        return [
          ...unexpected.map(({ text, url: at }) => `${text} (${at})`),
          ...violations.map((violation) => `CSP violation: ${violation}`),
          ...outside.map((href) => `request beyond the server: ${href}`),
        ];
      },
    };
  }

  const tree = (page: Page) => page.locator('#browser');
  const detail = (page: Page) => page.locator('#detail');
  /** The browser row whose name is exactly `name`. */
  const row = (page: Page, name: string) =>
    tree(page)
      .locator('.entry')
      .filter({ has: page.locator('.name').getByText(name, { exact: true }) });
  const live = (page: Page) => page.locator('#status').getByText('Live', { exact: true }).waitFor({ timeout: TIMEOUT_MS });

  it('opens and lists the top level: folders and keys, with the status bar', async () => {
    const { context, page, problems } = await openConsole(server.url);
    try {
      await row(page, 'app/').waitFor({ timeout: TIMEOUT_MS });
      for (const name of ['app/', 'bin/', 'media/', 'odd/', 'users/', 'README']) assert.ok(await row(page, name).isVisible(), `${name} is listed`);
      // Only the top level: nothing from inside a folder.
      assert.equal(await row(page, 'config.json').count(), 0);
      assert.match(await tree(page).locator('.level-foot').first().innerText(), /All 5 folders and 1 key/);
      const status = page.locator('#status');
      await live(page);
      const keys = (await request(`${server.url}/v1/status`)).body;
      await status.getByText(`${keys.keys} keys`).waitFor({ timeout: TIMEOUT_MS });
      const items = await status.locator('.item').allInnerTexts();
      assert.equal(items[0], 'kvs test');
      assert.match(items[1]!, /^engine (lmdb|etcd)$/);
      assert.equal(items[2], `revision ${keys.revision.toLocaleString('en-US')}`);
      assert.equal(items[3], `${keys.keys} keys`);
      assert.equal(items[4], 'Live');
      assert.equal(await page.getByRole('button', { name: 'New key' }).isVisible(), true);
      assert.deepEqual(await problems(), []);
    } finally {
      await context.close();
    }
  });

  it('opens a folder one level at a time, and a folder inside it', async () => {
    const { context, page, problems } = await openConsole(server.url);
    try {
      await row(page, 'app/').click();
      await row(page, 'config.json').waitFor({ timeout: TIMEOUT_MS });
      assert.equal(await row(page, 'app/').getAttribute('aria-expanded'), 'true');
      assert.ok(await row(page, 'services/').isVisible());
      assert.equal(await row(page, 'web.json').count(), 0, 'one level at a time');
      // The folder is shown on the right, with what may be done with it.
      await detail(page).getByRole('button', { name: 'Delete folder…' }).waitFor({ timeout: TIMEOUT_MS });
      await row(page, 'services/').click();
      await row(page, 'web.json').waitFor({ timeout: TIMEOUT_MS });
      // Collapsing hides the level again.
      await row(page, 'app/').click();
      await row(page, 'config.json').waitFor({ state: 'detached', timeout: TIMEOUT_MS });
      assert.deepEqual(await problems(), []);
    } finally {
      await context.close();
    }
  });

  it('filters by prefix across all levels, and lists every key flat', async () => {
    const { context, page, problems } = await openConsole(server.url);
    try {
      await row(page, 'app/').waitFor({ timeout: TIMEOUT_MS });
      await page.getByLabel('Filter').fill('app/services/w');
      // The whole key is shown, the filtered part marked.
      await tree(page).locator('.entry .name').getByText('web.json').waitFor({ timeout: TIMEOUT_MS });
      assert.deepEqual(await tree(page).locator('.entry .name').allInnerTexts(), ['app/services/web.json', 'app/services/worker.json']);
      assert.equal(await tree(page).locator('mark').first().innerText(), 'app/services/w');
      await page.getByLabel('Filter').fill('users/');
      await expectNames(page, ['users/alice', 'users/bob', 'users/carol ünïcödé', 'users/with space']);
      await page.getByLabel('Filter').fill('');
      await row(page, 'app/').waitFor({ timeout: TIMEOUT_MS });
      await page.getByRole('button', { name: 'List' }).click();
      await tree(page).locator('.entry .name').getByText('app/services/web.json').waitFor({ timeout: TIMEOUT_MS });
      assert.ok((await tree(page).locator('.entry').count()) >= 15, 'every key, flat');
      assert.equal(await tree(page).locator('.entry.folder').count(), 0);
      assert.deepEqual(await problems(), []);
    } finally {
      await context.close();
    }
  });

  it('addresses keys with any characters exactly: "/" segments, %, spaces, unicode, an empty segment', async () => {
    const { context, page, problems } = await openConsole(server.url);
    try {
      await page.getByLabel('Filter').fill('odd/');
      for (const key of ODD_KEYS) {
        await tree(page)
          .locator(`.entry[title=${JSON.stringify(key)}]`)
          .click();
        await detail(page).locator('h2.key-name').waitFor({ timeout: TIMEOUT_MS });
        await waitForTrue(page, `document.querySelector('#detail h2.key-name')?.textContent === ${JSON.stringify(key)}`, TIMEOUT_MS);
        // The value says which key it is: the page read the key it shows.
        await detail(page).locator('pre.value').getByText(`value of ${key}`, { exact: true }).waitFor({ timeout: TIMEOUT_MS });
      }
      assert.deepEqual(await problems(), []);
    } finally {
      await context.close();
    }
  });

  it('keys that would look alike are told apart: combining marks on ASCII, no-break and zero-width spaces shown as U+XXXX, everywhere', async () => {
    const keys = ['look/a b', 'look/a\u00a0b', 'look/cafe\u0301', 'look/café', 'look/zerowidth', 'look/zero\u200bwidth'];
    for (const key of keys)
      assert.equal((await putValue(server.url, key, `value of ${JSON.stringify(key)}`, { headers: { 'content-type': 'text/plain' } })).status, 201, key);
    const { context, page, problems } = await openConsole(server.url);
    try {
      await page.getByLabel('Filter').fill('look/');
      // In kvs's order (UTF-8 bytes), each one distinct.
      await expectNames(page, ['look/a b', 'look/aU+00A0b', 'look/cafeU+0301', 'look/café', 'look/zerowidth', 'look/zeroU+200Bwidth']);
      assert.equal(await tree(page).locator('.entry .ctl').count(), 3);
      // The tooltip, the heading, the page title and the notices say the same.
      const confusable = tree(page).locator(`.entry[title=${JSON.stringify('look/cafe⟨U+0301⟩')}]`);
      await confusable.click();
      await waitForTrue(page, `document.querySelector('#detail h2.key-name')?.textContent === 'look/cafeU+0301'`);
      await detail(page).locator('pre.value').getByText('value of "look/cafe\u0301"').waitFor({ timeout: TIMEOUT_MS });
      assert.equal(await page.title(), 'look/cafe⟨U+0301⟩ · kvs console');
      assert.deepEqual(await problems(), []);
    } finally {
      await context.close();
    }
  });

  it('a key and a folder of the same name are selected apart (the key "trail/" and the folder "trail/")', async () => {
    await putValue(server.url, 'trail/', 'the key named trail/', { headers: { 'content-type': 'text/plain' } });
    await putValue(server.url, 'trail/next', 'a key in the folder trail/', { headers: { 'content-type': 'text/plain' } });
    const { context, page, problems } = await openConsole(server.url, { path: `/#key=${encodeURIComponent('trail/')}` });
    try {
      const key = tree(page).locator('.entry.key[title="trail/"]');
      const folder = tree(page).locator('.entry.folder[data-prefix="trail/"]');
      await key.waitFor({ timeout: TIMEOUT_MS });
      await detail(page).locator('pre.value').getByText('the key named trail/').waitFor({ timeout: TIMEOUT_MS });
      assert.equal(await key.getAttribute('aria-current'), 'true');
      assert.equal(await folder.getAttribute('aria-current'), null, 'the folder is not the key');
      await folder.click();
      await detail(page).getByRole('article', { name: 'Folder details' }).waitFor({ timeout: TIMEOUT_MS });
      assert.equal(await folder.getAttribute('aria-current'), 'true');
      // Back to the key by its address: the key, not the folder, again.
      await page.evaluate(`location.hash = ${JSON.stringify(`#key=${encodeURIComponent('trail/')}`)}`);
      await detail(page).locator('pre.value').getByText('the key named trail/').waitFor({ timeout: TIMEOUT_MS });
      await key.waitFor({ timeout: TIMEOUT_MS });
      assert.equal(await key.getAttribute('aria-current'), 'true');
      assert.equal(await folder.getAttribute('aria-current'), null);
      assert.deepEqual(await problems(), []);
    } finally {
      await context.close();
    }
  });

  it('shows JSON pretty-printed and highlighted, text, binary as hex and base64, and images inline, with their metadata', async () => {
    const { context, page, problems } = await openConsole(server.url, { path: `/#key=${encodeURIComponent('app/config.json')}` });
    try {
      const value = detail(page).locator('pre.value');
      await value.waitFor({ timeout: TIMEOUT_MS });
      const json = await value.innerText();
      assert.ok(json.startsWith('{\n  "service": "shop",\n  "replicas": 3,'), json);
      // Numbers as written, not through a double: 2^64 + 1 stays exact.
      assert.match(json, /"big": 18446744073709551617/);
      assert.ok((await value.locator('.j-key').count()) > 5 && (await value.locator('.j-num').count()) > 1, 'highlighted');
      const meta = await detail(page).locator('.meta-grid').innerText();
      assert.match(meta, /REVISION\s+\d+/i);
      assert.match(meta, /CONTENT TYPE\s+application\/json/i);
      assert.match(meta, /EXPIRES\s+never/i);
      await detail(page).getByRole('tab', { name: 'Text' }).click();
      assert.equal(await value.innerText(), CONFIG_JSON);

      await page.getByLabel('Filter').fill('app/motd');
      await row(page, 'app/motd').click();
      await value.getByText('Welcome to the shop', { exact: false }).waitFor({ timeout: TIMEOUT_MS });
      assert.equal(await value.innerText(), MOTD);
      // A live TTL countdown.
      const expires = detail(page)
        .locator('.meta-grid div')
        .filter({ hasText: /expires/i })
        .locator('dd');
      const first = await expires.innerText();
      assert.match(first, /^in \d+m \d\ds$/);
      await waitForTrue(page, `document.querySelectorAll('#detail .meta-grid dd')[5].textContent !== ${JSON.stringify(first)}`, 5000);

      await page.getByLabel('Filter').fill('bin/');
      await row(page, 'bin/blob').click();
      await detail(page).getByRole('tab', { name: 'Hex', selected: true }).waitFor({ timeout: TIMEOUT_MS });
      assert.equal(await value.innerText(), '00000000  00 01 02 7f 80 fe ff 41  42 43                    |.......ABC|');
      await detail(page).getByRole('tab', { name: 'Base64' }).click();
      assert.equal(await value.innerText(), Buffer.from(BLOB).toString('base64'));
      assert.equal(await detail(page).getByRole('tab', { name: 'Text' }).count(), 0, 'not UTF-8: no text view');

      await page.getByLabel('Filter').fill('media/');
      await row(page, 'media/pixel.png').click();
      const image = detail(page).getByRole('img', { name: 'The value, as an image' });
      await image.waitFor({ timeout: TIMEOUT_MS });
      await waitForTrue(page, `document.querySelector('#detail .value-image img')?.naturalWidth === 48`, TIMEOUT_MS);
      assert.match((await image.getAttribute('src')) ?? '', /^blob:/);
      await page.screenshot({ path: join(screenshots, 'console-image.png') });
      assert.deepEqual(await problems(), []);
    } finally {
      await context.close();
    }
  });

  it('shows a large value (5 MiB) truncated with a download of all of it, without freezing the page', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 'abcdefghij\n');
    const large = await startTestServer({ limits: { valueBytesMax: 8 * 1024 * 1024, requestBytesMax: 16 * 1024 * 1024 } });
    try {
      assert.equal((await putValue(large.url, 'logs/huge.txt', big, { headers: { 'content-type': 'text/plain' } })).status, 201);
      const { context, page, problems } = await openConsole(large.url, { path: `/#key=${encodeURIComponent('logs/huge.txt')}` });
      try {
        // 5,000 lines at a time (of 11 bytes here): layout costs by the line.
        const note = detail(page).getByRole('note').filter({ hasText: 'Showing the first 53.7 KiB as text of 5.0 MiB' });
        await note.waitFor({ timeout: TIMEOUT_MS });
        const shown = () => page.evaluate<number>(`document.querySelector('#detail pre.value').textContent.length`);
        assert.equal(await shown(), 5000 * 11);
        await note.getByRole('button', { name: 'Show more' }).click();
        await detail(page).getByRole('note').filter({ hasText: 'Showing the first 107 KiB as text of 5.0 MiB' }).waitFor({ timeout: TIMEOUT_MS });
        assert.equal(await shown(), 2 * 5000 * 11);
        assert.ok(
          (await page.evaluate<string>(`document.querySelector('#detail pre.value').textContent`)) === big.subarray(0, 2 * 5000 * 11).toString(),
          'the parts join up exactly',
        );
        // The page still answers at once.
        const started = Date.now();
        await page.evaluate('1 + 1');
        assert.ok(Date.now() - started < 500);
        const [download] = await Promise.all([page.waitForEvent('download'), detail(page).getByRole('link', { name: 'Download (5.0 MiB)' }).click()]);
        const saved = join(screenshots, 'huge.txt');
        await download.saveAs(saved);
        assert.ok(readFileSync(saved).equals(big), 'the download is every byte');
        await detail(page).getByRole('tab', { name: 'Hex' }).click();
        await detail(page).getByRole('note').filter({ hasText: 'Showing the first 64.0 KiB in hex of 5.0 MiB' }).waitFor({ timeout: TIMEOUT_MS });
        assert.deepEqual(await problems(), []);
      } finally {
        await context.close();
      }
    } finally {
      await large.close();
    }
  });

  it('a value of any shape opens without blocking the page: deep, long and large JSON, 4 MiB of line breaks', async () => {
    const shapes = await startTestServer({ limits: { valueBytesMax: 8 * 1024 * 1024, requestBytesMax: 16 * 1024 * 1024 } });
    try {
      const json = { 'content-type': 'application/json' };
      const numbers = `[${new Array(64 * 1024).fill('0').join(',')}]`; // 128 KiB
      const items = JSON.stringify({ items: Array.from({ length: 20_000 }, (_, id) => ({ id, name: `item ${id}`, tags: ['a', 'b'] })) }); // ~800 KiB
      const values: Array<[string, string | Buffer, Record<string, string>]> = [
        ['shape/numbers.json', numbers, json],
        ['shape/items.json', items, json],
        ['shape/deep.json', '['.repeat(3000) + ']'.repeat(3000), json],
        ['shape/deepest.json', '['.repeat(100_000) + ']'.repeat(100_000), json],
        ['shape/newlines.txt', Buffer.alloc(4 * 1024 * 1024, '\n'), { 'content-type': 'text/plain' }],
      ];
      for (const [key, value, headers] of values) assert.equal((await putValue(shapes.url, key, value, { headers })).status, 201, key);
      const { context, page, problems } = await openConsole(shapes.url);
      try {
        await page.getByLabel('Filter').fill('shape/');
        /** Opens `key` from the list, waits for `shown`, and says how long the main thread was blocked at most meanwhile. */
        const open = async (key: string, shown: () => Promise<void>): Promise<number> => {
          await page.evaluate('window.kvsBlocked.max = 0');
          await tree(page)
            .locator(`.entry[title=${JSON.stringify(key)}]`)
            .click();
          await shown();
          // A round trip through the page after it rendered, then the heartbeat's record.
          const started = Date.now();
          await page.evaluate('1 + 1');
          const roundTrip = Date.now() - started;
          const blocked = await page.evaluate<number>('window.kvsBlocked.max');
          console.log(`# ${key}: main thread blocked ${Math.round(blocked)} ms at most; a round trip after it showed ${roundTrip} ms`);
          assert.ok(roundTrip < 1000, `${key}: round trip ${roundTrip} ms`);
          return blocked;
        };
        const value = detail(page).locator('pre.value');
        const lines = () => page.evaluate<number>(`document.querySelector('#detail pre.value').textContent.split('\\n').length`);
        const spans = () => page.evaluate<number>(`document.querySelectorAll('#detail pre.value span').length`);
        const note = (text: string | RegExp) => detail(page).getByRole('note').filter({ hasText: text });
        const blocked: Record<string, number> = {};

        // 128 KiB of [0,0,...]: 65,536 lines formatted; 5,000 lines at a time, at most 5,000 highlighted tokens.
        blocked['numbers'] = await open('shape/numbers.json', () => note('formatted.').waitFor({ timeout: TIMEOUT_MS }));
        assert.ok((await value.innerText()).startsWith('[\n  0,\n  0,'));
        assert.equal(await lines(), 5001);
        assert.ok((await spans()) <= 5000, `${await spans()} spans`);
        assert.match(await note('formatted.').innerText(), /^Showing the first 9\.8 KiB of 128 KiB, formatted\. Show more Download the value for all of it\.$/);
        await note('formatted.').getByRole('button', { name: 'Show more' }).click();
        await waitForTrue(page, `document.querySelector('#detail pre.value').textContent.split('\\n').length === 10001`);
        assert.ok((await spans()) <= 5000);

        // JSON larger than a view: its first part pretty-printed and highlighted, not raw on one line.
        blocked['items'] = await open('shape/items.json', () => note('formatted.').waitFor({ timeout: TIMEOUT_MS }));
        assert.ok(
          (await value.innerText()).startsWith('{\n  "items": [\n    {\n      "id": 0,\n      "name": "item 0",'),
          (await value.innerText()).slice(0, 100),
        );
        assert.ok((await value.locator('.j-key').count()) > 100, 'highlighted');
        assert.match(await note('formatted.').innerText(), /^Showing the first \d+(\.\d)? KiB of \d+ KiB, formatted\./);

        // Nested deeper than the printer goes: the text as stored, with a note, and every other view and the download.
        for (const key of ['shape/deep.json', 'shape/deepest.json']) {
          blocked[key] = await open(key, () => note(/nested more than 100 levels deep: shown as stored/).waitFor({ timeout: TIMEOUT_MS }));
          assert.ok((await value.innerText()).startsWith('[[[[[['));
          for (const tab of ['JSON', 'Text', 'Hex', 'Base64']) assert.equal(await detail(page).getByRole('tab', { name: tab }).count(), 1, `${key}: ${tab}`);
          assert.equal(
            await detail(page)
              .getByRole('link', { name: /^Download \(/ })
              .count(),
            1,
          );
          await detail(page).getByRole('tab', { name: 'Hex' }).click();
          assert.ok((await value.innerText()).startsWith('00000000  5b 5b 5b'));
        }

        // 4 MiB of line breaks: 5,000 lines at a time.
        blocked['newlines'] = await open('shape/newlines.txt', () => note('Showing the first 4.9 KiB as text of 4.0 MiB.').waitFor({ timeout: TIMEOUT_MS }));
        assert.equal(await lines(), 5001);

        // Generous, for a loaded machine: before the views were bounded these took 1 to 10 seconds and more.
        for (const [what, ms] of Object.entries(blocked)) assert.ok(ms < 1500, `${what}: the main thread was blocked ${Math.round(ms)} ms`);
        assert.deepEqual(await problems(), []);
      } finally {
        await context.close();
      }
    } finally {
      await shapes.close();
    }
  });

  it('creates a key with "New key" (Key, Value, content type, TTL)', async () => {
    const { context, page, problems } = await openConsole(server.url);
    try {
      await live(page);
      await page.getByRole('button', { name: 'New key' }).click();
      await page.getByLabel('Key', { exact: true }).fill('created/by the console');
      await page.getByLabel('Content type').fill('application/json');
      await page.getByLabel('TTL (seconds)').fill('600');
      await page.getByLabel('Value', { exact: true }).fill('{"made": "here", "n": [1, 2]}');
      await page.getByRole('button', { name: 'Save' }).click();
      await detail(page).locator('h2.key-name').getByText('created/by the console').waitFor({ timeout: TIMEOUT_MS });
      const stored = await request(`${server.url}/v1/kv/${encodeKey('created/by the console')}`);
      assert.equal(stored.status, 200);
      assert.equal(stored.text, '{"made": "here", "n": [1, 2]}');
      assert.equal(stored.headers.get('content-type'), 'application/json');
      const expiresAt = Date.parse(stored.headers.get('kv-expires-at') ?? '');
      assert.ok(expiresAt > Date.now() + 590_000 && expiresAt < Date.now() + 610_000, 'TTL 600 s');
      assert.match(await detail(page).locator('.meta-grid').innerText(), /EXPIRES\s+in (9|10)m/i);
      // The new folder appears in the tree (from the change feed).
      await row(page, 'created/').waitFor({ timeout: TIMEOUT_MS });

      // A key that exists already is not overwritten.
      await page.getByRole('button', { name: 'New key' }).click();
      await page.getByLabel('Key', { exact: true }).fill('created/by the console');
      await page.getByLabel('Value', { exact: true }).fill('other');
      await page.getByRole('button', { name: 'Save' }).click();
      await detail(page).getByRole('alert').filter({ hasText: 'exists already; nothing was written' }).waitFor({ timeout: TIMEOUT_MS });
      assert.equal((await request(`${server.url}/v1/kv/${encodeKey('created/by the console')}`)).text, '{"made": "here", "n": [1, 2]}');
      // Invalid JSON under a JSON content type is refused before sending.
      await page.getByLabel('Content type').fill('application/json');
      await page.getByLabel('Value', { exact: true }).fill('{not json');
      await page.getByRole('button', { name: 'Save' }).click();
      await detail(page).getByRole('alert').filter({ hasText: 'not valid JSON' }).waitFor({ timeout: TIMEOUT_MS });
      assert.deepEqual(await problems([{ status: 412, path: /^\/v1\/kv\/created\// }]), []);
    } finally {
      await context.close();
    }
  });

  it('edits and saves with If-Match on the revision that was loaded', async () => {
    const key = 'edit/settings';
    const first = await putValue(server.url, key, '{"color": "blue"}', { headers: { 'content-type': 'application/json' } });
    const { context, page, problems } = await openConsole(server.url, { path: `/#key=${encodeURIComponent(key)}` });
    try {
      await detail(page).getByRole('button', { name: 'Edit' }).click();
      const value = page.getByLabel('Value', { exact: true });
      assert.equal(await value.inputValue(), '{"color": "blue"}');
      await value.fill('{"color": "green"}');
      const [put] = await Promise.all([page.waitForRequest((sent) => sent.method() === 'PUT'), page.getByRole('button', { name: 'Save' }).click()]);
      assert.equal(put.headers()['if-match'], `"${first.body.revision}"`);
      await detail(page).locator('pre.value').getByText('"green"').waitFor({ timeout: TIMEOUT_MS });
      assert.equal((await request(`${server.url}/v1/kv/${key}`)).text, '{"color": "green"}');
      assert.match(await detail(page).locator('.meta-grid').innerText(), /VERSION\s+2/i);
      assert.deepEqual(await problems(), []);
    } finally {
      await context.close();
    }
  });

  it('an edit changes only the bytes the user changed: CRLF line endings and a BOM are kept; values a text box would change are edited as base64', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const values: Record<string, Buffer> = {
      'bytes/crlf': Buffer.from('line1\r\nline2\r\n'),
      'bytes/bom': Buffer.concat([bom, Buffer.from('hello world\n')]),
      'bytes/mixed': Buffer.from('one\r\ntwo\nthree'),
      'bytes/lone-cr': Buffer.from('a\rb'),
      'bytes/nul': Buffer.from('a\u0000b'),
      'bytes/latin1': Buffer.from([0x63, 0x61, 0x66, 0xe9]),
    };
    for (const [key, bytes] of Object.entries(values))
      assert.equal((await putValue(server.url, key, bytes, { headers: { 'content-type': 'text/plain' } })).status, 201, key);
    const stored = async (key: string) => Buffer.from(await (await fetch(`${server.url}/v1/kv/${encodeKey(key)}`)).arrayBuffer());
    const { context, page, problems } = await openConsole(server.url);
    try {
      const value = page.getByLabel('Value', { exact: true });
      const hint = detail(page).locator('#edit-value-hint');
      /** Opens `key`'s editor (from its address), lets `change` edit the form, saves, and waits for the saved value. */
      const edit = async (key: string, change: () => Promise<void>) => {
        await page.goto(`${server.url}/#key=${encodeURIComponent(key)}`);
        await detail(page).getByRole('button', { name: 'Edit' }).click();
        await change();
        const version = (await request(`${server.url}/v1/kv/${encodeKey(key)}`, { method: 'HEAD' })).headers.get('kv-version');
        await page.getByRole('button', { name: 'Save' }).click();
        await waitForTrue(page, `/VERSION\\s+${Number(version) + 1}\\b/i.test(document.querySelector('#detail .meta-grid')?.innerText ?? '')`);
      };

      // CRLF: shown with line breaks, one word edited, every line ending still CRLF.
      await edit('bytes/crlf', async () => {
        assert.equal(await value.inputValue(), 'line1\nline2\n');
        assert.match(await hint.innerText(), /line endings are CRLF, as stored/);
        await value.fill((await value.inputValue()).replace('line2', 'second'));
      });
      assert.deepEqual(await stored('bytes/crlf'), Buffer.from('line1\r\nsecond\r\n'));

      // A BOM: kept.
      await edit('bytes/bom', async () => {
        assert.match(await hint.innerText(), /byte order mark/);
        await value.fill((await value.inputValue()).replace('world', 'there'));
      });
      assert.deepEqual(await stored('bytes/bom'), Buffer.concat([bom, Buffer.from('hello there\n')]));

      // Values a text box would change: edited as base64, said why; saved unchanged, they are unchanged.
      for (const [key, why] of [
        ['bytes/mixed', /mixes CRLF and LF/],
        ['bytes/lone-cr', /carriage return/],
        ['bytes/nul', /NUL/],
        ['bytes/latin1', /not UTF-8/],
      ] as const) {
        await edit(key, async () => {
          assert.equal(await page.getByLabel('Value as').inputValue(), 'base64', key);
          assert.match(await hint.innerText(), why);
          assert.equal(await value.inputValue(), values[key]!.toString('base64'));
          // Text is refused, with the reason.
          await page.getByLabel('Value as').selectOption('utf8');
          await detail(page).getByRole('alert').filter({ hasText: why }).waitFor({ timeout: TIMEOUT_MS });
          assert.equal(await page.getByLabel('Value as').inputValue(), 'base64');
        });
        assert.deepEqual(await stored(key), values[key], `${key} saved unchanged`);
      }
      // And an edit of the base64 changes only that byte.
      await edit('bytes/mixed', async () => {
        const changed = Buffer.from(values['bytes/mixed']!);
        changed[changed.length - 1] = 0x45; // three → threE
        await value.fill(changed.toString('base64'));
      });
      assert.deepEqual(await stored('bytes/mixed'), Buffer.from('one\r\ntwo\nthreE'));
      assert.deepEqual(await problems(), []);
    } finally {
      await context.close();
    }
  });

  it("an edit keeps the key's expiry unless the TTL is changed", async () => {
    const key = 'edit/expiring';
    const put = await putValue(server.url, key, 'v1', { headers: { 'content-type': 'text/plain' }, query: 'ttl=600' });
    assert.equal(put.status, 201);
    const deadline = async () => Date.parse((await request(`${server.url}/v1/kv/${key}`, { method: 'HEAD' })).headers.get('kv-expires-at') ?? '');
    const first = await deadline();
    const { context, page, problems } = await openConsole(server.url, { path: `/#key=${encodeURIComponent(key)}` });
    try {
      await detail(page).getByRole('button', { name: 'Edit' }).click();
      const ttlHint = await detail(page).locator('.field').filter({ hasText: 'TTL' }).innerText();
      // Time passes while the form is open: saving must not push the deadline later by that much.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      await page.getByLabel('Value', { exact: true }).fill('v2');
      await page.getByRole('button', { name: 'Save' }).click();
      await detail(page).locator('pre.value').getByText('v2', { exact: true }).waitFor({ timeout: TIMEOUT_MS });
      const kept = await deadline();
      assert.ok(Math.abs(kept - first) < 500, `the deadline moved by ${kept - first} ms`);
      assert.match(ttlHint, /Left as it is, the key keeps its expiry/);

      // A TTL typed in sets one anew, from the save.
      await detail(page).getByRole('button', { name: 'Edit' }).click();
      await page.getByLabel('TTL (seconds)').fill('60');
      await page.getByRole('button', { name: 'Save' }).click();
      await detail(page).getByRole('button', { name: 'Edit' }).waitFor({ timeout: TIMEOUT_MS });
      await waitForTrue(page, `/EXPIRES\\s+in (59|60)s|EXPIRES\\s+in 1m/i.test(document.querySelector('#detail .meta-grid').innerText)`);
      const anew = await deadline();
      assert.ok(anew > Date.now() + 50_000 && anew < Date.now() + 61_000, 'TTL 60 s');
      // And emptied, none.
      await detail(page).getByRole('button', { name: 'Edit' }).click();
      await page.getByLabel('TTL (seconds)').fill('');
      await page.getByRole('button', { name: 'Save' }).click();
      await detail(page).locator('.meta-grid').getByText('never (no TTL)').waitFor({ timeout: TIMEOUT_MS });
      assert.ok(Number.isNaN(await deadline()));
      assert.deepEqual(await problems(), []);
    } finally {
      await context.close();
    }
  });

  it('a change through HTTP while the editor is open: flagged, not applied; Save shows both versions and a choice, never overwrites', async () => {
    const key = 'edit/conflict';
    await putValue(server.url, key, 'mine and theirs start here', { headers: { 'content-type': 'text/plain' } });
    const { context, page, problems } = await openConsole(server.url, { path: `/#key=${encodeURIComponent(key)}` });
    try {
      await live(page);
      await detail(page).getByRole('button', { name: 'Edit' }).click();
      const value = page.getByLabel('Value', { exact: true });
      await value.fill('my edit');
      // Another client writes the key.
      assert.equal((await putValue(server.url, key, 'their change', { headers: { 'content-type': 'text/plain' } })).status, 200);
      await detail(page).getByRole('status').filter({ hasText: 'was changed on the server' }).waitFor({ timeout: TIMEOUT_MS });
      assert.equal(await value.inputValue(), 'my edit', 'the edit is left alone');
      await page.screenshot({ path: join(screenshots, 'console-flagged.png') });

      await page.getByRole('button', { name: 'Save' }).click();
      const conflict = detail(page).getByRole('region', { name: 'Conflict' });
      await conflict.waitFor({ timeout: TIMEOUT_MS });
      assert.match(await conflict.getByRole('alert').innerText(), /This key changed while you were editing/);
      assert.equal(await conflict.getByRole('region', { name: 'Your version' }).locator('pre').innerText(), 'my edit');
      assert.equal(await conflict.getByRole('region', { name: 'Version on the server' }).locator('pre').innerText(), 'their change');
      assert.equal((await request(`${server.url}/v1/kv/${key}`)).text, 'their change', 'nothing was overwritten');
      await page.screenshot({ path: join(screenshots, 'console-conflict.png') });

      // Keep editing (over theirs), then save: now it writes, If-Match on their revision.
      await conflict.getByRole('button', { name: 'Keep editing' }).click();
      assert.equal(await value.inputValue(), 'my edit');
      await value.fill('merged by hand');
      await page.getByRole('button', { name: 'Save' }).click();
      await detail(page).locator('pre.value').getByText('merged by hand').waitFor({ timeout: TIMEOUT_MS });
      assert.equal((await request(`${server.url}/v1/kv/${key}`)).text, 'merged by hand');

      // Once more, and this time "Discard mine, keep theirs".
      await detail(page).getByRole('button', { name: 'Edit' }).click();
      await value.fill('discarded');
      await putValue(server.url, key, 'theirs wins', { headers: { 'content-type': 'text/plain' } });
      await page.getByRole('button', { name: 'Save' }).click();
      await detail(page).getByRole('button', { name: 'Discard mine, keep theirs' }).click();
      await detail(page).locator('pre.value').getByText('theirs wins').waitFor({ timeout: TIMEOUT_MS });

      // And "Save mine over theirs".
      await detail(page).getByRole('button', { name: 'Edit' }).click();
      await value.fill('mine wins');
      await putValue(server.url, key, 'theirs again', { headers: { 'content-type': 'text/plain' } });
      await page.getByRole('button', { name: 'Save' }).click();
      await detail(page).getByRole('button', { name: 'Save mine over theirs' }).click();
      await detail(page).locator('pre.value').getByText('mine wins').waitFor({ timeout: TIMEOUT_MS });
      assert.equal((await request(`${server.url}/v1/kv/${key}`)).text, 'mine wins');
      assert.deepEqual(await problems([{ status: 412, path: /^\/v1\/kv\/edit\/conflict$/ }]), []);
    } finally {
      await context.close();
    }
  });

  it('deletes a key after confirming, and a folder after showing the dry-run count', async () => {
    for (let index = 0; index < 12; index += 1) await putValue(server.url, `trash/item-${index}`, `${index}`, { headers: { 'content-type': 'text/plain' } });
    await putValue(server.url, 'trash/deeper/one', '1', { headers: { 'content-type': 'text/plain' } });
    const { context, page, problems } = await openConsole(server.url);
    try {
      await live(page);
      await row(page, 'trash/').click();
      await row(page, 'item-0').click();
      await detail(page).getByRole('button', { name: 'Delete' }).click();
      const dialog = page.getByRole('dialog', { name: 'Delete this key?' });
      await dialog.waitFor({ timeout: TIMEOUT_MS });
      assert.match(await dialog.innerText(), /trash\/item-0/);
      // Cancel first: nothing happens.
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      assert.equal((await request(`${server.url}/v1/kv/trash/item-0`)).status, 200);
      await detail(page).getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('dialog', { name: 'Delete this key?' }).getByRole('button', { name: 'Delete' }).click();
      await row(page, 'item-0').waitFor({ state: 'detached', timeout: TIMEOUT_MS });
      assert.equal((await request(`${server.url}/v1/kv/trash/item-0`)).status, 404);

      await row(page, 'trash/').click();
      await detail(page).getByRole('button', { name: 'Delete folder…' }).click();
      const folderDialog = page.getByRole('dialog', { name: 'Delete 12 keys?' });
      await folderDialog.waitFor({ timeout: TIMEOUT_MS });
      assert.match(await folderDialog.innerText(), /Every key under trash\/ will be deleted, at one revision: 12 keys right now/);
      await page.screenshot({ path: join(screenshots, 'console-delete-folder.png') });
      await folderDialog.getByRole('button', { name: 'Delete 12 keys' }).click();
      await page.getByRole('status').filter({ hasText: 'Deleted 12 keys under “trash/”' }).waitFor({ timeout: TIMEOUT_MS });
      await row(page, 'trash/').waitFor({ state: 'detached', timeout: TIMEOUT_MS });
      assert.deepEqual((await request(`${server.url}/v1/kv?prefix=trash/`)).body.items, []);
      assert.deepEqual(await problems(), []);
    } finally {
      await context.close();
    }
  });

  it('live: a PUT from another client appears in the tree, the list and the open value; a delete takes it away', async () => {
    const { context, page, problems } = await openConsole(server.url, { path: `/#key=${encodeURIComponent('users/alice')}` });
    try {
      await live(page);
      // The address opened the folders on the way to the key.
      await row(page, 'alice').waitFor({ timeout: TIMEOUT_MS });
      assert.equal(await row(page, 'alice').getAttribute('aria-current'), 'true');
      await detail(page).locator('pre.value').getByText('"Alice"').waitFor({ timeout: TIMEOUT_MS });
      const revisionBefore = await page.locator('#status').innerText();

      await putValue(server.url, 'users/dave', '{"name": "Dave"}', { headers: { 'content-type': 'application/json' } });
      await row(page, 'dave').waitFor({ timeout: TIMEOUT_MS });
      await putValue(server.url, 'livefolder/new', 'x', { headers: { 'content-type': 'text/plain' } });
      await row(page, 'livefolder/').waitFor({ timeout: TIMEOUT_MS });
      await putValue(server.url, 'users/alice', '{"name": "Alice", "role": "admin"}', { headers: { 'content-type': 'application/json' } });
      await detail(page).locator('pre.value').getByText('"admin"').waitFor({ timeout: TIMEOUT_MS });
      await detail(page).getByRole('status').filter({ hasText: 'Updated on the server at revision' }).waitFor({ timeout: TIMEOUT_MS });
      assert.notEqual(await page.locator('#status').innerText(), revisionBefore, 'the store revision moved');

      assert.equal((await request(`${server.url}/v1/kv/users/dave`, { method: 'DELETE' })).status, 204);
      await row(page, 'dave').waitFor({ state: 'detached', timeout: TIMEOUT_MS });
      assert.equal((await request(`${server.url}/v1/kv/livefolder/new`, { method: 'DELETE' })).status, 204);
      await row(page, 'livefolder/').waitFor({ state: 'detached', timeout: TIMEOUT_MS });

      await page.getByRole('button', { name: 'List' }).click();
      await tree(page).locator('.entry .name').getByText('users/alice', { exact: true }).waitFor({ timeout: TIMEOUT_MS });
      await putValue(server.url, 'users/eve', '{}', { headers: { 'content-type': 'application/json' } });
      await tree(page).locator('.entry .name').getByText('users/eve', { exact: true }).waitFor({ timeout: TIMEOUT_MS });
      assert.equal((await request(`${server.url}/v1/kv/users/alice`, { method: 'DELETE' })).status, 204);
      await detail(page)
        .getByText(/This key was deleted at revision/)
        .waitFor({ timeout: TIMEOUT_MS });
      await putValue(server.url, 'users/alice', '{"name": "Alice"}', { headers: { 'content-type': 'application/json' } });
      await request(`${server.url}/v1/kv/users/eve`, { method: 'DELETE' });
      assert.deepEqual(await problems(), []);
    } finally {
      await context.close();
    }
  });

  it('live: writes in a row to the open value read it one at a time, and once more after, not once each', async () => {
    const key = 'live/big';
    const version = (n: number) => Buffer.concat([Buffer.from(`version ${n}\n`), Buffer.alloc(1024 * 1024, 'x')]);
    await putValue(server.url, key, version(0), { headers: { 'content-type': 'text/plain' } });
    const { context, page, problems } = await openConsole(server.url, { path: `/#key=${encodeURIComponent(key)}` });
    try {
      const value = detail(page).locator('pre.value');
      await value.getByText(/^version 0\n/).waitFor({ timeout: TIMEOUT_MS });
      await live(page);
      let reads = 0;
      let inFlight = 0;
      let mostInFlight = 0;
      const isRead = (sent: { method(): string; url(): string }) => sent.method() === 'GET' && new URL(sent.url()).pathname === `/v1/kv/${key}`;
      page.on('request', (sent) => {
        if (!isRead(sent)) return;
        reads += 1;
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
      });
      const done = (sent: { method(): string; url(): string }) => {
        if (isRead(sent)) inFlight -= 1;
      };
      page.on('requestfinished', done);
      page.on('requestfailed', done);
      for (let n = 1; n <= 40; n += 1) assert.equal((await putValue(server.url, key, version(n), { headers: { 'content-type': 'text/plain' } })).status, 200);
      // The last version is shown in the end, with the note.
      await value.getByText(/^version 40\n/).waitFor({ timeout: TIMEOUT_MS });
      await detail(page).getByRole('status').filter({ hasText: 'Updated on the server at revision' }).waitFor({ timeout: TIMEOUT_MS });
      console.log(`# 40 writes of a 1 MiB value while it is open: ${reads} reads, at most ${mostInFlight} at a time`);
      assert.equal(mostInFlight, 1, 'one read at a time');
      assert.ok(reads < 40, `${reads} reads for 40 writes`);
      assert.deepEqual(await problems(), []);
    } finally {
      await context.close();
    }
  });

  it('says when the change feed drops, and resumes without missing what happened meanwhile', async () => {
    const proxy = await TcpProxy.start(server.url);
    try {
      const { context, page, problems } = await openConsole(proxy.url);
      try {
        await live(page);
        await row(page, 'app/').click();
        await row(page, 'config.json').waitFor({ timeout: TIMEOUT_MS });
        proxy.hold();
        proxy.cut();
        await page.locator('#status').getByText('Reconnecting…').waitFor({ timeout: TIMEOUT_MS });
        // Written while the page cannot hear: delivered from history once it reconnects.
        await putValue(server.url, 'app/while-away', 'missed?', { headers: { 'content-type': 'text/plain' } });
        proxy.release();
        await live(page);
        await row(page, 'while-away').waitFor({ timeout: TIMEOUT_MS });
        await request(`${server.url}/v1/kv/app/while-away`, { method: 'DELETE' });
        await row(page, 'while-away').waitFor({ state: 'detached', timeout: TIMEOUT_MS });
        // The cut stream is an aborted response, which Chromium reports.
        assert.deepEqual(
          await problems([
            { status: 'ERR_INCOMPLETE_CHUNKED_ENCODING', path: /^\/v1\/watch$/ },
            { status: 'ERR_EMPTY_RESPONSE', path: /^\/v1\/watch$/ },
            { status: 'ERR_CONNECTION_RESET', path: /^\/v1\/watch$/ },
          ]),
          [],
        );
      } finally {
        await context.close();
      }
    } finally {
      await proxy.close();
    }
  });

  it('stored XSS in keys, values and content types is shown as text, never run', async () => {
    const payload = '<img src=x onerror=alert(1)>';
    const keys = [`xss/${payload}`, 'xss/<script>alert(2)</script>', 'xss/"><svg onload=alert(3)>'];
    for (const key of keys)
      assert.equal(
        (await putValue(server.url, key, `${payload}<script>alert(4)</script>`, { headers: { 'content-type': 'text/html; x="<img src=x onerror=alert(5)>"' } }))
          .status,
        201,
      );
    assert.equal(
      (
        await putValue(server.url, 'xss/json', JSON.stringify({ '<img src=x onerror=alert(6)>': '</pre><script>alert(7)</script>' }), {
          headers: { 'content-type': 'application/json' },
        })
      ).status,
      201,
    );
    assert.equal(
      (
        await putValue(server.url, 'xss/svg', '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(8)"><script>alert(9)</script></svg>', {
          headers: { 'content-type': 'image/svg+xml' },
        })
      ).status,
      201,
    );
    const { context, page, problems } = await openConsole(server.url);
    try {
      // In the tree, a "/" inside the payload makes a folder: its name is shown as it is, too.
      await row(page, 'xss/').click();
      await row(page, payload).waitFor({ timeout: TIMEOUT_MS });
      await row(page, '<script>alert(2)</').waitFor({ timeout: TIMEOUT_MS });
      await page.getByLabel('Filter').fill('xss/');
      for (const key of keys) {
        await tree(page)
          .locator(`.entry[title=${JSON.stringify(key)}]`)
          .click();
        await waitForTrue(page, `document.querySelector('#detail h2.key-name')?.textContent === ${JSON.stringify(key)}`, TIMEOUT_MS);
        assert.equal(await detail(page).locator('pre.value').innerText(), `${payload}<script>alert(4)</script>`);
        assert.match(await detail(page).locator('.meta-grid').innerText(), /text\/html; x="<img src=x onerror=alert\(5\)>"/);
      }
      await tree(page).locator('.entry[title="xss/json"]').click();
      await detail(page).locator('pre.value').getByText('"</pre><script>alert(7)</script>"').waitFor({ timeout: TIMEOUT_MS });
      await tree(page).locator('.entry[title="xss/svg"]').click();
      await detail(page).locator('pre.value').getByText('<svg xmlns', { exact: false }).waitFor({ timeout: TIMEOUT_MS });
      assert.equal(await detail(page).locator('img').count(), 0, 'an SVG is not previewed: shown as text');
      assert.ok(await tree(page).locator('.entry .name').getByText(`xss/${payload}`, { exact: true }).isVisible());
      // No element came from the payloads.
      assert.equal(await page.locator('img[src="x"], svg[onload], #browser script, #detail script').count(), 0);
      assert.deepEqual(await problems(), []);
      // And should a bug ever hand markup to an HTML sink, the CSP's Trusted Types refuse it.
      assert.equal(
        await page.evaluate<string>(
          `(() => { try { document.body.insertAdjacentHTML('beforeend', '<b>x</b>'); return 'parsed'; } catch (error) { return error.name; } })()`,
        ),
        'TypeError',
      );
    } finally {
      await context.close();
    }
  });

  it('in protected mode, to a client elsewhere: the page loads and says, in words, why it shows nothing', async () => {
    const elsewhere = await startTestServer({ clientAddress: () => '192.0.2.10' });
    try {
      const { context, page, problems } = await openConsole(elsewhere.url);
      try {
        const alert = detail(page).getByRole('alert');
        await alert.waitFor({ timeout: TIMEOUT_MS });
        assert.match(
          await alert.innerText(),
          /^kvs serves only clients on its own machine: kvs is in protected mode: .*KV_PROTECTED_MODE=off.* \(403 protected_mode\)\.\s*Try again$/s,
        );
        assert.equal(await page.getByRole('dialog').count(), 0, 'no token prompt: a token would not help');
        assert.match(await page.locator('#status').innerText(), /Not live/);
        assert.deepEqual(await problems([{ status: 403, path: /^\/v1\/limits$/ }]), []);
      } finally {
        await context.close();
      }
    } finally {
      await elsewhere.close();
    }
  });

  describe('with tokens', () => {
    const guarded = useTestServer(
      () => {
        const file = join(tempDirectory('kvs-console-tokens-'), 'tokens.json');
        writeFileSync(file, JSON.stringify({ tokens: Object.entries(TOKENS).map(([name, { token, grants }]) => tokenEntry(name, token, grants, false)) }));
        return { access: { tokens: TokenRegistry.load({ adminToken: ADMIN_TOKEN, tokensFile: file }), protectedMode: true, rateLimit: null } };
      },
      async () => {
        await seed(guarded.url, { authorization: `Bearer ${ADMIN_TOKEN}` });
      },
    );

    it('asks for a token, refuses a wrong one in words, keeps the right one in sessionStorage for the tab', async () => {
      const { context, page, problems } = await openConsole(guarded.url);
      try {
        const dialog = page.getByRole('dialog', { name: 'This kvs server needs a token' });
        await dialog.waitFor({ timeout: TIMEOUT_MS });
        assert.equal(await tree(page).locator('.entry').count(), 0, 'nothing is shown without a token');
        await dialog.getByLabel('Token', { exact: true }).fill('not-a-token-anyone-has');
        await dialog.getByRole('button', { name: 'Connect' }).click();
        const refusal = page.getByRole('dialog', { name: 'This kvs server needs a token' }).getByRole('alert');
        await refusal.waitFor({ timeout: TIMEOUT_MS });
        assert.match(await refusal.innerText(), /^kvs did not accept the token: .+ \(401 unauthorized\)\. Enter a token this server knows\.$/);
        assert.equal(await page.evaluate<string | null>("sessionStorage.getItem('kvs-console-token')"), null, 'a refused token is not kept');
        await page.screenshot({ path: join(screenshots, 'console-token.png') });
        await page.getByLabel('Token', { exact: true }).fill(ADMIN_TOKEN);
        await page.getByRole('button', { name: 'Connect' }).click();
        await row(page, 'app/').waitFor({ timeout: TIMEOUT_MS });
        await live(page);
        assert.equal(await page.evaluate<string | null>("sessionStorage.getItem('kvs-console-token')"), ADMIN_TOKEN);
        assert.match(await page.locator('#status').innerText(), /kvs test/);
        await page.reload();
        await row(page, 'app/').waitFor({ timeout: TIMEOUT_MS });
        assert.equal(await page.getByRole('dialog').count(), 0, 'no prompt: the tab kept the token');
        // "Forget it" drops the token: the prompt is back.
        await page.getByRole('button', { name: 'Forget it' }).click();
        await page.getByRole('dialog', { name: 'This kvs server needs a token' }).waitFor({ timeout: TIMEOUT_MS });
        assert.deepEqual(await problems([{ status: 401, path: /^\/v1\/limits$/ }]), []);
      } finally {
        await context.close();
      }
    });

    /** A console signed in with `token`. */
    async function signedIn(token: string, path = '/'): Promise<Opened> {
      const opened = await openConsole(guarded.url, { path });
      await opened.page.getByLabel('Token', { exact: true }).fill(token);
      await opened.page.getByRole('button', { name: 'Connect' }).click();
      return opened;
    }

    it('a read-only token gets a read-only console: no New key, Edit, Delete or Delete folder; the status bar says what needs admin', async () => {
      const { context, page, problems } = await signedIn(TOKENS.reader!.token);
      try {
        await row(page, 'app/').click();
        await row(page, 'config.json').click();
        await detail(page).locator('pre.value').waitFor({ timeout: TIMEOUT_MS });
        await live(page);
        assert.equal(await detail(page).getByRole('button', { name: 'Edit' }).count(), 0);
        assert.equal(await detail(page).getByRole('button', { name: 'Delete' }).count(), 0);
        assert.equal(await page.getByRole('button', { name: 'New key' }).isVisible(), false);
        await row(page, 'app/').click();
        await detail(page).getByRole('article', { name: 'Folder details' }).waitFor({ timeout: TIMEOUT_MS });
        assert.equal(await detail(page).getByRole('button', { name: 'Delete folder…' }).count(), 0);
        assert.equal(await detail(page).getByRole('button', { name: 'New key here' }).count(), 0);
        // /v1/status needs admin: the engine comes from /readyz, the revision from what was read; the rest says why.
        const status = page.locator('#status');
        assert.match(await status.innerText(), /engine (lmdb|etcd)/);
        assert.match(await status.innerText(), /revision \d/);
        assert.equal(await status.locator('b[title^="Needs an admin token"]').count(), 2);
        assert.deepEqual(
          await problems([
            { status: 401, path: /^\/v1\/limits$/ },
            { status: 403, path: /^\/v1\/status$/ },
            { status: 403, path: /^\/v1\/txn$/ },
          ]),
          [],
        );
      } finally {
        await context.close();
      }
    });

    it('a token limited to a prefix gets a tree rooted at it, followed live; keys outside it are simply not shown', async () => {
      const { context, page, problems } = await signedIn(TOKENS.appReader!.token);
      try {
        // The whole store is refused: the tree's root is what the token may read (GET /v1/auth/me says).
        await row(page, 'app/').waitFor({ timeout: TIMEOUT_MS });
        assert.deepEqual(await tree(page).locator('.entry .name').allInnerTexts(), ['app/']);
        assert.equal(await tree(page).locator('.level-foot').first().innerText(), 'The prefix your token may read');
        assert.equal(await tree(page).getByRole('note').count(), 0);
        await row(page, 'app/').click();
        await row(page, 'config.json').waitFor({ timeout: TIMEOUT_MS });
        // Live without a Filter: its one watchable prefix is followed.
        await live(page);
        assert.equal(
          await page.locator('#status .item.live').getAttribute('title'),
          'Live updates follow only the keys under “app/”: the one prefix your token may watch.',
        );
        await putValue(guarded.url, 'app/from-admin', 'x', { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'text/plain' } });
        await row(page, 'from-admin').waitFor({ timeout: TIMEOUT_MS });
        await request(`${guarded.url}/v1/kv/app/from-admin`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
        await row(page, 'from-admin').waitFor({ state: 'detached', timeout: TIMEOUT_MS });
        // The Filter still lists flat, within the grant.
        await page.getByLabel('Filter').fill('app/');
        await tree(page).locator('.entry .name').getByText('app/config.json', { exact: true }).waitFor({ timeout: TIMEOUT_MS });
        assert.equal(await tree(page).locator('.entry .name').getByText('users/alice').count(), 0);
        // A key outside the grant, opened by its address: explained, not an error of the page.
        await page.goto(`${guarded.url}/#key=${encodeURIComponent('users/alice')}`);
        await detail(page)
          .getByText(/The key “users\/alice” is not visible with this token: .*\(403 forbidden\)/)
          .waitFor({ timeout: TIMEOUT_MS });
        await page.screenshot({ path: join(screenshots, 'console-not-visible.png') });
        assert.deepEqual(
          await problems([
            { status: 401, path: /^\/v1\/limits$/ },
            { status: 403, path: /^\/v1\/(status|txn|watch|kv)$/ },
            { status: 403, path: /^\/v1\/kv\/users\/alice$/ },
          ]),
          [],
        );
      } finally {
        await context.close();
      }
    });

    it('a token with grants on app/ and users/ gets both as the roots of its tree; #folder=app/ opens; the List says which prefixes to filter by', async () => {
      const { context, page, problems } = await signedIn(TOKENS.appAndUsers!.token, `/#folder=${encodeURIComponent('app/')}`);
      try {
        // The address opened the folder in the tree and in the pane.
        await row(page, 'config.json').waitFor({ timeout: TIMEOUT_MS });
        await detail(page).getByRole('article', { name: 'Folder details' }).waitFor({ timeout: TIMEOUT_MS });
        assert.equal(await row(page, 'app/').getAttribute('aria-current'), 'true');
        assert.equal(await row(page, 'app/').getAttribute('aria-expanded'), 'true');
        // Its roots are its grants (users/alice is inside users/); nothing outside them.
        await row(page, 'users/').waitFor({ timeout: TIMEOUT_MS });
        const roots = await tree(page).locator('.level').first().locator(':scope > li > .entry .name').allInnerTexts();
        assert.deepEqual(roots, ['app/', 'users/']);
        for (const outside of ['bin/', 'media/', 'odd/', 'README']) assert.equal(await row(page, outside).count(), 0, outside);
        assert.equal(await tree(page).locator('.level').first().locator(':scope > .level-foot').innerText(), 'The prefixes your token may read');
        // A key under the other root, by its address: the folders on its way open.
        await page.evaluate(`location.hash = ${JSON.stringify(`#key=${encodeURIComponent('users/alice')}`)}`);
        await detail(page).locator('pre.value').getByText('"Alice"').waitFor({ timeout: TIMEOUT_MS });
        await row(page, 'alice').waitFor({ timeout: TIMEOUT_MS });
        assert.equal(await row(page, 'alice').getAttribute('aria-current'), 'true');
        // What it may write (users/alice) it gets Edit for; what it may only read, not.
        await detail(page).getByRole('button', { name: 'Edit' }).waitFor({ timeout: TIMEOUT_MS });
        await row(page, 'bob').click();
        await detail(page).locator('pre.value').getByText('"Bob"').waitFor({ timeout: TIMEOUT_MS });
        assert.equal(await detail(page).getByRole('button', { name: 'Edit' }).count(), 0);
        // The flat list of everything is refused, and says which prefixes to type.
        await page.getByRole('button', { name: 'List' }).click();
        const note = tree(page).getByRole('note');
        await note.waitFor({ timeout: TIMEOUT_MS });
        assert.match(
          await note.innerText(),
          /^The whole store is not visible with this token: .*\(403 forbidden\)\. Type a prefix your token may read into Filter: “app\/”, “users\/” to see those keys\.$/,
        );
        assert.deepEqual(
          await problems([
            { status: 401, path: /^\/v1\/limits$/ },
            { status: 403, path: /^\/v1\/(status|watch|kv)$/ },
          ]),
          [],
        );
      } finally {
        await context.close();
      }
    });

    it('a token that may write under app/ gets edit controls for those keys', async () => {
      const { context, page, problems } = await signedIn(TOKENS.appWriter!.token, `/#key=${encodeURIComponent('app/config.json')}`);
      try {
        await detail(page).getByRole('button', { name: 'Edit' }).waitFor({ timeout: TIMEOUT_MS });
        assert.equal(await page.getByRole('button', { name: 'New key' }).isVisible(), true, 'New key under app/');
        await detail(page).getByRole('button', { name: 'Edit' }).click();
        await page.getByLabel('Value', { exact: true }).fill('{"changed": true}');
        await page.getByRole('button', { name: 'Save' }).click();
        await detail(page).locator('pre.value').getByText('"changed"').waitFor({ timeout: TIMEOUT_MS });
        assert.deepEqual(
          await problems([
            { status: 401, path: /^\/v1\/limits$/ },
            // /v1/status, the whole store's listing and watch, and the probe of writes at the top (before the key opened).
            { status: 403, path: /^\/v1\/(status|watch|kv|txn)$/ },
          ]),
          [],
        );
      } finally {
        await context.close();
      }
    });
  });

  it('a folder of 100,000 keys: its first page shows within 1 s of the click, and of a navigation', async () => {
    const crowded = await startTestServer();
    try {
      const lines: string[] = [];
      for (let index = 0; index < 100_000; index += 1)
        lines.push(
          JSON.stringify({
            key: `big/key-${String(index).padStart(6, '0')}`,
            value: Buffer.from(`value ${index}`).toString('base64'),
            contentType: 'text/plain',
          }),
        );
      const imported = await request(`${crowded.url}/v1/admin/import`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body: `${lines.join('\n')}\n`,
      });
      assert.equal(imported.status, 200, imported.text);
      assert.equal(imported.body.imported, 100_000);
      await putValue(crowded.url, 'small/one', '1', { headers: { 'content-type': 'text/plain' } });

      const { context, page, problems } = await openConsole(crowded.url);
      try {
        await row(page, 'big/').waitFor({ timeout: TIMEOUT_MS });
        await live(page);
        // From the click to the first rows visible.
        const clicked = Date.now();
        await row(page, 'big/').click();
        await row(page, 'key-000000').waitFor({ state: 'visible', timeout: TIMEOUT_MS });
        const clickMs = Date.now() - clicked;
        assert.match(await tree(page).locator('.level .level .level-foot').innerText(), /Showing 100 keys, more to load/);
        // Load more: the next page, after the first.
        await tree(page).locator('.level .level .level-foot').getByRole('button', { name: 'Load more' }).click();
        await row(page, 'key-000199').waitFor({ timeout: TIMEOUT_MS });
        assert.match(await tree(page).locator('.level .level .level-foot').innerText(), /Showing 200 keys/);
        // From a navigation (the folder's address) to its first rows.
        const navigated = Date.now();
        await page.goto(`${crowded.url}/#folder=${encodeURIComponent('big/')}`);
        await page.reload();
        await row(page, 'key-000000').waitFor({ state: 'visible', timeout: TIMEOUT_MS });
        const navigationMs = Date.now() - navigated;
        // The Filter, deep inside it.
        const typed = Date.now();
        await page.getByLabel('Filter').fill('big/key-0999');
        await tree(page).locator('.entry .name').getByText('big/key-099900', { exact: true }).waitFor({ timeout: TIMEOUT_MS });
        const filterMs = Date.now() - typed;
        console.log(
          `# 100,000 keys in one folder: first page ${clickMs} ms after the click, ${navigationMs} ms after a navigation (page load included), ${filterMs} ms after typing a Filter (150 ms debounce included)`,
        );
        assert.ok(clickMs < 1000, `first page ${clickMs} ms after the click`);
        assert.ok(navigationMs < 1000, `first page ${navigationMs} ms after a navigation`);
        assert.ok(filterMs < 1000, `filtered page ${filterMs} ms after typing`);
        assert.deepEqual(await problems(), []);
      } finally {
        await context.close();
      }
    } finally {
      await crowded.close();
    }
  });

  it('takes the screenshot of the README (docs/images/console.png): a small store, a JSON value open', async () => {
    const shown = await startShowcaseServer();
    try {
      await seedShowcase(shown.url);
      const { context, page, problems } = await openConsole(shown.url, { viewport: { width: 1280, height: 800 } });
      try {
        await row(page, 'app/').click();
        await row(page, 'services/').click();
        await row(page, 'web.json').click();
        await detail(page).locator('pre.value .j-key').first().waitFor({ timeout: TIMEOUT_MS });
        await live(page);
        await page
          .locator('#status')
          .getByText(/\d keys/)
          .waitFor({ timeout: TIMEOUT_MS });
        await page.mouse.move(0, 0);
        mkdirSync(dirname(README_SCREENSHOT), { recursive: true });
        await page.screenshot({ path: README_SCREENSHOT });
        assert.ok(readFileSync(README_SCREENSHOT).subarray(1, 4).toString() === 'PNG');
        assert.deepEqual(await problems(), []);
      } finally {
        await context.close();
      }
    } finally {
      await shown.close();
    }
  });

  async function expectNames(page: Page, names: string[]): Promise<void> {
    await waitForTrue(
      page,
      `JSON.stringify([...document.querySelectorAll('#browser .entry .name')].map((e) => e.textContent)) === ${JSON.stringify(JSON.stringify(names))}`,
      TIMEOUT_MS,
    );
  }
});

/**
 * Polls `expression` (page JavaScript, as text: the tests are type-checked without the DOM's types) until it is
 * true. Not waitForFunction: Playwright evaluates a string predicate with eval, which the console's CSP refuses.
 */
async function waitForTrue(page: Page, expression: string, timeoutMs = TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await page.evaluate<boolean>(expression)) === true) return;
    if (Date.now() > deadline) throw new Error(`still false after ${timeoutMs} ms: ${expression}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const CONFIG_JSON =
  '{"service":"shop","replicas":3,"big":18446744073709551617,"regions":["eu-west","us-east"],"features":{"checkout-v2":true,"dark-mode":false},"owner":null,"limits":{"rps":250.5,"burst":1e3}}';
const MOTD = 'Welcome to the shop!\nMaintenance on Sunday, 02:00–04:00 UTC.';
const BLOB = Uint8Array.from([0x00, 0x01, 0x02, 0x7f, 0x80, 0xfe, 0xff, 0x41, 0x42, 0x43]);
/** A 48×48 gradient. */
const PIXEL_PNG = png(
  48,
  48,
  Array.from({ length: 48 * 48 }, (_, at) => [Math.round(((at % 48) / 47) * 255), 110, Math.round((Math.floor(at / 48) / 47) * 255)]),
);
const ODD_KEYS = ['odd/100%', 'odd/a%2Fb', 'odd/with space', 'odd/ünï/cödé ✓', 'odd//empty segment', 'odd/q?x=1&y=2#frag', 'odd/emoji 😀'];

/** A kvs as `kvs serve` makes it (its own version, not the tests' "test"), on the embedded engine, for the README's screenshot. */
async function startShowcaseServer(): Promise<{ url: string; close(): Promise<void> }> {
  const directory = tempDirectory('kvs-console-showcase-');
  const engine = new LmdbEngine({ file: join(directory, STORE_FILE_NAME), historyRetentionRevisions: DEFAULT_LIMITS.historyRetentionRevisions });
  await engine.open();
  const server = await buildServer({ ...servedEngine(engine), limits: DEFAULT_LIMITS, logger: pino({ level: 'silent' }), version: VERSION });
  const url = await server.listen('127.0.0.1', 0);
  return {
    url,
    async close() {
      await server.app.close();
      await engine.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** The store of the README's screenshot: a shop's configuration, services, plans, sessions and users. */
async function seedShowcase(url: string): Promise<void> {
  const put = async (key: string, value: unknown, type = 'application/json', query?: string) => {
    const body = typeof value === 'string' || Buffer.isBuffer(value) ? value : JSON.stringify(value);
    const response = await putValue(url, key, body, { headers: { 'content-type': type }, ...(query === undefined ? {} : { query }) });
    assert.ok(response.status === 201 || response.status === 200, `${key}: ${response.text}`);
  };
  await put('app/config.json', JSON.parse(CONFIG_JSON.replace('18446744073709551617', '1')));
  await put('app/feature-flags', { 'checkout-v2': true, 'search-beta': false, 'gift-cards': true });
  await put('app/motd', MOTD, 'text/plain; charset=utf-8', 'ttl=900');
  await put('app/services/web.json', {
    image: 'shop/web:2.14.1',
    replicas: 4,
    port: 8080,
    env: { LOG_LEVEL: 'info', CACHE_TTL: 300, CHECKOUT_V2: true },
    healthcheck: { path: '/healthz', intervalSeconds: 10, timeoutSeconds: 2 },
    regions: ['eu-west-1', 'us-east-1'],
    owner: 'team-storefront',
  });
  await put('app/services/worker.json', { image: 'shop/worker:2.14.1', queues: ['orders', 'emails'], concurrency: 8 });
  await put('app/services/cron.json', { schedule: '*/5 * * * *', command: 'reindex' });
  await put('billing/plans.json', [
    { id: 'free', price: 0 },
    { id: 'pro', price: 12.5 },
  ]);
  await put('billing/invoices/2026-05', { total: 1204.25, currency: 'EUR' });
  await put('media/banner.png', PIXEL_PNG, 'image/png');
  for (const id of ['7f3a9c', 'b21e04', 'd90c55']) await put(`sessions/${id}`, { user: 'alice', cart: 2 }, 'application/json', 'ttl=1800');
  for (const name of ['alice', 'bob', 'carol'])
    await put(`users/${name}`, { name: name[0]!.toUpperCase() + name.slice(1), plan: name === 'bob' ? 'free' : 'pro' });
  await put('README', 'Keys of the shop, by service.', 'text/plain; charset=utf-8');
}

/** An RGB PNG of `width` × `height` pixels, row by row. */
function png(width: number, height: number, pixels: number[][]): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes: Buffer) => {
    let c = 0xffffffff;
    for (const byte of bytes) c = crcTable[(c ^ byte) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const check = Buffer.alloc(4);
    check.writeUInt32BE(crc(body));
    return Buffer.concat([length, body, check]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const rows: number[] = [];
  for (let y = 0; y < height; y += 1) rows.push(0, ...pixels.slice(y * width, (y + 1) * width).flat());
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.from(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A small store that looks like one: an app's config, services, users, media. */
async function seed(url: string, headers: Record<string, string> = {}): Promise<void> {
  const put = async (key: string, value: string | Buffer, type: string, query?: string) => {
    const response = await putValue(url, key, value, { headers: { ...headers, 'content-type': type }, ...(query === undefined ? {} : { query }) });
    assert.ok(response.status === 201 || response.status === 200, `${key}: ${response.text}`);
  };
  await put('app/config.json', CONFIG_JSON, 'application/json');
  await put('app/feature-flags', '{"checkout-v2":true,"search-beta":false}', 'application/json');
  await put('app/motd', MOTD, 'text/plain; charset=utf-8', 'ttl=900');
  await put(
    'app/services/web.json',
    JSON.stringify({
      image: 'shop/web:2.14.1',
      port: 8080,
      replicas: 4,
      env: { LOG_LEVEL: 'info', CACHE_TTL: 300 },
      healthcheck: { path: '/healthz', intervalSeconds: 10 },
    }),
    'application/json',
  );
  await put('app/services/worker.json', JSON.stringify({ image: 'shop/worker:2.14.1', queues: ['orders', 'emails'], concurrency: 8 }), 'application/json');
  await put('bin/blob', Buffer.from(BLOB), 'application/octet-stream');
  await put('media/pixel.png', PIXEL_PNG, 'image/png');
  await put('users/alice', '{"name": "Alice", "plan": "pro"}', 'application/json');
  await put('users/bob', '{"name": "Bob", "plan": "free"}', 'application/json');
  await put('users/carol ünïcödé', '{"name": "Carol"}', 'application/json');
  await put('users/with space', '{"name": "Space"}', 'application/json');
  await put('README', 'Keys of the shop, by service.', 'text/plain; charset=utf-8');
  for (const key of ODD_KEYS) await put(key, `value of ${key}`, 'text/plain; charset=utf-8');
}
