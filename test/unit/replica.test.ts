import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { keyBytes, prefixEnd } from '../../src/core/keys.js';
import type { KeyValue, RangeRequest, RangeResponse } from '../../src/engine/etcd/etcd-api.js';
import type { EtcdClient } from '../../src/engine/etcd/etcd-client.js';
import { encodeRecord, Keyspace } from '../../src/engine/etcd/keyspace.js';
import { encodeRow, Replica, type ReplicaBatch } from '../../src/engine/etcd/replica.js';
import { ReplicaStore } from '../../src/engine/lmdb/replica-store.js';

/**
 * The replica (src/engine/etcd/replica.ts) on a real ReplicaStore (LMDB),
 * with etcd's Ranges answered by a fake: loading at one revision, applying
 * the feed's batches, holding them while loading, reloading, waiting.
 */

const keyspace = new Keyspace('ns/');
const root = mkdtempSync(join(tmpdir(), 'kvs-replica-unit-'));
after(() => rmSync(root, { recursive: true, force: true }));

function kv(
  key: string,
  value: string,
  modRevision: number,
  options: { expiresAtMs?: number; lease?: string; createRevision?: number; version?: number } = {},
): KeyValue {
  return {
    key: keyspace.etcdKey(key),
    value: encodeRecord(Buffer.from(value), 'text/plain', options.expiresAtMs ?? null),
    create_revision: String(options.createRevision ?? modRevision),
    mod_revision: String(modRevision),
    version: String(options.version ?? 1),
    lease: options.lease ?? '0',
  };
}

/** etcd as the loader sees it: the namespace at a revision, answered in pages, and a hook to run between pages. */
class FakeEtcd {
  revision = 50;
  kvs: KeyValue[] = [];
  requests: RangeRequest[] = [];
  failNext = false;
  betweenPages: (() => void) | null = null;
  private gate: Promise<void> = Promise.resolve();
  private openGate: () => void = () => {};

  /** Holds every Range until `release`. */
  hold(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  release(): void {
    this.openGate();
  }

  client(): EtcdClient {
    return {
      methods: { range: 'range' },
      read: async (_method: unknown, request: RangeRequest): Promise<RangeResponse> => {
        await this.gate;
        this.requests.push(request);
        if (this.requests.length > 1) this.betweenPages?.();
        if (this.failNext) {
          this.failNext = false;
          throw new Error('etcd did not answer');
        }
        const sorted = [...this.kvs].filter((item) => Buffer.compare(item.key, request.key) >= 0).sort((a, b) => Buffer.compare(a.key, b.key));
        const page = sorted.slice(0, request.limit ?? sorted.length);
        return {
          header: { revision: String(request.revision ?? this.revision), cluster_id: '0', member_id: '0', raft_term: '0' },
          kvs: page,
          more: page.length < sorted.length,
          count: String(sorted.length),
        };
      },
    } as unknown as EtcdClient;
  }
}

async function replicaOn(
  etcd: FakeEtcd,
  options: { loadBufferBytesMax?: number; now?: () => number } = {},
): Promise<{ replica: Replica; store: ReplicaStore; errors: unknown[] }> {
  const store = await ReplicaStore.open(mkdtempSync(join(root, 'r-')));
  const errors: unknown[] = [];
  const replica = new Replica({
    store,
    keyspace,
    client: () => etcd.client(),
    now: options.now ?? Date.now,
    onError: (error) => errors.push(error),
    ...options,
  });
  after(async () => {
    replica.close();
    await store.close();
  });
  return { replica, store, errors };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function put(revision: number, key: string, value: string): ReplicaBatch {
  const item = kv(key, value, revision);
  return { revision, writes: [{ key: keyspace.relative(item.key), value: encodeRow(item) }], bytes: 10 };
}

function remove(revision: number, key: string): ReplicaBatch {
  return { revision, writes: [{ key: keyspace.relative(keyspace.etcdKey(key)), value: null }], bytes: 10 };
}

/** A revision made by another application: no change to the namespace. */
function foreign(revision: number): ReplicaBatch {
  return { revision, writes: [], bytes: 0 };
}

describe('Replica', () => {
  it('loads the namespace in pages at one revision (the first page’s), then serves what etcd held there', async () => {
    const etcd = new FakeEtcd();
    for (let i = 0; i < 250; i++) etcd.kvs.push(kv(`k${String(i).padStart(3, '0')}`, `v${i}`, 10 + i));
    etcd.kvs.push(kv('ttl', 'gone', 5, { expiresAtMs: 1_000, lease: '7587869959433316123' }));
    etcd.kvs.push({ ...kv('x', 'x', 4), key: keyspace.compactedKey, value: Buffer.from('0000000000000003') });
    etcd.revision = 300;
    const { replica } = await replicaOn(etcd, { now: () => 2_000 });
    assert.equal(replica.serving, false);
    replica.reload();
    await until(() => replica.serving, 'the load');
    assert.ok(etcd.requests.length >= 2, `paged: ${etcd.requests.length} Ranges`);
    assert.equal(etcd.requests[0]!.revision, undefined, 'the first page at the current revision');
    for (const request of etcd.requests.slice(1)) assert.equal(request.revision, 300, 'the rest at the first page’s revision');
    assert.equal(replica.revision, 300);
    assert.deepEqual(replica.get('k007'), {
      entry: { key: 'k007', value: Buffer.from('v7'), contentType: 'text/plain', createRevision: 17, revision: 17, version: 1, expiresAtMs: null },
      revision: 300,
    });
    assert.deepEqual(replica.get('ttl'), { entry: null, revision: 300 }, 'past its deadline: absent');
    assert.equal(replica.stored('ttl')?.lease, '7587869959433316123', 'the lease survives the row format (beyond 2^53)');
    assert.deepEqual(replica.get('absent'), { entry: null, revision: 300 });
    assert.equal(replica.count(Buffer.alloc(0), null), 250);
    assert.deepEqual(replica.status(), { revision: 300, compactRevision: 3, keys: 251 });
    const page = replica.range({ start: keyBytes('k1'), end: prefixEnd(keyBytes('k1')), limit: 3, reverse: true, withValues: true })!;
    assert.deepEqual(
      page.items.map((item) => [item.key, item.value?.toString()]),
      [
        ['k199', 'v199'],
        ['k198', 'v198'],
        ['k197', 'v197'],
      ],
    );
    assert.equal(page.more, true);
    const exported: string[] = [];
    for await (const entry of replica.snapshot(keyBytes('k24'), null)!) exported.push(entry.key);
    assert.deepEqual(exported, ['k240', 'k241', 'k242', 'k243', 'k244', 'k245', 'k246', 'k247', 'k248', 'k249']);
  });

  it('applies the feed’s batches in order, skips revisions it holds, and answers waiters once it reaches theirs', async () => {
    const etcd = new FakeEtcd();
    etcd.kvs.push(kv('a', '1', 40));
    const { replica } = await replicaOn(etcd);
    replica.reload();
    await until(() => replica.serving, 'the load');
    const reached = replica.waitFor(53, 0, 5_000);
    replica.advance(put(50, 'a', 'stale')); // at or below the load's revision: already in it
    assert.equal(replica.get('a')!.entry!.value.toString(), '1');
    replica.advance(put(51, 'b', '2'));
    replica.advance(foreign(52));
    assert.equal(replica.revision, 52, 'a revision of another application moves the replica too');
    let done = false;
    void reached.then(() => (done = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(done, false);
    replica.advance(remove(53, 'a'));
    assert.equal(await reached, true);
    assert.equal(replica.get('a')!.entry, null);
    assert.equal(replica.get('b')!.entry!.value.toString(), '2');
    assert.equal(await replica.waitFor(40, 0, 10), true, 'a revision it passed: at once');
  });

  it('holds what the feed brings while loading and applies only what comes after the load’s revision', async () => {
    const etcd = new FakeEtcd();
    for (let i = 0; i < 150; i++) etcd.kvs.push(kv(`k${String(i).padStart(3, '0')}`, 'v', 10));
    etcd.revision = 60;
    const { replica } = await replicaOn(etcd);
    // Between the load's first and second page, etcd moves on and the feed delivers 59..62.
    etcd.betweenPages = () => {
      if (etcd.requests.length !== 2) return;
      replica.advance(put(59, 'k000', 'before the load revision'));
      replica.advance(put(61, 'k001', 'after'));
      replica.advance(remove(62, 'k002'));
    };
    replica.reload();
    await until(() => replica.serving, 'the load');
    assert.equal(replica.revision, 62);
    assert.equal(replica.get('k000')!.entry!.value.toString(), 'v', 'revision 59 was in the load already');
    assert.equal(replica.get('k001')!.entry!.value.toString(), 'after');
    assert.equal(replica.get('k002')!.entry, null);
  });

  it('stops serving at once on a reload (waiters told false) and serves again once reloaded', async () => {
    const etcd = new FakeEtcd();
    etcd.kvs.push(kv('a', '1', 40));
    const { replica } = await replicaOn(etcd);
    replica.reload();
    await until(() => replica.serving, 'the load');
    const waiting = replica.waitFor(1_000, 0, 5_000);
    etcd.hold();
    etcd.kvs = [kv('a', 'reloaded', 90)];
    etcd.revision = 95;
    replica.reload();
    assert.equal(replica.serving, false);
    assert.equal(replica.get('a'), null, 'nothing is answered from a replica being reloaded');
    assert.equal(await waiting, false);
    assert.equal(await replica.waitFor(1, 0, 1_000), false);
    etcd.release();
    await until(() => replica.serving, 'the reload');
    assert.equal(replica.get('a')!.entry!.value.toString(), 'reloaded');
    assert.equal(replica.loads, 2);
  });

  it('starts the load over when what it holds meanwhile exceeds its bound, and after a failed Range', async () => {
    const etcd = new FakeEtcd();
    etcd.kvs.push(kv('a', '1', 40));
    const { replica, errors } = await replicaOn(etcd, { loadBufferBytesMax: 25 });
    etcd.hold();
    replica.reload();
    for (let revision = 51; revision <= 53; revision++) replica.advance(put(revision, 'a', 'x'));
    assert.ok(
      errors.some((error) => /starts over/.test(String(error))),
      'told why',
    );
    etcd.release();
    await until(() => replica.serving, 'the load started over');
    assert.equal(replica.get('a')!.entry!.value.toString(), '1');
    etcd.failNext = true;
    replica.reload();
    await until(() => errors.some((error) => /did not answer/.test(String(error))), 'the failed Range');
    assert.equal(replica.serving, false);
    await until(() => replica.serving, 'a load after the failure');
  });

  it('a waiter that times out marks the replica lagging (not usable) until it reaches that revision', async () => {
    const etcd = new FakeEtcd();
    const { replica } = await replicaOn(etcd);
    replica.reload();
    await until(() => replica.serving, 'the load');
    assert.equal(await replica.waitFor(70, 0, 10), false);
    assert.equal(replica.usable, false);
    assert.equal(replica.serving, true, 'still serving stale reads');
    replica.advance(foreign(69));
    assert.equal(replica.usable, false);
    replica.advance(foreign(70));
    assert.equal(replica.usable, true);
  });

  it('says how old it may be: since the start of the last quorum read whose revision it had applied', async () => {
    let now = 1_000;
    const etcd = new FakeEtcd();
    const { replica } = await replicaOn(etcd, { now: () => now });
    replica.reload();
    await until(() => replica.serving, 'the load');
    now = 1_400;
    assert.equal(replica.stalenessMs(), 400, 'the load was a quorum read that started at 1000');
    assert.equal(await replica.waitFor(50, 1_300, 100), true);
    assert.equal(replica.stalenessMs(), 100);
  });
});
