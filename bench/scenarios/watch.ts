import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { LOAD_CPU, pinned, stopProcess } from '../lib.js';
import { rssMb, startKvs, track } from '../servers.js';
import { log, quick, WATCH_CLIENTS } from '../settings.js';

export interface WatchResult {
  watchers: number;
  changes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  bytesPerIdleWatcher: number;
}

/**
 * One change to `watchers` watchers of the same prefix: the watchers run in a
 * client process on the load CPU; latency is from sending the PUT to each
 * watcher's receipt of the change (both processes read the same system clock),
 * so it includes the durable write and the client's own parsing of thousands of
 * streams on one core. Memory per idle watcher is the server's RSS
 * growth while they are open, divided by their number.
 */
export async function measureWatch(watchers: number): Promise<WatchResult> {
  const server = await startKvs('watch');
  await fetch(`${server.url}/v1/kv/watched/warmup`, { method: 'PUT', body: 'x' });
  const rssBefore = rssMb(server.pid);
  const command = pinned(LOAD_CPU, [process.execPath, WATCH_CLIENTS, server.url, 'watched/', String(watchers)]);
  const clients = track(spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] }));
  const lines = createInterface({ input: clients.stdout! })[Symbol.asyncIterator]();
  const nextLine = async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the watch clients did not answer within 60 s (a watcher dropped?)')), 60_000);
    });
    try {
      const { value, done } = await Promise.race([lines.next(), timeout]);
      if (done) throw new Error('the watch clients exited');
      return value as string;
    } finally {
      clearTimeout(timer);
    }
  };
  const ready = await nextLine();
  if (!ready.startsWith('ready')) throw new Error(`watch clients: ${ready}`);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const rssAfter = rssMb(server.pid);
  const latencies: number[] = [];
  const changes = quick ? 2 : 5;
  // Change -1 warms both sides up (the JIT compiles the delivery path) and is not counted.
  for (let change = -1; change < changes; change++) {
    const sentAt = performance.timeOrigin + performance.now();
    const response = await fetch(`${server.url}/v1/kv/watched/key`, { method: 'PUT', body: String(change) });
    if (!response.ok) throw new Error(`the watched PUT failed: ${response.status} ${await response.text()}`);
    const { revision } = (await response.json()) as { revision: number };
    clients.stdin!.write(`expect ${revision} ${sentAt}\n`);
    const line = await nextLine();
    if (change >= 0) latencies.push(...(JSON.parse(line.slice('latencies '.length)) as number[]));
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  clients.stdin!.end();
  await new Promise((resolve) => clients.once('exit', resolve));
  await stopProcess(server.child);
  const sorted = latencies.sort((a, b) => a - b);
  const result = {
    watchers,
    changes,
    p50Ms: sorted[Math.floor(sorted.length * 0.5)]!,
    p99Ms: sorted[Math.floor(sorted.length * 0.99)]!,
    maxMs: sorted.at(-1)!,
    bytesPerIdleWatcher: ((rssAfter - rssBefore) * 1024 * 1024) / watchers,
  };
  log(`watch: ${watchers} watchers, p99 delivery ${result.p99Ms.toFixed(1)} ms, ${(result.bytesPerIdleWatcher / 1024).toFixed(1)} KiB per idle watcher`);
  return result;
}
