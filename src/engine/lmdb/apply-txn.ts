import type { TxnRequest, TxnResult } from '../engine.js';
import { planTxn } from '../txn-plan.js';
import type { WriteContext } from './write-context.js';

/**
 * Applies a transaction within a group-commit batch. The shared planner
 * (engine/txn-plan.ts) decides it against the batch's view (durable snapshot
 * plus the batch's earlier writes), throwing KvErrors before anything is
 * written; this only turns the planned writes into the batch's mutations, at
 * one revision (after the `expire` revision of any expired key it rewrites).
 */
export function applyTxn(ctx: WriteContext, request: TxnRequest): TxnResult {
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
