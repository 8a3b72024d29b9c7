import { DEFAULT_CONTENT_TYPE, isCanonicalBase64, JSON_CONTENT_TYPE, stringifyJsonValue, validateContentType } from '../core/encoding.js';
import { isKvError, KvError } from '../core/errors.js';
import { validateKey } from '../core/keys.js';
import type { Limits } from '../core/limits.js';
import type { Entry, Revision } from '../core/types.js';
import type { KvRead, KvWrite, TxnOp } from './engine.js';

/**
 * Moving data in and out (API.md §11): the original server's data file, and
 * kvs's own NDJSON export format, one line per key:
 * `{"key","value"(base64),"contentType","expiresAt"?}`.
 */
export interface ImportEntry {
  key: string;
  value: Buffer;
  contentType: string;
  expiresAtMs: number | null;
}

export interface ParsedImport {
  entries: ImportEntry[];
  /** What could not be imported and why, e.g. `line 3: ...` or `key "": ...`. */
  problems: string[];
}

type ImportLimits = Pick<Limits, 'keyBytesMax' | 'valueBytesMax' | 'contentTypeCharsMax' | 'ttlSecondsMax'>;

/**
 * Reads the original server's data file: a JSON object `{key: value}`. Values
 * are stored as JSON, as `/put` stores them; `null` values (which `/put`
 * refuses) and keys kvs cannot hold are reported, not imported.
 */
export function parseSeedDocument(text: string, limits: ImportLimits): ParsedImport {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new KvError('invalid_json', `the seed data is not JSON: ${(error as Error).message}`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new KvError('invalid_request', 'the seed data must be a JSON object of {"key": value}');
  }
  const entries: ImportEntry[] = [];
  const problems: string[] = [];
  for (const [key, value] of Object.entries(document)) {
    try {
      validateKey(key, limits.keyBytesMax);
      if (value === null) throw new KvError('invalid_request', 'the value is null');
      const bytes = Buffer.from(stringifyJsonValue(value, 'the value'), 'utf8');
      checkValueSize(bytes, limits);
      entries.push({ key, value: bytes, contentType: JSON_CONTENT_TYPE, expiresAtMs: null });
    } catch (error) {
      problems.push(`key ${JSON.stringify(key)}: ${(error as Error).message}`);
    }
  }
  return { entries, problems };
}

/** Reads kvs's NDJSON export format. Every problem is reported with its line number. */
export function parseNdjson(text: string, limits: ImportLimits, nowMs: number): ParsedImport {
  const entries: ImportEntry[] = [];
  const problems: string[] = [];
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    try {
      entries.push(parseExportLine(line, limits, nowMs));
    } catch (error) {
      problems.push(`line ${index + 1}: ${(error as Error).message}`);
    }
  });
  return { entries, problems };
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/i;

function parseExportLine(line: string, limits: ImportLimits, nowMs: number): ImportEntry {
  let item: unknown;
  try {
    item = JSON.parse(line);
  } catch {
    throw new KvError('invalid_json', 'not a JSON object');
  }
  if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new KvError('invalid_request', 'not a JSON object');
  const { key, value, contentType, expiresAt } = item as Record<string, unknown>;
  validateKey(key, limits.keyBytesMax);
  if (typeof value !== 'string' || !isCanonicalBase64(value)) throw new KvError('invalid_request', '"value" must be base64');
  const bytes = Buffer.from(value, 'base64');
  checkValueSize(bytes, limits);
  if (contentType !== undefined) validateContentType(contentType, '"contentType"', limits.contentTypeCharsMax);
  let expiresAtMs: number | null = null;
  if (expiresAt !== undefined && expiresAt !== null) {
    expiresAtMs = typeof expiresAt === 'string' && RFC3339.test(expiresAt) ? Date.parse(expiresAt) : Number.NaN;
    if (!Number.isFinite(expiresAtMs)) throw new KvError('invalid_request', '"expiresAt" must be an RFC 3339 timestamp');
    // Keep deadlines to what a PUT could have set, and to whole milliseconds, as the store keeps them.
    expiresAtMs = Math.round(expiresAtMs);
    if (expiresAtMs > nowMs + limits.ttlSecondsMax * 1000) {
      throw new KvError('invalid_request', `"expiresAt" is more than ${limits.ttlSecondsMax} seconds away`);
    }
  }
  return { key: key as string, value: bytes, contentType: (contentType as string | undefined) ?? DEFAULT_CONTENT_TYPE, expiresAtMs };
}

function checkValueSize(bytes: Buffer, limits: ImportLimits): void {
  if (bytes.length > limits.valueBytesMax) {
    throw new KvError('value_too_large', `the value is ${bytes.length} bytes; the limit is ${limits.valueBytesMax}`, { limit: limits.valueBytesMax });
  }
}

/**
 * Writes `entries` in one transaction, so an import applies entirely or not at
 * all. A key given twice keeps its last value; entries already expired are
 * left out.
 */
export async function importEntries(
  engine: Pick<KvWrite, 'txn' | 'txnCapacity'>,
  entries: ImportEntry[],
  nowMs: number,
): Promise<{ imported: number; revision: Revision }> {
  const latest = new Map<string, ImportEntry>();
  for (const entry of entries) {
    latest.delete(entry.key); // re-insert so the map keeps the last occurrence's position
    latest.set(entry.key, entry);
  }
  const ops: TxnOp[] = [];
  for (const entry of latest.values()) {
    if (entry.expiresAtMs !== null && entry.expiresAtMs <= nowMs) continue;
    ops.push({
      op: 'put',
      key: entry.key,
      value: entry.value,
      contentType: entry.contentType,
      ttlMs: null,
      ...(entry.expiresAtMs === null ? {} : { expiresAtMs: entry.expiresAtMs }),
    });
  }
  const capacity = engine.txnCapacity;
  if (capacity === null) {
    const result = await engine.txn({ compares: [], ops });
    return { imported: ops.length, revision: result.revision };
  }
  // An engine whose txns are bounded (etcd) takes a large import as consecutive txns.
  let imported = 0;
  let revision = 0;
  for (const chunk of chunksWithin(ops, capacity)) {
    try {
      revision = (await engine.txn({ compares: [], ops: chunk })).revision;
    } catch (error) {
      if (imported === 0 || !isKvError(error)) throw error;
      throw new KvError(
        error.code,
        `${imported} of ${ops.length} keys were imported before this failure (importing the same data again is safe): ${error.message}`,
        error.extras,
      );
    }
    imported += chunk.length;
  }
  return { imported, revision };
}

/** Bytes a put takes in an engine request beyond its value, key and content type: framing. */
const PUT_OVERHEAD_BYTES = 64;

/** Consecutive runs of puts, each within `capacity` (a put larger than the byte bound alone is a run of its own; the engine judges it). */
function* chunksWithin(ops: TxnOp[], capacity: { ops: number; bytes: number }): Generator<TxnOp[]> {
  let chunk: TxnOp[] = [];
  let bytes = 0;
  for (const op of ops) {
    // The key twice: an engine that pins what it writes (etcd) sends it in a compare and in the put.
    const size = (op.op === 'put' ? op.value.length + Buffer.byteLength(op.contentType) : 0) + 2 * Buffer.byteLength(op.key) + PUT_OVERHEAD_BYTES;
    if (chunk.length > 0 && (chunk.length >= capacity.ops || bytes + size > capacity.bytes)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(op);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}

/** One NDJSON export line per live key, from one snapshot. */
export async function* exportLines(engine: Pick<KvRead, 'snapshot'>, start: Buffer, end: Buffer | null): AsyncGenerator<string> {
  for await (const entry of engine.snapshot(start, end)) {
    yield `${JSON.stringify(exportRecord(entry))}\n`;
  }
}

function exportRecord(entry: Entry): Record<string, unknown> {
  const record: Record<string, unknown> = { key: entry.key, value: entry.value.toString('base64'), contentType: entry.contentType };
  if (entry.expiresAtMs !== null) record.expiresAt = new Date(entry.expiresAtMs).toISOString();
  return record;
}
