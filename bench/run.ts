/**
 * `npm run bench`: kvs against a bare node:http ceiling and Redis with
 * appendfsync always, on this machine, in the same run. Servers run on CPU 0
 * and the load generator on CPU 1 (when there are two cores), and every
 * scenario is measured in interleaved rounds, so noise from a shared machine
 * hits ceiling and subject alike; figures are medians and ratios.
 *
 * The etcd engine is measured against etcd itself: one 3-member cluster (real
 * etcd processes), GET and PUT through one kvs node and through two kvs nodes
 * sharing it, each against etcd's JSON gateway asked for the same read or write
 * directly (see scenarios/etcd.ts). Skipped, with a line saying so, when etcd is
 * not installed.
 *
 * Options: --seconds N (per measurement, default 2), --rounds N (default 10),
 * --connections N (default 64), --keys N (large store, default 1000000),
 * --quick (1 s, 1 round, 20000 keys: a smoke run), --watch-only (the watch
 * fan-out alone), --etcd-only (the etcd scenarios alone), --paths-only (the
 * ceiling, read-path, durable-write and Redis rows alone).
 *
 * Layout: this file runs the scenarios in order; scenarios/ has one file per
 * scenario (ceiling, read-paths, durable-writes, redis, large-store, watch,
 * etcd, npm-start); report.ts
 * prints the table and notes; measure.ts has the interleaved rounds;
 * servers.ts starts and loads kvs and stops every process at the end;
 * settings.ts holds the options; lib.ts wraps wrk, taskset and /proc.
 */
import { rmSync } from 'node:fs';
import { canPin, has, LOAD_CPU, SERVER_CPU } from './lib.js';
import { report, reportEtcdOnly, reportRows, reportWatchOnly } from './report.js';
import { measureAgainstCeiling } from './scenarios/ceiling.js';
import { measureDurableWrites } from './scenarios/durable-writes.js';
import { measureReadPaths } from './scenarios/read-paths.js';
import { measureEtcd, stopEtcd } from './scenarios/etcd.js';
import { measureLargeStore } from './scenarios/large-store.js';
import { measureNpmStart } from './scenarios/npm-start.js';
import { measureRedis } from './scenarios/redis.js';
import { measureWatch } from './scenarios/watch.js';
import { stopAll } from './servers.js';
import { CONNECTIONS, flags, log, quick, root, ROUNDS, SECONDS, WATCHERS, workDirectory } from './settings.js';

async function main(): Promise<void> {
  if (!has('wrk')) throw new Error('wrk is not installed (apt-get install -y wrk); it is the load generator');
  log(
    `node ${process.version}; pinning ${canPin ? `servers to CPU ${SERVER_CPU}, load to CPU ${LOAD_CPU}` : 'unavailable (one core or no taskset)'}; ${SECONDS} s x ${ROUNDS} rounds, ${CONNECTIONS} connections`,
  );
  if (flags['watch-only'] === true) {
    reportWatchOnly(await measureWatch(quick ? 500 : WATCHERS));
    return;
  }
  if (flags['etcd-only'] === true) {
    reportEtcdOnly(await measureEtcd());
    return;
  }

  const rows = [...(await measureAgainstCeiling()), ...(await measureReadPaths()), ...(await measureDurableWrites())];
  const redis = has('redis-server') && has('redis-benchmark') ? await measureRedis() : null;
  if (flags['paths-only'] === true) {
    reportRows(rows, redis);
    return;
  }
  const large = await measureLargeStore();
  const watch = await measureWatch(quick ? 500 : WATCHERS);
  const etcd = await measureEtcd();
  const npmStartMs = await measureNpmStart(root, workDirectory, quick ? 1 : 3);

  report(rows, redis, large, npmStartMs, watch, etcd);
}

try {
  await main();
} finally {
  await stopAll();
  await stopEtcd();
  rmSync(workDirectory, { recursive: true, force: true });
}
