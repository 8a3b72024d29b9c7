import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { open } from 'lmdb';
import { encodeKey, postJson, putValue, request, type JsonResponse } from '../helpers/http.js';
import { CLI_PATH, leftoversCleanedAfter, onlyOnLmdb, type ServerProcess } from '../helpers/server.js';
import { SseClient } from '../helpers/sse.js';
import { decodeRecord, encodeRecord } from '../../src/engine/lmdb/record-codec.js';
import { openStores, type Stores } from '../../src/engine/lmdb/stores.js';
import { reportFigures } from './lib/report.js';

/**
 * Backup and restore through the real pieces: `kvs serve` under a steady
 * write load answers GET /v1/admin/backup, `kvs restore` turns the file into a
 * new data directory, and `kvs serve` on it holds exactly the writes that were
 * acknowledged at or before the backup's KV-Revision, with their metadata and
 * history (docs/RELIABILITY.md, "Backup and restore"). Then every kind of bad
 * source and destination is refused with one line and exit 1, leaving nothing.
 */

const LMDB_ONLY = onlyOnLmdb('backups are copies of the embedded store');
const leftovers = leftoversCleanedAfter('kvs-backup-restore-');

/** What the server acknowledged for one key: a put (with the metadata its answer carried) or a delete. */
interface Ack {
  key: string;
  revision: number;
  /** When the answer arrived (performance.now()). */
  atMs: number;
  put?: { value: string; contentType: string; createRevision: number; version: number; expiresAt?: string };
}

const WRITERS = 8;
const KEYS_PER_WRITER = 12;
const LOAD_BEFORE_BACKUP_MS = 400;
const LOAD_AFTER_BACKUP_MS = 300;
/** Values of the preloaded keys: enough that the backup takes measurable time (~35 MB store). */
const BULK_KEYS = 2000;
const BULK_VALUE = 'b'.repeat(8 * 1024);
const BULK_PER_TXN = 50;

/** `kvs restore` through the real CLI. */
function restoreCli(args: string[]): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI_PATH, 'restore', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/** `kvs ARGS` through the real CLI, without blocking the event loop; ended when `signal` aborts (the test's timeout). */
function cliAsync(args: string[], signal: AbortSignal, env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], signal });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** One line on stderr, exit 1, no crash. */
function assertRefused(result: ReturnType<typeof restoreCli>, naming: RegExp): void {
  assert.equal(result.signal, null, `killed by ${result.signal}: ${result.stderr}`);
  assert.equal(result.status, 1, `exit status ${result.status}; stderr: ${result.stderr}`);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${result.stderr}`);
  assert.match(lines[0]!, /^kvs restore: /);
  assert.match(lines[0]!, naming);
  assert.equal(result.stdout, '');
}

/** A value as an envelope shows it (list items, watch events). */
function envelopeText(item: { value?: unknown; encoding?: string }): string {
  return item.encoding === 'base64' ? Buffer.from(String(item.value), 'base64').toString('utf8') : String(item.value);
}

/** Every file of a directory but LMDB's `-lock` files (their reader table changes with reads), with a hash of its content. */
function fingerprint(directory: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(directory).sort()) {
    files[name] = name.endsWith('-lock')
      ? '(lock file)'
      : createHash('sha256')
          .update(readFileSync(join(directory, name)))
          .digest('hex');
  }
  return files;
}

/** GET /v1/admin/backup into a file; returns its revision, and checks its length and digest. */
async function takeBackup(url: string, file: string): Promise<number> {
  const response = await fetch(`${url}/v1/admin/backup`);
  const body = Buffer.from(await response.arrayBuffer());
  assert.equal(response.status, 200, body.toString('utf8', 0, 500));
  assert.equal(Number(response.headers.get('content-length')), body.length);
  assert.equal(response.headers.get('repr-digest'), `sha-256=:${createHash('sha256').update(body).digest('base64')}:`);
  writeFileSync(file, body);
  return Number(response.headers.get('kv-revision'));
}

/** Preloads BULK_KEYS keys in txns of BULK_PER_TXN puts, each acknowledged with its metadata. */
async function preload(url: string, acks: Ack[]): Promise<void> {
  for (let first = 0; first < BULK_KEYS; first += BULK_PER_TXN) {
    const ops = Array.from({ length: BULK_PER_TXN }, (_, i) => ({
      op: 'put',
      key: `bulk/${first + i}`,
      value: BULK_VALUE,
      encoding: 'utf8',
      contentType: 'text/plain; charset=utf-8',
    }));
    const response = await postJson(`${url}/v1/txn`, { ops });
    assert.equal(response.status, 200, response.text);
    for (const result of response.body.results) {
      acks.push({
        key: result.key,
        revision: result.revision,
        atMs: performance.now(),
        put: { value: BULK_VALUE, contentType: 'text/plain; charset=utf-8', createRevision: result.createRevision, version: result.version },
      });
    }
  }
}

/**
 * One writer of the load: puts sequence values to its own keys, in turn, with
 * its own content type, a TTL on every other put, and (writer 0) a delete of
 * every third key it holds. It is the keys' only writer, so it knows whether
 * each exists; every write must be acknowledged.
 */
async function writer(url: string, index: number, stop: () => boolean, acks: Ack[]): Promise<void> {
  const exists = new Set<string>();
  const contentType = index % 2 === 0 ? 'text/plain; charset=utf-8' : 'application/octet-stream';
  for (let sequence = 0; !stop(); sequence++) {
    const key = `load/w${index}/k${sequence % KEYS_PER_WRITER}`;
    if (index === 0 && sequence % 3 === 2 && exists.has(key)) {
      const response = await fetch(`${url}/v1/kv/${encodeKey(key)}`, { method: 'DELETE' });
      assert.equal(response.status, 204, `DELETE ${key}: ${await response.text()}`);
      acks.push({ key, revision: Number(response.headers.get('kv-revision')), atMs: performance.now() });
      exists.delete(key);
      continue;
    }
    const value = `w${index}-s${sequence}`;
    const response = await putValue(url, key, value, { headers: { 'content-type': contentType }, ...(sequence % 2 === 1 ? { query: 'ttl=3600' } : {}) });
    assert.ok(response.status === 200 || response.status === 201, `PUT ${key}: ${response.status} ${response.text}`);
    const { revision, createRevision, version, expiresAt } = response.body;
    acks.push({
      key,
      revision,
      atMs: performance.now(),
      put: { value, contentType, createRevision, version, ...(expiresAt === undefined ? {} : { expiresAt }) },
    });
    exists.add(key);
  }
}

/** Each key's last acknowledged write at or before `revision`. */
function stateAt(acks: readonly Ack[], revision: number): Map<string, Ack> {
  const state = new Map<string, Ack>();
  for (const ack of acks) {
    if (ack.revision > revision) continue;
    const known = state.get(ack.key);
    if (known === undefined || known.revision < ack.revision) state.set(ack.key, ack);
  }
  return state;
}

/** Every live key of a server, with values, page by page. */
async function listAll(url: string): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const page: JsonResponse<{ items: any[]; cursor: string | null }> = await request(
      `${url}/v1/kv?values=true&limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
    );
    assert.equal(page.status, 200, page.text);
    items.push(...page.body.items);
    cursor = page.body.cursor;
  } while (cursor !== null);
  return items;
}

describe('a backup taken under a steady write load, restored with kvs restore and served', { skip: LMDB_ONLY }, () => {
  let source: ServerProcess;
  let restored: ServerProcess;
  const acks: Ack[] = [];
  let backupRevision = 0;

  before(async () => {
    source = await leftovers.spawn({ DATA_DIRECTORY: leftovers.directory() });
    await preload(source.url, acks);
    let stopped = false;
    const writers = Array.from({ length: WRITERS }, (_, index) => writer(source.url, index, () => stopped, acks));
    try {
      await new Promise((resolve) => setTimeout(resolve, LOAD_BEFORE_BACKUP_MS));
      const backupFile = join(leftovers.directory(), 'kvs-backup.mdb');
      const startedAt = performance.now();
      backupRevision = await takeBackup(source.url, backupFile);
      const endedAt = performance.now();
      await new Promise((resolve) => setTimeout(resolve, LOAD_AFTER_BACKUP_MS));
      stopped = true;
      await Promise.all(writers);
      const acknowledgedDuring = acks.filter((ack) => ack.atMs >= startedAt && ack.atMs <= endedAt).length;
      reportFigures('backup-restore', { writes: acks.length, backupRevision, backupMs: Math.round(endedAt - startedAt), acknowledgedDuring });
      // The store kept taking writes while the backup was copied, hashed and sent.
      assert.ok(acknowledgedDuring > 0, `no write was acknowledged during the ${Math.round(endedAt - startedAt)} ms backup`);
      assert.ok(
        acks.some((ack) => ack.revision > backupRevision),
        'writes went on after the backup',
      );
      assert.ok(
        acks.some((ack) => ack.revision <= backupRevision && ack.key.startsWith('load/')),
        'the backup caught part of the load',
      );

      const directory = join(leftovers.directory(), 'restored');
      const restore = restoreCli([backupFile, '--data-directory', directory]);
      assert.equal(restore.status, 0, restore.stderr);
      assert.equal(restore.stderr, '');
      assert.match(restore.stdout, new RegExp(`^restored revision ${backupRevision} \\([\\d,]+ keys, [\\d.]+ [KMG]iB\\) into ${directory}\\n$`));
      assert.deepEqual(readdirSync(directory), ['kvs.mdb'], 'the directory holds the store and nothing else');
      restored = await leftovers.spawn({ DATA_DIRECTORY: directory });
    } finally {
      stopped = true;
      await Promise.allSettled(writers);
    }
  });
  after(() => {
    source?.kill('SIGTERM');
    restored?.kill('SIGTERM');
  });

  it("is at the backup's revision", async () => {
    const status = await request(`${restored.url}/v1/status`);
    assert.equal(status.body.revision, backupRevision);
  });

  it('holds each key as its last acknowledged write at or before that revision left it, metadata included, and nothing later', async () => {
    const expected = stateAt(acks, backupRevision);
    const items = await listAll(restored.url);
    const present = [...expected.values()].filter((ack) => ack.put !== undefined);
    assert.deepEqual(items.map((item) => item.key).sort(), present.map((ack) => ack.key).sort(), 'exactly the keys whose last write by then was a put');
    for (const item of items) {
      const ack = expected.get(item.key)!;
      assert.ok(item.revision <= backupRevision, `${item.key} is at ${item.revision}, after the backup's ${backupRevision}`);
      assert.deepEqual(
        {
          value: envelopeText(item),
          contentType: item.contentType,
          revision: item.revision,
          createRevision: item.createRevision,
          version: item.version,
          expiresAt: item.expiresAt,
        },
        {
          value: ack.put!.value,
          contentType: ack.put!.contentType,
          revision: ack.revision,
          createRevision: ack.put!.createRevision,
          version: ack.put!.version,
          expiresAt: ack.put!.expiresAt,
        },
        item.key,
      );
    }
  });

  it("replays its whole history from since=0: each revision up to the backup's is the write acknowledged at it", async () => {
    const byRevision = new Map<number, Ack[]>();
    for (const ack of acks) if (ack.revision <= backupRevision) byRevision.set(ack.revision, [...(byRevision.get(ack.revision) ?? []), ack]);
    const watch = await SseClient.connect(`${restored.url}/v1/watch?prefix=&since=0`);
    try {
      await watch.until(
        (messages) => messages.some((message) => message.event === 'change' && Number(message.id) === backupRevision),
        30_000,
        `revision ${backupRevision}`,
      );
      const changes = watch.events('change').map((message) => JSON.parse(message.data));
      assert.deepEqual(
        changes.map((change) => change.revision),
        Array.from({ length: backupRevision }, (_, i) => i + 1),
        'every revision once, in order',
      );
      for (const change of changes) {
        const events = change.events.map((event: any) => ({
          key: event.key,
          type: event.type,
          ...(event.type === 'put'
            ? { value: envelopeText(event), version: event.version, createRevision: event.createRevision, contentType: event.contentType }
            : {}),
        }));
        const written = (byRevision.get(change.revision) ?? []).map((ack) => ({
          key: ack.key,
          type: ack.put === undefined ? 'delete' : 'put',
          ...(ack.put === undefined
            ? {}
            : { value: ack.put.value, version: ack.put.version, createRevision: ack.put.createRevision, contentType: ack.put.contentType }),
        }));
        assert.deepEqual(events, written, `revision ${change.revision}`);
      }
    } finally {
      watch.close();
    }
  });

  it('resumes a watch from a recent revision, then goes on with new writes', async () => {
    const since = backupRevision - 5;
    const watch = await SseClient.connect(`${restored.url}/v1/watch?prefix=load/&since=${since}`);
    try {
      const put = await putValue(restored.url, 'load/after-restore', 'new');
      assert.equal(put.body.revision, backupRevision + 1);
      await watch.until((messages) => messages.some((message) => Number(message.id) === backupRevision + 1), 10_000, 'the new write');
      const revisions = watch.events('change').map((message) => Number(message.id));
      assert.ok(
        revisions.every((revision) => revision > since),
        `replayed from ${since}: ${revisions}`,
      );
      assert.equal(revisions.at(-1), backupRevision + 1);
    } finally {
      watch.close();
    }
  });
});

describe('a large import at one revision, backed up and restored through the CLI', { skip: LMDB_ONLY }, () => {
  // Every key of an import shares its revision: the restore's check once decoded that revision's whole
  // log entry per key (20 000 keys took minutes). The test's timeout bounds a check that is not linear.
  const KEYS = 30_000;

  it(`kvs import of ${KEYS.toLocaleString('en-US')} keys, kvs backup, kvs restore: the restored store serves every key`, { timeout: 90_000 }, async (t) => {
    const source = await leftovers.spawn({ DATA_DIRECTORY: leftovers.directory() });
    let restored: ServerProcess | undefined;
    try {
      const lines = Array.from({ length: KEYS }, (_, i) =>
        JSON.stringify({ key: `imported/${i}`, value: Buffer.from(`value ${i}`).toString('base64'), contentType: 'text/plain' }),
      );
      const file = join(leftovers.directory(), 'import.ndjson');
      writeFileSync(file, `${lines.join('\n')}\n`);
      const imported = await cliAsync(['import', file, '-o', 'json'], t.signal, { KVS_URL: source.url });
      assert.equal(imported.status, 0, imported.stderr);
      const { revision } = JSON.parse(imported.stdout) as { revision: number };

      const backupFile = join(leftovers.directory(), 'large.mdb');
      const backup = await cliAsync(['backup', backupFile], t.signal, { KVS_URL: source.url });
      assert.equal(backup.status, 0, backup.stderr);

      const directory = join(leftovers.directory(), 'restored');
      const restore = await cliAsync(['restore', backupFile, '--data-directory', directory], t.signal);
      assert.equal(restore.status, 0, restore.stderr);
      assert.match(restore.stdout, new RegExp(`^restored revision ${revision} \\(${KEYS.toLocaleString('en-US')} keys, `));

      restored = await leftovers.spawn({ DATA_DIRECTORY: directory });
      const status = await request(`${restored.url}/v1/status`);
      assert.deepEqual({ revision: status.body.revision, keys: status.body.keys }, { revision, keys: KEYS });
      for (const i of [0, 1, 12_345, KEYS - 1]) {
        const read: JsonResponse = await request(`${restored!.url}/v1/kv/imported/${i}`);
        assert.equal(read.text, `value ${i}`, `imported/${i}`);
        assert.equal(read.headers.get('etag'), `"${revision}"`);
      }
    } finally {
      source.kill('SIGTERM');
      restored?.kill('SIGTERM');
    }
  });
});

describe('kvs restore refuses what it must not restore, leaving nothing', { skip: LMDB_ONLY }, () => {
  let server: ServerProcess;
  let sourceDirectory: string;
  let backupFile: string;

  before(async () => {
    sourceDirectory = leftovers.directory();
    server = await leftovers.spawn({ DATA_DIRECTORY: sourceDirectory });
    for (let i = 0; i < 200; i++) assert.equal((await putValue(server.url, `k/${i}`, randomBytes(512).toString('hex'))).status, 201);
    backupFile = join(leftovers.directory(), 'good.mdb');
    await takeBackup(server.url, backupFile);
  });
  after(() => server?.kill('SIGTERM'));

  /** A source made from the good backup by `damage`, restored into a fresh empty directory: refused, the directory left empty. */
  function refusedSource(bytes: Buffer, naming: RegExp): void {
    const file = join(leftovers.directory(), 'damaged.mdb');
    writeFileSync(file, bytes);
    const directory = leftovers.directory();
    assertRefused(restoreCli([file, '--data-directory', directory]), naming);
    assert.deepEqual(readdirSync(directory), [], 'nothing was left in the directory');
  }

  it('a truncated backup (and a directory it would have created is not left behind)', () => {
    const bytes = readFileSync(backupFile);
    refusedSource(
      bytes.subarray(0, Math.floor(bytes.length / 2)),
      /damaged\.mdb is truncated: its header says the store spans \d+ bytes, the file holds \d+; nothing was restored$/,
    );
    const file = join(leftovers.directory(), 'cut.mdb');
    writeFileSync(file, bytes.subarray(0, bytes.length - 100));
    const missing = join(leftovers.directory(), 'not-yet');
    assertRefused(restoreCli([file, '--data-directory', missing]), /is truncated/);
    assert.equal(existsSync(missing), false, 'the directory the restore made is removed again');
  });

  it('a backup with its bytes flipped in the middle', () => {
    const bytes = Buffer.from(readFileSync(backupFile));
    // Two pages' worth, so that at least one whole page in the middle is garbage.
    const start = Math.floor(bytes.length / 2);
    for (let i = start; i < start + 8192 && i < bytes.length; i++) bytes[i]! ^= 0xff;
    refusedSource(bytes, /damaged\.mdb is corrupt: .+; nothing was restored$/);
  });

  it('a record that differs from the write its change log holds, and a record whose write is missing from the log', async () => {
    /** A copy of the good backup with `change` applied to its databases, restored: refused with `naming`. */
    async function refusedAfter(change: (stores: Stores) => Promise<void>, naming: RegExp): Promise<void> {
      const file = join(leftovers.directory(), 'altered.mdb');
      writeFileSync(file, readFileSync(backupFile));
      const stores = openStores(file);
      try {
        await change(stores);
      } finally {
        await stores.root.close();
      }
      const directory = leftovers.directory();
      assertRefused(restoreCli([file, '--data-directory', directory]), naming);
      assert.deepEqual(readdirSync(directory), []);
    }
    const recordOf = (stores: Stores, key: string) => decodeRecord(key, stores.kv.getBinary(Buffer.from(key))!);
    await refusedAfter(async (stores) => {
      const entry = recordOf(stores, 'k/7');
      await stores.kv.put(Buffer.from('k/7'), encodeRecord({ ...entry, value: Buffer.from('altered') }));
    }, /altered\.mdb is corrupt: the record of key "k\/7" differs from the write its change log holds at revision \d+; nothing was restored$/);
    await refusedAfter(async (stores) => {
      const { revision } = recordOf(stores, 'k/9');
      const events = stores.log.get(revision)!;
      await stores.log.put(
        revision,
        events.map((event) => ({ ...event, k: 'k/elsewhere' })),
      );
    }, /altered\.mdb is corrupt: the record of key "k\/9" differs from the write its change log holds at revision \d+; nothing was restored$/);
  });

  it('random bytes, and an empty file', () => {
    refusedSource(randomBytes(256 * 1024), /damaged\.mdb is not a kvs backup \(not an LMDB file, or its header is corrupt\)/);
    refusedSource(Buffer.alloc(0), /damaged\.mdb is empty, not a kvs backup/);
  });

  it('an LMDB environment of another application', async () => {
    const file = join(leftovers.directory(), 'users.mdb');
    const root = open({ path: file, maxDbs: 4 });
    await root.openDB({ name: 'users' }).put('alice', { admin: true });
    await root.close();
    const directory = leftovers.directory();
    assertRefused(
      restoreCli([file, '--data-directory', directory]),
      /users\.mdb is not a kvs backup: it is an LMDB environment of another application \(it holds "users"\)/,
    );
    assert.deepEqual(readdirSync(directory), []);
  });

  it('a source that does not exist, and the store file of a running kvs (not a consistent copy)', () => {
    const directory = leftovers.directory();
    assertRefused(restoreCli([join(directory, 'nothing-here.mdb'), '--data-directory', directory]), /nothing-here\.mdb does not exist/);
    assertRefused(
      restoreCli([join(sourceDirectory, 'kvs.mdb'), '--data-directory', directory]),
      new RegExp(`is the store of a running kvs \\(pid ${server.child.pid}\\)`),
    );
    assert.deepEqual(readdirSync(directory), []);
  });

  it("into a directory that is not empty: refused, its files untouched (a fresh volume's lost+found alone is fine)", () => {
    const directory = leftovers.directory();
    writeFileSync(join(directory, 'notes.txt'), 'mine\n');
    const before = fingerprint(directory);
    assertRefused(restoreCli([backupFile, '--data-directory', directory]), /is not empty \(it holds "notes\.txt"\); restore into an empty or new directory/);
    assert.deepEqual(fingerprint(directory), before);
    const volume = leftovers.directory();
    mkdirSync(join(volume, 'lost+found'));
    const restored = restoreCli([backupFile, '--data-directory', volume]);
    assert.equal(restored.status, 0, restored.stderr);
    assert.deepEqual(readdirSync(volume).sort(), ['kvs.mdb', 'lost+found']);
  });

  it('into the data directory of a running kvs: refused, its store untouched, and it goes on serving', async () => {
    const before = fingerprint(sourceDirectory);
    assertRefused(restoreCli([backupFile, '--data-directory', sourceDirectory]), new RegExp(`is in use by a running kvs \\(pid ${server.child.pid}\\)`));
    assert.deepEqual(fingerprint(sourceDirectory), before);
    assert.equal((await request(`${server.url}/v1/kv/k/7`)).status, 200);
  });

  it('interrupted (SIGINT while it copies): exit 1, and the directory it created is gone', async () => {
    // The good backup, padded (sparsely) to 512 MiB: still a valid source, and slow enough to copy to interrupt.
    const big = join(leftovers.directory(), 'big.mdb');
    writeFileSync(big, readFileSync(backupFile));
    truncateSync(big, 512 * 1024 * 1024);
    const directory = join(leftovers.directory(), 'interrupted');
    const child = spawn(process.execPath, [CLI_PATH, 'restore', big, '--data-directory', directory], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Once its temporary copy exists, the copy is under way.
    while (!(existsSync(directory) && readdirSync(directory).some((name) => name.startsWith('.restore-'))))
      await new Promise((resolve) => setTimeout(resolve, 2));
    child.kill('SIGINT');
    assert.equal(await exited, 1, stderr);
    assert.match(stderr, /^kvs restore: interrupted; nothing was restored into .*interrupted\n$/);
    assert.equal(existsSync(directory), false, 'the directory the restore made is removed with what it held');
  });

  it('--help exits 0; a missing SRC or --data-directory, or an unknown flag, exits 2 with one line', () => {
    const help = restoreCli(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /kvs restore SRC --data-directory DIR/);
    for (const args of [
      [],
      [backupFile],
      ['--data-directory', leftovers.directory()],
      [backupFile, '--data-directory', leftovers.directory(), '--frobnicate'],
    ]) {
      const result = restoreCli(args);
      assert.equal(result.status, 2, `${JSON.stringify(args)}: ${result.stderr}`);
      assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, /^kvs restore: /);
    }
  });
});
