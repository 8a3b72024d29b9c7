import { addToCounter, parseCounter } from '../../core/counter.js';
import { JSON_CONTENT_TYPE } from '../../core/encoding.js';
import { KvError } from '../../core/errors.js';
import { TXN_READ_VALUE_BYTES_MAX } from '../../core/limits.js';
import type { Entry } from '../../core/types.js';
import type { TxnOp, TxnOpResult, TxnRequest, TxnResult } from '../engine.js';
import { comparePasses } from '../compare.js';
import type { WriteContext } from './write-context.js';

/**
 * Applies a transaction within a group-commit batch: read everything (durable
 * snapshot plus the batch's earlier writes), evaluate every compare, plan every
 * op (throwing KvErrors before anything is written), then write at one revision.
 */
export function applyTxn(ctx: WriteContext, request: TxnRequest): TxnResult {
  const snapshot = new Map<string, Entry | null>();
  const read = (key: string): Entry | null => {
    let entry = snapshot.get(key);
    if (entry === undefined) {
      entry = ctx.read(key);
      snapshot.set(key, entry);
    }
    return entry;
  };

  const failedCompares: number[] = [];
  const currentRevisions: number[] = [];
  request.compares.forEach((compare, index) => {
    const entry = read(compare.key);
    if (!comparePasses(compare, entry)) {
      failedCompares.push(index);
      currentRevisions.push(entry?.revision ?? 0);
    }
  });
  if (failedCompares.length > 0) {
    return { succeeded: false, revision: ctx.baseRevision, failedCompares, currentRevisions };
  }

  const plans = request.ops.map((op) => planOp(op, read(op.key), ctx.nowMs));
  const readBytes = plans.reduce((sum, plan) => sum + plan.readBytes, 0);
  if (readBytes > TXN_READ_VALUE_BYTES_MAX) {
    throw new KvError('request_too_large', `the transaction's gets read ${readBytes} bytes; at most ${TXN_READ_VALUE_BYTES_MAX} fit in one response`, { limit: TXN_READ_VALUE_BYTES_MAX });
  }
  ctx.expireDue(plans.filter((plan) => plan.writes).map((plan) => plan.key));
  const results = plans.map((plan) => plan.apply(ctx));
  ctx.commit();
  return { succeeded: true, revision: ctx.storeRevision, results };
}

interface OpPlan {
  key: string;
  writes: boolean;
  /** Value bytes the op's result carries (gets). */
  readBytes: number;
  apply(ctx: WriteContext): TxnOpResult;
}

function planOp(op: TxnOp, current: Entry | null, nowMs: number): OpPlan {
  const key = op.key;
  switch (op.op) {
    case 'put': {
      const expiresAtMs = op.expiresAtMs ?? (op.ttlMs === null ? null : nowMs + op.ttlMs);
      return {
        key,
        writes: true,
        readBytes: 0,
        apply: (ctx) => ({ op: 'put', key, entry: ctx.put(key, current, op.value, op.contentType, expiresAtMs), created: current === null }),
      };
    }
    case 'delete':
      return {
        key,
        writes: current !== null,
        readBytes: 0,
        apply: (ctx) => {
          if (current !== null) ctx.remove(key, current);
          return { op: 'delete', key, deleted: current !== null };
        },
      };
    case 'add': {
      const value = addToCounter(current === null ? 0 : parseCounter(current.value, key), op.by, key);
      const bytes = Buffer.from(String(value), 'utf8');
      return {
        key,
        writes: true,
        readBytes: 0,
        // Like Redis INCRBY, adding keeps the key's TTL.
        apply: (ctx) => ({ op: 'add', key, value, entry: ctx.put(key, current, bytes, JSON_CONTENT_TYPE, current?.expiresAtMs ?? null) }),
      };
    }
    case 'get':
      return { key, writes: false, readBytes: current?.value.length ?? 0, apply: () => ({ op: 'get', key, entry: current }) };
  }
}
