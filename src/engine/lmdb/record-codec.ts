import type { Entry } from '../../core/types.js';

/**
 * The on-disk form of a live key (the value of the `kv` database):
 *
 *   offset  size  field
 *   0       1     format (1)
 *   1       8     createRevision (float64 BE: exact for integers below 2^53)
 *   9       8     revision
 *   17      8     version
 *   25      8     expiresAtMs (0 = no TTL)
 *   33      2     content type length in bytes (uint16 BE)
 *   35      n     content type (UTF-8)
 *   35+n    ...   value bytes
 *
 * A fixed binary header keeps reads to one buffer copy and no parsing of the
 * value itself, whatever its size.
 */
const FORMAT = 1;
const HEADER_BYTES = 35;

export function encodeRecord(entry: Omit<Entry, 'key'>): Buffer {
  return encodeRecordFields(entry.createRevision, entry.revision, entry.version, entry.expiresAtMs, entry.contentType, entry.value);
}

/** encodeRecord from its fields: one buffer, written in place (no entry object, no content-type buffer). */
export function encodeRecordFields(
  createRevision: number,
  revision: number,
  version: number,
  expiresAtMs: number | null,
  contentType: string,
  value: Buffer,
): Buffer {
  const contentTypeBytes = Buffer.byteLength(contentType, 'utf8');
  const record = Buffer.allocUnsafe(HEADER_BYTES + contentTypeBytes + value.length);
  record[0] = FORMAT;
  record.writeDoubleBE(createRevision, 1);
  record.writeDoubleBE(revision, 9);
  record.writeDoubleBE(version, 17);
  record.writeDoubleBE(expiresAtMs ?? 0, 25);
  record.writeUInt16BE(contentTypeBytes, 33);
  record.write(contentType, HEADER_BYTES, contentTypeBytes, 'utf8');
  value.copy(record, HEADER_BYTES + contentTypeBytes);
  return record;
}

/** What a write needs of the entry it replaces: the header, never the value. */
export interface RecordHeader {
  createRevision: number;
  version: number;
  expiresAtMs: number | null;
}

/** The header fields of a record (which may be a view lmdb-js reuses: nothing of it is kept). */
export function decodeRecordHeader(key: string, record: Buffer): RecordHeader {
  if (record.length < HEADER_BYTES || record[0] !== FORMAT) {
    throw new Error(`corrupt record for key ${JSON.stringify(key)}: unknown format ${record[0]}`);
  }
  const expiresAtMs = record.readDoubleBE(25);
  return { createRevision: record.readDoubleBE(1), version: record.readDoubleBE(17), expiresAtMs: expiresAtMs === 0 ? null : expiresAtMs };
}

export function decodeRecord(key: string, record: Buffer): Entry {
  if (record.length < HEADER_BYTES || record[0] !== FORMAT) {
    throw new Error(`corrupt record for key ${JSON.stringify(key)}: unknown format ${record[0]}`);
  }
  const contentTypeBytes = record.readUInt16BE(33);
  const valueStart = HEADER_BYTES + contentTypeBytes;
  if (valueStart > record.length) {
    throw new Error(`corrupt record for key ${JSON.stringify(key)}: its content type runs past its end`);
  }
  const expiresAtMs = record.readDoubleBE(25);
  return {
    key,
    createRevision: record.readDoubleBE(1),
    revision: record.readDoubleBE(9),
    version: record.readDoubleBE(17),
    expiresAtMs: expiresAtMs === 0 ? null : expiresAtMs,
    contentType: record.toString('utf8', HEADER_BYTES, valueStart),
    value: record.subarray(valueStart),
  };
}

/**
 * Like decodeRecord, for a view into a buffer the caller will reuse (lmdb-js's
 * getBinaryFast): the value is copied out (small values into Node's buffer
 * pool, without a fresh ArrayBuffer each).
 */
export function decodeRecordCopy(key: string, view: Buffer): Entry {
  const entry = decodeRecord(key, view);
  entry.value = Buffer.from(entry.value);
  return entry;
}

/** Reads only the expiry of a record, without decoding the rest. */
export function recordExpiresAtMs(record: Buffer): number | null {
  const expiresAtMs = record.readDoubleBE(25);
  return expiresAtMs === 0 ? null : expiresAtMs;
}

/** True when a record has expired at `nowMs`; reads only its header. */
export function isRecordExpired(record: Buffer, nowMs: number): boolean {
  const expiresAtMs = recordExpiresAtMs(record);
  return expiresAtMs !== null && expiresAtMs <= nowMs;
}

/** Size of the value inside a record, without copying it. */
export function recordValueBytes(record: Buffer): number {
  return record.length - HEADER_BYTES - record.readUInt16BE(33);
}
