import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The long run: `npm run test:robustness -- --duration 10m`.
 *
 * Runs every robustness test file (dist/test/robustness/*.test.js, next to
 * this file) one after another with `node --test`, giving each an equal share
 * of the duration through KVS_ROBUSTNESS_SECONDS (the tests scale their work
 * to it: test/robustness/lib/budget.ts) and a report file through
 * KVS_ROBUSTNESS_REPORT (lib/report.ts). At the end it prints a Markdown
 * summary of the files and of the figures each test reported, and exits 1 if
 * any file failed.
 */

const DEFAULT_DURATION = '10m';

/** `90s`, `10m`, `1h`, `1.5h`, `500ms` or a bare number of seconds → seconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (match === null) throw new Error(`--duration must look like 90s, 10m or 1h (got ${JSON.stringify(text)})`);
  const amount = Number(match[1]);
  const unit = (match[2] ?? 's').toLowerCase();
  const seconds = unit === 'ms' ? amount / 1000 : unit === 's' ? amount : unit === 'm' ? amount * 60 : amount * 3600;
  if (!(seconds > 0)) throw new Error(`--duration must be more than zero (got ${JSON.stringify(text)})`);
  return seconds;
}

interface Options {
  seconds: number;
  /** Only files whose name contains one of these (optional positional arguments). */
  filters: string[];
}

function parseArguments(argv: readonly string[]): Options {
  let duration = DEFAULT_DURATION;
  const filters: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i]!;
    if (argument === '--duration') {
      const value = argv[++i];
      if (value === undefined) throw new Error('--duration needs a value, such as 10m');
      duration = value;
    } else if (argument.startsWith('--duration=')) {
      duration = argument.slice('--duration='.length);
    } else if (argument === '--help' || argument === '-h') {
      process.stdout.write('usage: npm run test:robustness -- [--duration 10m] [name-filter ...]\n');
      process.exit(0);
    } else if (argument.startsWith('-')) {
      throw new Error(`unknown option ${argument} (known: --duration)`);
    } else {
      filters.push(argument);
    }
  }
  return { seconds: parseDuration(duration), filters };
}

interface FileRun {
  file: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  seconds: number;
  reports: Record<string, unknown>[];
}

function runFile(file: string, env: NodeJS.ProcessEnv): Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--test', '--test-reporter=spec', file], { env, stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (exitCode, signal) => resolve({ exitCode, signal }));
  });
}

function readReports(file: string, from: number): { reports: Record<string, unknown>[]; length: number } {
  if (!existsSync(file)) return { reports: [], length: from };
  const text = readFileSync(file, 'utf8');
  const reports: Record<string, unknown>[] = [];
  for (const line of text.slice(from).split('\n')) {
    if (line.trim() === '') continue;
    try {
      reports.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      reports.push({ test: '(unreadable report line)', line });
    }
  }
  return { reports, length: text.length };
}

function cell(value: unknown): string {
  const text = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

export function markdownSummary(runs: readonly FileRun[], seconds: number): string {
  const lines: string[] = [];
  lines.push(`## Robustness run (${formatSeconds(seconds)} requested)`, '');
  lines.push('| file | result | time |', '|---|---|---:|');
  for (const run of runs) {
    const result = run.exitCode === 0 ? 'pass' : run.signal !== null ? `FAIL (${run.signal})` : `FAIL (exit ${run.exitCode})`;
    lines.push(`| ${cell(basename(run.file))} | ${result} | ${formatSeconds(run.seconds)} |`);
  }
  // One table per reported test name, with the union of its figures as columns.
  const byTest = new Map<string, { file: string; figures: Record<string, unknown> }[]>();
  for (const run of runs) {
    for (const report of run.reports) {
      const { test, ...figures } = report;
      const name = typeof test === 'string' ? test : '(unnamed)';
      if (!byTest.has(name)) byTest.set(name, []);
      byTest.get(name)!.push({ file: basename(run.file), figures });
    }
  }
  for (const [name, rows] of byTest) {
    const columns = [...new Set(rows.flatMap((row) => Object.keys(row.figures)))];
    lines.push('', `### ${name}`, '');
    lines.push(`| ${columns.map(cell).join(' | ')} |`, `|${columns.map(() => '---:').join('|')}|`);
    for (const row of rows) lines.push(`| ${columns.map((column) => cell(row.figures[column])).join(' | ')} |`);
  }
  const silent = runs.filter((run) => run.reports.length === 0).map((run) => basename(run.file));
  if (silent.length > 0) lines.push('', `No figures reported by: ${silent.join(', ')}`);
  return lines.join('\n');
}

function formatSeconds(seconds: number): string {
  if (seconds >= 3600) return `${(seconds / 3600).toFixed(2).replace(/\.?0+$/, '')}h`;
  if (seconds >= 60) return `${(seconds / 60).toFixed(1).replace(/\.0$/, '')}m`;
  return `${seconds.toFixed(1).replace(/\.0$/, '')}s`;
}

async function main(): Promise<number> {
  const options = parseArguments(process.argv.slice(2));
  const directory = fileURLToPath(new URL('.', import.meta.url));
  const files = readdirSync(directory)
    .filter((name) => name.endsWith('.test.js'))
    .filter((name) => options.filters.length === 0 || options.filters.some((filter) => name.includes(filter)))
    .sort()
    .map((name) => join(directory, name));
  if (files.length === 0) {
    process.stderr.write(
      `no robustness test files (*.test.js) in ${directory}${options.filters.length > 0 ? ` matching ${options.filters.join(', ')}` : ''}\n`,
    );
    return 1;
  }
  const share = options.seconds / files.length;
  const reportDirectory = mkdtempSync(join(tmpdir(), 'kvs-robustness-'));
  const reportFile = join(reportDirectory, 'report.jsonl');
  process.stdout.write(`robustness run: ${files.length} file(s), ${formatSeconds(options.seconds)} in all, ${formatSeconds(share)} each\n`);
  const runs: FileRun[] = [];
  let offset = 0;
  try {
    for (const file of files) {
      process.stdout.write(`\n=== ${basename(file)} (${formatSeconds(share)}) ===\n`);
      const startedAt = Date.now();
      const env = { ...process.env, KVS_ROBUSTNESS_SECONDS: String(share), KVS_ROBUSTNESS_REPORT: reportFile };
      let outcome: { exitCode: number | null; signal: NodeJS.Signals | null };
      try {
        outcome = await runFile(file, env);
      } catch (error) {
        process.stderr.write(`could not run ${file}: ${String(error)}\n`);
        outcome = { exitCode: null, signal: null };
      }
      const { reports, length } = readReports(reportFile, offset);
      offset = length;
      runs.push({ file, ...outcome, seconds: (Date.now() - startedAt) / 1000, reports });
    }
  } finally {
    rmSync(reportDirectory, { recursive: true, force: true });
  }
  process.stdout.write(`\n${markdownSummary(runs, options.seconds)}\n`);
  const failed = runs.filter((run) => run.exitCode !== 0);
  if (failed.length > 0) process.stdout.write(`\n${failed.length} of ${runs.length} file(s) failed: ${failed.map((run) => basename(run.file)).join(', ')}\n`);
  return failed.length > 0 ? 1 : 0;
}

// `node --test dist/test/` (a directory, which Node 20 accepts: `npm test` ran that before it
// named the *.test.js files) executes every .js file under a directory named test, this one
// included: there it is not the entry point and must do nothing (the test runner marks its
// children with NODE_TEST_CONTEXT).
if (process.env.NODE_TEST_CONTEXT === undefined) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(2);
    },
  );
}
