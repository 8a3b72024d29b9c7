import { randomBytes } from 'node:crypto';
import type { Entry } from '../client/index.js';
import { bytesToBase64, isJsonContentType, isUtf8, utf8 } from '../client/values.js';

/*
 * Values in the CLI's JSON output (-o json, ls --values, watch, txn): shown
 * as the API's envelopes show them (API.md §2), with a JSON value's own text
 * spliced in rather than parsed and serialised again.
 */

/**
 * JSON text that output shows as it is, not parsed and serialised again: a
 * round trip through JavaScript numbers would turn 12345678901234567890 into
 * 12345678901234567000 and 1.0 into 1. jsonLine splices it in.
 */
export class RawJson {
  constructor(readonly text: string) {}
}

/** A value as the API's JSON envelopes show it (API.md §2): JSON embedded (as RawJson), text as a string, else base64. */
export function envelopeOf(value: Uint8Array, contentType: string): { value: unknown; encoding: 'json' | 'utf8' | 'base64' } {
  const json = isJsonContentType(contentType) ? jsonText(value) : null;
  // Stored as JSON but is not (json null): shown as what it is.
  if (json !== null) return { value: new RawJson(json), encoding: 'json' };
  if (isUtf8(value)) return { value: utf8(value), encoding: 'utf8' };
  return { value: bytesToBase64(value), encoding: 'base64' };
}

// ignoreBOM keeps a leading U+FEFF, which JSON does not allow: such a value is text, not JSON.
const exactUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The stored JSON text, for one line of output: byte for byte, but for its
 * line breaks and the indentation after them (JSON strings cannot hold a raw
 * line break, so these are whitespace between tokens). Null when the bytes
 * are not valid JSON.
 */
function jsonText(bytes: Uint8Array): string | null {
  let text: string;
  try {
    text = exactUtf8.decode(bytes);
    JSON.parse(text);
  } catch {
    // Not UTF-8, not JSON, or nested too deeply to parse.
    return null;
  }
  return text.replace(/[\r\n][\t\n\r ]*/g, '').trim();
}

/** Marks a RawJson's place in JSON.stringify's output: U+0000 is escaped there, and the nonce no value can foresee. */
const RAW_NONCE = randomBytes(8).toString('hex');
const RAW_MARK = `\u0000raw-${RAW_NONCE}:`;
/** A mark as JSON.stringify writes it: a string, its U+0000 escaped as \u0000. */
const RAW_PLACE = new RegExp(`"\\\\u0000raw-${RAW_NONCE}:(\\d+)"`, 'g');

/** JSON.stringify of `value`, with each RawJson in it written as its text. */
export function jsonLine(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, member: unknown) => (member instanceof RawJson ? `${RAW_MARK}${raws.push(member.text) - 1}` : member));
  return raws.length === 0 ? text : text.replace(RAW_PLACE, (_place, index: string) => raws[Number(index)]!);
}

/** An entry with its metadata as one JSON object (`-o json`). */
export function entryJson(entry: Entry): Record<string, unknown> {
  return {
    key: entry.key,
    ...envelopeOf(entry.value, entry.contentType),
    contentType: entry.contentType,
    size: entry.value.length,
    revision: entry.revision,
    createRevision: entry.createRevision,
    version: entry.version,
    ...(entry.expiresAt === null ? {} : { expiresAt: entry.expiresAt.toISOString() }),
  };
}
