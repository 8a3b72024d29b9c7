import { request, type ClientRequest } from 'node:http';
import { createInterface } from 'node:readline';

/**
 * The watch benchmark's clients (run pinned to the load CPU by scenarios/watch.ts):
 * opens WATCHERS streams on one prefix, reports "ready", then for each line
 * "expect <revision> <sentAtMs>" on stdin reports, once every watcher has
 * received that revision, the delivery latencies (ms since the write was sent).
 *
 * Usage: node watch-clients.js URL PREFIX WATCHERS
 */
const [url, prefix, watchersText] = process.argv.slice(2);
const watchers = Number(watchersText);
const target = new URL(`/v1/watch?prefix=${encodeURIComponent(prefix ?? '')}&values=false`, url);
const now = () => performance.timeOrigin + performance.now();

/** revision → receipt times */
const receipts = new Map<number, number[]>();
const waiting = new Map<number, (times: number[]) => void>();
const requests: ClientRequest[] = [];
let connected = 0;

function open(): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(target, { agent: false }, (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`watch refused: ${response.statusCode}`));
        return;
      }
      response.setEncoding('utf8');
      let buffer = '';
      let first = true;
      response.on('data', (chunk: string) => {
        if (first) {
          first = false;
          connected++;
          resolve();
        }
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const id = /^id: (\d+)$/m.exec(block);
          if (id !== null && block.includes('event: change')) record(Number(id[1]));
        }
      });
    });
    req.on('error', reject);
    req.end();
    requests.push(req);
  });
}

function record(revision: number): void {
  let times = receipts.get(revision);
  if (times === undefined) {
    times = [];
    receipts.set(revision, times);
  }
  times.push(now());
  if (times.length === watchers) waiting.get(revision)?.(times);
}

// Connect in waves: thousands of simultaneous SYNs would overflow the listen backlog.
for (let first = 0; first < watchers; first += 250) {
  await Promise.all(Array.from({ length: Math.min(250, watchers - first) }, open));
}
process.stdout.write(`ready ${connected}\n`);

for await (const line of createInterface({ input: process.stdin })) {
  const [command, revisionText, sentAtText] = line.split(' ');
  if (command !== 'expect') break;
  const revision = Number(revisionText);
  const sentAt = Number(sentAtText);
  const times = await new Promise<number[]>((resolve) => {
    const already = receipts.get(revision);
    if (already !== undefined && already.length === watchers) resolve(already);
    else waiting.set(revision, resolve);
  });
  process.stdout.write(`latencies ${JSON.stringify(times.map((time) => Math.round((time - sentAt) * 100) / 100))}\n`);
}
for (const req of requests) req.destroy();
process.exit(0);
