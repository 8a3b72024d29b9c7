import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, median, waitFor } from '../lib.js';

/**
 * `npm start` on a built checkout: from spawning npm to the first 200 from
 * /healthz (issue 12's target: under 1 s). It includes npm's own start, the
 * prestart staleness check (no compile: the checkout is built) and kvs's
 * start on an empty store. Median of `runs`.
 */
export async function measureNpmStart(root: string, workDirectory: string, runs: number): Promise<number> {
  const times: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const port = await freePort();
    const dataDirectory = join(workDirectory, `npm-start-${run}`);
    mkdirSync(dataDirectory, { recursive: true });
    const startedAt = performance.now();
    // Its own process group: npm starts node, and both must stop.
    const child = spawn('npm', ['start', '--silent'], {
      cwd: root,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIRECTORY: dataDirectory, LOG_LEVEL: 'warn' },
      stdio: 'ignore',
      detached: true,
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await waitFor(`http://127.0.0.1:${port}/healthz`);
      times.push(performance.now() - startedAt);
    } finally {
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
    }
  }
  return median(times);
}
