import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compactHistory } from '../../src/engine/etcd/compaction.js';
import { headerRevision } from '../../src/engine/etcd/etcd-api.js';
import { EtcdClient } from '../../src/engine/etcd/etcd-client.js';
import { Keyspace } from '../../src/engine/etcd/keyspace.js';
import { encodeKey, expectProblem, type JsonResponse } from '../helpers/http.js';
import { leftoversCleanedAfter, sleep, type ServerProcess } from '../helpers/server.js';
import { SimulatedHosts, type Links } from '../helpers/simulated-hosts.js';
import { SseClient } from '../helpers/sse.js';

/**
 * Reads served by each node from its replica (docs/adr/0011-replica-reads.md),
 * on three simulated hosts: etcd's members 0.5 ms apart, each kvs node 0.5 ms
 * from each member, every link a proxy of its own (simulated-hosts.ts).
 *
 * - reads through either node see every write acknowledged through the other
 *   before they began (the barrier), and are answered by the replica;
 * - `?stale` skips the barrier and says how old the replica may be, and
 *   keeps answering while the node cannot reach etcd;
 * - a node cut off from etcd for longer than history is kept tells its
 *   watchers (history_compacted, then the stream ends; resuming is a 410),
 *   reloads its replica, and never answers from the gap.
 */

const REQUEST_TIMEOUT_MS = 15_000;
const RETENTION = 50;
const leftovers = leftoversCleanedAfter('kvs-cluster-replica-');
const PREFIX = `kvs-test/replica-${randomBytes(4).toString('hex')}/`;

let hosts: SimulatedHosts;
let linksA: Links;
let linksB: Links;
let nodeA: ServerProcess;
let nodeB: ServerProcess;
let a: string;
let b: string;
const watches: SseClient[] = [];

before(async () => {
  hosts = await SimulatedHosts.start({ peerDelayMs: 0.5, clientDelayMs: 0.5 });
  linksA = await hosts.links();
  linksB = await hosts.links();
  const spawnNode = (links: Links) =>
    leftovers.spawn({
      KV_ENGINE: 'etcd',
      ETCD_ENDPOINTS: links.endpoints.join(','),
      KV_ETCD_PREFIX: PREFIX,
      KV_HISTORY_RETENTION: String(RETENTION),
      DATA_DIRECTORY: leftovers.directory(),
      LOG_LEVEL: 'warn',
    });
  nodeA = await spawnNode(linksA);
  nodeB = await spawnNode(linksB);
  a = nodeA.url;
  b = nodeB.url;
});

after(async () => {
  for (const watch of watches) watch.close();
  for (const node of [nodeA, nodeB]) {
    if (node === undefined) continue;
    node.kill('SIGKILL');
    await node.exited;
  }
  await hosts?.stop();
});

async function call(url: string, init: RequestInit = {}): Promise<JsonResponse> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  return { status: response.status, headers: response.headers, body: type.includes('json') && text !== '' ? JSON.parse(text) : undefined, text };
}

const kv = (base: string, key: string, query?: string): string => `${base}/v1/kv/${encodeKey(key)}${query === undefined ? '' : `?${query}`}`;

async function put(base: string, key: string, value: string): Promise<number> {
  const response = await call(kv(base, key), { method: 'PUT', body: value, headers: { 'content-type': 'text/plain' } });
  assert.ok(response.status === 200 || response.status === 201, `PUT ${key}: ${response.status} ${response.text}`);
  return response.body.revision as number;
}

async function replicaMetrics(base: string): Promise<{ serving: number; loads: number; barriers: number; fresh: number; stale: number; source: number }> {
  const text = (await call(`${base}/metrics`)).text;
  const value = (name: string, labels: Record<string, string> = {}) => {
    const selector =
      Object.keys(labels).length === 0
        ? ''
        : `{${Object.entries(labels)
            .map(([label, v]) => `${label}="${v}"`)
            .join(',')}}`;
    const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}${selector} `));
    return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  return {
    serving: value('kvs_replica_serving'),
    loads: value('kvs_replica_loads_total'),
    barriers: value('kvs_replica_barriers_total'),
    fresh: value('kvs_replica_reads_total', { answer: 'fresh' }),
    stale: value('kvs_replica_reads_total', { answer: 'stale' }),
    source: value('kvs_replica_reads_total', { answer: 'source' }),
  };
}

describe('reads from each node’s replica, on simulated hosts', () => {
  it('a write acknowledged through one node is what the other node’s replica answers next: gets, listings, counts, txn gets', async () => {
    const before = await replicaMetrics(b);
    for (let i = 0; i < 60; i++) {
      const [writer, reader] = i % 2 === 0 ? [a, b] : [b, a];
      const key = `ryw/${i % 7}`;
      const value = `v${i}-${randomBytes(3).toString('hex')}`;
      const revision = await put(writer, key, value);
      const read = await call(kv(reader, key));
      assert.equal(read.text, value, `GET #${i} through the other node`);
      assert.equal(read.headers.get('etag'), `"${revision}"`);
      assert.ok(Number(read.headers.get('kv-revision')) >= revision);
      assert.equal(read.headers.get('kv-staleness-ms'), null, 'a linearizable read does not say it is stale');
      const listed = await call(`${reader}/v1/kv?prefix=ryw/&values=true`);
      assert.equal(listed.status, 200);
      assert.equal(listed.body.items.find((item: { key: string }) => item.key === key)?.value, value, `the listing #${i} through the other node`);
      assert.ok(listed.body.revision >= revision);
      const txn = await call(`${reader}/v1/txn`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ops: [{ op: 'get', key }] }),
      });
      assert.equal(txn.status, 200, txn.text);
      assert.equal(txn.body.results[0].value, value, `a txn of gets #${i} through the other node`);
    }
    const counted = await call(`${a}/v1/kv?prefix=ryw/&dry_run=true`, { method: 'DELETE' });
    assert.deepEqual(counted.body, { matched: 7 });
    const after = await replicaMetrics(b);
    assert.equal(after.serving, 1);
    assert.ok(after.fresh - before.fresh >= 30 * 3, `node B answered from its replica: ${JSON.stringify({ before, after })}`);
    assert.equal(after.source - before.source, 0, 'and never had to read etcd instead');
    assert.ok(after.barriers > before.barriers, 'after barriers');
  });

  it('?stale answers from the replica without a barrier, saying how old it may be', async () => {
    const revision = await put(a, 'stale/k', 'one');
    // Until node B's replica has the write, a stale read may not show it; it gets there within the feed's delay.
    let read: JsonResponse;
    const deadline = Date.now() + 5_000;
    do {
      read = await call(kv(b, 'stale/k', 'stale'));
    } while (read.status !== 200 && Date.now() < deadline);
    assert.equal(read.text, 'one');
    assert.ok(Number(read.headers.get('kv-revision')) >= revision);
    const staleness = Number(read.headers.get('kv-staleness-ms'));
    assert.ok(Number.isInteger(staleness) && staleness >= 0 && staleness < 5_000, `KV-Staleness-Ms: ${read.headers.get('kv-staleness-ms')}`);
    const listed = await call(`${b}/v1/kv?prefix=stale/&stale`);
    assert.equal(listed.status, 200);
    assert.ok(listed.headers.get('kv-staleness-ms') !== null, 'a stale listing says so too');
    expectProblem(await call(kv(b, 'stale/k', 'stale=maybe')), 400, 'invalid_request');
    assert.equal((await call(kv(b, 'stale/k', 'stale=false'))).headers.get('kv-staleness-ms'), null);
  });

  it('a node cut off from etcd for longer than history is kept: its watchers are told history_compacted and closed, it reloads its replica, and no read answers from the gap', async () => {
    const keyspace = new Keyspace(PREFIX);
    const first = await put(b, 'gap/k', 'before');
    const watcher = await SseClient.connect(`${a}/v1/watch?prefix=gap/`);
    watches.push(watcher);
    const longPoll = call(kv(a, 'gap/k'), { headers: { 'if-none-match': `"${first}"`, prefer: 'wait=30' } });
    await sleep(300);
    await put(b, 'gap/k', 'seen');
    await watcher.until((messages) => messages.some((message) => message.event === 'change'), 10_000, 'the first change');
    const lastSeen = Number(watcher.events('change').at(-1)!.id);
    const polled = await longPoll;
    assert.equal(polled.text, 'seen', 'the long-poll saw the change');
    const loadsBefore = (await replicaMetrics(a)).loads;

    // Node A loses etcd: its connections are cut, new ones held.
    linksA.cutAndHold();
    const staleDuringCut = await call(kv(a, 'gap/k', 'stale'));
    assert.equal(staleDuringCut.text, 'seen', 'a stale read still answers from the replica while etcd is out of reach');
    await sleep(400);
    const staleLater = await call(kv(a, 'gap/k', 'stale'));
    assert.ok(Number(staleLater.headers.get('kv-staleness-ms')) >= 300, `and says it is getting older: ${staleLater.headers.get('kv-staleness-ms')}`);

    // Meanwhile, through node B: more revisions than history keeps, then compaction (what node B's own maintenance does every minute).
    let last = 0;
    for (let i = 0; i < RETENTION * 2; i++) last = await put(b, `gap/${i % 5}`, `during-${i}`);
    await call(kv(b, 'gap/0'), { method: 'DELETE' });
    last = await put(b, 'gap/k', 'after');
    const client = new EtcdClient({ endpoints: hosts.cluster.endpoints, callTimeoutMs: 3_000 });
    try {
      await compactHistory({
        client: () => client,
        keyspace,
        commit: (request) => client.write(client.methods.txn, request),
        lastChangeRevision: () => last,
        historyRetentionRevisions: RETENTION,
      });
      const compacted = headerRevision(await client.read(client.methods.range, { key: keyspace.compactedKey }));
      assert.ok(compacted > last, 'compaction recorded');
    } finally {
      client.close();
    }

    // Node A reaches etcd again: its feed finds its history compacted.
    linksA.release();
    const readsAfter: string[] = [];
    const readUntil = Date.now() + 3_000;
    while (Date.now() < readUntil) {
      const read = await call(kv(a, 'gap/k'));
      if (read.status === 503) continue; // etcd not reachable yet
      readsAfter.push(read.text);
      const gone = await call(kv(a, 'gap/0'));
      if (gone.status !== 503) assert.equal(gone.status, 404, `a key deleted during the gap is never read back: ${gone.text}`);
    }
    assert.ok(readsAfter.length > 0, 'node A served reads again');
    assert.deepEqual([...new Set(readsAfter)], ['after'], 'every read after the cut sees the last write, none an older value');

    await watcher.untilClosed(15_000);
    const error = watcher.events('error').at(-1);
    assert.ok(error !== undefined, `the watcher was told: ${JSON.stringify(watcher.messages.slice(-3))}`);
    const problem = JSON.parse(error.data) as { code: string; compactRevision: number };
    assert.equal(problem.code, 'history_compacted');
    assert.ok(problem.compactRevision > lastSeen, `compactRevision ${problem.compactRevision} is past what the watcher saw (${lastSeen})`);
    const resumed = await call(`${a}/v1/watch?prefix=gap/`, { headers: { 'last-event-id': String(lastSeen) } });
    expectProblem(resumed, 410, 'history_compacted');

    // The replica reloaded, and node A serves from it again; a new watch gets new writes.
    const deadline = Date.now() + 10_000;
    let metrics = await replicaMetrics(a);
    while ((metrics.loads <= loadsBefore || metrics.serving !== 1) && Date.now() < deadline) {
      await sleep(100);
      metrics = await replicaMetrics(a);
    }
    assert.ok(metrics.loads > loadsBefore && metrics.serving === 1, `node A reloaded its replica: ${JSON.stringify(metrics)}`);
    const fresh = await SseClient.connect(`${a}/v1/watch?prefix=gap/`);
    watches.push(fresh);
    const revision = await put(b, 'gap/new', 'x');
    await fresh.until(
      (messages) => messages.some((message) => message.event === 'change' && Number(message.id) === revision),
      10_000,
      'a change after the reload',
    );
    const read = await call(kv(a, 'gap/new'));
    assert.equal(read.text, 'x');
  });

  it('a node that stops removes its replica (a copy, never the data), so the directory is as it found it', async () => {
    const directory = leftovers.directory();
    const links = await hosts.links();
    const node = await leftovers.spawn({
      KV_ENGINE: 'etcd',
      ETCD_ENDPOINTS: links.endpoints.join(','),
      KV_ETCD_PREFIX: PREFIX,
      DATA_DIRECTORY: directory,
      LOG_LEVEL: 'warn',
    });
    await put(node.url, 'stops/k', 'v');
    assert.ok(existsSync(join(directory, 'etcd-replica')), 'the running node keeps its replica there');
    node.kill('SIGTERM');
    assert.equal((await node.exited).code, 0);
    assert.deepEqual(readdirSync(directory), [], 'nothing is left behind');
  });
});
