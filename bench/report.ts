import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canPin, LOAD_CPU, SERVER_CPU, type LoadResult } from './lib.js';
import { fmt } from './format.js';
import type { Row } from './measure.js';
import type { EtcdResult } from './scenarios/etcd.js';
import type { LargeStoreResult } from './scenarios/large-store.js';
import type { WatchResult } from './scenarios/watch.js';
import { CONNECTIONS, LARGE_KEYS, quick, root, ROUNDS, SECONDS, SMALL_KEYS } from './settings.js';

/**
 * What `npm run bench` prints: one Markdown table (kvs against its anchor,
 * scenario by scenario), then notes. The whole run's report also goes to
 * .bench/latest.md.
 */
export function report(rows: Row[], redis: LoadResult | null, large: LargeStoreResult, npmStartMs: number, watch: WatchResult, etcd: EtcdResult): void {
  const { million } = large;
  const lines = ['', ...tableHeader(), ...rows.map(rowLine)];
  const put = rows.find((row) => row.scenario.startsWith('PUT'));
  if (redis !== null && put !== undefined) lines.push(tableRow(put.scenario, put.subject, 'Redis SET, appendfsync always', redis));
  lines.push(tableRow(million.scenario, million.subject, `kvs with ${SMALL_KEYS} keys`, million.anchor));
  lines.push(...etcd.rows.map(rowLine));
  lines.push(
    '',
    `- ${LARGE_KEYS.toLocaleString('en')} keys loaded through /v1/admin/import in ${(large.loadMs / 1000).toFixed(1)} s; resident memory of a server holding them, after the GET runs: ${large.largeStoreRss.toFixed(0)} MiB (LMDB's mapped pages included)`,
    `- start-up with ${LARGE_KEYS.toLocaleString('en')} keys (spawn to first 200 from /readyz, median of 3): ${large.startupMs.toFixed(0)} ms`,
    `- \`npm start\` on a built checkout (spawn of npm to first 200 from /healthz, median of ${quick ? 1 : 3}): ${npmStartMs.toFixed(0)} ms`,
    watchLine(watch),
    ...etcd.notes,
    errorsLine([...rows, million, ...etcd.rows]),
    settingsLine(),
  );
  const text = lines.join('\n');
  process.stdout.write(`${text}\n`);
  mkdirSync(join(root, '.bench'), { recursive: true });
  writeFileSync(join(root, '.bench', 'latest.md'), `${text}\n`);
}

/** --paths-only: the table of `rows` (and the Redis row) alone. */
export function reportRows(rows: Row[], redis: LoadResult | null): void {
  const lines = ['', ...tableHeader(), ...rows.map(rowLine)];
  const put = rows.find((row) => row.scenario.startsWith('PUT'));
  if (redis !== null && put !== undefined) lines.push(tableRow(put.scenario, put.subject, 'Redis SET, appendfsync always', redis));
  lines.push('', errorsLine(rows), settingsLine());
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** --etcd-only: the etcd rows in the same table, or only the note saying why there are none. */
export function reportEtcdOnly(etcd: EtcdResult): void {
  const lines =
    etcd.rows.length === 0 ? etcd.notes : ['', ...tableHeader(), ...etcd.rows.map(rowLine), '', ...etcd.notes, errorsLine(etcd.rows), settingsLine()];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** --watch-only: the watch line alone. */
export function reportWatchOnly(watch: WatchResult): void {
  process.stdout.write(`${watchLine(watch)}\n`);
}

function tableHeader(): string[] {
  return [
    `| scenario | kvs req/s | kvs p99 ms | anchor | anchor req/s | anchor p99 ms | ratio (req/s) | ratio (CPU per request) |`,
    `|---|---:|---:|---|---:|---:|---:|---:|`,
  ];
}

function rowLine(row: Row): string {
  return tableRow(row.scenario, row.subject, row.anchorName, row.anchor);
}

function errorsLine(rows: Row[]): string {
  return `- errors (non-2xx or socket) across all runs: ${rows.reduce((sum, row) => sum + row.subject.errors + row.anchor.errors, 0)}`;
}

function settingsLine(): string {
  return `- ${process.version}, ${SECONDS} s x ${ROUNDS} interleaved rounds, ${CONNECTIONS} connections, wrk -t1${canPin ? `, servers on CPU ${SERVER_CPU}, load on CPU ${LOAD_CPU}` : ''}`;
}

function tableRow(scenario: string, subject: LoadResult, anchorName: string, anchor: LoadResult): string {
  const cpuRatio = anchor.cpuUsPerRequest / subject.cpuUsPerRequest;
  return `| ${scenario} | ${fmt(subject.requestsPerSecond)} | ${subject.p99Ms.toFixed(2)} | ${anchorName} | ${fmt(anchor.requestsPerSecond)} | ${anchor.p99Ms.toFixed(2)} | ${(subject.requestsPerSecond / anchor.requestsPerSecond).toFixed(2)}x | ${cpuRatio.toFixed(2)}x (${subject.cpuUsPerRequest.toFixed(1)} vs ${anchor.cpuUsPerRequest.toFixed(1)} µs) |`;
}

function watchLine(watch: WatchResult): string {
  return `- watch: one change to ${watch.watchers.toLocaleString('en')} watchers of one prefix (${watch.changes} changes): delivery p50 ${watch.p50Ms.toFixed(1)} ms, p99 ${watch.p99Ms.toFixed(1)} ms, max ${watch.maxMs.toFixed(1)} ms (from sending the PUT); server memory per idle watcher ${(watch.bytesPerIdleWatcher / 1024).toFixed(1)} KiB`;
}

/** The subject's req/s as a multiple of the anchor's (the progress lines on stderr). */
