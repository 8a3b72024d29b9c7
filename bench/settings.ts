import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

/**
 * The run's settings, from its command line (see run.ts), and the paths every
 * scenario uses.
 */
export const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    keys: { type: 'string', default: '1000000' },
    quick: { type: 'boolean', default: false },
    'watch-only': { type: 'boolean', default: false },
    'etcd-only': { type: 'boolean', default: false },
  },
});
export const quick = flags.quick === true;
export const SECONDS = quick ? 1 : Number(flags.seconds);
export const ROUNDS = quick ? 1 : Number(flags.rounds);
export const CONNECTIONS = Number(flags.connections);
export const LARGE_KEYS = quick ? 20_000 : Number(flags.keys);
export const SMALL_KEYS = 1000;
export const WATCHERS = 5000;
export const WARMUP_SECONDS = quick ? 1 : 2;
export const VALUE = 'x'.repeat(100);

// These files run from dist/bench/: the repository is two levels up.
export const root = new URL('../..', import.meta.url).pathname;
export const CLI = join(root, 'dist/src/cli/index.js');
export const CEILING = join(root, 'dist/bench/ceiling-server.js');
export const WATCH_CLIENTS = join(root, 'dist/bench/watch-clients.js');
export const WRK = join(root, 'bench/wrk');
/** The data directories of the run's servers: removed at its end (run.ts). */
export const workDirectory = mkdtempSync(join(tmpdir(), 'kvs-bench-'));

export function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}
