import * as grpc from '@grpc/grpc-js';
import { KvError } from '../../core/errors.js';

/**
 * What kvs makes of an etcd refusal. etcd reports each as a gRPC status whose
 * message is one fixed string (etcd 3.4, api/v3rpc/rpctypes/error.go); kvs
 * recognises them by these strings, exactly, in this one table.
 *
 * - `transient`: the member has no leader, is stopping, or timed out: another
 *   member, or the same a moment later, may answer.
 * - `noSpace`: the NOSPACE alarm (--quota-backend-bytes): puts are refused, deletes still apply.
 * - `leaseNotFound`: a put named a lease that expired or was revoked; nothing applied.
 * - `requestTooLarge`, `tooManyOps`: etcd's --max-request-bytes, --max-txn-ops.
 * - `compacted`, `futureRevision`: a revision before etcd's compaction, or past its head.
 */
export const ETCD_ERRORS = {
  'etcdserver: no leader': 'transient',
  'etcdserver: leader changed': 'transient',
  'etcdserver: not capable': 'transient',
  'etcdserver: server stopped': 'transient',
  'etcdserver: request timed out': 'transient',
  'etcdserver: request timed out, possibly due to previous leader failure': 'transient',
  'etcdserver: request timed out, possibly due to connection lost': 'transient',
  'etcdserver: request timed out, waiting for the applied index took too long': 'transient',
  'etcdserver: mvcc: database space exceeded': 'noSpace',
  'etcdserver: requested lease not found': 'leaseNotFound',
  'etcdserver: request is too large': 'requestTooLarge',
  'etcdserver: too many operations in txn request': 'tooManyOps',
  'etcdserver: mvcc: required revision has been compacted': 'compacted',
  'etcdserver: mvcc: required revision is a future revision': 'futureRevision',
} as const satisfies Record<string, string>;

export type EtcdErrorKind = (typeof ETCD_ERRORS)[keyof typeof ETCD_ERRORS];

const KINDS: ReadonlyMap<string, EtcdErrorKind> = new Map(Object.entries(ETCD_ERRORS));

/** A gRPC failure (it has a numeric status code), or null. */
export function grpcError(error: unknown): grpc.ServiceError | null {
  return error instanceof Error && typeof (error as grpc.ServiceError).code === 'number' ? (error as grpc.ServiceError) : null;
}

/**
 * Which etcd refusal `error` is, by its exact message: a gRPC failure, or the
 * KvError translateError made of one (it keeps the failure as its `cause`).
 * Null for anything else (gRPC's own failures: no connection, deadline).
 */
export function etcdErrorKind(error: unknown): EtcdErrorKind | null {
  const failure = grpcError(error) ?? grpcError(error instanceof Error ? error.cause : undefined);
  return failure === null ? null : (KINDS.get(failure.details) ?? null);
}

/** A put named a lease that has expired or was revoked; nothing of the request applied, and it can be retried with a new lease. */
export class LeaseNotFound extends Error {
  override name = 'LeaseNotFound';
}

/**
 * gRPC failed the call before sending it: there was no connection to send it on.
 * (gRPC's own messages, not etcd's: grpc-js words them.)
 */
export function neverSent(error: unknown): boolean {
  const failure = grpcError(error);
  return failure !== null && failure.code === grpc.status.UNAVAILABLE && /No connection established|ECONNREFUSED|Connection refused/i.test(failure.details);
}

/**
 * gRPC refused a response larger than the channel's receive bound (grpc-js's
 * words; etcd's own RESOURCE_EXHAUSTED refusals, such as too many requests,
 * say otherwise). Asking for less may succeed.
 */
export function tooLargeToReceive(error: unknown): boolean {
  const failure = grpcError(error) ?? grpcError(error instanceof Error ? error.cause : undefined);
  return failure !== null && failure.code === grpc.status.RESOURCE_EXHAUSTED && /larger than max/i.test(failure.details);
}

/**
 * An etcd failure as the client should see it. Rejections by etcd's own
 * limits keep their meaning (413, 507); everything else is 503 with
 * Retry-After, and for a write the detail says it may have applied.
 */
export function translateError(error: unknown, write: boolean): KvError | LeaseNotFound {
  if (error instanceof KvError || error instanceof LeaseNotFound) return error;
  const failure = grpcError(error);
  const details = failure?.details ?? (error instanceof Error ? error.message : String(error));
  const translated = describe(etcdErrorKind(error), details, write && !neverSent(error));
  // The gRPC failure stays reachable (etcdErrorKind), for callers that tell etcd's refusals apart.
  if (failure !== null) translated.cause = failure;
  return translated;
}

function describe(kind: EtcdErrorKind | null, details: string, maybeApplied: boolean): KvError | LeaseNotFound {
  switch (kind) {
    case 'leaseNotFound':
      return new LeaseNotFound(details);
    case 'noSpace':
      return new KvError(
        'storage_full',
        'etcd refused the write: its database reached its space quota (etcd --quota-backend-bytes) and raised the NOSPACE alarm. The one write that crossed the quota is applied by etcd even so: this one may have been, read the key to know. Deletes still work; once space is freed, an operator must compact and defragment etcd and disarm the alarm (etcdctl alarm disarm), or raise the quota (docs/SCALING.md)',
      );
    case 'requestTooLarge':
      return new KvError('request_too_large', 'etcd refused the request as too large (etcd --max-request-bytes)');
    case 'tooManyOps':
      return new KvError('request_too_large', 'etcd refused the transaction: too many operations (etcd --max-txn-ops)');
    default: {
      const outcome = maybeApplied ? ' The write may or may not have been applied; read the key before retrying a non-idempotent write.' : '';
      return new KvError('unavailable', `etcd did not answer (${details.slice(0, 200)}).${outcome}`, { retryAfterSeconds: 1 });
    }
  }
}
