import { connect, createServer, type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';

export interface TcpProxyOptions {
  /** One-way delay added to every byte, each direction (ms, fractions allowed): a link between two hosts. */
  delayMs?: number;
  /** Host:port to listen on (default a free loopback port). */
  listenPort?: number;
}

/**
 * A loopback TCP proxy in front of a server: a simulated network link.
 *
 * - `cut()` destroys every open connection (both sides) mid-stream;
 * - `hold()` makes new connections wait, unforwarded, until `release()` — a
 *   server that is briefly unreachable;
 * - `delayMs` (and `setDelay`) adds a one-way delay to every chunk in each
 *   direction, keeping their order: three hosts on a LAN, on one machine, as
 *   etcd's functional tests do with pkg/proxy. Delays are kept to about
 *   0.05 ms (a timer thread, DelayLine), not rounded to Node's 1 ms timers;
 * - `block()` stalls the link both ways, established connections included
 *   (bytes are held, as TCP would retransmit them, and new connections wait),
 *   until `unblock()`: a partition. Clients notice only by their own timeouts
 *   (gRPC keepalive), as with a real one.
 */
export class TcpProxy {
  /** Connections accepted so far (held ones included). */
  accepted = 0;
  private readonly open = new Set<Socket>();
  private held: Array<() => void> | null = null;
  private delayMs: number;
  private blocked: Array<() => void> | null = null;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly port: number,
    options: TcpProxyOptions,
  ) {
    this.delayMs = options.delayMs ?? 0;
  }

  /** Starts a proxy to `target` (an http:// base URL) on a free loopback port. */
  static async start(target: string, options: TcpProxyOptions = {}): Promise<TcpProxy> {
    const { hostname, port } = new URL(target);
    let proxy: TcpProxy | undefined;
    const server = createServer({ noDelay: true }, (client) => proxy!.accept(client, hostname, Number(port)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.listenPort ?? 0, '127.0.0.1', resolve);
    });
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('the proxy has no address');
    proxy = new TcpProxy(server, `http://127.0.0.1:${address.port}`, address.port, options);
    return proxy;
  }

  /** The one-way delay from now on (chunks already queued keep theirs). */
  setDelay(delayMs: number): void {
    this.delayMs = delayMs;
  }

  get delay(): number {
    return this.delayMs;
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

  /** Stalls every connection both ways, and holds new ones, until `unblock()`. */
  block(): void {
    this.blocked ??= [];
    this.hold();
  }

  unblock(): void {
    const stalled = this.blocked ?? [];
    this.blocked = null;
    for (const deliver of stalled) deliver();
    this.release();
  }

  async close(): Promise<void> {
    this.unblock();
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, host: string, port: number): void {
    this.accepted += 1;
    this.open.add(client);
    client.setNoDelay(true);
    client.on('error', () => {});
    client.on('close', () => this.open.delete(client));
    client.pause();
    const forward = () => {
      if (client.destroyed) return;
      const upstream = connect({ port, host, noDelay: true });
      this.open.add(upstream);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.on('close', () => {
        this.open.delete(upstream);
        // Bytes still on their way are delivered first, as a FIN follows data.
        this.after(() => client.destroy());
      });
      client.on('close', () => this.after(() => upstream.destroy()));
      this.pipe(client, upstream);
      this.pipe(upstream, client);
      client.resume();
    };
    if (this.held === null) forward();
    else this.held.push(forward);
  }

  /** Copies `from` to `to` through the delay line (or straight, without delay), in order, with backpressure. */
  private pipe(from: Socket, to: Socket): void {
    const lane = { lastDue: 0 };
    from.on('data', (chunk: Buffer) => {
      const deliver = () => {
        if (to.destroyed) return;
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      };
      this.after(deliver, lane);
    });
  }

  /** Runs `action` after the link's delay (behind what is queued before it on `lane`), or once unblocked. */
  private after(action: () => void, lane: { lastDue: number } = { lastDue: 0 }): void {
    const gated = () => {
      if (this.blocked !== null) this.blocked.push(action);
      else action();
    };
    if (this.delayMs <= 0 && lane.lastDue <= nowMs()) return gated();
    const due = Math.max(nowMs() + this.delayMs, lane.lastDue);
    lane.lastDue = due;
    DelayLine.shared().schedule(due, gated);
  }
}

function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * Actions run at a time given to about 0.05 ms. Node's timers have 1 ms
 * resolution, too coarse for a LAN's half-millisecond; a worker thread
 * sleeps on Atomics.wait (a futex, with a sub-millisecond timeout) until
 * the earliest due time and then wakes the event loop with a message, which
 * runs everything due by then. One per process, shared by every proxy.
 */
class DelayLine {
  private static instance: DelayLine | null = null;
  private readonly shared = new SharedArrayBuffer(16);
  private readonly sequence = new Int32Array(this.shared, 0, 1);
  /** The earliest due time armed in the worker, in ns of process.hrtime (0: none). */
  private readonly armed = new BigInt64Array(this.shared, 8, 1);
  private readonly worker: Worker;
  private readonly heap: Array<{ due: number; order: number; action: () => void }> = [];
  private order = 0;

  static shared(): DelayLine {
    DelayLine.instance ??= new DelayLine();
    return DelayLine.instance;
  }

  private constructor() {
    this.worker = new Worker(
      `
      const { workerData, parentPort } = require('node:worker_threads');
      const sequence = new Int32Array(workerData, 0, 1);
      const armed = new BigInt64Array(workerData, 8, 1);
      for (;;) {
        const seen = Atomics.load(sequence, 0);
        const due = Atomics.load(armed, 0);
        if (due === 0n) { Atomics.wait(sequence, 0, seen); continue; }
        const waitMs = Number(due - process.hrtime.bigint()) / 1e6;
        if (waitMs > 0.02) { Atomics.wait(sequence, 0, seen, waitMs); continue; }
        if (Atomics.compareExchange(armed, 0, due, 0n) === due) parentPort.postMessage(0);
      }
      `,
      { eval: true, workerData: this.shared },
    );
    this.worker.on('message', () => this.runDue());
    this.worker.unref();
  }

  schedule(due: number, action: () => void): void {
    this.push({ due, order: this.order++, action });
    this.arm();
  }

  private runDue(): void {
    const now = nowMs() + 0.05;
    while (this.heap.length > 0 && this.heap[0]!.due <= now) this.pop().action();
    this.arm();
  }

  /** Tells the worker the earliest due time, if it is earlier than the one it sleeps towards. */
  private arm(): void {
    if (this.heap.length === 0) return;
    const due = BigInt(Math.round(this.heap[0]!.due * 1e6));
    const current = Atomics.load(this.armed, 0);
    if (current !== 0n && current <= due) return;
    Atomics.store(this.armed, 0, due);
    Atomics.add(this.sequence, 0, 1);
    Atomics.notify(this.sequence, 0);
  }

  private push(item: { due: number; order: number; action: () => void }): void {
    const heap = this.heap;
    heap.push(item);
    let at = heap.length - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!before(heap[at]!, heap[parent]!)) break;
      [heap[at], heap[parent]] = [heap[parent]!, heap[at]!];
      at = parent;
    }
  }

  private pop(): { due: number; order: number; action: () => void } {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let at = 0;
      for (;;) {
        const left = 2 * at + 1;
        const right = left + 1;
        let smallest = at;
        if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
        if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
        if (smallest === at) break;
        [heap[at], heap[smallest]] = [heap[smallest]!, heap[at]!];
        at = smallest;
      }
    }
    return top;
  }
}

function before(a: { due: number; order: number }, b: { due: number; order: number }): boolean {
  return a.due < b.due || (a.due === b.due && a.order < b.order);
}
