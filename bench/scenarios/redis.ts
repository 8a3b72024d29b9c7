import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cpuSeconds, freePort, LOAD_CPU, pinned, SERVER_CPU, startProcess, stopProcess, type LoadResult } from '../lib.js';
import { summarise } from '../measure.js';
import { fmt } from '../format.js';
import { track } from '../servers.js';
import { CONNECTIONS, log, ROUNDS, SECONDS, workDirectory } from '../settings.js';

/** Redis with appendfsync always, SET of fresh keys through redis-benchmark: the durable-write anchor. */
export async function measureRedis(): Promise<LoadResult> {
  const port = await freePort();
  const directory = join(workDirectory, 'redis');
  mkdirSync(directory, { recursive: true });
  const server = track(
    startProcess(
      pinned(SERVER_CPU, [
        'redis-server',
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
        '--dir',
        directory,
      ]),
    ),
  );
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'ignore' });
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const results: LoadResult[] = [];
  const pid = server.pid!;
  for (let round = 0; round <= ROUNDS; round++) {
    const cpuBefore = cpuSeconds(pid);
    const requests = Math.max(20_000, SECONDS * 40_000);
    const args = pinned(LOAD_CPU, [
      'redis-benchmark',
      '-p',
      String(port),
      '-t',
      'set',
      '-n',
      String(requests),
      '-c',
      String(CONNECTIONS),
      '-r',
      '1000000000',
      '-d',
      '100',
      '--csv',
    ]);
    const output = execFileSync(args[0]!, args.slice(1), { encoding: 'utf8' });
    const row = output
      .trim()
      .split('\n')
      .find((line) => line.startsWith('"SET"'));
    if (row === undefined) throw new Error(`could not parse redis-benchmark output:\n${output}`);
    const fields = row.split(',').map((field) => field.replace(/"/g, ''));
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    const cpuUsPerRequest = ((cpuSeconds(pid) - cpuBefore) * 1e6) / requests;
    if (round > 0) results.push({ requestsPerSecond: Number(fields[1]), p99Ms: Number(fields[6]), errors: 0, cpuUsPerRequest }); // round 0 warms up
  }
  await stopProcess(server);
  const result = summarise(results);
  log(`Redis SET (appendfsync always): ${fmt(result.requestsPerSecond)} req/s`);
  return result;
}
