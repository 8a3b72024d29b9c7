import type { Entry } from '../../core/types.js';
import { decodeRecord } from './record-codec.js';
import { describeNames } from './store-file.js';
import {
  databasesOf,
  DATABASE_NAMES,
  expiryIndexKey,
  META_COMPACT_REVISION,
  META_FORMAT,
  META_REVISION,
  openEnvironmentReadOnly,
  readMetaNumber,
  STORE_FORMAT,
  type StoredEvent,
  type Stores,
} from './stores.js';

/** Why a file is not a kvs store to restore; the message reads after the file's name ("SRC is corrupt: ..."). */
export class UnusableStore extends Error {
  override name = 'UnusableStore';
}

/** What verify-store-process.ts writes to stdout last: one line of JSON. */
export type VerifierAnswer = ({ ok: true } & StoreSummary) | { ok: false; reason: string };
/** What it writes before, with --progress: a line of JSON now and then while it checks. */
export type VerifierProgress = { progress: { checked: number; total: number } };

export interface StoreSummary {
  revision: number;
  /** Records in `kv` (keys whose TTL passed but that were not swept yet included). */
  keys: number;
}

/**
 * Opens `file` read-only and reads every record of every database, so that a
 * restore refuses a damaged backup instead of serving it: kvs's databases and
 * store format; every live record decodes, in key order, within the store's
 * revision; the change log's latest event for each key agrees with its record
 * (value included) while history still holds it, and each TTL is in the expiry
 * index; every log revision and index key is well formed. LMDB keeps no
 * checksums: this catches damage to LMDB's pages and to kvs's records, and a
 * changed value wherever the log still holds its write; not a changed byte in
 * history older than that.
 *
 * A corrupt page can crash LMDB rather than fail a read: run this in a
 * process of its own (verify-store-process.ts).
 */
export async function verifyStore(file: string, onProgress?: VerifyProgress): Promise<StoreSummary> {
  const root = openEnvironmentReadOnly(file);
  try {
    const names = [...root.getKeys()].map(String);
    const foreign = names.filter((name) => !DATABASE_NAMES.includes(name));
    if (foreign.length > 0)
      throw new UnusableStore(`is not a kvs backup: it is an LMDB environment of another application (it holds ${describeNames(foreign)})`);
    const missing = DATABASE_NAMES.filter((name) => !names.includes(name));
    if (missing.length > 0) throw new UnusableStore(`is not a kvs backup: it lacks kvs's database${missing.length === 1 ? '' : 's'} ${describeNames(missing)}`);
    return checkDatabases(databasesOf(root), onProgress);
  } finally {
    await root.close();
  }
}

function checkDatabases(stores: Stores, onProgress?: VerifyProgress): StoreSummary {
  const format = readMetaNumber(stores, META_FORMAT);
  if (format !== STORE_FORMAT) throw new UnusableStore(`is not a kvs backup: it holds store format ${format}; this kvs reads format ${STORE_FORMAT}`);
  const revision = readMetaNumber(stores, META_REVISION);
  const compactRevision = readMetaNumber(stores, META_COMPACT_REVISION);
  if (!isRevision(revision) || !isRevision(compactRevision) || compactRevision > revision) {
    throw corrupt(`its revision (${revision}) and compact revision (${compactRevision}) are not valid`);
  }
  const counter = progressCounter(stores, onProgress);
  const { keys, logged } = checkRecords(stores, revision, compactRevision, counter);
  const matched = checkLog(stores, revision, compactRevision, counter);
  // Each record the log still holds the write of was matched by exactly one log event: a shortfall is a record without its write.
  if (matched !== logged) throw unloggedRecord(stores, compactRevision);
  checkExpiryIndex(stores, counter);
  counter.finish();
  return { revision, keys };
}

/** Walks `kv` once: order, UTF-8, revisions, expiry index. Counts the records newer than the compact revision, whose write the log must hold. */
function checkRecords(stores: Stores, storeRevision: number, compactRevision: number, counter: ProgressCounter): { keys: number; logged: number } {
  let keys = 0;
  let logged = 0;
  let previous: Buffer | null = null;
  for (const { key, value: record } of stores.kv.getRange({})) {
    if (previous !== null && Buffer.compare(previous, key) >= 0) throw corrupt('its keys are out of order');
    previous = Buffer.from(key);
    const name = key.toString('utf8');
    if (!Buffer.from(name, 'utf8').equals(key)) throw corrupt(`the key ${JSON.stringify(name)} is not valid UTF-8`);
    const entry = decodeRecord(name, record);
    const { createRevision, revision, version } = entry;
    if (
      !isRevision(revision) ||
      revision < 1 ||
      revision > storeRevision ||
      !isRevision(createRevision) ||
      createRevision < 1 ||
      createRevision > revision ||
      !isRevision(version) ||
      version < 1
    ) {
      throw corrupt(
        `the record of key ${JSON.stringify(name)} has impossible revisions (create ${createRevision}, revision ${revision}, version ${version}; store at ${storeRevision})`,
      );
    }
    if (revision > compactRevision) logged++;
    if (entry.expiresAtMs !== null && stores.expiry.getBinary(expiryIndexKey(entry.expiresAtMs, key)) === undefined) {
      throw corrupt(`the TTL of key ${JSON.stringify(name)} is missing from its expiry index`);
    }
    keys++;
    counter.step();
  }
  return { keys, logged };
}

/**
 * Walks the log once, decoding each revision once (a revision may hold tens
 * of thousands of events: an import). The latest event of each key in a
 * revision is matched against the key's record when the record is at that
 * revision: it must be the put that wrote exactly this record. Returns how
 * many records were matched.
 */
function checkLog(stores: Stores, storeRevision: number, compactRevision: number, counter: ProgressCounter): number {
  let matched = 0;
  for (const { key: revision, value: events } of stores.log.getRange({})) {
    if (!isRevision(revision) || revision <= compactRevision || revision > storeRevision) {
      throw corrupt(`its change log holds revision ${revision}, outside ${compactRevision + 1}..${storeRevision}`);
    }
    if (!Array.isArray(events) || events.length === 0 || !events.every(isStoredEvent)) throw corrupt(`revision ${revision} of its change log is malformed`);
    for (const [name, event] of latestEventByKey(events)) {
      const record = stores.kv.getBinary(Buffer.from(name, 'utf8'));
      if (record === undefined) continue;
      const entry = decodeRecord(name, record);
      if (entry.revision !== revision) continue;
      if (!isWriteOf(event, entry))
        throw corrupt(`the record of key ${JSON.stringify(name)} differs from the write its change log holds at revision ${revision}`);
      matched++;
    }
    counter.step();
  }
  return matched;
}

/** A revision's events by key, the last one of each key kept: what the key was left as at that revision. */
function latestEventByKey(events: StoredEvent[]): Map<string, StoredEvent> {
  const latest = new Map<string, StoredEvent>();
  for (const event of events) latest.set(event.k, event);
  return latest;
}

/** True when `event` is the put that wrote exactly `entry`'s record. */
function isWriteOf(event: StoredEvent, entry: Entry): boolean {
  return (
    event.t === 'p' &&
    event.c === entry.createRevision &&
    event.v === entry.version &&
    event.ct === entry.contentType &&
    (event.x ?? 0) === (entry.expiresAtMs ?? 0) &&
    Buffer.compare(event.d ?? Buffer.alloc(0), entry.value) === 0
  );
}

/**
 * The error naming a record whose revision's log entry lacks its write. Only
 * on the way to a refusal: a second walk of `kv`, decoding a log entry once
 * per run of keys at the same revision.
 */
function unloggedRecord(stores: Stores, compactRevision: number): UnusableStore {
  let cachedRevision = 0;
  let logged = new Set<string>();
  for (const { key, value: record } of stores.kv.getRange({})) {
    const entry = decodeRecord(key.toString('utf8'), record);
    if (entry.revision <= compactRevision) continue;
    if (entry.revision !== cachedRevision) {
      const events: StoredEvent[] = stores.log.get(entry.revision) ?? [];
      cachedRevision = entry.revision;
      logged = new Set(events.map((event) => event.k));
    }
    if (!logged.has(entry.key))
      return corrupt(`the record of key ${JSON.stringify(entry.key)} differs from the write its change log holds at revision ${entry.revision}`);
  }
  return corrupt('its records and the writes its change log holds do not match');
}

function checkExpiryIndex(stores: Stores, counter: ProgressCounter): void {
  for (const indexKey of stores.expiry.getKeys({})) {
    const deadline = indexKey.length > 8 ? indexKey.readDoubleBE(0) : Number.NaN;
    if (!(deadline > 0) || !Number.isFinite(deadline)) throw corrupt('its expiry index holds a malformed entry');
    counter.step();
  }
}

/** Told how many of the store's entries (records, log revisions, expiry index keys) were checked so far, of how many. */
export type VerifyProgress = (checked: number, total: number) => void;

interface ProgressCounter {
  step(): void;
  finish(): void;
}

/** Counts checked entries and reports them at most every PROGRESS_INTERVAL_MS (a report per entry would cost more than the check). */
function progressCounter(stores: Stores, onProgress: VerifyProgress | undefined): ProgressCounter {
  if (onProgress === undefined) return { step() {}, finish() {} };
  const total = entryCount(stores.kv) + entryCount(stores.log) + entryCount(stores.expiry);
  let checked = 0;
  let reportedAtMs = Date.now();
  onProgress(0, total);
  return {
    step() {
      checked++;
      // Date.now() only every 256 entries: cheap enough for millions of them.
      if ((checked & 0xff) !== 0) return;
      const nowMs = Date.now();
      if (nowMs - reportedAtMs < PROGRESS_INTERVAL_MS) return;
      reportedAtMs = nowMs;
      onProgress(checked, total);
    },
    finish() {
      onProgress(checked, total);
    },
  };
}

const PROGRESS_INTERVAL_MS = 200;

/** lmdb-js's getStats() is typed `{}`; it returns LMDB's mdb_stat, entryCount included. */
function entryCount(database: { getStats(): object }): number {
  return (database.getStats() as { entryCount?: number }).entryCount ?? 0;
}

function isStoredEvent(event: unknown): boolean {
  const { t, k } = (event ?? {}) as Partial<StoredEvent>;
  return (t === 'p' || t === 'd' || t === 'e') && typeof k === 'string';
}

function isRevision(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function corrupt(reason: string): UnusableStore {
  return new UnusableStore(`is corrupt: ${reason}`);
}
