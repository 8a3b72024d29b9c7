import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { before, describe, test } from 'node:test';
import { leftoversCleanedAfter } from '../helpers/server.js';

const run = promisify(execFile);
const REPO = new URL('../../../', import.meta.url).pathname;
const leftovers = leftoversCleanedAfter('kvs-npm-start-');

/**
 * npm start rebuilds only what changed (prestart: scripts/build.mjs --if-stale), so a
 * built checkout starts without paying tsc; a changed source is still rebuilt first.
 * In a copy of the checkout: the build here must not disturb the suites running beside it.
 */
describe('npm start on a checkout', () => {
  let checkout: string;
  const builtCli = () => join(checkout, 'dist/src/cli/index.js');

  before(() => {
    checkout = leftovers.directory();
    for (const entry of ['package.json', 'tsconfig.json', 'tsconfig.src.json', 'scripts', 'src', 'proto']) cpSync(join(REPO, entry), join(checkout, entry), { recursive: true });
    symlinkSync(join(REPO, 'node_modules'), join(checkout, 'node_modules'));
  });

  test('builds an unbuilt checkout, then skips the build while nothing changed', async () => {
    await run('npm', ['run', '--silent', 'prestart'], { cwd: checkout });
    const builtAt = statSync(builtCli()).mtimeMs;
    const { stdout } = await run(process.execPath, [builtCli(), 'version'], { cwd: checkout });
    assert.match(stdout.trim(), /^\d+\.\d+\.\d+/);
    await run('npm', ['run', '--silent', 'prestart'], { cwd: checkout });
    assert.equal(statSync(builtCli()).mtimeMs, builtAt, 'nothing was rebuilt');
  });

  test('rebuilds after a source file changed, and npm start serves the change', async () => {
    const source = join(checkout, 'src/cli/index.ts');
    writeFileSync(source, readFileSync(source, 'utf8').replace('a durable key-value store server, and its command line', 'a changed checkout'));
    const server = await leftovers.spawn({ DATA_DIRECTORY: leftovers.directory() }, { command: ['npm', 'start', '--silent', '--prefix', checkout] });
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    const { stdout } = await run(process.execPath, [builtCli(), 'help'], { cwd: checkout });
    assert.match(stdout, /a changed checkout/);
    server.kill('SIGTERM');
    await server.exited;
  });
});
