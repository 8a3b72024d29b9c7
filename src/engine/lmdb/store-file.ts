import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { RootDatabase } from 'lmdb';

/** The LMDB store's file inside DATA_DIRECTORY (a `-lock` file sits beside it). */
export const STORE_FILE_NAME = 'kvs.mdb';

/** Why a store file cannot be opened: not ours, corrupt, or in use. Start-up reports it in one line. */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

/**
 * Where the fields kvs reads sit in a meta page of lmdb-js's bundled LMDB
 * (64-bit build, checked against files it writes): a 24-byte page header, then
 * MDB_meta { magic u32, version u32, address u64, mapsize u64, dbs[2] of 48
 * bytes (the first one's md_pad is the page size), last_pg u64, txnid u64 }.
 */
const LMDB_MAGIC = 0xbeefc0de;
const META_MAGIC_OFFSET = 24;
const META_PAGE_SIZE_OFFSET = 48;
const META_LAST_PAGE_OFFSET = 144;
const META_TXNID_OFFSET = 152;
const META_BYTES = 160;

/** What the current meta page of an LMDB file says. */
export interface LmdbHeader {
  pageSize: number;
  /** The highest page number in use: the file must hold at least (lastPage + 1) pages. */
  lastPage: number;
}

/**
 * The header of an LMDB file of `size` bytes, from the meta page LMDB would
 * use (the one with the higher txnid), or null when the file is not LMDB or
 * its meta pages are corrupt: both must carry the magic number and a sane
 * page size.
 */
export function readLmdbHeader(file: string, size: number): LmdbHeader | null {
  const first = readAt(file, 0, META_BYTES);
  if (first.length < META_BYTES || first.readUInt32LE(META_MAGIC_OFFSET) !== LMDB_MAGIC) return null;
  const pageSize = first.readUInt32LE(META_PAGE_SIZE_OFFSET);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0 || size < 2 * pageSize) return null;
  const second = readAt(file, pageSize, META_BYTES);
  if (second.length < META_BYTES || second.readUInt32LE(META_MAGIC_OFFSET) !== LMDB_MAGIC) return null;
  const current = second.readBigUInt64LE(META_TXNID_OFFSET) > first.readBigUInt64LE(META_TXNID_OFFSET) ? second : first;
  return { pageSize, lastPage: Number(current.readBigUInt64LE(META_LAST_PAGE_OFFSET)) };
}

/**
 * Checks that `file` is an LMDB environment before LMDB opens it: LMDB
 * trusts its meta pages, and a file of garbage makes it crash the process
 * (a segfault, measured here) instead of reporting an error. A missing or
 * empty file is fine: LMDB creates a new store. This catches a wrong or
 * overwritten file, not every corruption inside a valid one.
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
  if (readLmdbHeader(file, size) === null) {
    throw new StoreOpenError(
      `${file} is not a kvs store (not an LMDB file, or its header is corrupt); nothing was changed. Move it away, or point DATA_DIRECTORY elsewhere`,
    );
  }
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

/** The named databases of an environment that are not among `ours`. */
export function foreignDatabaseNames(root: RootDatabase, ours: readonly string[]): string[] {
  const foreign: string[] = [];
  for (const name of root.getKeys()) {
    if (!ours.includes(String(name))) foreign.push(String(name));
  }
  return foreign;
}

/**
 * Refuses an LMDB environment that belongs to another application: its named
 * databases must be kvs's own. Checked before kvs opens (and so creates) any
 * of its databases in it.
 */
export function checkDatabaseNames(root: RootDatabase, file: string, ours: readonly string[]): void {
  const foreign = foreignDatabaseNames(root, ours);
  if (foreign.length > 0) {
    throw new StoreOpenError(
      `${file} is an LMDB environment of another application (it holds ${describeNames(foreign)}); nothing was changed. Point DATA_DIRECTORY elsewhere`,
    );
  }
}

/** Up to three names, quoted, for a message. */
export function describeNames(names: readonly string[]): string {
  return (
    names
      .slice(0, 3)
      .map((name) => JSON.stringify(name))
      .join(', ') + (names.length > 3 ? `, and ${names.length - 3} more` : '')
  );
}
