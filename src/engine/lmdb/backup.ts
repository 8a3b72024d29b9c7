import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { KvError } from '../../core/errors.js';
import type { BackupFile } from '../engine.js';
import { databasesOf, META_REVISION, openEnvironmentReadOnly, readMetaNumber, type Stores } from './stores.js';

/**
 * Backups are copied beside the store, so the copy stays on the store's own
 * filesystem (no cross-device copy, no filling of /tmp) and a copy that a
 * crash left behind is where the next open finds it.
 */
const BACKUP_FILE_NAME = /^\.backup-[0-9a-f]{16}\.mdb(?:-lock)?$/;
/** restore.ts's copy in progress: one left by a restore that was killed (SIGKILL, power loss) is garbage. */
const RESTORE_FILE_NAME = /^\.restore-[0-9a-f]{16}\.mdb(?:-lock)?$/;

/**
 * The copy is compacted (MDB_CP_COMPACT): under a plain copy, writes stalled
 * for as long as it ran (docs/adr/0007-backup-and-restore.md), and it keeps
 * the store's free pages; under a compacted one writes go on, and it holds
 * exactly the pages in use, numbered from the start (which restore's
 * truncation check relies on).
 */
const COMPACT = true;

/**
 * Copies one snapshot of the store (LMDB's mdb_env_copy2, on a worker thread,
 * under its own read transaction) into a new file beside `storeFile`.
 */
export async function copySnapshot(stores: Stores, storeFile: string): Promise<BackupFile> {
  const path = join(dirname(storeFile), `.backup-${randomBytes(8).toString('hex')}.mdb`);
  const discard = () => rm(path, { force: true });
  try {
    await stores.root.backup(path, COMPACT).catch((error: unknown) => {
      // A full filesystem is an operating condition the client can act on, not a bug.
      if (/no space left|ENOSPC/i.test(String((error as Error).message))) {
        throw new KvError(
          'storage_full',
          'there is no room beside the store for a copy of it: free space on its filesystem, or take an export (GET /v1/admin/export) instead',
        );
      }
      throw error;
    });
    // The copy's snapshot may include a commit whose sync is still running
    // (overlapping sync): once this resolves, the store cannot lose any
    // revision the backup holds, so a restore never brings back a write that
    // the store itself forgot.
    await stores.root.flushed;
    // Read from the copy, not the store: a write may commit between a read of
    // the store's revision and the copy's own read transaction.
    const revision = await readRevision(path);
    return { path, revision, bytes: statSync(path).size, discard };
  } catch (error) {
    await discard();
    throw error;
  }
}

async function readRevision(file: string): Promise<number> {
  const root = openEnvironmentReadOnly(file);
  try {
    return readMetaNumber(databasesOf(root), META_REVISION);
  } finally {
    await root.close();
    // Made by LMDB for the read-only open; the copy itself needs none.
    rmSync(`${file}-lock`, { force: true });
  }
}

/**
 * Removes backup copies and half-made restores a crash left beside the store; called while holding the
 * store's lock (which a restore holds too), so none is in use.
 */
export function removeStaleBackups(storeFile: string): void {
  const directory = dirname(storeFile);
  for (const name of readdirSync(directory)) {
    if (BACKUP_FILE_NAME.test(name) || RESTORE_FILE_NAME.test(name)) rmSync(join(directory, name), { force: true });
  }
}
