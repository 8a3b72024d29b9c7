import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { KvError } from '../../core/errors.js';
import { etcdMethods, type EtcdMethods, type WatchRequest, type WatchResponse } from './etcd-api.js';

export interface EtcdClientOptions {
  /** `http://host:port` (or bare `host:port`) of each etcd member; `https://` uses TLS with the system's CAs. */
  endpoints: string[];
  /** Deadline of each call to one member. */
  callTimeoutMs: number;
}

/**
 * A thin etcd v3 client on @grpc/grpc-js (docs/adr/0006-etcd-client.md).
 *
 * One gRPC channel per member; calls go to the current member, and a member
 * that fails is left for the next. The rule that keeps acknowledgements true:
 * a read may be retried anywhere (it changes nothing), a write is sent once,
 * and retried elsewhere only when gRPC proves it never left this process (no
 * connection). Any other write failure is reported as 503 "outcome unknown",
 * never as success and never silently repeated: etcd may have committed it.
 */
export class EtcdClient {
  readonly methods: EtcdMethods = etcdMethods();
  private readonly members: Array<{ endpoint: string; client: grpc.Client }>;
  private current = 0;

  constructor(private readonly options: EtcdClientOptions) {
    if (options.endpoints.length === 0) throw new Error('at least one etcd endpoint is needed');
    this.members = options.endpoints.map((endpoint) => {
      const { address, secure } = parseEndpoint(endpoint);
      const credentials = secure ? grpc.credentials.createSsl() : grpc.credentials.createInsecure();
      const client = new grpc.Client(address, credentials, {
        // Dead connections are noticed within seconds (etcd permits pings every 5 s).
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.keepalive_permit_without_calls': 1,
        // A restarted member is tried again soon, not after minutes of backoff.
        'grpc.initial_reconnect_backoff_ms': 200,
        'grpc.max_reconnect_backoff_ms': 2_000,
        'grpc.max_receive_message_length': 512 * 1024 * 1024,
        'grpc.max_send_message_length': 512 * 1024 * 1024,
      });
      return { endpoint, client };
    });
  }

  get endpoints(): string[] {
    return this.members.map((member) => member.endpoint);
  }

  /** A read: tried on each member in turn until one answers (each within the call deadline, or `timeoutMs`). */
  async read<Request, Response>(method: MethodDefinition<Request, Response>, request: Request, timeoutMs = this.options.callTimeoutMs): Promise<Response> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.members.length; attempt++) {
      const index = this.current;
      try {
        return await this.call(index, method, request, timeoutMs);
      } catch (error) {
        lastError = error;
        if (!isTransient(error)) throw translateError(error, false);
        this.leave(index);
      }
    }
    throw translateError(lastError, false);
  }

  /** A write: sent once; retried on another member only if it provably never left this process. */
  async write<Request, Response>(method: MethodDefinition<Request, Response>, request: Request): Promise<Response> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.members.length; attempt++) {
      const index = this.current;
      try {
        return await this.call(index, method, request, this.options.callTimeoutMs);
      } catch (error) {
        lastError = error;
        if (isTransient(error)) this.leave(index);
        if (!neverSent(error)) throw translateError(error, true);
      }
    }
    throw translateError(lastError, false);
  }

  /** A new watch stream on the current member. The caller handles its errors (and reconnects through `leave`). */
  openWatch(): { stream: grpc.ClientDuplexStream<WatchRequest, WatchResponse>; member: number } {
    const member = this.current;
    const method = this.methods.watch;
    // `hasleader`: etcd ends the stream if this member loses its leader (a partitioned member would otherwise keep a silent stream open).
    const metadata = new grpc.Metadata();
    metadata.set('hasleader', 'true');
    const stream = this.members[member]!.client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, metadata);
    return { stream, member };
  }

  /** Moves calls off `member` (if it is still the current one) to the next. */
  leave(member: number): void {
    if (this.current === member) this.current = (member + 1) % this.members.length;
  }

  close(): void {
    for (const member of this.members) member.client.close();
  }

  private call<Request, Response>(member: number, method: MethodDefinition<Request, Response>, request: Request, timeoutMs: number): Promise<Response> {
    const client = this.members[member]!.client;
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error) reject(error);
        else resolve(response as Response);
      });
    });
  }
}

/** `http(s)://host:port` or `host:port` as a gRPC address; throws a message fit for the user otherwise. */
export function parseEndpoint(endpoint: string): { address: string; secure: boolean } {
  const match = /^(https?):\/\/([^/]+)\/?$/.exec(endpoint.trim());
  if (match) return { address: match[2]!, secure: match[1] === 'https' };
  if (/^[^/\s]+:\d+$/.test(endpoint.trim())) return { address: endpoint.trim(), secure: false };
  throw new Error(`"${endpoint}" is not an etcd endpoint (http://host:port or https://host:port)`);
}

function grpcError(error: unknown): grpc.ServiceError | null {
  return error instanceof Error && typeof (error as grpc.ServiceError).code === 'number' ? (error as grpc.ServiceError) : null;
}

/** Failures another member (or a moment later) may not have: the member is down, partitioned, leaderless or slow. */
function isTransient(error: unknown): boolean {
  const failure = grpcError(error);
  if (failure === null) return false;
  if (failure.code === grpc.status.UNAVAILABLE || failure.code === grpc.status.DEADLINE_EXCEEDED) return true;
  return /no leader|leader changed|request timed out|not capable|stopped/.test(failure.details);
}

/** gRPC failed the call before sending it: there was no connection to send it on. */
function neverSent(error: unknown): boolean {
  const failure = grpcError(error);
  return failure !== null && failure.code === grpc.status.UNAVAILABLE && /No connection established|ECONNREFUSED|Connection refused/i.test(failure.details);
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
  if (/requested lease not found/.test(details)) return new LeaseNotFound(details);
  if (/database space exceeded/.test(details)) {
    return new KvError(
      'storage_full',
      'etcd refused the write: its database reached its space quota (etcd --quota-backend-bytes) and raised the NOSPACE alarm. The one write that crossed the quota is applied by etcd even so: this one may have been, read the key to know. Deletes still work; once space is freed, an operator must compact and defragment etcd and disarm the alarm (etcdctl alarm disarm), or raise the quota (docs/SCALING.md)',
    );
  }
  if (/request is too large/.test(details)) return new KvError('request_too_large', 'etcd refused the request as too large (etcd --max-request-bytes)');
  if (/too many operations in txn/.test(details)) return new KvError('request_too_large', 'etcd refused the transaction: too many operations (etcd --max-txn-ops)');
  const outcome = write && !neverSent(error) ? ' The write may or may not have been applied; read the key before retrying a non-idempotent write.' : '';
  return new KvError('unavailable', `etcd did not answer (${details.slice(0, 200)}).${outcome}`, { retryAfterSeconds: 1 });
}

/** A put named a lease that has expired or was revoked; nothing of the request applied, and it can be retried with a new lease. */
export class LeaseNotFound extends Error {
  override name = 'LeaseNotFound';
}
