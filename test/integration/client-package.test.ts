import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { DEFAULT_URL, KvsClient, PreconditionFailedError } from '../../src/client/index.js';
import type * as Sdk from '../../src/client/index.js';
import { fetchSpy } from '../helpers/sdk.js';
import { useTestServer } from '../helpers/server.js';

/**
 * Constructing a client (options, fromEnv, an injected fetch) and the SDK as a
 * package: `kvs/client` through package.json "exports", and built files that
 * run in a browser as well as in Node.
 */

const server = useTestServer();

let prefixes = 0;
const fresh = (name: string) => `${name}-${++prefixes}/`;

describe('constructing a client', () => {
  it('fromEnv takes KVS_URL (default http://127.0.0.1:8080), from process.env when not given an env', async () => {
    const fromEnv = KvsClient.fromEnv({ KVS_URL: server.url });
    assert.equal(fromEnv.url, server.url);
    await fromEnv.put(`${fresh('env')}k`, 'via env');
    assert.equal(KvsClient.fromEnv({}).url, DEFAULT_URL);
    assert.equal(KvsClient.fromEnv({ KVS_URL: '' }).url, DEFAULT_URL);
    assert.equal(new KvsClient().url, DEFAULT_URL);

    const saved = process.env['KVS_URL'];
    process.env['KVS_URL'] = `${server.url}/`;
    try {
      const client = KvsClient.fromEnv();
      assert.equal(client.url, server.url, 'a trailing slash is dropped');
      assert.equal(await client.ready(), true);
    } finally {
      if (saved === undefined) delete process.env['KVS_URL'];
      else process.env['KVS_URL'] = saved;
    }
    // (KVS_TOKEN: client-errors.test.ts, on a server with tokens.)
  });

  it("uses the fetch it is given, and calls it as a function, not as the client's method (a browser's fetch refuses that)", async () => {
    const spy = fetchSpy();
    const receivers: unknown[] = [];
    const strictFetch = function (this: unknown, input: Parameters<typeof fetch>[0], init?: RequestInit) {
      receivers.push(this);
      if (this !== undefined && this !== globalThis) throw new TypeError("Failed to execute 'fetch' on 'Window': Illegal invocation");
      return spy.fetch(input, init);
    } as typeof fetch;
    const client = new KvsClient({ url: server.url, fetch: strictFetch });
    await client.put(`${fresh('fetch')}k`, 'v');
    assert.equal(spy.sent().length, 1);
    assert.equal(receivers.length, 1);
  });
});

describe('the package', () => {
  it("'kvs/client' and 'kvs' (the package's own exports) are this SDK", async () => {
    // Specifiers in variables: resolved by Node at run time through package.json "exports", not by tsc.
    const [viaClient, viaRoot] = ['kvs/client', 'kvs'];
    const client = (await import(viaClient)) as typeof Sdk;
    const root = (await import(viaRoot)) as typeof Sdk;
    assert.equal(client.KvsClient, KvsClient);
    assert.equal(root.KvsClient, KvsClient);
    assert.equal(client.PreconditionFailedError, PreconditionFailedError);
    await new client.KvsClient({ url: server.url }).put(`${fresh('pkg')}k`, 'through kvs/client');
  });

  it('the built SDK uses nothing Node-only: no node: imports, no Buffer, only its own files and eventsource-parser', () => {
    const directory = new URL('../../src/client/', import.meta.url); // dist/src/client, beside dist/test
    const files = readdirSync(directory).filter((name) => name.endsWith('.js'));
    for (const name of ['index.js', 'client.js', 'transport.js', 'watch.js', 'errors.js', 'values.js'])
      assert.ok(files.includes(name), `${name} was not built`);
    const found: string[] = [];
    for (const name of files) {
      const text = readFileSync(new URL(name, directory), 'utf8');
      // Parsed, so that comments (which may well say "Buffer") do not count and regular expressions are not misread.
      const source = ts.createSourceFile(name, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
      const visit = (node: ts.Node): void => {
        if (ts.isIdentifier(node) && (node.text === 'Buffer' || node.text === 'require')) found.push(`${name}: ${node.text}`);
        if (ts.isStringLiteralLike(node) && node.text.startsWith('node:')) found.push(`${name}: "${node.text}"`);
        const specifier =
          ts.isImportDeclaration(node) || ts.isExportDeclaration(node)
            ? node.moduleSpecifier
            : ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword
              ? node.arguments[0]
              : undefined;
        if (specifier !== undefined) {
          const module = ts.isStringLiteralLike(specifier) ? specifier.text : '(computed)';
          if (!module.startsWith('./') && module !== 'eventsource-parser') found.push(`${name}: imports ${module}`);
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    assert.deepEqual(found, []);
  });
});
