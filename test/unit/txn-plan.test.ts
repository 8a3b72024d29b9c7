import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvError } from '../../src/core/errors.js';
import { TXN_READ_VALUE_BYTES_MAX } from '../../src/core/limits.js';
import type { Entry } from '../../src/core/types.js';
import { planTxn, type TxnReadView } from '../../src/engine/txn-plan.js';

/** A read view over fixed entries, counting reads. */
function view(entries: Entry[]): TxnReadView & { reads: string[] } {
  const byKey = new Map(entries.map((entry) => [entry.key, entry]));
  const reads: string[] = [];
  return {
    reads,
    read(key) {
      reads.push(key);
      return byKey.get(key) ?? null;
    },
  };
}

function entry(key: string, value: Buffer | string, revision: number, extra: Partial<Entry> = {}): Entry {
  return {
    key,
    value: Buffer.isBuffer(value) ? value : Buffer.from(value),
    contentType: 'text/plain',
    createRevision: revision,
    revision,
    version: 1,
    expiresAtMs: null,
    ...extra,
  };
}

describe('planTxn (the one place a transaction is decided, for every engine)', () => {
  it('the gets of a txn read at most TXN_READ_VALUE_BYTES_MAX value bytes; beyond, request_too_large, before any write', () => {
    const half = Buffer.alloc(TXN_READ_VALUE_BYTES_MAX / 2);
    const entries = [entry('a', half, 1), entry('b', half, 2), entry('c', Buffer.alloc(1), 3)];
    const fits = planTxn(
      {
        compares: [],
        ops: [
          { op: 'get', key: 'a' },
          { op: 'get', key: 'b' },
        ],
      },
      view(entries),
      0,
    );
    assert.ok(fits.succeeded);
    assert.throws(
      () =>
        planTxn(
          {
            compares: [],
            ops: [
              { op: 'put', key: 'x', value: Buffer.from('v'), contentType: 't', ttlMs: null },
              { op: 'get', key: 'a' },
              { op: 'get', key: 'b' },
              { op: 'get', key: 'c' },
            ],
          },
          view(entries),
          0,
        ),
      (error: unknown) => error instanceof KvError && error.code === 'request_too_large' && error.extras.limit === TXN_READ_VALUE_BYTES_MAX,
    );
  });

  it('reads each key once, however many compares and ops name it', () => {
    const reads = view([entry('a', '1', 5)]);
    const plan = planTxn(
      {
        compares: [
          { key: 'a', kind: 'exists', expected: true },
          { key: 'a', kind: 'revisionIn', revisions: [5] },
        ],
        ops: [{ op: 'add', key: 'a', by: 1 }],
      },
      reads,
      0,
    );
    assert.ok(plan.succeeded);
    assert.deepEqual(reads.reads, ['a']);
  });

  it('plans the writes: a put’s deadline from now, an add keeping the deadline, nothing for a delete of a missing key or a get', () => {
    const plan = planTxn(
      {
        compares: [],
        ops: [
          { op: 'put', key: 'p', value: Buffer.from('v'), contentType: 't', ttlMs: 1_000 },
          { op: 'add', key: 'n', by: 2 },
          { op: 'delete', key: 'missing' },
          { op: 'delete', key: 'd' },
          { op: 'get', key: 'g' },
        ],
      },
      view([entry('n', '40', 3, { expiresAtMs: 9_000 }), entry('d', 'x', 4)]),
      500,
    );
    assert.ok(plan.succeeded);
    assert.deepEqual(
      plan.writes.map((write) =>
        write.kind === 'put' ? [write.kind, write.key, write.expiresAtMs, write.keepsDeadline, write.value.toString()] : [write.kind, write.key],
      ),
      [
        ['put', 'p', 1_500, false, 'v'],
        ['put', 'n', 9_000, true, '42'],
        ['delete', 'd'],
      ],
    );
    const results = plan.results(10);
    assert.deepEqual(results[1], {
      op: 'add',
      key: 'n',
      value: 42,
      entry: { key: 'n', contentType: 'application/json', createRevision: 3, revision: 10, version: 2, expiresAtMs: 9_000, size: 2 },
    });
    assert.deepEqual(results.slice(2), [
      { op: 'delete', key: 'missing', deleted: false },
      { op: 'delete', key: 'd', deleted: true },
      { op: 'get', key: 'g', entry: null },
    ]);
  });

  it('failed compares: their indices and their keys’ revisions, and no ops planned (an op that would throw does not)', () => {
    const plan = planTxn(
      {
        compares: [
          { key: 'a', kind: 'exists', expected: true },
          { key: 'b', kind: 'exists', expected: false },
        ],
        ops: [{ op: 'add', key: 'b', by: 1 }],
      },
      view([entry('b', 'not a counter', 7)]),
      0,
    );
    assert.deepEqual(plan, { succeeded: false, failedCompares: [0, 1], currentRevisions: [0, 7] });
  });
});
