import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, pinned, SERVER_CPU, startProcess, stopProcess, waitFor } from './lib.js';
import { CLI, VALUE, workDirectory } from './settings.js';

/** A server under load: where to send requests, and the process whose CPU counts. */
export interface Server {
  url: string;
  pid: number;
}

/** Every process the run started: stopped at its end (run.ts), whatever happened. */
const children: ChildProcess[] = [];

/** Adds a process to those stopped at the end of the run; returns it. */
export function track<T extends ChildProcess>(child: T): T {
  children.push(child);
  return child;
}

export async function stopAll(): Promise<void> {
  for (const child of children) await stopProcess(child);
}

/** `kvs serve` on the server CPU, with its data in the run's directory `name` (emptied first unless `fresh` is false). */
export async function startKvs(name: string, fresh = true, env: Record<string, string> = {}): Promise<Server & { child: ChildProcess; readyMs: number }> {
  const port = await freePort();
  const dataDirectory = join(workDirectory, name);
  if (fresh) rmSync(dataDirectory, { recursive: true, force: true });
  mkdirSync(dataDirectory, { recursive: true });
  const startedAt = performance.now();
  const child = track(
    startProcess(pinned(SERVER_CPU, [process.execPath, CLI, 'serve']), {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIRECTORY: dataDirectory,
      LOG_LEVEL: 'warn',
      ...env,
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/readyz`);
  return { url, pid: child.pid!, child, readyMs: performance.now() - startedAt };
}

/** Loads `count` keys bench/k0.. through the import API, 50,000 per request. */
export async function preload(url: string, count: number): Promise<number> {
  const startedAt = performance.now();
  const value = Buffer.from(VALUE).toString('base64');
  for (let first = 0; first < count; first += 50_000) {
    const lines: string[] = [];
    for (let i = first; i < Math.min(count, first + 50_000); i++) lines.push(`{"key":"bench/k${i}","value":"${value}","contentType":"text/plain"}`);
    const response = await fetch(`${url}/v1/admin/import`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: lines.join('\n') });
    if (!response.ok) throw new Error(`preload failed: ${response.status} ${await response.text()}`);
  }
  return performance.now() - startedAt;
}

export function rssMb(pid: number): number {
  try {
    const status = execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' });
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}
