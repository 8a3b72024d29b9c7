import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { leftoversCleanedAfter, sleep, TEST_ENGINE, type ServerProcess } from '../helpers/server.js';
import { etcdInstalled } from '../helpers/etcd-cluster.js';
import { SimulatedHosts, type Links } from '../helpers/simulated-hosts.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { deadlineAfter, isLongRun, robustnessSeconds } from './lib/budget.js';
import { ClientIds, HistoryRecorder, kvCalls, uniqueValue } from './lib/history.js';
import { checkLinearizable, type CheckResult, type HistoryEntry } from './lib/linearizability.js';
import { reportFigures } from './lib/report.js';

/**
 * Linearizability (API.md §9: reads see every write acknowledged before they
 * started) through kill -9: 8 clients read, write, delete and CAS (read, then
 * If-Match / If-None-Match: *) 3 hot keys of a real `kvs serve` process, which
 * is killed with SIGKILL and restarted on the same data several times while
 * they run. Operations in flight at a kill end unknown (they may or may not
 * have applied); their clients wait for the restart and carry on under a new
 * client id. The whole history, across the crashes, must be linearizable.
 *
 * The self-check runs the same recorder and checker against small in-process
 * servers: one correct (its history must pass) and one that answers reads from
 * a stale cache (its history must be rejected).
 */

const CLIENTS = 8;
const KEYS_PER_HISTORY = 3;
const MIN_CRASHES = 5;
const MIN_OPERATIONS = 3_000;
/** In CI: at most this long recording one history (the crash minimum still applies). */
const CI_RECORD_MS = 25_000;
const CHECK_TIMEOUT_MS = 60_000;

const leftovers = leftoversCleanedAfter('kvs-linearizability-');
const start = (directory: string): Promise<ServerProcess> => leftovers.spawn({ DATA_DIRECTORY: directory, LOG_LEVEL: 'warn' });

/** Where the clients send requests: null while the server is down; they wait for the restart. */
class Target {
  private current: string | null;
  private waiters: (() => void)[] = [];

  constructor(url: string) {
    this.current = url;
  }

  get isDown(): boolean {
    return this.current === null;
  }

  down(): void {
    this.current = null;
  }

  up(url: string): void {
    this.current = url;
    for (const wake of this.waiters.splice(0)) wake();
  }

  async url(): Promise<string> {
    while (this.current === null) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.current;
  }
}

interface Workload {
  stop: boolean;
  done: Promise<unknown>;
}

/**
 * CLIENTS concurrent clients doing a random mix on `keys`: 35% read, 25%
 * write, 10% delete, 25% CAS (read then If-Match), 5% create-only.
 */
function runClients(target: Pick<Target, 'isDown' | 'url'>, recorder: HistoryRecorder, keys: readonly string[]): Workload {
  const workload: Workload = { stop: false, done: Promise.resolve() };
  const ids = new ClientIds();
  const loop = async () => {
    let client = ids.take();
    let n = 0;
    while (!workload.stop) {
      const base = await target.url();
      if (workload.stop) break;
      const key = keys[Math.floor(Math.random() * keys.length)]!;
      const dice = Math.random();
      let unknown: boolean;
      if (dice < 0.35) {
        unknown = (await recorder.record(client, { kind: 'read', key }, (signal) => kvCalls.read(base, key, signal))).entry.outcome.status === 'unknown';
      } else if (dice < 0.6) {
        const value = uniqueValue(client, n++);
        unknown =
          (await recorder.record(client, { kind: 'write', key, value }, (signal) => kvCalls.write(base, key, value, signal))).entry.outcome.status ===
          'unknown';
      } else if (dice < 0.7) {
        unknown = (await recorder.record(client, { kind: 'delete', key }, (signal) => kvCalls.delete(base, key, signal))).entry.outcome.status === 'unknown';
      } else if (dice < 0.95) {
        // CAS by revision: read value and ETag, then write If-Match that ETag (history.ts explains why this is a value CAS).
        const read = await recorder.record(client, { kind: 'read', key }, (signal) => kvCalls.read(base, key, signal));
        unknown = read.entry.outcome.status === 'unknown';
        if (!unknown && read.entry.outcome.status === 'ok') {
          const expected = read.entry.outcome.value ?? null;
          const etag = read.http?.etag ?? null;
          const value = uniqueValue(client, n++);
          if (expected !== null && etag === null) recorder.unexpected.push(`GET ${key} gave 200 without an ETag`);
          const conditions = expected === null ? { ifNoneMatch: '*' } : { ifMatch: etag ?? '"0"' };
          const cas = await recorder.record(client, { kind: 'cas', key, expected, value }, (signal) => kvCalls.write(base, key, value, signal, conditions));
          unknown = cas.entry.outcome.status === 'unknown';
        }
      } else {
        const value = uniqueValue(client, n++);
        unknown =
          (
            await recorder.record(client, { kind: 'cas', key, expected: null, value }, (signal) =>
              kvCalls.write(base, key, value, signal, { ifNoneMatch: '*' }),
            )
          ).entry.outcome.status === 'unknown';
      }
      if (unknown) {
        // This client's operation stays pending forever in the history: carry on as a new client.
        client = ids.take();
        n = 0;
        // Not a crash (a 5xx or a timeout while the server is up): do not hammer it.
        if (!target.isDown) await sleep(20);
      }
    }
  };
  workload.done = Promise.all(Array.from({ length: CLIENTS }, loop));
  return workload;
}

function describeFailure(result: CheckResult): string {
  if (result.ok === true) return 'ok';
  if (result.ok === 'timeout') return `the checker timed out on key ${result.key} (${result.operations} operations)`;
  // The operations around the ones the reason names (by #id), in invocation order.
  const named = new Set([...result.reason.matchAll(/#(\d+)/g)].map((match) => Number(match[1])));
  const around = result.operations.filter((entry) => named.has(entry.id));
  const from = Math.min(...around.map((entry) => entry.invokedAt)) - 50;
  const to = Math.max(...around.map((entry) => (entry.returnedAt === Infinity ? entry.invokedAt : entry.returnedAt))) + 50;
  const window = around.length === 0 ? result.operations.slice(-60) : result.operations.filter((entry) => entry.invokedAt <= to && entry.returnedAt >= from);
  const lines = [...window]
    .sort((a, b) => a.invokedAt - b.invokedAt)
    .slice(0, 120)
    .map(
      (entry) =>
        `  #${entry.id} c${entry.client} [${entry.invokedAt.toFixed(1)}, ${entry.returnedAt === Infinity ? '∞' : entry.returnedAt.toFixed(1)}] ${JSON.stringify(entry.op)} → ${JSON.stringify(entry.outcome)}`,
    );
  return `not linearizable on key ${result.key}: ${result.reason}\n${lines.join('\n')}`;
}

function initialAbsent(keys: readonly string[]): Map<string, string | null> {
  return new Map(keys.map((key) => [key, null]));
}

describe('linearizability of single-key operations through kill -9', () => {
  it(`records histories across ${MIN_CRASHES}+ kill -9 restarts that are linearizable`, { timeout: ((robustnessSeconds() ?? 0) + 300) * 1000 }, async (t) => {
    const startedAt = Date.now();
    const deadline = deadlineAfter(0);
    const directory = leftovers.directory();
    let server = await start(directory);
    const figures = { histories: 0, operations: 0, crashes: 0, unknown: 0, checkMs: 0 };
    try {
      do {
        const keys = Array.from({ length: KEYS_PER_HISTORY }, (_, k) => `lin/h${figures.histories}/k${k}`);
        const recorder = new HistoryRecorder({ timeoutMs: 5_000 });
        const target = new Target(server.url);
        const workload = runClients(target, recorder, keys);
        const recordUntil = Date.now() + CI_RECORD_MS;
        let crashes = 0;
        try {
          while (crashes < MIN_CRASHES || (recorder.entries.length < MIN_OPERATIONS && Date.now() < recordUntil)) {
            await sleep(800 + Math.floor(Math.random() * 1000));
            target.down();
            server.kill('SIGKILL');
            const exit = await server.exited;
            assert.equal(exit.signal, 'SIGKILL', `the server was ended by the kill, not before it (${JSON.stringify(exit)}):\n${server.output().slice(-3000)}`);
            crashes++;
            server = await start(directory);
            target.up(server.url);
          }
          // A last stretch after the final restart, so that the recovered state is read and written.
          await sleep(500);
        } finally {
          workload.stop = true;
          target.up(server.url);
          await workload.done;
        }
        assert.deepEqual(recorder.unexpected, [], 'answers the API does not give for these operations');
        const history = recorder.entries;
        const checkStartedAt = Date.now();
        const result = checkLinearizable(history, { initial: initialAbsent(keys), timeoutMs: CHECK_TIMEOUT_MS });
        figures.checkMs += Date.now() - checkStartedAt;
        assert.equal(result.ok, true, describeFailure(result));
        figures.histories++;
        figures.operations += history.length;
        figures.crashes += crashes;
        figures.unknown += recorder.unknownCount;
        const acknowledgedWrites = history.filter((entry) => entry.op.kind !== 'read' && entry.outcome.status === 'ok').length;
        assert.ok(acknowledgedWrites > 100, `the clients got going: ${acknowledgedWrites} writes acknowledged in ${history.length} operations`);
      } while (isLongRun() && Date.now() < deadline);
    } finally {
      server.kill('SIGKILL');
      await server.exited;
    }
    assert.ok(figures.crashes >= MIN_CRASHES && figures.operations >= 1_000, `enough was checked: ${JSON.stringify(figures)}`);
    const report = { ...figures, durationSeconds: Math.round((Date.now() - startedAt) / 100) / 10 };
    reportFigures('linearizability', report);
    t.diagnostic(`linearizability: ${JSON.stringify(report)}`);
  });
});

// ---------------------------------------------------------------------------
// Two kvs nodes on etcd, reads answered by each node's replica after its
// barrier (docs/adr/0011-replica-reads.md), on three simulated hosts.

/** Both nodes: each operation goes to either, at random (a CAS's read and write may go to different nodes). */
class EitherNode {
  readonly isDown = false;
  constructor(private readonly urls: readonly string[]) {}
  async url(): Promise<string> {
    return this.urls[Math.floor(Math.random() * this.urls.length)]!;
  }
}

describe(
  'linearizability with two kvs nodes on etcd, reads from their replicas, on simulated hosts',
  { skip: TEST_ENGINE !== 'etcd' ? 'the etcd engine only (npm run test:etcd)' : !etcdInstalled() ? 'etcd is not installed' : false },
  () => {
    it(
      'records a history through both nodes, while a member is killed, delays change and links break, that is linearizable',
      { timeout: 300_000 },
      async (t) => {
        const hosts = await SimulatedHosts.start({ peerDelayMs: 0.5, clientDelayMs: 0.5 });
        const links: Links[] = [await hosts.links(), await hosts.links()];
        const nodes: ServerProcess[] = [];
        const front: TcpProxy[] = [];
        const faults: string[] = [];
        try {
          const prefix = `lin-two-${Date.now()}/`;
          for (const nodeLinks of links) {
            const node = await leftovers.spawn({
              KV_ENGINE: 'etcd',
              ETCD_ENDPOINTS: nodeLinks.endpoints.join(','),
              KV_ETCD_PREFIX: prefix,
              DATA_DIRECTORY: leftovers.directory(),
              LOG_LEVEL: 'warn',
            });
            nodes.push(node);
            // Clients reach each node over a link of its own too.
            front.push(await TcpProxy.start(node.url, { delayMs: 0.5 }));
          }
          const keys = Array.from({ length: KEYS_PER_HISTORY }, (_, k) => `lin2/k${k}`);
          const recorder = new HistoryRecorder({ timeoutMs: 8_000 });
          const workload = runClients(new EitherNode(front.map((proxy) => proxy.url)), recorder, keys);
          const step = async (what: string, action: () => unknown | Promise<unknown>, pauseMs: number) => {
            faults.push(what);
            await action();
            await sleep(pauseMs);
          };
          try {
            await sleep(1_500);
            await step('kill -9 etcd member 1', () => hosts.cluster.kill(1), 2_000);
            await step('restart member 1', () => hosts.cluster.restart(1), 1_500);
            await step(
              'delays to 3 ms between members and between nodes and members',
              () => {
                hosts.setPeerDelay(3);
                for (const nodeLinks of links) nodeLinks.setDelay(3);
              },
              2_500,
            );
            await step(
              'delays back to 0.5 ms',
              () => {
                hosts.setPeerDelay(0.5);
                for (const nodeLinks of links) nodeLinks.setDelay(0.5);
              },
              1_000,
            );
            await step('partition node A from etcd', () => links[0]!.block(), 2_000);
            await step('heal the partition', () => links[0]!.unblock(), 1_500);
            await step(
              'cut node B’s connections to etcd',
              () => {
                links[1]!.cutAndHold();
                links[1]!.release();
              },
              1_500,
            );
            await step('kill -9 etcd member 0', () => hosts.cluster.kill(0), 2_000);
            await step('restart member 0', () => hosts.cluster.restart(0), 2_000);
          } finally {
            workload.stop = true;
            await workload.done;
          }
          // 503 (etcd out of reach, a member gone mid-request) is an unknown outcome, which the history allows.
          assert.deepEqual(
            recorder.unexpected.filter((line) => !/: 503 /.test(line)),
            [],
            'answers the API does not give for these operations',
          );
          const history = recorder.entries;
          const result = checkLinearizable(history, { initial: initialAbsent(keys), timeoutMs: CHECK_TIMEOUT_MS });
          assert.equal(result.ok, true, describeFailure(result));
          const reads = history.filter((entry) => entry.op.kind === 'read' && entry.outcome.status === 'ok').length;
          const writes = history.filter((entry) => entry.op.kind !== 'read' && entry.outcome.status === 'ok').length;
          assert.ok(reads > 200 && writes > 100, `the clients got going: ${reads} reads and ${writes} writes acknowledged`);
          const replicaReads = await Promise.all(
            nodes.map(async (node) => {
              const metrics = await (await fetch(`${node.url}/metrics`)).text();
              return Number(/^kvs_replica_reads_total\{answer="fresh"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
            }),
          );
          for (const [index, count] of replicaReads.entries()) assert.ok(count > 50, `node ${index} answered reads from its replica (${count})`);
          t.diagnostic(`two nodes: ${JSON.stringify({ operations: history.length, reads, writes, unknown: recorder.unknownCount, replicaReads, faults })}`);
        } finally {
          for (const node of nodes) node.kill('SIGKILL');
          await Promise.all(nodes.map((node) => node.exited));
          await Promise.all(front.map((proxy) => proxy.close()));
          await hosts.stop();
        }
      },
    );
  },
);

// ---------------------------------------------------------------------------
// Self-check: the recorder and the checker, end to end, against servers whose
// behaviour is known.

/**
 * A tiny in-memory server with the subset of /v1/kv/{key} the clients use
 * (GET with ETag, PUT with If-Match / If-None-Match: *, DELETE). With
 * `staleReadsMs`, GET answers from a copy of the store refreshed that often: a
 * stale cache, as a broken read path would be.
 */
async function startFakeServer(options: { staleReadsMs?: number }): Promise<{ url: string; close(): Promise<void> }> {
  const store = new Map<string, { value: string; revision: number }>();
  let cache = new Map(store);
  let revision = 0;
  const refresh = options.staleReadsMs === undefined ? null : setInterval(() => (cache = new Map(store)), options.staleReadsMs);
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const key = decodeURIComponent((request.url ?? '').replace(/^\/v1\/kv\//, ''));
      const current = store.get(key);
      const ifMatch = request.headers['if-match'];
      const ifNoneMatch = request.headers['if-none-match'];
      const preconditionFails =
        (ifMatch !== undefined && (current === undefined || ifMatch !== `"${current.revision}"`)) || (ifNoneMatch === '*' && current !== undefined);
      if (request.method === 'GET') {
        const entry = (refresh === null ? store : cache).get(key);
        if (entry === undefined) return response.writeHead(404).end();
        return response.writeHead(200, { etag: `"${entry.revision}"`, 'content-type': 'text/plain' }).end(entry.value);
      }
      if (preconditionFails) return response.writeHead(412).end();
      if (request.method === 'PUT') {
        store.set(key, { value: Buffer.concat(chunks).toString(), revision: ++revision });
        return response.writeHead(current === undefined ? 201 : 200, { etag: `"${revision}"` }).end('{}');
      }
      if (request.method === 'DELETE') {
        if (current === undefined) return response.writeHead(404).end();
        store.delete(key);
        revision++;
        return response.writeHead(204).end();
      }
      response.writeHead(405).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      if (refresh !== null) clearInterval(refresh);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function recordAgainst(url: string, keys: readonly string[], ms: number): Promise<readonly HistoryEntry[]> {
  const recorder = new HistoryRecorder({ timeoutMs: 5_000 });
  const workload = runClients(new Target(url), recorder, keys);
  await sleep(ms);
  workload.stop = true;
  await workload.done;
  assert.deepEqual(recorder.unexpected, []);
  return recorder.entries;
}

describe('linearizability self-check: the recorder and checker catch a real violation', () => {
  const keys = ['self/a', 'self/b', 'self/c'];

  it('accepts the history of a correct in-memory server', async () => {
    const fake = await startFakeServer({});
    try {
      const history = await recordAgainst(fake.url, keys, 1_000);
      assert.ok(history.length > 200, `enough operations: ${history.length}`);
      const result = checkLinearizable(history, { initial: initialAbsent(keys), timeoutMs: CHECK_TIMEOUT_MS });
      assert.equal(result.ok, true, describeFailure(result));
    } finally {
      await fake.close();
    }
  });

  it('rejects the history of a server that answers reads from a stale cache', async (t) => {
    const fake = await startFakeServer({ staleReadsMs: 50 });
    try {
      const history = await recordAgainst(fake.url, keys, 1_000);
      assert.ok(history.length > 200, `enough operations: ${history.length}`);
      const result = checkLinearizable(history, { initial: initialAbsent(keys), timeoutMs: CHECK_TIMEOUT_MS });
      assert.equal(result.ok, false, `the checker must reject stale reads, got ${JSON.stringify(result)}`);
      if (result.ok === false) t.diagnostic(`rejected as expected, on ${result.key}: ${result.reason}`);
    } finally {
      await fake.close();
    }
  });
});
