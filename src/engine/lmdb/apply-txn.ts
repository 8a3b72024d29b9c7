import type { TxnOp, TxnRequest, TxnResult } from '../engine.js';
import { entryAfterPut, planTxn, putDeadline } from '../txn-plan.js';
import type { WriteContext } from './write-context.js';

/**
 * Applies a transaction within a group-commit batch. The shared planner
 * (engine/txn-plan.ts) decides it against the batch's view (durable snapshot
 * plus the writes of batches not yet durable and this batch's earlier ones),
 * throwing KvErrors before anything is written; this only turns the planned
 * writes into the batch's mutations, at one revision (after the `expire`
 * revision of any expired key it rewrites).
 */
export function applyTxn(ctx: WriteContext, request: TxnRequest): TxnResult {
  const plain = plainWriteOf(request);
  if (plain !== null) return plain.op === 'put' ? applyPlainPut(ctx, plain, ctx.nowMs) : applyPlainDelete(ctx, plain.key);
  const plan = planTxn(request, ctx, ctx.nowMs);
  if (!plan.succeeded) {
    return { succeeded: false, revision: ctx.baseRevision, failedCompares: plan.failedCompares, currentRevisions: plan.currentRevisions };
  }
  const writes = plan.writes;
  if (writes.length > 0) {
    ctx.expireDue(writes.map((write) => write.key));
    for (const write of writes) {
      if (write.kind === 'put') ctx.put(write.key, write.previous, write.value, write.contentType, write.expiresAtMs);
      else ctx.remove(write.key, write.previous);
    }
    ctx.commit();
  }
  return { succeeded: true, revision: ctx.storeRevision, results: plan.results(ctx.storeRevision) };
}

/** The single put or delete without compares of a request (the plain PUT, DELETE and the seed's writes), or null. */
function plainWriteOf(request: TxnRequest): Extract<TxnOp, { op: 'put' | 'delete' }> | null {
  if (request.compares.length !== 0 || request.ops.length !== 1) return null;
  const op = request.ops[0]!;
  return op.op === 'put' || op.op === 'delete' ? op : null;
}

/**
 * A put with no compares, as planTxn and applyTxn would apply it, with the
 * same result: it reads only the header of the entry it replaces (never the
 * value), and builds no plan (measured: docs/adr/0013-durable-write-path.md).
 */
function applyPlainPut(ctx: WriteContext, op: Extract<TxnOp, { op: 'put' }>, nowMs: number): TxnResult {
  const previous = ctx.readHeader(op.key);
  const expiresAtMs = putDeadline(op, nowMs);
  ctx.expireDue([op.key]);
  ctx.put(op.key, previous, op.value, op.contentType, expiresAtMs);
  ctx.commit();
  const revision = ctx.storeRevision;
  return {
    succeeded: true,
    revision,
    results: [
      { op: 'put', key: op.key, entry: entryAfterPut(op.key, previous, op.value.length, op.contentType, expiresAtMs, revision), created: previous === null },
    ],
  };
}

/** A delete with no compares, as planTxn and applyTxn would apply it: a missing (or expired) key writes nothing. */
function applyPlainDelete(ctx: WriteContext, key: string): TxnResult {
  const previous = ctx.readLive(key);
  if (previous !== null) {
    ctx.remove(key, previous);
    ctx.commit();
  }
  return { succeeded: true, revision: ctx.storeRevision, results: [{ op: 'delete', key, deleted: previous !== null }] };
}
