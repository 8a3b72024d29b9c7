import { KvError } from '../core/errors.js';
import type { Revision } from '../core/types.js';
import type { Compare } from '../engine/engine.js';

/** `*`, or the revisions named by a list of entity tags. Weak tags are kept apart: only weak comparison accepts them. */
type EntityTags = '*' | { strong: Revision[]; weak: Revision[] };

/**
 * One list element at the start of `rest`: an entity tag (optional W/, then a
 * quoted string, commas allowed inside: RFC 9110 §8.8.3) followed by a comma
 * or the end. Empty elements (`"5",,"6"`) are skipped, as RFC 9110 §5.6.1 asks.
 */
const ENTITY_TAG_AT_START = /^[\s,]*(W\/)?"([^"]*)"\s*(?:,|$)/;
const EMPTY_ELEMENTS = /^[\s,]*$/;

/** A revision as kvs spells it in an ETag: no sign, no leading zeros. */
const REVISION_TEXT = /^(?:0|[1-9]\d{0,15})$/;

/**
 * Parses an `If-Match`/`If-None-Match` value: `*` or a comma list of entity
 * tags. kvs issues `"<revision>"`; a well-formed tag that is not one it issued
 * (`"abc"`, `"05"`) can never match, and a malformed header is a 400, not a
 * silent mismatch.
 */
function parseEntityTags(header: string, name: string): EntityTags {
  const trimmed = header.trim();
  if (trimmed === '*') return '*';
  const strong: Revision[] = [];
  const weak: Revision[] = [];
  let rest = trimmed;
  while (!EMPTY_ELEMENTS.test(rest)) {
    const match = ENTITY_TAG_AT_START.exec(rest);
    if (match === null) {
      throw new KvError('invalid_request', `${name} must be * or a list of quoted entity tags such as "5" (got ${JSON.stringify(header)})`);
    }
    rest = rest.slice(match[0].length);
    if (REVISION_TEXT.test(match[2]!)) (match[1] ? weak : strong).push(Number(match[2]));
  }
  if (!trimmed.includes('"')) {
    throw new KvError('invalid_request', `${name} must be * or a list of quoted entity tags such as "5" (got ${JSON.stringify(header)})`);
  }
  return { strong, weak };
}

/**
 * Turns a write's conditional headers into compares on `key`:
 * `If-Match: *` → must exist; `If-Match: "5", "7"` → revision is 5 or 7
 * (strong comparison: weak tags never match); `If-None-Match: *` → must not
 * exist; `If-None-Match: "5"` → revision is not 5 (weak comparison).
 */
export function writeConditions(key: string, ifMatch: string | undefined, ifNoneMatch: string | undefined): Compare[] {
  const compares: Compare[] = [];
  if (ifMatch !== undefined) {
    const tags = parseEntityTags(ifMatch, 'If-Match');
    compares.push(
      tags === '*' ? { key, kind: 'exists', expected: true } : { key, kind: 'revisionIn', revisions: tags.strong.filter((revision) => revision > 0) },
    );
  }
  if (ifNoneMatch !== undefined) {
    const tags = parseEntityTags(ifNoneMatch, 'If-None-Match');
    compares.push(
      tags === '*'
        ? { key, kind: 'exists', expected: false }
        : { key, kind: 'revisionNotIn', revisions: [...tags.strong, ...tags.weak].filter((revision) => revision > 0) },
    );
  }
  return compares;
}

/** True when a read's `If-None-Match` matches the entry's current revision (weak comparison), so the answer is 304. */
export function ifNoneMatchHits(ifNoneMatch: string | undefined, revision: Revision): boolean {
  if (ifNoneMatch === undefined) return false;
  const tags = parseEntityTags(ifNoneMatch, 'If-None-Match');
  return tags === '*' || tags.strong.includes(revision) || tags.weak.includes(revision);
}

export function etag(revision: Revision): string {
  return `"${revision}"`;
}
