import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { before, describe, test } from 'node:test';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { leftoversCleanedAfter } from '../helpers/server.js';

const run = promisify(execFile);
const REPO = new URL('../../../', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { name: string; version: string };
const leftovers = leftoversCleanedAfter('kvs-package-');

/** The names of the files in an npm tarball (ustar headers: the name at 0, the size in octal at 124). */
function tarballFiles(tarball: Buffer): string[] {
  const tar = gunzipSync(tarball);
  const names: string[] = [];
  for (let offset = 0; offset + 512 <= tar.length;) {
    const header = tar.subarray(offset, offset + 512);
    const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    if (name === '') break;
    const prefix = header.subarray(345, 500).toString('utf8').replace(/\0.*$/s, '');
    names.push(prefix === '' ? name : `${prefix}/${name}`);
    const size = parseInt(header.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0', 8);
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return names;
}

describe('the npm package', () => {
  let tarball: Buffer;
  let files: string[];
  let prefix: string;
  let checkout: string;
  /** A built test of the checkout's dev build, and what it held before npm pack. */
  const devOutput = 'dist/test/unit/keys.test.js';
  const devOutputText = "// the dev build's, not the package's\n";

  before(async () => {
    // Packed from a copy of the checkout: prepack rebuilds dist/src from nothing, which must not pull the
    // server out from under the suites running beside this one.
    checkout = leftovers.directory();
    for (const entry of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.src.json',
      'LICENSE',
      'README.md',
      'scripts',
      'src',
      'proto',
      'test/unit/keys.test.ts',
    ]) {
      cpSync(join(REPO, entry), join(checkout, entry), { recursive: true });
    }
    symlinkSync(join(REPO, 'node_modules'), join(checkout, 'node_modules'));
    // A dev build already there: a built test (of a source that exists), and in dist/src the output of a
    // source deleted since, which must not be packed.
    mkdirSync(join(checkout, 'dist/test/unit'), { recursive: true });
    writeFileSync(join(checkout, devOutput), devOutputText);
    mkdirSync(join(checkout, 'dist/src/gone'), { recursive: true });
    writeFileSync(join(checkout, 'dist/src/gone/deleted-module.js'), 'export {};\n');
    const out = join(checkout, 'out');
    mkdirSync(out);
    await run('npm', ['pack', '--silent', '--pack-destination', out], { cwd: checkout });
    const [name] = readdirSync(out);
    tarball = readFileSync(join(out, name!));
    files = tarballFiles(tarball);

    // Installed as a user would, into an empty prefix; dependencies from npm's cache where it has them.
    prefix = leftovers.directory();
    writeFileSync(join(prefix, 'package.json'), '{"name":"user-project","private":true,"type":"module"}');
    await run('npm', ['install', '--silent', '--prefer-offline', '--no-audit', '--no-fund', join(out, name!)], { cwd: prefix });
  });

  test('holds what runs, and nothing else', () => {
    for (const needed of [
      'package/package.json',
      'package/LICENSE',
      'package/README.md',
      'package/proto/etcd-v3.proto',
      'package/dist/src/cli/index.js',
      'package/dist/src/client/index.js',
      'package/dist/src/client/index.d.ts',
    ]) {
      assert.ok(files.includes(needed), `${needed} is packed`);
    }
    const strays = files.filter((file) => !/^package\/(package\.json|LICENSE|README\.md|proto\/[^/]+\.proto|dist\/src\/.+\.(js|d\.ts))$/.test(file));
    assert.deepEqual(strays, [], 'no tests, bench, sources, source maps or build info');
  });

  test('npm pack leaves the dev build as it was (its built tests), with dist/src rebuilt in place', async () => {
    assert.equal(readFileSync(join(checkout, devOutput), 'utf8'), devOutputText, `${devOutput} survives npm pack`);
    assert.ok(!files.some((file) => file.includes('deleted-module')), 'the output of a deleted source is not packed');
    assert.ok(!existsSync(join(checkout, 'dist/src/gone')), 'nor left in dist/src');
    const { stdout } = await run(process.execPath, [join(checkout, 'dist/src/cli/index.js'), 'version'], { cwd: checkout });
    assert.equal(stdout.trim(), manifest.version);
    assert.deepEqual(
      readdirSync(join(checkout, 'dist')).filter((name) => name.startsWith('.pack')),
      [],
      'no leftover of the pack build',
    );
  });

  test('publint finds nothing to fix', async () => {
    const result = await publint({
      pack: { tarball: tarball.buffer.slice(tarball.byteOffset, tarball.byteOffset + tarball.byteLength) as ArrayBuffer },
      strict: true,
      level: 'suggestion',
    });
    assert.deepEqual(
      result.messages.map((message) => formatMessage(message, result.pkg) ?? message.code),
      [],
    );
  });

  test('the installed kvs prints its version', async () => {
    const { stdout } = await run(join(prefix, 'node_modules/.bin/kvs'), ['version']);
    assert.equal(stdout.trim(), manifest.version);
  });

  test('the installed kvs serves', async () => {
    const server = await leftovers.spawn({ DATA_DIRECTORY: leftovers.directory() }, { command: [join(prefix, 'node_modules/.bin/kvs'), 'serve'] });
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    // A round trip through the installed SDK, imported by the package's name.
    const script = `import { KvsClient } from '${manifest.name}/client'; const kvs = new KvsClient({ url: process.argv[1] }); await kvs.put('pkg/k', { ok: true }); console.log(JSON.stringify((await kvs.get('pkg/k')).json()));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script, server.url], { cwd: prefix });
    assert.equal(stdout.trim(), '{"ok":true}');
    const root = await run(process.execPath, ['--input-type=module', '-e', `const m = await import('${manifest.name}'); console.log(typeof m.KvsClient)`], {
      cwd: prefix,
    });
    assert.equal(root.stdout.trim(), 'function', `import '${manifest.name}' gives the SDK too`);
    server.kill('SIGTERM');
    assert.equal((await server.exited).code, 0);
  });
});
