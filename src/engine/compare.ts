import type { Entry } from '../core/types.js';
import type { Compare } from './engine.js';

/** Whether `compare` holds for `entry` (null: the key is absent or expired). Shared by every engine. */
export function comparePasses(compare: Compare, entry: Entry | null): boolean {
  const revision = entry?.revision ?? 0;
  switch (compare.kind) {
    case 'exists':
      return (entry !== null) === compare.expected;
    case 'revisionIn':
      return compare.revisions.includes(revision);
    case 'revisionNotIn':
      return !compare.revisions.includes(revision);
  }
}
