import { createHash, randomBytes } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { CommandFailure, UsageError } from '../failure.js';
import { writeOut } from '../io.js';
import { formatBytes, Progress } from '../progress.js';

export const backupCommand: Command = {
  name: 'backup',
  synopsis: 'DEST',
  summary: 'save a consistent snapshot of the store (embedded engine) to a file',
  details: `Streams GET /v1/admin/backup into DEST atomically: a temporary file beside it,
checked against the server's SHA-256, synced, then renamed. DEST may be a
directory, existing or written with a trailing / (the file is then
kvs-backup-REVISION.mdb in it); a directory that does not exist is exit 2,
before anything is asked of the server. The server keeps
serving meanwhile. Restore with: kvs restore DEST --data-directory DIR.
Needs an admin token when the server has tokens. On the etcd engine, use
etcdctl snapshot save, or kvs export.`,
  options: {},
  async run(context, positionals) {
    const [destination, ...extra] = positionals;
    if (destination === undefined || extra.length > 0) throw new UsageError('give one DEST file (or directory)');
    // DEST and the temporary file first: a DEST that cannot be written fails before the server copies the whole store.
    const { directory, intoDirectory } = await placeOf(destination);
    const temporary = join(directory, `.${intoDirectory ? 'kvs-backup' : basename(destination)}.${randomBytes(4).toString('hex')}.partial`);
    let handle;
    try {
      handle = await open(temporary, 'wx');
    } catch (error) {
      throw new CommandFailure(
        `cannot write ${intoDirectory ? 'into' : 'beside'} ${destination} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
        EXIT.error,
      );
    }
    let backup;
    try {
      // The server copies the store before the first byte: say so, or a large store looks like a hang.
      if (context.stderr.isTTY) context.stderr.write('the server is taking a snapshot...\n');
      backup = await context.client.backup({ signal: context.signal });
    } catch (error) {
      await handle.close();
      await rm(temporary, { force: true });
      throw error;
    }
    const file = intoDirectory ? join(destination, `kvs-backup-${backup.revision}.mdb`) : destination;
    const progress = new Progress(context.stderr, 'bytes', 'backed up', backup.size);
    const hash = createHash('sha256');
    let written = 0;
    try {
      for await (const chunk of backup.body) {
        await handle.write(chunk);
        hash.update(chunk);
        written += chunk.length;
        progress.update(written);
      }
      if (backup.size !== null && written !== backup.size)
        throw new CommandFailure(`the backup arrived incomplete (${written} of ${backup.size} bytes); nothing was saved`, EXIT.error);
      if (backup.sha256 !== null && hash.digest('base64') !== backup.sha256)
        throw new CommandFailure("the backup arrived corrupted (its SHA-256 does not match the server's); nothing was saved", EXIT.error);
      await handle.sync();
      await handle.close();
      handle = undefined;
      await rename(temporary, file);
      await syncDirectory(dirname(file));
    } catch (error) {
      progress.abandon();
      await handle?.close().catch(() => {});
      await rm(temporary, { force: true });
      throw error;
    }
    progress.finish(written);
    const result = { file, revision: backup.revision, bytes: written };
    await writeOut(
      context.stdout,
      context.output === 'json' ? `${JSON.stringify(result)}\n` : `backed up revision ${backup.revision} (${formatBytes(written)}) to ${file}\n`,
    );
    return EXIT.ok;
  },
};

/**
 * Where DEST puts the backup: into DEST, when it is a directory or ends in /
 * (as the server's file name, kvs-backup-REVISION.mdb), else as the file DEST
 * in its directory. A directory that is missing, or is a file, is a usage
 * error: said now, not after the whole store has been downloaded.
 */
async function placeOf(destination: string): Promise<{ directory: string; intoDirectory: boolean }> {
  const endsInSlash = destination.endsWith('/') || destination.endsWith(sep);
  const kind = await kindOf(destination);
  if (kind === 'directory') return { directory: destination, intoDirectory: true };
  if (endsInSlash)
    throw new UsageError(kind === 'missing' ? `the directory ${destination} does not exist (create it first)` : `${destination} is not a directory`);
  const directory = dirname(destination);
  const parent = await kindOf(directory);
  if (parent !== 'directory')
    throw new UsageError(`the directory ${directory} of ${destination} ${parent === 'missing' ? 'does not exist (create it first)' : 'is a file'}`);
  return { directory, intoDirectory: false };
}

/** What is at `path` (a path with a trailing slash: what is at the path without it). */
async function kindOf(path: string): Promise<'directory' | 'file' | 'missing'> {
  const bare = path.replace(/\/+$/, '') || '/';
  try {
    return (await stat(bare)).isDirectory() ? 'directory' : 'file';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ENOTDIR: a file stands where a directory on the way should be; there is no such path.
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    throw new CommandFailure(`cannot read ${path} (${code ?? (error as Error).message})`, EXIT.error);
  }
}

/** The rename is durable only once the directory holding it is synced. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
