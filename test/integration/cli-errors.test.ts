import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TokenRegistry, tokenEntry } from '../../src/auth/tokens.js';
import { DATA_COMMANDS } from '../../src/cli/commands/index.js';
import { VERSION } from '../../src/version.js';
import { assertFailure, kvs, kvsOk, quietPort, type KvsOptions } from '../helpers/cli.js';
import { putValue, request } from '../helpers/http.js';
import { leftoversCleanedAfter, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * How the real `kvs` CLI fails: an exit code per kind of failure (0 ok, 1
 * error, 2 usage, 3 not found, 4 condition failed, 5 not authorised, 6
 * unreachable), always one line on stderr and never a stack trace; and the
 * parts every verb shares: global flags, tokens, help, version.
 */
const ADMIN_TOKEN = 'kvs-cli-admin-secret-0123456789';
/** May read under app/, nothing else. */
const READER_TOKEN = 'kvs-cli-reader-secret-0123456789';

let open: TestServer;
let guarded: TestServer;
/** A loopback port nothing listens on. */
let refused: string;
const files = leftoversCleanedAfter('kvs-cli-errors-').directory();

function file(name: string, content: string | Buffer): string {
  const path = join(files, name);
  writeFileSync(path, content);
  return path;
}

before(async () => {
  const tokensFile = file('tokens.json', JSON.stringify({ tokens: [tokenEntry('reader', READER_TOKEN, [{ prefix: 'app/', actions: ['read'] }], false)] }));
  const tokens = TokenRegistry.load({ adminToken: ADMIN_TOKEN, tokensFile });
  [open, guarded] = await Promise.all([startTestServer(), startTestServer({ access: { tokens, protectedMode: true, rateLimit: null } })]);
  refused = `http://127.0.0.1:${await quietPort('refused')}`;
  for (const [server, headers] of [
    [open, {}],
    [guarded, { authorization: `Bearer ${ADMIN_TOKEN}` }],
  ] as const) {
    for (const [key, value] of [
      ['app/x', 'x'],
      ['other/x', 'o'],
      ['text', 'not a number'],
    ]) {
      assert.equal((await putValue(server.url, key!, value!, { headers: { ...headers, 'content-type': 'text/plain' } })).status, 201);
    }
  }
});
after(() => Promise.all([open.close(), guarded.close()]));

interface FailureCase {
  /** The words after `kvs`. */
  args: string[];
  /** The verb the line starts with (`kvs VERB:`), null for `kvs:`. */
  verb: string | null;
  status: number;
  pattern: RegExp;
  /** The server: the open one unless said. */
  server?: 'open' | 'guarded' | 'refused' | 'none';
  options?: KvsOptions;
}

/** maxValueBytes + 1 bytes, written once the server's limits are known. */
const BIG_FILE = join(files, 'big.bin');
const EMPTY_TOKEN_FILE = file('empty-token', '\n');
const READER_TOKEN_FILE = file('reader-token', `${READER_TOKEN}\n`);
const WRONG_TOKEN_FILE = file('wrong-token', 'wrong\n');

const FAILURES: Array<[string, FailureCase]> = [
  // 1: the server refused the request, a file could not be read.
  [
    'a value over maxValueBytes',
    { args: ['put', 'big', `@${BIG_FILE}`], verb: 'put', status: 1, pattern: /^kvs put: the value exceeds the limit of \d+ bytes \(413 value_too_large\)$/ },
  ],
  ['a key the server refuses (empty)', { args: ['get', ''], verb: 'get', status: 1, pattern: /^kvs get: the key must not be empty \(400 invalid_key\)$/ }],
  // Not sent as other/x, which a URL parser would make of it.
  [
    'a key with a ".." segment',
    {
      args: ['put', 'app/../other/x', 'overwritten?'],
      verb: 'put',
      status: 1,
      pattern: /^kvs put: the key "app\/\.\.\/other\/x" has .*"\.\." as a "\/"-separated segment.*\(400 invalid_key\)$/,
    },
  ],
  ['an unreadable @FILE', { args: ['put', 'k', `@${join(files, 'missing')}`], verb: 'put', status: 1, pattern: /cannot be read \(ENOENT\)$/ }],
  // A malformed txn body is sent as it is: the server's 400 says what is wrong, not a JavaScript error.
  [
    'a txn body whose ops is not an array',
    { args: ['txn', '-'], verb: 'txn', status: 1, pattern: /^kvs txn: "ops" must be an array \(400 invalid_request\)$/, options: { input: '{"ops":{}}' } },
  ],
  [
    'a txn body with a null op',
    {
      args: ['txn', '-'],
      verb: 'txn',
      status: 1,
      pattern: /^kvs txn: ops\[0\] must be a JSON object \(400 invalid_request\)$/,
      options: { input: '{"ops":[null]}' },
    },
  ],
  [
    'a txn body with a number for an op',
    {
      args: ['txn', '-'],
      verb: 'txn',
      status: 1,
      pattern: /^kvs txn: ops\[1\] must be a JSON object \(400 invalid_request\)$/,
      options: { input: '{"ops":[{"op":"get","key":"a"},7]}' },
    },
  ],
  [
    'a txn body whose checks is not an array',
    {
      args: ['txn', '-'],
      verb: 'txn',
      status: 1,
      pattern: /^kvs txn: "checks" must be an array \(400 invalid_request\)$/,
      options: { input: '{"checks":"all","ops":[]}' },
    },
  ],
  [
    'an unreadable --token-file',
    { args: ['get', 'k', '--token-file', join(files, 'missing')], verb: 'get', status: 1, pattern: /--token-file .* cannot be read \(ENOENT\)$/ },
  ],
  // 2: the command line is wrong.
  ['an unknown verb', { args: ['frob', 'k'], verb: null, status: 2, pattern: /^kvs: unknown command "frob"/, server: 'none' }],
  ['flags but no verb', { args: ['--url', 'http://127.0.0.1:1'], verb: null, status: 2, pattern: /^kvs: give a command/, server: 'none' }],
  ['help for an unknown verb', { args: ['help', 'frob'], verb: 'help', status: 2, pattern: /no command "frob"/, server: 'none' }],
  ['an unknown flag', { args: ['get', 'k', '--bogus'], verb: 'get', status: 2, pattern: /^kvs get: Unknown option '--bogus' \(kvs get --help\)$/ }],
  ['an unknown short flag', { args: ['ls', '-x'], verb: 'ls', status: 2, pattern: /Unknown option '-x'/ }],
  ['get without KEY', { args: ['get'], verb: 'get', status: 2, pattern: /give exactly one KEY/ }],
  ['put without KEY', { args: ['put'], verb: 'put', status: 2, pattern: /give KEY/ }],
  ['del without KEY', { args: ['del'], verb: 'del', status: 2, pattern: /give exactly one KEY/ }],
  ['add without KEY', { args: ['add'], verb: 'add', status: 2, pattern: /give KEY/ }],
  ['get with two KEYs', { args: ['get', 'a', 'b'], verb: 'get', status: 2, pattern: /give exactly one KEY/ }],
  ['a bad -o', { args: ['get', 'k', '-o', 'yaml'], verb: 'get', status: 2, pattern: /-o must be text or json \(got "yaml"\)/ }],
  ['--ttl abc', { args: ['put', 'k', 'v', '--ttl', 'abc'], verb: 'put', status: 2, pattern: /--ttl must be a number of seconds > 0 \(got "abc"\)/ }],
  ['--ttl 0', { args: ['put', 'k', 'v', '--ttl', '0'], verb: 'put', status: 2, pattern: /--ttl must be a number of seconds > 0/ }],
  ['--create with --if-revision', { args: ['put', 'k', 'v', '--create', '--if-revision', '3'], verb: 'put', status: 2, pattern: /not both/ }],
  ['--if-revision x', { args: ['del', 'k', '--if-revision', 'x'], verb: 'del', status: 2, pattern: /--if-revision must be a whole number/ }],
  ['--limit 0', { args: ['ls', '--limit', '0'], verb: 'ls', status: 2, pattern: /--limit must be a whole number >= 1/ }],
  // parseArgs explains this one over three lines.
  [
    'a negative --limit',
    { args: ['ls', '--limit', '-5'], verb: 'ls', status: 2, pattern: /^kvs ls: Option '--limit' argument is ambiguous \(kvs ls --help\)$/ },
  ],
  ['--url without its value', { args: ['get', 'k', '--url'], verb: 'get', status: 2, pattern: /--url/ }],
  ['a --url that is not http', { args: ['get', 'k', '--url', 'ftp://host'], verb: 'get', status: 2, pattern: /--url must be an http:\/\/ or https:\/\/ URL/ }],
  [
    'a --url that is no URL',
    { args: ['get', 'k', '--url', 'http://exa mple'], verb: 'get', status: 2, pattern: /--url must be an http:\/\/ or https:\/\/ URL/ },
  ],
  ['an empty --token-file', { args: ['get', 'k', '--token-file', EMPTY_TOKEN_FILE], verb: 'get', status: 2, pattern: /is empty/ }],
  ['del --prefix without --yes, stdin not a terminal', { args: ['del', '--prefix', 'app/'], verb: 'del', status: 2, pattern: /without --yes/ }],
  ['a txn body that is not JSON', { args: ['txn', '-'], verb: 'txn', status: 2, pattern: /not JSON/, options: { input: '{' } }],
  // 3: no such key.
  ['get of a missing key', { args: ['get', 'missing'], verb: 'get', status: 3, pattern: /^kvs get: key "missing" not found$/ }],
  ['del of a missing key', { args: ['del', 'missing'], verb: 'del', status: 3, pattern: /^kvs del: key "missing" not found$/ }],
  // 4: a condition failed.
  [
    'put --create of a key that exists',
    { args: ['put', 'app/x', 'y', '--create'], verb: 'put', status: 4, pattern: /^kvs put: condition failed: the key is at revision \d+$/ },
  ],
  ['add to a value that is not a counter', { args: ['add', 'text'], verb: 'add', status: 4, pattern: /not a JSON integer/ }],
  [
    'a txn whose check fails',
    {
      args: ['txn', '-'],
      verb: 'txn',
      status: 4,
      pattern: /^kvs txn: txn not applied: check 0 failed$/,
      options: { input: '{"checks":[{"key":"app/x","exists":false}]}' },
    },
  ],
  // 5: the token.
  [
    'no token',
    { args: ['get', 'app/x'], verb: 'get', status: 5, pattern: /^kvs get: not authorised: .*--token, --token-file or KVS_TOKEN\)$/, server: 'guarded' },
  ],
  ['a wrong --token', { args: ['get', 'app/x', '--token', 'wrong'], verb: 'get', status: 5, pattern: /^kvs get: not authorised/, server: 'guarded' }],
  [
    'a wrong KVS_TOKEN',
    { args: ['ls', 'app/'], verb: 'ls', status: 5, pattern: /^kvs ls: not authorised/, server: 'guarded', options: { env: { KVS_TOKEN: 'wrong' } } },
  ],
  [
    'a wrong --token-file, KVS_TOKEN right',
    {
      args: ['export', '--token-file', WRONG_TOKEN_FILE],
      verb: 'export',
      status: 5,
      pattern: /^kvs export: not authorised/,
      server: 'guarded',
      options: { env: { KVS_TOKEN: ADMIN_TOKEN } },
    },
  ],
  [
    'a token without the grant (--token)',
    { args: ['put', 'app/x', 'v', '--token', READER_TOKEN], verb: 'put', status: 5, pattern: /^kvs put: forbidden: /, server: 'guarded' },
  ],
  [
    'a token without the grant (KVS_TOKEN)',
    { args: ['get', 'other/x'], verb: 'get', status: 5, pattern: /^kvs get: forbidden: /, server: 'guarded', options: { env: { KVS_TOKEN: READER_TOKEN } } },
  ],
  [
    'a token without the grant (--token-file)',
    { args: ['status', '--token-file', READER_TOKEN_FILE], verb: 'status', status: 5, pattern: /^kvs status: forbidden: /, server: 'guarded' },
  ],
  // 6: nobody there.
  [
    'connection refused (get)',
    {
      args: ['get', 'k'],
      verb: 'get',
      status: 6,
      pattern: /^kvs get: cannot reach the server: connection refused: http:\/\/127\.0\.0\.1:\d+\/v1\/kv\/k$/,
      server: 'refused',
    },
  ],
  ['connection refused (put)', { args: ['put', 'k', 'v'], verb: 'put', status: 6, pattern: /connection refused/, server: 'refused' }],
  ['connection refused (ls)', { args: ['ls'], verb: 'ls', status: 6, pattern: /connection refused/, server: 'refused' }],
  [
    'connection refused (txn)',
    { args: ['txn', '-'], verb: 'txn', status: 6, pattern: /connection refused/, server: 'refused', options: { input: '{"ops":[]}' } },
  ],
  // Once started, a watch resumes by itself; but it does not wait forever for a server that is not there at all.
  ['connection refused (watch)', { args: ['watch', 'app/'], verb: 'watch', status: 6, pattern: /connection refused/, server: 'refused' }],
  ['connection refused (export)', { args: ['export'], verb: 'export', status: 6, pattern: /connection refused/, server: 'refused' }],
];

describe('every failure: its exit code, one line on stderr starting with "kvs VERB:", no stack trace', () => {
  before(async () => {
    const limits = (await request(`${open.url}/v1/limits`)).body;
    writeFileSync(BIG_FILE, Buffer.alloc(limits.maxValueBytes + 1, 0x61));
  });

  for (const [what, failure] of FAILURES) {
    it(what, async () => {
      const url = { open: open.url, guarded: guarded.url, refused, none: refused }[failure.server ?? 'open'];
      assertFailure(await kvs(failure.args, { url, ...failure.options }), failure.verb, failure.status, failure.pattern);
    });
  }
});

describe('the exit code 6 of a server that accepts connections but never answers', () => {
  let silent: Server;
  const sockets = new Set<Socket>();
  before(async () => {
    silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('exits 6 naming the URL after the timeout (--timeout or KVS_TIMEOUT)', async () => {
    const address = silent.address() as { port: number };
    const url = `http://127.0.0.1:${address.port}`;
    assertFailure(await kvs(['get', 'k', '--timeout', '0.5'], { url }), 'get', 6, /^kvs get: no answer in time from http:\/\/127\.0\.0\.1:\d+/);
    assertFailure(await kvs(['ls'], { url, env: { KVS_TIMEOUT: '0.5' } }), 'ls', 6, /^kvs ls: no answer in time from http:\/\/127\.0\.0\.1:\d+\/v1\/kv\S*$/);
  });

  it('a write that timed out says it may have been applied all the same (exit 6)', async () => {
    const address = silent.address() as { port: number };
    const url = `http://127.0.0.1:${address.port}`;
    const applied = /: no answer in time from http:\/\/127\.0\.0\.1:\d+\/v1\/\S+; the write may have been applied all the same: check before repeating it$/;
    assertFailure(await kvs(['add', 'n', '--timeout', '0.5'], { url }), 'add', 6, applied);
    assertFailure(await kvs(['put', 'k', 'v', '--timeout', '0.5'], { url }), 'put', 6, applied);
    assertFailure(await kvs(['txn', '-', '--timeout', '0.5'], { url, input: '{"ops": [{"op": "put", "key": "k", "value": 1}]}' }), 'txn', 6, applied);
    assertFailure(await kvs(['del', 'k', '--timeout', '0.5'], { url }), 'del', 6, applied);
  });
});

describe('tokens', () => {
  it('are taken from --token, --token-file or KVS_TOKEN, the flags before the variable', async () => {
    const url = guarded.url;
    assert.equal(await kvsOk(['get', 'app/x', '--token', READER_TOKEN], { url }), 'x');
    assert.equal(await kvsOk(['get', 'app/x'], { url, env: { KVS_TOKEN: READER_TOKEN } }), 'x');
    assert.equal(await kvsOk(['get', 'app/x', '--token-file', file('reader-token-2', `  ${READER_TOKEN}\n`)], { url }), 'x');
    assert.equal(await kvsOk(['--token', READER_TOKEN, 'get', 'app/x'], { url, env: { KVS_TOKEN: 'wrong' } }), 'x');
    assert.equal(await kvsOk(['get', 'app/x', '--token-file', file('reader-token-3', READER_TOKEN)], { url, env: { KVS_TOKEN: 'wrong' } }), 'x');
    assert.match(await kvsOk(['status', '--token', ADMIN_TOKEN, '-o', 'json'], { url }), /"keys":3/);
  });
});

describe('global flags', () => {
  it('--url, -o and --token work before or after the verb; --url wins over KVS_URL', async () => {
    for (const args of [
      ['--url', open.url, 'get', 'app/x'],
      ['get', 'app/x', '--url', open.url],
      ['get', '--url', open.url, 'app/x'],
      [`--url=${open.url}`, 'get', 'app/x'],
    ]) {
      assert.equal(await kvsOk(args, { url: refused }), 'x', args.join(' '));
    }
    const json = await kvsOk(['get', 'app/x', '-o', 'json'], { url: open.url });
    assert.equal(JSON.parse(json).value, 'x');
    for (const args of [
      ['-o', 'json', 'get', 'app/x'],
      ['--output', 'json', 'get', 'app/x'],
      ['get', 'app/x', '--json'],
      ['--json', 'get', 'app/x'],
      ['get', '-o', 'text', 'app/x', '--json'],
    ]) {
      assert.equal(await kvsOk(args, { url: open.url }), json, `${args.join(' ')} is -o json`);
    }
    assert.equal(await kvsOk(['--token', READER_TOKEN, 'get', 'app/x'], { url: guarded.url }), 'x');
  });
});

/** The synopsis each verb's help must show (its usage line), written out here rather than read from the CLI. */
const SYNOPSES: Record<string, string> = {
  get: 'KEY',
  put: 'KEY [VALUE|@FILE|-]',
  del: 'KEY | --prefix PREFIX',
  ls: '[PREFIX]',
  watch: '[PREFIX] | --key KEY',
  add: 'KEY [BY]',
  txn: 'FILE|-',
  export: '[PREFIX]',
  import: 'FILE|-',
  backup: 'DEST',
  status: '',
};

describe('help and version', () => {
  it('covers every data verb the CLI has', () => {
    assert.deepEqual(DATA_COMMANDS.map((command) => command.name).sort(), Object.keys(SYNOPSES).sort());
  });

  for (const [verb, synopsis] of Object.entries(SYNOPSES)) {
    it(`kvs help ${verb}, kvs ${verb} --help and -h: exit 0, its usage on stdout`, async () => {
      const usage = `Usage: kvs ${verb}${synopsis === '' ? '' : ` ${synopsis}`} [options]\n`;
      const help = await kvsOk(['help', verb], { url: refused });
      assert.ok(help.startsWith(usage), `kvs help ${verb} starts with ${JSON.stringify(usage)}:\n${help}`);
      assert.match(help, /Global options:\n {2}--url URL/);
      assert.equal(await kvsOk([verb, '--help'], { url: refused }), help);
      assert.equal(await kvsOk([verb, 'some-argument', '-h'], { url: refused }), help);
    });
  }

  it('kvs help, kvs --help and kvs alone list every verb with its synopsis and the exit codes', async () => {
    const help = await kvsOk(['help']);
    for (const [verb, synopsis] of Object.entries(SYNOPSES)) {
      assert.match(help, new RegExp(`^ {2}${`${verb} ${synopsis}`.trim().replace(/[|[\]]/g, '\\$&')} +\\S`, 'm'), `kvs help lists ${verb}`);
    }
    for (const other of ['serve', 'restore', 'token create', 'version', 'help']) assert.match(help, new RegExp(`^ {2}${other}`, 'm'));
    assert.match(
      help,
      /Exit codes: 0 success, 1 other error, 2 usage, 3 key not found, 4 condition failed,\n5 not authorised, 6 server unreachable or timed out\./,
    );
    assert.equal(await kvsOk([]), help);
    assert.equal(await kvsOk(['--help']), help);
  });

  it('kvs version and kvs --version print the version; kvs version --help (-h, kvs help version) its usage', async () => {
    assert.equal(await kvsOk(['version']), `${VERSION}\n`);
    assert.equal(await kvsOk(['--version']), `${VERSION}\n`);
    const usage = await kvsOk(['version', '--help']);
    assert.match(usage, /^Usage: kvs version\n/);
    assert.equal(await kvsOk(['version', '-h']), usage);
    assert.equal(await kvsOk(['help', 'version']), usage);
  });

  it('kvs help VERB works with global flags before it', async () => {
    assert.equal(await kvsOk(['--url', open.url, 'help', 'get']), await kvsOk(['help', 'get']));
    assert.equal(await kvsOk(['--json', 'help']), await kvsOk(['help']));
  });
});
