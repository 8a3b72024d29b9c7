import { EtcdCluster, type EtcdClusterOptions } from './etcd-cluster.js';
import { TcpProxy } from './tcp-proxy.js';

export interface SimulatedHostsOptions extends Omit<EtcdClusterOptions, 'peerLink'> {
  /** One-way delay between etcd members (ms). */
  peerDelayMs?: number;
  /** One-way delay between a kvs node and each etcd member (ms); each node's links are its own. */
  clientDelayMs?: number;
}

/**
 * A node's network links to every etcd member: one proxy per member, so that
 * one node's link can be slowed, cut or partitioned while the others' are not.
 */
export class Links {
  constructor(readonly proxies: TcpProxy[]) {}

  /** What the node's ETCD_ENDPOINTS lists. */
  get endpoints(): string[] {
    return this.proxies.map((proxy) => proxy.url);
  }

  setDelay(delayMs: number): void {
    for (const proxy of this.proxies) proxy.setDelay(delayMs);
  }

  /** Connections cut now, new ones held until `release`: the node cannot reach etcd at all. */
  cutAndHold(): void {
    for (const proxy of this.proxies) {
      proxy.hold();
      proxy.cut();
    }
  }

  release(): void {
    for (const proxy of this.proxies) proxy.release();
  }

  /** A partition: every byte stalls until `unblock` (established connections stay open). */
  block(): void {
    for (const proxy of this.proxies) proxy.block();
  }

  unblock(): void {
    for (const proxy of this.proxies) proxy.unblock();
  }

  async close(): Promise<void> {
    await Promise.all(this.proxies.map((proxy) => proxy.close()));
  }
}

/**
 * Three hosts on a LAN, on one machine: an etcd cluster whose members talk to
 * each other through delaying proxies (each member's advertised peer URL is a
 * proxy in front of its peer port), and kvs nodes that reach each member
 * through proxies of their own (`links()`). etcd's functional tests do the
 * same with pkg/proxy.
 */
export class SimulatedHosts {
  private readonly allLinks: Links[] = [];

  private constructor(
    readonly cluster: EtcdCluster,
    readonly peerProxies: TcpProxy[],
    private readonly clientDelayMs: number,
  ) {}

  static async start(options: SimulatedHostsOptions = {}): Promise<SimulatedHosts> {
    const peerProxies: TcpProxy[] = [];
    const cluster = await EtcdCluster.start({
      ...options,
      peerLink: async (member, peerUrl) => {
        const proxy = await TcpProxy.start(peerUrl, { delayMs: options.peerDelayMs ?? 0 });
        peerProxies[member] = proxy;
        return proxy.url;
      },
    });
    return new SimulatedHosts(cluster, peerProxies, options.clientDelayMs ?? 0);
  }

  /** A new set of links from one kvs node to every member. */
  async links(delayMs = this.clientDelayMs): Promise<Links> {
    const links = new Links(await Promise.all(this.cluster.endpoints.map((endpoint) => TcpProxy.start(endpoint, { delayMs }))));
    this.allLinks.push(links);
    return links;
  }

  /** The delay between members from now on. */
  setPeerDelay(delayMs: number): void {
    for (const proxy of this.peerProxies) proxy.setDelay(delayMs);
  }

  async stop(): Promise<void> {
    await Promise.all(this.allLinks.map((links) => links.close()));
    await this.cluster.stop();
    await Promise.all(this.peerProxies.map((proxy) => proxy.close()));
  }
}
