import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { encodeKey, expectProblem, postJson, request, type JsonResponse } from '../helpers/http.js';
import { sleep, startTestServer, TEST_ENGINE, type TestServer } from '../helpers/server.js';
import { differencesOf } from '../engine/differences.js';
import { SseClient, type SseMessage } from '../helpers/sse.js';
import { metricValue, pollUntil } from '../helpers/assertions.js';
import { seededRandom } from '../helpers/random.js';

/** How the engine under test differs from the other, each with its reason (test/engine/differences.ts). */
const ENGINE = differencesOf(TEST_ENGINE);

/**
 * The change feed, `GET /v1/watch` (API.md §6), over real HTTP: message format,
 * order and exactly-once delivery, resume points, filters, compaction, expiry,
 * progress, slow consumers, cleanup, limits and shutdown.
 */

interface WatchEvent {
  type: string;
  key: string;
  revision: number;
  version?: number;
  createRevision?: number;
  contentType?: string;
  value?: unknown;
  encoding?: string;
  expiresAt?: string;
}

interface Change {
  revision: number;
  events: WatchEvent[];
}

interface Context {
  server: TestServer;
  url: string;
  /** Opens a watch (closed automatically when the test ends). */
  watch(query: string, headers?: Record<string, string>): Promise<SseClient>;
}

type ServerOptions = Parameters<typeof startTestServer>[0];

/** A fresh server for one test; every watch it opened and the server itself are closed afterwards. */
async function withServer(options: ServerOptions, body: (context: Context) => Promise<void>): Promise<void> {
  const server = await startTestServer(options);
  const clients: SseClient[] = [];
  const context: Context = {
    server,
    url: server.url,
    async watch(query, headers = {}) {
      const client = await SseClient.connect(`${server.url}/v1/watch?${query}`, headers);
      clients.push(client);
      return client;
    },
  };
  try {
    await body(context);
  } finally {
    for (const client of clients) client.close();
    await server.close();
  }
}

function keyUrl(base: string, key: string, query?: string): string {
  return `${base}/v1/kv/${encodeKey(key)}${query ? `?${query}` : ''}`;
}

/** PUT of a JSON value; asserts success and returns the write result. */
async function putJson(
  base: string,
  key: string,
  value: unknown,
  query?: string,
): Promise<{ key: string; revision: number; createRevision: number; version: number }> {
  const response = await request(keyUrl(base, key, query), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });
  assert.ok(response.status === 200 || response.status === 201, `PUT ${key}: ${response.status} ${response.text}`);
  return response.body;
}

async function putRaw(base: string, key: string, body: string | Buffer, contentType?: string, query?: string): Promise<JsonResponse> {
  const response = await request(keyUrl(base, key, query), {
    method: 'PUT',
    body,
    ...(contentType === undefined ? {} : { headers: { 'content-type': contentType } }),
  });
  assert.ok(response.status === 200 || response.status === 201, `PUT ${key}: ${response.status} ${response.text}`);
  return response;
}

/** DELETE of an existing key; returns the revision of the delete. */
async function deleteKey(base: string, key: string): Promise<number> {
  const response = await request(keyUrl(base, key), { method: 'DELETE' });
  assert.equal(response.status, 204, `DELETE ${key}: ${response.text}`);
  return Number(response.headers.get('kv-revision'));
}

async function storeStatus(base: string): Promise<{ revision: number; compactRevision: number }> {
  const response = await request(`${base}/v1/status`);
  assert.equal(response.status, 200);
  return response.body;
}

/** The value of an unlabelled gauge or counter in /metrics. */
const metric = metricValue;

/** The change messages of a stream, parsed, after checking that each is well-formed (id = data.revision = each event's revision). */
function changesOf(client: SseClient): Change[] {
  return client.events('change').map((message) => parseChange(message));
}

function parseChange(message: SseMessage): Change {
  assert.equal(message.event, 'change');
  const data = JSON.parse(message.data) as Change;
  assert.equal(message.id, String(data.revision), `the id of a change message is its revision: ${JSON.stringify(message)}`);
  assert.ok(Array.isArray(data.events) && data.events.length > 0, `a change message carries events: ${message.data}`);
  for (const event of data.events) assert.equal(event.revision, data.revision, `every event of a message has the message's revision: ${message.data}`);
  return data;
}

/** Waits until the stream carried a change message at `revision` or later. */
async function untilRevision(client: SseClient, revision: number, timeoutMs = 15_000): Promise<void> {
  await client.until(
    (messages) => messages.some((message) => message.event === 'change' && Number(message.id) >= revision),
    timeoutMs,
    `a change at revision ${revision}`,
  );
}

function assertStrictlyIncreasing(revisions: number[], what: string): void {
  for (let i = 1; i < revisions.length; i++) {
    assert.ok(revisions[i]! > revisions[i - 1]!, `${what}: revision ${revisions[i]} follows ${revisions[i - 1]} (at ${i})`);
  }
}

/** A GET of /v1/watch that is expected to be refused: bounded, so an accepted stream fails the test instead of hanging it. */
function refusedWatch(base: string, query: string, headers: Record<string, string> = {}): Promise<JsonResponse> {
  return request(`${base}/v1/watch?${query}`, { headers, signal: AbortSignal.timeout(5_000) });
}

describe('watch message format', () => {
  it('sends one change message per revision with id = revision and full put events; delete carries type, key, revision', async () => {
    await withServer({}, async ({ url, watch }) => {
      const full = await watch('prefix=fmt/');
      const bare = await watch('prefix=fmt/&values=false');

      const json = await putJson(url, 'fmt/json', { a: 1, b: [true, null] });
      const text = (await putRaw(url, 'fmt/text', 'héllo', 'text/plain; charset=utf-8')).body;
      const binary = (await putRaw(url, 'fmt/bin', Buffer.from([0xff, 0x00, 0x80]))).body;
      const again = (await putRaw(url, 'fmt/text', 'second', 'text/plain')).body;
      const deleted = await deleteKey(url, 'fmt/json');

      await untilRevision(full, deleted);
      await untilRevision(bare, deleted);

      const expectedFull: Change[] = [
        {
          revision: json.revision,
          events: [
            {
              type: 'put',
              key: 'fmt/json',
              revision: json.revision,
              version: 1,
              createRevision: json.revision,
              contentType: 'application/json',
              value: { a: 1, b: [true, null] },
              encoding: 'json',
            },
          ],
        },
        {
          revision: text.revision,
          events: [
            {
              type: 'put',
              key: 'fmt/text',
              revision: text.revision,
              version: 1,
              createRevision: text.revision,
              contentType: 'text/plain; charset=utf-8',
              value: 'héllo',
              encoding: 'utf8',
            },
          ],
        },
        {
          revision: binary.revision,
          events: [
            {
              type: 'put',
              key: 'fmt/bin',
              revision: binary.revision,
              version: 1,
              createRevision: binary.revision,
              contentType: 'application/octet-stream',
              value: '/wCA',
              encoding: 'base64',
            },
          ],
        },
        {
          revision: again.revision,
          events: [
            {
              type: 'put',
              key: 'fmt/text',
              revision: again.revision,
              version: 2,
              createRevision: text.revision,
              contentType: 'text/plain',
              value: 'second',
              encoding: 'utf8',
            },
          ],
        },
        { revision: deleted, events: [{ type: 'delete', key: 'fmt/json', revision: deleted }] },
      ];
      assert.deepEqual(changesOf(full), expectedFull);
      for (const message of full.events('change')) assert.equal(message.event, 'change');

      // values=false: the same messages without value and encoding.
      const expectedBare = expectedFull.map((change) => ({
        revision: change.revision,
        events: change.events.map(({ value: _value, encoding: _encoding, ...rest }) => rest),
      }));
      assert.deepEqual(changesOf(bare), expectedBare);
      assert.deepEqual(
        bare.events('change').map((message) => message.id),
        full.events('change').map((message) => message.id),
      );
    });
  });

  it('an expired key is reported as an expire event with its own revision, within about 2 s of its deadline', async () => {
    await withServer({}, async ({ url, watch }) => {
      const byKey = await watch('key=exp/k');
      const byPrefix = await watch('prefix=exp/&values=false');
      const startedAt = Date.now();
      const put = await putJson(url, 'exp/k', 'short-lived', 'ttl=0.3');
      const deadline = startedAt + 300;

      await byKey.until(
        (messages) => changesOfMessages(messages).some((change) => change.events.some((event) => event.type === 'expire')),
        5_000,
        'the expire event',
      );
      const arrivedAt = Date.now();
      // On etcd, removal is a lease's: leases last whole seconds, are shared per expiry second, and etcd revokes
      // expired ones every 500 ms, so the event may come up to ~2.5 s after the deadline (reads hide the key at once).
      const bound = ENGINE.expireEventLagMsMax;
      assert.ok(arrivedAt - deadline <= bound, `the expire event arrived ${arrivedAt - deadline} ms after the deadline`);

      const changes = changesOf(byKey);
      assert.equal(changes.length, 2, JSON.stringify(changes));
      assert.equal(changes[0]!.revision, put.revision);
      assert.equal(changes[0]!.events[0]!.type, 'put');
      assert.match(String(changes[0]!.events[0]!.expiresAt), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      const expire = changes[1]!;
      assert.ok(expire.revision > put.revision, `the expiry has its own revision (${expire.revision} after ${put.revision})`);
      assert.deepEqual(expire.events, [{ type: 'expire', key: 'exp/k', revision: expire.revision }]);

      await untilRevision(byPrefix, expire.revision);
      assert.deepEqual(changesOf(byPrefix)[1], { revision: expire.revision, events: [{ type: 'expire', key: 'exp/k', revision: expire.revision }] });
      assert.equal((await request(keyUrl(url, 'exp/k'))).status, 404);
    });
  });

  it('a write to an expired key not yet swept reports the expiry first, then the put of the new key', async () => {
    // The sweeper is kept out of the way, so the write itself finds the key expired.
    await withServer({ maintenanceIntervalMs: 600_000 }, async ({ url, watch }) => {
      const byKey = await watch('key=lazy/k');
      const byPrefix = await watch('prefix=lazy/');
      const first = await putJson(url, 'lazy/k', 'old', 'ttl=0.2');
      await pollUntil(async () => (await request(keyUrl(url, 'lazy/k'))).status === 404, 'the key reads as expired');
      const second = await putJson(url, 'lazy/k', 'new');
      assert.equal(second.version, 1, 'the key was created anew');
      assert.equal(second.createRevision, second.revision);
      for (const client of [byKey, byPrefix]) {
        await untilRevision(client, second.revision);
        const events = changesOf(client).flatMap((change) => change.events);
        assert.deepEqual(
          events.map((event) => event.type),
          ['put', 'expire', 'put'],
        );
        const [, expire, put] = events as [WatchEvent, WatchEvent, WatchEvent];
        assert.deepEqual(Object.keys(expire).sort(), ['key', 'revision', 'type']);
        assert.equal(expire.key, 'lazy/k');
        assert.ok(
          expire.revision > first.revision && expire.revision <= second.revision,
          `the expire at ${expire.revision}, between ${first.revision} and ${second.revision}`,
        );
        assert.deepEqual(put, {
          type: 'put',
          key: 'lazy/k',
          revision: second.revision,
          version: 1,
          createRevision: second.revision,
          contentType: 'application/json',
          value: 'new',
          encoding: 'json',
        });
      }
    });
  });
});

function changesOfMessages(messages: SseMessage[]): Change[] {
  return messages.filter((message) => message.event === 'change').map((message) => JSON.parse(message.data) as Change);
}

describe('ordering and exactly-once delivery', () => {
  it('delivers every acknowledged write of concurrent writers and transactions once, in revision order, a txn as one message', async () => {
    await withServer({}, async ({ url, watch }) => {
      // Two identical watchers (one shared group) and one on all keys (its own group): all must agree.
      const watcherA = await watch('prefix=conc/');
      const watcherB = await watch('prefix=conc/');
      const watcherAll = await watch('prefix=');

      interface Ack {
        revision: number;
        txn: boolean;
        events: Array<{ type: 'put' | 'delete'; key: string; version?: number; value?: unknown }>;
      }
      const acks: Ack[] = [];
      const WRITERS = 8;
      const OPS = 40;

      const writer = async (w: number): Promise<void> => {
        const random = seededRandom(1000 + w);
        const own = new Set<string>();
        for (let i = 0; i < OPS; i++) {
          const roll = random();
          if (i % 10 === 5) {
            // A transaction of 2–3 puts: one revision for all.
            const keys = [`conc/w${w}/t${i}`, `conc/shared/${Math.floor(random() * 4)}`];
            if (random() < 0.5) keys.push(`conc/w${w}/k${Math.floor(random() * 5)}`);
            const ops = keys.map((key, n) => ({ op: 'put', key, value: { w, i, n } }));
            const response = await postJson(`${url}/v1/txn`, { ops });
            assert.equal(response.status, 200, response.text);
            assert.equal(response.body.committed, true);
            acks.push({
              revision: response.body.revision,
              txn: true,
              events: keys.map((key, n) => ({ type: 'put', key, version: response.body.results[n].version, value: { w, i, n } })),
            });
            for (const key of keys) if (key.startsWith(`conc/w${w}/`)) own.add(key);
          } else if (roll < 0.35) {
            const key = `conc/w${w}/k${Math.floor(random() * 5)}`;
            const value = { w, i };
            const result = await putJson(url, key, value);
            own.add(key);
            acks.push({ revision: result.revision, txn: false, events: [{ type: 'put', key, version: result.version, value }] });
          } else if (roll < 0.5) {
            const key = `conc/shared/${Math.floor(random() * 4)}`;
            const value = { w, i, shared: true };
            const result = await putJson(url, key, value);
            acks.push({ revision: result.revision, txn: false, events: [{ type: 'put', key, version: result.version, value }] });
          } else if (roll < 0.65) {
            const key = `conc/w${w}/k${Math.floor(random() * 5)}`;
            const response = await request(keyUrl(url, key), { method: 'DELETE' });
            if (own.has(key)) {
              assert.equal(response.status, 204, `DELETE ${key}: ${response.text}`);
              own.delete(key);
              acks.push({ revision: Number(response.headers.get('kv-revision')), txn: false, events: [{ type: 'delete', key }] });
            } else {
              assert.equal(response.status, 404, `DELETE of the absent ${key}: ${response.text}`);
            }
          } else if (roll < 0.75) {
            const key = `conc/shared/${Math.floor(random() * 4)}`;
            const response = await request(keyUrl(url, key), { method: 'DELETE' });
            assert.ok(response.status === 204 || response.status === 404, `DELETE ${key}: ${response.status} ${response.text}`);
            if (response.status === 204) acks.push({ revision: Number(response.headers.get('kv-revision')), txn: false, events: [{ type: 'delete', key }] });
          } else {
            const key = `conc/counter/${Math.floor(random() * 3)}`;
            const by = Math.floor(random() * 11) - 5;
            const response = await request(`${keyUrl(url, key)}?op=add&by=${by}`, { method: 'POST' });
            assert.equal(response.status, 200, response.text);
            acks.push({
              revision: response.body.revision,
              txn: false,
              events: [{ type: 'put', key, version: response.body.version, value: response.body.value }],
            });
          }
        }
      };
      await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));

      // Every acknowledged write has a revision of its own.
      const ackRevisions = acks.map((ack) => ack.revision).sort((a, b) => a - b);
      assert.ok(ackRevisions.every((revision) => Number.isSafeInteger(revision) && revision > 0));
      assert.equal(new Set(ackRevisions).size, ackRevisions.length, 'two acknowledged writes share a revision');
      assert.ok(acks.filter((ack) => ack.txn).length >= 8 * 3);
      const last = ackRevisions.at(-1)!;

      for (const client of [watcherA, watcherB, watcherAll]) await untilRevision(client, last, 30_000);

      const changes = changesOf(watcherA);
      assertStrictlyIncreasing(
        changes.map((change) => change.revision),
        'watcher A',
      );
      // Exactly once per (key, revision).
      const seen = new Set<string>();
      for (const change of changes) {
        for (const event of change.events) {
          const id = `${event.key}@${event.revision}`;
          assert.ok(!seen.has(id), `${id} was delivered twice`);
          seen.add(id);
        }
      }
      // Nothing but the acknowledged writes, and all of them: one message per revision with exactly its events.
      assert.deepEqual(
        changes.map((change) => change.revision),
        ackRevisions,
      );
      const byRevision = new Map(changes.map((change) => [change.revision, change]));
      const sortByKey = <T extends { key: string }>(events: T[]) => [...events].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (const ack of acks) {
        const change = byRevision.get(ack.revision)!;
        const got = sortByKey(change.events).map((event) =>
          event.type === 'put' ? { type: event.type, key: event.key, version: event.version, value: event.value } : { type: event.type, key: event.key },
        );
        assert.deepEqual(got, sortByKey(ack.events), `revision ${ack.revision}${ack.txn ? ' (a transaction: all its puts in one message)' : ''}`);
      }
      // Per key, versions and create revisions follow from the sequence of events.
      const perKey = new Map<string, { version: number; createRevision: number } | null>();
      for (const change of changes) {
        for (const event of change.events) {
          const before = perKey.get(event.key) ?? null;
          if (event.type === 'put') {
            const expected =
              before === null ? { version: 1, createRevision: event.revision } : { version: before.version + 1, createRevision: before.createRevision };
            assert.deepEqual({ version: event.version, createRevision: event.createRevision }, expected, `${event.key} at ${event.revision}`);
            perKey.set(event.key, expected);
          } else {
            assert.equal(event.type, 'delete');
            assert.notEqual(before, null, `${event.key} deleted at ${event.revision} while absent`);
            perKey.set(event.key, null);
          }
        }
      }

      // The other watchers saw the very same sequence.
      const sequence = (client: SseClient) => client.events('change').map((message) => ({ id: message.id, data: JSON.parse(message.data) }));
      assert.deepEqual(sequence(watcherB), sequence(watcherA));
      assert.deepEqual(sequence(watcherAll), sequence(watcherA));
    });
  });
});

describe('resume points', () => {
  it('without a resume point, starts at the current revision: earlier writes are not replayed', async () => {
    await withServer({}, async ({ url, watch }) => {
      await putJson(url, 'now/before-1', 1);
      await putJson(url, 'now/before-2', 2);
      const client = await watch('prefix=now/');
      const afterWrite = await putJson(url, 'now/after', 3);
      await untilRevision(client, afterWrite.revision);
      assert.deepEqual(
        changesOf(client).map((change) => change.events.map((event) => event.key)),
        [['now/after']],
      );
    });
  });

  it('since=R replays everything after R, then continues live', async () => {
    await withServer({}, async ({ url, watch }) => {
      const revisions: number[] = [];
      for (let i = 0; i < 6; i++) revisions.push((await putJson(url, `since/${i}`, i)).revision);
      const from = revisions[1]!;
      const client = await watch(`prefix=since/&since=${from}`);
      const live = (await putJson(url, 'since/live', 'live')).revision;
      await untilRevision(client, live);
      assert.deepEqual(
        changesOf(client).map((change) => change.revision),
        [...revisions.slice(2), live],
      );
      assert.deepEqual(
        changesOf(client).map((change) => change.events[0]!.key),
        ['since/2', 'since/3', 'since/4', 'since/5', 'since/live'],
      );

      // A replay honours values=false.
      const bare = await watch(`prefix=since/&since=${from}&values=false`);
      await untilRevision(bare, live);
      assert.deepEqual(
        changesOf(bare).map((change) => change.events[0]),
        changesOf(client).map((change) => {
          const { value: _value, encoding: _encoding, ...rest } = change.events[0]!;
          return rest;
        }),
      );

      // since=0 replays the whole history.
      const all = await watch('prefix=since/&since=0');
      await untilRevision(all, live);
      assert.deepEqual(
        changesOf(all).map((change) => change.revision),
        [...revisions, live],
      );
    });
  });

  it('Last-Event-ID resumes after that revision; with since as well, the later of the two wins', async () => {
    await withServer({}, async ({ url, watch }) => {
      const revisions: number[] = [];
      for (let i = 0; i < 6; i++) revisions.push((await putJson(url, `lei/${i}`, i)).revision);
      const [, r1, , r3] = revisions as [number, number, number, number];

      const byHeader = await watch('prefix=lei/', { 'last-event-id': String(r1) });
      const laterHeader = await watch(`prefix=lei/&since=${r1}`, { 'last-event-id': String(r3) });
      const laterSince = await watch(`prefix=lei/&since=${r3}`, { 'last-event-id': String(r1) });
      const sentinel = (await putJson(url, 'lei/sentinel', 's')).revision;

      for (const client of [byHeader, laterHeader, laterSince]) await untilRevision(client, sentinel);
      assert.deepEqual(
        changesOf(byHeader).map((change) => change.revision),
        [...revisions.slice(2), sentinel],
      );
      assert.deepEqual(
        changesOf(laterHeader).map((change) => change.revision),
        [...revisions.slice(4), sentinel],
      );
      assert.deepEqual(
        changesOf(laterSince).map((change) => change.revision),
        [...revisions.slice(4), sentinel],
      );
    });
  });

  it('a watch cut mid-stream and resumed with Last-Event-ID misses nothing and repeats nothing', async () => {
    await withServer({}, async ({ url, watch }) => {
      const acked: number[] = [];
      let writing = true;
      const writer = (async () => {
        for (let i = 0; i < 60; i++) {
          acked.push((await putJson(url, `cut/${i % 7}`, { i })).revision);
          if (i % 3 === 0) await sleep(1); // let the stream interleave with the writes
        }
        writing = false;
      })();

      const first = await watch('prefix=cut/&since=0');
      await first.until((messages) => messages.filter((message) => message.event === 'change').length >= 10, 15_000, '10 changes');
      first.close();
      const firstChanges = changesOf(first);
      const lastId = first.events('change').at(-1)!.id!;
      assert.equal(lastId, String(firstChanges.at(-1)!.revision));
      await writer;
      assert.equal(writing, false);
      // Writes certainly made after the cut.
      for (let i = 0; i < 5; i++) acked.push((await putJson(url, `cut/after/${i}`, i)).revision);

      const second = await watch('prefix=cut/', { 'last-event-id': lastId });
      await untilRevision(second, acked.at(-1)!);
      const secondChanges = changesOf(second);
      assert.ok(secondChanges[0]!.revision > Number(lastId), `the resumed stream starts after ${lastId}, not at ${secondChanges[0]!.revision}`);
      const union = [...firstChanges, ...secondChanges].map((change) => change.revision);
      assertStrictlyIncreasing(union, 'the two sessions together');
      assert.deepEqual(
        union,
        [...acked].sort((a, b) => a - b),
      );
    });
  });
});

describe('filters', () => {
  it('key=K sees only that exact key, not K/child nor K2', async () => {
    await withServer({}, async ({ url, watch }) => {
      const client = await watch('key=K');
      const bare = await watch('key=K&values=false');
      await putJson(url, 'K/child', 1);
      await putJson(url, 'K2', 2);
      const put1 = (await putJson(url, 'K', 'one')).revision;
      await putJson(url, 'K/child', 3);
      const del = await deleteKey(url, 'K');
      await putJson(url, 'K2', 4);
      await putJson(url, 'J', 5);
      const put2 = (await putJson(url, 'K', 'two')).revision;
      const txn = await postJson(`${url}/v1/txn`, { ops: ['K2', 'K', 'K/child'].map((key) => ({ op: 'put', key, value: `txn ${key}` })) });
      assert.equal(txn.status, 200, txn.text);
      const put3 = txn.body.revision as number;
      await putJson(url, 'K/child', 'last');
      // A replay from history filters the same way.
      const replayed = await watch('key=K&since=0');

      for (const watcher of [client, bare, replayed]) {
        await untilRevision(watcher, put3);
        const changes = changesOf(watcher);
        assert.deepEqual(
          changes.map((change) => change.revision),
          [put1, del, put2, put3],
        );
        assert.deepEqual(
          changes.map((change) => change.events.map((event) => `${event.type} ${event.key}`)),
          [['put K'], ['delete K'], ['put K'], ['put K']],
        );
      }
      assert.equal(changesOf(client)[2]!.events[0]!.value, 'two');
      assert.equal(changesOf(client)[3]!.events[0]!.value, 'txn K');
      assert.equal(changesOf(bare)[2]!.events[0]!.value, undefined);
      assert.deepEqual(changesOf(replayed), changesOf(client));
    });
  });

  it("overlapping prefixes '', 'a/', 'a/b/' each see exactly their matching events, also within one transaction", async () => {
    await withServer({}, async ({ url, watch }) => {
      const all = await watch('prefix=');
      const a = await watch('prefix=a/');
      const ab = await watch('prefix=a/b/');

      const revisionOf: Record<string, number> = {};
      for (const key of ['a/b/x', 'a/c', 'ab', 'z']) revisionOf[key] = (await putJson(url, key, key)).revision;
      const txn = await postJson(`${url}/v1/txn`, {
        ops: ['a/b/y', 'a/d', 'ac', 'zz'].map((key) => ({ op: 'put', key, value: key })),
      });
      assert.equal(txn.status, 200, txn.text);
      const txnRevision = txn.body.revision as number;
      const end = (await putJson(url, 'a/b/end', 'end')).revision;

      for (const client of [all, a, ab]) await untilRevision(client, end);
      const view = (client: SseClient) => changesOf(client).map((change) => [change.revision, change.events.map((event) => event.key).sort()]);
      assert.deepEqual(view(all), [
        [revisionOf['a/b/x'], ['a/b/x']],
        [revisionOf['a/c'], ['a/c']],
        [revisionOf.ab, ['ab']],
        [revisionOf.z, ['z']],
        [txnRevision, ['a/b/y', 'a/d', 'ac', 'zz']],
        [end, ['a/b/end']],
      ]);
      assert.deepEqual(view(a), [
        [revisionOf['a/b/x'], ['a/b/x']],
        [revisionOf['a/c'], ['a/c']],
        [txnRevision, ['a/b/y', 'a/d']],
        [end, ['a/b/end']],
      ]);
      assert.deepEqual(view(ab), [
        [revisionOf['a/b/x'], ['a/b/x']],
        [txnRevision, ['a/b/y']],
        [end, ['a/b/end']],
      ]);
    });
  });
});

describe('compacted history', () => {
  it('refuses a resume point older than the retained history with 410 history_compacted, and replays the retained tail', async () => {
    await withServer({ limits: { historyRetentionRevisions: 5 }, maintenanceIntervalMs: 50 }, async ({ url, watch }) => {
      const revisions: number[] = [];
      for (let i = 0; i < 40; i++) revisions.push((await putJson(url, `hist/${i % 4}`, i)).revision);
      const head = revisions.at(-1)!;
      await pollUntil(async () => (await storeStatus(url)).compactRevision > 0, 'history is compacted');
      // Compaction proceeds to revision - historyRetentionRevisions; wait until it settles there.
      await pollUntil(async () => (await storeStatus(url)).compactRevision >= head - 5, 'history is compacted up to the retention');
      const { compactRevision, revision } = await storeStatus(url);
      // On etcd, kvs records the compaction point in a key of its own: one more revision.
      const { min, max } = ENGINE.compactionRecordRevisions;
      assert.ok(revision >= head + min && revision <= head + max, `revision ${revision}, head ${head}`);
      assert.ok(compactRevision > 0 && compactRevision <= head - 5, `compactRevision ${compactRevision}, head ${head}`);

      const refused = await refusedWatch(url, 'prefix=hist/&since=1');
      const problem = expectProblem(refused, 410, 'history_compacted');
      assert.equal(problem.compactRevision, compactRevision);
      const byHeader = expectProblem(await refusedWatch(url, 'prefix=', { 'last-event-id': '1' }), 410, 'history_compacted');
      assert.equal(byHeader.compactRevision, compactRevision);
      const justBefore = expectProblem(await refusedWatch(url, `key=hist/0&since=${compactRevision - 1}`), 410, 'history_compacted');
      assert.equal(justBefore.compactRevision, compactRevision);

      const tail = await watch(`prefix=hist/&since=${compactRevision}`);
      await untilRevision(tail, head);
      assert.deepEqual(
        changesOf(tail).map((change) => change.revision),
        revisions.filter((r) => r > compactRevision),
      );
      const live = (await putJson(url, 'hist/live', 'live')).revision;
      await untilRevision(tail, live);
      assert.equal(changesOf(tail).at(-1)!.revision, live);
    });
  });
});

describe('progress', () => {
  it('an idle watcher gets event: progress with id and data {revision} = the current store revision', async () => {
    await withServer({ limits: { watchProgressIntervalMs: 200 } }, async ({ url, watch }) => {
      await putJson(url, 'elsewhere/1', 1);
      const client = await watch('prefix=quiet/');
      // A write the watcher does not match still moves the store revision on.
      const other = (await putJson(url, 'elsewhere/2', 2)).revision;
      const { revision } = await storeStatus(url);
      assert.equal(revision, other);
      await client.until(
        (messages) => messages.some((message) => message.event === 'progress' && message.id === String(revision)),
        5_000,
        `progress at ${revision}`,
      );
      const progress = client.events('progress');
      const latest = progress.at(-1)!;
      assert.equal(latest.id, String(revision));
      assert.deepEqual(JSON.parse(latest.data), { revision });
      for (const message of progress) assert.equal(JSON.parse(message.data).revision, Number(message.id));
      assert.deepEqual(client.events('change'), [], 'the watcher matched nothing');
      // Progress keeps coming while idle.
      const count = progress.length;
      await client.until((messages) => messages.filter((message) => message.event === 'progress').length > count, 5_000, 'another progress message');
    });
  });
});

/** Decodes an HTTP/1.1 response read off a raw socket: status, headers, and the (de-chunked) body. */
function parseRawResponse(raw: Buffer): { status: number; headers: Record<string, string>; body: string; complete: boolean } {
  const headEnd = raw.indexOf('\r\n\r\n');
  assert.ok(headEnd > 0, 'a response head');
  const [statusLine, ...headerLines] = raw.subarray(0, headEnd).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let rest = raw.subarray(headEnd + 4);
  if (headers['transfer-encoding'] !== 'chunked') return { status: Number(statusLine!.split(' ')[1]), headers, body: rest.toString('utf8'), complete: true };
  const parts: Buffer[] = [];
  let complete = false;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    if (lineEnd < 0) break;
    const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
    if (size === 0) {
      complete = true;
      break;
    }
    if (rest.length < lineEnd + 2 + size) break;
    parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
    rest = rest.subarray(lineEnd + 2 + size + 2);
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body: Buffer.concat(parts).toString('utf8'), complete };
}

describe('slow consumers', () => {
  const VALUE_BYTES = 64 * 1024;

  it('drops a watcher that stops reading, with event: error slow_consumer, without blocking writers or other watchers', async () => {
    // A long grace: on a loaded machine the test may take seconds to see the eviction and start reading again.
    await withServer({ limits: { watchBufferBytesMax: 65_536, watchCloseGraceMs: 30_000 } }, async ({ url, watch }) => {
      const { port } = new URL(url);
      const socket: Socket = connect(Number(port), '127.0.0.1');
      const chunks: Buffer[] = [];
      let socketClosed = false;
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('close', () => (socketClosed = true));
      socket.on('error', () => {});
      try {
        await once(socket, 'connect');
        socket.write(`GET /v1/watch?prefix=big/ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n`);
        // The stream is open (and subscribed) once its opening comment arrives; from then on, never read.
        await pollUntil(async () => Buffer.concat(chunks).includes(': kvs watch'), 'the slow watch to open', 5_000);
        socket.pause();

        const normal = await watch('prefix=big/&values=true');
        const random = seededRandom(7);
        const value = Buffer.alloc(VALUE_BYTES);
        const acked: number[] = [];
        for (let i = 0; i < 200; i++) {
          for (let b = 0; b < value.length; b += 4) value.writeUInt32LE((random() * 0x100000000) >>> 0, b);
          const response = await request(keyUrl(url, `big/${i % 10}`), {
            method: 'PUT',
            body: value,
            headers: { 'content-type': 'application/octet-stream' },
            signal: AbortSignal.timeout(10_000),
          });
          assert.ok(response.status === 200 || response.status === 201, `write ${i} was not acknowledged: ${response.status} ${response.text}`);
          acked.push(response.body.revision);
        }

        // The normal watcher, which reads as fast as it can, received every revision and is still open.
        const lastRevision = acked.at(-1)!;
        const deadline = Date.now() + 30_000;
        while (!normal.closed && !normal.events('change').some((message) => Number(message.id) === lastRevision) && Date.now() < deadline) await sleep(20);
        assert.equal(
          normal.closed,
          false,
          `the normal watcher was dropped after ${normal.events('change').length} of ${acked.length} changes; its last message: ${JSON.stringify(normal.messages.at(-1)).slice(0, 300)}`,
        );
        assert.deepEqual(
          changesOf(normal).map((change) => change.revision),
          acked,
        );
        assert.equal(normal.closed, false);

        // The slow one was dropped.
        await pollUntil(async () => (await metric(url, 'kvs_watch_evictions_total')) >= 1, 'kvs_watch_evictions_total >= 1');
        assert.equal(await metric(url, 'kvs_watchers'), 1, 'only the normal watcher is left');

        // Once read, its stream ends with the error message, and the connection closes.
        socket.resume();
        await pollUntil(async () => socketClosed, 'the slow watcher’s connection to close', 15_000);
        const response = parseRawResponse(Buffer.concat(chunks));
        assert.equal(response.status, 200);
        assert.match(response.headers['content-type'] ?? '', /^text\/event-stream/);
        assert.ok(
          response.body.endsWith('event: error\ndata: {"code":"slow_consumer"}\n\n'),
          `the stream ends with ${JSON.stringify(response.body.slice(-200))}`,
        );
        // What it did receive before being dropped is a gap-free prefix of the revisions.
        const received = [...response.body.matchAll(/^id: (\d+)\nevent: change\n/gm)].map((match) => Number(match[1]));
        assert.ok(received.length < acked.length, `the slow watcher got ${received.length} of ${acked.length} changes`);
        assert.deepEqual(received, acked.slice(0, received.length));
        await pollUntil(async () => (await metric(url, 'kvs_watch_streams')) === 1, 'one watch stream left');
      } finally {
        socket.destroy();
      }
    });
  });
});

describe('cleanup', () => {
  it('watchers whose clients went away leave no watcher or stream behind', async () => {
    await withServer({}, async ({ url }) => {
      await putJson(url, 'gone/seed', 0);
      const clients: SseClient[] = [];
      try {
        for (let i = 0; i < 30; i++) {
          const query = [`key=gone/${i}`, `prefix=gone/`, `prefix=gone/${i}/&values=false`, `key=gone/seed&since=0`, 'prefix='][i % 5]!;
          clients.push(await SseClient.connect(`${url}/v1/watch?${query}`));
        }
        await pollUntil(
          async () => (await metric(url, 'kvs_watch_streams')) === 30 && (await metric(url, 'kvs_watchers')) === 30,
          '30 watchers are registered',
        );
        const write = (await putJson(url, 'gone/1', 1)).revision;
        await untilRevision(clients[1]!, write);
      } finally {
        for (const client of clients) client.close();
      }
      await pollUntil(
        async () => (await metric(url, 'kvs_watchers')) === 0 && (await metric(url, 'kvs_watch_streams')) === 0,
        'kvs_watchers and kvs_watch_streams are back to 0',
      );
      // Writes after that reach no one and break nothing.
      await putJson(url, 'gone/2', 2);
      assert.equal(await metric(url, 'kvs_watchers'), 0);
    });
  });
});

describe('watch parameters and limits', () => {
  it('refuses bad parameters with 400 before any stream', async () => {
    await withServer({}, async ({ url }) => {
      expectProblem(await refusedWatch(url, 'key=a&prefix=a'), 400, 'invalid_request');
      expectProblem(await refusedWatch(url, ''), 400, 'invalid_request');
      expectProblem(await refusedWatch(url, 'values=true'), 400, 'invalid_request');
      expectProblem(await refusedWatch(url, 'prefix=&since=abc'), 400, 'invalid_request');
      expectProblem(await refusedWatch(url, 'prefix=&since=-1'), 400, 'invalid_request');
      expectProblem(await refusedWatch(url, 'prefix=&since=1.5'), 400, 'invalid_request');
      expectProblem(await refusedWatch(url, 'key=a/../b'), 400, 'invalid_key');
      expectProblem(await refusedWatch(url, 'key=a%00b'), 400, 'invalid_key');
      expectProblem(await refusedWatch(url, 'key='), 400, 'invalid_key');
      assert.equal(await metric(url, 'kvs_watch_streams'), 0);
    });
  });

  it('with watchersMax reached, a further watch is 503 unavailable with Retry-After; a freed place is reusable', async () => {
    await withServer({ limits: { watchersMax: 2 } }, async ({ url, watch }) => {
      const first = await watch('prefix=');
      await watch('key=x');
      const refused = await refusedWatch(url, 'prefix=y/');
      expectProblem(refused, 503, 'unavailable');
      const retryAfter = refused.headers.get('retry-after');
      assert.ok(retryAfter !== null && /^\d+$/.test(retryAfter), `Retry-After: ${retryAfter}`);

      first.close();
      await pollUntil(async () => (await metric(url, 'kvs_watch_streams')) === 1, 'the first watch to be gone');
      const third = await watch('prefix=y/');
      const write = (await putJson(url, 'y/1', 1)).revision;
      await untilRevision(third, write);
    });
  });
});

describe('shutdown', () => {
  it('closing the server ends open watch streams and completes promptly', async () => {
    const server = await startTestServer();
    let closed = false;
    const clients: SseClient[] = [];
    try {
      clients.push(await SseClient.connect(`${server.url}/v1/watch?prefix=`));
      clients.push(await SseClient.connect(`${server.url}/v1/watch?key=k&since=0`));
      const write = (await putJson(server.url, 'k', 1)).revision;
      for (const client of clients) await untilRevision(client, write);

      const startedAt = Date.now();
      const closing = server.close().then(() => (closed = true));
      const outcome = await Promise.race([closing.then(() => 'closed'), sleep(10_000).then(() => 'timeout')]);
      const elapsed = Date.now() - startedAt;
      assert.equal(outcome, 'closed', 'server.close() did not resolve within 10 s');
      assert.ok(elapsed < 5_000, `server.close() took ${elapsed} ms`);
      for (const client of clients) await client.untilClosed(5_000);
      assert.deepEqual(
        changesOf(clients[0]!).map((change) => change.revision),
        [write],
      );
    } finally {
      for (const client of clients) client.close();
      if (!closed) await server.close();
    }
  });
});
