import { median, runWrk, type LoadResult } from './lib.js';
import { fmt, ratio } from './format.js';
import { CONNECTIONS, log, ROUNDS, SECONDS, WARMUP_SECONDS } from './settings.js';
import type { Server } from './servers.js';

/** A wrk script (bench/wrk/) and its environment. */
export type Load = { script: string; env: Record<string, string> };

/** A line of the report's table: kvs (the subject) against an anchor. */
export interface Row {
  scenario: string;
  subject: LoadResult;
  anchor: LoadResult;
  anchorName: string;
}

export async function compare(scenario: string, anchorName: string, anchorServer: Server, subjectServer: Server, load: Load): Promise<Row> {
  const row = await compareServers(scenario, subjectServer, load, anchorServer, load);
  return { ...row, anchorName };
}

/** Interleaved rounds of subject and anchor; medians of each. */
export async function compareServers(scenario: string, subjectServer: Server, subjectLoad: Load, anchorServer: Server, anchorLoad: Load): Promise<Row> {
  const subject: LoadResult[] = [];
  const anchor: LoadResult[] = [];
  // Unmeasured warm-up, so the JIT has compiled both servers' hot paths.
  load(anchorServer, anchorLoad, WARMUP_SECONDS);
  load(subjectServer, subjectLoad, WARMUP_SECONDS);
  for (let round = 0; round < ROUNDS; round++) {
    anchor.push(load(anchorServer, anchorLoad));
    subject.push(load(subjectServer, subjectLoad));
  }
  const row = { scenario, subject: summarise(subject), anchor: summarise(anchor), anchorName: '' };
  log(`${scenario}: ${fmt(row.subject.requestsPerSecond)} req/s vs ${fmt(row.anchor.requestsPerSecond)} (${ratio(row)})`);
  return row;
}

function load(server: Server, { script, env }: Load, seconds = SECONDS): LoadResult {
  Object.assign(process.env, { RUN_ID: runId() }, env);
  try {
    return runWrk(server.url, server.pid, { seconds, connections: CONNECTIONS, script });
  } finally {
    for (const name of Object.keys(env)) delete process.env[name];
  }
}

/** Tells apart the fresh keys of each wrk process (put-fresh.lua, etcd-gateway.lua). */
export function runId(): string {
  return `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

export function summarise(results: LoadResult[]): LoadResult {
  return {
    requestsPerSecond: median(results.map((result) => result.requestsPerSecond)),
    p99Ms: median(results.map((result) => result.p99Ms)),
    errors: results.reduce((sum, result) => sum + result.errors, 0),
    cpuUsPerRequest: median(results.map((result) => result.cpuUsPerRequest)),
  };
}
