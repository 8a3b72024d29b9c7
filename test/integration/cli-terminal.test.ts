import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { request } from '../helpers/http.js';
import { CLI_PATH, useTestServer } from '../helpers/server.js';

/**
 * What the CLI does at a terminal, run in a real pseudo-terminal (util-linux
 * `script`): the prompt of `del --prefix`, answered on the terminal, and the
 * progress line of `export`, shown there and nowhere else.
 */
const server = useTestServer();

/** `kvs ARGS` with a terminal for stdin, stdout and stderr; `typed` is what the user types. Resolves with the screen's text and the exit code. */
function atTerminal(args: string[], typed = ''): Promise<{ screen: string; status: number | null }> {
  const command = [process.execPath, CLI_PATH, ...args].map((part) => `'${part.replace(/'/g, `'\\''`)}'`).join(' ');
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
});
