import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Script } from 'node:vm';
import { gunzipSync } from 'node:zlib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { TokenRegistry } from '../../src/auth/tokens.js';
import { DOCS_ASSETS, DOCS_CONTENT_SECURITY_POLICY } from '../../src/http/routes/docs.js';
import { DOCS_INIT_SCRIPT } from '../../src/http/docs-assets/init.js';
import { expectProblem, request } from '../helpers/http.js';
import { startTestServer, tempDirectory, useTestServer, type TestServer } from '../helpers/server.js';

/**
 * GET /docs, the API reference kvs serves itself (Swagger UI on
 * /v1/openapi.json): first over plain HTTP (headers, the asset allowlist,
 * caching), then in a real Chromium (Debian's /usr/bin/chromium; playwright
 * never downloads a browser here): it renders, logs no error, violates no
 * Content-Security-Policy directive, loads nothing from beyond 127.0.0.1, and
 * with tokens configured asks for one, refuses a wrong one in words, and
 * renders with the right one, "Try it out" included.
 *
 * Screenshots go to a temporary directory removed afterwards, or to
 * KVS_E2E_SCREENSHOTS when it names a directory (to look at them).
 */

const CHROMIUM = '/usr/bin/chromium';
const noChromium = existsSync(CHROMIUM) ? false : `needs Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`;
const TOKEN = 'docs-admin-secret-0123456789';
const SWAGGER_UI_DIST = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const RENDER_TIMEOUT_MS = 20_000;

describe('/docs over HTTP', () => {
  const server = useTestServer();

  it('is an HTML page of its own with a strict CSP, nosniff and no referrer', async () => {
    const response = await request(`${server.url}/docs`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.equal(csp, DOCS_CONTENT_SECURITY_POLICY);
    const directives = new Map(
      csp
        .split(';')
        .map((directive) => directive.trim().split(/\s+/))
        .map(([name, ...values]) => [name!, values]),
    );
    assert.deepEqual(directives.get('default-src'), ["'none'"]);
    assert.deepEqual(directives.get('script-src'), ["'self'"]);
    assert.deepEqual(directives.get('style-src'), ["'self'"]);
    assert.deepEqual(directives.get('connect-src'), ["'self'"]);
    assert.ok(!csp.includes('unsafe-eval') && !csp.includes('unsafe-inline'), csp);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
    // No inline script, style or event handler; every script is a file of its own.
    const html = response.text;
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    assert.equal(scripts.length, 2);
    for (const [, attributes, body] of scripts) {
      assert.match(attributes!, /\bsrc="docs\/assets\/[\w.-]+\.js"/);
      assert.equal(body, '');
    }
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'no inline event handler');
    assert.doesNotMatch(html, /<style\b|\sstyle\s*=/i, 'no inline style');
    assert.doesNotMatch(html, /https?:\/\//, 'nothing from elsewhere');
  });

  it('serves the allowlisted files with their types, byte for byte, gzip-compressed on request, with a working ETag', async () => {
    for (const asset of DOCS_ASSETS) {
      const url = `${server.url}/docs/assets/${asset.name}`;
      const response = await fetch(url, { headers: { 'accept-encoding': 'identity' } });
      assert.equal(response.status, 200, asset.name);
      assert.equal(response.headers.get('content-type'), asset.type, asset.name);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(response.headers.get('cache-control'), 'no-cache');
      const body = Buffer.from(await response.arrayBuffer());
      const expected = 'file' in asset.source ? readFileSync(join(SWAGGER_UI_DIST, asset.source.file)) : Buffer.from(asset.source.text);
      assert.ok(body.equals(expected), `${asset.name} is served as it is`);
      const etag = response.headers.get('etag');
      assert.match(etag ?? '', /^"[\w-]+"$/);
      const revalidated = await fetch(url, { headers: { 'accept-encoding': 'identity', 'if-none-match': etag! } });
      assert.equal(revalidated.status, 304, asset.name);
      assert.equal((await revalidated.arrayBuffer()).byteLength, 0);
      if (asset.type.startsWith('image/')) continue;
      assert.equal(response.headers.get('vary'), 'accept-encoding');
      // fetch would decompress it; read the bytes as sent.
      const compressed = await new Promise<{ encoding: string | undefined; body: Buffer; etag: string | undefined }>((resolve, reject) => {
        get(url, { headers: { 'accept-encoding': 'gzip, deflate;q=0.5' } }, (message) => {
          const chunks: Buffer[] = [];
          message.on('data', (chunk: Buffer) => chunks.push(chunk));
          message.on('end', () => resolve({ encoding: message.headers['content-encoding'], body: Buffer.concat(chunks), etag: message.headers.etag }));
        }).on('error', reject);
      });
      assert.equal(compressed.encoding, 'gzip', asset.name);
      assert.ok(gunzipSync(compressed.body).equals(expected));
      assert.notEqual(compressed.etag, etag, 'each encoding has its own ETag');
    }
    assert.ok(readFileSync(join(SWAGGER_UI_DIST, 'package.json'), 'utf8').includes('"version": "5.35.0"'), 'swagger-ui-dist 5.35.0');
  });

  it('serves no other file: names not on the list, paths and traversals are 404 not_found', async () => {
    for (const name of [
      'index.html',
      'swagger-initializer.js',
      'swagger-ui-bundle.js.map',
      'package.json',
      '..%2Fpackage.json',
      '..%2F..%2Fpackage.json',
      '%2Fetc%2Fpasswd',
      'SWAGGER-UI.CSS',
      'init.js%00',
      'constructor',
      '__proto__',
    ]) {
      expectProblem(await request(`${server.url}/docs/assets/${name}`), 404, 'not_found');
    }
    // Deeper paths are no route at all.
    assert.equal((await request(`${server.url}/docs/assets/../../package.json`)).status, 404);
    assert.equal((await request(`${server.url}/docs/assets/a/b`)).status, 404);
    const wrongMethod = await request(`${server.url}/docs`, { method: 'POST' });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'GET, HEAD');
  });

  it('/docs/ (a trailing slash) redirects to the page, relatively and with the query kept', async () => {
    for (const method of ['GET', 'HEAD']) {
      for (const [path, location] of [
        ['/docs/', '../docs'],
        ['/docs/?url=x&y=1', '../docs?url=x&y=1'],
      ] as const) {
        const response = await request(`${server.url}${path}`, { method, redirect: 'manual' });
        assert.equal(response.status, 308, `${method} ${path}`);
        assert.equal(response.headers.get('location'), location, `${method} ${path}`);
        assert.equal(new URL(location, `${server.url}${path}`).pathname, '/docs');
      }
    }
    const followed = await fetch(`${server.url}/docs/`);
    assert.equal(followed.status, 200);
    assert.equal(new URL(followed.url).pathname, '/docs');
    assert.match(await followed.text(), /<script src="docs\/assets\/init\.js"/);
  });

  it('its script parses as a script (a syntax error would only show in a browser)', () => {
    assert.doesNotThrow(() => new Script(DOCS_INIT_SCRIPT, { filename: 'init.js' }));
  });

  it('needs no token even when tokens are configured (the document it shows does)', async () => {
    const guarded = await startTestServer({ access: { tokens: TokenRegistry.load({ adminToken: TOKEN }), protectedMode: true, rateLimit: null } });
    try {
      assert.equal((await request(`${guarded.url}/docs`)).status, 200);
      assert.equal((await fetch(`${guarded.url}/docs/assets/init.js`)).status, 200);
      assert.equal((await request(`${guarded.url}/v1/openapi.json`)).status, 401);
    } finally {
      await guarded.close();
    }
  });
});

describe('/docs in Chromium', { skip: noChromium }, () => {
  let browser: Browser;
  let open: TestServer;
  let guarded: TestServer;
  let operationCount: number;
  const screenshots = process.env['KVS_E2E_SCREENSHOTS'] ?? tempDirectory('kvs-docs-e2e-');

  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM });
    open = await startTestServer();
    guarded = await startTestServer({ access: { tokens: TokenRegistry.load({ adminToken: TOKEN }), protectedMode: true, rateLimit: null } });
    const document = (await request(`${open.url}/v1/openapi.json`)).body;
    operationCount = Object.values(document.paths as Record<string, Record<string, unknown>>).reduce(
      (count, item) => count + Object.keys(item).filter((name) => name !== 'parameters').length,
      0,
    );
  });
  after(async () => {
    await browser?.close();
    await open?.close();
    await guarded?.close();
    if (process.env['KVS_E2E_SCREENSHOTS'] === undefined) rmSync(screenshots, { recursive: true, force: true });
  });

  /** A fresh browser context (its own sessionStorage) on `server`'s /docs, recording what must not happen. */
  async function openDocs(
    server: TestServer,
    refusedStatus = 401,
    path = '/docs',
  ): Promise<{ context: BrowserContext; page: Page; errors: string[]; violations: string[]; outside: string[] }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    const violations: string[] = [];
    const outside: string[] = [];
    // Every request the page makes: only to the server on 127.0.0.1; anything else is recorded and never sent.
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === '127.0.0.1' && url.port === new URL(server.url).port) return route.continue();
      outside.push(url.href);
      return route.abort();
    });
    // Each violation is also logged to the console as an error (caught below); this names its directive.
    // (Browser code as text: the tests are type-checked without the DOM's types.)
    await context.addInitScript({
      content: `window.kvsViolations = []; document.addEventListener('securitypolicyviolation', (event) => window.kvsViolations.push(event.violatedDirective + ' ' + event.blockedURI));`,
    });
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      // Fetching the document without (or with a wrong) token is how the page finds out it needs one: expected 401s.
      if (message.text().includes(`status of ${refusedStatus}`) && message.location().url === `${server.url}/v1/openapi.json`) return;
      errors.push(`${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
    await page.goto(`${server.url}${path}`);
    return { context, page, errors, violations, outside };
  }

  async function violationsOf(page: Page): Promise<string[]> {
    return page.evaluate<string[]>('window.kvsViolations');
  }

  /** Waits until Swagger UI shows the operations, and checks the title and a few of them. */
  async function expectReference(page: Page): Promise<void> {
    const txn = page.locator('.opblock-summary-path[data-path="/v1/txn"]');
    await txn.waitFor({ state: 'visible', timeout: RENDER_TIMEOUT_MS });
    assert.equal(await txn.innerText(), '/v1/txn');
    const key = page.locator('.opblock-summary-path[data-path="/v1/kv/{key}"]').first();
    assert.ok(await key.isVisible(), '/v1/kv/{key} is shown');
    assert.equal(await key.innerText(), '/v1/kv/{key}');
    assert.match(await page.locator('.info .title').first().innerText(), /^kvs\b/);
    assert.ok(await page.getByText('Limits of this server').isVisible(), 'the description with the limits is shown');
    assert.equal(await page.locator('.opblock').count(), operationCount, 'every operation is listed');
  }

  /** Expands `operationId`, runs it with "Try it out", screenshots it, and returns the status and body it showed. */
  async function tryItOut(page: Page, tag: string, operationId: string, screenshot: string): Promise<{ status: string; body: string }> {
    const operation = page.locator(`#operations-${tag}-${operationId}`);
    await operation.locator('.opblock-summary-control').click();
    await operation.locator('button.try-out__btn').click();
    await operation.locator('button.execute').click();
    const status = operation.locator('.live-responses-table .response .response-col_status');
    await status.waitFor({ timeout: RENDER_TIMEOUT_MS });
    await operation.locator('.live-responses-table').screenshot({ path: join(screenshots, screenshot) });
    return {
      status: (await status.innerText()).trim(),
      body: await operation.locator('.live-responses-table .response-col_description pre').first().innerText(),
    };
  }

  it('renders the reference of a server without tokens, with no error, no CSP violation and nothing from elsewhere', async () => {
    const { context, page, errors, outside } = await openDocs(open);
    try {
      await expectReference(page);
      assert.equal(await page.locator('#kvs-gate').isVisible(), false, 'no token prompt');
      await page.screenshot({ path: join(screenshots, 'docs-top.png') });
      const limits = await tryItOut(page, 'Service', 'limits', 'docs-try-it-out.png');
      assert.equal(limits.status, '200');
      assert.match(limits.body, /"maxTxnOps"/);
      assert.deepEqual(errors, []);
      assert.deepEqual(await violationsOf(page), []);
      assert.deepEqual(outside, []);
    } finally {
      await context.close();
    }
  });

  it('opened at /docs/, lands on /docs and renders', async () => {
    const { context, page, errors, outside } = await openDocs(open, 401, '/docs/');
    try {
      await expectReference(page);
      assert.equal(new URL(page.url()).pathname, '/docs');
      assert.deepEqual(errors, []);
      assert.deepEqual(await violationsOf(page), []);
      assert.deepEqual(outside, []);
    } finally {
      await context.close();
    }
  });

  it('with tokens: asks for one, refuses a wrong one in words, renders with the right one, and "Try it out" sends it', async () => {
    const { context, page, errors, outside } = await openDocs(guarded);
    try {
      const prompt = page.locator('#kvs-gate');
      await prompt.waitFor({ state: 'visible', timeout: RENDER_TIMEOUT_MS });
      assert.match(await prompt.innerText(), /needs a token/);
      assert.equal(await page.locator('.opblock').count(), 0, 'nothing of the API is shown without a token');

      await page.locator('#kvs-token').fill('not-the-token');
      await page.locator('#kvs-token-submit').click();
      const refused = page.locator('#kvs-token-refused');
      await refused.waitFor({ state: 'visible', timeout: RENDER_TIMEOUT_MS });
      assert.match(
        await refused.innerText(),
        /^kvs refused that token: the bearer token is not one this server accepts \(401 unauthorized\)\. Check it and try again\.$/,
      );
      assert.equal(await page.evaluate<string | null>("sessionStorage.getItem('kvs-docs-token')"), null, 'a refused token is not kept');
      await page.screenshot({ path: join(screenshots, 'docs-token-refused.png') });

      await page.locator('#kvs-token').fill(TOKEN);
      await page.locator('#kvs-token-submit').click();
      await expectReference(page);
      assert.equal(await prompt.isVisible(), false);
      assert.equal(await page.evaluate<string | null>("sessionStorage.getItem('kvs-docs-token')"), TOKEN, 'kept for the tab');
      assert.ok(await page.locator('#kvs-session').isVisible(), 'the page says it sends the token, and offers to forget it');
      await page.screenshot({ path: join(screenshots, 'docs-top-with-token.png') });

      // An admin route: answered only because the interceptor added the token.
      const status = await tryItOut(page, 'Service', 'status', 'docs-try-it-out-with-token.png');
      assert.equal(status.status, '200');
      assert.match(status.body, /"uptimeSeconds"/);

      const beforeReload = await violationsOf(page);
      // The same tab, reloaded: the token is still there, no prompt.
      await page.reload();
      await expectReference(page);
      assert.equal(await prompt.isVisible(), false);

      assert.deepEqual(errors, []);
      assert.deepEqual([...beforeReload, ...(await violationsOf(page))], []);
      assert.deepEqual(outside, []);
    } finally {
      await context.close();
    }
  });

  it('in protected mode, to a client elsewhere: the page loads and says, in words, why there is no reference', async () => {
    const elsewhere = await startTestServer({ clientAddress: () => '192.0.2.10' });
    try {
      const { context, page, errors, outside } = await openDocs(elsewhere, 403);
      try {
        const status = page.locator('#kvs-status');
        await status.waitFor({ state: 'visible', timeout: RENDER_TIMEOUT_MS });
        assert.match(
          await status.innerText(),
          /^kvs did not give its API description: kvs is in protected mode: .*KV_PROTECTED_MODE=off.* \(403 protected_mode\)\.$/,
        );
        assert.equal(await page.locator('#kvs-gate').isVisible(), false, 'no token prompt: a token would not help');
        assert.deepEqual(errors, []);
        assert.deepEqual(await violationsOf(page), []);
        assert.deepEqual(outside, []);
      } finally {
        await context.close();
      }
    } finally {
      await elsewhere.close();
    }
  });
});
