import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from '../helpers/http.js';
import { CLI_PATH, leftoversCleanedAfter, onlyOnLmdb, TEST_ENGINE, useTestServer } from '../helpers/server.js';

/**
 * What the CLI does at a terminal, run in a real pseudo-terminal (util-linux
 * `script`): the prompt of `del --prefix`, answered on the terminal, and the
 * progress lines of export, import, backup and restore, shown there and
 * nowhere else (not when stderr alone is redirected).
 */
const server = useTestServer();
const files = leftoversCleanedAfter('kvs-cli-terminal-').directory();

const quoted = (part: string) => `'${part.replace(/'/g, `'\\''`)}'`;

/**
 * `kvs ARGS` with a terminal for stdin, stdout and stderr (or stderr into the file `stderrTo`); `typed` is
 * what the user types. Resolves with the screen's text and the exit code.
 */
function atTerminal(args: string[], typed = '', stderrTo?: string): Promise<{ screen: string; status: number | null }> {
  const command = [process.execPath, CLI_PATH, ...args].map(quoted).join(' ') + (stderrTo === undefined ? '' : ` 2>${quoted(stderrTo)}`);
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: { ...process.env, KVS_URL: server.url }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.on('data', (chunk: Buffer) => (screen += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (status) => resolve({ screen, status }));
    // Typed once the prompt is on the screen, as a person would.
    const typeWhenAsked = setInterval(() => {
      if (typed !== '' && /\[y\/N\]/.test(screen)) {
        child.stdin.write(typed);
        typed = '';
      }
    }, 20);
    child.on('exit', () => clearInterval(typeWhenAsked));
  });
}

/** An import file of `count` small text keys under `prefix`. */
function ndjsonOf(prefix: string, count: number): string {
  return Array.from({ length: count }, (_, index) => `${JSON.stringify({ key: `${prefix}${index}`, value: 'dg==', contentType: 'text/plain' })}\n`).join('');
}

async function putKeys(prefix: string, count: number): Promise<void> {
  for (let index = 0; index < count; index++) assert.equal((await request(`${server.url}/v1/kv/${prefix}${index}`, { method: 'PUT', body: 'v' })).status, 201);
}

describe('kvs at a terminal', { skip: process.platform === 'linux' ? false : 'needs util-linux script for a pseudo-terminal' }, () => {
  it('del --prefix shows the count and deletes when the answer is y', async () => {
    await putKeys('yes/', 3);
    const { screen, status } = await atTerminal(['del', '--prefix', 'yes/'], 'y\n');
    assert.equal(status, 0, screen);
    assert.match(screen, /delete 3 keys under "yes\/"\? \[y\/N\]/);
    assert.match(screen, /deleted 3 keys at revision \d+/);
    assert.equal((await request(`${server.url}/v1/kv?prefix=yes/`)).body.items.length, 0);
  });

  it('del --prefix deletes nothing when the answer is not y (exit 1)', async () => {
    await putKeys('no/', 2);
    const { screen, status } = await atTerminal(['del', '--prefix', 'no/'], 'n\n');
    assert.equal(status, 1, screen);
    assert.match(screen, /nothing deleted/);
    assert.equal((await request(`${server.url}/v1/kv?prefix=no/`)).body.items.length, 2);
  });

  it('export draws its progress on the terminal, ending with the count', async () => {
    const ndjson = Array.from({ length: 3000 }, (_, index) => JSON.stringify({ key: `many/${index}`, value: 'dg==', contentType: 'text/plain' })).join('\n');
    assert.equal((await request(`${server.url}/v1/admin/import`, { method: 'POST', body: ndjson })).status, 200);
    const { screen, status } = await atTerminal(['export', 'many/']);
    assert.equal(status, 0);
    assert.match(screen, /exported 3,000 keys \([\d,]+ keys\/s\)/);
  });

  it('import shows what it has sent of the file, then the result', async () => {
    const file = join(files, 'import.ndjson');
    writeFileSync(file, ndjsonOf('sent/', 2000));
    const { screen, status } = await atTerminal(['import', file]);
    assert.equal(status, 0, screen);
    assert.match(screen, /sent [\d.]+ KiB of [\d.]+ KiB \([\d.]+ [KMG]?i?B\/s\)/);
    assert.match(screen, /imported 2,000 keys at revision \d+/);
  });

  it(
    'backup shows that the server takes a snapshot, then the bytes received; restore the bytes copied, then the records verified',
    { skip: onlyOnLmdb('the etcd engine has no local store to back up') },
    async () => {
      const file = join(files, 'terminal.mdb');
      const backup = await atTerminal(['backup', file]);
      assert.equal(backup.status, 0, backup.screen);
      assert.match(backup.screen, /the server is taking a snapshot\.\.\./);
      assert.match(backup.screen, /backed up ([\d.]+ [KMG]iB) of \1 \([\d.]+ [KMG]?i?B\/s\)/);
      assert.match(backup.screen, /backed up revision \d+ \([\d.]+ [KMG]iB\) to /);

      const restore = await atTerminal(['restore', file, '--data-directory', join(files, 'restored')]);
      assert.equal(restore.status, 0, restore.screen);
      assert.match(restore.screen, /copied [\d.]+ [KMG]iB \([\d.]+ [KMG]?i?B\/s\)/);
      assert.match(restore.screen, /verified ([\d,]+) records? of \1 \([\d,]+ records\/s\)/);
      assert.match(restore.screen, /restored revision \d+ \([\d,]+ keys, [\d.]+ [KMG]iB\) into /);
    },
  );

  it('with stderr redirected, import, backup and restore write nothing there, though stdout is a terminal', async () => {
    const file = join(files, 'quiet.ndjson');
    writeFileSync(file, ndjsonOf('quiet/', 2000));
    const stderrFile = join(files, 'stderr.txt');
    const commands = [['import', file]];
    if (TEST_ENGINE === 'lmdb')
      commands.push(['backup', join(files, 'quiet.mdb')], ['restore', join(files, 'quiet.mdb'), '--data-directory', join(files, 'quiet-restored')]);
    for (const args of commands) {
      const { screen, status } = await atTerminal(args, '', stderrFile);
      assert.equal(status, 0, `${args[0]}: ${screen} ${readFileSync(stderrFile, 'utf8')}`);
      assert.equal(readFileSync(stderrFile, 'utf8'), '', `${args[0]} wrote to a redirected stderr`);
      // eslint-disable-next-line no-control-regex -- the terminal's erase-line sequence starts with ESC.
      assert.doesNotMatch(screen, /\u001b\[K/, `${args[0]} drew a progress line on stdout`);
    }
  });
});
