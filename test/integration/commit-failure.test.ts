import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { request } from '../helpers/http.js';
import { leftoversCleanedAfter, onlyOnLmdb, sleep } from '../helpers/server.js';

/**
 * What kvs does when the disk fails a commit (docs/RELIABILITY.md). Faults
 * are injected into a real `kvs serve` with an LD_PRELOAD shim
 * (test/fixtures/fault/fault.c, built here with cc; .ci/run installs gcc):
 * the next fdatasync fails with EIO, every fdatasync is slowed, or every
 * pwrite64 fails with ENOSPC while a trigger file exists.
 *
 * - A full disk (ENOSPC): the write is not applied (LMDB aborts the commit
 *   before its meta page), 507 storage_full, and kvs goes on; writes resume
 *   once there is room.
 * - A failed sync (EIO, or ENOSPC from a filesystem that allocates late):
 *   the outcome is unknown (LMDB wrote the meta page
 *   before the sync; the kernel may have dropped the pages), so no write in
 *   flight is acknowledged, not even one committed behind it, and kvs exits
 *   74 to restart from what the disk holds; every write acknowledged before
 *   is there after the restart.
 */
const leftovers = leftoversCleanedAfter('kvs-commit-failure-');
const SOURCE = join(process.cwd(), 'test', 'fixtures', 'fault', 'fault.c');

function buildShim(directory: string): string | null {
  const shim = join(directory, 'fault.so');
  try {
    execFileSync('cc', ['-shared', '-fPIC', '-O2', '-o', shim, SOURCE, '-ldl'], { stdio: 'pipe' });
    return shim;
  } catch {
    return null;
  }
}

async function startFaulty() {
  const directory = leftovers.directory();
  const shim = buildShim(directory);
  if (shim === null) return null;
  const faults = join(directory, 'faults');
  mkdirSync(faults);
  const data = join(directory, 'data');
  const server = await leftovers.spawn({ DATA_DIRECTORY: data, LD_PRELOAD: shim, FAULT_DIR: faults });
  return {
    server,
    data,
    trigger: (name: string, content = '') => writeFileSync(join(faults, name), content),
    clear: (name: string) => rmSync(join(faults, name), { force: true }),
  };
}

const put = (base: string, key: string, value: string) =>
  request(`${base}/v1/kv/${key}`, { method: 'PUT', body: value }).catch((error: unknown) => ({
    status: `no answer: ${String((error as Error).cause ?? error)}`,
    body: null,
    text: '',
  }));

// A skip needs a compiler to build the fault shim; .ci/run installs one, so CI always runs these.
const NO_COMPILER = 'no C compiler (cc) to build the fault-injection shim';

describe('a commit the disk fails', { skip: onlyOnLmdb('LMDB commits') }, () => {
  it('a full disk (ENOSPC on every page write): 507 storage_full, nothing applied, and writes resume once there is room', async (t) => {
    const started = await startFaulty();
    if (started === null) return t.skip(NO_COMPILER);
    const { server, trigger, clear } = started;
    assert.equal((await put(server.url, 'before', 'x')).status, 201);
    trigger('write-fail');
    const failed = await put(server.url, 'during', 'y');
    assert.equal(failed.status, 507, `answered ${failed.status} ${failed.text}`);
    assert.equal((failed.body as { code?: string }).code, 'storage_full');
    await sleep(200);
    assert.equal(server.child.exitCode, null, `the server exited (${server.child.exitCode}):\n${server.output().slice(-1500)}`);
    assert.equal((await request(`${server.url}/v1/kv/before`)).status, 200, 'reads go on');
    clear('write-fail');
    assert.equal((await put(server.url, 'after', 'z')).status, 201);
    assert.equal((await request(`${server.url}/v1/kv/during`)).status, 404, 'the write answered 507 was not applied');
    assert.equal((await request(`${server.url}/v1/kv/after`)).text, 'z');
  });

  for (const [trigger, errno] of [
    ['sync-fail', 'EIO'],
    ['sync-nospc', 'ENOSPC'],
  ] as const) {
    it(`a failed fdatasync (${errno}): no write in flight is acknowledged, even one committed behind it; kvs exits 74 and restarts with every acknowledged write`, async (t) => {
      const started = await startFaulty();
      if (started === null) return t.skip(NO_COMPILER);
      const { server, data, trigger: fault, clear } = started;
      for (let i = 0; i < 5; i++) assert.equal((await put(server.url, `before-${i}`, String(i))).status, 201);
      // Slow syncs, so that a second batch commits behind the one whose sync fails.
      fault('sync-delay-ms', '300');
      fault(trigger);
      const first = put(server.url, 'during-1', 'a');
      await sleep(100);
      const second = put(server.url, 'during-2', 'b');
      const answers = await Promise.all([first, second]);
      for (const answer of answers) {
        assert.equal(
          answer.status,
          503,
          `a write in flight when the sync failed is never acknowledged: ${answer.status} ${answer.text}\n${server.output().slice(-2000)}`,
        );
        assert.match(answer.text, /may or may not have been applied/);
      }
      const exited = await Promise.race([server.exited, sleep(10_000).then(() => null)]);
      assert.deepEqual(exited, { code: 74, signal: null }, `kvs stops with exit code 74:\n${server.output().slice(-1500)}`);
      assert.match(server.output(), /the disk failed while making writes durable/);
      clear('sync-delay-ms');

      const restarted = await leftovers.spawn({ DATA_DIRECTORY: data });
      for (let i = 0; i < 5; i++) assert.equal((await request(`${restarted.url}/v1/kv/before-${i}`)).text, String(i), 'every acknowledged write survives');
      assert.equal((await put(restarted.url, 'after', 'z')).status, 201);
    });
  }
});
