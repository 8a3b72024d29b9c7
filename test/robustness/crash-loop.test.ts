import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeKey } from '../helpers/http.js';
import { leftoversCleanedAfter, sleep, type ServerProcess } from '../helpers/server.js';
import { deadlineAfter, isLongRun, robustnessSeconds } from './lib/budget.js';
import { reportFigures } from './lib/report.js';

/**
 * The crash loop: one data directory, a real `kvs serve` process under
 * concurrent load, SIGKILL to its process group at a random moment, a restart
 * on the same data, and a check of everything the clients were told (API.md §9:
 * a 2xx for a write means it survives kill -9):
 *
 * - sequence keys: each key has a single writer that writes increasing
 *   sequence numbers, so after the restart the value must come from a write at
 *   or after the last acknowledged one and at or before the last attempted one;
 * - CAS keys: several clients update by read-then-If-Match; every value names
 *   the value it replaced, so the value after the restart must lead back, write
 *   by write, to "absent" through values that were really sent, passing every
 *   acknowledged one (a lost acknowledged CAS, or a CAS applied against the
 *   wrong revision, breaks that chain);
 * - counters (`op=add`, positive steps): the value lies between the sum of
 *   acknowledged increments and the sum of attempted ones;
 * - transactions: one txn puts the same token into two keys and adds 1 to a
 *   third; after the restart both keys hold the same token (never one txn's
 *   token next to another's, never one key without the other), the token is
 *   within [last acknowledged, last attempted], and the count equals the
 *   number of txns that applied — a torn txn cannot satisfy all three;
 * - nothing else: every key the store lists is one the clients wrote, and
 *   every value read is one that was sent.
 *
 * CI runs 20 cycles with load windows of 100–600 ms (every fifth under
 * 100 ms, to kill it just after a recovery); a long run
 * (npm run test:robustness) keeps cycling until its share of the time is up.
 */

const MIN_CYCLES = 20;
const SEQ_WRITERS = 4;
const SEQ_KEYS_PER_WRITER = 6;
const CAS_KEYS = 2;
const CAS_CLIENTS_PER_KEY = 2;
const COUNTER_KEYS = 3;
const COUNTER_CLIENTS = 2;
const TXN_PAIRS = 2;
const REQUEST_TIMEOUT_MS = 10_000;

const leftovers = leftoversCleanedAfter('kvs-crash-loop-');
const start = (directory: string): Promise<ServerProcess> => leftovers.spawn({ DATA_DIRECTORY: directory, LOG_LEVEL: 'warn' });

// ---------------------------------------------------------------------------
// What the clients sent and were told, kept across cycles.

interface SeqKey {
  key: string;
  writer: number;
  /** Highest acknowledged sequence number (0: none). */
  acked: number;
  /** Highest attempted sequence number (0: none). */
  attempted: number;
  values: Set<string>;
}

interface CasKey {
  key: string;
  /** Every value sent by a CAS, with the value it was meant to replace (null: absent). */
  predecessor: Map<string, string | null>;
  acked: Set<string>;
}

interface CounterKey {
  key: string;
  acked: number;
  attempted: number;
}

interface TxnPair {
  index: number;
  keys: { a: string; b: string; count: string };
  ackedSeq: number;
  attemptedSeq: number;
  /** Txns known to have applied (acknowledged, or seen after a restart), up to the last check. */
  applied: number;
  ackedThisCycle: number;
  /** The txn whose answer never came in this cycle (the writer stops at the first one). */
  inFlight: number | null;
}

class Model {
  readonly seqKeys: SeqKey[][] = [];
  readonly seqNext: number[] = [];
  readonly casKeys: CasKey[] = [];
  readonly counters: CounterKey[] = [];
  readonly pairs: TxnPair[] = [];
  casNext = 0;
  /** The highest revision any acknowledged write was given: the store's revision never goes below it. */
  maxAckedRevision = 0;
  figures = { acknowledgedWrites: 0, attemptedWrites: 0, casConflicts: 0, acknowledgedTxns: 0, counterIncrements: 0, unknownAtKill: 0 };

  constructor() {
    for (let w = 0; w < SEQ_WRITERS; w++) {
      this.seqNext.push(1);
      this.seqKeys.push(
        Array.from({ length: SEQ_KEYS_PER_WRITER }, (_, j) => ({ key: `seq/${w}/${j}`, writer: w, acked: 0, attempted: 0, values: new Set<string>() })),
      );
    }
    for (let k = 0; k < CAS_KEYS; k++) this.casKeys.push({ key: `cas/${k}`, predecessor: new Map(), acked: new Set() });
    for (let k = 0; k < COUNTER_KEYS; k++) this.counters.push({ key: `ctr/${k}`, acked: 0, attempted: 0 });
    for (let p = 0; p < TXN_PAIRS; p++) {
      this.pairs.push({
        index: p,
        keys: { a: `txn/${p}/a`, b: `txn/${p}/b`, count: `txn/${p}/count` },
        ackedSeq: 0,
        attemptedSeq: 0,
        applied: 0,
        ackedThisCycle: 0,
        inFlight: null,
      });
    }
  }

  allKeys(): Set<string> {
    const keys = new Set<string>();
    for (const writer of this.seqKeys) for (const entry of writer) keys.add(entry.key);
    for (const entry of this.casKeys) keys.add(entry.key);
    for (const entry of this.counters) keys.add(entry.key);
    for (const pair of this.pairs) for (const key of Object.values(pair.keys)) keys.add(key);
    return keys;
  }
}

// ---------------------------------------------------------------------------
// The load of one cycle.

interface Load {
  /** Set just before the kill: a request failing after it is expected, before it a finding. */
  killed: boolean;
  stop: boolean;
  /** Unexpected answers and failures while the server was up. */
  problems: string[];
  done: Promise<unknown>;
}

type Answer = { status: number; text: string; etag: string | null };

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await response.text();
  return { status: response.status, text, etag: response.headers.get('etag') };
}

function runLoad(base: string, model: Model): Load {
  const load: Load = { killed: false, stop: false, problems: [], done: Promise.resolve() };
  const kv = (key: string) => `${base}/v1/kv/${encodeKey(key)}`;

  /** Runs one request; null means it failed (network error or timeout) and the client stops for this cycle. */
  const attempt = async (what: string, url: string, init: RequestInit = {}): Promise<Answer | null> => {
    try {
      return await call(url, init);
    } catch (error) {
      if (!load.killed) load.problems.push(`${what} failed while the server was up: ${String((error as Error).cause ?? error)}`);
      return null;
    }
  };
  const acknowledged = (what: string, answer: Answer) => {
    let revision: unknown;
    try {
      revision = (JSON.parse(answer.text) as { revision?: unknown }).revision;
    } catch {
      revision = undefined;
    }
    if (typeof revision !== 'number') load.problems.push(`${what}: ${answer.status} without a revision: ${answer.text.slice(0, 200)}`);
    else model.maxAckedRevision = Math.max(model.maxAckedRevision, revision);
  };
  const unexpected = (what: string, answer: Answer) => {
    load.problems.push(`${what}: unexpected ${answer.status} ${answer.text.slice(0, 200)}`);
  };

  const seqWriter = async (w: number) => {
    while (!load.stop) {
      const n = model.seqNext[w]!++;
      const entry = model.seqKeys[w]![n % SEQ_KEYS_PER_WRITER]!;
      const value = `s${w}-${n}`;
      entry.values.add(value);
      entry.attempted = n;
      model.figures.attemptedWrites++;
      const answer = await attempt(`PUT ${entry.key}`, kv(entry.key), { method: 'PUT', body: value, headers: { 'content-type': 'text/plain' } });
      if (answer === null) return void model.figures.unknownAtKill++;
      if (answer.status !== 200 && answer.status !== 201) return unexpected(`PUT ${entry.key}`, answer);
      acknowledged(`PUT ${entry.key}`, answer);
      entry.acked = n;
      model.figures.acknowledgedWrites++;
    }
  };

  const casClient = async (entry: CasKey) => {
    while (!load.stop) {
      const read = await attempt(`GET ${entry.key}`, kv(entry.key));
      if (read === null) return;
      if (read.status !== 200 && read.status !== 404) return unexpected(`GET ${entry.key}`, read);
      const current = read.status === 200 ? read.text : null;
      if (current !== null && !entry.predecessor.has(current))
        load.problems.push(`GET ${entry.key} returned ${JSON.stringify(current)}, a value never written`);
      const value = `x${model.casNext++}`;
      entry.predecessor.set(value, current);
      model.figures.attemptedWrites++;
      const condition: Record<string, string> = current === null ? { 'if-none-match': '*' } : { 'if-match': read.etag ?? '"missing-etag"' };
      const answer = await attempt(`CAS ${entry.key}`, kv(entry.key), { method: 'PUT', body: value, headers: { 'content-type': 'text/plain', ...condition } });
      if (answer === null) return void model.figures.unknownAtKill++;
      if (answer.status === 412) {
        model.figures.casConflicts++;
        continue;
      }
      if (answer.status !== 200 && answer.status !== 201) return unexpected(`CAS ${entry.key}`, answer);
      acknowledged(`CAS ${entry.key}`, answer);
      entry.acked.add(value);
      model.figures.acknowledgedWrites++;
    }
  };

  const counterClient = async () => {
    while (!load.stop) {
      const entry = model.counters[Math.floor(Math.random() * COUNTER_KEYS)]!;
      const by = 1 + Math.floor(Math.random() * 5);
      entry.attempted += by;
      model.figures.attemptedWrites++;
      const answer = await attempt(`add ${entry.key}`, `${kv(entry.key)}?op=add&by=${by}`, { method: 'POST' });
      if (answer === null) return void model.figures.unknownAtKill++;
      if (answer.status !== 200) return unexpected(`add ${entry.key}`, answer);
      acknowledged(`add ${entry.key}`, answer);
      entry.acked += by;
      model.figures.acknowledgedWrites++;
      model.figures.counterIncrements++;
    }
  };

  const txnWriter = async (pair: TxnPair) => {
    pair.ackedThisCycle = 0;
    pair.inFlight = null;
    while (!load.stop) {
      const seq = ++pair.attemptedSeq;
      const token = `t${pair.index}-${seq}`;
      const body = {
        ops: [
          { op: 'put', key: pair.keys.a, value: token, encoding: 'utf8' },
          { op: 'put', key: pair.keys.b, value: token, encoding: 'utf8' },
          { op: 'add', key: pair.keys.count, by: 1 },
        ],
      };
      model.figures.attemptedWrites++;
      pair.inFlight = seq;
      const answer = await attempt(`txn ${pair.index}`, `${base}/v1/txn`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (answer === null) return void model.figures.unknownAtKill++;
      if (answer.status !== 200) return unexpected(`txn ${pair.index}`, answer);
      acknowledged(`txn ${pair.index}`, answer);
      pair.inFlight = null;
      pair.ackedSeq = seq;
      pair.ackedThisCycle++;
      model.figures.acknowledgedWrites++;
      model.figures.acknowledgedTxns++;
    }
  };

  const loops: Promise<unknown>[] = [];
  for (let w = 0; w < SEQ_WRITERS; w++) loops.push(seqWriter(w));
  for (const entry of model.casKeys) for (let c = 0; c < CAS_CLIENTS_PER_KEY; c++) loops.push(casClient(entry));
  for (let c = 0; c < COUNTER_CLIENTS; c++) loops.push(counterClient());
  for (const pair of model.pairs) loops.push(txnWriter(pair));
  load.done = Promise.all(loops);
  return load;
}

// ---------------------------------------------------------------------------
// The check after a restart.

/** Reads every key (GET, and the listing), and returns what is wrong. */
async function verify(base: string, model: Model): Promise<string[]> {
  const findings: string[] = [];
  const read = async (key: string): Promise<string | null> => {
    const answer = await call(`${base}/v1/kv/${encodeKey(key)}`);
    if (answer.status === 404) return null;
    if (answer.status !== 200) throw new Error(`GET ${key} after the restart: ${answer.status} ${answer.text}`);
    return answer.text;
  };

  const known = model.allKeys();
  const listed = new Map<string, string>();
  const list = await call(`${base}/v1/kv?values=true&limit=1000`);
  assert.equal(list.status, 200, `the listing after the restart: ${list.text}`);
  const page = JSON.parse(list.text) as {
    items: { key: string; value: unknown; encoding: string; revision: number }[];
    cursor: string | null;
    revision: number;
  };
  assert.equal(page.cursor, null, 'every key fits one page');
  if (page.revision < model.maxAckedRevision)
    findings.push(`the store is at revision ${page.revision}, below ${model.maxAckedRevision}, given to an acknowledged write`);
  for (const item of page.items) {
    if (!known.has(item.key)) findings.push(`the store lists ${JSON.stringify(item.key)}, a key never written`);
    if (item.revision > page.revision) findings.push(`${item.key} has revision ${item.revision}, above the store's ${page.revision}`);
    listed.set(item.key, item.encoding === 'json' ? JSON.stringify(item.value) : String(item.value));
  }
  const values = new Map<string, string | null>();
  for (const key of known) {
    const value = await read(key);
    values.set(key, value);
    const inList = listed.get(key) ?? null;
    if (inList !== value) findings.push(`${key}: GET gives ${JSON.stringify(value)} but the listing ${JSON.stringify(inList)}`);
  }

  for (const writer of model.seqKeys) {
    for (const entry of writer) {
      const value = values.get(entry.key) ?? null;
      if (value === null) {
        if (entry.acked > 0) findings.push(`${entry.key}: absent, but s${entry.writer}-${entry.acked} was acknowledged`);
        continue;
      }
      const seq = Number(/^s\d+-(\d+)$/.exec(value)?.[1] ?? Number.NaN);
      if (!entry.values.has(value)) findings.push(`${entry.key}: ${JSON.stringify(value)} was never written to it`);
      else if (seq < entry.acked) findings.push(`${entry.key}: holds ${value}, older than the acknowledged s${entry.writer}-${entry.acked} (lost write)`);
      else if (seq > entry.attempted) findings.push(`${entry.key}: holds ${value}, newer than any attempted write`);
    }
  }

  for (const entry of model.casKeys) {
    const value = values.get(entry.key) ?? null;
    const chain = new Set<string>();
    let broken = false;
    for (let current = value; current !== null;) {
      if (!entry.predecessor.has(current) || chain.has(current)) {
        findings.push(`${entry.key}: holds ${JSON.stringify(value)}, whose chain of CAS reaches ${JSON.stringify(current)}, a value never written there`);
        broken = true;
        break;
      }
      chain.add(current);
      current = entry.predecessor.get(current)!;
    }
    if (broken) continue;
    const lost = [...entry.acked].filter((acked) => !chain.has(acked));
    if (lost.length > 0)
      findings.push(
        `${entry.key}: holds ${JSON.stringify(value)}, but acknowledged CAS writes are not in its history: ${lost.slice(0, 5).join(', ')}${lost.length > 5 ? ` (+${lost.length - 5})` : ''}`,
      );
  }

  for (const entry of model.counters) {
    const text = values.get(entry.key) ?? null;
    const value = text === null ? 0 : Number(text);
    if (!Number.isSafeInteger(value)) findings.push(`${entry.key}: ${JSON.stringify(text)} is not a counter`);
    else if (value < entry.acked) findings.push(`${entry.key}: ${value} < ${entry.acked} acknowledged (lost increments)`);
    else if (value > entry.attempted) findings.push(`${entry.key}: ${value} > ${entry.attempted} attempted (increments never sent)`);
  }

  for (const pair of model.pairs) {
    const a = values.get(pair.keys.a) ?? null;
    const b = values.get(pair.keys.b) ?? null;
    const countText = values.get(pair.keys.count) ?? null;
    const count = countText === null ? 0 : Number(countText);
    if (a !== b) {
      findings.push(`txn pair ${pair.index} is torn: a=${JSON.stringify(a)} b=${JSON.stringify(b)} count=${countText}`);
      continue;
    }
    const seq = a === null ? 0 : Number(/^t\d+-(\d+)$/.exec(a)?.[1] ?? Number.NaN);
    if (a !== null && (!a.startsWith(`t${pair.index}-`) || !(seq >= 1 && seq <= pair.attemptedSeq))) {
      findings.push(`txn pair ${pair.index}: holds ${JSON.stringify(a)}, never written`);
      continue;
    }
    let appliedNow: number;
    if (seq === pair.ackedSeq) appliedNow = pair.applied + pair.ackedThisCycle;
    else if (pair.inFlight !== null && seq === pair.inFlight) appliedNow = pair.applied + pair.ackedThisCycle + 1;
    else {
      findings.push(
        `txn pair ${pair.index}: holds token ${seq}, but the last acknowledged is ${pair.ackedSeq} and the one in flight ${pair.inFlight}${seq < pair.ackedSeq ? ' (lost txn)' : ''}`,
      );
      continue;
    }
    if (count !== appliedNow) findings.push(`txn pair ${pair.index} is torn: its token says ${appliedNow} txns applied, its count says ${countText}`);
    // What the restarted server shows is the new baseline.
    pair.applied = appliedNow;
    pair.ackedSeq = seq;
    pair.ackedThisCycle = 0;
    pair.inFlight = null;
  }
  return findings;
}

describe('crash loop: kill -9 under load, restart on the same data, verify', () => {
  it(
    `keeps every acknowledged write, invents none and tears no txn, over ${MIN_CYCLES}+ kill -9 cycles`,
    { timeout: ((robustnessSeconds() ?? 0) + 240) * 1000 },
    async (t) => {
      const startedAt = Date.now();
      const deadline = deadlineAfter(0);
      const directory = leftovers.directory();
      const model = new Model();
      let server = await start(directory);
      let cycles = 0;
      let previousRevision = 0;
      try {
        while (cycles < MIN_CYCLES || (isLongRun() && Date.now() < deadline)) {
          let running = true;
          void server.exited.then(() => (running = false));
          const load = runLoad(server.url, model);
          // 100–600 ms of load; every fifth cycle dies sooner, right after the restart and its check.
          await sleep(cycles % 5 === 4 ? Math.floor(Math.random() * 100) : 100 + Math.floor(Math.random() * 500));
          assert.ok(running, `the server exited by itself before the kill:\n${server.output().slice(-3000)}`);
          load.killed = true;
          server.kill('SIGKILL');
          const exit = await server.exited;
          assert.equal(exit.signal, 'SIGKILL', `the server was ended by the kill (exit ${JSON.stringify(exit)})`);
          load.stop = true;
          await load.done;
          cycles++;
          assert.deepEqual(load.problems, [], `cycle ${cycles}: unexpected answers while the server was up:\n${server.output().slice(-3000)}`);

          server = await start(directory);
          const findings = await verify(server.url, model);
          assert.deepEqual(findings, [], `cycle ${cycles}: after kill -9 and restart (data in ${directory})`);
          const status = await call(`${server.url}/v1/status`);
          const revision = (JSON.parse(status.text) as { revision: number }).revision;
          assert.ok(revision >= previousRevision, `cycle ${cycles}: the store revision went back from ${previousRevision} to ${revision}`);
          previousRevision = revision;
        }
        assert.ok(
          model.figures.acknowledgedWrites > cycles * 5,
          `the load got going: ${model.figures.acknowledgedWrites} writes acknowledged in ${cycles} cycles`,
        );
        assert.ok(model.figures.acknowledgedTxns > 0 && model.figures.counterIncrements > 0, 'txns and counters were acknowledged');
      } finally {
        server.kill('SIGKILL');
        await server.exited;
      }
      const figures = {
        cycles,
        ...model.figures,
        maxAckedRevision: model.maxAckedRevision,
        finalRevision: previousRevision,
        durationSeconds: Math.round((Date.now() - startedAt) / 100) / 10,
      };
      reportFigures('crash-loop', figures);
      t.diagnostic(`crash-loop: ${JSON.stringify(figures)}`);
    },
  );
});
