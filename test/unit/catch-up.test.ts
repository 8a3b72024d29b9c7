import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { KvError } from '../../src/core/errors.js';
import type { Revision, RevisionChanges } from '../../src/core/types.js';
import type { StorageEngine } from '../../src/engine/engine.js';
import { CatchUp, type CatchUpOptions, type CatchUpSink } from '../../src/watch/catch-up.js';
import { matchesFilter, WatchHub, type WatchFilter } from '../../src/watch/hub.js';

/**
 * watch/catch-up.ts against an engine that only has history and a change
 * feed, and counts its history reads: watchers resuming from the past share
 * reads (bounded, whatever their number), and each still gets exactly its
 * changes, in order, with no gap or duplicate across the replay→live boundary.
 */

const KEYS = ['a/1', 'a/2', 'b/1', 'b/2', 'c'];

/** Revision r changes key KEYS[r % 5] (a delete every 7th revision). */
function changesOf(revision: Revision): RevisionChanges {
  const key = KEYS[revision % KEYS.length]!;
  return { revision, events: [{ type: revision % 7 === 0 ? 'delete' : 'put', key, revision }] };
}

/** History and a change feed; every read is counted, and can let writes land while it is in flight. */
class CountingEngine {
  history: RevisionChanges[] = [];
  reads = 0;
  inFlight = 0;
  inFlightMax = 0;
  compactRevision = 0;
  /** Revisions written while each of the next `racingReads` reads is in flight (writes racing the catch-up). */
  writesDuringRead = 0;
  racingReads = 0;
  private listeners: Array<(changes: RevisionChanges) => void> = [];

  constructor(revisions: number) {
    for (let revision = 1; revision <= revisions; revision++) this.history.push(changesOf(revision));
  }

  get revision(): Revision {
    return this.history.length;
  }

  write(count = 1): void {
    for (let i = 0; i < count; i++) {
      const changes = changesOf(this.history.length + 1);
      this.history.push(changes);
      for (const listener of this.listeners) listener(changes);
    }
  }

  onChanges(listener: (changes: RevisionChanges) => void): () => void {
    this.listeners.push(listener);
    return () => (this.listeners = this.listeners.filter((other) => other !== listener));
  }

  async changesSince(after: Revision, upTo: Revision, limit: number): Promise<RevisionChanges[]> {
    this.reads++;
    this.inFlight++;
    this.inFlightMax = Math.max(this.inFlightMax, this.inFlight);
    try {
      await nextTurn();
      if (after < this.compactRevision) throw new KvError('history_compacted', 'compacted', { compactRevision: this.compactRevision });
      if (this.racingReads > 0) {
        this.racingReads--;
        this.write(this.writesDuringRead);
      }
      return this.history.filter((changes) => changes.revision > after && changes.revision <= upTo).slice(0, limit);
    } finally {
      this.inFlight--;
    }
  }
}

/** A watcher's view: the revisions it got from history and live, in order, and how it ended. */
class RecordingSink implements CatchUpSink {
  readonly revisions: Revision[] = [];
  liveAfter: Revision | null = null;
  error: unknown = null;
  evicted = false;
  backlog = false;
  drainedResult = true;

  replay(message: Buffer): void {
    this.record(message);
  }
  deliver(message: Buffer): boolean {
    this.record(message);
    return true;
  }
  backlogged(): boolean {
    return this.backlog;
  }
  drained(timeoutMs: number): Promise<boolean> {
    return this.drainedResult ? Promise.resolve(true) : sleep(timeoutMs).then(() => false);
  }
  live(_unsubscribe: () => void, revision: Revision): void {
    this.liveAfter = revision;
  }
  failed(error: unknown): void {
    this.error = error;
  }
  evict(): void {
    this.evicted = true;
  }

  private record(message: Buffer): void {
    const match = /^id: (\d+)\nevent: change\n/.exec(message.toString('utf8'));
    assert.ok(match, 'a change message');
    this.revisions.push(Number(match[1]));
  }
}

/** The revisions after `after`, up to `upTo`, whose change a watcher with `filter` gets. */
function expected(filter: WatchFilter, after: Revision, upTo: Revision): Revision[] {
  const revisions: Revision[] = [];
  for (let revision = after + 1; revision <= upTo; revision++) if (matchesFilter(filter, changesOf(revision).events[0]!.key)) revisions.push(revision);
  return revisions;
}

const FILTERS: WatchFilter[] = [{ prefix: '' }, { prefix: 'a/' }, { key: 'c' }, { prefix: 'b' }, { key: 'a/2' }];

function setUp(revisions: number, options?: CatchUpOptions) {
  const engine = new CountingEngine(revisions);
  const hub = new WatchHub(engine as unknown as StorageEngine, engine.revision);
  const catchUp = new CatchUp(engine, hub, options);
  return { engine, hub, catchUp };
}

async function settle(catchUp: CatchUp, watchers: RecordingSink[]): Promise<void> {
  for (let turns = 0; turns < 10_000; turns++) {
    if (catchUp.lagging === 0 && watchers.every((watcher) => watcher.liveAfter !== null || watcher.error !== null || watcher.evicted)) return;
    await nextTurn();
  }
  assert.fail('the catch-up did not settle');
}

describe('the catch-up shared by lagging watchers', () => {
  it('200 watchers resuming from the same revision cost one read per page of history, not one per watcher', async () => {
    const { engine, catchUp } = setUp(1200);
    const watchers = Array.from({ length: 200 }, (_, index) => ({ filter: FILTERS[index % FILTERS.length]!, sink: new RecordingSink() }));
    for (const { filter, sink } of watchers) catchUp.join(filter, true, 100, sink);
    await settle(
      catchUp,
      watchers.map(({ sink }) => sink),
    );

    // (100, 1200] in pages of 500 revisions: three reads, for all 200 together (alone, each would make three).
    assert.equal(engine.reads, 3);
    assert.equal(catchUp.historyReads, 3);
    for (const { filter, sink } of watchers) {
      assert.deepEqual(sink.revisions, expected(filter, 100, 1200));
      assert.equal(sink.liveAfter, 1200);
      assert.equal(sink.error, null);
    }
  });

  it('watchers that arrive one by one, at different points, still share reads, and a watcher at the head reads nothing', async () => {
    /** 300 watchers arriving ten per turn while reads complete: 100 from 0, 100 from 1000, 100 at the head (2000). */
    const arrivals = async (options: CatchUpOptions) => {
      const { engine, catchUp } = setUp(2000, options);
      const sinks: RecordingSink[] = [];
      const starts = new Map<RecordingSink, { filter: WatchFilter; after: Revision }>();
      for (let index = 0; index < 300; index++) {
        const sink = new RecordingSink();
        const filter = FILTERS[index % FILTERS.length]!;
        const after = index % 3 === 0 ? 0 : index % 3 === 1 ? 1000 : 2000;
        sinks.push(sink);
        starts.set(sink, { filter, after });
        catchUp.join(filter, index % 2 === 0, after, sink);
        if (index % 10 === 9) await nextTurn();
      }
      await settle(catchUp, sinks);
      for (const sink of sinks) {
        const { filter, after } = starts.get(sink)!;
        assert.deepEqual(sink.revisions, expected(filter, after, 2000), `from ${after}`);
        assert.equal(sink.liveAfter, 2000);
      }
      assert.ok(engine.inFlightMax <= 2, `${engine.inFlightMax} reads at once`);
      return engine.reads;
    };
    const alone = await arrivals({ batchWatchersMax: 1 }); // each watcher reads its own history, as each stream did
    const shared = await arrivals({});
    assert.ok(alone >= 500, `${alone} reads alone`);
    assert.ok(shared * 10 <= alone, `${shared} reads shared, ${alone} alone`);
  });

  it('bounds reads in flight to two and watchers per read to 512, however many lag', async () => {
    const { engine, catchUp } = setUp(600);
    const sinks = Array.from({ length: 1500 }, () => new RecordingSink());
    for (const sink of sinks) catchUp.join({ prefix: '' }, false, 0, sink);
    await settle(catchUp, sinks);
    assert.ok(engine.inFlightMax <= 2, `${engine.inFlightMax} reads at once`);
    // 1500 watchers need 3 batches of at most 512; (0, 600] is two pages for each batch.
    assert.ok(engine.reads <= 6, `${engine.reads} reads`);
    for (const sink of sinks) assert.deepEqual(sink.revisions, expected({ prefix: '' }, 0, 600));
  });

  it('changes written while the catch-up reads arrive once each, in order, across the replay→live boundary', async () => {
    const { engine, catchUp } = setUp(1500);
    // The head moves on under the first reads. (Under every read, a watcher would chase the head for ever, as a
    // single stream did before the catch-up was shared: a read never ends at the hub's revision.)
    engine.writesDuringRead = 37;
    engine.racingReads = 8;
    const watchers = Array.from({ length: 60 }, (_, index) => ({
      filter: FILTERS[index % FILTERS.length]!,
      after: [0, 499, 500, 1234, 1499, 1500][index % 6]!,
      sink: new RecordingSink(),
    }));
    for (const { filter, after, sink } of watchers) catchUp.join(filter, true, after, sink);
    await settle(
      catchUp,
      watchers.map(({ sink }) => sink),
    );
    assert.equal(engine.racingReads, 0, 'writes raced every one of the first reads');
    engine.write(25); // live only
    for (const { filter, after, sink } of watchers) {
      assert.deepEqual(sink.revisions, expected(filter, after, engine.revision), `from ${after}: no gap, no duplicate`);
      assert.ok(sink.liveAfter !== null && sink.liveAfter >= 1500);
    }
  });

  it('a backlogged watcher is set aside without holding up the batch, and evicted if it never drains', async () => {
    const { catchUp } = setUp(1200, { drainTimeoutMs: 20 });
    const slow = new RecordingSink();
    slow.backlog = true;
    slow.drainedResult = false;
    const waits = new RecordingSink();
    waits.backlog = true; // drains at once
    const others = Array.from({ length: 20 }, () => new RecordingSink());
    for (const sink of [slow, waits, ...others]) catchUp.join({ prefix: '' }, true, 0, sink);
    await settle(catchUp, [waits, ...others]);
    for (const sink of [waits, ...others]) assert.deepEqual(sink.revisions, expected({ prefix: '' }, 0, 1200));
    await sleep(40);
    assert.equal(slow.evicted, true);
    assert.deepEqual(slow.revisions, expected({ prefix: '' }, 0, 500), 'the first page, then nothing');
  });

  it('compacted history fails the watchers behind it; those after it carry on', async () => {
    const { engine, catchUp } = setUp(1000);
    engine.compactRevision = 300;
    const behind = new RecordingSink();
    const after = new RecordingSink();
    catchUp.join({ prefix: '' }, true, 100, behind);
    catchUp.join({ prefix: '' }, true, 300, after);
    await settle(catchUp, [behind, after]);
    assert.equal((behind.error as KvError).code, 'history_compacted');
    assert.equal(behind.liveAfter, null);
    assert.deepEqual(after.revisions, expected({ prefix: '' }, 300, 1000));
    assert.equal(after.liveAfter, 1000);
  });

  it('a watcher withdrawn while its read runs gets nothing more', async () => {
    const { catchUp } = setUp(1000);
    const gone = new RecordingSink();
    const stays = new RecordingSink();
    const withdraw = catchUp.join({ prefix: '' }, true, 0, gone);
    catchUp.join({ prefix: '' }, true, 0, stays);
    withdraw();
    await settle(catchUp, [stays]);
    assert.deepEqual(gone.revisions, []);
    assert.equal(gone.liveAfter, null);
    assert.deepEqual(stays.revisions, expected({ prefix: '' }, 0, 1000));
  });
});
