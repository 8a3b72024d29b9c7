import { KvError } from '../core/errors.js';
import type { Revision } from '../core/types.js';
import type { Compare } from '../engine/engine.js';

/** `*`, or the revisions named by a list of entity tags. Weak tags are kept apart: only weak comparison accepts them. */
type EntityTags = '*' | { strong: Revision[]; weak: Revision[] };

const ENTITY_TAG = /^(W\/)?"([^"]*)"$/;

/**
 * Parses an `If-Match`/`If-None-Match` value: `*` or a comma list of entity
 * tags. kvs issues `"<revision>"`; a well-formed tag that is not a revision
 * can never match, and a malformed header is a 400, not a silent mismatch.
 */
function parseEntityTags(header: string, name: string): EntityTags {
  const trimmed = header.trim();
  if (trimmed === '*') return '*';
  const strong: Revision[] = [];
  const weak: Revision[] = [];
  for (const part of trimmed.split(',')) {
    const match = ENTITY_TAG.exec(part.trim());
    if (match === null) {
      throw new KvError('invalid_request', `${name} must be * or a list of quoted entity tags such as "5" (got ${JSON.stringify(header)})`);
    }
    const revision = /^\d{1,16}$/.test(match[2]!) ? Number(match[2]) : null;
    if (revision === null) continue;
    (match[1] ? weak : strong).push(revision);
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
    compares.push(tags === '*' ? { key, kind: 'exists', expected: true } : { key, kind: 'revisionIn', revisions: tags.strong.filter((revision) => revision > 0) });
  }
  if (ifNoneMatch !== undefined) {
    const tags = parseEntityTags(ifNoneMatch, 'If-None-Match');
    compares.push(tags === '*' ? { key, kind: 'exists', expected: false } : { key, kind: 'revisionNotIn', revisions: [...tags.strong, ...tags.weak].filter((revision) => revision > 0) });
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
