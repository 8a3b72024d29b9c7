import { KvError } from '../../core/errors.js';
import type { TxnRequest } from '../engine.js';
import type { Stores } from './stores.js';

/**
 * KV_MAX_DATA_BYTES: the size the embedded store may reach before writes that
 * add data are refused with 507. A write is refused if it could take the store
 * past the cap, counting what writes already accepted but not yet measured
 * will add; deletes (and txns of only deletes and gets) always run, and free
 * space. The store is measured after every commit (constant time), so a store
 * at its cap accepts writes again once space is freed.
 */
export class StorageCap {
  /** The store's size after the last commit (see measureDataBytes). */
  private dataBytes = 0;
  /** What accepted writes not yet measured may add. */
  private reservedBytes = 0;

  /** `capBytes` 0: no cap, and nothing is measured. */
  constructor(private readonly capBytes: number) {}

  get enabled(): boolean {
    return this.capBytes > 0;
  }

  /** Measures the store (after opening it, and after each commit). */
  measure(stores: Stores): void {
    if (this.enabled) this.dataBytes = measureDataBytes(stores);
  }

  /**
   * Admits `request`: resolves with a function to call once its batch was
   * measured, or throws storage_full when it does not fit. Writes that add
   * nothing are admitted without counting (null).
   */
  admit(request: TxnRequest): (() => void) | null {
    if (!this.enabled) return null;
    const adding = estimatedGrowthBytes(request);
    if (adding === 0) return null;
    if (this.dataBytes + this.reservedBytes + adding > this.capBytes) {
      throw new KvError(
        'storage_full',
        `the store is at its size limit (${this.capBytes} bytes, KV_MAX_DATA_BYTES): this write does not fit; delete keys to free space`,
        { limit: this.capBytes },
      );
    }
    this.reservedBytes += adding;
    return () => (this.reservedBytes -= adding);
  }
}

/**
 * The bytes of the pages kvs's databases occupy (branch, leaf and overflow
 * pages of each; mdb_stat, constant time). Unlike the file's size, which never
 * shrinks, this falls when keys are deleted or history is compacted, so a
 * store at its cap accepts writes again once space is freed.
 */
export function measureDataBytes(stores: Stores): number {
  let pages = 0;
  let pageSize = 4096;
  for (const db of [stores.kv, stores.log, stores.expiry, stores.meta]) {
    const stats = db.getStats() as { pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
    pageSize = stats.pageSize;
    pages += stats.treeBranchPageCount + stats.treeLeafPageCount + stats.overflowPages;
  }
  return pages * pageSize;
}

/** Page overhead per stored entry, roughly (LMDB node header, record header, log event envelope). */
const ENTRY_OVERHEAD_BYTES = 64;

/**
 * An upper estimate of what a txn's puts and adds add to the store: each value
 * and key is stored twice (the live record and the change log), plus overhead.
 * Zero for txns that only delete or read.
 */
function estimatedGrowthBytes(request: TxnRequest): number {
  let bytes = 0;
  for (const op of request.ops) {
    if (op.op === 'put') bytes += 2 * (op.value.length + Buffer.byteLength(op.key) + ENTRY_OVERHEAD_BYTES);
    else if (op.op === 'add') bytes += 2 * (Buffer.byteLength(op.key) + 32 + ENTRY_OVERHEAD_BYTES);
  }
  return bytes;
}
