import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Keyspace } from '../../src/engine/etcd/keyspace.js';
import { ETCD_BINARY, EtcdCluster, etcdInstalled } from '../../test/helpers/etcd-cluster.js';
import { canPin, childPids, LOAD_CPU, pinRunning, runWrkTogether, SERVER_CPU, stopProcess, type LoadResult } from '../lib.js';
import { runId, summarise, type Load, type Row } from '../measure.js';
import { fmt, ratio } from '../format.js';
import { preload, startKvs } from '../servers.js';
import { CONNECTIONS, log, quick, ROUNDS, SECONDS, SMALL_KEYS, WARMUP_SECONDS, WRK } from '../settings.js';

export interface EtcdResult {
  rows: Row[];
  /** Report lines: how the etcd rows were measured, or that they were skipped. */
  notes: string[];
}

/** One side of an etcd comparison: one wrk process per URL (the connections split between them), the processes whose CPU counts, the load. */
interface Target {
  urls: string[];
  pids: number[];
  load: Load;
}

/** Namespace of the benchmarked store in etcd (KV_ETCD_PREFIX). */
const ETCD_PREFIX = 'bench/';

let etcdCluster: EtcdCluster | null = null;

/**
 * The etcd engine against etcd itself, on one 3-member cluster started here
 * (etcd's default Raft timing): GET /v1/kv/{key} of the SMALL_KEYS preloaded
 * keys through one kvs node and through two kvs nodes on the same cluster, and
 * etcd's JSON gateway asked directly for the same read of the same etcd keys
 * (POST /v3/kv/range, linearizable like every kvs read); then PUT of fresh keys
 * the same three ways (POST /v3/kv/put). Same connections, seconds and rounds
 * as every other scenario, the three sides interleaved in each round. Two
 * nodes are loaded by two wrk processes at once, half the connections each:
 * req/s summed, p99 the larger of the two.
 *
 * Which member: the leader, so that runs do not differ by which member won
 * the election (a follower adds a round trip to the leader to each
 * linearizable read). Both kvs nodes are given all three endpoints, the
 * leader's first, and kvs's etcd client sends every call to the first member
 * that answers, so all kvs traffic reaches etcd through the leader; the
 * gateway rows query the leader as well.
 *
 * Pinning: etcd members and kvs nodes are servers like any other here, so all
 * of them are pinned to SERVER_CPU (the members after start, every thread, as
 * EtcdCluster spawns them unpinned) and every wrk process to LOAD_CPU. On two
 * cores this cannot isolate anything further: three members and one or two
 * kvs nodes share one core, so the two-node rows show what a second node does
 * on the same core, not scale-out across machines.
 * CPU per request counts every server process involved: the kvs node(s) and
 * the three members for kvs, the three members for the gateway.
 */
export async function measureEtcd(): Promise<EtcdResult> {
  if (!etcdInstalled()) {
    const note = `- etcd scenarios skipped: etcd is not installed (${ETCD_BINARY} not found; apt-get install -y etcd-server)`;
    log(note.slice(2));
    return { rows: [], notes: [note] };
  }
  const startedAt = performance.now();
  etcdCluster = await EtcdCluster.start({ members: 3, heartbeatMs: 100, electionMs: 1000 });
  const members = childPids('etcd');
  if (members.length !== 3) throw new Error(`expected 3 etcd member processes, found ${members.length}`);
  for (const pid of members) pinRunning(SERVER_CPU, pid);
  const leaders = await Promise.all(etcdCluster.endpoints.map(isLeader));
  const leader = etcdCluster.endpoints[Math.max(0, leaders.indexOf(true))]!;
  const endpoints = [leader, ...etcdCluster.endpoints.filter((endpoint) => endpoint !== leader)];
  const env = { KV_ENGINE: 'etcd', ETCD_ENDPOINTS: endpoints.join(','), KV_ETCD_PREFIX: ETCD_PREFIX };

  // Loaded through a node of its own, then measured on fresh ones (as the other scenarios).
  const loader = await startKvs('etcd-loader', true, env);
  await preload(loader.url, SMALL_KEYS);
  await stopProcess(loader.child);
  const nodes = [await startKvs('etcd-node-1', true, env), await startKvs('etcd-node-2', true, env)];

  // The gateway reads the very etcd keys kvs reads: checked, so a change of kvs's layout cannot go unnoticed.
  const keyspace = new Keyspace(ETCD_PREFIX);
  const check = await fetch(`${leader}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: keyspace.etcdKey('bench/k1').toString('base64') }) });
  const found = (await check.json()) as { kvs?: unknown[] };
  if (found.kvs?.length !== 1) throw new Error(`the etcd gateway on ${leader} does not find kvs's key bench/k1 at ${keyspace.etcdKey('bench/k1').toString()}: ${JSON.stringify(found)}`);

  const one = (load: Load): Target => ({ urls: [nodes[0]!.url], pids: [nodes[0]!.pid, ...members], load });
  const two = (load: Load): Target => ({ urls: nodes.map((node) => node.url), pids: [...nodes.map((node) => node.pid), ...members], load });
  const gateway = (load: Load): Target => ({ urls: [leader], pids: members, load });
  const getKv = { script: join(WRK, 'get-key.lua'), env: { KEYS: String(SMALL_KEYS) } };
  const putFresh = { script: join(WRK, 'put-fresh.lua'), env: {} };
  const gatewayScript = join(WRK, 'etcd-gateway.lua');
  const gatewayRange = { script: gatewayScript, env: { OP: 'range', KEYS: String(SMALL_KEYS), ETCD_KEY_PREFIX: keyspace.etcdKey('bench/k').toString() } };
  // Outside kvs's namespace: the kvs nodes watch all of it and cannot decode a value kvs did not write
  // (their change feed throws, and the node exits). This way no kvs node sees the gateway's writes.
  const gatewayPut = { script: gatewayScript, env: { OP: 'put', ETCD_KEY_PREFIX: 'bench-gateway/put/' } };
  const rows = [
    ...(await compareEtcd('GET /v1/kv/{key} on etcd', 'etcd gateway POST /v3/kv/range (leader)', gateway(gatewayRange), one(getKv), two(getKv))),
    ...(await compareEtcd('PUT /v1/kv/{key} on etcd (fresh keys)', 'etcd gateway POST /v3/kv/put (leader)', gateway(gatewayPut), one(putFresh), two(putFresh))),
  ];

  const stillLeader = await isLeader(leader);
  if (!stillLeader) log('etcd: leadership moved during the run');
  for (const node of nodes) await stopProcess(node.child);
  await stopEtcd();
  const version = /etcd Version: (\S+)/.exec(execFileSync(ETCD_BINARY, ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  const perProcess = Math.max(1, Math.floor(CONNECTIONS / 2));
  log(`etcd scenarios took ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
  return {
    rows,
    notes: [
      `- etcd rows: etcd ${version}, 3 members on loopback (heartbeat 100 ms, election 1000 ms), ${SMALL_KEYS} keys of 100 bytes; the kvs nodes list all three members, the leader first, and send every call to it; the gateway rows query the leader too${stillLeader ? '' : ' (LEADERSHIP MOVED during the run: later rounds went through a follower)'}`,
      `- etcd rows: "2 kvs nodes" is two wrk processes at once, ${perProcess} connections each, one per node: req/s summed, p99 the larger of the two; CPU per request counts every server process (kvs node(s) and all three members; for the gateway, the three members)${canPin ? `; members and kvs nodes all on CPU ${SERVER_CPU}, wrk on CPU ${LOAD_CPU}` : ''}`,
    ],
  };
}

/** Stops the cluster measureEtcd started, if it is still running (run.ts, at the end of the run, whatever happened). */
export async function stopEtcd(): Promise<void> {
  const cluster = etcdCluster;
  etcdCluster = null;
  await cluster?.stop();
}

/** Interleaved rounds of the gateway, one kvs node and two kvs nodes; a row for each kvs side against the gateway. */
async function compareEtcd(scenario: string, gatewayName: string, gateway: Target, one: Target, two: Target): Promise<Row[]> {
  const sides = [gateway, one, two];
  const results: LoadResult[][] = sides.map(() => []);
  // Unmeasured warm-up, as in compareServers (two nodes warms the second node); none in a
  // smoke run, which must stay short (CI) and whose one-second figures mean little anyway.
  if (!quick) for (const side of sides) await loadTogether(side, WARMUP_SECONDS);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, side] of sides.entries()) results[index]!.push(await loadTogether(side));
  }
  const [anchor, oneNode, twoNodes] = results.map(summarise) as [LoadResult, LoadResult, LoadResult];
  const rows = [
    { scenario: `${scenario}, 1 kvs node`, subject: oneNode, anchor, anchorName: gatewayName },
    { scenario: `${scenario}, 2 kvs nodes`, subject: twoNodes, anchor, anchorName: gatewayName },
  ];
  for (const row of rows) log(`${row.scenario}: ${fmt(row.subject.requestsPerSecond)} req/s vs ${fmt(row.anchor.requestsPerSecond)} (${ratio(row)})`);
  return rows;
}

function loadTogether({ urls, pids, load: { script, env } }: Target, seconds = SECONDS): Promise<LoadResult> {
  const connections = Math.max(1, Math.floor(CONNECTIONS / urls.length));
  return runWrkTogether(urls.map((url) => ({ url, script, env: { RUN_ID: runId(), ...env } })), pids, { seconds, connections });
}

/** Whether a member is the leader, by its own status. */
async function isLeader(endpoint: string): Promise<boolean> {
  const response = await fetch(`${endpoint}/v3/maintenance/status`, { method: 'POST', body: '{}' });
  const status = (await response.json()) as { header?: { member_id?: string }; leader?: string };
  return status.leader !== undefined && status.leader === status.header?.member_id;
}
