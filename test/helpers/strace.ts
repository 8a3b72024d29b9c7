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
