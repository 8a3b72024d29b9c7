import { seededRandom } from '../../helpers/random.js';

/**
 * Linearizability checker for histories of register operations on kvs keys.
 *
 * MODEL. Every key is an independent register holding a string or null
 * (absent; null unless `options.initial` says otherwise). write sets the
 * value, delete sets null, a read must return the current value, a cas that
 * succeeded saw `expected` (null = absent, i.e. create-only) and set `value`,
 * a cas that failed saw something other than `expected` and changed nothing.
 * Operations whose outcome is `fail` (refused) are ignored, except cas: a
 * failed cas is an observation ("the value was not `expected`") and must be
 * linearized inside its interval like a read. An operation whose outcome is
 * `unknown` may take effect at any moment after its invocation, or never: its
 * interval is [invokedAt, +∞) and it is optional. Unknown reads observe
 * nothing and are dropped.
 *
 * ALGORITHM. Each key is checked on its own (P-compositionality:
 * linearizability is local, Herlihy & Wing), in two stages.
 *
 * 1. Quick checks, O(n log n): an observation of a value nothing could have
 *    produced; and, for values written only once (the recorder writes unique
 *    values), Gibbons & Korach's zones extended to cas (`segmentViolation`),
 *    which refute stale and future reads, lost writes and double cas at once
 *    and name the operations involved.
 * 2. Search: Wing & Gong's depth-first search over linearization orders, with
 *    Lowe's just-in-time linearization and memoization, as in Porcupine:
 *    - The calls and returns of the definite ops are a doubly linked list in
 *      time order (calls first at equal times: we cannot tell which came
 *      first, so we let them overlap). The candidates to linearize next are
 *      the calls before the first remaining return; when none works, that
 *      return's op can no longer be linearized in time: backtrack. Linearizing
 *      lifts the call and return out of the list; backtracking relinks them.
 *    - A cache of explored configurations (definite ops linearized, unknown
 *      ops linearized, value), Zobrist-hashed and stored in flat typed
 *      arrays, prunes configurations reached again by another order, and
 *      those with more unknown ops than one that already failed.
 *    - Forced moves: a read or failed cas that succeeds on the current value
 *      is linearized at once, without trying alternatives (it commutes with
 *      everything pending). Together with the next rule this is what keeps
 *      correct histories near-linear.
 *    - Stranded values: the search never leaves a value that an op still to be
 *      linearized needs when nothing left can produce it again, nor enters one
 *      that an op bound to come before that needer would have to change.
 *    - Values that no op compares against are merged into one state.
 *    - Unknown ops have no return event; they are tried after the definite
 *      candidates, and only in a canonical position (any linearization can be
 *      rewritten into one): a run of them changes the value, starts with at
 *      most one blind write/delete, and ends with a definite op that fails on
 *      the value before the run and succeeds after it. Unknown writes of the
 *      same value are used in invocation order; unknown writes whose value
 *      nothing can observe are dropped.
 *
 * COMPLEXITY. Checking linearizability is NP-complete in general, so the worst
 * case is exponential: the search expands each distinct configuration at most
 * once, and with just-in-time linearization a configuration is "everything
 * returned before some point, plus a subset of the c ops open then" and a
 * value, so for n ops per key and u relevant unknown ops the bound is about
 * n · 2^(c+u) · (values compared), each expansion costing O(c + u). Histories
 * of a correct server check in roughly O(n · c): the performance tests in
 * test/unit/linearizability.test.ts print the figures (2,000 ops on one key
 * with 8 clients: tens of ms; with 16: about 0.1 s). Refuting a violation
 * the quick checks miss means exhausting the consistent orders before it:
 * seconds for 2,000 ops with 16 heavily overlapping clients, and it can run
 * out of time with many unknowns on top. Each key's search stops after
 * `timeoutMs` (default 30 s) with a 'timeout' result rather than hanging.
 * Memory: 50-100 bytes per explored configuration (a few hundred MB in the
 * worst 30 s).
 */

export type RegisterOp =
  | { kind: 'write'; key: string; value: string }
  | { kind: 'delete'; key: string }
  | { kind: 'read'; key: string }
  // compare-and-swap on the key's current value: expected null = "only if absent" (create-only)
  | { kind: 'cas'; key: string; expected: string | null; value: string };

export type Outcome =
  | { status: 'ok'; value?: string | null } // read: value observed (null = absent); write/delete/cas: took effect
  | { status: 'fail' } // definite: had no effect (a cas whose precondition did not hold: 412/409; any op refused with a 4xx)
  | { status: 'unknown' }; // may or may not have taken effect (timeout, connection reset, server killed)

export interface HistoryEntry {
  id: number;
  client: number;
  op: RegisterOp;
  invokedAt: number; // monotonic ms (performance.now())
  returnedAt: number; // monotonic ms; Infinity when outcome is unknown
  outcome: Outcome;
}

export type CheckResult =
  | { ok: true; keys: number; operations: number }
  | { ok: false; key: string; reason: string; operations: HistoryEntry[] } // a short explanation and the ops of the offending key
  | { ok: 'timeout'; key: string; operations: number };

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Checks that `history` is linearizable, key by key. Returns the first key
 * (in sorted order) that is not; if none is but some key's search ran out of
 * time, the first such key as 'timeout'. `operations` in the ok result counts
 * every entry of `history` (including the ignored ones).
 *
 * Throws a TypeError on malformed entries (a NaN time, a definite outcome that
 * returned before it was invoked, an ok read without a value), since those are
 * recorder bugs that would otherwise show up as confusing verdicts.
 */
export function checkLinearizable(
  history: readonly HistoryEntry[],
  options: { initial?: ReadonlyMap<string, string | null>; timeoutMs?: number } = {},
): CheckResult {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const byKey = new Map<string, HistoryEntry[]>();
  for (const entry of history) {
    validate(entry);
    let list = byKey.get(entry.op.key);
    if (list === undefined) byKey.set(entry.op.key, (list = []));
    list.push(entry);
  }

  let timedOut: { key: string; operations: number } | null = null;
  for (const key of [...byKey.keys()].sort()) {
    const entries = byKey.get(key)!;
    const verdict = checkKey(entries, options.initial?.get(key) ?? null, timeoutMs);
    if (verdict.kind === 'fail') {
      const operations = [...entries].sort((a, b) => a.invokedAt - b.invokedAt || a.id - b.id);
      return { ok: false, key, reason: verdict.reason, operations };
    }
    // Keep going after a timeout: a definite violation on another key is the more useful answer.
    if (verdict.kind === 'timeout' && timedOut === null) timedOut = { key, operations: entries.length };
  }
  if (timedOut !== null) return { ok: 'timeout', ...timedOut };
  return { ok: true, keys: byKey.size, operations: history.length };
}

function validate(entry: HistoryEntry): void {
  const where = `history entry #${entry.id} (${entry.op.kind} ${JSON.stringify(entry.op.key)})`;
  if (Number.isNaN(entry.invokedAt) || Number.isNaN(entry.returnedAt)) throw new TypeError(`${where}: NaN timestamp`);
  if (entry.outcome.status !== 'unknown' && entry.returnedAt < entry.invokedAt) {
    throw new TypeError(`${where}: returnedAt ${entry.returnedAt} is before invokedAt ${entry.invokedAt}`);
  }
  if (entry.op.kind === 'read' && entry.outcome.status === 'ok' && entry.outcome.value === undefined) {
    throw new TypeError(`${where}: an ok read must carry the value it saw (a string, or null for absent)`);
  }
}

// ---------------------------------------------------------------------------
// One key

/** Operation kinds after compilation; values are interned to small integers (0 = null). */
const WRITE = 0; // write/delete: blind, sets `b`
const READ = 1; // must see `a`
const CAS = 2; // must see `a`, then sets `b`
const CAS_FAIL = 3; // must see anything but `a`

interface CompiledOp {
  readonly entry: HistoryEntry;
  readonly kind: number;
  readonly a: number;
  readonly b: number;
  /** Unknown outcome: may be linearized anywhere after `inv`, or not at all. */
  readonly optional: boolean;
  readonly inv: number;
  readonly ret: number;
}

/** The value after applying `kind` to `cur`, or -1 if the operation's result is impossible on `cur`. */
function step(kind: number, a: number, b: number, cur: number): number {
  switch (kind) {
    case WRITE:
      return b;
    case READ:
      return cur === a ? cur : -1;
    case CAS:
      return cur === a ? b : -1;
    default: // CAS_FAIL
      return cur !== a ? cur : -1;
  }
}

type KeyVerdict = { kind: 'ok' } | { kind: 'fail'; reason: string } | { kind: 'timeout' };

/** The state standing for every value that no operation compares against (see checkKey). */
const OTHER = 1;

class ValueTable {
  private readonly ids = new Map<string, number>();
  private readonly names: (string | null)[] = [null, null]; // 0 = null (absent), 1 = OTHER
  id(value: string | null): number {
    if (value === null) return 0;
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(value, id);
      this.names.push(value);
    }
    return id;
  }
  name(id: number): string | null {
    return this.names[id] ?? null;
  }
}

function checkKey(entries: readonly HistoryEntry[], initialValue: string | null, timeoutMs: number): KeyVerdict {
  const values = new ValueTable();
  const initial = values.id(initialValue);
  let ops: CompiledOp[] = [];
  for (const entry of entries) {
    const compiled = compile(entry, values);
    if (compiled !== null) ops.push(compiled);
  }

  // Quick, well-explained rejections: an observation of a value that nothing
  // in the history could ever have produced.
  const producible = new Set<number>([initial]);
  for (const op of ops) if (op.kind === WRITE || op.kind === CAS) producible.add(op.b);
  for (const op of ops) {
    if (op.optional || (op.kind !== READ && op.kind !== CAS) || producible.has(op.a)) continue;
    const what = op.kind === READ ? 'returned' : 'succeeded expecting';
    return {
      kind: 'fail',
      reason: `${describeOp(op, values)} ${what} ${showValue(values.name(op.a))}, which neither the initial value nor any write, delete or cas on this key could have produced`,
    };
  }

  const segments = segmentViolation(ops, initial, values);
  if (segments !== null) return { kind: 'fail', reason: segments };

  // Unknown operations that cannot matter are dropped (see the header): an
  // unknown cas expecting a value that never exists, and an unknown blind
  // write whose value nothing observes, when no failed cas could be
  // linearized after it (a failed cas is the only observer that could need the
  // value changed to "anything else").
  const observed = new Set<number>();
  let lastCasFailReturn = -Infinity;
  for (const op of ops) {
    if (op.kind === READ || op.kind === CAS) observed.add(op.a);
    if (op.kind === CAS_FAIL) lastCasFailReturn = Math.max(lastCasFailReturn, op.ret);
  }
  ops = ops.filter((op) => {
    if (!op.optional) return true;
    if (op.kind === CAS) return producible.has(op.a);
    return observed.has(op.b) || lastCasFailReturn >= op.inv; // >=: touching intervals overlap
  });
  if (!ops.some((op) => !op.optional)) return { kind: 'ok' };

  // Values that no operation compares against (no read returned them, no cas
  // expected them) are indistinguishable to every operation, so they all
  // become one state, OTHER (null stays itself, for readable explanations).
  // With unique values most writes are never read back, and this keeps the
  // (linearized set, value) space small.
  const compared = new Set<number>();
  for (const op of ops) if (op.kind !== WRITE) compared.add(op.a);
  const abstract = (value: number): number => (value === 0 || compared.has(value) ? value : OTHER);
  ops = ops.map((op) => ({ ...op, b: abstract(op.b) }));

  // Sorting by invocation keeps the linearized set a dense prefix plus a few
  // bits (the cache stores only those), and gives unknown ops their order.
  ops.sort((x, y) => x.inv - y.inv || x.ret - y.ret || x.entry.id - y.entry.id);
  return search(ops, abstract(initial), values, timeoutMs);
}

/**
 * Segments: necessary conditions for values written exactly once (Gibbons &
 * Korach's zones for read/write registers, extended to cas), checked in
 * O(n log n) before the search. They refute the usual anomalies (stale and
 * future reads, lost writes, a cas succeeding twice on one value) at once and
 * name the operations involved, however large the history.
 *
 * A value v with a single producer P (the one write or cas that writes it, or
 * the initial value) is current during one contiguous stretch of any
 * linearization: from P to the next change. Every definite read of v and cas
 * expecting v (its "needers") falls inside it, so it spans at least the time
 * from the earliest return to the latest invocation among P and the needers:
 * if low < high, v is current throughout (low, high). So, for such values:
 * - a needer cannot return before P is invoked;
 * - two cas expecting v cannot both succeed (the first replaced v for good),
 *   and nothing can see v after a cas expecting v returned;
 * - two such stretches cannot overlap; nor can the ops of another value v'
 *   all overlap (each invoked by `high'`, none returned before `low'`,
 *   high' ≤ low') inside v's stretch, since they need v' current meanwhile;
 * - a definite op that cannot take effect while v is current without changing
 *   it (a write of another value, a read or cas expecting another, a cas
 *   expecting v and failing) cannot lie entirely inside v's stretch.
 * Returns the explanation of the first violation found, or null.
 */
function segmentViolation(ops: readonly CompiledOp[], initial: number, values: ValueTable): string | null {
  interface Cluster {
    value: number;
    producer: CompiledOp | null; // null: the initial value
    members: Set<CompiledOp>; // the producer and the needers
    low: number; // the earliest return among them
    lowOp: CompiledOp | null;
    high: number; // the latest invocation among them
    highOp: CompiledOp | null;
  }
  const show = (v: number): string => showValue(values.name(v));
  const describe = (o: CompiledOp | null): string => (o === null ? 'the initial value' : describeOp(o, values));
  const producers = new Map<number, CompiledOp[]>();
  for (const o of ops) {
    if (o.kind !== WRITE && o.kind !== CAS) continue;
    let list = producers.get(o.b);
    if (list === undefined) producers.set(o.b, (list = []));
    list.push(o);
  }
  const needers = new Map<number, CompiledOp[]>();
  for (const o of ops) {
    if (o.optional || (o.kind !== READ && o.kind !== CAS)) continue;
    let list = needers.get(o.a);
    if (list === undefined) needers.set(o.a, (list = []));
    list.push(o);
  }

  const clusters: Cluster[] = [];
  for (const [v, list] of needers) {
    const made = producers.get(v) ?? [];
    if (made.length + (v === initial ? 1 : 0) !== 1) continue;
    const producer = made[0] ?? null;
    const pInv = producer?.inv ?? -Infinity;
    const pRet = producer?.ret ?? -Infinity;
    const name = `${show(v)} (written only by ${describe(producer)})`;
    for (const r of list) {
      if (r.ret < pInv) return `${describe(r)} observed ${name} but returned before that write was invoked`;
    }
    const consumers = list.filter((o) => o.kind === CAS);
    if (consumers.length >= 2) {
      return `${describe(consumers[0]!)} and ${describe(consumers[1]!)} both succeeded expecting ${name}: whichever took effect first replaced it for good`;
    }
    const consumer = consumers[0];
    if (consumer !== undefined) {
      for (const r of list) {
        if (r !== consumer && r.inv > consumer.ret) return `${describe(r)} observed ${name} after ${describe(consumer)} had replaced it`;
      }
    }
    const cluster: Cluster = { value: v, producer, members: new Set(list), low: pRet, lowOp: producer, high: pInv, highOp: producer };
    if (producer !== null) cluster.members.add(producer);
    for (const r of list) {
      if (r.ret < cluster.low) [cluster.low, cluster.lowOp] = [r.ret, r];
      if (r.inv > cluster.high) [cluster.high, cluster.highOp] = [r.inv, r];
    }
    clusters.push(cluster);
  }

  const stretch = (c: Cluster): string =>
    `${show(c.value)} (written only by ${describe(c.producer)}) must be the value throughout (${c.low.toFixed(3)}, ${c.high.toFixed(3)}): ` +
    `${describe(c.lowOp)} returned at the start having ${c.lowOp === c.producer ? 'written' : 'seen'} it, and ${describe(c.highOp)} was invoked at the end and ${c.highOp === c.producer ? 'wrote' : 'saw'} it`;
  // The stretches (proper zones) in time order; they must not overlap.
  const zones = clusters.filter((c) => c.low < c.high).sort((x, y) => x.low - y.low);
  for (let k = 1; k < zones.length; k++) {
    const [before, after] = [zones[k - 1]!, zones[k]!];
    if (after.low < before.high) return `two values must be current at once: ${stretch(before)}; and ${stretch(after)}`;
  }
  /** The stretch that something needing [high, low] (from its latest invocation to its earliest return) cannot avoid, if any. */
  const clash = (high: number, low: number): Cluster | null => {
    let lo = 0;
    let hi = zones.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (zones[mid]!.low < high) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    const zone = zones[found];
    return zone !== undefined && low < zone.high ? zone : null;
  };
  for (const c of clusters) {
    if (c.low < c.high) continue;
    const zone = clash(c.high, c.low);
    if (zone !== null && zone !== c) {
      return `${stretch(zone)}; but every op observing ${show(c.value)} (written only by ${describe(c.producer)}) overlaps [${c.high.toFixed(3)}, ${c.low.toFixed(3)}], inside that stretch`;
    }
  }
  for (const o of ops) {
    if (o.optional) continue;
    const zone = clash(o.inv, o.ret);
    if (zone === null || zone.members.has(o) || step(o.kind, o.a, o.b, zone.value) === zone.value) continue;
    return `${stretch(zone)}; but ${describe(o)} lies entirely inside that stretch and cannot take effect while ${show(zone.value)} is current without changing it`;
  }
  return null;
}

function compile(entry: HistoryEntry, values: ValueTable): CompiledOp | null {
  const { op, outcome } = entry;
  const optional = outcome.status === 'unknown';
  const base = { entry, optional, inv: entry.invokedAt, ret: optional ? Infinity : entry.returnedAt };
  switch (op.kind) {
    case 'write':
      return outcome.status === 'fail' ? null : { ...base, kind: WRITE, a: 0, b: values.id(op.value) };
    case 'delete':
      return outcome.status === 'fail' ? null : { ...base, kind: WRITE, a: 0, b: 0 };
    case 'read':
      // A refused read and a read whose answer never came observe nothing.
      if (outcome.status !== 'ok') return null;
      return { ...base, kind: READ, a: values.id(outcome.value ?? null), b: 0 };
    case 'cas': {
      const a = values.id(op.expected);
      const b = values.id(op.value);
      if (outcome.status === 'fail') return { ...base, kind: CAS_FAIL, a, b };
      // A cas that would leave the value as it was is only an observation: a
      // read if it succeeded, and nothing at all if its outcome is unknown.
      if (a === b) return optional ? null : { ...base, kind: READ, a, b: 0 };
      return { ...base, kind: CAS, a, b };
    }
  }
}

/** A call or return event in the search's linked list. */
interface EventNode {
  readonly op: number; // index into ops; -1 for the list head
  readonly isCall: boolean;
  match: EventNode | null; // a call's return
  prev: EventNode | null;
  next: EventNode | null;
}

const FULL = 0xffffffff; // a bitset word with every op linearized
const NO_CHAIN = -1; // not inside a run of unknown ops (see search)

/**
 * The cache of explored configurations: (definite ops linearized, unknown ops
 * linearized, value). Histories of thousands of ops can put millions of
 * configurations here, so it is kept in flat typed arrays (some 50 bytes an
 * entry) rather than one object per entry: a chained hash table over entries
 * whose bitsets live in one growing word pool. The definite bitset is stored
 * without its all-ones prefix and all-zeros suffix (bits follow invocation
 * order, so what is left is the few words around the window of open ops).
 */
class ConfigCache {
  private heads = new Int32Array(1 << 12).fill(-1); // bucket → first entry
  private mask = (1 << 12) - 1;
  private count = 0;
  private capacity = 1 << 12;
  private keyOf = new Int32Array(this.capacity); // hash of (definite set, value)
  private checkOf = new Int32Array(this.capacity); // a second, independent hash
  private stateOf = new Int32Array(this.capacity);
  private lowOf = new Int32Array(this.capacity); // first stored word of the definite bitset
  private lengthOf = new Int32Array(this.capacity); // stored words of the definite bitset
  private wordsAt = new Int32Array(this.capacity); // where they are in the pool
  private optionalAt = new Int32Array(this.capacity); // where the unknown ops' bitset is in the pool; -1: none linearized
  private nextOf = new Int32Array(this.capacity); // the next entry in the bucket
  private pool = new Uint32Array(1 << 14);
  private used = 0;

  /**
   * Adds the configuration; false if it is already covered. A configuration is
   * covered by an explored one with the same value, the same definite ops, and
   * a subset of its unknown ops: unknown ops need never be linearized, so
   * anything possible after using more of them was possible after using
   * fewer, and that failed.
   */
  add(key: number, check: number, state: number, definite: Uint32Array, optional: Uint32Array): boolean {
    let low = 0;
    while (low < definite.length && definite[low] === FULL) low++;
    let high = definite.length;
    while (high > low && definite[high - 1] === 0) high--;
    let anyOptional = false;
    for (let w = 0; w < optional.length && !anyOptional; w++) anyOptional = optional[w] !== 0;
    const pool = this.pool;
    for (let e = this.heads[key & this.mask]!; e >= 0; e = this.nextOf[e]!) {
      if (this.keyOf[e] !== key || this.checkOf[e] !== check || this.stateOf[e] !== state || this.lowOf[e] !== low || this.lengthOf[e] !== high - low) continue;
      const at = this.wordsAt[e]!;
      let same = true;
      for (let w = 0; w < high - low && same; w++) same = pool[at + w] === definite[low + w];
      if (!same) continue;
      const optionalAt = this.optionalAt[e]!;
      if (optionalAt < 0) return false;
      let subset = true;
      for (let w = 0; w < optional.length && subset; w++) subset = (pool[optionalAt + w]! & ~optional[w]!) === 0;
      if (subset) return false;
    }
    if (this.count === this.capacity) this.grow();
    const e = this.count++;
    this.keyOf[e] = key;
    this.checkOf[e] = check;
    this.stateOf[e] = state;
    this.lowOf[e] = low;
    this.lengthOf[e] = high - low;
    this.wordsAt[e] = this.store(definite, low, high);
    this.optionalAt[e] = anyOptional ? this.store(optional, 0, optional.length) : -1;
    this.nextOf[e] = this.heads[key & this.mask]!;
    this.heads[key & this.mask] = e;
    return true;
  }

  private store(words: Uint32Array, from: number, to: number): number {
    if (this.used + (to - from) > this.pool.length) {
      const pool = new Uint32Array(Math.max(this.pool.length * 2, this.used + (to - from)));
      pool.set(this.pool);
      this.pool = pool;
    }
    const at = this.used;
    this.pool.set(words.subarray(from, to), at);
    this.used += to - from;
    return at;
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    const widen = (old: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
      const wider = new Int32Array(capacity);
      wider.set(old);
      return wider;
    };
    this.keyOf = widen(this.keyOf);
    this.checkOf = widen(this.checkOf);
    this.stateOf = widen(this.stateOf);
    this.lowOf = widen(this.lowOf);
    this.lengthOf = widen(this.lengthOf);
    this.wordsAt = widen(this.wordsAt);
    this.optionalAt = widen(this.optionalAt);
    this.nextOf = widen(this.nextOf);
    this.capacity = capacity;
    // Rehash into twice the buckets, keeping about one entry per bucket.
    this.heads = new Int32Array(capacity).fill(-1);
    this.mask = capacity - 1;
    for (let e = 0; e < this.count; e++) {
      const bucket = this.keyOf[e]! & this.mask;
      this.nextOf[e] = this.heads[bucket]!;
      this.heads[bucket] = e;
    }
  }
}

/** The furthest the search got, for the failure explanation. */
interface Progress {
  done: number;
  state: number;
  blocking: number;
  pending: number[]; // definite candidates then
  unknown: number; // unknown-outcome candidates then
  recent: number[];
  earlier: number;
  linearized: Uint32Array;
}

function search(ops: readonly CompiledOp[], initial: number, values: ValueTable, timeoutMs: number): KeyVerdict {
  const n = ops.length;
  const started = performance.now();
  const op = (i: number): CompiledOp => ops[i]!;

  // The calls and returns of the definite ops, in one list in time order (at
  // equal times calls first: the ops may have overlapped). Unknown ops have
  // no events: their returns are at +∞ and never constrain anything, and they
  // are offered from queues (below) once invoked.
  const node = (i: number, isCall: boolean): EventNode => ({ op: i, isCall, match: null, prev: null, next: null });
  const head = node(-1, false);
  const callOf: (EventNode | null)[] = new Array<EventNode | null>(n).fill(null);
  const events: EventNode[] = [];
  for (let i = 0; i < n; i++) {
    if (op(i).optional) continue;
    const call = node(i, true);
    call.match = node(i, false);
    callOf[i] = call;
    events.push(call, call.match);
  }
  const time = (e: EventNode): number => (e.isCall ? op(e.op).inv : op(e.op).ret);
  events.sort((x, y) => time(x) - time(y) || Number(y.isCall) - Number(x.isCall) || x.op - y.op);
  let tail = head;
  for (const e of events) {
    tail.next = e;
    e.prev = tail;
    tail = e;
  }
  // Linearizing a definite op lifts its call and return out of the list.
  const unlink = (e: EventNode): void => {
    e.prev!.next = e.next;
    if (e.next !== null) e.next.prev = e.prev;
  };
  const relink = (e: EventNode): void => {
    e.prev!.next = e;
    if (e.next !== null) e.next.prev = e;
  };

  // Queues of unknown ops. Unknown blind writes with the same resulting value
  // are interchangeable (each available from its invocation on, forever), so
  // they share a queue and are used in invocation order: this stops, say,
  // twenty lost writes that nothing reads from being tried in every subset.
  // Each unknown cas has a queue of its own.
  const queueOf = new Int32Array(n).fill(-1);
  const queues: number[][] = [];
  const blindQueue = new Map<number, number>(); // resulting value → queue
  for (let i = 0; i < n; i++) {
    const o = op(i);
    if (!o.optional) continue;
    let q = o.kind === WRITE ? blindQueue.get(o.b) : undefined;
    if (q === undefined) {
      q = queues.length;
      queues.push([]);
      if (o.kind === WRITE) blindQueue.set(o.b, q);
    }
    queueOf[i] = q;
    queues[q]!.push(i);
  }
  const queueUsed = new Int32Array(queues.length);

  // The linearized set, three ways: `bits` over all ops (for explanations),
  // `definiteBits` over the definite ops and `optionalBits` over the unknown
  // ones (for the cache), each op numbered by its rank among its own kind so
  // that the definite bitset stays a dense prefix.
  const rank = new Int32Array(n);
  let definiteTotal = 0;
  let optionalTotal = 0;
  for (let i = 0; i < n; i++) rank[i] = op(i).optional ? optionalTotal++ : definiteTotal++;
  const bits = new Uint32Array((n + 31) >>> 5);
  const definiteBits = new Uint32Array((definiteTotal + 31) >>> 5);
  const optionalBits = new Uint32Array((optionalTotal + 31) >>> 5);
  // Zobrist hashing of the definite set: two random 32-bit words per op, XORed in and out.
  const nextFloat = seededRandom(0x6b7673);
  // 32-bit integers for the hashing below.
  const random = () => (nextFloat() * 4294967296) | 0;
  const z1 = new Int32Array(definiteTotal);
  const z2 = new Int32Array(definiteTotal);
  for (let r = 0; r < definiteTotal; r++) {
    z1[r] = random();
    z2[r] = random();
  }
  let h1 = 0;
  let h2 = 0;
  const cache = new ConfigCache();
  /** Adds the current configuration with value `state` to the cache; false if it is already covered. */
  const remember = (state: number): boolean => cache.add(h1 ^ Math.imul(state + 1, 0x9e3779b1), h2 ^ state, state, definiteBits, optionalBits);
  const flip = (i: number): void => {
    bits[i >>> 5]! ^= 1 << (i & 31);
    const r = rank[i]!;
    if (op(i).optional) {
      optionalBits[r >>> 5]! ^= 1 << (r & 31);
    } else {
      definiteBits[r >>> 5]! ^= 1 << (r & 31);
      h1 ^= z1[r]!;
      h2 ^= z2[r]!;
    }
  };

  // Stranded values. A definite read or cas still to be linearized that needs
  // value v can only succeed if v is the current value or some op still to be
  // linearized produces v. Leaving v while that fails is a dead end, pruned at
  // once instead of after every combination of the ops before that read's
  // return. With unique values this is what makes stale reads cheap to refute.
  let stateCount = initial + 1;
  for (const o of ops) stateCount = Math.max(stateCount, o.a + 1, o.b + 1);
  const needs = new Int32Array(stateCount); // unlinearized definite reads/cas needing the value
  const producers = new Int32Array(stateCount); // unlinearized ops that can set the value
  const needsValue = (o: CompiledOp): boolean => !o.optional && (o.kind === READ || o.kind === CAS);
  const producesValue = (o: CompiledOp): boolean => o.kind === WRITE || o.kind === CAS;
  for (const o of ops) {
    if (needsValue(o)) needs[o.a]!++;
    if (producesValue(o)) producers[o.b]!++;
  }
  /** Whether moving from `state` to `next` by linearizing `o` strands the value `state`. */
  const strands = (o: CompiledOp, next: number): boolean =>
    next !== state && producers[state] === 0 && needs[state]! - (needsValue(o) && o.a === state ? 1 : 0) > 0;

  // Doomed values, the same look one step ahead: when linearizing op `i`
  // makes the value `next` and nothing left can produce it again, the value
  // must stay until its last needer R is linearized. A definite op that
  // returned before R was invoked and cannot keep the value (a write of
  // another value, a read or cas expecting another, a cas failing on it) must
  // come before R, so it would have to leave the value, and R could not see
  // it: a dead end. This refutes, at once, an unknown write whose value is
  // read much later being used early (say, for a failed cas right at a crash).
  const neededBy: number[][] = Array.from({ length: stateCount }, () => []);
  for (let i = n - 1; i >= 0; i--) if (needsValue(op(i))) neededBy[op(i).a]!.push(i); // latest invocation first
  const linearized = (i: number): boolean => (bits[i >>> 5]! & (1 << (i & 31))) !== 0;
  const DOOM_LOOKAHEAD = 64; // events examined at most: a bound on the cost, not needed for soundness
  const dooms = (i: number, next: number): boolean => {
    if (next === state || producers[next]! - (producesValue(op(i)) ? 1 : 0) > 0 || needs[next] === 0) return false;
    let until = -Infinity; // the invocation of the last needer still to come
    for (const r of neededBy[next]!) {
      if (!linearized(r)) {
        until = op(r).inv;
        break;
      }
    }
    let seen = 0;
    for (let e = head.next; e !== null && seen < DOOM_LOOKAHEAD; e = e.next, seen++) {
      if (e.isCall || e.op === i) continue;
      const x = op(e.op);
      if (x.ret >= until) return false;
      if (step(x.kind, x.a, x.b, next) !== next) return true;
    }
    return false;
  };

  // The stack of linearized ops: the op, the value before, the
  // configuration's chain start (the value before the current run of unknown
  // ops, or NO_CHAIN when the last linearized op is definite), and whether the
  // op was forced (see below), in which case backtracking goes straight past it.
  const stackOp: number[] = [];
  const stackPrev: number[] = [];
  const stackChain: number[] = [];
  const stackForced: boolean[] = [];
  let state = initial;
  let definiteDone = 0;
  let best: Progress | null = null;
  let iterations = 0;

  const chainNow = (): number => (stackChain.length === 0 ? NO_CHAIN : stackChain[stackChain.length - 1]!);
  const push = (i: number, next: number, chain: number, forced: boolean): void => {
    const o = op(i);
    stackOp.push(i);
    stackPrev.push(state);
    stackChain.push(o.optional ? (chain === NO_CHAIN ? state : chain) : NO_CHAIN);
    stackForced.push(forced);
    flip(i);
    state = next;
    if (needsValue(o)) needs[o.a]!--;
    if (producesValue(o)) producers[o.b]!--;
    if (o.optional) {
      queueUsed[queueOf[i]!]!++;
    } else {
      definiteDone++;
      const call = callOf[i]!;
      unlink(call);
      unlink(call.match!);
    }
  };

  // What the current configuration's candidates are, from `survey`: the
  // first definite return (`limit` is its time): the definite calls before it
  // and the unknown ops invoked by then (`unknownCandidates`, the head of each
  // queue) are the candidates; and which values they want, for starting runs
  // of unknown ops (stamped per survey so that resetting is O(1); `wantsAny`
  // when a failed cas wants any change).
  let firstReturn: EventNode | null = null;
  let limit = Infinity;
  const unknownCandidates = new Int32Array(queues.length);
  let unknownCount = 0;
  const wanted = new Int32Array(stateCount);
  let surveyId = 0;
  let wantsAny = false;
  /**
   * Walks the candidates. With `forcing`, returns the first forced move (see
   * the main loop) if there is one. Otherwise records what the candidates
   * want: a run of unknown ops must end with a definite op that fails on the
   * value before the run but succeeds on the value the run produces (a read
   * or cas expecting that value, or a failed cas expecting the value before),
   * or go on with an unknown cas expecting it; an unknown op producing
   * nothing wanted is not tried.
   */
  const survey = (chain: number, forcing: boolean): EventNode | null => {
    surveyId++;
    wantsAny = false;
    let e = head.next;
    for (; e !== null && e.isCall; e = e.next) {
      const o = op(e.op);
      const next = step(o.kind, o.a, o.b, state);
      // Inside a run of unknown ops, what counts is the value before the run.
      const onBase = chain === NO_CHAIN ? next : step(o.kind, o.a, o.b, chain);
      if (forcing && (o.kind === READ || o.kind === CAS_FAIL) && next !== -1 && (chain === NO_CHAIN || onBase === -1)) return e;
      if (onBase !== -1) continue;
      if (o.kind === CAS_FAIL) wantsAny = true;
      else wanted[o.a] = surveyId;
    }
    firstReturn = e;
    limit = e === null ? Infinity : op(e.op).ret;
    unknownCount = 0;
    let unknownCas = 0;
    for (let q = 0; q < queues.length; q++) {
      const members = queues[q]!;
      const i = members[queueUsed[q]!];
      if (i === undefined || op(i).inv > limit) continue;
      unknownCandidates[unknownCount++] = i;
      if (op(i).kind === CAS) unknownCas++;
    }
    // An unknown cas wants its expected value if what it produces is wanted
    // (a run can go on through it); to a fixpoint, for runs of several.
    for (let changed = unknownCas > 0 && !wantsAny; changed;) {
      changed = false;
      for (let k = 0; k < unknownCount; k++) {
        const o = op(unknownCandidates[k]!);
        if (o.kind === CAS && wanted[o.b] === surveyId && wanted[o.a] !== surveyId) {
          wanted[o.a] = surveyId;
          changed = true;
        }
      }
    }
    return null;
  };

  // Where the scan of the current configuration is: at `entry` in the event
  // list (definite candidates), or, once past the first return, at `slot` in
  // `unknownCandidates` (unknown ones, tried last so that configurations using
  // fewer of them are explored first, which the cache's covering rule prunes
  // with).
  let entry: EventNode | null = head.next;
  let slot = -1;

  /** Undoes linearized ops up to and including the last unforced one and resumes its configuration's scan after it; false when nothing is left to undo. */
  const backtrack = (): boolean => {
    for (;;) {
      const i = stackOp.pop();
      if (i === undefined) return false;
      const o = op(i);
      state = stackPrev.pop()!;
      stackChain.pop();
      const forced = stackForced.pop()!;
      flip(i);
      if (needsValue(o)) needs[o.a]!++;
      if (producesValue(o)) producers[o.b]!++;
      if (o.optional) {
        queueUsed[queueOf[i]!]!--;
      } else {
        definiteDone--;
        const call = callOf[i]!;
        relink(call.match!);
        relink(call);
      }
      if (forced) continue;
      survey(chainNow(), false);
      if (o.optional) {
        entry = null;
        slot = unknownCandidates.subarray(0, unknownCount).indexOf(i) + 1;
      } else {
        entry = callOf[i]!.next;
        slot = -1;
      }
      return true;
    }
  };
  const fail = (): KeyVerdict => ({ kind: 'fail', reason: explain(best, ops, values, definiteTotal) });
  /** A snapshot of the current configuration, stuck before `blocking` returns, for the explanation. */
  const progress = (blocking: EventNode): Progress => {
    const pending: number[] = [];
    for (let e = head.next; e !== null && e !== blocking; e = e.next) if (e.isCall) pending.push(e.op);
    const recent = stackOp.slice(-4);
    return {
      done: definiteDone,
      state,
      blocking: blocking.op,
      pending,
      unknown: unknownCount,
      recent,
      earlier: stackOp.length - recent.length,
      linearized: bits.slice(),
    };
  };

  let fresh = true;
  for (;;) {
    if ((++iterations & 1023) === 0 && performance.now() - started > timeoutMs) return { kind: 'timeout' };
    if (fresh) {
      // Forced moves. A candidate pure observer (a definite read or failed
      // cas) that succeeds on the current value can be linearized first in
      // some completion if any completion exists: moving it to the front of
      // that completion changes no value it or anyone else sees (it never
      // changes the value, wherever it is), and breaks no real-time order (no
      // pending op returned before it was invoked, or it would not be a
      // candidate). So it is taken without trying alternatives, and if it
      // leads nowhere this configuration leads nowhere. (A write of the value
      // already there is not such an op: moved, it would overwrite something.)
      fresh = false;
      const chain = chainNow();
      const forced = survey(chain, true);
      if (forced === null) {
        entry = head.next;
        slot = -1;
      } else {
        flip(forced.op);
        const unexplored = remember(state);
        flip(forced.op);
        if (unexplored) {
          push(forced.op, state, chain, true);
          if (definiteDone === definiteTotal) return { kind: 'ok' };
          fresh = true;
        } else if (!backtrack()) {
          return fail();
        }
        continue;
      }
    }

    if (slot < 0 && entry !== null && entry.isCall) {
      // A definite candidate.
      const i = entry.op;
      const o = op(i);
      const chain = chainNow();
      const next = step(o.kind, o.a, o.b, state);
      // After a run of unknown ops, only a definite op that needed the run.
      let take = next !== -1 && !strands(o, next) && (chain === NO_CHAIN || step(o.kind, o.a, o.b, chain) === -1) && !dooms(i, next);
      if (take) {
        flip(i);
        take = remember(next);
        flip(i);
      }
      if (take) {
        push(i, next, chain, false);
        if (definiteDone === definiteTotal) return { kind: 'ok' };
        fresh = true;
      } else {
        entry = entry.next;
      }
      continue;
    }
    if (slot < 0) slot = 0; // past the first return: the unknown candidates
    if (slot < unknownCount) {
      // An unknown candidate. Canonical runs of unknown ops: each one changes
      // the value, a blind write/delete only starts a run, and a run starts
      // only towards a wanted value.
      const i = unknownCandidates[slot++]!;
      const o = op(i);
      const chain = chainNow();
      const next = step(o.kind, o.a, o.b, state);
      const take =
        next !== -1 &&
        next !== state &&
        !strands(o, next) &&
        (chain === NO_CHAIN || o.kind !== WRITE) &&
        (wantsAny || wanted[next] === surveyId) &&
        !dooms(i, next);
      if (take) {
        push(i, next, chain, false);
        fresh = true;
      }
      continue;
    }
    // Every candidate of this configuration has been tried: it is a dead end
    // (the definite op returning first cannot be linearized in time), so undo
    // the last choice.
    if (firstReturn !== null && (best === null || definiteDone > best.done)) best = progress(firstReturn);
    if (!backtrack()) return fail();
  }
}

/** Explains the furthest point the search reached: the value then, and why each candidate op could not come next. */
function explain(best: Progress | null, ops: readonly CompiledOp[], values: ValueTable, total: number): string {
  if (best === null) return 'not linearizable';
  const describe = (i: number): string => describeOp(ops[i]!, values);
  const linearized = (i: number): boolean => (best.linearized[i >>> 5]! & (1 << (i & 31))) !== 0;
  const { state } = best;
  // Who still needs the current value, and whether anything left could produce it again.
  const needer = ops.findIndex((o, i) => !linearized(i) && !o.optional && (o.kind === READ || o.kind === CAS) && o.a === state);
  const reproducible = ops.some((o, i) => !linearized(i) && (o.kind === WRITE || o.kind === CAS) && o.b === state);
  const why = (i: number): string => {
    const o = ops[i]!;
    const next = step(o.kind, o.a, o.b, state);
    if (next === -1) return o.kind === CAS_FAIL ? 'its failure needs another value' : `it needs ${showState(o.a, values)}`;
    if (next !== state && needer >= 0 && needer !== i && !reproducible)
      return `it would overwrite the value that ${describe(needer)} still needs, and nothing left produces it again`;
    return 'every order continuing with it fails later';
  };
  const definite = best.pending.filter((i) => i !== best.blocking);
  const { unknown } = best;
  const recent = best.recent.length === 0 ? 'nothing yet' : `${best.earlier > 0 ? `${best.earlier} more, then ` : ''}${best.recent.map(describe).join(', ')}`;
  const candidates = [best.blocking, ...definite].map((i) => `${describe(i)}: ${why(i)}`);
  return (
    `not linearizable: no order of the operations works; the furthest the search got was ${best.done} of ${total} definite operations ` +
    `(ending: ${recent}; value then ${showState(state, values)}). ` +
    `Next, ${describe(best.blocking)} must take effect before it returned, but no operation that could come next fits: ` +
    `${candidates.join('; ')}${unknown > 0 ? `; (and ${unknown} operations of unknown outcome, none of which helps)` : ''}`
  );
}

function describeOp(op: CompiledOp, values: ValueTable): string {
  const { entry } = op;
  const status = entry.outcome.status;
  let what: string;
  switch (entry.op.kind) {
    case 'write':
      what = `write ${showValue(entry.op.value)}`;
      break;
    case 'delete':
      what = 'delete';
      break;
    case 'read':
      what = `read → ${showValue(values.name(op.a))}`;
      break;
    case 'cas':
      what = `cas ${showValue(entry.op.expected)} → ${showValue(entry.op.value)} ${status === 'ok' ? 'ok' : status === 'fail' ? 'failed' : ''}`.trimEnd();
      break;
  }
  const returned = Number.isFinite(entry.returnedAt) && status !== 'unknown' ? entry.returnedAt.toFixed(3) : '∞';
  return `#${entry.id} (client ${entry.client}, ${what}${status === 'unknown' ? ', outcome unknown' : ''}, [${entry.invokedAt.toFixed(3)}, ${returned}])`;
}

function showState(state: number, values: ValueTable): string {
  return state === OTHER ? 'some value that no operation reads or expects' : showValue(values.name(state));
}

function showValue(value: string | null): string {
  return value === null ? 'absent' : JSON.stringify(value);
}
