import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of a server, for tests of what a client does
 * when its connection breaks: `cut()` destroys every open connection (both
 * sides) mid-stream, `hold()` makes new connections wait, unforwarded, until
 * `release()` — a server that is briefly unreachable.
 */
export class TcpProxy {
  /** Connections accepted so far (held ones included). */
  accepted = 0;
  private readonly open = new Set<Socket>();
  private held: Array<() => void> | null = null;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** Starts a proxy to `target` (an http:// base URL) on a free loopback port. */
  static async start(target: string): Promise<TcpProxy> {
    const { hostname, port } = new URL(target);
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => proxy!.accept(client, hostname, Number(port)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('the proxy has no address');
    proxy = new TcpProxy(server, `http://127.0.0.1:${address.port}`);
    return proxy;
  }

  /** Destroys every open connection, both to the client and to the server; returns how many client connections it cut. */
  cut(): number {
    const cut = this.open.size;
    for (const socket of this.open) socket.destroy();
    this.open.clear();
    return cut;
  }

  /** New connections are accepted but not forwarded until `release()`. */
  hold(): void {
    this.held ??= [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const forward of held) forward();
  }

  async close(): Promise<void> {
    this.release();
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, host: string, port: number): void {
    this.accepted += 1;
    this.open.add(client);
    client.on('error', () => {});
    client.on('close', () => this.open.delete(client));
    client.pause();
    const forward = () => {
      if (client.destroyed) return;
      const upstream = connect(port, host);
      this.open.add(upstream);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.on('close', () => {
        this.open.delete(upstream);
        client.destroy();
      });
      client.on('close', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    };
    if (this.held === null) forward();
    else this.held.push(forward);
  }
}
