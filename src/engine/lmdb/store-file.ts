import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { RootDatabase } from 'lmdb';

/** Why a store file cannot be opened: not ours, corrupt, or in use. Start-up reports it in one line. */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

/** LMDB's meta-page magic (mm_magic), and where the meta fields sit in lmdb-js's 64-bit format. */
const LMDB_MAGIC = 0xbeefc0de;
const META_MAGIC_OFFSET = 24;
const META_PAGE_SIZE_OFFSET = 48;

/**
 * Checks that `file` is an LMDB environment before LMDB opens it: LMDB
 * trusts its meta pages, and a file of garbage makes it crash the process
 * (a segfault, measured here) instead of reporting an error. Both meta pages
 * must carry the magic number and a sane page size. A missing or empty file
 * is fine: LMDB creates a new store. This catches a wrong or overwritten
 * file, not every corruption inside a valid one.
 */
export function checkStoreFile(file: string): void {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new StoreOpenError(`${file} cannot be read: ${(error as Error).message}`);
  }
  if (size === 0) return;
  const notLmdb = `${file} is not a kvs store (not an LMDB file, or its header is corrupt); nothing was changed. Move it away, or point DATA_DIRECTORY elsewhere`;
  const head = readAt(file, 0, 64);
  if (head.length < 64 || head.readUInt32LE(META_MAGIC_OFFSET) !== LMDB_MAGIC) throw new StoreOpenError(notLmdb);
  const pageSize = head.readUInt32LE(META_PAGE_SIZE_OFFSET);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0 || size < 2 * pageSize) throw new StoreOpenError(notLmdb);
  const second = readAt(file, pageSize, 64);
  if (second.length < 64 || second.readUInt32LE(META_MAGIC_OFFSET) !== LMDB_MAGIC) throw new StoreOpenError(notLmdb);
}

function readAt(file: string, position: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const read = readSync(fd, buffer, 0, length, position);
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

/**
 * Refuses an LMDB environment that belongs to another application: its named
 * databases must be kvs's own. Checked before kvs opens (and so creates) any
 * of its databases in it.
 */
export function checkDatabaseNames(root: RootDatabase, file: string, ours: readonly string[]): void {
  const foreign: string[] = [];
  for (const name of root.getKeys()) {
    if (!ours.includes(String(name))) foreign.push(String(name));
  }
  if (foreign.length > 0) {
    throw new StoreOpenError(`${file} is an LMDB environment of another application (it holds ${foreign.slice(0, 3).map((name) => JSON.stringify(name)).join(', ')}); nothing was changed. Point DATA_DIRECTORY elsewhere`);
  }
}
