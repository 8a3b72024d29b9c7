import { parseArgs } from 'node:util';
import { EXIT, type ExitCode } from './exit-codes.js';
import { formatBytes, Progress } from './progress.js';

export const RESTORE_USAGE = `Usage:
  kvs restore SRC --data-directory DIR

Makes DIR the data directory of a store restored from SRC, a backup taken with
kvs backup (GET /v1/admin/backup); then run kvs serve with DATA_DIRECTORY=DIR.
DIR must be missing or empty, and no kvs may be serving it. SRC is checked
record by record first: a truncated, corrupt or foreign file is refused, and
DIR is left as it was. The restored store has every key, version, TTL and the
change history as of the backup's revision. At a terminal, standard error shows
how far the copy and the check are.
`;

/** `kvs restore SRC --data-directory DIR`: returns the exit code; every failure is one line on stderr. */
export async function restoreCommand(args: string[]): Promise<ExitCode> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { 'data-directory': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    return usageError((error as Error).message);
  }
  if (parsed.values.help === true) {
    process.stdout.write(RESTORE_USAGE);
    return EXIT.ok;
  }
  const [source, ...extra] = parsed.positionals;
  const directory = parsed.values['data-directory'];
  if (source === undefined || source === '') return usageError('give the backup file to restore (SRC)');
  if (extra.length > 0) return usageError(`give one SRC only (also got ${extra.map((name) => JSON.stringify(name)).join(', ')})`);
  if (directory === undefined || directory === '') return usageError('--data-directory DIR is required');
  // Loaded only now: --help and usage errors need no LMDB.
  const { restoreBackup } = await import('../engine/lmdb/restore.js');
  // Interrupted, the restore removes what it wrote: the directory holds the whole store or nothing.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  for (const signal of STOP_SIGNALS) process.once(signal, onSignal);
  const progress = new RestoreProgress(process.stderr);
  try {
    const restored = await restoreBackup(source, directory, { signal: stop.signal, ...(process.stderr.isTTY ? { onProgress: progress.report } : {}) });
    progress.finish();
    process.stdout.write(
      `restored revision ${restored.revision} (${restored.keys.toLocaleString('en-US')} keys, ${formatBytes(restored.bytes)}) into ${directory}\n`,
    );
    return EXIT.ok;
  } catch (error) {
    progress.abandon();
    if (stop.signal.aborted) {
      process.stderr.write(`kvs restore: interrupted; nothing was restored into ${directory}\n`);
      return EXIT.error;
    }
    // A refusal says what and why; anything else (no space left, permissions) is named by its message. Never a stack.
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`kvs restore: ${message.split('\n')[0]}\n`);
    return EXIT.error;
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
}

/** At a terminal: a line for the copy, then one for the check of every record (a large store takes a while). */
class RestoreProgress {
  private readonly copying: Progress;
  private verifying: Progress | null = null;
  private copiedBytes = 0;
  private checked = 0;

  constructor(private readonly stream: NodeJS.WriteStream) {
    this.copying = new Progress(stream, 'bytes', 'copied');
  }

  readonly report = (phase: 'copying' | 'verifying', done: number, total: number): void => {
    if (phase === 'copying') {
      this.copiedBytes = done;
      return this.copying.update(done);
    }
    if (this.verifying === null) {
      this.copying.finish(this.copiedBytes);
      this.verifying = new Progress(this.stream, 'records', 'verified', total);
    }
    this.checked = done;
    this.verifying.update(done);
  };

  finish(): void {
    this.verifying?.finish(this.checked);
  }

  abandon(): void {
    if (this.verifying === null) this.copying.abandon();
    else this.verifying.abandon();
  }
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function usageError(message: string): ExitCode {
  process.stderr.write(`kvs restore: ${message} (see kvs restore --help)\n`);
  return EXIT.usage;
}
