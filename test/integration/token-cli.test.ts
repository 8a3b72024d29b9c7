import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sha256 } from '../../src/auth/tokens.js';
import { expectProblem, putValue, request } from '../helpers/http.js';
import { CLI_PATH, freePort, leftoversCleanedAfter } from '../helpers/server.js';

/**
 * `kvs token create` through the real CLI, and the token it makes used
 * against a real `kvs serve` process: the whole path an operator follows.
 */
const leftovers = leftoversCleanedAfter('kvs-token-cli-');
const directory = () => leftovers.directory();

interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function kvs(...args: string[]): CliResult {
  const result = spawnSync(process.execPath, [CLI_PATH, ...args], { encoding: 'utf8', timeout: 15_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The token and the entry `kvs token create` printed. */
function created(result: CliResult): { token: string; entry: Record<string, any>; entryText: string } {
  assert.equal(result.status, 0, `kvs token create failed: ${result.stderr}`);
  const lines = result.stdout.split('\n');
  const tokenLines = lines.filter((line) => /^kvs_[A-Za-z0-9_-]+$/.test(line));
  assert.equal(tokenLines.length, 1, `one token line expected:\n${result.stdout}`);
  const token = tokenLines[0]!;
  const entryText = lines.filter((line) => line.startsWith('{')).at(-1);
  assert.ok(entryText !== undefined, `no JSON entry in:\n${result.stdout}`);
  return { token, entry: JSON.parse(entryText), entryText };
}

function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

function hexHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

describe('kvs token create', () => {
  it('prints a new token once and its entry, which holds only the hash', () => {
    const result = kvs('token', 'create', '--name', 'app', '--grant', 'app/:read,write', '--grant', ':watch');
    const { token, entry, entryText } = created(result);
    assert.match(token, /^kvs_[A-Za-z0-9_-]{43,}$/);
    assert.equal(occurrences(result.stdout, token), 1, 'the token is printed exactly once');
    assert.equal(result.stderr, '');
    assert.deepEqual(entry, {
      name: 'app',
      sha256: hexHash(token),
      grants: [
        { prefix: 'app/', actions: ['read', 'write'] },
        { prefix: '', actions: ['watch'] },
      ],
    });
    assert.equal(entry.sha256, sha256(token).toString('hex'));
    assert.ok(!entryText.includes(token) && !entryText.includes(token.slice(4)), 'the entry does not contain the token');
  });

  it('makes a different token each time', () => {
    const first = created(kvs('token', 'create', '--name', 'a', '--grant', 'a/:read'));
    const second = created(kvs('token', 'create', '--name', 'a', '--grant', 'a/:read'));
    assert.notEqual(first.token, second.token);
    assert.notEqual(first.entry.sha256, second.entry.sha256);
  });

  it('makes admin entries', () => {
    const { token, entry } = created(kvs('token', 'create', '--name', 'ops', '--admin'));
    assert.deepEqual(entry, { name: 'ops', sha256: hexHash(token), admin: true });
  });

  it('splits a grant at its last colon, so prefixes may contain colons', () => {
    const { entry } = created(kvs('token', 'create', '--name', 'svc', '--grant', 'tenant:42/:read,read'));
    assert.deepEqual(entry.grants, [{ prefix: 'tenant:42/', actions: ['read'] }]);
  });

  it('--help prints the usage on stdout, exits 0 and makes no token', () => {
    const result = kvs('token', 'create', '--help');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /Usage:\s+kvs token create --name NAME/);
    assert.doesNotMatch(result.stdout, /kvs_[A-Za-z0-9_-]{43}/);
  });

  describe('refuses bad arguments with exit code 2 and the usage, printing no token', () => {
    const cases: Array<[string, string[], RegExp]> = [
      ['missing --name', ['token', 'create', '--grant', 'app/:read'], /--name/],
      ['a blank --name', ['token', 'create', '--name', '  ', '--grant', 'app/:read'], /--name/],
      ['both --admin and --grant', ['token', 'create', '--name', 'x', '--admin', '--grant', 'app/:read'], /--admin/],
      ['no grant', ['token', 'create', '--name', 'x'], /--grant/],
      ['an unknown action', ['token', 'create', '--name', 'x', '--grant', 'app/:delete'], /app\/:delete/],
      ['no action', ['token', 'create', '--name', 'x', '--grant', 'app/'], /app\//],
      ['an unknown subcommand', ['token', 'list'], /"list"/],
      ['no subcommand', ['token'], /subcommand/],
      ['an unknown flag', ['token', 'create', '--name', 'x', '--grant', 'app/:read', '--expires', '1d'], /--expires/],
    ];
    for (const [what, args, naming] of cases) {
      it(what, () => {
        const result = kvs(...args);
        assert.equal(result.status, 2, `exit code for ${args.join(' ')}; stderr: ${result.stderr}`);
        assert.equal(result.stdout, '', 'nothing on stdout: no token is made');
        assert.match(result.stderr, naming);
        // Every refusal shows how the command is used.
        assert.match(result.stderr, /Usage:\s+kvs token create --name NAME/, `usage on stderr for ${args.join(' ')}:\n${result.stderr}`);
      });
    }
  });
});

describe('a token from kvs token create against kvs serve', () => {
  it('authenticates and authorizes real requests, and never logs the token', async () => {
    const app = created(kvs('token', 'create', '--name', 'app', '--grant', 'app/:read,write', '--grant', ':watch'));
    const ops = created(kvs('token', 'create', '--name', 'ops', '--admin'));
    const data = directory();
    // Beside the data directory, not in it: kvs refuses to create a store among other files.
    const tokensFile = join(directory(), 'tokens.json');
    writeFileSync(tokensFile, JSON.stringify({ tokens: [app.entry, ops.entry] }));
    const adminToken = 'kvs_env-admin-token-Hk2p9';

    // debug: request logs on, so that a logged header would show.
    const server = await leftovers.spawn({ DATA_DIRECTORY: data, KV_TOKENS_FILE: tokensFile, KV_ADMIN_TOKEN: adminToken, LOG_LEVEL: 'debug' });
    try {
      const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

      const put = await putValue(server.url, 'app/x', 'hello', { headers: { ...bearer(app.token), 'content-type': 'text/plain' } });
      assert.ok(put.status >= 200 && put.status < 300, `PUT app/x: ${put.status} ${put.text}`);
      const got = await request(`${server.url}/v1/kv/app/x`, { headers: bearer(app.token) });
      assert.equal(got.status, 200);
      assert.equal(got.text, 'hello');

      // Outside the grants: forbidden, whether the key exists or not.
      const forbiddenPut = await putValue(server.url, 'other/x', 'no', { headers: bearer(app.token) });
      const problem = expectProblem(forbiddenPut, 403, 'forbidden');
      assert.ok(!forbiddenPut.text.includes(app.token));
      assert.equal(typeof problem.detail, 'string');
      expectProblem(await request(`${server.url}/v1/kv/other/x`, { headers: bearer(app.token) }), 403, 'forbidden');
      expectProblem(await request(`${server.url}/v1/status`, { headers: bearer(app.token) }), 403, 'forbidden');
      // A list inside the grant is fine; one reaching past it is not.
      assert.equal((await request(`${server.url}/v1/kv?prefix=app/`, { headers: bearer(app.token) })).status, 200);
      expectProblem(await request(`${server.url}/v1/kv?prefix=app`, { headers: bearer(app.token) }), 403, 'forbidden');

      // The admin tokens, from the file and from the environment, may do anything.
      for (const token of [ops.token, adminToken]) {
        assert.equal((await request(`${server.url}/v1/status`, { headers: bearer(token) })).status, 200);
        const otherPut = await putValue(server.url, 'other/x', 'yes', { headers: bearer(token) });
        assert.ok(otherPut.status >= 200 && otherPut.status < 300, `admin PUT other/x: ${otherPut.status}`);
      }

      // No token, or an unknown one: 401 with a Bearer challenge, on the fast read path too.
      for (const [method, init] of [
        ['GET', {}],
        ['PUT', { method: 'PUT', body: 'x' }],
        ['GET with a bad token', { headers: bearer(`${app.token}x`) }],
      ] as const) {
        const response = await request(`${server.url}/v1/kv/app/x`, init);
        expectProblem(response, 401, 'unauthorized');
        assert.equal(response.headers.get('www-authenticate'), 'Bearer', method);
        assert.ok(!response.text.includes(app.token), `${method}: the answer repeats the token`);
      }
      // The hash is not a token.
      expectProblem(await request(`${server.url}/v1/kv/app/x`, { headers: bearer(app.entry.sha256) }), 401, 'unauthorized');
      // Health checks need none.
      assert.equal((await request(`${server.url}/healthz`)).status, 200);
    } finally {
      server.kill('SIGTERM');
      await server.exited;
    }
    const output = server.output();
    // Request logs really are on (else the check below proves nothing): each 401 and 403 was logged.
    assert.ok(occurrences(output, '"msg":"incoming request"') >= 10, `request logs expected:\n${output}`);
    assert.match(output, /"statusCode":401/);
    for (const token of [app.token, ops.token, adminToken, `${app.token}x`]) {
      assert.ok(!output.includes(token), `the server output contains a token:\n${output}`);
    }
  });

  it('refuses to start on a malformed tokens file: exit 2, one line naming KV_TOKENS_FILE, no token', async () => {
    const { token, entry, entryText } = created(kvs('token', 'create', '--name', 'app', '--grant', 'app/:read'));
    const data = directory();
    const files: Record<string, string> = {
      // A hand edit gone wrong: an action that does not exist.
      badAction: JSON.stringify({ tokens: [{ ...entry, grants: [{ prefix: 'app/', actions: ['delete'] }] }] }),
      // Not JSON at all: the entry pasted without the wrapper, cut short.
      notJson: entryText.slice(0, -3),
      // The token pasted where its hash belongs.
      tokenAsHash: JSON.stringify({ tokens: [{ ...entry, sha256: token }] }),
    };
    for (const [what, content] of Object.entries(files)) {
      const tokensFile = join(data, `${what}.json`);
      writeFileSync(tokensFile, content);
      const result = await runServe({ DATA_DIRECTORY: data, KV_TOKENS_FILE: tokensFile, LOG_LEVEL: 'debug', PORT: String(await freePort()) });
      assert.equal(result.code, 2, `${what}: exit code (stderr: ${result.stderr})`);
      const lines = result.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `${what}: one line on stderr:\n${result.stderr}`);
      assert.match(lines[0]!, /KV_TOKENS_FILE/);
      assert.ok(lines[0]!.includes(tokensFile), `${what}: the line names the file`);
      assert.ok(!`${result.stdout}${result.stderr}`.includes(token), `${what}: the output contains the token`);
      assert.ok(!`${result.stdout}${result.stderr}`.includes(token.slice(4)), `${what}: the output contains the token's random part`);
    }
  });
});

/** `kvs serve` run to its exit (it must exit by itself), with its output. */
function runServe(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, 'serve'], { env: { ...process.env, HOST: '127.0.0.1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // A server that starts anyway would never exit: fail instead of hanging.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kvs serve did not exit on a bad tokens file:\n${stdout}${stderr}`));
    }, 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
