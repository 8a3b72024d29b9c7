import { encodeValueForEnvelope } from '../core/encoding.js';
import type { EntryMeta } from '../core/types.js';
import type { RangeItem } from '../engine/engine.js';

/** RFC 3339 UTC with milliseconds, as `KV-Expires-At` and `expiresAt` show deadlines. */
export function formatExpiry(expiresAtMs: number): string {
  return new Date(expiresAtMs).toISOString();
}

/** The body of a successful PUT (API.md §3). */
export function writeResultJson(meta: EntryMeta): Record<string, unknown> {
  const body: Record<string, unknown> = { key: meta.key, revision: meta.revision, createRevision: meta.createRevision, version: meta.version };
  if (meta.expiresAtMs !== null) body.expiresAt = formatExpiry(meta.expiresAtMs);
  return body;
}

/** One item of a range listing (API.md §4). */
export function rangeItemJson(item: RangeItem): Record<string, unknown> {
  const json: Record<string, unknown> = {
    key: item.key,
    revision: item.revision,
    createRevision: item.createRevision,
    version: item.version,
    contentType: item.contentType,
    size: item.size,
  };
  if (item.expiresAtMs !== null) json.expiresAt = formatExpiry(item.expiresAtMs);
  if (item.value !== undefined) Object.assign(json, encodeValueForEnvelope(item.value, item.contentType));
  return json;
}
