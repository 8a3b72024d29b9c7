import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertFailure, kvs, kvsOk, ndjson } from '../helpers/cli.js';
import { postJson, putValue, request } from '../helpers/http.js';
import { leftoversCleanedAfter, startTestServer, TEST_ENGINE, type TestServer } from '../helpers/server.js';
import { differencesOf } from '../engine/differences.js';

/** How the engine under test differs from the other, each with its reason (test/engine/differences.ts). */
const ENGINE = differencesOf(TEST_ENGINE);
const NO_BACKUP = ENGINE.capabilities.snapshotBackup ? false : 'the engine has no local store to back up (its own test below)';

/**
 * Data in and out through the real `kvs` CLI: export and import between two
 * servers, the seed format, and backup (with restore) of the embedded store.
 */
let source: TestServer;
let target: TestServer;
const leftovers = leftoversCleanedAfter('kvs-cli-transfer-');
const files = leftovers.directory();

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, index) => index));

before(async () => {
  [source, target] = await Promise.all([startTestServer(), startTestServer()]);
  const values: Array<[string, string | Buffer, string, string?]> = [
    ['app/config', '{"mode": "blue"}', 'application/json'],
    ['app/text', 'grüße\n', 'text/plain; charset=utf-8'],
    ['app/binary', ALL_BYTES, 'application/octet-stream'],
    ['app/expiring', 'soon', 'text/plain', 'ttl=3600'],
    ['other/ключ', 'x', 'text/plain'],
  ];
  for (const [key, value, contentType, query] of values) {
    const response = await putValue(source.url, key, value, { headers: { 'content-type': contentType }, ...(query === undefined ? {} : { query }) });
    assert.equal(response.status, 201, response.text);
  }
  // Many keys in one transaction per 100, for an export that is more than a few lines.
  for (let batch = 0; batch < 5; batch += 1) {
    const ops = Array.from({ length: 100 }, (_, index) => ({ op: 'put', key: `bulk/${batch}/${index}`, value: { batch, index } }));
    assert.equal((await postJson(`${source.url}/v1/txn`, { ops })).status, 200);
  }
});
after(() => Promise.all([source.close(), target.close()]));

async function httpExport(base: string, prefix = ''): Promise<string> {
  // Not through request(): it would parse the x-ndjson body as one JSON document.
  const response = await fetch(`${base}/v1/admin/export${prefix === '' ? '' : `?prefix=${encodeURIComponent(prefix)}`}`);
  assert.equal(response.status, 200);
  return response.text();
}

describe('kvs export and kvs import', () => {
  it('export writes the NDJSON of GET /v1/admin/export, and nothing on stderr when it is not a terminal', async () => {
    const result = await kvs(['export'], { url: source.url });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, '', 'no progress on a piped stderr');
    assert.equal(result.stdout.toString(), await httpExport(source.url));
    const records = ndjson(result.stdout);
    assert.equal(records.length, 505);
    const binary = records.find((record) => record.key === 'app/binary');
    assert.deepEqual(binary, { key: 'app/binary', value: ALL_BYTES.toString('base64'), contentType: 'application/octet-stream' });
    assert.match(records.find((record) => record.key === 'app/expiring').expiresAt, /^\d{4}-\d\d-\d\dT/);
  });

  it('export PREFIX writes the keys under PREFIX only', async () => {
    const exported = await kvsOk(['export', 'app/'], { url: source.url });
    assert.deepEqual(
      ndjson(exported).map((record) => record.key),
      ['app/binary', 'app/config', 'app/expiring', 'app/text'],
    );
    assert.equal(exported, await httpExport(source.url, 'app/'));
  });

  it('import of an export makes a second server hold the same keys: the round trip exports equal', async () => {
    const file = join(files, 'export.ndjson');
    writeFileSync(file, (await kvs(['export'], { url: source.url })).stdout);
    const output = await kvsOk(['import', file], { url: target.url });
    const revision = (await request(`${target.url}/v1/status`)).body.revision;
    assert.equal(output, `imported 505 keys at revision ${revision}\n`);
    assert.equal(await kvsOk(['export'], { url: target.url }), readFileSync(file, 'utf8'));
    const binary = await fetch(`${target.url}/v1/kv/app/binary`);
    assert.ok(Buffer.from(await binary.arrayBuffer()).equals(ALL_BYTES));
  });

  it('import reads standard input ("-"), and -o json prints the result', async () => {
    const input = `${JSON.stringify({ key: 'stdin/a', value: Buffer.from('A').toString('base64'), contentType: 'text/plain' })}\n`;
    const json = JSON.parse(await kvsOk(['import', '-', '-o', 'json'], { url: target.url, input }));
    assert.deepEqual(json, { imported: 1, revision: json.revision });
    assert.equal((await request(`${target.url}/v1/kv/stdin/a`)).text, 'A');
  });

  it('--format seed imports the original server\'s data file {"key": value} as JSON values', async () => {
    const seed = { 'seed/object': { a: [1, 2] }, 'seed/string': 'text', 'seed/number': 42, 'seed/list': [true, null] };
    const file = join(files, 'key_value_data.json');
    writeFileSync(file, JSON.stringify(seed));
    assert.match(await kvsOk(['import', file, '--format', 'seed'], { url: target.url }), /^imported 4 keys at revision \d+\n$/);
    for (const [key, value] of Object.entries(seed)) {
      const response = await request(`${target.url}/v1/kv/${key}`);
      assert.equal(response.headers.get('content-type'), 'application/json', key);
      assert.deepEqual(JSON.parse(response.text), value, key);
    }
  });

  it('import waits for an answer that takes longer than --timeout: the server applies the whole file first', async () => {
    // A stand-in for a server that takes 2 s to apply what it was sent, then answers as kvs does.
    let received = 0;
    const slow = createServer((request, response) => {
      request.on('data', (chunk: Buffer) => (received += chunk.length));
      request.on('end', () => {
        setTimeout(() => {
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ imported: 3, revision: 9 }));
        }, 2_000);
      });
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const input = `${['a', 'b', 'c'].map((key) => JSON.stringify({ key, value: '', contentType: 'text/plain' })).join('\n')}\n`;
      const output = await kvsOk(['import', '-', '--timeout', '1'], { url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}`, input });
      assert.equal(output, 'imported 3 keys at revision 9\n');
      assert.equal(received, Buffer.byteLength(input));
    } finally {
      slow.closeAllConnections();
      await new Promise((resolve) => slow.close(resolve));
    }
  });

  it('refuses a bad import whole (exit 1, naming the line), a bad --format (exit 2), a missing file (exit 1)', async () => {
    const input = `${JSON.stringify({ key: 'bad/first', value: '', contentType: 'text/plain' })}\n{"key": "bad/second"\n`;
    assertFailure(await kvs(['import', '-'], { url: target.url, input }), 'import', 1, /nothing was imported: .*line 2/);
    assert.equal((await request(`${target.url}/v1/kv/bad/first`)).status, 404);
    assertFailure(await kvs(['import', '-', '--format', 'csv'], { url: target.url, input: '' }), 'import', 2, /--format must be ndjson or seed/);
    assertFailure(await kvs(['import', join(files, 'missing.ndjson')], { url: target.url }), 'import', 1, /missing\.ndjson cannot be read \(ENOENT\)$/);
  });
});

/** A stand-in for a server's GET /v1/admin/backup at revision 7: `body`, with `sha256` as its Repr-Digest (null: none); counts requests. */
async function standIn(body: Buffer, sha256: string | null): Promise<{ url: string; requests(): number; close(): Promise<void> }> {
  let requests = 0;
  const fake = createServer((_request, response) => {
    requests += 1;
    response.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': body.length,
      'kv-revision': '7',
      ...(sha256 === null ? {} : { 'repr-digest': `sha-256=:${sha256}:` }),
    });
    response.end(body);
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(fake.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => fake.close(() => resolve())),
  };
}

describe('kvs backup', () => {
  it('saves a snapshot that kvs restore turns into a data directory holding the same keys', { skip: NO_BACKUP }, async () => {
    const directory = leftovers.directory();
    const result = await kvs(['backup', directory], { url: source.url });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, '', 'no progress on a piped stderr');
    const revision = (await request(`${source.url}/v1/status`)).body.revision;
    const file = join(directory, `kvs-backup-${revision}.mdb`);
    assert.deepEqual(readdirSync(directory), [`kvs-backup-${revision}.mdb`], 'only the backup is left: no temporary file');
    assert.match(
      result.stdout.toString(),
      new RegExp(`^backed up revision ${revision} \\([\\d.]+ [KMG]iB\\) to ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n$`),
    );

    const named = join(directory, 'named.mdb');
    const json = JSON.parse(await kvsOk(['backup', named, '-o', 'json'], { url: source.url }));
    assert.deepEqual(json, { file: named, revision, bytes: statSync(named).size });

    const restored = leftovers.directory();
    const restore = await kvs(['restore', file, '--data-directory', restored]);
    assert.equal(restore.status, 0, restore.stderr);
    const server = await startTestServer({ dataDirectory: restored });
    try {
      assert.equal(await httpExport(server.url), await httpExport(source.url));
    } finally {
      await server.close();
    }
  });

  it('exits 2 without DEST (asking the server nothing)', async () => {
    assertFailure(await kvs(['backup'], { url: source.url }), 'backup', 2, /^kvs backup: give one DEST file \(or directory\) \(kvs backup --help\)$/);
  });

  it('DEST/ saves kvs-backup-REVISION.mdb inside the directory DEST', async () => {
    const body = Buffer.from('a snapshot, as the server sent it');
    const { url, requests, close } = await standIn(body, createHash('sha256').update(body).digest('base64'));
    try {
      const directory = leftovers.directory();
      const output = await kvsOk(['backup', `${directory}/`], { url });
      assert.equal(output, `backed up revision 7 (${body.length} B) to ${join(directory, 'kvs-backup-7.mdb')}\n`);
      assert.deepEqual(readdirSync(directory), ['kvs-backup-7.mdb']);
      assert.ok(readFileSync(join(directory, 'kvs-backup-7.mdb')).equals(body));
      assert.equal(requests(), 1);
    } finally {
      await close();
    }
  });

  it('exits 2 with one line, asking the server nothing, when DEST is in (or is) a directory that does not exist, or a file', async () => {
    const { url, requests, close } = await standIn(Buffer.from('never asked for'), null);
    try {
      const aFile = join(files, 'a-file');
      writeFileSync(aFile, 'not a directory');
      const refusals: Array<[string, RegExp]> = [
        [`${join(files, 'backups')}/`, /^kvs backup: the directory .*\/backups\/ does not exist \(create it first\) \(kvs backup --help\)$/],
        [join(files, 'no', 'such', 'file.mdb'), /^kvs backup: the directory .*\/no\/such of .*\/no\/such\/file\.mdb does not exist \(create it first\)/],
        [`${aFile}/`, /^kvs backup: .*\/a-file\/ is not a directory/],
        [join(aFile, 'file.mdb'), /^kvs backup: the directory .*\/a-file of .*\/a-file\/file\.mdb is a file/],
      ];
      for (const [destination, message] of refusals) assertFailure(await kvs(['backup', destination], { url }), 'backup', 2, message);
      // A directory that exists but takes no file (even root cannot create one in /proc): exit 1.
      if (process.platform === 'linux')
        assertFailure(await kvs(['backup', '/proc/'], { url }), 'backup', 1, /^kvs backup: cannot write into \/proc\/ \(E[A-Z]+\)$/);
      assert.equal(requests(), 0, 'the server was asked nothing');
      assert.deepEqual(
        readdirSync(files).filter((name) => name.endsWith('.partial')),
        [],
        'no temporary file left',
      );
    } finally {
      await close();
    }
  });

  it("exits 1 and keeps nothing when the snapshot does not match the server's SHA-256", async () => {
    // A stand-in for the server, whose snapshot arrives altered on the way.
    const body = Buffer.from('a snapshot, altered on the way');
    const fake = createServer((_request, response) => {
      response.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': body.length,
        'kv-revision': '7',
        'repr-digest': `sha-256=:${createHash('sha256').update('the original').digest('base64')}:`,
      });
      response.end(body);
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    try {
      const directory = leftovers.directory();
      const result = await kvs(['backup', directory], { url: `http://127.0.0.1:${(fake.address() as AddressInfo).port}` });
      assertFailure(result, 'backup', 1, /^kvs backup: the backup arrived corrupted .*nothing was saved$/);
      assert.deepEqual(readdirSync(directory), [], 'no file, no temporary file');
    } finally {
      await new Promise((resolve) => fake.close(resolve));
    }
  });

  it(
    'on the etcd engine, exits 1 with one line naming etcdctl',
    { skip: ENGINE.capabilities.snapshotBackup ? 'the engine can back up: the tests above' : false },
    async () => {
      assertFailure(await kvs(['backup', join(files, 'etcd.mdb')], { url: source.url }), 'backup', 1, /etcdctl snapshot save/);
    },
  );
});
