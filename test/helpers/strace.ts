import { execFileSync } from 'node:child_process';

/** The path of strace, if it is installed and allowed to trace here (some containers forbid ptrace); else null. */
export function whichStrace(): string | null {
  try {
    const path = execFileSync('sh', ['-c', 'command -v strace'], { encoding: 'utf8' }).trim();
    if (path === '') return null;
    execFileSync(path, ['-f', '-qq', '-o', '/dev/null', 'true']);
    return path;
  } catch {
    return null;
  }
}

/**
 * The command line of `kvs serve` under strace with every fdatasync and fsync
 * slowed by `delayMs` (strace's syscall fault injection), its trace written to
 * `log`; `traced` adds syscalls to record without slowing them.
 */
export function slowSyncServeCommand(strace: string, cli: string, delayMs: number, log = '/dev/null', traced: readonly string[] = []): string[] {
  const delayUs = delayMs * 1000;
  return [
    strace,
    '-f',
    '-qq',
    '-o',
    log,
    '-e',
    `trace=${['fdatasync', 'fsync', ...traced].join(',')}`,
    '-e',
    `inject=fdatasync:delay_exit=${delayUs}`,
    '-e',
    `inject=fsync:delay_exit=${delayUs}`,
    process.execPath,
    cli,
    'serve',
  ];
}
