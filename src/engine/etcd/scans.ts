import { keySuccessor } from '../../core/keys.js';
import { ETCD_SCAN_BYTES_TARGET, ETCD_SCAN_FIRST_KEYS_MAX, ETCD_SCAN_KEYS_MAX } from '../../core/limits.js';
import type { Entry, Revision } from '../../core/types.js';
import type { RangeItem, RangeRequest, RangeResult } from '../engine.js';
import { headerRevision, SortOrder, type KeyValue, type RangeRequest as EtcdRangeRequest, type RangeResponse } from './etcd-api.js';
import type { EtcdClient } from './etcd-client.js';
import { decodeStored, type Keyspace, type StoredEntry } from './keyspace.js';

/**
 * Reads of many keys: pages, counts and exports, each as etcd Ranges of a
 * size the values seen so far allow, all at the revision of the first (one
 * snapshot), skipping entries past their deadline that etcd still holds.
 */
export class Scans {
  constructor(
    private readonly client: () => EtcdClient,
    private readonly keyspace: Keyspace,
    private readonly now: () => number,
  ) {}

  async range(request: RangeRequest): Promise<RangeResult> {
    const items: RangeItem[] = [];
    let valueBytes = 0;
    let more = false;
    const now = this.now();
    let revision: Revision | undefined;
    let lower = this.keyspace.etcdKey(request.start);
    let upper = this.keyspace.etcdEnd(request.end);
    // Even without values, etcd sends them (each record's deadline is in its value): chunks are sized by bytes.
    let chunk = ETCD_SCAN_FIRST_KEYS_MAX;
    scan: for (;;) {
      const want = request.limit - items.length + 1; // one more than the page: is there more?
      const page = await this.read({
        key: lower,
        range_end: upper,
        limit: Math.min(want, chunk),
        sort_order: request.reverse ? SortOrder.descend : SortOrder.none,
        ...(revision === undefined ? {} : { revision }),
      });
      revision ??= headerRevision(page);
      chunk = nextChunk(page.kvs);
      for (const kv of page.kvs) {
        if (request.reverse) upper = kv.key;
        else lower = keySuccessor(kv.key);
        const entry = liveEntry(this.keyspace, kv, now);
        if (entry === null) continue;
        if (
          items.length >= request.limit ||
          (request.withValues && request.valueBytesMax !== undefined && items.length > 0 && valueBytes >= request.valueBytesMax)
        ) {
          more = true;
          break scan;
        }
        valueBytes += entry.value.length;
        items.push(rangeItem(entry, request.withValues));
      }
      if (!page.more) break;
    }
    return { items, more, revision: revision ?? 0 };
  }

  /** One linearizable etcd Range (the client is looked up per call: a closed engine refuses). */
  private read(request: EtcdRangeRequest): Promise<RangeResponse> {
    const client = this.client();
    return client.read(client.methods.range, request);
  }

  async count(start: Buffer, end: Buffer | null): Promise<number> {
    let live = 0;
    for await (const _entry of this.snapshot(start, end)) live++;
    return live;
  }

  async *snapshot(start: Buffer, end: Buffer | null): AsyncIterable<Entry> {
    let lower = this.keyspace.etcdKey(start);
    const upper = this.keyspace.etcdEnd(end);
    let revision: Revision | undefined;
    let chunk = ETCD_SCAN_FIRST_KEYS_MAX;
    for (;;) {
      const page = await this.read({ key: lower, range_end: upper, limit: chunk, ...(revision === undefined ? {} : { revision }) });
      revision ??= headerRevision(page);
      chunk = nextChunk(page.kvs);
      const now = this.now();
      for (const kv of page.kvs) {
        lower = keySuccessor(kv.key);
        const entry = liveEntry(this.keyspace, kv, now);
        if (entry !== null) yield entry;
      }
      if (!page.more || page.kvs.length === 0) return;
    }
  }
}

/** The entry an etcd key-value holds, or null when there is none or it is past its deadline. */
export function liveEntry(keyspace: Keyspace, kv: KeyValue | undefined, now: number): Entry | null {
  if (kv === undefined) return null;
  const entry = decodeStored(keyspace, kv);
  return isExpired(entry, now) ? null : withoutLease(entry);
}

export function isExpired(entry: Entry, now: number): boolean {
  return entry.expiresAtMs !== null && entry.expiresAtMs <= now;
}

export function withoutLease(entry: StoredEntry): Entry {
  const { lease: _lease, ...rest } = entry;
  return rest;
}

/** Keys the next Range of a scan may take: about ETCD_SCAN_BYTES_TARGET of records like the last page's, 1 to ETCD_SCAN_KEYS_MAX. */
function nextChunk(kvs: readonly KeyValue[]): number {
  if (kvs.length === 0) return ETCD_SCAN_KEYS_MAX;
  const bytes = kvs.reduce((sum, kv) => sum + kv.key.length + kv.value.length, 0);
  return Math.max(1, Math.min(ETCD_SCAN_KEYS_MAX, Math.floor(ETCD_SCAN_BYTES_TARGET / Math.max(1, bytes / kvs.length))));
}

function rangeItem(entry: Entry, withValues: boolean): RangeItem {
  const { value, ...meta } = entry;
  return withValues ? { ...meta, size: value.length, value } : { ...meta, size: value.length };
}
