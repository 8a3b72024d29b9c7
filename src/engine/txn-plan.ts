import { addToCounter, parseCounter } from '../core/counter.js';
import { JSON_CONTENT_TYPE } from '../core/encoding.js';
import { KvError } from '../core/errors.js';
import { TXN_READ_VALUE_BYTES_MAX } from '../core/limits.js';
import type { Entry, EntryMeta, Revision } from '../core/types.js';
import { comparePasses } from './compare.js';
import type { TxnOp, TxnOpResult, TxnRequest } from './engine.js';

/**
 * What a transaction reads: the live entry under a key (null when absent or
 * expired) in the one snapshot the transaction is decided on. The embedded
 * engine's WriteContext is one (the durable snapshot plus the batch's earlier
 * writes); the etcd engine's is the entries of one linearizable read.
 */
export interface TxnReadView {
  read(key: string): Entry | null;
}

/**
 * A write a transaction makes, as the engine must apply it. `previous` is
 * the live entry the plan was made against (null: absent or expired).
 */
export type PlannedWrite =
  | {
      kind: 'put';
      key: string;
      previous: Entry | null;
      value: Buffer;
      contentType: string;
      expiresAtMs: number | null;
      /**
       * The deadline is the entry's own, kept (an `add`, like Redis INCRBY):
       * an engine that ties deadlines to something (etcd: a lease) may keep that too.
       */
      keepsDeadline: boolean;
    }
  | { kind: 'delete'; key: string; previous: Entry };

export type TxnPlan =
  | {
      succeeded: false;
      /** Indices of the compares that failed. */
      failedCompares: number[];
      /** Revision of each failed compare's key (0 when absent), same order as failedCompares. */
      currentRevisions: Revision[];
    }
  | {
      succeeded: true;
      /** In op order; empty when the transaction changes nothing (gets, deletes of missing keys): it then creates no revision. */
      writes: PlannedWrite[];
      /** Every op's result, once the writes committed at `revision` (the read revision when there are none). */
      results(revision: Revision): TxnOpResult[];
    };

/**
 * Decides a transaction against one read view, the way etcd's txn.go does over
 * its mvcc.ReadView: every compare, then every op (throwing the KvErrors of ops
 * that cannot apply, before anything is written), then the read budget. Each
 * engine only turns the plan into its own writes. Shared by every engine, so
 * the semantics exist once:
 *
 * - A put's deadline is `expiresAtMs ?? now + ttlMs` (ttlMs null: no deadline).
 * - An add keeps the key's deadline (like Redis INCRBY); absent counts as 0.
 * - A delete of a missing key writes nothing.
 * - The values the gets return total at most TXN_READ_VALUE_BYTES_MAX, or
 *   the whole transaction is refused with request_too_large.
 */
export function planTxn(request: TxnRequest, view: TxnReadView, nowMs: number): TxnPlan {
  // A key may be named by a compare and an op: each is read once (the etcd view is a map already, and the
  // embedded engine's reads decode a record). One op and no compare, the hot path, needs no cache.
  const reader = request.compares.length + request.ops.length > 1 ? cachedView(view) : view;

  let failedCompares: number[] | null = null;
  let currentRevisions: Revision[] | null = null;
  for (let index = 0; index < request.compares.length; index++) {
    const compare = request.compares[index]!;
    const entry = reader.read(compare.key);
    if (!comparePasses(compare, entry)) {
      (failedCompares ??= []).push(index);
      (currentRevisions ??= []).push(entry?.revision ?? 0);
    }
  }
  if (failedCompares !== null) return { succeeded: false, failedCompares, currentRevisions: currentRevisions! };

  const planned: PlannedOp[] = [];
  const writes: PlannedWrite[] = [];
  let readBytes = 0;
  for (const op of request.ops) {
    const outcome = planOp(op, reader.read(op.key), nowMs);
    planned.push(outcome);
    if (outcome.write !== null) writes.push(outcome.write);
    if (op.op === 'get') readBytes += outcome.current?.value.length ?? 0;
  }
  if (readBytes > TXN_READ_VALUE_BYTES_MAX) {
    throw new KvError('request_too_large', `the transaction's gets read ${readBytes} bytes; at most ${TXN_READ_VALUE_BYTES_MAX} fit in one response`, {
      limit: TXN_READ_VALUE_BYTES_MAX,
    });
  }
  return { succeeded: true, writes, results: (revision) => planned.map((outcome) => resultOf(outcome, revision)) };
}

/** One op decided: the entry it was decided against, what it writes, and (for an add) the counter's new value. */
interface PlannedOp {
  op: TxnOp;
  current: Entry | null;
  write: PlannedWrite | null;
  counter: number;
}

function planOp(op: TxnOp, current: Entry | null, nowMs: number): PlannedOp {
  const key = op.key;
  switch (op.op) {
    case 'put':
      return {
        op,
        current,
        write: { kind: 'put', key, previous: current, value: op.value, contentType: op.contentType, expiresAtMs: putDeadline(op, nowMs), keepsDeadline: false },
        counter: 0,
      };
    case 'delete':
      return { op, current, write: current === null ? null : { kind: 'delete', key, previous: current }, counter: 0 };
    case 'add': {
      const counter = addToCounter(current === null ? 0 : parseCounter(current.value, key), op.by, key);
      const value = Buffer.from(String(counter), 'utf8');
      // Like Redis INCRBY, adding keeps the key's TTL.
      const expiresAtMs = current?.expiresAtMs ?? null;
      return {
        op,
        current,
        write: { kind: 'put', key, previous: current, value, contentType: JSON_CONTENT_TYPE, expiresAtMs, keepsDeadline: expiresAtMs !== null },
        counter,
      };
    }
    case 'get':
      return { op, current, write: null, counter: 0 };
  }
}

function resultOf(outcome: PlannedOp, revision: Revision): TxnOpResult {
  const { op, current, write } = outcome;
  switch (op.op) {
    case 'put': {
      const put = write as Extract<PlannedWrite, { kind: 'put' }>;
      return {
        op: 'put',
        key: op.key,
        entry: entryAfterPut(op.key, current, put.value.length, put.contentType, put.expiresAtMs, revision),
        created: current === null,
      };
    }
    case 'delete':
      return { op: 'delete', key: op.key, deleted: current !== null };
    case 'add': {
      const put = write as Extract<PlannedWrite, { kind: 'put' }>;
      return {
        op: 'add',
        key: op.key,
        value: outcome.counter,
        entry: entryAfterPut(op.key, current, put.value.length, JSON_CONTENT_TYPE, put.expiresAtMs, revision),
      };
    }
    case 'get':
      return { op: 'get', key: op.key, entry: current };
  }
}

/** A put's deadline: an absolute one as given (imports keep exported deadlines), else `ttlMs` from now, else none. */
export function putDeadline(op: { ttlMs: number | null; expiresAtMs?: number }, nowMs: number): number | null {
  return op.expiresAtMs ?? (op.ttlMs === null ? null : nowMs + op.ttlMs);
}

/**
 * The entry a put leaves at `revision`, as etcd numbers it: a new incarnation
 * (no live `previous`) starts at version 1, created at the write's revision.
 */
export function entryAfterPut(
  key: string,
  previous: Pick<Entry, 'createRevision' | 'version'> | null,
  size: number,
  contentType: string,
  expiresAtMs: number | null,
  revision: Revision,
): EntryMeta {
  return {
    key,
    contentType,
    createRevision: previous === null ? revision : previous.createRevision,
    revision,
    version: previous === null ? 1 : previous.version + 1,
    expiresAtMs,
    size,
  };
}

function cachedView(view: TxnReadView): TxnReadView {
  const seen = new Map<string, Entry | null>();
  return {
    read(key) {
      let entry = seen.get(key);
      if (entry === undefined) {
        entry = view.read(key);
        seen.set(key, entry);
      }
      return entry;
    },
  };
}
