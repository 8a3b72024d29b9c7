/**
 * `node dist/bench/write-pieces.js`: what each piece of a durable write costs,
 * measured alone (docs/adr/0013-durable-write-path.md keeps the figures).
 *
 * - Main-thread pieces, in ns per write (median of rounds, each a tight
 *   loop): record encoding, the change-log entry's msgpack encoding, the
 *   txn planner against the plain put, the read-back of a revision from the
 *   log (what publishing from memory saves), a promise per write, the
 *   metrics a write feeds.
 * - The databases a write touches, in CPU µs per write (process CPU, every
 *   thread: lmdb-js's writer thread and the kernel's share of the sync
 *   included): batches of 16 fresh 100-byte records through lmdb-js, as
 *   group commit queues them, to `kv` alone, `kv` + `log`, and `kv` + `log`
 *   + `meta`, in interleaved rounds.
 *
 * Run it pinned to one core, as the server runs (`taskset -c 0`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry } from '../src/core/types.js';
import { planTxn } from '../src/engine/txn-plan.js';
import { encodeRecord, encodeRecordFields } from '../src/engine/lmdb/record-codec.js';
import { batchSequenceBytes, META_BATCH, META_REVISION, openStores, type StoredEvent, type Stores } from '../src/engine/lmdb/stores.js';
import { Histogram } from '../src/http/metrics/registry.js';
import { median } from './lib.js';

const ROUNDS = 7;
const VALUE = Buffer.alloc(100, 'v');
const CONTENT_TYPE = 'application/octet-stream';

/** ns per call of `body`, median of ROUNDS rounds of `iterations` calls. */
function nsPerCall(iterations: number, body: (i: number) => unknown): number {
  const rounds: number[] = [];
  let sink: unknown;
  for (let round = 0; round < ROUNDS + 1; round++) {
    const startedAt = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink = body(i);
    const ns = Number(process.hrtime.bigint() - startedAt) / iterations;
    if (round > 0) rounds.push(ns); // the first round warms the JIT up
  }
  if (sink === Symbol.for('never')) process.stdout.write('');
  return median(rounds);
}

function mainThreadPieces(stores: Stores): Array<[string, number]> {
  const entry: Entry = { key: 'put/1234-5678', value: VALUE, contentType: CONTENT_TYPE, createRevision: 1000, revision: 1000, version: 1, expiresAtMs: null };
  const event: StoredEvent = { t: 'p', k: entry.key, c: 1000, v: 1, ct: CONTENT_TYPE, x: 0, d: VALUE };
  const logEncoder = (stores.log as unknown as { encoder: { encode(value: unknown): Buffer } }).encoder;
  const encodedEvents = Buffer.from(logEncoder.encode([event]));
  const logDecoder = (stores.log as unknown as { decoder: { decode(bytes: Buffer): unknown } }).decoder;
  const view = { read: () => null };
  const request = { compares: [], ops: [{ op: 'put' as const, key: entry.key, value: VALUE, contentType: CONTENT_TYPE, ttlMs: null }] };
  const histogram = new Histogram('h', 'h', ['method', 'route'], [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  const observe = histogram.observer(['PUT', '/v1/kv/*']);
  return [
    ['record encoding, before (Buffer.from content type, entry object)', nsPerCall(200_000, () => encodeRecord(entry))],
    ['record encoding, now (encodeRecordFields)', nsPerCall(200_000, () => encodeRecordFields(1000, 1000, 1, null, CONTENT_TYPE, VALUE))],
    ['change-log entry, msgpack encode (one put event, 100-byte value)', nsPerCall(200_000, () => logEncoder.encode([event]))],
    ['change-log entry, msgpack decode (the read-back publishing from memory saves)', nsPerCall(200_000, () => logDecoder.decode(encodedEvents))],
    [
      'txn planner for one put (planTxn + results)',
      nsPerCall(200_000, () => {
        const plan = planTxn(request, view, 0);
        return plan.succeeded ? plan.results(1) : plan;
      }),
    ],
    ['a promise per write (new Promise, resolve, then)', nsPerCall(200_000, () => new Promise<number>((resolve) => resolve(1)).then((value) => value))],
    ['request metrics (a counter and a duration histogram)', nsPerCall(1_000_000, (i) => observe((i % 100) / 10_000))],
  ];
}

/** CPU µs per write of batches of 16 fresh records into the given databases, median of interleaved rounds. */
async function databasesTouched(stores: Stores): Promise<Array<[string, number]>> {
  const variants: Array<[string, (i: number, batch: number) => void]> = [
    ['kv only', (i) => void stores.kv.put(Buffer.from(`k/${i}`), VALUE)],
    [
      'kv + log',
      (i) => {
        void stores.kv.put(Buffer.from(`k/${i}`), VALUE);
        void stores.log.put(i, [{ t: 'p', k: `k/${i}`, c: i, v: 1, ct: CONTENT_TYPE, x: 0, d: VALUE }]);
      },
    ],
  ];
  const results = new Map<string, number[]>();
  const BATCHES = 300;
  const PER_BATCH = 16;
  let next = 1;
  let sequence = 0;
  const run = async (name: string, write: (i: number, batch: number) => void, withMeta: boolean) => {
    const cpuBefore = process.cpuUsage();
    for (let batch = 0; batch < BATCHES; batch++) {
      await stores.root.batch(() => {
        for (let j = 0; j < PER_BATCH; j++) write(next++, batch);
        if (withMeta) {
          const revision = Buffer.allocUnsafe(8);
          revision.writeDoubleBE(next, 0);
          void stores.meta.put(META_REVISION, revision);
          void stores.meta.put(META_BATCH, batchSequenceBytes(++sequence));
        }
      });
      await stores.root.flushed;
    }
    const cpu = process.cpuUsage(cpuBefore);
    const perWrite = (cpu.user + cpu.system) / (BATCHES * PER_BATCH);
    results.set(name, [...(results.get(name) ?? []), perWrite]);
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, write] of variants) await run(name, write, false);
    await run('kv + log + meta (what a batch writes)', variants[1]![1], true);
  }
  return [...results].map(([name, values]) => [name, median(values)]);
}

const directory = mkdtempSync(join(tmpdir(), 'kvs-write-pieces-'));
try {
  const stores = openStores(join(directory, 'kvs.mdb'));
  const lines = ['| piece | cost |', '|---|---:|'];
  for (const [name, ns] of mainThreadPieces(stores)) lines.push(`| ${name} | ${(ns / 1000).toFixed(2)} µs |`);
  for (const [name, us] of await databasesTouched(stores)) lines.push(`| batches of 16 through lmdb-js, synced: ${name} | ${us.toFixed(1)} µs CPU per write |`);
  await stores.root.close();
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  rmSync(directory, { recursive: true, force: true });
}
