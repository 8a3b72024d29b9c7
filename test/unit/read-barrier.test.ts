import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReadBarrier, type BarrierTarget } from '../../src/engine/etcd/read-barrier.js';

/**
 * ReadBarrier (src/engine/etcd/read-barrier.ts): a read may be answered by
 * the replica only once it has applied a revision that a quorum read
 * *started after the read arrived* returned; quorum reads are shared, one in
 * flight at a time.
 */

/** Quorum reads answered by hand: each returns the revision etcd is at when it is answered. */
class FakeEtcd {
  revision = 100;
  inFlight = 0;
  maxInFlight = 0;
  started = 0;
  /** For each quorum read: the revision it will return is decided when it is answered. */
  private pending: Array<{ resolve: (revision: number) => void; reject: (error: Error) => void }> = [];

  quorumRevision = (): Promise<number> => {
    this.started++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  };

  /** Answers the oldest quorum read with the current revision. */
  answer(): void {
    const next = this.pending.shift();
    assert.ok(next !== undefined, 'a quorum read is in flight');
    this.inFlight--;
    next.resolve(this.revision);
  }

  fail(): void {
    const next = this.pending.shift()!;
    this.inFlight--;
    next.reject(new Error('etcd did not answer'));
  }
}

/** A replica whose applied revision the test moves. */
class FakeReplica implements BarrierTarget {
  usable = true;
  applied = 0;
  waits: number[] = [];
  private waiters: Array<{ revision: number; resolve: (ok: boolean) => void }> = [];

  waitFor(revision: number, _startedAtMs: number, timeoutMs: number): Promise<boolean> {
    this.waits.push(revision);
    if (this.applied >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { revision, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        if (this.waiters.includes(waiter)) {
          this.waiters = this.waiters.filter((other) => other !== waiter);
          resolve(false);
        }
      }, timeoutMs);
    });
  }

  apply(revision: number): void {
    this.applied = revision;
    for (const waiter of this.waiters.filter((w) => w.revision <= revision)) waiter.resolve(true);
    this.waiters = this.waiters.filter((w) => w.revision > revision);
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

function barrierOn(etcd: FakeEtcd, replica: FakeReplica, waitMs = 1_000): ReadBarrier {
  return new ReadBarrier({ quorumRevision: etcd.quorumRevision, target: replica, waitMs, now: () => performance.now() });
}

describe('ReadBarrier', () => {
  it('serves every read that arrives during a quorum read with one more quorum read: two in all for any number', async () => {
    const etcd = new FakeEtcd();
    const replica = new FakeReplica();
    replica.applied = 1_000;
    const barrier = barrierOn(etcd, replica);
    const first = barrier.fresh();
    const others = Array.from({ length: 50 }, () => barrier.fresh());
    assert.equal(etcd.started, 1, 'the first read starts a quorum read at once; the others wait for the next');
    etcd.answer();
    await tick();
    assert.equal(etcd.started, 2, 'the next round starts as soon as the first quorum read returns');
    etcd.answer();
    assert.deepEqual(await Promise.all([first, ...others]), Array(51).fill(true));
    assert.equal(etcd.started, 2);
    assert.equal(etcd.maxInFlight, 1, 'never more than one quorum read in flight');
    assert.equal(barrier.quorumReads, 2);
  });

  it('never answers a read with a revision read before it arrived: a read arriving mid-round waits for the next round’s revision', async () => {
    const etcd = new FakeEtcd();
    const replica = new FakeReplica();
    const barrier = barrierOn(etcd, replica);
    etcd.revision = 10;
    const early = barrier.fresh(); // round 1: its quorum read starts now
    // A write is acknowledged (etcd moves to 11), then a read arrives while round 1's quorum read is still in flight.
    etcd.revision = 11;
    const late = barrier.fresh();
    // Round 1's read is answered by a member that had not seen revision 11 yet (it began before the write).
    etcd.revision = 10;
    etcd.answer();
    await tick();
    etcd.revision = 11;
    replica.apply(10);
    assert.equal(await early, true, 'the early read is satisfied by revision 10');
    let lateDone = false;
    void late.then(() => (lateDone = true));
    await tick();
    assert.equal(lateDone, false, 'the late read is not answered with round 1’s revision');
    etcd.answer(); // round 2, started after the late read arrived: 11
    await tick();
    assert.deepEqual(replica.waits, [10, 11]);
    assert.equal(lateDone, false, 'and waits until the replica has applied 11');
    replica.apply(11);
    assert.equal(await late, true);
  });

  it('gives up on a replica that does not catch up within waitMs: the read goes to etcd (false)', async () => {
    const etcd = new FakeEtcd();
    const replica = new FakeReplica();
    const barrier = barrierOn(etcd, replica, 30);
    const read = barrier.fresh();
    etcd.answer();
    const startedAt = Date.now();
    assert.equal(await read, false);
    assert.ok(Date.now() - startedAt >= 25, 'it waited for the replica first');
  });

  it('answers false at once, with no quorum read, while the replica cannot answer (loading, lagging)', async () => {
    const etcd = new FakeEtcd();
    const replica = new FakeReplica();
    replica.usable = false;
    const barrier = barrierOn(etcd, replica);
    assert.equal(await barrier.fresh(), false);
    assert.equal(etcd.started, 0);
  });

  it('rejects the reads of a round whose quorum read failed; the next round is tried afresh', async () => {
    const etcd = new FakeEtcd();
    const replica = new FakeReplica();
    replica.applied = 1_000;
    const barrier = barrierOn(etcd, replica);
    const failing = barrier.fresh();
    const next = barrier.fresh();
    etcd.fail();
    await assert.rejects(failing, /did not answer/);
    await tick();
    etcd.answer();
    assert.equal(await next, true);
  });
});
