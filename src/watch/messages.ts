import { encodeValueForEnvelope } from '../core/encoding.js';
import type { ChangeEvent, Revision } from '../core/types.js';

/**
 * Server-Sent Events messages of the watch feed (API.md §6). JSON never holds
 * a raw newline, so each `data:` is one line.
 */
export function changeMessage(revision: Revision, events: readonly ChangeEvent[], withValues: boolean): string {
  const data = JSON.stringify({ revision, events: events.map((event) => eventJson(event, withValues)) });
  return `id: ${revision}\nevent: change\ndata: ${data}\n\n`;
}

export function progressMessage(revision: Revision): string {
  return `id: ${revision}\nevent: progress\ndata: {"revision":${revision}}\n\n`;
}

export function errorMessage(code: string, extra: Record<string, unknown> = {}): string {
  return `event: error\ndata: ${JSON.stringify({ code, ...extra })}\n\n`;
}

/** One event as watchers see it: `put` carries the entry's counters (and its value unless values=false). */
export function eventJson(event: ChangeEvent, withValues: boolean): Record<string, unknown> {
  const json: Record<string, unknown> = { type: event.type, key: event.key, revision: event.revision };
  const entry = event.entry;
  if (event.type !== 'put' || entry === undefined) return json;
  json.version = entry.version;
  json.createRevision = entry.createRevision;
  json.contentType = entry.contentType;
  if (entry.expiresAtMs !== null) json.expiresAt = new Date(entry.expiresAtMs).toISOString();
  if (withValues) Object.assign(json, encodeValueForEnvelope(entry.value, entry.contentType));
  return json;
}
