import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { putValue, request } from '../helpers/http.js';
import { CLI_PATH, leftoversCleanedAfter, sleep, type ServerProcess } from '../helpers/server.js';

/**
 * Log formats (LOG_FORMAT): JSON lines for machines, pino-pretty's lines for
 * people (the default on a terminal), both written synchronously and with
 * tokens redacted, through a real `kvs serve`.
 */
const leftovers = leftoversCleanedAfter('kvs-logs-');

/** Runs `kvs serve` with `env` until it is ready, stops it with SIGTERM, and returns its output and exit. */
async function serveAndStop(
  env: Record<string, string>,
  options: { command?: string[]; during?: (server: ServerProcess) => Promise<void>; stop?: (server: ServerProcess) => void } = {},
): Promise<{ output: string; exit: unknown }> {
  const server = await leftovers.spawn({ DATA_DIRECTORY: leftovers.directory(), ...env }, options.command === undefined ? {} : { command: options.command });
  await options.during?.(server);
  (options.stop ?? ((running) => running.kill('SIGTERM')))(server);
  const exit = await Promise.race([server.exited, sleep(10_000).then(() => 'still running 10 s after SIGTERM')]);
  return { output: server.output(), exit };
}

// eslint-disable-next-line no-control-regex -- ANSI colour sequences start with ESC.
const ANSI = /\u001b\[[0-9;]*m/g;
const lines = (output: string) =>
  output
    .replace(ANSI, '')
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '');

function assertJsonLines(output: string): void {
  const all = lines(output);
  assert.ok(all.length >= 3, `too few lines:\n${output}`);
  for (const line of all) {
    const record = JSON.parse(line) as { level?: unknown; msg?: unknown; time?: unknown };
    assert.equal(typeof record.level, 'number', line);
    assert.equal(typeof record.time, 'number', line);
    assert.equal(typeof record.msg, 'string', line);
  }
  assert.ok(all.some((line) => (JSON.parse(line) as { msg: string }).msg === 'kvs is serving'));
  assert.ok(
    all.some((line) => (JSON.parse(line) as { msg: string }).msg === 'stopped'),
    'the last line before exit was written',
  );
}

function assertPretty(output: string): void {
  const all = lines(output);
  for (const line of all) assert.throws(() => JSON.parse(line), `a JSON line in pretty output: ${line}`);
  // "[2024-01-02 03:04:05.678] INFO: kvs is serving", then its fields indented below.
  assert.ok(
    all.some((line) => /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: kvs is serving$/.test(line)),
    `no pretty "INFO: kvs is serving" line:\n${output}`,
  );
  assert.ok(
    all.some((line) => /^\s+engine: "/.test(line)),
    `the fields are not shown:\n${output}`,
  );
  assert.ok(
    all.some((line) => /INFO: stopped$/.test(line)),
    `the last line before exit is missing:\n${output}`,
  );
}

describe('log formats', () => {
  it('LOG_FORMAT=json: JSON lines', async () => {
    const { output, exit } = await serveAndStop({ LOG_FORMAT: 'json' });
    assert.deepEqual(exit, { code: 0, signal: null });
    assertJsonLines(output);
  });

  it('no LOG_FORMAT and stdout a pipe: JSON lines', async () => {
    const { output, exit } = await serveAndStop({});
    assert.deepEqual(exit, { code: 0, signal: null });
    assertJsonLines(output);
  });

  it('LOG_FORMAT=pretty (or --log-format pretty): not JSON, with level and message, no colours into a pipe', async () => {
    const { output, exit } = await serveAndStop({ LOG_FORMAT: 'pretty' });
    assert.deepEqual(exit, { code: 0, signal: null });
    assertPretty(output);
    assert.doesNotMatch(output, ANSI, 'colour codes written into a pipe');
    const flagged = await serveAndStop({ LOG_FORMAT: 'json' }, { command: [process.execPath, CLI_PATH, 'serve', '--log-format', 'pretty'] });
    assertPretty(flagged.output);
  });

  const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
  it(
    'no LOG_FORMAT and stdout a terminal (a pty from util-linux script): pretty',
    { skip: script.status === 0 ? false : 'util-linux `script` is not installed' },
    async () => {
      const { output, exit } = await serveAndStop(
        {},
        {
          command: ['script', '-qec', `exec '${process.execPath}' '${CLI_PATH}' serve`, '/dev/null'],
          // SIGTERM to kvs alone: `script` itself would end the session, and kvs with it, before kvs logs its shutdown.
          stop: (server) => {
            const [kvs] = readFileSync(`/proc/${server.child.pid}/task/${server.child.pid}/children`, 'utf8').trim().split(/\s+/);
            process.kill(Number(kvs), 'SIGTERM');
          },
        },
      );
      assert.deepEqual(exit, { code: 0, signal: null });
      assertPretty(output);
    },
  );

  it('an invalid LOG_FORMAT stops the start with exit 2, naming it', () => {
    const result = spawnSync(process.execPath, [CLI_PATH, 'serve'], {
      env: { ...process.env, LOG_FORMAT: 'xml', PORT: '0', DATA_DIRECTORY: leftovers.directory() },
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /LOG_FORMAT must be one of json, pretty/);
  });
});

describe('logs in both formats', () => {
  for (const format of ['json', 'pretty']) {
    it(`${format}: an Authorization header logged is redacted`, () => {
      // The server logs no headers today; the redaction is what keeps a future log line from leaking one.
      const program = `
        import { createLogger } from ${JSON.stringify(new URL('../../src/main.js', import.meta.url).href)};
        const logger = createLogger({ logLevel: 'info', logFormat: ${JSON.stringify(format)} });
        logger.info({ req: { method: 'GET', headers: { authorization: 'Bearer kvs_secret_in_a_header_0001' } } }, 'a request');
        logger.info({ headers: { authorization: 'Bearer kvs_secret_in_a_header_0002' } }, 'headers');`;
      const result = spawnSync(process.execPath, ['--input-type=module', '-e', program], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(result.status, 0, result.stderr);
      assert.ok(!result.stdout.includes('kvs_secret'), `a token was logged:\n${result.stdout}`);
      assert.equal(result.stdout.match(/\[redacted\]/g)?.length, 2, result.stdout);
    });

    it(`${format}: tokens sent with requests never reach the output, at trace level`, async () => {
      const adminToken = 'kvs_admin_token_that_must_stay_secret_0101';
      const wrongToken = 'kvs_wrong_token_that_must_stay_secret_0102';
      const auth = (token: string) => ({ authorization: `Bearer ${token}` });
      const { output } = await serveAndStop(
        { LOG_FORMAT: format, LOG_LEVEL: 'trace', KV_ADMIN_TOKEN: adminToken },
        {
          during: async (server) => {
            assert.equal((await putValue(server.url, 'logged', 'x', { headers: auth(adminToken) })).status, 201);
            assert.equal((await request(`${server.url}/v1/kv/logged`, { headers: auth(wrongToken) })).status, 401);
          },
        },
      );
      assert.match(output, /\/v1\/kv\/logged/, 'the requests were logged');
      assert.ok(!output.includes('kvs_admin_token') && !output.includes('kvs_wrong_token'), 'a token was logged');
    });
  }

  it('pretty: still stops on SIGTERM when whatever read its logs has gone away (stdout and stderr closed)', async () => {
    const server = await leftovers.spawn({ DATA_DIRECTORY: leftovers.directory(), LOG_FORMAT: 'pretty' });
    server.child.stdout!.destroy();
    server.child.stderr!.destroy();
    assert.equal((await putValue(server.url, 'after-logs', 'x')).status, 201);
    server.kill('SIGTERM');
    const exit = await Promise.race([server.exited, sleep(10_000).then(() => null)]);
    if (exit === null) server.kill('SIGKILL');
    assert.deepEqual(exit, { code: 0, signal: null }, 'the server did not exit within 10 s of SIGTERM');
  });
});
