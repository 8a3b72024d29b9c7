import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FragmentJoiner, toRevisions } from '../../src/engine/etcd/change-feed.js';
import { EventType, type KeyValue, type WatchEvent } from '../../src/engine/etcd/etcd-api.js';
import { decodeRecord, decodeStored, encodeRecord, Keyspace } from '../../src/engine/etcd/keyspace.js';

const keyspace = new Keyspace('app/');

function kv(key: Buffer, value: Buffer, modRevision: number, extra: Partial<KeyValue> = {}): KeyValue {
  return { key, value, mod_revision: String(modRevision), create_revision: String(modRevision), version: '1', lease: '0', ...extra };
}
const put = (key: Buffer, value: Buffer, revision: number): WatchEvent => ({ type: EventType.put, kv: kv(key, value, revision) });
const del = (key: Buffer, revision: number): WatchEvent => ({ type: EventType.delete, kv: kv(key, Buffer.alloc(0), revision) });

describe('etcd keyspace and records', () => {
  it('keeps user keys under <namespace>k/ and bookkeeping under <namespace>m/', () => {
    assert.equal(keyspace.etcdKey('a/b').toString(), 'app/k/a/b');
    assert.ok(keyspace.isData(keyspace.etcdKey('x')));
    assert.ok(!keyspace.isData(keyspace.deleteMarker));
    assert.equal(keyspace.userKey(keyspace.etcdKey('ключ')), 'ключ');
    assert.equal(keyspace.etcdEnd(null).toString(), 'app/k0', 'to the end of the data prefix');
    assert.ok(
      Buffer.compare(keyspace.namespace, keyspace.deleteMarker) < 0 && Buffer.compare(keyspace.deleteMarker, keyspace.namespaceEnd) < 0,
      'the watch on the namespace sees the marker',
    );
  });

  it('round-trips value, content type and expiry, and the revisions etcd gives', () => {
    const value = Buffer.from([0, 255, 1, 2]);
    for (const expiresAtMs of [null, 1_795_806_279_018, 1.5]) {
      const record = encodeRecord(value, 'application/x-thing; q=1', expiresAtMs);
      const entry = decodeRecord(keyspace, kv(keyspace.etcdKey('k'), record, 7, { create_revision: '3', version: '4', lease: '694d7ab2c1f3e20c' }));
      assert.deepEqual(entry, {
        key: 'k',
        value,
        contentType: 'application/x-thing; q=1',
        createRevision: 3,
        revision: 7,
        version: 4,
        expiresAtMs,
        lease: '694d7ab2c1f3e20c',
      });
    }
  });

  it('refuses a value kvs did not write instead of misreading it', () => {
    assert.throws(() => decodeRecord(keyspace, kv(keyspace.etcdKey('k'), Buffer.from('{"plain":"json"}'), 1)), /did not write/);
  });
});

describe('etcd watch events as kvs revisions', () => {
  const marker = keyspace.deleteMarker;
  const value = encodeRecord(Buffer.from('v'), 'text/plain', null);

  it('groups events by revision and drops bookkeeping keys', () => {
    const revisions = toRevisions(keyspace, [
      put(keyspace.etcdKey('a'), value, 5),
      put(keyspace.etcdKey('b'), value, 5),
      put(keyspace.openMarker, Buffer.alloc(0), 6),
      put(keyspace.etcdKey('c'), value, 7),
    ]);
    assert.deepEqual(
      revisions.map((r) => [r.revision, r.changes?.events.map((e) => `${e.type}:${e.key}`) ?? null]),
      [
        [5, ['put:a', 'put:b']],
        [6, null],
        [7, ['put:c']],
      ],
    );
    assert.equal(revisions[0]!.changes!.events[0]!.entry!.value.toString(), 'v');
  });

  it('a delete with the marker in its revision is a delete; without it, a lease expiry', () => {
    const revisions = toRevisions(keyspace, [
      del(keyspace.etcdKey('a'), 8),
      put(marker, Buffer.alloc(0), 8),
      del(keyspace.etcdKey('b'), 9),
      del(keyspace.etcdKey('c'), 9),
    ]);
    assert.deepEqual(
      revisions.map((r) => r.changes?.events.map((e) => `${e.type}:${e.key}`)),
      [['delete:a'], ['expire:b', 'expire:c']],
    );
  });
});

describe('values kvs did not write, in its keys', () => {
  const foreign = kv(keyspace.etcdKey('x'), Buffer.from('written by etcdctl'), 9);

  it('read as an entry that expired long ago: reads skip it, a write replaces it', () => {
    const entry = decodeStored(keyspace, foreign);
    assert.equal(entry.key, 'x');
    assert.equal(entry.revision, 9);
    assert.equal(entry.expiresAtMs, 0);
  });

  it('are left out of the change feed (and reported), never thrown', () => {
    const seen: Error[] = [];
    const good = encodeRecord(Buffer.from('v'), 'text/plain', null);
    const revisions = toRevisions(keyspace, [{ type: EventType.put, kv: foreign }, put(keyspace.etcdKey('y'), good, 10)], (error) => seen.push(error));
    assert.deepEqual(
      revisions.map((r) => r.changes?.events.map((e) => e.key) ?? null),
      [null, ['y']],
    );
    assert.equal(seen.length, 1);
  });
});

describe('FragmentJoiner (watch batches etcd split over several messages)', () => {
  const value = encodeRecord(Buffer.from('v'), 'text/plain', null);
  const events = (revisions: number[]) => revisions.map((revision, i) => put(keyspace.etcdKey(`k${i}`), value, revision));

  it('hands on complete revisions at once and holds back the last one of an unfinished batch', () => {
    const joiner = new FragmentJoiner();
    const first = joiner.complete({ fragment: true, events: events([4, 5, 5]) });
    assert.deepEqual(
      first.map((e) => e.kv.mod_revision),
      ['4'],
    );
    const second = joiner.complete({ fragment: true, events: events([5, 6]) });
    assert.deepEqual(
      second.map((e) => e.kv.mod_revision),
      ['5', '5', '5'],
      "revision 5's three events together",
    );
    const last = joiner.complete({ fragment: false, events: events([6, 7]) });
    assert.deepEqual(
      last.map((e) => e.kv.mod_revision),
      ['6', '6', '7'],
    );
    assert.deepEqual(joiner.complete({ fragment: false, events: [] }), []);
  });
});
