import { createHash, randomBytes } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
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
directory (the file is then kvs-backup-REVISION.mdb in it). The server keeps
serving meanwhile. Restore with: kvs restore DEST --data-directory DIR.
Needs an admin token when the server has tokens. On the etcd engine, use
etcdctl snapshot save, or kvs export.`,
  options: {},
  async run(context, positionals) {
    const [destination, ...extra] = positionals;
    if (destination === undefined || extra.length > 0) throw new UsageError('give one DEST file (or directory)');
    // The temporary file first: a DEST that cannot be written fails before the server copies the whole store.
    const intoDirectory = await isDirectory(destination);
    const directory = intoDirectory ? destination : dirname(destination);
    const temporary = join(directory, `.${intoDirectory ? 'kvs-backup' : basename(destination)}.${randomBytes(4).toString('hex')}.partial`);
    let handle;
    try {
      handle = await open(temporary, 'wx');
    } catch (error) {
      throw new CommandFailure(`cannot write beside ${destination} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, EXIT.error);
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
      if (backup.size !== null && written !== backup.size) throw new CommandFailure(`the backup arrived incomplete (${written} of ${backup.size} bytes); nothing was saved`, EXIT.error);
      if (backup.sha256 !== null && hash.digest('base64') !== backup.sha256) throw new CommandFailure('the backup arrived corrupted (its SHA-256 does not match the server\'s); nothing was saved', EXIT.error);
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
    await writeOut(context.stdout, context.output === 'json' ? `${JSON.stringify(result)}\n` : `backed up revision ${backup.revision} (${formatBytes(written)}) to ${file}\n`);
    return EXIT.ok;
  },
};

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
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
