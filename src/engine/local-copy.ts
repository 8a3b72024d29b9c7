import type { Revision } from '../core/types.js';

/**
 * A local, non-authoritative copy of keys that a store held elsewhere keeps on
 * the node (the etcd engine's replica, engine/etcd/replica.ts): binary keys,
 * binary values, and the revision the copy has reached. The embedded engine's
 * LMDB implements it (engine/lmdb/replica-store.ts); main.ts hands the etcd
 * engine the function that opens one, so that the two engines stay apart.
 */
export interface LocalCopy {
  /** The revision the copy has reached (0 when empty). */
  readonly revision: Revision;
  /** Entries in the copy now. */
  readonly size: number;
  /** Applies `writes` in one transaction and moves the copy to `revision`; reads see both once this returns. */
  apply(revision: Revision, writes: readonly LocalCopyWrite[]): void;
  /** Empties the copy (revision 0). */
  clear(): void;
  /** The value under `key` now, as a view that may be reused by the next read: copy what must outlive it. */
  getView(key: Buffer): Buffer | undefined;
  /** Entries with start <= key < end (end null: to the last) now, ascending or descending; for synchronous callers. */
  entries(start: Buffer, end: Buffer | null, reverse: boolean): Iterable<{ key: Buffer; value: Buffer }>;
  /** The copy as it is now, held until `release`, for a reader that yields between entries (an export). */
  pinned(): PinnedCopy;
  /** Closes and removes the copy. */
  close(): Promise<void>;
}

export interface PinnedCopy {
  readonly revision: Revision;
  entries(start: Buffer, end: Buffer | null): Iterable<{ key: Buffer; value: Buffer }>;
  release(): void;
}

/** One change to a copy: a put of `value` under `key`, or its removal (`value` null). */
export interface LocalCopyWrite {
  key: Buffer;
  value: Buffer | null;
}

/** Opens an empty copy in `directory` (wiping what was there); refuses if another process holds it. */
export type OpenLocalCopy = (directory: string) => Promise<LocalCopy>;
