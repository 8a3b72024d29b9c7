import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KvError } from '../../src/core/errors.js';
import { ETCD_ERRORS, etcdErrorKind, LeaseNotFound, neverSent, translateError } from '../../src/engine/etcd/etcd-errors.js';

/** A gRPC failure as grpc-js reports one: a status code, etcd's message as `details`. */
function grpcFailure(code: number, details: string): Error {
  return Object.assign(new Error(`${code} STATUS: ${details}`), { code, details, metadata: null });
}

describe('the table of etcd refusals', () => {
  it('recognises each of etcd’s messages exactly, and nothing that merely contains one', () => {
    for (const [message, kind] of Object.entries(ETCD_ERRORS)) {
      assert.equal(etcdErrorKind(grpcFailure(14, message)), kind, message);
      assert.equal(etcdErrorKind(grpcFailure(14, `${message} (and more)`)), null);
    }
    assert.equal(etcdErrorKind(new Error('etcdserver: no leader')), null, 'not a gRPC failure');
    assert.equal(etcdErrorKind(grpcFailure(14, 'No connection established')), null, 'gRPC’s own failure');
  });

  it('translates etcd’s limits to their problem codes, a revoked lease to LeaseNotFound, the rest to 503', () => {
    const translate = (details: string, write = true) => translateError(grpcFailure(8, details), write);
    assert.equal((translate('etcdserver: mvcc: database space exceeded') as KvError).code, 'storage_full');
    assert.equal((translate('etcdserver: request is too large') as KvError).code, 'request_too_large');
    assert.equal((translate('etcdserver: too many operations in txn request') as KvError).code, 'request_too_large');
    assert.ok(translate('etcdserver: requested lease not found') instanceof LeaseNotFound);
    const unknown = translate('etcdserver: mvcc: required revision has been compacted') as KvError;
    assert.equal(unknown.code, 'unavailable');
    assert.match(unknown.message, /may or may not have been applied/);
    assert.doesNotMatch((translate('etcdserver: no leader', false) as KvError).message, /may or may not/);
  });

  it('keeps the gRPC failure as the translated error’s cause, so that its kind can still be told', () => {
    const translated = translateError(grpcFailure(11, 'etcdserver: mvcc: required revision has been compacted'), true);
    assert.equal(etcdErrorKind(translated), 'compacted');
  });

  it('a write that never left the process (no connection) is not reported as maybe applied', () => {
    const refused = grpcFailure(14, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1');
    assert.equal(neverSent(refused), true);
    assert.doesNotMatch((translateError(refused, true) as KvError).message, /may or may not/);
  });
});
