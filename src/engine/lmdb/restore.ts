import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open, rename, rm, rmdir } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeNames, readLmdbHeader, STORE_FILE_NAME } from './store-file.js';
import { lockStore, StoreInUseError, type StoreLock } from './store-lock.js';
import type { StoreSummary, VerifierAnswer, VerifierProgress } from './verify-store.js';

/** Why a restore did not happen; its message is one line for the user, and nothing was left behind. */
export class RestoreRefused extends Error {
  override name = 'RestoreRefused';
  constructor(reason: string) {
    super(`${reason}; nothing was restored`);
  }
}

export interface RestoredStore {
  revision: number;
  keys: number;
  bytes: number;
}

export interface RestoreOptions {
  /** Ends the restore: whatever it wrote is removed, and it rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Told how far the copy is (`copying`: bytes), then how far its check is (`verifying`: entries of the
   * store's databases: records, log revisions, expiry index keys), first with 0 checked.
   */
  onProgress?: (phase: 'copying' | 'verifying', done: number, total: number) => void;
}

/** The copy being made inside the data directory; one a killed restore left behind is removed by the next. */
const TEMPORARY_FILE_NAME = /^\.restore-[0-9a-f]{16}\.mdb(?:-lock)?$/;
/** What a fresh volume holds and a restore may restore beside. */
const HARMLESS_ENTRIES = new Set(['lost+found']);
const VERIFIER = fileURLToPath(new URL('./verify-store-process.js', import.meta.url));

/**
 * `kvs restore`: makes `dataDirectory` (missing or empty) the data directory
 * of a store restored from `sourceFile`, a backup (GET /v1/admin/backup).
 * Offline: it refuses a directory a running kvs serves, and a source a
 * running kvs serves (a live store file is not a consistent copy). The source
 * is checked before anything is written (an LMDB file, not truncated), copied
 * into a temporary file in the directory, verified record by record in a
 * child process (verify-store.ts), synced, and renamed to the store's name,
 * so that the directory holds either the whole verified store or nothing.
 */
export async function restoreBackup(sourceFile: string, dataDirectory: string, options: RestoreOptions = {}): Promise<RestoredStore> {
  inspectBackupFile(sourceFile, sourceFile);
  const sourceLock = await holdSource(sourceFile);
  try {
    return await restoreInto(sourceFile, dataDirectory, options);
  } finally {
    await sourceLock.release();
  }
}

async function restoreInto(sourceFile: string, directory: string, { signal, onProgress }: RestoreOptions): Promise<RestoredStore> {
  const created = ensureDirectory(directory);
  const temporary = join(directory, `.restore-${randomBytes(8).toString('hex')}.mdb`);
  let lock: StoreLock | null = null;
  try {
    lock = await holdDirectory(directory);
    checkEmpty(directory);
    const totalBytes = statSync(sourceFile).size;
    let copiedBytes = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        copiedBytes += chunk.length;
        onProgress?.('copying', copiedBytes, totalBytes);
        done(null, chunk);
      },
    });
    await pipeline(createReadStream(sourceFile), counted, createWriteStream(temporary, { flags: 'wx' }), signal === undefined ? {} : { signal }).catch(
      (error: NodeJS.ErrnoException) => {
        if (signal?.aborted) throw signal.reason;
        throw new RestoreRefused(`${sourceFile} could not be copied into ${directory} (${error.code ?? error.message})`);
      },
    );
    // Checked again on the copy: it is what LMDB will open, and the source may have changed since.
    const bytes = inspectBackupFile(temporary, sourceFile);
    const onVerifying = onProgress === undefined ? undefined : (checked: number, total: number) => onProgress('verifying', checked, total);
    const summary = await verifyInChildProcess(temporary, sourceFile, signal, onVerifying);
    await syncFile(temporary);
    await rename(temporary, join(directory, STORE_FILE_NAME));
    await syncFile(directory);
    return { ...summary, bytes };
  } catch (error) {
    await rm(temporary, { force: true });
    if (created) await rmdir(directory).catch(() => {});
    throw error;
  } finally {
    await lock?.release();
  }
}

/**
 * The checks that need no LMDB: a readable, non-empty LMDB file whose meta
 * page's extent fits in it. LMDB maps the file, so reading a page past its
 * end would kill the process with SIGBUS; a backup is compacted, so its
 * pages run exactly to the last one the meta page names. Returns its size.
 */
function inspectBackupFile(file: string, shownAs: string): number {
  let size: number;
  try {
    const stats = statSync(file);
    if (!stats.isFile()) throw new RestoreRefused(`${shownAs} is not a file`);
    size = stats.size;
    if (size === 0) throw new RestoreRefused(`${shownAs} is empty, not a kvs backup`);
    const header = readLmdbHeader(file, size);
    if (header === null) throw new RestoreRefused(`${shownAs} is not a kvs backup (not an LMDB file, or its header is corrupt)`);
    const extent = (header.lastPage + 1) * header.pageSize;
    if (size < extent) throw new RestoreRefused(`${shownAs} is truncated: its header says the store spans ${extent} bytes, the file holds ${size}`);
  } catch (error) {
    if (error instanceof RestoreRefused) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new RestoreRefused(code === 'ENOENT' ? `${shownAs} does not exist` : `${shownAs} cannot be read (${code ?? (error as Error).message})`);
  }
  return size;
}

/** Refuses a source a running kvs serves, and keeps one from opening it while it is copied. */
async function holdSource(sourceFile: string): Promise<StoreLock> {
  try {
    return await lockStore(sourceFile);
  } catch (error) {
    if (!(error instanceof StoreInUseError)) throw error;
    const pid = error.holderPid === null ? '' : ` (pid ${error.holderPid})`;
    throw new RestoreRefused(
      `${sourceFile} is the store of a running kvs${pid}, which a copy would catch mid-write; take a backup of it with kvs backup (GET /v1/admin/backup)`,
    );
  }
}

/** Refuses a directory a running kvs serves (or another restore fills), and keeps one from starting on it meanwhile. */
async function holdDirectory(directory: string): Promise<StoreLock> {
  try {
    return await lockStore(join(directory, STORE_FILE_NAME));
  } catch (error) {
    if (!(error instanceof StoreInUseError)) throw error;
    const pid = error.holderPid === null ? '' : ` (pid ${error.holderPid})`;
    throw new RestoreRefused(`${directory} is in use by a running kvs${pid}; stop it, or restore into a new directory`);
  }
}

/** Creates `directory` if it is missing; true when it did. */
function ensureDirectory(directory: string): boolean {
  try {
    if (!statSync(directory).isDirectory()) throw new RestoreRefused(`${directory} is a file, not a directory`);
    return false;
  } catch (error) {
    if (error instanceof RestoreRefused) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new RestoreRefused(`${directory} cannot be read (${(error as NodeJS.ErrnoException).code})`);
  }
  mkdirSync(directory, { recursive: true });
  return true;
}

/** A restore never mixes a store into files already there, least of all another store. */
function checkEmpty(directory: string): void {
  const entries = readdirSync(directory);
  for (const name of entries.filter((entry) => TEMPORARY_FILE_NAME.test(entry))) rmSync(join(directory, name), { force: true });
  const present = entries.filter((entry) => !HARMLESS_ENTRIES.has(entry) && !TEMPORARY_FILE_NAME.test(entry));
  if (present.includes(STORE_FILE_NAME))
    throw new RestoreRefused(`${directory} already holds a kvs store (${STORE_FILE_NAME}); restore into an empty or new directory`);
  if (present.length > 0) throw new RestoreRefused(`${directory} is not empty (it holds ${describeNames(present)}); restore into an empty or new directory`);
}

/** verifyStore in a child process (see verify-store-process.ts): a crash there is a refusal here. */
async function verifyInChildProcess(
  file: string,
  shownAs: string,
  abort: AbortSignal | undefined,
  onProgress: ((checked: number, total: number) => void) | undefined,
): Promise<StoreSummary> {
  try {
    // The last line that is not progress is the answer.
    const said: { answer?: VerifierAnswer } = {};
    const onLine = (line: string) => {
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof message !== 'object' || message === null) return;
      if ('progress' in message) onProgress?.((message as VerifierProgress).progress.checked, (message as VerifierProgress).progress.total);
      else said.answer = message as VerifierAnswer;
    };
    const { stderr, code, signal } = await run(process.execPath, [VERIFIER, file, ...(onProgress === undefined ? [] : ['--progress'])], abort, onLine);
    if (abort?.aborted) throw abort.reason;
    const { answer } = said;
    if (answer?.ok === true) return { revision: answer.revision, keys: answer.keys };
    if (answer?.ok === false) throw new RestoreRefused(`${shownAs} ${answer.reason}`);
    if (signal !== null) throw new RestoreRefused(`${shownAs} is corrupt: reading it crashed LMDB (${signal})`);
    const lastWords = stderr.trim().split('\n').pop() ?? '';
    throw new RestoreRefused(
      `${shownAs} could not be verified: the verifier exited with code ${code}${lastWords === '' ? '' : ` (${lastWords.slice(0, 300)})`}`,
    );
  } finally {
    // LMDB made it for the verifier's read-only open; the restored store needs none.
    rmSync(`${file}-lock`, { force: true });
  }
}

/** Runs `command`; each complete line of its stdout goes to `onLine` as it arrives. */
function run(
  command: string,
  args: string[],
  abort: AbortSignal | undefined,
  onLine: (line: string) => void,
): Promise<{ stderr: string; code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    // An abort kills the verifier (its 'close' then resolves, and the caller sees the abort).
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(abort === undefined ? {} : { signal: abort, killSignal: 'SIGKILL' as const }),
    });
    let pending = '';
    let stderr = '';
    // Decoded as a stream: a character split between chunks stays whole.
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop()!;
      for (const line of lines) onLine(line);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', (error) => {
      if (!abort?.aborted) reject(error);
    });
    child.on('close', (code, signal) => {
      // A last line without its newline (a verifier cut short) is still a line.
      if (pending !== '') onLine(pending);
      resolve({ stderr, code, signal });
    });
  });
}

/** fsync of a file, or of a directory (which makes a rename in it durable). */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
