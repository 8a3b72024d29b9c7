import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkLinearizable, type CheckResult, type HistoryEntry, type Outcome, type RegisterOp } from '../robustness/lib/linearizability.js';
import { seededRandom } from '../helpers/random.js';

// ---------------------------------------------------------------------------
// Building histories by hand

type Status = 'ok' | 'fail' | 'unknown';

/** A history under construction; ids follow the order of the calls. Unknown ops get returnedAt = Infinity. */
class History {
  readonly entries: HistoryEntry[] = [];

  private add(client: number, op: RegisterOp, invokedAt: number, returnedAt: number, outcome: Outcome): this {
    this.entries.push({ id: this.entries.length, client, op, invokedAt, returnedAt: outcome.status === 'unknown' ? Infinity : returnedAt, outcome });
    return this;
  }
  write(client: number, key: string, value: string, inv: number, ret: number, status: Status = 'ok'): this {
    return this.add(client, { kind: 'write', key, value }, inv, ret, { status });
  }
  del(client: number, key: string, inv: number, ret: number, status: Status = 'ok'): this {
    return this.add(client, { kind: 'delete', key }, inv, ret, { status });
  }
  /** An ok read that saw `value` (null = absent). */
  read(client: number, key: string, value: string | null, inv: number, ret: number): this {
    return this.add(client, { kind: 'read', key }, inv, ret, { status: 'ok', value });
  }
  readWithout(client: number, key: string, inv: number, ret: number, status: 'fail' | 'unknown'): this {
    return this.add(client, { kind: 'read', key }, inv, ret, { status });
  }
  cas(client: number, key: string, expected: string | null, value: string, inv: number, ret: number, status: Status): this {
    return this.add(client, { kind: 'cas', key, expected, value }, inv, ret, { status });
  }
}

const h = (): History => new History();

function explain(result: CheckResult): string {
  if (result.ok === false) return `rejected key ${result.key}: ${result.reason}`;
  return JSON.stringify(result);
}

function assertAccepted(history: History | readonly HistoryEntry[], initial?: ReadonlyMap<string, string | null>): CheckResult {
  const entries = history instanceof History ? history.entries : history;
  const result = checkLinearizable(entries, initial === undefined ? {} : { initial });
  assert.equal(result.ok, true, `expected a linearizable history, got ${explain(result)}`);
  return result;
}

/** Asserts the history is rejected, naming `key`, with the ops of that key; returns the reason. */
function assertRejected(history: History | readonly HistoryEntry[], key: string, initial?: ReadonlyMap<string, string | null>): string {
  const entries = history instanceof History ? history.entries : history;
  const result = checkLinearizable(entries, initial === undefined ? {} : { initial });
  assert.ok(result.ok === false, `expected a rejection on key ${key}, got ${explain(result)}`);
  assert.equal(result.key, key, result.reason);
  assert.ok(result.reason.length > 0);
  const ids = (list: readonly HistoryEntry[]) => list.map((entry) => entry.id).sort((a, b) => a - b);
  assert.deepEqual(ids(result.operations), ids(entries.filter((entry) => entry.op.key === key)));
  return result.reason;
}

// ---------------------------------------------------------------------------
// Accepted histories

describe('checkLinearizable: accepts linearizable histories', () => {
  it('accepts a sequential history using every kind of operation', () => {
    const history = h()
      .read(1, 'k', null, 0, 1)
      .write(1, 'k', 'a', 2, 3)
      .read(2, 'k', 'a', 4, 5)
      .write(2, 'k', 'b', 6, 7)
      .read(1, 'k', 'b', 8, 9)
      .cas(1, 'k', 'b', 'c', 10, 11, 'ok')
      .cas(2, 'k', 'b', 'd', 12, 13, 'fail')
      .read(2, 'k', 'c', 14, 15)
      .del(1, 'k', 16, 17)
      .read(1, 'k', null, 18, 19);
    const result = assertAccepted(history);
    assert.deepEqual(result, { ok: true, keys: 1, operations: 10 });
  });

  it('accepts an empty history, and one with only refused or unanswered operations', () => {
    assert.deepEqual(checkLinearizable([]), { ok: true, keys: 0, operations: 0 });
    assertAccepted(h().write(1, 'k', 'a', 0, 1, 'fail').readWithout(2, 'k', 0, 1, 'unknown').write(3, 'k', 'b', 0, 0, 'unknown'));
  });

  it('accepts a read overlapping a write that sees either the old or the new value', () => {
    const base = () => h().write(1, 'k', 'a', 0, 1).write(1, 'k', 'b', 2, 6);
    assertAccepted(base().read(2, 'k', 'a', 3, 4));
    assertAccepted(base().read(2, 'k', 'b', 3, 4));
    // Two sequential reads inside the write: old then new is fine.
    assertAccepted(base().read(2, 'k', 'a', 3, 4).read(2, 'k', 'b', 4.5, 5));
  });

  it('treats touching intervals (equal timestamps) as concurrent', () => {
    // The read is invoked at the exact moment the write returns: either order is allowed.
    assertAccepted(h().write(1, 'k', 'a', 0, 1).write(1, 'k', 'b', 2, 4).read(2, 'k', 'a', 4, 5));
  });

  it('accepts a cas race where exactly one of three concurrent cas wins (whichever it is)', () => {
    for (const winner of [0, 1, 2]) {
      const history = h().write(0, 'k', 'a', 0, 1);
      ['x', 'y', 'z'].forEach((value, i) => history.cas(i + 1, 'k', 'a', value, 2 + i * 0.5, 6 + i * 0.5, i === winner ? 'ok' : 'fail'));
      history.read(0, 'k', ['x', 'y', 'z'][winner]!, 8, 9);
      assertAccepted(history);
    }
  });

  it('accepts a failed cas concurrent with the write that changed the value', () => {
    assertAccepted(h().write(1, 'k', 'a', 0, 1).write(1, 'k', 'b', 2, 4).cas(2, 'k', 'a', 'c', 3, 5, 'fail').read(2, 'k', 'b', 6, 7));
  });

  it('accepts an unknown write that later reads show took effect', () => {
    assertAccepted(h().write(1, 'k', 'a', 0, 1).write(2, 'k', 'b', 2, Infinity, 'unknown').read(3, 'k', 'b', 5, 6).read(3, 'k', 'b', 7, 8));
    // ... even when it took effect long after its client gave up on it.
    assertAccepted(h().write(1, 'k', 'a', 0, 1).write(2, 'k', 'b', 2, Infinity, 'unknown').read(3, 'k', 'a', 5, 6).read(3, 'k', 'b', 7, 8));
  });

  it('accepts an unknown write that never shows up', () => {
    assertAccepted(h().write(1, 'k', 'a', 0, 1).write(2, 'k', 'b', 2, Infinity, 'unknown').read(3, 'k', 'a', 5, 6).read(3, 'k', 'a', 7, 8));
  });

  it('accepts an unknown cas and an unknown delete, applied or not', () => {
    const base = () => h().write(1, 'k', 'a', 0, 1).cas(2, 'k', 'a', 'b', 2, Infinity, 'unknown');
    assertAccepted(base().read(3, 'k', 'b', 5, 6));
    assertAccepted(base().read(3, 'k', 'a', 5, 6));
    assertAccepted(h().write(1, 'k', 'a', 0, 1).del(2, 'k', 2, Infinity, 'unknown').read(3, 'k', null, 5, 6));
    assertAccepted(h().write(1, 'k', 'a', 0, 1).del(2, 'k', 2, Infinity, 'unknown').read(3, 'k', 'a', 5, 6));
  });

  it('accepts a delete followed by reads of absent, and reads of a never-written key', () => {
    assertAccepted(h().write(1, 'k', 'a', 0, 1).del(1, 'k', 2, 3).read(2, 'k', null, 4, 5).del(2, 'k', 6, 7).read(1, 'k', null, 8, 9));
    assertAccepted(h().read(1, 'k', null, 0, 1));
  });

  it('accepts create-only cas on an absent key, and refuses a second creation', () => {
    assertAccepted(h().cas(1, 'k', null, 'a', 0, 1, 'ok').read(2, 'k', 'a', 2, 3).cas(2, 'k', null, 'b', 4, 5, 'fail').read(1, 'k', 'a', 6, 7));
    // Two concurrent creations: one wins.
    assertAccepted(h().cas(1, 'k', null, 'a', 0, 3, 'fail').cas(2, 'k', null, 'b', 1, 2, 'ok').read(1, 'k', 'b', 4, 5));
    // After a delete the key can be created again.
    assertAccepted(h().write(1, 'k', 'a', 0, 1).del(1, 'k', 2, 3).cas(2, 'k', null, 'b', 4, 5, 'ok').read(1, 'k', 'b', 6, 7));
  });

  it('ignores refused (fail) writes, deletes and reads', () => {
    assertAccepted(
      h().write(1, 'k', 'a', 0, 1).write(1, 'k', 'b', 2, 3, 'fail').del(1, 'k', 4, 5, 'fail').readWithout(2, 'k', 6, 7, 'fail').read(2, 'k', 'a', 8, 9),
    );
  });

  it('uses the initial values given', () => {
    const initial = new Map([['k', 'seed']]);
    assertAccepted(h().read(1, 'k', 'seed', 0, 1).cas(1, 'k', 'seed', 'a', 2, 3, 'ok').read(2, 'k', 'a', 4, 5), initial);
    assertRejected(h().read(1, 'k', null, 0, 1), 'k', initial);
  });

  it('checks keys independently', () => {
    // As one register this would be a stale read (x's read of "1" after "2" was written); as two it is fine.
    const history = h().write(1, 'x', '1', 0, 1).write(2, 'y', '2', 2, 3).read(1, 'x', '1', 4, 5).read(2, 'y', '2', 4, 5).read(3, 'z', null, 0, 9);
    assert.deepEqual(assertAccepted(history), { ok: true, keys: 3, operations: 5 });
  });

  it('accepts a history across a crash whose in-flight operations are unknown', () => {
    // Clients 1-4 work until the server is killed at t=10; ops in flight then
    // have unknown outcomes. After the restart (t=20) clients 5-8 take over.
    const history = h()
      .write(1, 'k', 'a', 0, 1)
      .cas(2, 'k', 'a', 'b', 2, 3, 'ok')
      .write(1, 'k', 'c', 9, Infinity, 'unknown') // took effect
      .cas(2, 'k', 'b', 'd', 9.2, Infinity, 'unknown') // lost: c was written first, or never reached
      .del(3, 'k', 9.5, Infinity, 'unknown') // never reached the disk
      .readWithout(4, 'k', 9.7, Infinity, 'unknown')
      .write(1, 'other', 'x', 9.8, Infinity, 'unknown') // another key, lost
      .read(5, 'k', 'c', 20, 21)
      .read(6, 'other', null, 20, 21)
      .cas(7, 'k', 'c', 'e', 22, 23, 'ok')
      .read(8, 'k', 'e', 24, 25);
    assertAccepted(history);
  });
});

// ---------------------------------------------------------------------------
// Rejected histories

describe('checkLinearizable: rejects non-linearizable histories, naming the key', () => {
  it('rejects a stale read (old value after a newer write completed)', () => {
    const reason = assertRejected(h().write(1, 'k', 'a', 0, 1).write(1, 'k', 'b', 2, 3).read(2, 'k', 'a', 4, 5), 'k');
    assert.match(reason, /#2 /, 'the explanation names the read');
  });

  it('rejects a lost write (acknowledged, but every later read sees the value before it)', () => {
    const history = h().write(1, 'k', 'a', 0, 1).write(2, 'k', 'b', 2, 3);
    for (let i = 0; i < 6; i++) history.read(3 + (i % 3), 'k', 'a', 4 + i, 4.5 + i);
    assertRejected(history, 'k');
  });

  it('rejects two cas with the same expected value that both succeeded', () => {
    const reason = assertRejected(h().write(1, 'k', 'a', 0, 1).cas(2, 'k', 'a', 'b', 2, 5, 'ok').cas(3, 'k', 'a', 'c', 3, 6, 'ok'), 'k');
    assert.match(reason, /#1 .*#2 .*both succeeded/, 'the explanation names both and says what is wrong');
    assertRejected(h().cas(2, 'k', null, 'b', 2, 5, 'ok').cas(3, 'k', null, 'c', 3, 6, 'ok'), 'k');
  });

  it('rejects a read of a value never written', () => {
    const reason = assertRejected(h().write(1, 'k', 'a', 0, 1).read(2, 'k', 'ghost', 2, 3), 'k');
    assert.match(reason, /"ghost"/);
    // A cas that succeeded expecting such a value is just as impossible.
    assertRejected(h().write(1, 'k', 'a', 0, 1).cas(2, 'k', 'ghost', 'b', 2, 3, 'ok'), 'k');
    // Absent, when the initial value is set and nothing deletes.
    assertRejected(h().read(1, 'k', null, 0, 1), 'k', new Map([['k', 'seed']]));
  });

  it('rejects a failed cas whose expected value was certainly current', () => {
    assertRejected(h().write(1, 'k', 'a', 0, 1).cas(2, 'k', 'a', 'b', 2, 3, 'fail'), 'k');
    assertRejected(h().cas(2, 'k', null, 'b', 2, 3, 'fail'), 'k');
  });

  it('rejects a read seeing a value written only after the read returned', () => {
    const reason = assertRejected(h().read(1, 'k', 'a', 0, 1).write(2, 'k', 'a', 2, 3), 'k');
    assert.match(reason, /#0 .*#1 /, 'the explanation names the read and the write');
  });

  it('rejects a read still seeing the value after an acknowledged delete', () => {
    assertRejected(h().write(1, 'k', 'a', 0, 1).del(1, 'k', 2, 3).read(2, 'k', 'a', 4, 5), 'k');
  });

  it('rejects new-then-old reads during one write', () => {
    assertRejected(h().write(1, 'k', 'a', 0, 1).write(1, 'k', 'b', 2, 6).read(2, 'k', 'b', 3, 4).read(2, 'k', 'a', 4.5, 5), 'k');
  });

  it('rejects a refused write that shows up', () => {
    assertRejected(h().write(1, 'k', 'a', 0, 1).write(1, 'k', 'b', 2, 3, 'fail').read(2, 'k', 'b', 4, 5), 'k');
  });

  it('does not let an unknown write take effect before its invocation, or twice', () => {
    assertRejected(h().write(1, 'k', 'a', 0, 1).read(2, 'k', 'b', 2, 3).write(3, 'k', 'b', 4, Infinity, 'unknown'), 'k');
    assertRejected(
      h().write(1, 'k', 'a', 0, 1).write(2, 'k', 'b', 2, Infinity, 'unknown').read(3, 'k', 'b', 3, 4).write(1, 'k', 'c', 5, 6).read(3, 'k', 'b', 7, 8),
      'k',
    );
  });

  it('does not let an unknown cas apply when its expected value was not current', () => {
    // x was overwritten before the cas was invoked, so the cas cannot have produced "b".
    assertRejected(h().write(1, 'k', 'x', 0, 1).write(1, 'k', 'a', 2, 3).cas(2, 'k', 'x', 'b', 4, Infinity, 'unknown').read(3, 'k', 'b', 5, 6), 'k');
    // But a chain of unknowns can: an unknown write of x, then the unknown cas.
    assertAccepted(
      h()
        .write(1, 'k', 'x', 0, 1)
        .write(1, 'k', 'a', 2, 3)
        .write(4, 'k', 'x2', 3.5, Infinity, 'unknown')
        .cas(2, 'k', 'x2', 'b', 4, Infinity, 'unknown')
        .read(3, 'k', 'b', 5, 6),
    );
  });

  it('names the offending key among several, and returns only its operations', () => {
    const history = h()
      .write(1, 'good', 'a', 0, 1)
      .read(2, 'good', 'a', 2, 3)
      .write(1, 'bad', 'a', 0, 1)
      .del(1, 'bad', 2, 3)
      .read(2, 'bad', 'a', 4, 5)
      .write(3, 'also-good', 'z', 0, 9);
    assertRejected(history, 'bad');
  });

  it('refuses malformed entries loudly', () => {
    const read: HistoryEntry = { id: 0, client: 1, op: { kind: 'read', key: 'k' }, invokedAt: 0, returnedAt: 1, outcome: { status: 'ok' } };
    assert.throws(() => checkLinearizable([read]), TypeError);
    const backwards: HistoryEntry = { id: 0, client: 1, op: { kind: 'delete', key: 'k' }, invokedAt: 5, returnedAt: 1, outcome: { status: 'ok' } };
    assert.throws(() => checkLinearizable([backwards]), TypeError);
  });

  it('gives up with a timeout instead of hanging on a pathological history', () => {
    // 24 fully concurrent writes, then two sequential reads that each need a
    // different write to have been last: impossible, but only an exhaustive
    // search over the orders of the writes shows it. (The two unknown writes
    // come too late to matter, but as second writers of v0 and v1 they keep
    // the quick checks for values written once from seeing it.)
    const history = h();
    for (let i = 0; i < 24; i++) history.write(i, 'k', `v${i}`, 0, 10);
    history.read(100, 'k', 'v0', 11, 12).read(100, 'k', 'v1', 13, 14);
    history.write(101, 'k', 'v0', 20, Infinity, 'unknown').write(102, 'k', 'v1', 20, Infinity, 'unknown');
    const started = performance.now();
    const result = checkLinearizable(history.entries, { timeoutMs: 100 });
    assert.deepEqual(result, { ok: 'timeout', key: 'k', operations: 28 });
    assert.ok(performance.now() - started < 10_000, 'the timeout is respected');
  });
});

// ---------------------------------------------------------------------------
// Generated histories: N clients on one simulated atomic register per key

interface SimOptions {
  seed: number;
  clients: number;
  opsPerClient: number;
  keys: readonly string[];
  /** Server kills: ops in flight become unknown, applied only if their atomic step came before the kill. */
  crashes?: number;
  /** Share of writes/deletes/reads refused (fail, no effect). */
  refusals?: number;
}

/**
 * Simulates clients on correct (atomic) registers: each op is invoked, takes
 * effect at one instant inside its interval, and returns; clients run their
 * ops one after another with random delays, so intervals overlap at random.
 * Outcomes come from applying the ops in the order of those instants, so the
 * history is linearizable by construction. Every written value is unique.
 */
function simulate(options: SimOptions): HistoryEntry[] {
  const random = seededRandom(options.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  interface Planned {
    client: number;
    kind: RegisterOp['kind'];
    key: string;
    value: string;
    inv: number;
    at: number;
    ret: number;
    refused: boolean;
  }
  const planned: Planned[] = [];
  let end = 0;
  let counter = 0;
  for (let client = 0; client < options.clients; client++) {
    let t = random() * 3;
    for (let j = 0; j < options.opsPerClient; j++) {
      const roll = random();
      const kind: RegisterOp['kind'] = roll < 0.3 ? 'write' : roll < 0.65 ? 'read' : roll < 0.75 ? 'delete' : 'cas';
      const inv = t;
      const at = inv + 0.01 + random() * 2;
      const ret = at + 0.01 + random() * 2;
      const refused = kind !== 'cas' && random() < (options.refusals ?? 0);
      planned.push({ client, kind, key: pick(options.keys), value: `v${counter++}`, inv, at, ret, refused });
      t = ret + random() * 1.5;
      end = Math.max(end, t);
    }
  }
  const crashTimes = Array.from({ length: options.crashes ?? 0 }, () => random() * end);
  const crashDuring = (p: Planned): number | undefined => crashTimes.find((c) => p.inv < c && c < p.ret);

  const current = new Map<string, string | null>();
  const written = new Map<string, string[]>();
  const entries: { p: Planned; op: RegisterOp; outcome: Outcome }[] = [];
  for (const p of [...planned].sort((x, y) => x.at - y.at)) {
    const crash = crashDuring(p);
    const applied = !p.refused && (crash === undefined || p.at < crash);
    const value = current.get(p.key) ?? null;
    const history = written.get(p.key) ?? [];
    const status = (ok: 'ok' | 'fail'): Outcome => (crash !== undefined ? { status: 'unknown' } : { status: ok });
    let op: RegisterOp;
    let outcome: Outcome;
    switch (p.kind) {
      case 'write':
      case 'delete':
        op = p.kind === 'write' ? { kind: 'write', key: p.key, value: p.value } : { kind: 'delete', key: p.key };
        outcome = p.refused ? { status: 'fail' } : status('ok');
        if (applied) current.set(p.key, p.kind === 'write' ? p.value : null);
        if (p.kind === 'write') written.set(p.key, [...history, p.value]);
        break;
      case 'read':
        op = { kind: 'read', key: p.key };
        outcome = p.refused ? { status: 'fail' } : crash !== undefined ? { status: 'unknown' } : { status: 'ok', value };
        break;
      case 'cas': {
        // Expect the current value half the time, so that both outcomes are common.
        const expected = random() < 0.5 ? value : random() < 0.3 || history.length === 0 ? null : pick(history.slice(-4));
        op = { kind: 'cas', key: p.key, expected, value: p.value };
        const holds = expected === value;
        outcome = status(holds ? 'ok' : 'fail');
        if (applied && holds) current.set(p.key, p.value);
        written.set(p.key, [...history, p.value]);
        break;
      }
    }
    entries.push({ p, op, outcome });
  }
  // Ids in invocation order; a client that saw an unknown outcome continues under a new id (as the recorder does).
  entries.sort((x, y) => x.p.inv - y.p.inv);
  const clientIds = new Map<number, number>();
  let nextClient = options.clients;
  const ordered = [...entries].sort((x, y) => x.p.client - y.p.client || x.p.inv - y.p.inv);
  const clientOf = new Map<Planned, number>();
  for (const { p, outcome } of ordered) {
    clientOf.set(p, clientIds.get(p.client) ?? p.client);
    if (outcome.status === 'unknown') clientIds.set(p.client, nextClient++);
  }
  return entries.map(({ p, op, outcome }, id) => ({
    id,
    client: clientOf.get(p)!,
    op,
    invokedAt: p.inv,
    returnedAt: outcome.status === 'unknown' ? Infinity : p.ret,
    outcome,
  }));
}

const producedValue = (entry: HistoryEntry): string | null => (entry.op.kind === 'write' || entry.op.kind === 'cas' ? entry.op.value : null);
const isOkRead = (entry: HistoryEntry): boolean => entry.op.kind === 'read' && entry.outcome.status === 'ok';

/** The history with entry `target`'s read result replaced by `value`. */
function withReadValue(history: readonly HistoryEntry[], target: HistoryEntry, value: string): HistoryEntry[] {
  return history.map((entry) => (entry === target ? { ...entry, outcome: { status: 'ok', value } } : entry));
}

type Mutation = 'ghost' | 'future' | 'stale';

/**
 * Mutations that are impossible for any register, whatever the interleaving
 * (all written values are unique, so a value identifies its one writer):
 * - ghost: a read returns a value nobody wrote;
 * - future: a read returns the value of a write/cas invoked after the read returned;
 * - stale: a read returns the value of a definite write/cas W when another op
 *   that definitely set the value (write, delete or cas, ok) started after W
 *   returned and returned before the read started.
 * With `hidden`, two unknown-outcome writes of the same value, invoked after
 * the read returned, are added: they cannot help the read, but the value is
 * no longer written once, so the checker's quick checks (which rely on that)
 * do not see this read's violation and the search has to refute it (unless
 * the mutated read also breaks what the quick checks know of another value).
 */
function mutate(history: readonly HistoryEntry[], how: Mutation, random: () => number, hidden = false): { history: HistoryEntry[]; key: string } | null {
  const reads = history.filter(isOkRead);
  const candidates: { read: HistoryEntry; value: string }[] = [];
  for (const read of reads) {
    const sameKey = history.filter((entry) => entry.op.key === read.op.key);
    if (how === 'ghost') candidates.push({ read, value: 'never-written' });
    if (how === 'future') {
      for (const writer of sameKey) {
        const value = producedValue(writer);
        if (value !== null && writer.invokedAt > read.returnedAt) candidates.push({ read, value });
      }
    }
    if (how === 'stale') {
      const setters = sameKey.filter((entry) => entry.op.kind !== 'read' && entry.outcome.status === 'ok' && entry.returnedAt < read.invokedAt);
      // W qualifies when some setter started after W returned (that one cannot be W itself).
      const lastStart = Math.max(...setters.map((entry) => entry.invokedAt));
      for (const writer of setters) {
        const value = producedValue(writer);
        if (value !== null && lastStart > writer.returnedAt) candidates.push({ read, value });
      }
    }
  }
  if (candidates.length === 0) return null;
  const { read, value } = candidates[Math.floor(random() * candidates.length)]!;
  const mutated = withReadValue(history, read, value);
  if (hidden) {
    for (const n of [0, 1]) {
      const decoy: RegisterOp = { kind: 'write', key: read.op.key, value };
      mutated.push({
        id: history.length + n,
        client: 10_000 + n,
        op: decoy,
        invokedAt: read.returnedAt + 1,
        returnedAt: Infinity,
        outcome: { status: 'unknown' },
      });
    }
  }
  return { history: mutated, key: read.op.key };
}

describe('checkLinearizable: generated histories', () => {
  const shapes = (seed: number): SimOptions => {
    const random = seededRandom(seed * 7919);
    return {
      seed,
      clients: 1 + Math.floor(random() * 8),
      opsPerClient: 3 + Math.floor(random() * 30),
      keys: ['a', 'b', 'c'].slice(0, 1 + Math.floor(random() * 3)),
      crashes: random() < 0.3 ? 1 + Math.floor(random() * 3) : 0,
      refusals: random() < 0.3 ? 0.05 : 0,
    };
  };
  const SEEDS = Array.from({ length: 300 }, (_, i) => i + 1);

  it('accepts every history of simulated correct registers (with crashes and refusals)', () => {
    let unknowns = 0;
    for (const seed of SEEDS) {
      const history = simulate(shapes(seed));
      unknowns += history.filter((entry) => entry.outcome.status === 'unknown').length;
      const result = checkLinearizable(history);
      assert.equal(result.ok, true, `seed ${seed}: ${explain(result)}`);
    }
    assert.ok(unknowns > 50, `the crashes produced unknown outcomes (${unknowns})`);
  });

  for (const how of ['ghost', 'future', 'stale'] as const) {
    for (const hidden of [false, true]) {
      it(`rejects those histories with one read mutated to an impossible value (${how}${hidden ? ', hidden from the quick checks' : ''})`, (t) => {
        let mutated = 0;
        let bySearch = 0;
        for (const seed of SEEDS) {
          const mutation = mutate(simulate(shapes(seed)), how, seededRandom(seed), hidden);
          if (mutation === null) continue;
          mutated++;
          const result = checkLinearizable(mutation.history);
          assert.ok(result.ok === false, `seed ${seed}: expected a rejection, got ${explain(result)}`);
          assert.equal(result.key, mutation.key, `seed ${seed}`);
          if (/^not linearizable: no order/.test(result.reason)) bySearch++; // the search's explanations start so
        }
        assert.ok(mutated > 100, `enough histories could be mutated (${mutated})`);
        if (hidden) assert.ok(bySearch > mutated / 2, `most were refuted by the search itself (${bySearch} of ${mutated})`);
        t.diagnostic(`${mutated} mutated histories rejected, ${bySearch} of them by the search`);
      });
    }
  }
});

// ---------------------------------------------------------------------------
// Small random histories against the definition, by brute force

/**
 * Linearizability by its definition: every definite op (refused writes,
 * deletes and reads, and unanswered reads, aside) and any subset of the
 * unknown ones can be put in an order that respects real time (an op that
 * returned before another was invoked comes first; touching intervals may go
 * either way) and replays correctly on a register. Exponential: a few ops only.
 */
function linearizableByBruteForce(history: readonly HistoryEntry[], initial: string | null): boolean {
  const ops = history.filter((e) => (e.op.kind === 'read' ? e.outcome.status === 'ok' : e.op.kind === 'cas' || e.outcome.status !== 'fail'));
  const optional = (e: HistoryEntry): boolean => e.outcome.status === 'unknown';
  /** The value after `e` on `current`, or undefined if e's outcome is impossible there. */
  const apply = (e: HistoryEntry, current: string | null): string | null | undefined => {
    const { op, outcome } = e;
    switch (op.kind) {
      case 'write':
        return op.value;
      case 'delete':
        return null;
      case 'read':
        return outcome.status === 'ok' && outcome.value === current ? current : undefined;
      case 'cas':
        if (outcome.status === 'ok') return current === op.expected ? op.value : undefined;
        if (outcome.status === 'fail') return current !== op.expected ? current : undefined;
        return current === op.expected ? op.value : current; // unknown, taking effect: whatever its precondition says
    }
  };
  const used = ops.map(() => false);
  const extend = (current: string | null, definiteLeft: number): boolean => {
    if (definiteLeft === 0) return true;
    for (let i = 0; i < ops.length; i++) {
      if (used[i]) continue;
      const e = ops[i]!;
      // Unknown ops never have to come first: their returns are at +∞ and they may be skipped.
      if (ops.some((other, j) => !used[j] && j !== i && !optional(other) && other.returnedAt < e.invokedAt)) continue;
      const next = apply(e, current);
      if (next === undefined) continue;
      used[i] = true;
      const found = extend(next, definiteLeft - (optional(e) ? 0 : 1));
      used[i] = false;
      if (found) return true;
    }
    return false;
  };
  return extend(initial, ops.filter((e) => !optional(e)).length);
}

/** A small random history on one key: few ops, much overlap, all outcomes; values from `alphabet`, or unique when it is null. */
function randomSmallHistory(random: () => number, alphabet: readonly string[] | null): HistoryEntry[] {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const n = 2 + Math.floor(random() * 7);
  const written = alphabet ?? Array.from({ length: n }, (_, i) => `v${i}`);
  const history: HistoryEntry[] = [];
  for (let id = 0; id < n; id++) {
    const invokedAt = Math.floor(random() * 8);
    const roll = random();
    const statusRoll = random();
    const status: Status = statusRoll < 0.6 ? 'ok' : statusRoll < 0.75 ? 'fail' : 'unknown';
    const value = alphabet === null ? `v${id}` : pick(alphabet);
    let op: RegisterOp;
    if (roll < 0.3) op = { kind: 'write', key: 'k', value };
    else if (roll < 0.4) op = { kind: 'delete', key: 'k' };
    else if (roll < 0.7) op = { kind: 'read', key: 'k' };
    else op = { kind: 'cas', key: 'k', expected: random() < 0.3 ? null : pick(written), value };
    const outcome: Outcome = op.kind === 'read' && status === 'ok' ? { status, value: random() < 0.25 ? null : pick(written) } : { status };
    history.push({ id, client: id, op, invokedAt, returnedAt: status === 'unknown' ? Infinity : invokedAt + Math.floor(random() * 4), outcome });
  }
  return history;
}

describe('checkLinearizable: agrees with the definition on small random histories', () => {
  for (const [name, alphabet] of [
    ['values repeated', ['a', 'b', 'c']],
    ['values unique', null],
  ] as const) {
    it(`gives the brute-force verdict on 3,000 histories (${name})`, (t) => {
      const tally = { accepted: 0, bySearch: 0, byQuickChecks: 0 };
      for (let seed = 1; seed <= 3000; seed++) {
        const random = seededRandom(seed * 104729 + (alphabet === null ? 1 : 0));
        const history = randomSmallHistory(random, alphabet);
        const initial = random() < 0.2 ? (alphabet?.[0] ?? 'v0') : null;
        const expected = linearizableByBruteForce(history, initial);
        const result = checkLinearizable(history, { initial: new Map([['k', initial]]) });
        assert.equal(result.ok, expected, `seed ${seed}: ${explain(result)}\n${JSON.stringify({ initial, history })}`);
        if (result.ok === true) tally.accepted++;
        else if (result.ok === false && /^not linearizable: no order/.test(result.reason)) tally.bySearch++;
        else tally.byQuickChecks++;
      }
      // Both verdicts, and rejections by both the quick checks and the search, are well represented.
      assert.ok(tally.accepted > 300 && tally.bySearch > 50 && tally.byQuickChecks > 100, JSON.stringify(tally));
      t.diagnostic(JSON.stringify(tally));
    });
  }
});

describe('checkLinearizable: performance', () => {
  const timed = (history: readonly HistoryEntry[]): { result: CheckResult; ms: number } => {
    const started = performance.now();
    const result = checkLinearizable(history);
    return { result, ms: performance.now() - started };
  };

  it('checks 8 clients × 250 ops on one key', (t) => {
    const history = simulate({ seed: 42, clients: 8, opsPerClient: 250, keys: ['k'] });
    const { result, ms } = timed(history);
    assert.equal(result.ok, true, explain(result));
    t.diagnostic(`${history.length} ops on one key checked in ${ms.toFixed(1)} ms`);
  });

  for (const { seed, clients, opsPerClient } of [
    { seed: 43, clients: 8, opsPerClient: 250 },
    { seed: 46, clients: 16, opsPerClient: 125 },
  ]) {
    it(`checks ${clients} clients × ${opsPerClient} ops on one key with three crashes`, (t) => {
      const history = simulate({ seed, clients, opsPerClient, keys: ['k'], crashes: 3 });
      const unknown = history.filter((entry) => entry.outcome.status === 'unknown').length;
      const { result, ms } = timed(history);
      assert.equal(result.ok, true, explain(result));
      t.diagnostic(`${history.length} ops (${unknown} unknown) checked in ${ms.toFixed(1)} ms`);
    });
  }

  it('checks 1,000 ops across 20 keys', (t) => {
    const keys = Array.from({ length: 20 }, (_, i) => `key-${i}`);
    const history = simulate({ seed: 44, clients: 10, opsPerClient: 100, keys });
    const { result, ms } = timed(history);
    assert.deepEqual(result, { ok: true, keys: 20, operations: 1000 });
    t.diagnostic(`1000 ops on 20 keys checked in ${ms.toFixed(1)} ms`);
  });

  // The stale read is put on the last read that can have one, so that
  // refuting it means getting through the whole history first.
  const last = (): number => 0.999999;
  for (const [clients, opsPerClient, crashes] of [
    [8, 250, 0],
    [16, 125, 3],
  ] as const) {
    for (const hidden of [false, true]) {
      it(`rejects a stale read at the end of ${clients} clients × ${opsPerClient} ops on one key${crashes > 0 ? ` with ${crashes} crashes` : ''}${hidden ? ', hidden from the quick checks' : ''}`, (t) => {
        const mutation = mutate(simulate({ seed: 45, clients, opsPerClient, keys: ['k'], crashes }), 'stale', last, hidden);
        assert.ok(mutation !== null);
        const { result, ms } = timed(mutation.history);
        assert.equal(result.ok, false, explain(result));
        t.diagnostic(`rejected in ${ms.toFixed(1)} ms`);
      });
    }
  }
});
