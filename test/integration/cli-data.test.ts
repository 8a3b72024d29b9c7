import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertFailure, kvs, kvsOk } from '../helpers/cli.js';
import { encodeKey, putValue, request } from '../helpers/http.js';
import { leftoversCleanedAfter, TEST_ENGINE, useTestServer } from '../helpers/server.js';

/**
 * The data verbs of the real `kvs` CLI (get, put, del, add, txn, status)
 * against a real server: what they print, what they store, their exit codes.
 * ls, watch, export/import/backup and the error table have files of their own.
 */
let url: string;
const files = leftoversCleanedAfter('kvs-cli-data-').directory();

const server = useTestServer({}, () => {
  url = server.url;
});

/** `kvs ARGS` against the test server. */
const run = (args: string[], options: { input?: string | Buffer } = {}) => kvs(args, { url, ...options });
const ok = (args: string[], options: { input?: string | Buffer } = {}) => kvsOk(args, { url, ...options });

/** The key as stored, through HTTP. */
async function stored(key: string): Promise<{ status: number; contentType: string | null; bytes: Buffer; headers: Headers }> {
  const response = await fetch(`${url}/v1/kv/${encodeKey(key)}`);
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    bytes: Buffer.from(await response.arrayBuffer()),
    headers: response.headers,
  };
}

async function httpPut(key: string, body: string | Buffer, contentType = 'text/plain; charset=utf-8', query?: string): Promise<number> {
  const response = await putValue(url, key, body, { headers: { 'content-type': contentType }, ...(query === undefined ? {} : { query }) });
  assert.ok(response.status === 200 || response.status === 201, response.text);
  return response.body.revision;
}

/** The revision in `kvs put`'s text output. */
function putRevision(output: string, created: boolean): number {
  const match = /^revision (\d+)( \(created\))?\n$/.exec(output);
  assert.ok(match, `kvs put printed ${JSON.stringify(output)}`);
  assert.equal(match[2] !== undefined, created, `"(created)" in ${JSON.stringify(output)}`);
  return Number(match[1]);
}

function file(name: string, content: string | Buffer): string {
  const path = join(files, name);
  writeFileSync(path, content);
  return path;
}

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, index) => index));

describe('kvs get', () => {
  it('writes the stored bytes exactly, binary-safe, with no newline added on a pipe', async () => {
    await httpPut('get/bytes', ALL_BYTES, 'application/octet-stream');
    const result = await run(['get', 'get/bytes']);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, '');
    assert.ok(result.stdout.equals(ALL_BYTES), `stdout: ${result.stdout.toString('hex')}`);

    await httpPut('get/text', 'no newline');
    assert.equal(await ok(['get', 'get/text']), 'no newline');
    await httpPut('get/empty', '');
    assert.equal((await run(['get', 'get/empty'])).stdout.length, 0);
  });

  it('-o json prints the metadata with the value in its envelope: utf8, json or base64', async () => {
    const textRevision = await httpPut('get/j/text', 'héllo');
    assert.deepEqual(JSON.parse(await ok(['get', 'get/j/text', '-o', 'json'])), {
      key: 'get/j/text',
      value: 'héllo',
      encoding: 'utf8',
      contentType: 'text/plain; charset=utf-8',
      size: 6,
      revision: textRevision,
      createRevision: textRevision,
      version: 1,
    });

    await httpPut('get/j/json', '{"a":[1,2]}', 'application/json');
    const jsonRevision = await httpPut('get/j/json', '{"a": [1, 2, {"b": null}]}', 'application/json');
    const json = JSON.parse(await ok(['get', 'get/j/json', '--json']));
    assert.deepEqual(json.value, { a: [1, 2, { b: null }] });
    assert.equal(json.encoding, 'json');
    assert.equal(json.contentType, 'application/json');
    assert.equal(json.revision, jsonRevision);
    assert.equal(json.version, 2);
    assert.ok(json.createRevision < jsonRevision);

    const binaryRevision = await httpPut('get/j/binary', ALL_BYTES, 'application/octet-stream', 'ttl=600');
    const binary = JSON.parse(await ok(['-o', 'json', 'get', 'get/j/binary']));
    const expiresAt = (await stored('get/j/binary')).headers.get('kv-expires-at');
    assert.match(expiresAt ?? 'none', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(binary, {
      key: 'get/j/binary',
      value: ALL_BYTES.toString('base64'),
      encoding: 'base64',
      contentType: 'application/octet-stream',
      size: 256,
      revision: binaryRevision,
      createRevision: binaryRevision,
      version: 1,
      expiresAt,
    });
  });

  it('-o json embeds a JSON value as its stored text: no number rounded or reformatted, on one line', async () => {
    const text = '{"big": 12345678901234567890, "float": 1.0, "exp": 1E+2, "text": "caf\\u00e9 \\"x\\""}';
    const revision = await httpPut('get/j/exact', text, 'application/json');
    const output = await ok(['get', 'get/j/exact', '-o', 'json']);
    assert.equal(
      output,
      `{"key":"get/j/exact","value":${text},"encoding":"json","contentType":"application/json","size":${text.length},"revision":${revision},"createRevision":${revision},"version":1}\n`,
    );

    // A pretty-printed document (a file put as it is): its line breaks and indentation go, every token stays.
    await httpPut('get/j/pretty', '{\n  "n": 0.10,\n  "list": [\n    1.50\n  ]\n}\n', 'application/json');
    const pretty = await ok(['get', 'get/j/pretty', '--json']);
    assert.match(pretty, /^\{"key":"get\/j\/pretty","value":\{"n": 0\.10,"list": \[1\.50\]\},"encoding":"json",/);
    assert.equal(pretty.split('\n').length, 2, 'one line');

    // Stored as JSON but not JSON (a raw PUT can): shown as the text it is.
    await httpPut('get/j/not-json', '{"unclosed": ', 'application/json');
    const notJson = JSON.parse(await ok(['get', 'get/j/not-json', '-o', 'json']));
    assert.deepEqual([notJson.value, notJson.encoding], ['{"unclosed": ', 'utf8']);
  });

  it('exits 3 when the key does not exist', async () => {
    assertFailure(await run(['get', 'get/missing']), 'get', 3, /^kvs get: key "get\/missing" not found$/);
  });
});

describe('kvs put', () => {
  it('stores a literal VALUE as UTF-8 text and prints the revision, "(created)" the first time', async () => {
    const first = putRevision(await ok(['put', 'put/literal', 'grüße']), true);
    let value = await stored('put/literal');
    assert.equal(value.contentType, 'text/plain; charset=utf-8');
    assert.equal(value.bytes.toString('utf8'), 'grüße');
    assert.equal(value.headers.get('etag'), `"${first}"`);

    const second = putRevision(await ok(['put', 'put/literal', 'again']), false);
    assert.ok(second > first);
    value = await stored('put/literal');
    assert.equal(value.bytes.toString('utf8'), 'again');
    assert.equal(value.headers.get('kv-version'), '2');

    const json = JSON.parse(await ok(['put', 'put/literal', 'third', '-o', 'json']));
    assert.deepEqual(json, { key: 'put/literal', revision: json.revision, createRevision: first, version: 3, created: false });
    assert.ok(json.revision > second);
  });

  it('@FILE stores the bytes of the file, its content type from the extension', async () => {
    const cases: Array<[string, Buffer, string]> = [
      ['config.json', Buffer.from('{"mode": "blue"}\n'), 'application/json'],
      ['notes.TXT', Buffer.from('plain\n'), 'text/plain; charset=utf-8'],
      ['blob.bin', ALL_BYTES, 'application/octet-stream'],
      ['no-extension', ALL_BYTES.subarray(0, 10), 'application/octet-stream'],
    ];
    for (const [name, content, contentType] of cases) {
      await ok(['put', `put/file/${name}`, `@${file(name, content)}`]);
      const value = await stored(`put/file/${name}`);
      assert.equal(value.contentType, contentType, name);
      assert.ok(value.bytes.equals(content), `${name}: ${value.bytes.toString('hex')}`);
    }
    // --content-type wins over the extension.
    await ok(['put', 'put/file/typed', `@${file('data.json', '<a/>')}`, '--content-type', 'application/xml']);
    assert.equal((await stored('put/file/typed')).contentType, 'application/xml');
  });

  it('"-", or no VALUE with standard input piped, stores standard input as bytes', async () => {
    await ok(['put', 'put/stdin/dash', '-'], { input: ALL_BYTES });
    let value = await stored('put/stdin/dash');
    assert.equal(value.contentType, 'application/octet-stream');
    assert.ok(value.bytes.equals(ALL_BYTES));

    await ok(['put', 'put/stdin/implicit', '--content-type', 'text/csv'], { input: 'a,b\n1,2\n' });
    value = await stored('put/stdin/implicit');
    assert.equal(value.contentType, 'text/csv');
    assert.equal(value.bytes.toString(), 'a,b\n1,2\n');
  });

  it('--ttl sets an expiry the server reports in KV-Expires-At', async () => {
    const before = Date.now();
    await ok(['put', 'put/ttl', 'x', '--ttl', '90.5']);
    const after = Date.now();
    const expiresAt = Date.parse((await stored('put/ttl')).headers.get('kv-expires-at') ?? 'missing');
    assert.ok(expiresAt >= before + 90_500 - 5 && expiresAt <= after + 90_500 + 5, `expires at ${new Date(expiresAt).toISOString()}`);
    // A put without --ttl clears it (API.md §3).
    await ok(['put', 'put/ttl', 'y']);
    assert.equal((await stored('put/ttl')).headers.get('kv-expires-at'), null);
  });

  it('--if-revision writes only at that revision, else exits 4 and writes nothing', async () => {
    const first = putRevision(await ok(['put', 'put/cas', 'one']), true);
    const second = putRevision(await ok(['put', 'put/cas', 'two', '--if-revision', String(first)]), false);
    assertFailure(
      await run(['put', 'put/cas', 'three', '--if-revision', String(first)]),
      'put',
      4,
      new RegExp(`^kvs put: condition failed: the key is at revision ${second}$`),
    );
    assert.equal((await stored('put/cas')).bytes.toString(), 'two');
    assertFailure(await run(['put', 'put/cas-missing', 'x', '--if-revision', String(second)]), 'put', 4, /the key is absent$/);
    assert.equal((await stored('put/cas-missing')).status, 404);
  });

  it('--create, and --if-revision 0, write only a key that does not exist (exit 4 when it does)', async () => {
    for (const flags of [['--create'], ['--if-revision', '0']]) {
      const key = `put/create${flags.join('')}`;
      const revision = putRevision(await ok(['put', key, 'mine', ...flags]), true);
      assertFailure(await run(['put', key, 'theirs', ...flags]), 'put', 4, new RegExp(`the key is at revision ${revision}$`));
      assert.equal((await stored(key)).bytes.toString(), 'mine', flags.join(' '));
    }
  });
});

describe('kvs del', () => {
  it('deletes a key; exit 3 when it does not exist', async () => {
    await httpPut('del/one', 'x');
    assert.equal(await ok(['del', 'del/one']), 'deleted\n');
    assert.equal((await stored('del/one')).status, 404);
    assertFailure(await run(['del', 'del/one']), 'del', 3, /^kvs del: key "del\/one" not found$/);
  });

  it('--if-revision deletes only at that revision, else exits 4 and keeps the key', async () => {
    const first = await httpPut('del/cas', 'one');
    const second = await httpPut('del/cas', 'two');
    assertFailure(await run(['del', 'del/cas', '--if-revision', String(first)]), 'del', 4, new RegExp(`at revision ${second}$`));
    assert.equal((await stored('del/cas')).status, 200);
    assert.deepEqual(JSON.parse(await ok(['del', 'del/cas', '--if-revision', String(second), '-o', 'json'])), { key: 'del/cas', deleted: true });
    assert.equal((await stored('del/cas')).status, 404);
  });

  it('--prefix refuses without --yes when standard input is not a terminal (exit 2), deleting nothing', async () => {
    for (const key of ['delp/a', 'delp/b/c', 'delp0']) await httpPut(key, 'x');
    assertFailure(await run(['del', '--prefix', 'delp/'], { input: 'y\n' }), 'del', 2, /--yes/);
    assert.equal((await request(`${url}/v1/kv?prefix=delp`)).body.items.length, 3);
  });

  it('--prefix P --yes deletes every key under P at one revision and prints the count', async () => {
    const output = await ok(['del', '--prefix', 'delp/', '--yes']);
    const match = /^deleted 2 keys at revision (\d+)\n$/.exec(output);
    assert.ok(match, output);
    const left = (await request(`${url}/v1/kv?prefix=delp`)).body.items.map((item: { key: string }) => item.key);
    assert.deepEqual(left, ['delp0']);
    assert.equal(await ok(['del', '--prefix', 'delp/', '-y']), 'deleted 0 keys at revision ' + (await statusRevision()) + '\n');
    assertFailure(await run(['del', '--prefix', '', '--yes']), 'del', 2, /must not be empty/);
  });
});

async function statusRevision(): Promise<number> {
  return (await request(`${url}/v1/status`)).body.revision;
}

describe('kvs add', () => {
  it('adds 1 by default, or BY, which may be negative, and prints the new value', async () => {
    assert.equal(await ok(['add', 'add/n']), '1\n');
    assert.equal(await ok(['add', 'add/n', '41']), '42\n');
    assert.equal(await ok(['add', 'add/n', '-50']), '-8\n');
    const json = JSON.parse(await ok(['add', 'add/n', '8', '--json']));
    assert.deepEqual(json, { key: 'add/n', value: 0, revision: json.revision, version: 4 });
    const value = await stored('add/n');
    assert.equal(value.contentType, 'application/json');
    assert.equal(value.bytes.toString(), '0');
  });

  it('exits 4 when the value is not a counter, or the result would overflow', async () => {
    await httpPut('add/text', 'seven');
    assertFailure(await run(['add', 'add/text']), 'add', 4, /not a JSON integer/);
    assert.equal((await stored('add/text')).bytes.toString(), 'seven');
    await httpPut('add/max', String(Number.MAX_SAFE_INTEGER), 'application/json');
    assertFailure(await run(['add', 'add/max']), 'add', 4);
    assertFailure(await run(['add', 'add/n', '1.5']), 'add', 2, /BY must be a whole number/);
  });
});

describe('kvs txn', () => {
  const body = {
    checks: [{ key: 'txn/a', exists: false }],
    ops: [
      { op: 'put', key: 'txn/a', value: { x: 1 } },
      { op: 'put', key: 'txn/t', value: 'aGk=', encoding: 'base64', ttl: 60 },
      { op: 'add', key: 'txn/n', by: 2 },
      { op: 'get', key: 'txn/missing' },
    ],
  };

  it('runs a body from FILE and prints the revision and one line per op', async () => {
    const output = await ok(['txn', file('txn.json', JSON.stringify(body))]);
    const revision = Number(/^committed at revision (\d+)\n/.exec(output)?.[1]);
    assert.ok(revision > 0, output);
    assert.equal(
      output,
      [
        `committed at revision ${revision}`,
        `put txn/a: revision ${revision} (created)`,
        `put txn/t: revision ${revision} (created)`,
        'add txn/n: 2',
        'get txn/missing: not found',
        '',
      ].join('\n'),
    );
    assert.equal((await stored('txn/t')).bytes.toString(), 'hi');
  });

  it('runs a body from standard input, "-" or none; -o json prints the whole result', async () => {
    const ops = {
      ops: [
        { op: 'get', key: 'txn/a' },
        { op: 'delete', key: 'txn/t' },
      ],
    };
    const json = JSON.parse(await ok(['txn', '-', '-o', 'json'], { input: JSON.stringify(ops) }));
    assert.equal(json.committed, true);
    const aRevision = json.results[0].revision;
    assert.deepEqual(json.results, [
      {
        op: 'get',
        found: true,
        key: 'txn/a',
        value: { x: 1 },
        encoding: 'json',
        contentType: 'application/json',
        size: 7,
        revision: aRevision,
        createRevision: aRevision,
        version: 1,
      },
      { op: 'delete', key: 'txn/t', deleted: true },
    ]);
    assert.ok(json.revision > aRevision);
    const text = await ok(['txn'], {
      input: JSON.stringify({
        ops: [
          { op: 'get', key: 'txn/a' },
          { op: 'delete', key: 'txn/t' },
        ],
      }),
    });
    assert.equal(text, `committed at revision ${await statusRevision()}\nget txn/a: {"x":1}\ndelete txn/t: not found\n`);
  });

  it('exits 4 naming the failed checks when the checks do not hold, applying nothing', async () => {
    const conflicting = {
      checks: [
        { key: 'txn/a', exists: false },
        { key: 'txn/a', exists: true },
        { key: 'txn/n', revision: 1 },
      ],
      ops: [{ op: 'put', key: 'txn/never', value: 1 }],
    };
    assertFailure(await run(['txn', '-'], { input: JSON.stringify(conflicting) }), 'txn', 4, /checks 0, 2 failed$/);
    const single = { checks: [{ key: 'txn/a', revision: 0 }], ops: [{ op: 'put', key: 'txn/never', value: 1 }] };
    assertFailure(await run(['txn', '-'], { input: JSON.stringify(single) }), 'txn', 4, /check 0 failed$/);
    assert.equal((await stored('txn/never')).status, 404);
  });

  it('exits 2 when the body is not a JSON object, and 1 when the server refuses it', async () => {
    assertFailure(await run(['txn', '-'], { input: '{"ops": [' }), 'txn', 2, /not JSON/);
    assertFailure(await run(['txn', '-'], { input: '[]' }), 'txn', 2, /must be a JSON object/);
    assertFailure(await run(['txn', '-'], { input: '{"ops":[{"op":"frobnicate","key":"k"}]}' }), 'txn', 1, /\(400 invalid_request\)$/);
  });
});

describe('kvs status', () => {
  it('prints the engine, version, revision and key count, as text or JSON', async () => {
    const expected = (await request(`${url}/v1/status`)).body;
    const json = JSON.parse(await ok(['status', '-o', 'json']));
    assert.deepEqual({ ...json, uptimeSeconds: 0 }, { url, ...expected, uptimeSeconds: 0 });
    assert.equal(json.engine, TEST_ENGINE);
    assert.equal(typeof json.uptimeSeconds, 'number');

    const lines = (await ok(['status'])).split('\n');
    assert.deepEqual(lines.slice(0, 6), [
      `url:             ${url}`,
      `engine:          ${TEST_ENGINE}`,
      'version:         test',
      `revision:        ${expected.revision}`,
      `compactRevision: ${expected.compactRevision}`,
      `keys:            ${expected.keys}`,
    ]);
    assert.match(lines[6]!, /^uptime: {10}\d+ s$/);
    assert.deepEqual(lines.slice(7), ['']);
    assertFailure(await run(['status', 'extra']), 'status', 2, /no arguments/);
  });
});
