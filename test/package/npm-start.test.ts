import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { before, describe, test } from 'node:test';
import { leftoversCleanedAfter } from '../helpers/server.js';

const run = promisify(execFile);
const REPO = new URL('../../../', import.meta.url).pathname;
const leftovers = leftoversCleanedAfter('kvs-npm-start-');
/** npm start after a change pays tsc first (a few seconds on a quiet machine, far more on a loaded one). */
const REBUILD_AND_START_MS = 60_000;

/**
 * npm start rebuilds only what changed (prestart: scripts/build.mjs --if-stale), so a
 * built checkout starts without paying tsc; a changed source is still rebuilt first.
 * In a copy of the checkout: the build here must not disturb the suites running beside it.
 */
describe('npm start on a checkout', () => {
  let checkout: string;
  const builtCli = () => join(checkout, 'dist/src/cli/index.js');
  /** When the last build started (the stamp's time): tsc, incremental, rewrites only the outputs of changed sources. */
  const lastBuild = () => statSync(join(checkout, 'dist/.build-stamp')).mtimeMs;

  before(() => {
    checkout = leftovers.directory();
    for (const entry of ['package.json', 'tsconfig.json', 'tsconfig.src.json', 'scripts', 'src', 'proto'])
      cpSync(join(REPO, entry), join(checkout, entry), { recursive: true });
    symlinkSync(join(REPO, 'node_modules'), join(checkout, 'node_modules'));
  });

  test('builds an unbuilt checkout, then skips the build while nothing changed', async () => {
    await run('npm', ['run', '--silent', 'prestart'], { cwd: checkout });
    const builtAt = lastBuild();
    const { stdout } = await run(process.execPath, [builtCli(), 'version'], { cwd: checkout });
    assert.match(stdout.trim(), /^\d+\.\d+\.\d+/);
    await run('npm', ['run', '--silent', 'prestart'], { cwd: checkout });
    assert.equal(lastBuild(), builtAt, 'nothing was rebuilt');
  });

  test('rebuilds after a source file changed, and npm start serves the change', async () => {
    const source = join(checkout, 'src/cli/index.ts');
    writeFileSync(source, readFileSync(source, 'utf8').replace('a durable key-value store server, and its command line', 'a changed checkout'));
    const server = await leftovers.spawn(
      { DATA_DIRECTORY: leftovers.directory() },
      { command: ['npm', 'start', '--silent', '--prefix', checkout], readyWithinMs: REBUILD_AND_START_MS },
    );
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    const { stdout } = await run(process.execPath, [builtCli(), 'help'], { cwd: checkout });
    assert.match(stdout, /a changed checkout/);
    server.kill('SIGTERM');
    await server.exited;
  });

  test('rebuilds after a source file was renamed or deleted (no modification time changes), and removes its outputs: npm start serves no stale module', async () => {
    const web = (name: string) => join(checkout, 'src/web', name);
    const built = (name: string) => ['.js', '.js.map', '.d.ts'].map((suffix) => join(checkout, 'dist/src/web', `${name}${suffix}`));
    // A module of the console, and a directory of modules, written an hour ago: older than any build.
    const hourAgo = new Date(Date.now() - 3_600_000);
    writeFileSync(web('stale-probe.ts'), 'export const probe = 1;\n');
    utimesSync(web('stale-probe.ts'), hourAgo, hourAgo);
    cpSync(join(checkout, 'src/core'), join(checkout, 'src/core-copy'), { recursive: true, preserveTimestamps: true });
    // Only the list of files tells they are new.
    await run('npm', ['run', '--silent', 'prestart'], { cwd: checkout });
    for (const output of built('stale-probe')) assert.ok(existsSync(output), `${output} is built`);
    assert.ok(existsSync(join(checkout, 'dist/src/core-copy/keys.js')));

    // Renamed: the file keeps its modification time.
    renameSync(web('stale-probe.ts'), web('renamed-probe.ts'));
    await run('npm', ['run', '--silent', 'prestart'], { cwd: checkout });
    for (const output of built('renamed-probe')) assert.ok(existsSync(output), `${output} is built after the rename`);
    for (const output of built('stale-probe')) assert.ok(!existsSync(output), `${output}, of the old name, is removed`);

    // Deleted, the module and the directory.
    rmSync(web('renamed-probe.ts'));
    rmSync(join(checkout, 'src/core-copy'), { recursive: true });
    const builtAt = lastBuild();
    const server = await leftovers.spawn(
      { DATA_DIRECTORY: leftovers.directory() },
      { command: ['npm', 'start', '--silent', '--prefix', checkout], readyWithinMs: REBUILD_AND_START_MS },
    );
    try {
      for (const output of built('renamed-probe')) assert.ok(!existsSync(output), `${output} is removed with its source`);
      assert.ok(!existsSync(join(checkout, 'dist/src/core-copy')), 'the outputs of a deleted directory go, and the directory with them');
      assert.ok(lastBuild() > builtAt, 'npm start rebuilt first');
      assert.equal((await fetch(`${server.url}/console/web/renamed-probe.js`)).status, 404, 'the console serves no module of a deleted source');
      assert.equal((await fetch(`${server.url}/console/web/app.js`)).status, 200);
    } finally {
      server.kill('SIGTERM');
      await server.exited;
    }
    // And then nothing changed: no rebuild.
    const rebuiltAt = lastBuild();
    await run('npm', ['run', '--silent', 'prestart'], { cwd: checkout });
    assert.equal(lastBuild(), rebuiltAt, 'nothing was rebuilt');
    assert.deepEqual(
      readdirSync(join(checkout, 'dist/src/web')).filter((name) => name.includes('probe')),
      [],
    );
  });

  test('a stamp from before the list was recorded (an empty file) counts as stale', async () => {
    const stamp = join(checkout, 'dist/.build-stamp');
    writeFileSync(stamp, '');
    const builtAt = lastBuild();
    await run('npm', ['run', '--silent', 'prestart'], { cwd: checkout });
    assert.ok(lastBuild() > builtAt, 'rebuilt');
    assert.ok(Array.isArray((JSON.parse(readFileSync(stamp, 'utf8')) as { sources: unknown }).sources), 'the stamp now lists the sources');
  });
});
