import { existsSync, mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase, type Transaction } from 'lmdb';
import type { LocalCopy, LocalCopyWrite, PinnedCopy } from '../local-copy.js';
import { lockStore, type StoreLock } from './store-lock.js';
import { getBinaryFast } from './stores.js';

const FILE_NAME = 'replica.mdb';

/**
 * A local, non-authoritative copy of keys that someone else holds
 * (engine/local-copy.ts): the etcd engine keeps its replica of its namespace
 * here (engine/etcd/replica.ts; main.ts hands it ReplicaStore.open). Only
 * this directory's code imports `lmdb` (docs/ARCHITECTURE.md), so the
 * LMDB-facing half lives here and knows nothing of etcd: binary keys, binary
 * values, and the revision the copy has reached.
 *
 * One LMDB environment in a directory of its own, wiped when opened (the copy
 * is reloaded at every start) and never synced (noSync: after a crash it is
 * thrown away, so durability buys nothing). Values live in the memory map,
 * not the heap. Writes are applied synchronously, one LMDB transaction per
 * batch; readers use one read snapshot, renewed right after each batch, and
 * see the batch together with the revision it brings the copy to.
 */
export class ReplicaStore implements LocalCopy {
  private readTxn: Transaction | null = null;
  private appliedRevision = 0;
  private closed = false;

  private constructor(
    private readonly root: RootDatabase,
    private readonly db: Database<Buffer, Buffer>,
    private readonly lock: StoreLock,
    private readonly directory: string,
  ) {}

  /** Wipes `directory` and opens an empty copy in it; refuses if another process holds it. */
  static async open(directory: string): Promise<ReplicaStore> {
    mkdirSync(directory, { recursive: true });
    const file = join(directory, FILE_NAME);
    const lock = await lockStore(file);
    try {
      rmSync(file, { force: true });
      rmSync(`${file}-lock`, { force: true });
      const root = open({ path: file, maxDbs: 2, noSync: true, noMetaSync: true, compression: false, overlappingSync: false, eventTurnBatching: false });
      const db = root.openDB<Buffer, Buffer>({ name: 'kv', keyEncoding: 'binary', encoding: 'binary', cache: false });
      return new ReplicaStore(root, db, lock, directory);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** The revision the copy has reached (0 when empty). */
  get revision(): number {
    return this.appliedRevision;
  }

  /** Entries in the copy now (one snapshot). */
  get size(): number {
    return (this.db.getStats() as { entryCount: number }).entryCount;
  }

  /**
   * Applies `writes` in one transaction and moves the copy to `revision`;
   * reads see both from the moment this returns. On failure nothing applied.
   */
  apply(revision: number, writes: readonly LocalCopyWrite[]): void {
    this.check();
    if (writes.length > 0) {
      this.root.transactionSync(() => {
        for (const write of writes) {
          if (write.value === null) this.db.removeSync(write.key);
          else this.db.putSync(write.key, write.value);
        }
      });
    }
    this.renew();
    this.appliedRevision = revision;
  }

  /** Empties the copy (revision 0). */
  clear(): void {
    this.check();
    this.db.clearSync();
    this.renew();
    this.appliedRevision = 0;
  }

  /**
   * The value under `key` in the current snapshot, as a view of a buffer
   * lmdb-js reuses on the next read: copy what must outlive that.
   */
  getView(key: Buffer): Buffer | undefined {
    this.check();
    return getBinaryFast(this.db, key, this.snapshot());
  }

  /**
   * Entries with start <= key < end (end null: to the last), ascending or
   * descending, from the current snapshot. Synchronous callers only: a caller
   * that yields to other work between entries must use `pinned`.
   */
  *entries(start: Buffer, end: Buffer | null, reverse: boolean, transaction: Transaction = this.snapshot()): Generator<{ key: Buffer; value: Buffer }> {
    this.check();
    const endBytes = end ?? undefined;
    if (!reverse) {
      yield* this.db.getRange({ start, end: endBytes, transaction });
      return;
    }
    // lmdb-js walks a reverse range from an inclusive upper `start` down to an
    // exclusive lower `end`; this range is [start, end): skip `end`, stop below `start`.
    for (const item of this.db.getRange({ start: endBytes, reverse: true, transaction })) {
      if (endBytes !== undefined && Buffer.compare(item.key, endBytes) >= 0) continue;
      if (Buffer.compare(item.key, start) < 0) return;
      yield item;
    }
  }

  /**
   * The current snapshot, held until `release` is called, with its revision:
   * for a reader that yields between entries (an export), while the copy goes
   * on applying writes.
   */
  pinned(): PinnedCopy {
    const transaction = this.snapshot();
    // `use()` adds a reference, released by `done()` (missing from lmdb-js's typings).
    (transaction as Transaction & { use(): void }).use();
    let released = false;
    return {
      revision: this.appliedRevision,
      entries: (start, end) => this.entries(start, end, false, transaction),
      release: () => {
        if (released) return;
        released = true;
        transaction.done();
      },
    };
  }

  /** Closes and removes the copy, its directory too (unless something else was put in it). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.readTxn?.done();
    this.readTxn = null;
    await this.root.close();
    removeFiles(this.directory);
    await this.lock.release();
  }

  /**
   * Removes a copy left in `directory` by a process that did not close it (a
   * crash, kill -9), unless another process holds it. Returns whether nothing
   * is left there.
   */
  static async removeLeftover(directory: string): Promise<boolean> {
    if (!existsSync(directory)) return true;
    let lock: StoreLock;
    try {
      lock = await lockStore(join(directory, FILE_NAME));
    } catch {
      return false; // in use by a running kvs, or unreadable: left alone
    }
    try {
      removeFiles(directory);
    } finally {
      await lock.release();
    }
    return !existsSync(directory);
  }

  private snapshot(): Transaction {
    this.readTxn ??= this.root.useReadTransaction();
    return this.readTxn;
  }

  private renew(): void {
    this.readTxn?.done();
    this.readTxn = null;
  }

  private check(): void {
    if (this.closed) throw new Error('the replica store is closed');
  }
}

/** The copy's files, and then its directory if that is empty. */
function removeFiles(directory: string): void {
  rmSync(join(directory, FILE_NAME), { force: true });
  rmSync(join(directory, `${FILE_NAME}-lock`), { force: true });
  try {
    rmdirSync(directory);
  } catch {
    // not empty (someone put other files there) or already gone: left as it is
  }
}
