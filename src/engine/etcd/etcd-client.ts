import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import {
  ETCD_KEEPALIVE_INTERVAL_MS,
  ETCD_KEEPALIVE_TIMEOUT_MS,
  ETCD_MESSAGE_BYTES_MAX,
  ETCD_RECONNECT_BACKOFF_MS_MAX,
  ETCD_RECONNECT_BACKOFF_MS_MIN,
} from '../../core/limits.js';
import { etcdMethods, type EtcdMethods, type ResponseHeader, type WatchRequest, type WatchResponse } from './etcd-api.js';
import { etcdErrorKind, grpcError, neverSent, translateError } from './etcd-errors.js';
import { parseEndpoint } from './etcd-settings.js';

export interface EtcdClientOptions {
  /** `http://host:port` (or bare `host:port`) of each etcd member; `https://` uses TLS with the system's CAs. */
  endpoints: string[];
  /** Deadline of each call to one member. */
  callTimeoutMs: number;
  /** Largest message sent or received (default ETCD_MESSAGE_BYTES_MAX); a larger response fails with RESOURCE_EXHAUSTED before it is buffered. */
  messageBytesMax?: number;
  /**
   * Called as each read or write is sent; the function it returns is given
   * the response's header. The engine uses it to notice etcd's revision going
   * back (a restore from a backup): what was known when the call left is
   * what the answer must not be below.
   */
  headerCheck?: () => (header: ResponseHeader | null | undefined) => void;
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
        'grpc.keepalive_time_ms': ETCD_KEEPALIVE_INTERVAL_MS,
        'grpc.keepalive_timeout_ms': ETCD_KEEPALIVE_TIMEOUT_MS,
        'grpc.keepalive_permit_without_calls': 1,
        // A restarted member is tried again soon, not after minutes of backoff.
        'grpc.initial_reconnect_backoff_ms': ETCD_RECONNECT_BACKOFF_MS_MIN,
        'grpc.max_reconnect_backoff_ms': ETCD_RECONNECT_BACKOFF_MS_MAX,
        'grpc.max_receive_message_length': options.messageBytesMax ?? ETCD_MESSAGE_BYTES_MAX,
        'grpc.max_send_message_length': options.messageBytesMax ?? ETCD_MESSAGE_BYTES_MAX,
      });
      return { endpoint, client };
    });
  }

  get endpoints(): string[] {
    return this.members.map((member) => member.endpoint);
  }

  /** A read: tried on each member in turn until one answers (each within the call deadline, or `timeoutMs`). */
  async read<Request, Response>(method: UnaryMethod<Request, Response>, request: Request, timeoutMs = this.options.callTimeoutMs): Promise<Response> {
    let lastError: unknown;
    const check = this.options.headerCheck?.();
    for (let attempt = 0; attempt < this.members.length; attempt++) {
      const index = this.current;
      try {
        return checked(await this.call(index, method, request, timeoutMs), check);
      } catch (error) {
        lastError = error;
        if (!isTransient(error)) throw translateError(error, false);
        this.leave(index);
      }
    }
    throw translateError(lastError, false);
  }

  /** A write: sent once; retried on another member only if it provably never left this process. */
  async write<Request, Response>(method: UnaryMethod<Request, Response>, request: Request): Promise<Response> {
    let lastError: unknown;
    const check = this.options.headerCheck?.();
    for (let attempt = 0; attempt < this.members.length; attempt++) {
      const index = this.current;
      try {
        return checked(await this.call(index, method, request, this.options.callTimeoutMs), check);
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
    // Events as kvs reads them (etcd-api.ts WatchEvent: etcd always sends an event's key-value).
    const deserialize = method.responseDeserialize as (bytes: Buffer) => WatchResponse;
    const stream = this.members[member]!.client.makeBidiStreamRequest<WatchRequest, WatchResponse>(method.path, method.requestSerialize, deserialize, metadata);
    return { stream, member };
  }

  /** Moves calls off `member` (if it is still the current one) to the next. */
  leave(member: number): void {
    if (this.current === member) this.current = (member + 1) % this.members.length;
  }

  close(): void {
    for (const member of this.members) member.client.close();
  }

  private call<Request, Response>(member: number, method: UnaryMethod<Request, Response>, request: Request, timeoutMs: number): Promise<Response> {
    const client = this.members[member]!.client;
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        { deadline: Date.now() + timeoutMs },
        (error, response) => {
          if (error) reject(error);
          else resolve(response as Response);
        },
      );
    });
  }
}

/**
 * What a unary call needs of a method's definition. `Response` is what its
 * deserializer makes: the generated `__Output` type (etcd-api.ts EtcdMethods).
 */
type UnaryMethod<Request, Response> = Pick<MethodDefinition<Request, unknown, unknown, Response>, 'path' | 'requestSerialize' | 'responseDeserialize'>;

/** A response, once its header has been shown to `check`. */
function checked<Response>(response: Response, check: ((header: ResponseHeader | null | undefined) => void) | undefined): Response {
  check?.((response as { header?: ResponseHeader | null } | null)?.header);
  return response;
}

/** Failures another member (or a moment later) may not have: the member is down, partitioned, leaderless or slow. */
function isTransient(error: unknown): boolean {
  const failure = grpcError(error);
  if (failure === null) return false;
  if (failure.code === grpc.status.UNAVAILABLE || failure.code === grpc.status.DEADLINE_EXCEEDED) return true;
  return etcdErrorKind(failure) === 'transient';
}
