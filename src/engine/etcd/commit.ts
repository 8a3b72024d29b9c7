import { KvError } from '../../core/errors.js';
import type { WriteObserver } from '../../core/write-observer.js';
import type { RequestOp, TxnRequest, TxnResponse } from './etcd-api.js';
import type { EtcdClient } from './etcd-client.js';
import { translateError } from './etcd-errors.js';
import type { Keyspace } from './keyspace.js';

/**
 * Sends the engine's write Txns: each once (EtcdClient.write), timed for
 * /metrics, with one fallback. etcd over its space quota (the NOSPACE alarm)
 * refuses every put, the delete marker's too, but still takes deletes: they
 * are how space is freed. A Txn of deletes and the marker that etcd refused
 * for space is sent again without the marker; watchers then see its deletes
 * as `expire` events (see change-feed.ts), a price paid only while etcd is full.
 */
export class Committer {
  constructor(
    private readonly client: () => EtcdClient,
    private readonly keyspace: Keyspace,
    private readonly observer: WriteObserver,
  ) {}

  async commit(request: TxnRequest): Promise<TxnResponse> {
    const client = this.client();
    const startedAt = performance.now();
    try {
      const response = await client.write(client.methods.txn, request);
      this.observer.batchCommitted(1, (performance.now() - startedAt) / 1000, null);
      return response;
    } catch (error) {
      const failure = translateError(error, true);
      if (failure instanceof KvError && failure.code === 'storage_full' && this.onlyDeletesBesidesMarker(request.success)) {
        try {
          const retriedAt = performance.now();
          const response = await client.write(client.methods.txn, { ...request, success: request.success.filter((op) => !this.isMarkerPut(op)) });
          this.observer.batchCommitted(1, (performance.now() - retriedAt) / 1000, null);
          return response;
        } catch (retryError) {
          throw translateError(retryError, true);
        }
      }
      throw failure;
    }
  }

  /** The put of the delete marker every delete kvs makes carries (Keyspace.deleteMarker). */
  markerPut(): RequestOp {
    return putOp(this.keyspace.deleteMarker, Buffer.alloc(0));
  }

  private isMarkerPut(op: RequestOp): boolean {
    return 'request_put' in op && op.request_put.key.equals(this.keyspace.deleteMarker);
  }

  private onlyDeletesBesidesMarker(ops: readonly RequestOp[]): boolean {
    return ops.some((op) => this.isMarkerPut(op)) && ops.every((op) => this.isMarkerPut(op) || 'request_delete_range' in op);
  }
}

/** A put of `value` under `key`, without a lease. */
export function putOp(key: Buffer, value: Buffer): RequestOp {
  return { request_put: { key, value } };
}
