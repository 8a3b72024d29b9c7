import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync, truncateSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open } from 'lmdb';
import { putValue, request } from '../helpers/http.js';
import { CLI_PATH, spawnServer, tempDirectory } from '../helpers/server.js';

/**
 * Start-up on a data directory kvs must not use: another program's files, a
 * corrupt or foreign store, a store another kvs is serving. Each time: one
 * clear line, a non-zero exit (not a crash), and nothing changed on disk.
 */

/** Every file of a directory with a hash of its content: to prove nothing was written. */
function fingerprint(directory: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(directory).sort())
    files[name] = createHash('sha256')
      .update(readFileSync(join(directory, name)))
      .digest('hex');
  return files;
}

/** `kvs serve` on `directory`, expected to refuse: its exit status and stderr. */
function refusedStart(directory: string): { status: number | null; signal: NodeJS.Signals | null; stderr: string } {
  const result = spawnSync(process.execPath, [CLI_PATH, 'serve'], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', DATA_DIRECTORY: directory },
    encoding: 'utf8',
    timeout: 15_000,
  });
  return { status: result.status, signal: result.signal, stderr: result.stderr };
}

function assertRefused(result: ReturnType<typeof refusedStart>, naming: RegExp): void {
  assert.equal(result.signal, null, `killed by ${result.signal} (a crash, or it kept running): ${result.stderr}`);
  assert.ok(result.status !== null && result.status !== 0, `exit status ${result.status}: ${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${result.stderr}`);
  assert.match(lines[0]!, naming);
}

/** A real kvs store with a few keys, made by a kvs process. */
async function kvsStore(): Promise<string> {
  const directory = tempDirectory('kvs-dd-');
  const server = await spawnServer({ DATA_DIRECTORY: directory });
  try {
    for (let i = 0; i < 20; i++) assert.equal((await putValue(server.url, `k${i}`, `v${i}`)).status, 201);
  } finally {
    server.kill('SIGTERM');
    await server.exited;
  }
  return directory;
}

describe('a data directory that belongs to something else', () => {
  it("a directory of another program's files: refused, nothing added", () => {
    const directory = tempDirectory('kvs-dd-');
    writeFileSync(join(directory, 'app.py'), 'print("hello")\n');
    writeFileSync(join(directory, 'notes.txt'), 'mine\n');
    const before = fingerprint(directory);
    assertRefused(refusedStart(directory), /DATA_DIRECTORY .* holds no kvs store but other files \(app\.py, notes\.txt\)/);
    assert.deepEqual(fingerprint(directory), before);
  });

  it('a path that is a file: refused, the file untouched', () => {
    const file = join(tempDirectory('kvs-dd-'), 'plain-file');
    writeFileSync(file, 'not a directory');
    assertRefused(refusedStart(file), /is a file, not a directory/);
    assert.equal(readFileSync(file, 'utf8'), 'not a directory');
  });

  it('an LMDB environment of another application named like the store: refused, unchanged', async () => {
    const directory = tempDirectory('kvs-dd-');
    const root = open({ path: join(directory, 'kvs.mdb'), maxDbs: 4 });
    const users = root.openDB({ name: 'users' });
    await users.put('alice', { admin: true });
    await root.close();
    const before = fingerprint(directory);
    assertRefused(refusedStart(directory), /LMDB environment of another application \(it holds "users"\)/);
    const after = fingerprint(directory);
    assert.equal(after['kvs.mdb'], before['kvs.mdb'], 'the foreign store was modified');
  });

  it("the original server's data file alone is welcome (it is imported)", async () => {
    const directory = tempDirectory('kvs-dd-');
    writeFileSync(join(directory, 'key_value_data.json'), JSON.stringify({ legacy: 'value' }));
    mkdirSync(join(directory, 'lost+found'));
    const server = await spawnServer({ DATA_DIRECTORY: directory });
    try {
      assert.equal((await request(`${server.url}/get?key=legacy`)).body.value, 'value');
    } finally {
      server.kill('SIGTERM');
      await server.exited;
    }
  });

  it("an etcd node's replica left by a kill -9 is no reason to refuse: the embedded store starts there and removes it", async () => {
    const directory = tempDirectory('kvs-dd-');
    const replica = open({ path: join(directory, 'etcd-replica', 'replica.mdb') });
    await replica.put('copied', 'from etcd');
    await replica.close();
    const server = await spawnServer({ DATA_DIRECTORY: directory });
    try {
      assert.equal((await putValue(server.url, 'k', 'v')).status, 201);
      assert.ok(!existsSync(join(directory, 'etcd-replica')), 'the leftover replica (not authoritative) is removed');
    } finally {
      server.kill('SIGTERM');
      await server.exited;
    }
  });
});

describe('a corrupt store', () => {
  it('random bytes where the store should be: refused without a crash, the file untouched', () => {
    const directory = tempDirectory('kvs-dd-');
    writeFileSync(join(directory, 'kvs.mdb'), randomBytes(64 * 1024));
    const before = fingerprint(directory);
    // LMDB itself segfaults on such a file; kvs must check it first.
    assertRefused(refusedStart(directory), /is not a kvs store \(not an LMDB file, or its header is corrupt\)/);
    assert.equal(fingerprint(directory)['kvs.mdb'], before['kvs.mdb']);
  });

  it('a real store cut short, or with its header overwritten: refused, untouched', async () => {
    const source = await kvsStore();
    for (const damage of ['truncated', 'header'] as const) {
      const directory = tempDirectory('kvs-dd-');
      copyFileSync(join(source, 'kvs.mdb'), join(directory, 'kvs.mdb'));
      if (damage === 'truncated') truncateSync(join(directory, 'kvs.mdb'), 100);
      else {
        const bytes = readFileSync(join(directory, 'kvs.mdb'));
        randomBytes(64).copy(bytes, 0);
        writeFileSync(join(directory, 'kvs.mdb'), bytes);
      }
      const before = fingerprint(directory);
      assertRefused(refusedStart(directory), /is not a kvs store/);
      assert.equal(fingerprint(directory)['kvs.mdb'], before['kvs.mdb'], damage);
    }
  });
});

describe('a store another kvs is serving', () => {
  it("the second kvs is refused with the first one's pid; the first goes on serving; after a kill -9 the lock is free", async () => {
    const directory = await kvsStore();
    const first = await spawnServer({ DATA_DIRECTORY: directory });
    try {
      const second = refusedStart(directory);
      assertRefused(second, new RegExp(`is in use by another kvs \\(pid ${first.child.pid}\\)`));
      assert.equal((await request(`${first.url}/v1/kv/k7`)).text, 'v7');
      assert.equal((await putValue(first.url, 'after', 'x')).status, 201);
    } finally {
      first.kill('SIGKILL');
      await first.exited;
    }
    // The kernel released the lock with the process: no stale lock to clean up.
    const next = await spawnServer({ DATA_DIRECTORY: directory });
    try {
      assert.equal((await request(`${next.url}/v1/kv/after`)).text, 'x');
      assert.equal((await request(`${next.url}/v1/kv/k19`)).text, 'v19');
    } finally {
      next.kill('SIGTERM');
      await next.exited;
    }
  });
});
