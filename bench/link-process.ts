/**
 * The simulated network of the etcd benchmark's latency variant, in a process
 * of its own (pinned with the load generators, so that its work is not
 * counted as a server's): TCP proxies that add a one-way delay each way
 * (test/helpers/tcp-proxy.ts). Commands on stdin, one JSON object a line:
 *
 *   {"id":1,"target":"http://127.0.0.1:2379","delayMs":0.5}  → {"id":1,"url":"http://127.0.0.1:41234"}
 *   {"id":2,"setDelayMs":2}                                   → {"id":2}   (every link)
 */
import { createInterface } from 'node:readline';
import { TcpProxy } from '../test/helpers/tcp-proxy.js';

const proxies: TcpProxy[] = [];
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  const command = JSON.parse(line) as { id: number; target?: string; delayMs?: number; setDelayMs?: number };
  try {
    if (command.target !== undefined) {
      const proxy = await TcpProxy.start(command.target, { delayMs: command.delayMs ?? 0 });
      proxies.push(proxy);
      process.stdout.write(`${JSON.stringify({ id: command.id, url: proxy.url })}\n`);
    } else if (command.setDelayMs !== undefined) {
      for (const proxy of proxies) proxy.setDelay(command.setDelayMs);
      process.stdout.write(`${JSON.stringify({ id: command.id })}\n`);
    }
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ id: command.id, error: (error as Error).message })}\n`);
  }
}
await Promise.all(proxies.map((proxy) => proxy.close()));
process.exit(0);
