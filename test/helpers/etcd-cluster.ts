import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort, sleep } from './ports.js';

/** The etcd binary tests run (Debian's etcd-server package installs /usr/bin/etcd; .ci/run installs it). */
export const ETCD_BINARY = process.env['ETCD_BINARY'] ?? 'etcd';

export function etcdInstalled(): boolean {
  return spawnSync(ETCD_BINARY, ['--version'], { stdio: 'ignore' }).status === 0;
}

interface Member {
  name: string;
  clientUrl: string;
  peerUrl: string;
  /** Where the other members reach this one: its peerUrl, or a link in front of it (peerLink). */
  advertisedPeerUrl: string;
  dataDirectory: string;
  process: ChildProcess | null;
  log: string;
}

export interface EtcdClusterOptions {
  members?: number;
  /** Raft timing: short, so that a killed leader is replaced within a second. */
  heartbeatMs?: number;
  electionMs?: number;
  /** More etcd flags, e.g. ['--quota-backend-bytes', '16777216']. */
  extraFlags?: string[];
  /**
   * Puts a link in front of each member's peer port and returns its URL, which
   * the members advertise to each other: every message between members then
   * crosses it (simulated-hosts.ts: a delay between hosts, a partition).
   */
  peerLink?: (member: number, peerUrl: string) => Promise<string>;
}

const running = new Set<EtcdCluster>();
process.on('exit', () => {
  for (const cluster of running) cluster.killAllNow();
});

/**
 * A real etcd cluster of separate processes on loopback ports, with its data
 * in a temporary directory: what the etcd engine's tests and benchmarks run on.
 */
export class EtcdCluster {
  private constructor(
    private readonly members: Member[],
    private readonly root: string,
    private readonly flags: string[],
  ) {}

  /**
   * Starts a new cluster. Ports are picked free and released before etcd binds
   * them, so another process can take one in between: a cluster that fails to
   * bind is started again on new ports.
   */
  static async start(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await EtcdCluster.startOnce(options);
      } catch (error) {
        if (attempt >= 4 || !/address already in use/.test((error as Error).message)) throw error;
      }
    }
  }

  private static async startOnce(options: EtcdClusterOptions): Promise<EtcdCluster> {
    if (!etcdInstalled())
      throw new Error(`the etcd binary (${ETCD_BINARY}) was not found: install Debian's etcd-server (apt-get install -y etcd-server), as .ci/run does`);
    const size = options.members ?? 3;
    const root = mkdtempSync(join(tmpdir(), 'kvs-etcd-'));
    const members: Member[] = [];
    for (let index = 0; index < size; index++) {
      const peerUrl = `http://127.0.0.1:${await freePort()}`;
      members.push({
        name: `m${index}`,
        clientUrl: `http://127.0.0.1:${await freePort()}`,
        peerUrl,
        advertisedPeerUrl: options.peerLink === undefined ? peerUrl : await options.peerLink(index, peerUrl),
        dataDirectory: join(root, `m${index}`),
        process: null,
        log: '',
      });
    }
    const initialCluster = members.map((member) => `${member.name}=${member.advertisedPeerUrl}`).join(',');
    const flags = [
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-token',
      `kvs-test-${randomBytes(4).toString('hex')}`,
      '--initial-cluster-state',
      'new',
      '--heartbeat-interval',
      String(options.heartbeatMs ?? 50),
      '--election-timeout',
      String(options.electionMs ?? 500),
      '--logger',
      'zap',
      '--log-level',
      'warn',
      ...(options.extraFlags ?? []),
    ];
    const cluster = new EtcdCluster(members, root, flags);
    running.add(cluster);
    for (let index = 0; index < size; index++) cluster.launch(index);
    try {
      await cluster.waitHealthy();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** Client URLs, one per member: what ETCD_ENDPOINTS takes. */
  get endpoints(): string[] {
    return this.members.map((member) => member.clientUrl);
  }

  get size(): number {
    return this.members.length;
  }

  /** The member processes' pids (null for a member that is down): for CPU accounting. */
  get pids(): Array<number | null> {
    return this.members.map((member) => member.process?.pid ?? null);
  }

  /** Where one member keeps its data: a test may copy it while the member is down, as an operator's backup. */
  dataDirectory(index: number): string {
    return this.members[index]!.dataDirectory;
  }

  /** Kills one member (kill -9 by default) and waits for it to be gone. */
  async kill(index: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.members[index]!.process;
    if (child === null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.ref(); // members are unref'd so that they never hold a test process open; waiting for one must
    child.kill(signal);
    await gone;
  }

  /** Starts a killed member again on its data. */
  async restart(index: number): Promise<void> {
    this.launch(index);
    await this.waitHealthy([index]);
  }

  /** Resolves once the given members (default all running ones) report healthy: a leader and a quorum. */
  async waitHealthy(indexes = this.members.flatMap((member, index) => (member.process === null ? [] : [index])), timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const index of indexes) {
      const member = this.members[index]!;
      for (;;) {
        try {
          const response = await fetch(`${member.clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
          const body = (await response.json()) as { health?: string };
          if (body.health === 'true') break;
        } catch {
          // not up yet
        }
        if (member.process === null) throw new Error(`etcd member ${member.name} exited:\n${member.log}`);
        if (Date.now() > deadline) throw new Error(`etcd member ${member.name} was not healthy within ${timeoutMs} ms:\n${member.log}`);
        await sleep(50);
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((_member, index) => this.kill(index)));
    running.delete(this);
    rmSync(this.root, { recursive: true, force: true });
  }

  /** For the process's exit: no waiting is possible there. */
  killAllNow(): void {
    for (const member of this.members) member.process?.kill('SIGKILL');
    rmSync(this.root, { recursive: true, force: true });
  }

  private launch(index: number): void {
    const member = this.members[index]!;
    const child = spawn(
      ETCD_BINARY,
      [
        '--name',
        member.name,
        '--data-dir',
        member.dataDirectory,
        '--listen-client-urls',
        member.clientUrl,
        '--advertise-client-urls',
        member.clientUrl,
        '--listen-peer-urls',
        member.peerUrl,
        '--initial-advertise-peer-urls',
        member.advertisedPeerUrl,
        ...this.flags,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    member.process = child;
    member.log = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      member.log = (member.log + chunk.toString()).slice(-20_000);
    });
    child.once('exit', () => {
      if (member.process === child) member.process = null;
    });
    child.unref();
    (child.stderr as unknown as { unref?: () => void }).unref?.();
  }
}

let shared: Promise<EtcdCluster> | null = null;

/** One 3-member cluster per test process (file), started on first use and stopped when the process exits. */
export function sharedEtcdCluster(): Promise<EtcdCluster> {
  shared ??= EtcdCluster.start();
  return shared;
}
