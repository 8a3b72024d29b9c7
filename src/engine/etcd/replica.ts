import { keySuccessor, prefixEnd } from '../../core/keys.js';
import {
  ETCD_REPLICA_LOAD_BUFFER_BYTES_MAX,
  ETCD_REPLICA_LOAD_BYTES_TARGET,
  ETCD_REPLICA_LOAD_FIRST_KEYS_MAX,
  ETCD_REPLICA_LOAD_KEYS_MAX,
  ETCD_REPLICA_LOAD_RETRY_MS_MAX,
  ETCD_REPLICA_LOAD_RETRY_MS_MIN,
} from '../../core/limits.js';
import type { Entry, Revision } from '../../core/types.js';
import type { RangeItem, RangeRequest, RangeResult } from '../engine.js';
import type { LocalCopy, LocalCopyWrite } from '../local-copy.js';
import { EventType, headerRevision, revisionOf, type KeyValue, type WatchEvent } from './etcd-api.js';
import type { EtcdClient } from './etcd-client.js';
import { tooLargeToReceive } from './etcd-errors.js';
import { decodeStored, type Keyspace, type StoredEntry } from './keyspace.js';
import { isExpired, withoutLease } from './scans.js';
import { recordedCompactRevision } from './compaction.js';

/** The changes of consecutive etcd revisions to the namespace, as the feed hands them over: every revision, namespace or not. */
export interface ReplicaBatch {
  /** The last revision the batch covers (every revision up to it has been seen). */
  revision: Revision;
  writes: LocalCopyWrite[];
  /** Bytes of keys and values, for the load buffer's bound. */
  bytes: number;
}

export interface ReplicaOptions {
  store: LocalCopy;
  keyspace: Keyspace;
  client: () => EtcdClient;
  now: () => number;
  onError: (error: unknown) => void;
  /** Tests: the load buffer's bound in bytes. */
  loadBufferBytesMax?: number;
}

interface Waiter {
  revision: Revision;
  startedAtMs: number;
  resolve: (caughtUp: boolean) => void;
  timer: NodeJS.Timeout;
}

/**
 * The node's copy of its namespace (docs/adr/0011-replica-reads.md): every
 * key under the namespace as etcd holds it (value, lease, create/mod
 * revision, version), in a local copy (engine/local-copy.ts: an LMDB file), kept current by
 * the change feed's watch, which covers the whole etcd keyspace so that the
 * copy's revision moves with every etcd revision, whoever made it.
 *
 * It is loaded by paged etcd Ranges at one revision L, while the feed goes on
 * delivering: what the feed brings meanwhile is held, and the revisions
 * after L are applied once the load is done. It is reloaded from scratch
 * when the feed loses history (compaction overtook it) and at every start.
 * Until a load is complete it serves nothing: `serving` is false, and reads
 * go to etcd.
 *
 * It is only ever answered from after a barrier (ReadBarrier: a revision
 * etcd reached after the read began, applied here), or for `?stale` reads,
 * which say how old the copy may be (stalenessMs).
 */
export class Replica {
  private state: 'loading' | 'serving' | 'closed' = 'loading';
  private generation = 0;
  private held: ReplicaBatch[] = [];
  private heldBytes = 0;
  private waiters: Waiter[] = [];
  /** Set when a barrier gave up waiting for this revision: reads go to etcd until the copy reaches it. */
  private laggingUntil: Revision = 0;
  /** When a quorum read started whose revision the copy has applied: the copy held every write acknowledged before then. */
  private confirmedAtMs = Number.NEGATIVE_INFINITY;
  private loadsCompleted = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly relativeData: Buffer;
  private readonly relativeDataEnd: Buffer;
  private readonly relativeMetaStart: Buffer;
  private readonly relativeMetaEnd: Buffer;
  private readonly relativeCompacted: Buffer;

  constructor(private readonly options: ReplicaOptions) {
    const { keyspace } = options;
    this.relativeData = keyspace.relative(keyspace.dataPrefix);
    this.relativeDataEnd = prefixEnd(this.relativeData)!;
    this.relativeMetaStart = keyspace.relative(keyspace.metaPrefix);
    this.relativeMetaEnd = prefixEnd(this.relativeMetaStart)!;
    this.relativeCompacted = keyspace.relative(keyspace.compactedKey);
  }

  /** True when the copy is loaded and may answer reads (after a barrier, or stale). */
  get serving(): boolean {
    return this.state === 'serving';
  }

  /** True when reads may wait for the copy: serving, and not known to be behind a barrier that gave up on it. */
  get usable(): boolean {
    return this.state === 'serving' && this.laggingUntil === 0;
  }

  /** The last etcd revision the copy has applied. */
  get revision(): Revision {
    return this.options.store.revision;
  }

  /** Loads completed since start (the first one included). */
  get loads(): number {
    return this.loadsCompleted;
  }

  /** How long ago, at most, the copy was known to hold every acknowledged write (Infinity: never confirmed). */
  stalenessMs(): number {
    return Math.max(0, this.options.now() - this.confirmedAtMs);
  }

  /** Starts loading (again): the copy stops serving at once, and serves again once the load is done. */
  reload(): void {
    if (this.state === 'closed') return;
    this.state = 'loading';
    this.generation++;
    this.held = [];
    this.heldBytes = 0;
    this.laggingUntil = 0;
    this.wakeAll(false);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    void this.load(this.generation, 0);
  }

  /**
   * The feed's changes of the revisions up to `batch.revision`, in order:
   * applied in one transaction (or held while loading). Revisions the copy
   * already holds are skipped.
   */
  advance(batch: ReplicaBatch): void {
    if (this.state === 'closed') return;
    if (this.state === 'loading') {
      this.held.push(batch);
      this.heldBytes += batch.bytes;
      if (this.heldBytes > (this.options.loadBufferBytesMax ?? ETCD_REPLICA_LOAD_BUFFER_BYTES_MAX)) {
        this.options.onError(new Error(`more than ${this.heldBytes} bytes of changes arrived while the replica was loading; the load starts over`));
        this.reload();
      }
      return;
    }
    if (batch.revision <= this.revision) return;
    try {
      this.options.store.apply(batch.revision, batch.writes);
    } catch (error) {
      this.options.onError(error);
      this.reload();
      return;
    }
    this.caughtUpTo(batch.revision);
  }

  /**
   * Resolves true once the copy has applied `revision` (a revision etcd
   * reached after a quorum read that started at `startedAtMs`), false if it
   * stops serving, or has not got there within `timeoutMs` (then reads go to
   * etcd until it has).
   */
  waitFor(revision: Revision, startedAtMs: number, timeoutMs: number): Promise<boolean> {
    if (this.state !== 'serving') return Promise.resolve(false);
    if (this.revision >= revision) {
      this.confirm(startedAtMs);
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        revision,
        startedAtMs,
        resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((other) => other !== waiter);
          if (this.state === 'serving' && this.revision < revision) {
            this.laggingUntil = Math.max(this.laggingUntil, revision);
            this.options.onError(
              new Error(`the replica did not reach revision ${revision} within ${timeoutMs} ms (it is at ${this.revision}); reads go to etcd until it does`),
            );
          }
          resolve(false);
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** The entry under a user key (expired ones included, as etcd still holds them), or undefined when not serving. */
  stored(key: string): StoredEntry | null | undefined {
    if (this.state !== 'serving') return undefined;
    const relative = Buffer.concat([this.relativeData, Buffer.from(key, 'utf8')]);
    const row = this.options.store.getView(relative);
    return row === undefined ? null : this.decode(relative, row);
  }

  /** The live entry under a user key and the copy's revision, or null when not serving. */
  get(key: string): { entry: Entry | null; revision: Revision } | null {
    const entry = this.stored(key);
    if (entry === undefined) return null;
    return { entry: entry === null || isExpired(entry, this.options.now()) ? null : withoutLease(entry), revision: this.revision };
  }

  /** A page of live entries, as KvRead.range; null when not serving. */
  range(request: RangeRequest): RangeResult | null {
    if (this.state !== 'serving') return null;
    const now = this.options.now();
    const items: RangeItem[] = [];
    let more = false;
    let valueBytes = 0;
    const valueBytesMax = request.withValues ? (request.valueBytesMax ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY;
    const [start, end] = this.dataBounds(request.start, request.end);
    for (const { key, value } of this.options.store.entries(start, end, request.reverse)) {
      const entry = this.decode(key, value);
      if (isExpired(entry, now)) continue;
      if (items.length === request.limit || valueBytes >= valueBytesMax) {
        more = true;
        break;
      }
      valueBytes += entry.value.length;
      const { value: bytes, lease: _lease, ...meta } = entry;
      items.push(request.withValues ? { ...meta, size: bytes.length, value: bytes } : { ...meta, size: bytes.length });
    }
    return { items, more, revision: this.revision };
  }

  /** Live keys in [start, end); null when not serving. */
  count(start: Buffer, end: Buffer | null): number | null {
    if (this.state !== 'serving') return null;
    const now = this.options.now();
    const [lower, upper] = this.dataBounds(start, end);
    let live = 0;
    for (const { key, value } of this.options.store.entries(lower, upper, false)) {
      if (!isExpired(this.decode(key, value), now)) live++;
    }
    return live;
  }

  /** Every live entry of [start, end) from one snapshot of the copy, or null when not serving. */
  snapshot(start: Buffer, end: Buffer | null): AsyncIterable<Entry> | null {
    if (this.state !== 'serving') return null;
    const pinned = this.options.store.pinned();
    const [lower, upper] = this.dataBounds(start, end);
    const decode = (key: Buffer, row: Buffer) => this.decode(key, row);
    const now = this.options.now;
    return (async function* () {
      try {
        for (const { key, value } of pinned.entries(lower, upper)) {
          const entry = decode(key, value);
          if (!isExpired(entry, now())) yield withoutLease(entry);
        }
      } finally {
        pinned.release();
      }
    })();
  }

  /** The copy's revision, its record of kvs's compaction point, and its keys as etcd counts them (expired ones not yet removed included); null when not serving. */
  status(): { revision: Revision; compactRevision: Revision; keys: number } | null {
    if (this.state !== 'serving') return null;
    const { store } = this.options;
    let meta = 0;
    for (const _row of store.entries(this.relativeMetaStart, this.relativeMetaEnd, false)) meta++;
    const compacted = store.getView(this.relativeCompacted);
    const recorded = compacted === undefined ? undefined : decodeRow(this.options.keyspace, this.relativeCompacted, compacted).value;
    return { revision: this.revision, compactRevision: recordedCompactRevision(recorded), keys: store.size - meta };
  }

  close(): void {
    this.state = 'closed';
    this.generation++;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.wakeAll(false);
  }

  /** The copy has applied `revision`: waiters up to it are answered, and a lag is over once it reaches where a barrier gave up. */
  private caughtUpTo(revision: Revision): void {
    if (this.laggingUntil !== 0 && revision >= this.laggingUntil) this.laggingUntil = 0;
    if (this.waiters.length === 0) return;
    const remaining: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.revision <= revision) {
        clearTimeout(waiter.timer);
        this.confirm(waiter.startedAtMs);
        waiter.resolve(true);
      } else {
        remaining.push(waiter);
      }
    }
    this.waiters = remaining;
  }

  private confirm(startedAtMs: number): void {
    if (startedAtMs > this.confirmedAtMs) this.confirmedAtMs = startedAtMs;
  }

  private wakeAll(caughtUp: boolean): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve(caughtUp);
    }
  }

  /** Paged Ranges of the whole namespace at one revision (the first page's), into an emptied store; then what the feed brought meanwhile. */
  private async load(generation: number, attempt: number): Promise<void> {
    const { store, keyspace } = this.options;
    const current = () => generation === this.generation && this.state === 'loading';
    try {
      store.clear();
      let lower = keyspace.namespace;
      let revision: Revision | undefined;
      // etcd cannot bound a Range in bytes, only in keys: pages start small and grow by what they measure (ETCD_REPLICA_LOAD_FIRST_KEYS_MAX).
      let limit = ETCD_REPLICA_LOAD_FIRST_KEYS_MAX;
      let ceiling = ETCD_REPLICA_LOAD_KEYS_MAX;
      // The first page is a linearizable read that starts now: the loaded copy holds every write acknowledged before.
      const startedAtMs = this.options.now();
      for (;;) {
        const client = this.options.client();
        let page;
        try {
          page = await client.read(client.methods.range, {
            key: lower,
            range_end: keyspace.namespaceEnd,
            limit,
            ...(revision === undefined ? {} : { revision }),
          });
        } catch (error) {
          if (!current()) return;
          if (!tooLargeToReceive(error) || limit === 1) throw error;
          // The page was larger than the load may hold at once (ETCD_REPLICA_LOAD_PAGE_BYTES_MAX): the same page with half the
          // keys, and never more for the rest of this load, rather than starting over into the same wall.
          this.options.onError(
            new Error(`a replica load page of ${limit} keys was larger than the load accepts; asking for ${Math.floor(limit / 2)}`, { cause: error }),
          );
          limit = ceiling = Math.floor(limit / 2);
          continue;
        }
        if (!current()) return;
        revision ??= headerRevision(page);
        let largest = 0;
        const writes: LocalCopyWrite[] = page.kvs.map((kv) => {
          largest = Math.max(largest, kv.key.length + kv.value.length);
          return { key: keyspace.relative(kv.key), value: encodeRow(kv) };
        });
        store.apply(0, writes);
        const last = page.kvs.at(-1);
        if (!page.more || last === undefined) break;
        lower = keySuccessor(last.key);
        limit = Math.max(1, Math.min(ceiling, 2 * limit, Math.floor(ETCD_REPLICA_LOAD_BYTES_TARGET / Math.max(1, largest))));
      }
      // What the feed delivered meanwhile, after the load's revision, in order, as one transaction.
      const after = this.held.filter((batch) => batch.revision > revision);
      const writes = after.flatMap((batch) => batch.writes);
      this.held = [];
      this.heldBytes = 0;
      store.apply(Math.max(revision, after.at(-1)?.revision ?? 0), writes);
      this.state = 'serving';
      this.loadsCompleted++;
      this.confirm(startedAtMs);
      this.caughtUpTo(store.revision);
    } catch (error) {
      if (!current()) return;
      this.options.onError(error);
      const delay = Math.min(ETCD_REPLICA_LOAD_RETRY_MS_MAX, ETCD_REPLICA_LOAD_RETRY_MS_MIN * 2 ** attempt);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        if (current()) void this.load(generation, attempt + 1);
      }, delay);
    }
  }

  /** A user range as store bounds (under the data prefix). */
  private dataBounds(start: Buffer, end: Buffer | null): [Buffer, Buffer] {
    return [Buffer.concat([this.relativeData, start]), end === null ? this.relativeDataEnd : Buffer.concat([this.relativeData, end])];
  }

  private decode(relativeKey: Buffer, row: Buffer): StoredEntry {
    return decodeStored(this.options.keyspace, decodeRow(this.options.keyspace, relativeKey, row));
  }
}

/**
 * A key-value of the namespace as the store keeps it: etcd's counters first
 * (create and mod revision, version as float64 BE, exact below 2^53; the
 * lease as int64 BE), then the etcd value as it is (kvs's record, keyspace.ts).
 */
const ROW_HEADER_BYTES = 32;

export function encodeRow(kv: Pick<KeyValue, 'create_revision' | 'mod_revision' | 'version' | 'lease' | 'value'>): Buffer {
  const row = Buffer.allocUnsafe(ROW_HEADER_BYTES + kv.value.length);
  row.writeDoubleBE(revisionOf(kv.create_revision), 0);
  row.writeDoubleBE(revisionOf(kv.mod_revision), 8);
  row.writeDoubleBE(revisionOf(kv.version), 16);
  row.writeBigInt64BE(BigInt(kv.lease || '0'), 24);
  kv.value.copy(row, ROW_HEADER_BYTES);
  return row;
}

/** A stored row back as an etcd key-value (its value a copy: the row may be a view lmdb-js reuses). */
export function decodeRow(keyspace: Keyspace, relativeKey: Buffer, row: Buffer): KeyValue {
  return {
    key: Buffer.concat([keyspace.namespace, relativeKey]),
    create_revision: String(row.readDoubleBE(0)),
    mod_revision: String(row.readDoubleBE(8)),
    version: String(row.readDoubleBE(16)),
    lease: row.readBigInt64BE(24).toString(),
    value: Buffer.from(row.subarray(ROW_HEADER_BYTES)),
  };
}

/** A watch event of the namespace as a change to the copy. */
export function replicaWrite(keyspace: Keyspace, event: WatchEvent): LocalCopyWrite {
  return { key: keyspace.relative(event.kv.key), value: event.type === EventType.put ? encodeRow(event.kv) : null };
}
