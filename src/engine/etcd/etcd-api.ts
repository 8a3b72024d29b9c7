import { fileURLToPath } from 'node:url';
import { loadSync, type MethodDefinition } from '@grpc/proto-loader';

/**
 * The messages of etcd's v3 API that kvs sends and reads, as proto-loader
 * decodes them (see proto/etcd-v3.proto): snake_case names, int64 as decimal
 * strings (lease IDs exceed 2^53; revisions are converted with `revisionOf`),
 * bytes as Buffers, enums as numbers.
 */
export interface KeyValue {
  key: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
  value: Buffer;
  lease: string;
}

export interface ResponseHeader {
  revision: string;
  member_id: string;
  raft_term: string;
}

export interface RangeRequest {
  key: Buffer;
  range_end?: Buffer;
  limit?: number;
  revision?: number;
  sort_order?: SortOrder;
  sort_target?: number;
  serializable?: boolean;
  keys_only?: boolean;
  count_only?: boolean;
}

export interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  more: boolean;
  count: string;
}

export interface PutRequest {
  key: Buffer;
  value: Buffer;
  lease?: string;
  prev_kv?: boolean;
}

export interface PutResponse {
  header: ResponseHeader;
  prev_kv: KeyValue | null;
}

export interface DeleteRangeRequest {
  key: Buffer;
  range_end?: Buffer;
  prev_kv?: boolean;
}

export interface DeleteRangeResponse {
  header: ResponseHeader;
  deleted: string;
  prev_kvs: KeyValue[];
}

export type RequestOp = { request_range: RangeRequest } | { request_put: PutRequest } | { request_delete_range: DeleteRangeRequest };

export interface ResponseOp {
  response?: 'response_range' | 'response_put' | 'response_delete_range';
  response_range?: RangeResponse;
  response_put?: PutResponse;
  response_delete_range?: DeleteRangeResponse;
}

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

export interface TxnResponse {
  header: ResponseHeader;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface WatchCreateRequest {
  key: Buffer;
  range_end: Buffer;
  start_revision: number;
  /** Let etcd split a large batch of events over several messages (each under its request limit). */
  fragment?: boolean;
}

export type WatchRequest = { create_request: WatchCreateRequest } | { cancel_request: { watch_id: string } } | { progress_request: Record<string, never> };

export interface WatchEvent {
  type: EventType;
  kv: KeyValue;
}

export interface WatchResponse {
  header: ResponseHeader;
  watch_id: string;
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  /** More messages of the same batch follow. */
  fragment: boolean;
  events: WatchEvent[];
}

export interface LeaseGrantResponse {
  header: ResponseHeader;
  ID: string;
  TTL: string;
  error: string;
}

export interface StatusResponse {
  header: ResponseHeader;
  version: string;
  dbSize: string;
  leader: string;
  errors: string[];
}

export const SortOrder = { none: 0, ascend: 1, descend: 2 } as const;
export type SortOrder = (typeof SortOrder)[keyof typeof SortOrder];
export const CompareResult = { equal: 0, greater: 1, less: 2, notEqual: 3 } as const;
export type CompareResult = (typeof CompareResult)[keyof typeof CompareResult];
export const CompareTarget = { version: 0, create: 1, mod: 2, value: 3, lease: 4 } as const;
export type CompareTarget = (typeof CompareTarget)[keyof typeof CompareTarget];
export const EventType = { put: 0, delete: 1 } as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** An int64 revision, count or version from etcd; all stay far below 2^53. */
export function revisionOf(value: string | number | undefined | null): number {
  return value === undefined || value === null || value === '' ? 0 : Number(value);
}

/** The gRPC methods kvs calls, loaded once from the trimmed schema that ships with kvs. */
export interface EtcdMethods {
  range: MethodDefinition<RangeRequest, RangeResponse>;
  txn: MethodDefinition<TxnRequest, TxnResponse>;
  compact: MethodDefinition<{ revision: number; physical: boolean }, { header: ResponseHeader }>;
  watch: MethodDefinition<WatchRequest, WatchResponse>;
  leaseGrant: MethodDefinition<{ TTL: number; ID: number }, LeaseGrantResponse>;
  status: MethodDefinition<Record<string, never>, StatusResponse>;
}

let methods: EtcdMethods | null = null;

export function etcdMethods(): EtcdMethods {
  if (methods !== null) return methods;
  // dist/src/engine/etcd/ → the package root's proto/ (shipped beside dist/).
  const file = fileURLToPath(new URL('../../../../proto/etcd-v3.proto', import.meta.url));
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
