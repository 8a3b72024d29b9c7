import { fileURLToPath } from 'node:url';
import { loadSync, type MethodDefinition } from '@grpc/proto-loader';
import {
  _etcdserverpb_Compare_CompareResult as GeneratedCompareResult,
  _etcdserverpb_Compare_CompareTarget as GeneratedCompareTarget,
} from './generated/etcdserverpb/Compare.js';
import type { Compare as GeneratedCompare } from './generated/etcdserverpb/Compare.js';
import type { Event__Output } from './generated/etcdserverpb/Event.js';
import { _etcdserverpb_Event_EventType as GeneratedEventType } from './generated/etcdserverpb/Event.js';
import type { KVDefinition } from './generated/etcdserverpb/KV.js';
import type { KeyValue__Output } from './generated/etcdserverpb/KeyValue.js';
import type { LeaseDefinition } from './generated/etcdserverpb/Lease.js';
import type { MaintenanceDefinition } from './generated/etcdserverpb/Maintenance.js';
import type {
  RangeRequest as GeneratedRangeRequest,
  _etcdserverpb_RangeRequest_SortOrder as GeneratedSortOrderInput,
} from './generated/etcdserverpb/RangeRequest.js';
import { _etcdserverpb_RangeRequest_SortOrder as GeneratedSortOrder } from './generated/etcdserverpb/RangeRequest.js';
import type { RangeResponse__Output } from './generated/etcdserverpb/RangeResponse.js';
import type { RequestOp as GeneratedRequestOp } from './generated/etcdserverpb/RequestOp.js';
import type { ResponseHeader__Output } from './generated/etcdserverpb/ResponseHeader.js';
import type { TxnRequest as GeneratedTxnRequest } from './generated/etcdserverpb/TxnRequest.js';
import type { TxnResponse__Output } from './generated/etcdserverpb/TxnResponse.js';
import type { PutRequest as GeneratedPutRequest } from './generated/etcdserverpb/PutRequest.js';
import type { WatchDefinition } from './generated/etcdserverpb/Watch.js';
import type { WatchRequest as GeneratedWatchRequest } from './generated/etcdserverpb/WatchRequest.js';
import type { WatchResponse__Output } from './generated/etcdserverpb/WatchResponse.js';

/**
 * The messages of etcd's v3 API that kvs sends and reads (proto/etcd-v3.proto),
 * typed by generated/ (proto-loader-gen-types, `npm run generate:etcd-types`;
 * test/unit/etcd-generated-types.test.ts fails when it is stale), as
 * proto-loader decodes them: snake_case names, int64 as decimal strings
 * (lease IDs exceed 2^53; revisions are converted with `revisionOf`), bytes as
 * Buffers, enums as numbers.
 *
 * Responses are the generated types as they are. What kvs builds to send is
 * narrower than what the generated request types accept (keys are Buffers,
 * an op is one of its kinds), because kvs reads its own requests back (the
 * NOSPACE fallback looks for the delete marker's put); each such type is
 * checked below to be assignable to its generated counterpart.
 */
export type KeyValue = KeyValue__Output;
export type ResponseHeader = ResponseHeader__Output;
export type RangeResponse = RangeResponse__Output;
export type TxnResponse = TxnResponse__Output;

export interface RangeRequest {
  key: Buffer;
  range_end?: Buffer;
  limit?: number;
  revision?: number;
  sort_order?: SortOrder;
  serializable?: boolean;
  keys_only?: boolean;
  count_only?: boolean;
}

export interface PutRequest {
  key: Buffer;
  value: Buffer;
  lease?: string;
  prev_kv?: boolean;
}

export interface DeleteRangeRequest {
  key: Buffer;
  range_end?: Buffer;
  prev_kv?: boolean;
}

export type RequestOp = { request_range: RangeRequest } | { request_put: PutRequest } | { request_delete_range: DeleteRangeRequest };

export interface Compare {
  result: CompareResult;
  target: CompareTarget;
  key: Buffer;
  range_end?: Buffer;
  version?: number;
  create_revision?: number;
  mod_revision?: number;
  lease?: number;
  value?: Buffer;
}

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

export interface WatchCreateRequest {
  key: Buffer;
  range_end: Buffer;
  start_revision: number;
  /** Let etcd split a large batch of events over several messages (each under its request limit). */
  fragment?: boolean;
}

export type WatchRequest = { create_request: WatchCreateRequest } | { cancel_request: { watch_id: string } } | { progress_request: Record<string, never> };

/** A watch event as kvs reads it: etcd always sends the event's key-value (mvccpb.Event.kv), which the generated type leaves nullable. */
export type WatchEvent = Pick<Event__Output, 'type'> & { kv: KeyValue };

/** A watch message, with its events as kvs reads them (see WatchEvent). */
export type WatchResponse = Omit<WatchResponse__Output, 'events'> & { events: WatchEvent[] };

export const SortOrder = { none: GeneratedSortOrder.NONE, ascend: GeneratedSortOrder.ASCEND, descend: GeneratedSortOrder.DESCEND } as const;
export type SortOrder = (typeof SortOrder)[keyof typeof SortOrder];
export const CompareResult = {
  equal: GeneratedCompareResult.EQUAL,
  greater: GeneratedCompareResult.GREATER,
  less: GeneratedCompareResult.LESS,
  notEqual: GeneratedCompareResult.NOT_EQUAL,
} as const;
export type CompareResult = (typeof CompareResult)[keyof typeof CompareResult];
export const CompareTarget = {
  version: GeneratedCompareTarget.VERSION,
  create: GeneratedCompareTarget.CREATE,
  mod: GeneratedCompareTarget.MOD,
  value: GeneratedCompareTarget.VALUE,
  lease: GeneratedCompareTarget.LEASE,
} as const;
export type CompareTarget = (typeof CompareTarget)[keyof typeof CompareTarget];
export const EventType = { put: GeneratedEventType.PUT, delete: GeneratedEventType.DELETE } as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** The response's revision; etcd puts a header on every response (the generated type leaves it nullable). */
export function headerRevision(response: { header: ResponseHeader | null }): number {
  if (response.header === null) throw new Error('etcd sent a response without a header');
  return revisionOf(response.header.revision);
}

/** An int64 revision, count or version from etcd; all stay far below 2^53. */
export function revisionOf(value: string | number | undefined | null): number {
  return value === undefined || value === null || value === '' ? 0 : Number(value);
}

/** The gRPC methods kvs calls (loaded once from the trimmed schema that ships with kvs), typed by the generated service definitions. */
export interface EtcdMethods {
  range: KVDefinition['Range'];
  txn: KVDefinition['Txn'];
  compact: KVDefinition['Compact'];
  watch: WatchDefinition['Watch'];
  leaseGrant: LeaseDefinition['LeaseGrant'];
  status: MaintenanceDefinition['Status'];
}

let methods: EtcdMethods | null = null;

export function etcdMethods(): EtcdMethods {
  if (methods !== null) return methods;
  // dist/src/engine/etcd/ → the package root's proto/ (shipped beside dist/).
  const file = fileURLToPath(new URL('../../../../proto/etcd-v3.proto', import.meta.url));
  // The options `npm run generate:etcd-types` gives the generator, so that the generated types describe these objects.
  const definition = loadSync(file, { keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true });
  const service = (name: string) => definition[`etcdserverpb.${name}`] as Record<string, MethodDefinition<object, object>>;
  const kv = service('KV');
  methods = {
    range: kv['Range'],
    txn: kv['Txn'],
    compact: kv['Compact'],
    watch: service('Watch')['Watch'],
    leaseGrant: service('Lease')['LeaseGrant'],
    status: service('Maintenance')['Status'],
  } as unknown as EtcdMethods;
  return methods;
}

/** What kvs sends is what etcd's schema accepts (a compile-time check; see the comment at the top). */
type Assignable<Narrow extends Wide, Wide> = Narrow;
/** @typecheck exported only for tsc to check it (knip.jsonc) */
export type RequestTypesFitTheSchema = [
  Assignable<RangeRequest, GeneratedRangeRequest>,
  Assignable<PutRequest, GeneratedPutRequest>,
  Assignable<Compare, GeneratedCompare>,
  Assignable<RequestOp, GeneratedRequestOp>,
  Assignable<TxnRequest, GeneratedTxnRequest>,
  Assignable<WatchRequest, GeneratedWatchRequest>,
  Assignable<SortOrder, GeneratedSortOrderInput>,
];
