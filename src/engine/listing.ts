import type { Cursor } from '../core/cursor.js';
import { keyBytes, keySuccessor, prefixEnd } from '../core/keys.js';
import type { Revision } from '../core/types.js';
import type { KvRead, RangeItem } from './engine.js';

/** A page request in byte bounds: `lower <= key < upper` (upper null = unbounded). */
export interface ListRequest {
  lower: Buffer;
  upper: Buffer | null;
  limit: number;
  reverse: boolean;
  withValues: boolean;
  /** With a delimiter, keys are rolled up after `prefix` to the first delimiter (S3 CommonPrefixes). */
  delimiter: string | null;
  prefix: string;
  /** See RangeRequest.valueBytesMax. */
  valueBytesMax?: number;
  /** See ReadOptions.stale. */
  stale?: boolean;
}

export interface ListPage {
  items: RangeItem[];
  /** Rolled-up prefixes, in walk order; only with a delimiter. */
  prefixes: string[];
  /** Where the next page starts, or null when the walk is done. */
  next: Cursor | null;
  revision: Revision;
  /** See ReadResult.stalenessMs: set when the first range of the page was answered stale. */
  stalenessMs?: number;
}

/**
 * One page of a listing. Without a delimiter this is one engine range. With
 * one, each rolled-up prefix costs a new range that starts past everything
 * under it, so a million keys under one prefix cost one lookup, not a million.
 */
export async function listPage(engine: Pick<KvRead, 'range'>, request: ListRequest): Promise<ListPage> {
  const bounds = { lower: request.lower, upper: request.upper };
  if (request.delimiter === null) {
    const page = await engine.range({
      start: bounds.lower,
      end: bounds.upper,
      limit: request.limit,
      reverse: request.reverse,
      withValues: request.withValues,
      ...valueBudget(request),
      ...stale(request.stale),
    });
    const last = page.items.at(-1);
    const next = page.more && last !== undefined ? resumeAfterKey(last.key, request.reverse) : null;
    return { items: page.items, prefixes: [], next, revision: page.revision, ...staleness(page.stalenessMs) };
  }

  const items: RangeItem[] = [];
  const prefixes: string[] = [];
  let revision = 0;
  let stalenessMs: number | undefined;
  let first = true;
  let exhausted = false;
  // Walk until the page is full, then look one element further to learn whether there is more.
  while (!exhausted) {
    if (bounds.upper !== null && Buffer.compare(bounds.lower, bounds.upper) >= 0) {
      exhausted = true;
      break;
    }
    const full = items.length + prefixes.length >= request.limit;
    const want = full ? 1 : request.limit - items.length - prefixes.length;
    // Ranges after the first are read at the walk's revision so far or later: an engine may answer them from
    // a local copy that has reached it without a barrier of their own, but never from one still behind it
    // (a replica that lags, while the first range was read from etcd). A stale walk stays stale.
    const after = first ? {} : request.stale === true ? { stale: true } : { minRevision: revision };
    const page = await engine.range({
      start: bounds.lower,
      end: bounds.upper,
      limit: want,
      reverse: request.reverse,
      withValues: request.withValues && !full,
      ...valueBudget(request),
      ...(first ? stale(request.stale) : after),
    });
    if (first) stalenessMs = page.stalenessMs;
    first = false;
    revision = Math.max(revision, page.revision);
    if (page.items.length === 0) {
      exhausted = true;
      break;
    }
    if (full) break; // something remains beyond a full page
    let rolledUp = false;
    for (const item of page.items) {
      const rest = item.key.slice(request.prefix.length);
      const at = rest.indexOf(request.delimiter);
      if (at === -1) {
        items.push(item);
        narrow(bounds, keyBytes(item.key), request.reverse, false);
        continue;
      }
      const common = request.prefix + rest.slice(0, at + request.delimiter.length);
      prefixes.push(common);
      if (!narrow(bounds, keyBytes(common), request.reverse, true)) exhausted = true;
      rolledUp = true;
      break; // the rest of this page may lie under `common`: range again past it
    }
    if (!rolledUp && !page.more) exhausted = true;
    // A page whose values reached the byte budget ends here, with a cursor.
    if (!rolledUp && page.more && page.items.length < want) break;
  }
  const next = exhausted ? null : request.reverse ? { to: bounds.upper ?? Buffer.alloc(0) } : { from: bounds.lower };
  return { items, prefixes, next, revision, ...staleness(stalenessMs) };
}

function stale(value: boolean | undefined): { stale?: boolean } {
  return value === true ? { stale: true } : {};
}

function staleness(ms: number | undefined): { stalenessMs?: number } {
  return ms === undefined ? {} : { stalenessMs: ms };
}

/**
 * Moves the walk's bound past `consumed` (a key, or a rolled-up prefix and
 * everything under it). Returns false when nothing can lie beyond.
 */
function narrow(bounds: { lower: Buffer; upper: Buffer | null }, consumed: Buffer, reverse: boolean, wholePrefix: boolean): boolean {
  if (reverse) {
    bounds.upper = consumed;
    return true;
  }
  if (!wholePrefix) {
    bounds.lower = keySuccessor(consumed);
    return true;
  }
  const end = prefixEnd(consumed);
  if (end === null) return false;
  bounds.lower = end;
  return true;
}

function resumeAfterKey(key: string, reverse: boolean): Cursor {
  return reverse ? { to: keyBytes(key) } : { from: keySuccessor(keyBytes(key)) };
}

function valueBudget(request: ListRequest): { valueBytesMax?: number } {
  return request.valueBytesMax === undefined ? {} : { valueBytesMax: request.valueBytesMax };
}
