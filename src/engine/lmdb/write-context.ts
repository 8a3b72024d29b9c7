import type { Entry, EntryMeta, Revision } from '../../core/types.js';
import { decodeRecord, encodeRecord } from './record-codec.js';
import type { StoredEvent } from './stores.js';
import type { WriteBatch } from './write-batch.js';

/**
 * What one logical write (a PUT, a txn, a prefix delete, a sweep) does within
 * a group-commit batch: reads, then mutations, then `commit()` once.
 *
 * Mutations are queued write instructions that cannot be taken back, so a
 * write must throw, if at all, before its first mutation; every KvError
 * (failed precondition, not a counter) is raised while planning, before.
 */
export class WriteContext {
  /** The store revision before this write. */
  readonly baseRevision: Revision;
  private readonly events: StoredEvent[] = [];
  /** Expired keys `read` met, with their deadlines, for `expireDue`. */
  private readonly dueForExpiry = new Map<string, number>();
  private revision: Revision | null = null;

  constructor(private readonly batch: WriteBatch) {
    this.baseRevision = batch.revision;
  }

  get nowMs(): number {
    return this.batch.nowMs;
  }

  /** True once this write has queued a mutation. */
  get mutated(): boolean {
    return this.revision !== null;
  }

  /** The live entry under `key`, or null. An expired entry reads as null and is remembered so `expireDue` can remove it. */
  read(key: string): Entry | null {
    const record = this.batch.readRecord(key);
    if (record === undefined) return null;
    const entry = decodeRecord(key, record);
    if (entry.expiresAtMs !== null && entry.expiresAtMs <= this.batch.nowMs) {
      this.dueForExpiry.set(key, entry.expiresAtMs);
      return null;
    }
    return entry;
  }

  /** Like `read` for writes that need no value (deletes): the key's deadline if it is live, from the record's header only. */
  readLive(key: string): { expiresAtMs: number | null } | null {
    const presence = this.batch.readPresence(key);
    if (presence === undefined) return null;
    if (presence.expiresAtMs !== null && presence.expiresAtMs <= this.batch.nowMs) {
      this.dueForExpiry.set(key, presence.expiresAtMs);
      return null;
    }
    return presence;
  }

  /**
   * Removes the expired entries `read` met among `keys`, as `expire` events at a
   * revision of their own, so watchers see the old incarnation end before a new
   * one begins. Call before the first `put`/`remove`.
   */
  expireDue(keys: Iterable<string>): void {
    if (this.mutated) throw new Error('expireDue must run before the first put or remove');
    const events: StoredEvent[] = [];
    for (const key of keys) {
      const expiresAtMs = this.dueForExpiry.get(key);
      if (expiresAtMs === undefined) continue;
      this.dueForExpiry.delete(key);
      this.deleteRecord(key, expiresAtMs);
      events.push({ t: 'e', k: key });
    }
    if (events.length > 0) this.batch.appendRevision(events);
  }

  /** The revision this write's changes get: the one after everything before it. */
  private writeRevision(): Revision {
    this.revision ??= this.batch.revision + 1;
    return this.revision;
  }

  /** Creates or replaces `key`. `previous` is what `read` returned for it. */
  put(key: string, previous: Entry | null, value: Buffer, contentType: string, expiresAtMs: number | null): void {
    const revision = this.writeRevision();
    const entry: Entry = {
      key,
      value,
      contentType,
      createRevision: previous === null ? revision : previous.createRevision,
      revision,
      version: previous === null ? 1 : previous.version + 1,
      expiresAtMs,
    };
    this.batch.putRecord(key, encodeRecord(entry));
    if (previous?.expiresAtMs != null && previous.expiresAtMs !== expiresAtMs) this.batch.unindexExpiry(key, previous.expiresAtMs);
    if (expiresAtMs !== null && previous?.expiresAtMs !== expiresAtMs) this.batch.indexExpiry(key, expiresAtMs);
    this.events.push({ t: 'p', k: key, c: entry.createRevision, v: entry.version, ct: contentType, x: expiresAtMs ?? 0, d: value });
  }

  /** Deletes a live `key` (`previous` from `read` or `readLive`), recording a `delete` event. */
  remove(key: string, previous: { expiresAtMs: number | null }): void {
    this.writeRevision();
    this.deleteRecord(key, previous.expiresAtMs);
    this.events.push({ t: 'd', k: key });
  }

  /** Removes an entry the sweeper found due, recording an `expire` event in this write's revision. */
  expire(key: string, expiresAtMs: number): void {
    this.writeRevision();
    this.deleteRecord(key, expiresAtMs);
    this.events.push({ t: 'e', k: key });
  }

  /** Appends this write's events to the log as its revision. */
  commit(): void {
    if (this.revision === null) return;
    const appended = this.batch.appendRevision(this.events);
    if (appended !== this.revision) throw new Error(`revision ${this.revision} was claimed but ${appended} was appended`);
  }

  /** The store revision after this write (the base revision if nothing changed). */
  get storeRevision(): Revision {
    return this.batch.revision;
  }

  private deleteRecord(key: string, expiresAtMs: number | null): void {
    this.batch.removeRecord(key);
    if (expiresAtMs !== null) this.batch.unindexExpiry(key, expiresAtMs);
  }
}

export function toMeta(entry: Entry): EntryMeta {
  return {
    key: entry.key,
    contentType: entry.contentType,
    createRevision: entry.createRevision,
    revision: entry.revision,
    version: entry.version,
    expiresAtMs: entry.expiresAtMs,
    size: entry.value.length,
  };
}
