import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { CLI_PATH } from './server.js';

/**
 * The real, built `kvs` CLI as a child process, for the cli-*.test.ts files.
 * Asynchronous (never spawnSync): the server it talks to usually runs in the
 * test's own process, which must keep serving meanwhile.
 */

export interface KvsResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface KvsOptions {
  /** The server, given as KVS_URL (tests of --url pass the flag themselves). */
  url?: string;
  /** Extra environment; KVS_* variables of the test's own environment are never passed on. */
  env?: Record<string, string>;
  /** Written to standard input, which is then closed; without it, standard input is an empty pipe. */
  input?: string | Buffer;
  /** The child is killed (and the test fails) after this long. */
  timeoutMs?: number;
}

/** The environment a `kvs` child gets: the test's, without its KVS_* settings, plus `options`. */
function childEnv(options: KvsOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('KVS_')) env[name] = value;
  return { ...env, ...(options.url === undefined ? {} : { KVS_URL: options.url }), ...options.env };
}

/** A running `kvs` process: its output so far, and how it ended. */
export interface KvsProcess {
  child: ChildProcess;
  stdout(): Buffer;
  stderr(): string;
  /** Complete lines of stdout so far. */
  lines(): string[];
  /** Resolves once `count` lines are out (fails after `timeoutMs`, or if the process ends first). */
  waitForLines(count: number, timeoutMs?: number): Promise<string[]>;
  exited: Promise<KvsResult>;
}

/** Starts `kvs ...args` and returns at once (for watch, and anything that runs until told). */
export function startKvs(args: string[], options: KvsOptions = {}): KvsProcess {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { env: childEnv(options), stdio: ['pipe', 'pipe', 'pipe'] });
  const stdoutChunks: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => stdoutChunks.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  // A child that exits before reading its input would otherwise fail the test with EPIPE.
  child.stdin!.on('error', () => {});
  child.stdin!.end(options.input ?? '');
  const timeoutMs = options.timeoutMs ?? 30_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exited = new Promise<KvsResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout: Buffer.concat(stdoutChunks), stderr });
    });
  });
  let ended = false;
  void exited.then(() => (ended = true));
  const stdout = () => Buffer.concat(stdoutChunks);
  const lines = () => {
    const text = stdout().toString('utf8');
    return text
      .slice(0, text.lastIndexOf('\n') + 1)
      .split('\n')
      .slice(0, -1);
  };
  return {
    child,
    stdout,
    stderr: () => stderr,
    lines,
    async waitForLines(count, waitMs = 15_000) {
      const deadline = Date.now() + waitMs;
      while (lines().length < count) {
        if (ended) assert.fail(`kvs ${args.join(' ')} exited after ${lines().length} of ${count} lines; stderr: ${stderr}`);
        if (Date.now() > deadline) assert.fail(`kvs ${args.join(' ')}: ${lines().length} of ${count} lines after ${waitMs} ms; stderr: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return lines();
    },
    exited,
  };
}

/** Runs `kvs ...args` to its end. */
export async function kvs(args: string[], options: KvsOptions = {}): Promise<KvsResult> {
  const result = await startKvs(args, options).exited;
  if (result.signal === 'SIGKILL') assert.fail(`kvs ${args.join(' ')} did not finish within ${options.timeoutMs ?? 30_000} ms; stderr: ${result.stderr}`);
  return result;
}

/** Runs `kvs ...args`, which must succeed with nothing on stderr; returns stdout as text. */
export async function kvsOk(args: string[], options: KvsOptions = {}): Promise<string> {
  const result = await kvs(args, options);
  assert.equal(result.status, 0, `kvs ${args.join(' ')} exited ${result.status}; stderr: ${result.stderr}`);
  assert.equal(result.stderr, '', `kvs ${args.join(' ')} wrote to stderr`);
  return result.stdout.toString('utf8');
}

/**
 * A failure as every `kvs` verb must report it: exit `status`, nothing on
 * stdout, exactly one line on stderr that starts with `kvs VERB:` (`kvs:`
 * without a verb), matches `pattern`, and is no stack trace.
 */
export function assertFailure(result: KvsResult, verb: string | null, status: number, pattern?: RegExp): string {
  const what = `kvs ${verb ?? ''} (stderr: ${JSON.stringify(result.stderr)})`;
  assert.equal(result.status, status, `exit code of ${what}`);
  assert.equal(result.stdout.length, 0, `stdout of ${what}: ${result.stdout.toString()}`);
  assert.ok(result.stderr.endsWith('\n'), `${what}: stderr ends with a newline`);
  const lines = result.stderr.slice(0, -1).split('\n');
  assert.equal(lines.length, 1, `${what}: exactly one line on stderr`);
  const line = lines[0]!;
  assert.ok(line.startsWith(verb === null ? 'kvs: ' : `kvs ${verb}: `), `${what}: starts with "kvs ${verb ?? ''}:"`);
  assert.doesNotMatch(result.stderr, /^\s+at /m, `${what}: a stack trace`);
  assert.doesNotMatch(result.stderr, /\b(TypeError|ReferenceError|RangeError|SyntaxError): /, `${what}: a raw JavaScript error`);
  if (pattern !== undefined) assert.match(line, pattern, what);
  return line;
}

/** Parses NDJSON output: one JSON value per line, every line ended. */
export function ndjson(text: string | Buffer): any[] {
  const body = text.toString();
  if (body === '') return [];
  assert.ok(body.endsWith('\n'), `NDJSON ends with a newline: ${JSON.stringify(body.slice(-80))}`);
  return body
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line));
}

/**
 * A loopback port nothing listens on, below the ephemeral range (32768+ on
 * Linux) that the other tests' servers and freePort() take theirs from: it
 * stays unused while the test runs, for "connection refused", or for a
 * server restarted on the same port.
 */
export async function quietPort(use: 'refused' | 'listen'): Promise<number> {
  // Apart by use and by process, so that a port one test listens on is not another's refused one.
  const first = (use === 'refused' ? 20_000 : 26_000) + (process.pid % 250) * 20;
  for (let port = first; port < first + 20; port += 1) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
    });
    if (refused) return port;
  }
  throw new Error(`no unused port in ${first}..${first + 19}`);
}
