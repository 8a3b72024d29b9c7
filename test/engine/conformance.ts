import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { KvError } from '../../src/core/errors.js';
import { keyBytes, prefixEnd } from '../../src/core/keys.js';
import type { Entry, Revision, RevisionChanges } from '../../src/core/types.js';
import { canBackUp, canReadFresh, canReadSync, type Compare, type StorageEngine, type TxnOp, type TxnResult } from '../../src/engine/engine.js';
import type { EngineDifferences } from './differences.js';

/**
 * The conformance suite of StorageEngine (src/engine/engine.ts): every clause
 * of its contract, run against every engine. Each engine's test file calls
 * runEngineConformance with its constructor and its differences
 * (differences.ts), so that what differs is a list one can review, and
 * nothing here branches on an engine's name.
 *
 * Not here: the read budget of a txn's gets (TXN_READ_VALUE_BYTES_MAX, 64 MiB)
 * is decided by the shared planner, and is tested on it
 * (test/unit/txn-plan.test.ts); writing 64 MiB through etcd for it would cost
 * the suite more than it proves.
 */

export interface EngineOptions {
  /** The engine's clock. */
  now: () => number;
  historyRetentionRevisions?: number;
  /** How often background work (sweeps, compaction) runs; default: rarely, so that tests decide when things expire. */
  maintenanceIntervalMs?: number;
}

/**
 * A new engine, not open, on the store called `store`: the same name is the
 * same store (open it again after closing), a new name a new, empty store.
 */
export type MakeEngine = (store: string, options: EngineOptions) => StorageEngine;

/** A clock the test moves: it stands still unless told. */
class ManualClock {
  constructor(public ms = Date.now()) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

const HOUR_MS = 3_600_000;
/** Background work that never runs during a test, unless the test asks for it. */
const NO_MAINTENANCE_MS = 10 * HOUR_MS;

export function runEngineConformance(name: string, makeEngine: MakeEngine, differences: EngineDifferences): void {
  let opened: StorageEngine[] = [];
  let stores = 0;

  afterEach(async () => {
    await Promise.all(opened.map((engine) => engine.close()));
    opened = [];
  });

  /** A new store (or `store` again), opened; closed after the test. */
  async function open(options: Partial<EngineOptions> & { store?: string } = {}): Promise<StorageEngine> {
    const engine = makeEngine(options.store ?? newStore(), {
      now: options.now ?? Date.now,
      maintenanceIntervalMs: options.maintenanceIntervalMs ?? NO_MAINTENANCE_MS,
      ...(options.historyRetentionRevisions === undefined ? {} : { historyRetentionRevisions: options.historyRetentionRevisions }),
    });
    await engine.open();
    opened.push(engine);
    return engine;
  }

  function newStore(): string {
    stores++;
    return `store-${stores}`;
  }

  describe(`StorageEngine conformance: ${name}`, () => {
    describe('lifecycle and capabilities', () => {
      it('is ready while open, not once closed; close is idempotent', async () => {
        const engine = await open();
        assert.equal(engine.name, differences.name);
        assert.equal(await engine.isReady(), true);
        await engine.close();
        assert.equal(await engine.isReady(), false);
        await engine.close();
      });

      it('neverWritten: true on a new store, false once it was written', async () => {
        const store = newStore();
        const first = await open({ store });
        assert.equal(first.neverWritten(), true);
        await put(first, 'k', 'v');
        await first.close();
        const second = await open({ store });
        assert.equal(second.neverWritten(), false);
      });

      it(`neverWritten after a store was only opened: ${differences.openWrites ?? 'still true'}`, async () => {
        const store = newStore();
        await (await open({ store })).close();
        const again = await open({ store });
        assert.equal(again.neverWritten(), differences.openWrites === null);
      });

      it('has exactly the capabilities listed; a SyncReader, and a FreshReader after awaitFresh, answer as get does', async () => {
        const clock = new ManualClock();
        const engine = await open({ now: clock.now });
        assert.equal(canReadSync(engine), differences.capabilities.syncReader);
        assert.equal(canReadFresh(engine), differences.capabilities.freshReader);
        assert.equal(canBackUp(engine), differences.capabilities.snapshotBackup);
        await put(engine, 'present', 'v');
        await put(engine, 'expiring', 'v', { ttlMs: 1000 });
        clock.advance(1000);
        if (canReadSync(engine)) {
          for (const key of ['present', 'expiring', 'absent']) assert.deepEqual(engine.getSync(key), await engine.get(key), key);
        }
        if (canReadFresh(engine)) {
          for (const key of ['present', 'expiring', 'absent']) {
            assert.equal(await engine.awaitFresh(), true, `the replica answers (${key})`);
            assert.deepEqual(engine.getLocal(key), await engine.get(key), key);
          }
        }
      });

      it('waitingWrites is 0 once every write was answered; txnCapacity is null or positive', async () => {
        const engine = await open();
        await Promise.all(Array.from({ length: 10 }, (_, i) => put(engine, `w/${i}`, 'v')));
        assert.equal(engine.waitingWrites(), 0);
        const capacity = engine.txnCapacity;
        if (capacity !== null) assert.ok(capacity.ops > 0 && capacity.bytes > 0, JSON.stringify(capacity));
      });

      it('a txn of txnCapacity ops applies whole, at one revision', async () => {
        const engine = await open();
        const ops = engine.txnCapacity?.ops ?? 500;
        const result = committed(await engine.txn({ compares: [], ops: Array.from({ length: ops }, (_, i) => putOp(`cap/${i}`, 'v')) }));
        assert.equal(result.results.length, ops);
        assert.equal(await engine.count(keyBytes('cap/'), prefixEnd(keyBytes('cap/'))), ops);
        assert.equal((await engine.get(`cap/${ops - 1}`)).entry?.revision, result.revision);
      });
    });

    describe('reads and writes', () => {
      it('a put creates version 1 at a new revision; a put again makes version 2, same createRevision; reads see both at once', async () => {
        const engine = await open();
        const before = (await engine.status()).revision;
        const first = committed(await engine.txn({ compares: [], ops: [putOp('k', 'one', { contentType: 'text/plain' })] }));
        assert.ok(first.revision > before);
        assert.deepEqual(first.results, [
          {
            op: 'put',
            key: 'k',
            created: true,
            entry: { key: 'k', contentType: 'text/plain', createRevision: first.revision, revision: first.revision, version: 1, expiresAtMs: null, size: 3 },
          },
        ]);
        const read = await engine.get('k');
        assert.ok(read.revision >= first.revision, 'the read is of a snapshot with the write');
        assert.deepEqual(read.entry, {
          key: 'k',
          value: Buffer.from('one'),
          contentType: 'text/plain',
          createRevision: first.revision,
          revision: first.revision,
          version: 1,
          expiresAtMs: null,
        });

        const second = committed(await engine.txn({ compares: [], ops: [putOp('k', 'two')] }));
        assert.ok(second.revision > first.revision);
        assert.deepEqual(second.results[0], {
          op: 'put',
          key: 'k',
          created: false,
          entry: {
            key: 'k',
            contentType: 'application/octet-stream',
            createRevision: first.revision,
            revision: second.revision,
            version: 2,
            expiresAtMs: null,
            size: 3,
          },
        });
        assert.equal((await engine.get('k')).entry?.value.toString(), 'two');
      });

      it('a txn applies every op at one revision and answers each in order', async () => {
        const engine = await open();
        await put(engine, 'gone', 'x');
        await put(engine, 'counter', '40');
        const result = committed(
          await engine.txn({
            compares: [],
            ops: [
              putOp('new', 'n'),
              { op: 'add', key: 'counter', by: 2 },
              { op: 'delete', key: 'gone' },
              { op: 'get', key: 'new-not-yet' },
              { op: 'delete', key: 'missing' },
            ],
          }),
        );
        const [created, added, deleted, got, notDeleted] = result.results;
        assert.equal(created?.op === 'put' && created.entry.revision, result.revision);
        assert.ok(
          added?.op === 'add' &&
            added.value === 42 &&
            added.entry.revision === result.revision &&
            added.entry.version === 2 &&
            added.entry.contentType === 'application/json',
        );
        assert.deepEqual(deleted, { op: 'delete', key: 'gone', deleted: true });
        assert.deepEqual(got, { op: 'get', key: 'new-not-yet', entry: null });
        assert.deepEqual(notDeleted, { op: 'delete', key: 'missing', deleted: false });
        assert.equal((await engine.get('counter')).entry?.value.toString(), '42');
        assert.equal((await engine.get('gone')).entry, null);
      });

      it('a get in a txn reads the entry as it was before the txn’s writes', async () => {
        const engine = await open();
        const written = await put(engine, 'g', 'before');
        const result = committed(await engine.txn({ compares: [], ops: [{ op: 'get', key: 'g' }, putOp('other', 'x')] }));
        const got = result.results[0];
        assert.ok(got?.op === 'get' && got.entry !== null);
        assert.equal(got.entry.value.toString(), 'before');
        assert.equal(got.entry.revision, written);
      });

      it('an add to an absent key counts from 0; to a non-counter or past ±(2^53−1) it throws, and nothing of its txn applies', async () => {
        const engine = await open();
        const fresh = committed(await engine.txn({ compares: [], ops: [{ op: 'add', key: 'c', by: -5 }] }));
        assert.ok(fresh.results[0]?.op === 'add' && fresh.results[0].value === -5 && fresh.results[0].entry.version === 1);
        await put(engine, 'text', 'not a number');
        await put(engine, 'big', String(Number.MAX_SAFE_INTEGER));
        const before = (await engine.status()).revision;
        await assertKvError(engine.txn({ compares: [], ops: [putOp('applied?', 'no'), { op: 'add', key: 'text', by: 1 }] }), 'not_a_counter');
        await assertKvError(engine.txn({ compares: [], ops: [putOp('applied?', 'no'), { op: 'add', key: 'big', by: 1 }] }), 'counter_overflow');
        assert.equal((await engine.get('applied?')).entry, null);
        assert.equal((await engine.status()).revision, before, 'no revision');
      });
    });

    describe('writes that change nothing create no revision', () => {
      it('a delete of a missing key, a txn of gets, a txn whose compares fail, a deleteRange that matches nothing', async () => {
        const engine = await open();
        const last = await put(engine, 'present', 'v');
        const unchanged = async (what: string, result: Promise<{ revision: Revision }>) => {
          assert.equal((await result).revision, last, `${what}: answers the current revision`);
          assert.equal((await engine.status()).revision, last, `${what}: no new revision`);
        };
        await unchanged('delete of a missing key', engine.txn({ compares: [], ops: [{ op: 'delete', key: 'missing' }] }));
        await unchanged(
          'gets',
          engine.txn({
            compares: [],
            ops: [
              { op: 'get', key: 'present' },
              { op: 'get', key: 'missing' },
            ],
          }),
        );
        await unchanged('failed compare', engine.txn({ compares: [{ key: 'present', kind: 'exists', expected: false }], ops: [putOp('present', 'changed')] }));
        await unchanged('deleteRange of nothing', engine.deleteRange(keyBytes('nothing/'), prefixEnd(keyBytes('nothing/'))));
        assert.equal((await engine.get('present')).entry?.value.toString(), 'v');
      });
    });

    describe('compares', () => {
      it('exists, revisionIn (0 = absent) and revisionNotIn; a failure reports each failed index with its key’s revision and applies nothing', async () => {
        const engine = await open();
        const a = await put(engine, 'a', 'v');
        const passing: Compare[] = [
          { key: 'a', kind: 'exists', expected: true },
          { key: 'b', kind: 'exists', expected: false },
          { key: 'a', kind: 'revisionIn', revisions: [a + 100, a] },
          { key: 'b', kind: 'revisionIn', revisions: [0] },
          { key: 'a', kind: 'revisionNotIn', revisions: [0] },
          { key: 'b', kind: 'revisionNotIn', revisions: [a] },
        ];
        const passed = committed(await engine.txn({ compares: passing, ops: [putOp('c', 'ok')] }));
        assert.ok(passed.revision > a);

        const failing: Compare[] = [
          { key: 'a', kind: 'exists', expected: false },
          { key: 'a', kind: 'exists', expected: true },
          { key: 'b', kind: 'exists', expected: true },
          { key: 'a', kind: 'revisionIn', revisions: [0] },
          { key: 'b', kind: 'revisionNotIn', revisions: [0] },
        ];
        const failed = await engine.txn({ compares: failing, ops: [putOp('d', 'never')] });
        assert.deepEqual(failed, { succeeded: false, revision: passed.revision, failedCompares: [0, 2, 3, 4], currentRevisions: [a, 0, a, 0] });
        assert.equal((await engine.get('d')).entry, null);
      });
    });

    describe('expiry (the clock is the engine’s, injected)', () => {
      it('an entry whose deadline is exactly now does not exist for any read or compare; a millisecond before, it does', async () => {
        const clock = new ManualClock();
        const engine = await open({ now: clock.now });
        // An hour: nothing (not even etcd's lease, on etcd's own clock) removes it during the test.
        const written = await put(engine, 'ttl/k', 'v', { ttlMs: HOUR_MS });
        await put(engine, 'ttl/live', 'v');
        assert.equal((await engine.get('ttl/k')).entry?.expiresAtMs, clock.ms + HOUR_MS);
        clock.advance(HOUR_MS - 1);
        assert.notEqual((await engine.get('ttl/k')).entry, null);
        clock.advance(1);
        assert.equal((await engine.get('ttl/k')).entry, null);
        const all = { start: keyBytes('ttl/'), end: prefixEnd(keyBytes('ttl/')) };
        assert.deepEqual(
          (await engine.range({ ...all, limit: 10, reverse: false, withValues: false })).items.map((item) => item.key),
          ['ttl/live'],
        );
        assert.equal(await engine.count(all.start, all.end), 1);
        assert.deepEqual(
          (await collect(engine.snapshot(all.start, all.end))).map((entry) => entry.key),
          ['ttl/live'],
        );
        const compares: Compare[] = [
          { key: 'ttl/k', kind: 'exists', expected: false },
          { key: 'ttl/k', kind: 'revisionIn', revisions: [0] },
          { key: 'ttl/k', kind: 'revisionNotIn', revisions: [written] },
        ];
        committed(await engine.txn({ compares, ops: [{ op: 'get', key: 'ttl/k' }] }));
      });

      it('a put’s deadline is expiresAtMs when given, else now + ttlMs; a put without a TTL clears it; an add keeps it', async () => {
        const clock = new ManualClock();
        const engine = await open({ now: clock.now });
        const deadline = (op: TxnOp) =>
          engine.txn({ compares: [], ops: [op] }).then((result) => {
            const first = committed(result).results[0]!;
            return first.op === 'put' || first.op === 'add' ? first.entry.expiresAtMs : undefined;
          });
        assert.equal(await deadline(putOp('d', '1', { ttlMs: 5_000 })), clock.ms + 5_000);
        assert.equal(await deadline(putOp('d', '1', { ttlMs: 5_000, expiresAtMs: clock.ms + 9_000 })), clock.ms + 9_000);
        assert.equal(await deadline({ op: 'add', key: 'd', by: 1 }), clock.ms + 9_000);
        assert.equal((await engine.get('d')).entry?.expiresAtMs, clock.ms + 9_000);
        assert.equal(await deadline(putOp('d', '1')), null);
        assert.equal((await engine.get('d')).entry?.expiresAtMs, null);
      });

      it('writing a key whose entry expired records its expire event at a revision of its own, then a new incarnation (version 1)', async () => {
        const clock = new ManualClock();
        const engine = await open({ now: clock.now });
        const first = await put(engine, 're/k', 'old', { ttlMs: HOUR_MS });
        await put(engine, 're/k', 'old2', { ttlMs: HOUR_MS });
        clock.advance(HOUR_MS);
        const again = committed(await engine.txn({ compares: [], ops: [putOp('re/k', 'new')] }));
        const created = again.results[0];
        assert.ok(created?.op === 'put');
        assert.equal(created.created, true);
        assert.equal(created.entry.version, 1);
        assert.equal(created.entry.createRevision, again.revision);
        const changes = await history(engine, first, again.revision);
        const last = changes.slice(-2);
        assert.deepEqual(
          last.map((change) => change.events.map((event) => [event.type, event.key])),
          [[['expire', 're/k']], [['put', 're/k']]],
        );
        assert.ok(last[0]!.revision < again.revision && last[1]!.revision === again.revision);
        // An add to an expired counter starts from 0.
        await put(engine, 're/c', '10', { ttlMs: HOUR_MS });
        clock.advance(HOUR_MS);
        const added = committed(await engine.txn({ compares: [], ops: [{ op: 'add', key: 're/c', by: 1 }] })).results[0];
        assert.ok(added?.op === 'add' && added.value === 1 && added.entry.version === 1 && added.entry.expiresAtMs === null);
      });

      it('an expired key’s removal is recorded as an expire event, without any write to it', async () => {
        const engine = await open({ maintenanceIntervalMs: 50 });
        const seen: RevisionChanges[] = [];
        engine.onChanges((changes) => seen.push(changes));
        const written = await put(engine, 'sweep/k', 'v', { ttlMs: 300 });
        const deadline = Date.now() + 300;
        await waitFor(
          () => seen.some((changes) => changes.events.some((event) => event.type === 'expire' && event.key === 'sweep/k')),
          'the expire event',
          10_000,
        );
        assert.ok(Date.now() - deadline <= differences.expireEventLagMsMax, `the expire event came ${Date.now() - deadline} ms after the deadline`);
        const expire = seen.find((changes) => changes.events.some((event) => event.type === 'expire'))!;
        assert.ok(expire.revision > written);
        assert.deepEqual(expire.events, [{ type: 'expire', key: 'sweep/k', revision: expire.revision }]);
        assert.equal((await engine.get('sweep/k')).entry, null);
      });

      it(`status().keys counts live keys${differences.countsUnremovedExpired === null ? '' : ` (and: ${differences.countsUnremovedExpired})`}`, async () => {
        const clock = new ManualClock();
        const engine = await open({ now: clock.now });
        await put(engine, 'live', 'v');
        await put(engine, 'expiring', 'v', { ttlMs: HOUR_MS });
        assert.equal((await engine.status()).keys, 2);
        clock.advance(HOUR_MS);
        assert.equal((await engine.status()).keys, differences.countsUnremovedExpired === null ? 1 : 2);
      });
    });

    describe('range, count and snapshot', () => {
      /** Keys a, b, b/1, c, d with 10-byte values, and an expired bx. */
      async function fixture(): Promise<StorageEngine> {
        const clock = new ManualClock();
        const engine = await open({ now: clock.now });
        await put(engine, 'bx', 'expired!!!', { ttlMs: HOUR_MS });
        for (const key of ['a', 'b', 'b/1', 'c', 'd']) await put(engine, key, key.padEnd(10, '.'));
        clock.advance(HOUR_MS);
        return engine;
      }
      const keys = (items: Array<{ key: string }>) => items.map((item) => item.key);

      it('returns live keys with start <= key < end, ascending or descending, in UTF-8 byte order', async () => {
        const engine = await fixture();
        const page = await engine.range({ start: keyBytes('b'), end: keyBytes('d'), limit: 10, reverse: false, withValues: false });
        assert.deepEqual(keys(page.items), ['b', 'b/1', 'c']);
        assert.equal(page.more, false);
        assert.ok(page.revision > 0);
        assert.deepEqual(keys((await engine.range({ start: keyBytes('b'), end: keyBytes('d'), limit: 10, reverse: true, withValues: false })).items), [
          'c',
          'b/1',
          'b',
        ]);
        assert.deepEqual(keys((await engine.range({ start: Buffer.alloc(0), end: null, limit: 10, reverse: false, withValues: false })).items), [
          'a',
          'b',
          'b/1',
          'c',
          'd',
        ]);
        // A bound need not be valid UTF-8 (a prefix's end): [b, b\xff) holds b and b/1.
        assert.deepEqual(
          keys((await engine.range({ start: keyBytes('b'), end: Buffer.from([0x62, 0xff]), limit: 10, reverse: false, withValues: false })).items),
          ['b', 'b/1'],
        );
        assert.deepEqual(keys((await engine.range({ start: keyBytes('e'), end: null, limit: 10, reverse: true, withValues: false })).items), []);
      });

      it('takes at most limit items; more says whether live keys remain', async () => {
        const engine = await fixture();
        const first = await engine.range({ start: keyBytes('b'), end: null, limit: 2, reverse: false, withValues: false });
        assert.deepEqual(keys(first.items), ['b', 'b/1']);
        assert.equal(first.more, true);
        const exact = await engine.range({ start: keyBytes('b'), end: null, limit: 4, reverse: false, withValues: false });
        assert.deepEqual(keys(exact.items), ['b', 'b/1', 'c', 'd']);
        assert.equal(exact.more, false);
        const reverse = await engine.range({ start: Buffer.alloc(0), end: keyBytes('c'), limit: 2, reverse: true, withValues: false });
        assert.deepEqual(keys(reverse.items), ['b/1', 'b']);
        assert.equal(reverse.more, true);
      });

      it('withValues gives each value; without, none; valueBytesMax ends a page with values once they reach it, after at least one item', async () => {
        const engine = await fixture();
        const all = { start: Buffer.alloc(0), end: null, limit: 10, reverse: false };
        const withValues = await engine.range({ ...all, withValues: true });
        assert.deepEqual(withValues.items[0], {
          key: 'a',
          contentType: 'application/octet-stream',
          createRevision: withValues.items[0]!.revision,
          revision: withValues.items[0]!.revision,
          version: 1,
          expiresAtMs: null,
          size: 10,
          value: Buffer.from('a.........'),
        });
        const without = await engine.range({ ...all, withValues: false });
        assert.ok(without.items.every((item) => !('value' in item) && item.size === 10));
        const capped = await engine.range({ ...all, withValues: true, valueBytesMax: 15 });
        assert.deepEqual(keys(capped.items), ['a', 'b']);
        assert.equal(capped.more, true);
        const one = await engine.range({ ...all, withValues: true, valueBytesMax: 1 });
        assert.deepEqual(keys(one.items), ['a']);
        assert.equal(one.more, true);
        const ignored = await engine.range({ ...all, withValues: false, valueBytesMax: 1 });
        assert.deepEqual(keys(ignored.items), ['a', 'b', 'b/1', 'c', 'd'], 'without values, valueBytesMax does not apply');
      });

      it('count counts live keys in the range', async () => {
        const engine = await fixture();
        assert.equal(await engine.count(keyBytes('b'), keyBytes('c')), 2);
        assert.equal(await engine.count(Buffer.alloc(0), null), 5);
        assert.equal(await engine.count(keyBytes('x'), null), 0);
      });

      it('snapshot yields every live entry in the range, ascending, from one snapshot', async () => {
        const engine = await fixture();
        const seen: Entry[] = [];
        for await (const entry of engine.snapshot(keyBytes('b'), null)) {
          if (seen.length === 0) await put(engine, 'e-written-meanwhile', 'v');
          seen.push(entry);
        }
        assert.deepEqual(keys(seen), ['b', 'b/1', 'c', 'd']);
        assert.equal(seen[0]!.value.toString(), 'b.........');
      });
    });

    describe('deleteRange', () => {
      it('deletes every live key in the range at one revision, with a delete event each', async () => {
        const engine = await open();
        for (const key of ['p/a', 'p/b', 'p/c', 'q']) await put(engine, key, 'v');
        const before = (await engine.status()).revision;
        const result = await engine.deleteRange(keyBytes('p/'), prefixEnd(keyBytes('p/')));
        assert.equal(result.deleted, 3);
        assert.ok(result.revision > before);
        assert.equal(await engine.count(keyBytes('p/'), prefixEnd(keyBytes('p/'))), 0);
        assert.notEqual((await engine.get('q')).entry, null);
        const changes = await history(engine, before, result.revision);
        assert.deepEqual(
          changes.map((change) => [change.revision, change.events.map((event) => `${event.type} ${event.key}`)]),
          [[result.revision, ['delete p/a', 'delete p/b', 'delete p/c']]],
        );
      });

      it(`keys past their deadline in the range are not deleted again${differences.countsUnremovedExpired === null ? '' : ` (except: ${differences.countsUnremovedExpired})`}`, async () => {
        const clock = new ManualClock();
        const engine = await open({ now: clock.now });
        await put(engine, 'r/live', 'v');
        await put(engine, 'r/expired', 'v', { ttlMs: HOUR_MS });
        clock.advance(HOUR_MS);
        const result = await engine.deleteRange(keyBytes('r/'), prefixEnd(keyBytes('r/')));
        assert.equal(result.deleted, differences.countsUnremovedExpired === null ? 1 : 2);
        assert.equal(await engine.count(keyBytes('r/'), prefixEnd(keyBytes('r/'))), 0);
        assert.equal((await engine.status()).keys, 0);
      });
    });

    describe('history (changesSince)', () => {
      /** Five puts of 10-byte values; returns their revisions once the feed has them. */
      async function fiveRevisions(engine: StorageEngine): Promise<Revision[]> {
        const revisions: Revision[] = [];
        for (let i = 0; i < 5; i++) revisions.push(await put(engine, `h/${i}`, `value-${i}`.padEnd(10, '.')));
        await feedAt(engine, revisions.at(-1)!);
        return revisions;
      }

      it('returns the changes of after < r <= upTo, ascending, at most limit revisions', async () => {
        const engine = await open();
        const [r1, r2, r3, r4, r5] = await fiveRevisions(engine);
        const all = await engine.changesSince(r1! - 1, r5!, 100);
        assert.deepEqual(
          all.map((change) => change.revision),
          [r1, r2, r3, r4, r5],
        );
        const event = all[0]!.events[0]!;
        assert.equal(event.type, 'put');
        assert.deepEqual(event.entry, {
          key: 'h/0',
          value: Buffer.from('value-0...'),
          contentType: 'application/octet-stream',
          createRevision: r1,
          revision: r1,
          version: 1,
          expiresAtMs: null,
        });
        assert.deepEqual(
          (await engine.changesSince(r1! - 1, r5!, 2)).map((change) => change.revision),
          [r1, r2],
        );
        assert.deepEqual(
          (await engine.changesSince(r2!, r4!, 100)).map((change) => change.revision),
          [r3, r4],
        );
        assert.deepEqual(await engine.changesSince(r5!, r5!, 100), []);
        assert.deepEqual(await engine.changesSince(r3!, r2!, 100), []);
      });

      it('stops once the values reach valueBytesMax, after at least one revision', async () => {
        const engine = await open();
        const [r1, r2, , , r5] = await fiveRevisions(engine);
        assert.deepEqual(
          (await engine.changesSince(r1! - 1, r5!, 100, 15)).map((change) => change.revision),
          [r1, r2],
        );
        assert.deepEqual(
          (await engine.changesSince(r1! - 1, r5!, 100, 1)).map((change) => change.revision),
          [r1],
        );
      });

      it('is empty for a window in which no key changed', async () => {
        const engine = await open();
        const written = await put(engine, 'quiet', 'v');
        await feedAt(engine, written);
        assert.deepEqual(await engine.changesSince(written, engine.changeFeedRevision(), 100), []);
      });

      it('throws history_compacted with compactRevision once the revisions after `after` are compacted; the retained tail stays readable', async () => {
        const engine = await open({ historyRetentionRevisions: 3, maintenanceIntervalMs: 50 });
        const revisions: Revision[] = [];
        for (let i = 0; i < 10; i++) revisions.push(await put(engine, `c/${i % 2}`, `v${i}`));
        const last = revisions.at(-1)!;
        // Compaction keeps the last historyRetentionRevisions revisions: up to last - 3.
        await waitFor(async () => (await engine.status()).compactRevision === last - 3, 'compaction up to the retention', 20_000);
        const status = await engine.status();
        assert.ok(
          status.revision >= last + differences.compactionRecordRevisions.min && status.revision <= last + differences.compactionRecordRevisions.max,
          `revision ${status.revision} after ${last}`,
        );
        await feedAt(engine, last);
        const upTo = engine.changeFeedRevision();
        const refused = await engine.changesSince(revisions[0]!, upTo, 100).then(
          () => null,
          (error: unknown) => error,
        );
        assert.ok(refused instanceof KvError, String(refused));
        assert.equal(refused.code, 'history_compacted');
        assert.equal(refused.extras.compactRevision, status.compactRevision);
        const tail = await engine.changesSince(status.compactRevision, upTo, 100);
        assert.deepEqual(
          tail.map((change) => change.revision),
          revisions.filter((revision) => revision > status.compactRevision),
        );
        assert.equal(tail.length, 3);
      });
    });

    describe('the change feed (onChanges)', () => {
      it('reports each durable revision exactly once, in order, with its changes; a removed listener hears nothing more', async () => {
        const engine = await open();
        const seen: RevisionChanges[] = [];
        const stop = engine.onChanges((changes) => seen.push(changes));
        const writes = await Promise.all([
          ...Array.from({ length: 20 }, (_, i) => engine.txn({ compares: [], ops: [putOp(`f/${i}`, 'v')] })),
          engine.txn({ compares: [], ops: [putOp('f/x', 'v'), putOp('f/y', 'v')] }),
        ]);
        const deleted = await engine.deleteRange(keyBytes('f/1'), keyBytes('f/2'));
        const revisions = [...writes.map((write) => write.revision), deleted.revision].sort((a, b) => a - b);
        await waitFor(() => seen.some((changes) => changes.revision === deleted.revision), 'the feed to report the delete', 10_000);
        assert.deepEqual(
          seen.map((changes) => changes.revision),
          revisions,
          'each write’s revision once, ascending',
        );
        const pair = seen.find((changes) => changes.events.length === 2)!;
        assert.deepEqual(
          pair.events.map((event) => [event.type, event.key, event.revision]),
          [
            ['put', 'f/x', pair.revision],
            ['put', 'f/y', pair.revision],
          ],
        );
        assert.equal(seen.at(-1)!.events.length, 11, 'f/1 and f/10..f/19');
        assert.ok(seen.at(-1)!.events.every((event) => event.type === 'delete'));
        assert.ok(engine.changeFeedRevision() >= deleted.revision);

        stop();
        const count = seen.length;
        const after = await put(engine, 'f/after', 'v');
        await feedAt(engine, after);
        assert.equal(seen.length, count);
      });
    });

    describe('status()', () => {
      it('reports the store revision, compactRevision 0 before any compaction, the live keys and the data size', async () => {
        const engine = await open();
        const fresh = await engine.status();
        assert.equal(fresh.compactRevision, 0);
        assert.equal(fresh.keys, 0);
        await put(engine, 's/a', 'v');
        const last = await put(engine, 's/b', 'v');
        const status = await engine.status();
        assert.equal(status.revision, last);
        assert.equal(status.keys, 2);
        if (differences.noDataBytes === null) assert.ok(typeof status.dataBytes === 'number' && status.dataBytes > 0, String(status.dataBytes));
        else assert.equal(status.dataBytes, undefined);
      });
    });
  });
}

function putOp(key: string, value: string, options: { ttlMs?: number; expiresAtMs?: number; contentType?: string } = {}): TxnOp {
  return {
    op: 'put',
    key,
    value: Buffer.from(value),
    contentType: options.contentType ?? 'application/octet-stream',
    ttlMs: options.ttlMs ?? null,
    ...(options.expiresAtMs === undefined ? {} : { expiresAtMs: options.expiresAtMs }),
  };
}

/** Puts one key; resolves with the write's revision. */
async function put(engine: StorageEngine, key: string, value: string, options: { ttlMs?: number } = {}): Promise<Revision> {
  return committed(await engine.txn({ compares: [], ops: [putOp(key, value, options)] })).revision;
}

function committed(result: TxnResult): Extract<TxnResult, { succeeded: true }> {
  assert.ok(result.succeeded, JSON.stringify(result));
  return result;
}

async function assertKvError(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof KvError && error.code === code);
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** Waits until the change feed has reached `revision` (on etcd it runs behind writes). */
async function feedAt(engine: StorageEngine, revision: Revision): Promise<void> {
  await waitFor(() => engine.changeFeedRevision() >= revision, `the change feed to reach revision ${revision}`, 10_000);
}

/** The changes of after < r <= upTo, once the feed has them. */
async function history(engine: StorageEngine, after: Revision, upTo: Revision): Promise<RevisionChanges[]> {
  await feedAt(engine, upTo);
  return engine.changesSince(after, upTo, 1000);
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
