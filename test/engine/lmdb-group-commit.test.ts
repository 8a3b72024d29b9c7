import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KvError } from '../../src/core/errors.js';
import type { TxnResult } from '../../src/engine/engine.js';
import { LmdbEngine } from '../../src/engine/lmdb/lmdb-engine.js';
import { STORE_FILE_NAME } from '../../src/engine/lmdb/store-file.js';
import { batchSequenceBytes, META_BATCH, readBatchSequence, type Stores } from '../../src/engine/lmdb/stores.js';

/**
 * Group commit queues a batch while the one before it syncs, planned as if
 * that one had applied: only once that one is seen committed in LMDB (its
 * batch number in meta.batch), and conditional on it there as well (ADR 0013).
 * A batch that does not apply fails alone: a write submitted behind it waits
 * for it, and is then planned on what the store holds. A white-box test: the
 * store's batch number is moved back behind the engine's back, so that the
 * next batch's condition fails as if the one before it had not applied.
 */
const root = mkdtempSync(join(tmpdir(), 'kvs-group-commit-'));
after(() => rmSync(root, { recursive: true, force: true }));

const put = (key: string, value: string) => ({
  compares: [],
  ops: [{ op: 'put' as const, key, value: Buffer.from(value), contentType: 'text/plain', ttlMs: null }],
});

async function outcome(write: Promise<TxnResult>): Promise<TxnResult | KvError> {
  try {
    return await write;
  } catch (error) {
    if (error instanceof KvError) return error;
    throw error;
  }
}

describe('group commit: batches behind batches', () => {
  it('a batch that does not apply fails alone; the write behind it goes on what the store holds, without a gap in revisions', async () => {
    const engine = new LmdbEngine({ file: join(root, 'chain', STORE_FILE_NAME), historyRetentionRevisions: 1000 });
    await engine.open();
    try {
      assert.equal((await engine.txn(put('before', '0'))).revision, 1);
      const stores = (engine as unknown as { stores: Stores }).stores;
      const sequence = readBatchSequence(stores)!;
      // As if the last batch had not applied: the store holds the number of the one before it.
      await stores.root.transaction(() => stores.meta.putSync(META_BATCH, batchSequenceBytes(sequence - 1)));
      await stores.root.flushed;

      const first = engine.txn(put('first', '1'));
      // Submitted while the first is in flight.
      await new Promise((resolve) => setImmediate(resolve));
      const second = engine.txn(put('second', '2'));
      const firstOutcome = await outcome(first);
      assert.ok(firstOutcome instanceof KvError, `the first write was answered ${JSON.stringify(firstOutcome)}`);
      assert.equal(firstOutcome.code, 'unavailable');
      assert.equal((await engine.get('first')).entry, null, 'nothing of the batch that did not apply is read');

      // The second was not planned on the first: it went once the first had settled, on what the store holds.
      const secondOutcome = await outcome(second);
      assert.ok(!(secondOutcome instanceof KvError), `the second write failed: ${String(secondOutcome)}`);
      assert.equal(secondOutcome.revision, 2);
      assert.equal((await engine.txn(put('after', '3'))).revision, 3);
      const history = await engine.changesSince(0, 3, 10);
      assert.deepEqual(
        history.map((changes) => [changes.revision, changes.events.map((event) => event.key)]),
        [
          [1, ['before']],
          [2, ['second']],
          [3, ['after']],
        ],
      );
      assert.equal((await engine.status()).revision, 3);
      assert.equal(readBatchSequence(stores), sequence + 1);
    } finally {
      await engine.close();
    }
  });

  it('queues a batch behind one in flight, and answers and shows each only once it is flushed', async () => {
    const engine = new LmdbEngine({ file: join(root, 'overlap', STORE_FILE_NAME), historyRetentionRevisions: 1000 });
    await engine.open();
    try {
      const writes = Array.from({ length: 50 }, (_, i) => engine.txn(put(`k${i}`, String(i))));
      const seen: number[] = [];
      // Every write, once answered, is read back, and the store's revision is never behind it.
      await Promise.all(
        writes.map(async (write, i) => {
          const result = await write;
          seen.push(result.revision);
          assert.equal(engine.getSync(`k${i}`).entry?.value.toString(), String(i));
          assert.ok(engine.getSync(`k${i}`).revision >= result.revision);
        }),
      );
      assert.deepEqual(
        [...seen].sort((a, b) => a - b),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
    } finally {
      await engine.close();
    }
  });
});
