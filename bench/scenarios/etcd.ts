/**
 * The etcd scenarios of `npm run bench` (docs/adr/0011-replica-reads.md): kvs
 * nodes on a 3-member etcd cluster against etcd's own JSON gateway, same
 * load, same run, interleaved rounds.
 *
 * 1. Loopback: GET of 1,000 preloaded keys and PUT of fresh keys, through one
 *    kvs node, two kvs nodes (two wrk processes, the connections split), and
 *    the gateway on the leader (POST /v3/kv/range, linearizable as every kvs
 *    read; POST /v3/kv/put). Besides req/s and the CPU of every server process
 *    per request, etcd's own CPU per request: the three members' CPU time
 *    (/proc/<pid>/stat) divided by the requests served.
 * 2. Simulated hosts: the same cluster shape with every member behind a
 *    delaying proxy (0.5 ms one way between members), each kvs node reaching
 *    each member over a link of its own (0.5 ms), and the gateway reached over
 *    one as well (a client on another host than etcd): GET through one node,
 *    two nodes and the gateway, 64 connections each, with p50 and p99.
 *
 * Pinning: members and kvs nodes on SERVER_CPU, wrk and the proxies (the
 * simulated network, not counted as a server) on LOAD_CPU. On two cores that
 * isolates nothing further: the members and the nodes share one core.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { Keyspace } from '../../src/engine/etcd/keyspace.js';
import { ETCD_BINARY, EtcdCluster, etcdInstalled } from '../../test/helpers/etcd-cluster.js';
import { canPin, cpuSeconds, LOAD_CPU, median, parseWrk, pinned, pinRunning, SERVER_CPU, stopProcess, type LoadResult } from '../lib.js';
import { fmt } from '../format.js';
import { runId, type Row } from '../measure.js';
import { preload, startKvs, track } from '../servers.js';
import { CONNECTIONS, log, quick, root, ROUNDS, SECONDS, SMALL_KEYS, WARMUP_SECONDS, WRK } from '../settings.js';

export interface EtcdResult {
  rows: Row[];
  /** Report lines: how the etcd rows were measured, or that they were skipped. */
  notes: string[];
}

/** A measured side: LoadResult, with etcd's own share and p50. */
interface Measured extends LoadResult {
  p50Ms: number;
  /** The members' CPU time per request, in µs. */
  membersUsPerRequest: number;
  /** Requests/s of each wrk process (one per node). */
  perProcess: number[];
}

interface Side {
  name: string;
  runs: Array<{ url: string; script: string; env: Record<string, string> }>;
  connectionsEach: number;
  /** Server processes besides the members (kvs nodes). */
  pids: number[];
  /** Run the nodes on this CPU for this side's loads (as on a host of their own), then back on SERVER_CPU. */
  nodesOn?: string;
}

/** Namespace of the benchmarked store in etcd (KV_ETCD_PREFIX). */
const ETCD_PREFIX = 'bench/';
/** The simulated LAN: one-way delay between members, and between a client or kvs node and a member. */
const LAN_DELAY_MS = 0.5;

export async function measureEtcd(): Promise<EtcdResult> {
  if (!etcdInstalled()) {
    const note = `- etcd scenarios skipped: etcd is not installed (${ETCD_BINARY} not found; apt-get install -y etcd-server)`;
    log(note.slice(2));
    return { rows: [], notes: [note] };
  }
  const startedAt = performance.now();
  const loopback = await loopbackVariant();
  const lan = await lanVariant();
  const version = /etcd Version: (\S+)/.exec(execFileSync(ETCD_BINARY, ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  log(`etcd scenarios took ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
  return {
    rows: loopback.rows,
    notes: [
      ...loopback.notes,
      ...lan,
      `- etcd rows: etcd ${version}, 3 members (heartbeat 100 ms, election 1000 ms), ${SMALL_KEYS} keys of 100 bytes; the kvs nodes list all three members, the leader first; the gateway rows query the leader. CPU per request counts every server process (kvs node(s) and the three members; for the gateway, the three members); "etcd CPU" the members alone${canPin ? `; members and kvs nodes on CPU ${SERVER_CPU}, wrk and the proxies on CPU ${LOAD_CPU}` : ''}`,
    ],
  };
}

/** One cluster on loopback: GET and PUT, the gateway, one node, two nodes. */
async function loopbackVariant(): Promise<{ rows: Row[]; notes: string[] }> {
  const setup = await startCluster(null);
  try {
    const { gateway, keyspace } = setup;
    const nodes = setup.nodes;
    const getScript = join(WRK, 'get-key.lua');
    const putScript = join(WRK, 'put-fresh.lua');
    const gatewayScript = join(WRK, 'etcd-gateway.lua');
    const gatewayRange = { OP: 'range', KEYS: String(SMALL_KEYS), ETCD_KEY_PREFIX: keyspace.etcdKey('bench/k').toString() };
    // Outside kvs's namespace: still seen by the kvs nodes, whose watch covers etcd's whole keyspace (see the notes).
    const gatewayPut = { OP: 'put', ETCD_KEY_PREFIX: 'bench-gateway/put/' };
    const half = Math.max(1, Math.floor(CONNECTIONS / 2));
    const kvsSide = (name: string, count: 1 | 2, script: string, env: Record<string, string>): Side => ({
      name,
      runs: nodes.slice(0, count).map((node) => ({ url: node.url, script, env })),
      connectionsEach: count === 1 ? CONNECTIONS : half,
      pids: nodes.slice(0, count).map((node) => node.pid),
    });
    const gatewaySide = (env: Record<string, string>): Side => ({
      name: 'gateway',
      runs: [{ url: gateway, script: gatewayScript, env }],
      connectionsEach: CONNECTIONS,
      pids: [],
    });

    const get = await interleaved(setup.members, [gatewaySide(gatewayRange), kvsSide('1 node', 1, getScript, {}), kvsSide('2 nodes', 2, getScript, {})]);
    const put = await interleaved(setup.members, [
      gatewaySide(gatewayPut),
      kvsSide('1 node', 1, putScript, {}),
      kvsSide('2 nodes', 2, putScript, {}),
      ...(canPin ? [{ ...kvsSide('1 node on its own core', 1, putScript, {}), nodesOn: LOAD_CPU }] : []),
    ]);
    const stillLeader = await isLeader(setup.leader);
    const rows: Row[] = [
      { scenario: 'GET /v1/kv/{key} on etcd, 1 kvs node', subject: get[1]!, anchor: get[0]!, anchorName: 'etcd gateway POST /v3/kv/range (leader)' },
      { scenario: 'GET /v1/kv/{key} on etcd, 2 kvs nodes', subject: get[2]!, anchor: get[0]!, anchorName: 'etcd gateway POST /v3/kv/range (leader)' },
      { scenario: 'PUT /v1/kv/{key} on etcd (fresh keys), 1 kvs node', subject: put[1]!, anchor: put[0]!, anchorName: 'etcd gateway POST /v3/kv/put (leader)' },
      {
        scenario: 'PUT /v1/kv/{key} on etcd (fresh keys), 2 kvs nodes',
        subject: put[2]!,
        anchor: put[0]!,
        anchorName: 'etcd gateway POST /v3/kv/put (leader)',
      },
      ...(put[3] === undefined
        ? []
        : [
            {
              scenario: `PUT /v1/kv/{key} on etcd (fresh keys), 1 kvs node on CPU ${LOAD_CPU} (with wrk): a host of its own`,
              subject: put[3],
              anchor: put[0]!,
              anchorName: 'etcd gateway POST /v3/kv/put (leader)',
            },
          ]),
    ];
    const etcdShare = (subject: Measured, anchor: Measured) =>
      `${(subject.membersUsPerRequest / anchor.membersUsPerRequest).toFixed(2)}x (${subject.membersUsPerRequest.toFixed(1)} vs ${anchor.membersUsPerRequest.toFixed(1)} µs)`;
    const notes = [
      '',
      "etcd CPU per request (the three members' CPU time divided by the requests served), loopback:",
      '',
      '| scenario | kvs req/s | gateway req/s | req/s ratio | etcd CPU per request, kvs vs gateway |',
      '|---|---:|---:|---:|---:|',
      ...rows.map(
        (row) =>
          `| ${row.scenario} | ${fmt(row.subject.requestsPerSecond)} | ${fmt(row.anchor.requestsPerSecond)} | ${(row.subject.requestsPerSecond / row.anchor.requestsPerSecond).toFixed(2)}x | ${etcdShare(row.subject as Measured, row.anchor as Measured)} |`,
      ),
      '',
      `- targets: GET through one node ≥ 2x the gateway's req/s: ${(get[1]!.requestsPerSecond / get[0]!.requestsPerSecond).toFixed(2)}x; etcd CPU per GET ≤ 0.2x the gateway's: ${(get[1]!.membersUsPerRequest / get[0]!.membersUsPerRequest).toFixed(2)}x; PUT through one node ≥ 0.8x: ${(put[1]!.requestsPerSecond / put[0]!.requestsPerSecond).toFixed(2)}x${put[3] === undefined ? '' : ` (${(put[3].requestsPerSecond / put[0]!.requestsPerSecond).toFixed(2)}x with the node on a core of its own)`}`,
      `- reads per barrier (one quorum read serves every GET a node received meanwhile): ${await readsPerBarrier(nodes)}`,
      `- etcd rows: the kvs nodes' change feed watches etcd's whole keyspace, so while the gateway rows run their writes reach both nodes too, as any application's writes would; "2 kvs nodes" is two wrk processes at once, ${half} connections each${stillLeader ? '' : '; LEADERSHIP MOVED during the run: later rounds went through a follower'}`,
    ];
    return { rows, notes };
  } finally {
    await setup.stop();
  }
}

/** Simulated hosts: GET through one node, two nodes (64 connections each) and the gateway, over 0.5 ms links. */
async function lanVariant(): Promise<string[]> {
  const links = await LinkProcess.start();
  try {
    const setup = await startCluster(links);
    try {
      const { keyspace, nodes } = setup;
      const getScript = join(WRK, 'get-key.lua');
      const gatewayRange = { OP: 'range', KEYS: String(SMALL_KEYS), ETCD_KEY_PREFIX: keyspace.etcdKey('bench/k').toString() };
      const sides: Side[] = [
        { name: 'gateway', runs: [{ url: setup.gateway, script: join(WRK, 'etcd-gateway.lua'), env: gatewayRange }], connectionsEach: CONNECTIONS, pids: [] },
        { name: '1 node', runs: [{ url: nodes[0]!.url, script: getScript, env: {} }], connectionsEach: CONNECTIONS, pids: [nodes[0]!.pid] },
        {
          name: '2 nodes',
          runs: nodes.map((node) => ({ url: node.url, script: getScript, env: {} })),
          connectionsEach: CONNECTIONS,
          pids: nodes.map((node) => node.pid),
        },
      ];
      const [gateway, one, two] = (await interleaved(setup.members, sides)) as [Measured, Measured, Measured];
      const line = (name: string, result: Measured, nodesCount: number) =>
        `| ${name} | ${nodesCount === 0 ? CONNECTIONS : `${CONNECTIONS} per node`} | ${fmt(result.requestsPerSecond)} | ${nodesCount === 2 ? result.perProcess.map(fmt).join(' + ') : fmt(result.requestsPerSecond)} | ${result.p50Ms.toFixed(2)} | ${result.p99Ms.toFixed(2)} | ${result.membersUsPerRequest.toFixed(1)} |`;
      return [
        '',
        `Simulated hosts: ${LAN_DELAY_MS} ms one way between etcd members and between each kvs node (or the gateway's client) and each member, through proxies (test/helpers/tcp-proxy.ts); wrk reaches the kvs nodes directly (a client on the node's host):`,
        '',
        '| GET | connections | req/s | req/s per node | p50 ms | p99 ms | etcd CPU per request, µs |',
        '|---|---:|---:|---:|---:|---:|---:|',
        line('etcd gateway (leader, over a link)', gateway, 0),
        line('1 kvs node', one, 1),
        line('2 kvs nodes', two, 2),
        '',
        `- simulated hosts: reads per barrier ${await readsPerBarrier(nodes)}; p50 and p99 are the larger of the two wrk processes' for two nodes`,
      ];
    } finally {
      await setup.stop();
    }
  } finally {
    await links.stop();
  }
}

interface ClusterSetup {
  members: number[];
  leader: string;
  gateway: string;
  keyspace: Keyspace;
  nodes: Array<{ url: string; pid: number; child: ChildProcess }>;
  stop(): Promise<void>;
}

/** A 3-member cluster (behind links when given), preloaded through a node of its own, and two fresh kvs nodes on it. */
/** Clusters running now: stopped by stopEtcd if a scenario failed before stopping its own. */
const clusters = new Set<EtcdCluster>();

/** Stops what a failed etcd scenario left running (run.ts calls it at the end, whatever happened). */
export async function stopEtcd(): Promise<void> {
  for (const cluster of clusters) await cluster.stop();
  clusters.clear();
}

async function startCluster(links: LinkProcess | null): Promise<ClusterSetup> {
  const cluster = await EtcdCluster.start({
    members: 3,
    heartbeatMs: 100,
    electionMs: 1000,
    ...(links === null ? {} : { peerLink: (_member: number, peerUrl: string) => links.add(peerUrl, LAN_DELAY_MS) }),
  });
  clusters.add(cluster);
  const children: ChildProcess[] = [];
  const stop = async () => {
    for (const child of children) await stopProcess(child);
    await cluster.stop();
    clusters.delete(cluster);
  };
  try {
    const members = cluster.pids.filter((pid): pid is number => pid !== null);
    for (const pid of members) pinRunning(SERVER_CPU, pid);
    const leaders = await Promise.all(cluster.endpoints.map(isLeader));
    const leader = cluster.endpoints[Math.max(0, leaders.indexOf(true))]!;
    const ordered = [leader, ...cluster.endpoints.filter((endpoint) => endpoint !== leader)];
    const endpointsOfANode = async () => (links === null ? ordered : Promise.all(ordered.map((endpoint) => links.add(endpoint, LAN_DELAY_MS))));
    const env = async () => ({ KV_ENGINE: 'etcd', ETCD_ENDPOINTS: (await endpointsOfANode()).join(','), KV_ETCD_PREFIX: ETCD_PREFIX });
    const suffix = links === null ? '' : '-lan';
    // Loaded through a node of its own, then measured on fresh ones (as the other scenarios).
    const loader = await startKvs(`etcd-loader${suffix}`, true, await env());
    await preload(loader.url, SMALL_KEYS);
    await stopProcess(loader.child);
    const nodes = [await startKvs(`etcd-node-1${suffix}`, true, await env()), await startKvs(`etcd-node-2${suffix}`, true, await env())];
    children.push(...nodes.map((node) => node.child));
    const gateway = links === null ? leader : await links.add(leader, LAN_DELAY_MS);
    // The gateway reads the very etcd keys kvs reads: checked, so a change of kvs's layout cannot go unnoticed.
    const keyspace = new Keyspace(ETCD_PREFIX);
    const check = await fetch(`${gateway}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: keyspace.etcdKey('bench/k1').toString('base64') }) });
    const found = (await check.json()) as { kvs?: unknown[] };
    if (found.kvs?.length !== 1)
      throw new Error(`the etcd gateway on ${leader} does not find kvs's key bench/k1 at ${keyspace.etcdKey('bench/k1').toString()}: ${JSON.stringify(found)}`);
    return { members, leader, gateway, keyspace, nodes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Warm-up (unless quick), then `rounds` rounds of every side in turn; medians. */
async function interleaved(members: number[], sides: Side[]): Promise<Measured[]> {
  const results: Measured[][] = sides.map(() => []);
  if (!quick) for (const side of sides) await measure(members, side, WARMUP_SECONDS);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, side] of sides.entries()) results[index]!.push(await measure(members, side, SECONDS));
  }
  const summaries = results.map(summarise);
  log(
    `etcd: ${sides.map((side, index) => `${side.name} ${fmt(summaries[index]!.requestsPerSecond)} req/s (etcd ${summaries[index]!.membersUsPerRequest.toFixed(0)} µs/req)`).join(', ')}`,
  );
  return summaries;
}

/** One load: a wrk process per URL at once, the members' and the nodes' CPU around it. */
async function measure(members: number[], side: Side, seconds: number): Promise<Measured> {
  const cpu = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  if (side.nodesOn !== undefined) for (const pid of side.pids) pinRunning(side.nodesOn, pid);
  const membersBefore = cpu(members);
  const nodesBefore = cpu(side.pids);
  const outputs = await Promise.all(
    side.runs.map(
      ({ url, script, env }) =>
        new Promise<string>((resolve, reject) => {
          const args = pinned(LOAD_CPU, ['wrk', '-t1', `-c${side.connectionsEach}`, `-d${seconds}s`, '--latency', '-s', script, url]);
          execFile(args[0]!, args.slice(1), { encoding: 'utf8', env: { ...process.env, RUN_ID: runId(), ...env } }, (error, stdout) =>
            error ? reject(error) : resolve(stdout),
          );
        }),
    ),
  );
  const membersUsed = cpu(members) - membersBefore;
  const nodesUsed = cpu(side.pids) - nodesBefore;
  if (side.nodesOn !== undefined) for (const pid of side.pids) pinRunning(SERVER_CPU, pid);
  const parsed = outputs.map(parseWrk);
  const requests = parsed.reduce((sum, result) => sum + result.requests, 0);
  return {
    requestsPerSecond: parsed.reduce((sum, result) => sum + result.requestsPerSecond, 0),
    p50Ms: Math.max(...parsed.map((result) => result.p50Ms)),
    p99Ms: Math.max(...parsed.map((result) => result.p99Ms)),
    errors: parsed.reduce((sum, result) => sum + result.errors, 0),
    cpuUsPerRequest: ((membersUsed + nodesUsed) * 1e6) / requests,
    membersUsPerRequest: (membersUsed * 1e6) / requests,
    perProcess: parsed.map((result) => result.requestsPerSecond),
  };
}

function summarise(results: Measured[]): Measured {
  const of = (pick: (result: Measured) => number) => median(results.map(pick));
  return {
    requestsPerSecond: of((result) => result.requestsPerSecond),
    p50Ms: of((result) => result.p50Ms),
    p99Ms: of((result) => result.p99Ms),
    errors: results.reduce((sum, result) => sum + result.errors, 0),
    cpuUsPerRequest: of((result) => result.cpuUsPerRequest),
    membersUsPerRequest: of((result) => result.membersUsPerRequest),
    perProcess: results[0]!.perProcess.map((_value, index) => median(results.map((result) => result.perProcess[index]!))),
  };
}

/** Fresh reads per quorum read, from the nodes' /metrics (since their start, warm-ups included). */
async function readsPerBarrier(nodes: Array<{ url: string }>): Promise<string> {
  const perNode = await Promise.all(
    nodes.map(async (node) => {
      const text = await (await fetch(`${node.url}/metrics`)).text();
      const barriers = Number(/^kvs_replica_barriers_total (\d+)/m.exec(text)?.[1] ?? 0);
      const fresh = Number(/^kvs_replica_reads_total\{answer="fresh"\} (\d+)/m.exec(text)?.[1] ?? 0);
      return barriers === 0 ? 'n/a' : (fresh / barriers).toFixed(1);
    }),
  );
  return perNode.join(' and ');
}

/** Whether a member is the leader, by its own status. */
async function isLeader(endpoint: string): Promise<boolean> {
  const response = await fetch(`${endpoint}/v3/maintenance/status`, { method: 'POST', body: '{}' });
  const status = (await response.json()) as { header?: { member_id?: string }; leader?: string };
  return status.leader !== undefined && status.leader === status.header?.member_id;
}

/** The proxies of the simulated network, in a child process on the load CPU (link-process.ts). */
class LinkProcess {
  private next = 1;
  private readonly pending = new Map<number, (answer: { url?: string; error?: string }) => void>();

  private constructor(private readonly child: ChildProcess) {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const answer = JSON.parse(line) as { id: number; url?: string; error?: string };
      this.pending.get(answer.id)?.(answer);
      this.pending.delete(answer.id);
    });
  }

  static async start(): Promise<LinkProcess> {
    const command = pinned(LOAD_CPU, [process.execPath, join(root, 'dist/bench/link-process.js')]);
    const child = track(spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] }));
    return new LinkProcess(child);
  }

  /** A link to `target` with `delayMs` one way; resolves with its URL. */
  add(target: string, delayMs: number): Promise<string> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, (answer) => (answer.url === undefined ? reject(new Error(answer.error ?? 'no link')) : resolve(answer.url)));
      this.child.stdin!.write(`${JSON.stringify({ id, target, delayMs })}\n`);
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
