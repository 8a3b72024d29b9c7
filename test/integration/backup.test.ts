import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TokenRegistry, tokenEntry } from '../../src/auth/tokens.js';
import { pollUntil } from '../helpers/assertions.js';
import { expectProblem, putValue, request } from '../helpers/http.js';
import { startTestServer, tempDirectory, TEST_ENGINE, useTestServer, type TestServer } from '../helpers/server.js';
import { differencesOf } from '../engine/differences.js';

/** How the engine under test differs from the other, each with its reason (test/engine/differences.ts). */
const ENGINE = differencesOf(TEST_ENGINE);

/**
 * GET /v1/admin/backup (API.md §11) over real HTTP: who may take one, what
 * the response carries, one backup at a time, and that the copy it streams
 * from never outlives its response. That a backup restores to exactly the
 * acknowledged writes is test/robustness/backup-restore.test.ts.
 */

const ADMIN_TOKEN = 'admin-secret-0123456789';
const APP_TOKEN = 'app-secret-0123456789';
const LMDB_ONLY = ENGINE.capabilities.snapshotBackup ? false : 'the engine has no local store to back up (it answers 501: its own suite above)';

/** The backup copies in a data directory (named `.backup-<random>.mdb`, beside the store). */
function backupCopies(directory: string): string[] {
  return readdirSync(directory).filter((name) => name.startsWith('.backup-'));
}

async function noBackupCopiesLeft(server: TestServer): Promise<void> {
  await pollUntil(async () => backupCopies(server.dataDirectory).length === 0, `the backup copies in ${server.dataDirectory} are removed`, 5000);
}

describe(
  'GET /v1/admin/backup on an engine without snapshot backups (etcd)',
  { skip: ENGINE.capabilities.snapshotBackup ? 'the engine backs up: the suites below' : false },
  () => {
    const server = useTestServer();

    it('is 501 not_implemented, naming etcdctl snapshot save and the export', async () => {
      const problem = expectProblem(await request(`${server.url}/v1/admin/backup`), 501, 'not_implemented');
      assert.match(problem.detail, /etcdctl snapshot save/);
      assert.match(problem.detail, /GET \/v1\/admin\/export/);
    });
  },
);

describe('GET /v1/admin/backup needs an admin token', () => {
  const tokensDirectory = tempDirectory('kvs-tokens-');
  const server = useTestServer(() => {
    const tokensFile = join(tokensDirectory, 'tokens.json');
    writeFileSync(tokensFile, JSON.stringify({ tokens: [tokenEntry('app', APP_TOKEN, [{ prefix: '', actions: ['read', 'write', 'watch'] }], false)] }));
    const tokens = TokenRegistry.load({ adminToken: ADMIN_TOKEN, tokensFile });
    return { access: { tokens, protectedMode: true, rateLimit: null } };
  });
  after(() => {
    rmSync(tokensDirectory, { recursive: true, force: true });
  });

  it('401 without a token, 403 with a token that may read every key but is not admin, and a backup (501 on etcd) for the admin', async () => {
    const url = `${server.url}/v1/admin/backup`;
    const anonymous = await request(url);
    expectProblem(anonymous, 401, 'unauthorized');
    assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer');
    expectProblem(await request(url, { headers: { authorization: `Bearer ${APP_TOKEN}` } }), 403, 'forbidden');
    const admin = await fetch(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    await admin.arrayBuffer();
    assert.equal(admin.status, ENGINE.capabilities.snapshotBackup ? 200 : 501);
  });
});

describe('GET /v1/admin/backup on the embedded engine', { skip: LMDB_ONLY }, () => {
  /** Values big enough that a backup's body (~32 MiB) cannot fit in the sockets' buffers while its reader waits. */
  const value = Buffer.alloc(128 * 1024, 'v');
  const server = useTestServer({}, async () => {
    for (let i = 0; i < 128; i++) assert.equal((await putValue(server.url, `big/${i}`, value)).status, 201);
    assert.equal((await putValue(server.url, 'small', 'hello', { headers: { 'content-type': 'text/plain' }, query: 'ttl=3600' })).status, 201);
  });

  it('is the store as an LMDB file, with its revision, length, name and SHA-256 in the headers; the copy is removed afterwards', async () => {
    const status = await request(`${server.url}/v1/status`);
    const response = await fetch(`${server.url}/v1/admin/backup`);
    const body = Buffer.from(await response.arrayBuffer());
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/octet-stream');
    assert.equal(Number(response.headers.get('content-length')), body.length);
    // No write ran meanwhile: the snapshot is at the store's revision.
    assert.equal(response.headers.get('kv-revision'), String(status.body.revision));
    assert.equal(response.headers.get('content-disposition'), `attachment; filename="kvs-backup-${status.body.revision}.mdb"`);
    assert.equal(response.headers.get('repr-digest'), `sha-256=:${createHash('sha256').update(body).digest('base64')}:`);
    // LMDB's meta-page magic (0xBEEFC0DE, little-endian) after the 24-byte page header.
    assert.equal(body.readUInt32LE(24), 0xbeefc0de);
    assert.ok(body.length > 128 * value.length, `the backup (${body.length} bytes) holds the values`);
    await noBackupCopiesLeft(server);
  });

  it('a second backup while one is being sent is 503 unavailable with Retry-After; once it is read, the next one runs', async () => {
    const first = await fetch(`${server.url}/v1/admin/backup`);
    assert.equal(first.status, 200);
    // The first body is not read yet, so its response cannot have finished.
    const second = await request(`${server.url}/v1/admin/backup`);
    expectProblem(second, 503, 'unavailable');
    assert.ok(Number(second.headers.get('retry-after')) >= 1, `Retry-After: ${second.headers.get('retry-after')}`);
    assert.equal(backupCopies(server.dataDirectory).length, 1, 'only the first backup made a copy');
    const firstBody = Buffer.from(await first.arrayBuffer());
    assert.equal(firstBody.length, Number(first.headers.get('content-length')));
    await noBackupCopiesLeft(server);
    const third = await fetch(`${server.url}/v1/admin/backup`);
    await third.arrayBuffer();
    assert.equal(third.status, 200);
  });

  it('a client that goes away mid-body leaves no copy behind, and the next backup runs', async () => {
    const controller = new AbortController();
    const response = await fetch(`${server.url}/v1/admin/backup`, { signal: controller.signal });
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await noBackupCopiesLeft(server);
    const next = await fetch(`${server.url}/v1/admin/backup`);
    await next.arrayBuffer();
    assert.equal(next.status, 200);
  });

  it('a client that gives up at once (during the copy, or just after) leaves no copy behind and releases its turn', async () => {
    for (const delayMs of [0, 1, 5, 20]) {
      const controller = new AbortController();
      const pending = fetch(`${server.url}/v1/admin/backup`, { signal: controller.signal }).then((response) => response.arrayBuffer());
      setTimeout(() => controller.abort(), delayMs);
      await pending.catch(() => {});
      // The server may still be making the abandoned copy (it finishes it, then removes it): until then a
      // backup is 503, as for any backup under way. The turn must come back, and no copy may stay.
      await pollUntil(
        async () => {
          const next = await fetch(`${server.url}/v1/admin/backup`);
          await next.arrayBuffer();
          if (next.status === 503) return false;
          assert.equal(next.status, 200, `a backup after one abandoned at ${delayMs} ms`);
          return true;
        },
        `the backup abandoned at ${delayMs} ms releases its turn`,
        10_000,
      );
      await noBackupCopiesLeft(server);
    }
  });

  it('HEAD is 405 (its headers would cost a full copy of the store)', async () => {
    const response = await request(`${server.url}/v1/admin/backup`, { method: 'HEAD' });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'GET');
  });
});

describe('backup copies a crash left behind', { skip: LMDB_ONLY }, () => {
  it('are removed when the engine opens the store; other files stay', async () => {
    const directory = tempDirectory();
    const stale = ['.backup-0123456789abcdef.mdb', '.backup-0123456789abcdef.mdb-lock'];
    for (const name of [...stale, '.backup-notes']) writeFileSync(join(directory, name), 'left over');
    const server = await startTestServer({ dataDirectory: directory });
    try {
      assert.deepEqual(backupCopies(directory), ['.backup-notes']);
    } finally {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
