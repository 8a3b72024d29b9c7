import { Entry, parseExpiry, type EntryMeta } from './entry.js';
import type { ListItem, WatchEvent, WriteResult } from './types.js';
import { envelopeBytes, utf8, type Encoding } from './values.js';

/**
 * The API's JSON shapes turned into the SDK's types. Only this file knows the
 * wire names (`expiresAt` as text, `encoding` beside `value`).
 */
type Json = Record<string, unknown>;

function metaOf(json: Json): EntryMeta {
  return {
    key: json.key as string,
    contentType: (json.contentType as string | undefined) ?? 'application/octet-stream',
    revision: json.revision as number,
    createRevision: json.createRevision as number,
    version: json.version as number,
    expiresAt: parseExpiry(json.expiresAt),
  };
}

/** The bytes behind an envelope's `value`, or undefined when it carries none. */
function valueOf(json: Json): Uint8Array | undefined {
  return 'value' in json ? envelopeBytes(json.value, json.encoding as Encoding | undefined) : undefined;
}

function textOf(key: string, value: Uint8Array | undefined): string {
  if (value === undefined) throw new Error(`${JSON.stringify(key)} was read without its value (list with values: true, watch with values: true)`);
  return utf8(value);
}

export function writeResultFrom(json: Json, created: boolean): WriteResult {
  return {
    key: json.key as string,
    revision: json.revision as number,
    createRevision: json.createRevision as number,
    version: json.version as number,
    expiresAt: parseExpiry(json.expiresAt),
    created,
  };
}

export function listItemFrom(json: Json): ListItem {
  const value = valueOf(json);
  const key = json.key as string;
  return {
    ...metaOf(json),
    size: json.size as number,
    ...(value === undefined ? {} : { value }),
    text: () => textOf(key, value),
    json: <T>() => JSON.parse(textOf(key, value)) as T,
  };
}

/** A txn `get` result that found its key. */
export function entryFromEnvelope(json: Json): Entry {
  return new Entry(metaOf(json), valueOf(json) ?? new Uint8Array(0));
}

export function watchEventFrom(json: Json): WatchEvent {
  const value = valueOf(json);
  const key = json.key as string;
  const event: WatchEvent = {
    type: json.type as WatchEvent['type'],
    key,
    revision: json.revision as number,
    text: () => textOf(key, value),
    json: <T>() => JSON.parse(textOf(key, value)) as T,
  };
  if (json.type === 'put') {
    event.version = json.version as number;
    event.createRevision = json.createRevision as number;
    event.contentType = json.contentType as string;
    event.expiresAt = parseExpiry(json.expiresAt);
    if (value !== undefined) event.value = value;
  }
  return event;
}

/** The entry of a GET /v1/kv/{key} answer, from its headers. */
export function entryFromResponse(key: string, headers: Headers, value: Uint8Array): Entry {
  return new Entry(
    {
      key,
      contentType: headers.get('content-type') ?? 'application/octet-stream',
      revision: revisionFromEtag(headers.get('etag')),
      createRevision: Number(headers.get('kv-create-revision')),
      version: Number(headers.get('kv-version')),
      expiresAt: parseExpiry(headers.get('kv-expires-at')),
    },
    value,
  );
}

function revisionFromEtag(etag: string | null): number {
  return Number((etag ?? '').replace(/^W\//, '').replace(/"/g, ''));
}
