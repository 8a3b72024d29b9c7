import { COMPACTION_BATCH_MAX, EXPIRY_SWEEP_BATCH_MAX } from '../../core/limits.js';
import { META_COMPACT_REVISION, META_REVISION, parseExpiryIndexKey, readMetaNumber, type Stores } from './stores.js';
import type { WriteBatch } from './write-batch.js';
import type { WriteContext } from './write-context.js';

/** True when the earliest deadline in the expiry index has passed: a cheap read that spares idle sweeps a write. */
export function hasDueExpiry(stores: Stores, nowMs: number): boolean {
  for (const indexKey of stores.expiry.getKeys({ limit: 1 })) {
    return parseExpiryIndexKey(indexKey).expiresAtMs <= nowMs;
  }
  return false;
}

/**
 * Removes up to EXPIRY_SWEEP_BATCH_MAX due keys as `expire` events of one
 * revision. Each index entry is checked against its key's record header
 * (through the batch, which sees earlier writes of the same batch), so an entry
 * whose key was since rewritten is dropped, not expired. Returns the
 * deadlines of the keys it expired (for the expiry-lag metric).
 */
export function sweepExpired(ctx: WriteContext, batch: WriteBatch): number[] {
  const deadlines: number[] = [];
  for (const indexKey of batch.dueExpiryIndexKeys(EXPIRY_SWEEP_BATCH_MAX)) {
    const { expiresAtMs, key: keyBytes } = parseExpiryIndexKey(indexKey);
    if (expiresAtMs > ctx.nowMs) break;
    const key = keyBytes.toString('utf8');
    if (batch.readPresence(key)?.expiresAtMs === expiresAtMs) {
      ctx.expire(key, expiresAtMs);
      deadlines.push(expiresAtMs);
    } else {
      // The key was deleted or rewritten since: its write dropped this entry already,
      // or (if this very batch rewrote it) will; removing it again is harmless.
      batch.removeExpiryIndexKey(indexKey);
    }
  }
  ctx.commit();
  return deadlines;
}

/** The revision history should be compacted up to, or null when within retention. */
export function compactionTarget(stores: Stores, historyRetentionRevisions: number): number | null {
  const revision = readMetaNumber(stores, META_REVISION);
  const compactRevision = readMetaNumber(stores, META_COMPACT_REVISION);
  const floor = revision - historyRetentionRevisions;
  return floor > compactRevision ? Math.min(floor, compactRevision + COMPACTION_BATCH_MAX) : null;
}

/**
 * Deletes change-log revisions up to `target` (at most COMPACTION_BATCH_MAX per
 * call, so a batch never grows large) and records the new compact revision.
 * Creates no revision.
 */
export function compactLog(batch: WriteBatch, target: number): void {
  const compactRevision = batch.readMetaNumber(META_COMPACT_REVISION);
  if (target <= compactRevision) return;
  for (const revision of batch.logRevisions(compactRevision, target)) batch.removeLogRevision(revision);
  batch.writeMetaNumber(META_COMPACT_REVISION, target);
}
