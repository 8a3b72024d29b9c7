import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** The same free-port picker the tests use. */
export { freePort } from '../test/helpers/ports.js';

/** Pinning: on a machine with two or more cores, servers on CPU 0 and load generators on CPU 1. */
export const canPin = availableParallelism() >= 2 && has('taskset');
export const SERVER_CPU = '0';
export const LOAD_CPU = '1';

export function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

export function pinned(cpu: string, command: string[]): string[] {
  return canPin ? ['taskset', '-c', cpu, ...command] : command;
}

/** Pins every thread of a running process (a Go server such as etcd has many) to `cpu`; threads it starts later inherit it. */
export function pinRunning(cpu: string, pid: number): void {
  if (canPin) execFileSync('taskset', ['-a', '-p', '-c', cpu, String(pid)], { stdio: 'ignore' });
}

export function startProcess(command: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(command[0]!, command.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  return child;
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export async function waitFor(url: string, timeoutMs = 20_000): Promise<number> {
  const startedAt = performance.now();
  while (performance.now() - startedAt < timeoutMs) {
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.ok) return performance.now() - startedAt;
    } catch {
      // not yet
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

export interface LoadResult {
  requestsPerSecond: number;
  p99Ms: number;
  errors: number;
  /** CPU time the server process (all its threads) spent per request, in µs: steadier than req/s on a shared machine. */
  cpuUsPerRequest: number;
  /** Of `errors`, the answers that were not 2xx or 3xx (the rest: socket errors). */
  non2xx?: number;
}

const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds (user + system, all threads) a process has used. */
export function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/** Runs wrk (pinned to the load CPU) against the server `pid` (or server processes `pids`) and parses requests/s, p99 and errors. */
export function runWrk(url: string, pid: number | number[], options: { seconds: number; connections: number; script?: string }): LoadResult {
  const pids = typeof pid === 'number' ? [pid] : pid;
  const args = pinned(LOAD_CPU, wrkArgs(url, options));
  const cpuBefore = totalCpuSeconds(pids);
  const output = execFileSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  const cpuUsed = totalCpuSeconds(pids) - cpuBefore;
  const { requests, ...result } = parseWrk(output);
  return { ...result, cpuUsPerRequest: (cpuUsed * 1e6) / requests };
}

function wrkArgs(url: string, options: { seconds: number; connections: number; script?: string }): string[] {
  return ['wrk', '-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--latency', ...(options.script ? ['-s', options.script] : []), url];
}

function totalCpuSeconds(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

export function parseWrk(output: string): Omit<LoadResult, 'cpuUsPerRequest'> & { requests: number; p50Ms: number; non2xx: number } {
  const requests = Number(/(\d+) requests in/.exec(output)?.[1]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1]);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(output);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)\b/.exec(output);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((sum, value) => sum + Number(value), 0) : 0);
  if (!Number.isFinite(rps) || p99 === null) throw new Error(`could not parse wrk output:\n${output}`);
  const ms = (match: RegExpExecArray | null) => (match === null ? Number.NaN : Number(match[1]) * (match[2] === 'us' ? 0.001 : match[2] === 's' ? 1000 : 1));
  return { requests, requestsPerSecond: rps, p99Ms: ms(p99), p50Ms: ms(p50), errors, non2xx };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
