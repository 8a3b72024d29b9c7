import { addToCounter, parseCounter } from '../../core/counter.js';
import { JSON_CONTENT_TYPE } from '../../core/encoding.js';
import { KvError } from '../../core/errors.js';
import { TXN_READ_VALUE_BYTES_MAX } from '../../core/limits.js';
import type { Entry, EntryMeta, Revision } from '../../core/types.js';
import type { TxnOp, TxnOpResult } from '../engine.js';

/** What one op writes to etcd: a put of a whole entry, or a delete. */
export type Write =
  | { kind: 'put'; key: string; value: Buffer; contentType: string; expiresAtMs: number | null; /** A lease the key already holds for this same deadline ('0' = grant one). */ keepLease: string }
  | { kind: 'delete'; key: string };

export interface OpPlan {
  write: Write | null;
  /** The op's result once its write committed at `revision`. */
  result(revision: Revision): TxnOpResult;
}

/**
 * Plans every op of a transaction against the live entries read (null =
 * absent or expired): what to write and what to answer. Throws the KvErrors
 * of ops that cannot apply (not a counter, overflow, gets too large) before
 * anything is written, exactly like the embedded engine.
 */
export function planOps(ops: readonly TxnOp[], live: ReadonlyMap<string, Entry | null>, leases: ReadonlyMap<string, string>, nowMs: number): OpPlan[] {
  const plans = ops.map((op) => planOp(op, live.get(op.key) ?? null, leases.get(op.key) ?? '0', nowMs));
  let readBytes = 0;
  for (const op of ops) if (op.op === 'get') readBytes += live.get(op.key)?.value.length ?? 0;
  if (readBytes > TXN_READ_VALUE_BYTES_MAX) {
    throw new KvError('request_too_large', `the transaction's gets read ${readBytes} bytes; at most ${TXN_READ_VALUE_BYTES_MAX} fit in one response`, { limit: TXN_READ_VALUE_BYTES_MAX });
  }
  return plans;
}

function planOp(op: TxnOp, current: Entry | null, currentLease: string, nowMs: number): OpPlan {
  const key = op.key;
  switch (op.op) {
    case 'put': {
      const expiresAtMs = op.expiresAtMs ?? (op.ttlMs === null ? null : nowMs + op.ttlMs);
      return {
        write: { kind: 'put', key, value: op.value, contentType: op.contentType, expiresAtMs, keepLease: '0' },
        result: (revision) => ({ op: 'put', key, entry: written(key, current, op.value, op.contentType, expiresAtMs, revision), created: current === null }),
      };
    }
    case 'delete':
      return {
        write: current === null ? null : { kind: 'delete', key },
        result: () => ({ op: 'delete', key, deleted: current !== null }),
      };
    case 'add': {
      const value = addToCounter(current === null ? 0 : parseCounter(current.value, key), op.by, key);
      const bytes = Buffer.from(String(value), 'utf8');
      // Like Redis INCRBY, adding keeps the key's TTL, and so its lease.
      const expiresAtMs = current?.expiresAtMs ?? null;
      return {
        write: { kind: 'put', key, value: bytes, contentType: JSON_CONTENT_TYPE, expiresAtMs, keepLease: expiresAtMs === null ? '0' : currentLease },
        result: (revision) => ({ op: 'add', key, value, entry: written(key, current, bytes, JSON_CONTENT_TYPE, expiresAtMs, revision) }),
      };
    }
    case 'get':
      return { write: null, result: () => ({ op: 'get', key, entry: current }) };
  }
}

/** The entry a put leaves, as etcd numbers it: a new incarnation starts at version 1, created at the write's revision. */
export function written(key: string, current: Entry | null, value: Buffer, contentType: string, expiresAtMs: number | null, revision: Revision): EntryMeta {
  return {
    key,
    contentType,
    createRevision: current?.createRevision ?? revision,
    revision,
    version: (current?.version ?? 0) + 1,
    expiresAtMs,
    size: value.length,
  };
}
