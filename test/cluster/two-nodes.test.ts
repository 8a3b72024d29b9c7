import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { EtcdCluster } from '../helpers/etcd-cluster.js';
import { encodeKey, expectProblem, type JsonResponse } from '../helpers/http.js';
import { leftoversCleanedAfter, sleep, type ServerProcess } from '../helpers/server.js';
import { SseClient, type SseMessage } from '../helpers/sse.js';

/**
 * Two `kvs serve` processes on one real 3-member etcd cluster, one store (the
 * same KV_ETCD_PREFIX), everything through real HTTP: what a client talking to
 * either node must see (API.md §3, §5, §6, §9 — "on the etcd engine,
 * linearizable cluster-wide"): its own writes from the other node, exactly one
 * winner of every conditional-write race, counters that lose and double
 * nothing, watches that report the other node's writes in revision order, TTLs
 * that end on both nodes with an `expire` event, and atomic transactions
 * against the other node's writes.
 */

const REQUEST_TIMEOUT_MS = 15_000;
const leftovers = leftoversCleanedAfter('kvs-cluster-two-nodes-');
const PREFIX = `kvs-test/two-nodes-${randomBytes(4).toString('hex')}/`;

let cluster: EtcdCluster;
let nodeA: ServerProcess;
let nodeB: ServerProcess;
let a: string;
let b: string;
const watches: SseClient[] = [];

function spawnNode(): Promise<ServerProcess> {
  return leftovers.spawn({
    KV_ENGINE: 'etcd',
    ETCD_ENDPOINTS: cluster.endpoints.join(','),
    KV_ETCD_PREFIX: PREFIX,
    DATA_DIRECTORY: leftovers.directory(),
    LOG_LEVEL: 'warn',
  });
}

before(async () => {
  cluster = await EtcdCluster.start();
  nodeA = await spawnNode();
  nodeB = await spawnNode();
  a = nodeA.url;
  b = nodeB.url;
});

after(async () => {
  for (const watch of watches) watch.close();
  for (const node of [nodeA, nodeB]) {
    if (node === undefined) continue;
    node.kill('SIGKILL');
    await node.exited;
  }
  await cluster?.stop();
});

// ---------------------------------------------------------------------------
// HTTP, bounded: a request that hangs fails the test instead of hanging it.

async function call(url: string, init: RequestInit = {}): Promise<JsonResponse> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  let body: any;
  if (type.includes('json') && text !== '') body = JSON.parse(text);
  return { status: response.status, headers: response.headers, body, text };
}

const kv = (base: string, key: string, query?: string): string => `${base}/v1/kv/${encodeKey(key)}${query === undefined ? '' : `?${query}`}`;

function put(base: string, key: string, value: string, headers: Record<string, string> = {}, query?: string): Promise<JsonResponse> {
  return call(kv(base, key, query), { method: 'PUT', body: value, headers: { 'content-type': 'text/plain', ...headers } });
}

function get(base: string, key: string): Promise<JsonResponse> {
  return call(kv(base, key));
}

function txn(base: string, body: unknown): Promise<JsonResponse> {
  return call(`${base}/v1/txn`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

function add(base: string, key: string, by = 1): Promise<JsonResponse> {
  return call(`${kv(base, key)}?op=add&by=${by}`, { method: 'POST' });
}

function assertWritten(response: JsonResponse, what: string): { key: string; revision: number; createRevision: number; version: number; expiresAt?: string } {
  assert.ok(response.status === 200 || response.status === 201, `${what}: ${response.status} ${response.text}`);
  assert.equal(typeof response.body?.revision, 'number', `${what}: a revision in ${response.text}`);
  assert.equal(response.headers.get('etag'), `"${response.body.revision}"`, `${what}: the ETag is the revision`);
  return response.body;
}

async function watch(base: string, query: string): Promise<SseClient> {
  const client = await SseClient.connect(`${base}/v1/watch?${query}`);
  watches.push(client);
  return client;
}

interface WatchEvent {
  type: string;
  key: string;
  revision: number;
  version?: number;
  value?: unknown;
  encoding?: string;
}

interface Change {
  revision: number;
  events: WatchEvent[];
}

/** The change messages of a stream, each checked to be well-formed (id = revision = every event's revision). */
function changesOf(messages: SseMessage[]): Change[] {
  return messages
    .filter((message) => message.event === 'change')
    .map((message) => {
      const change = JSON.parse(message.data) as Change;
      assert.equal(message.id, String(change.revision), `a change message's id is its revision: ${JSON.stringify(message)}`);
      assert.ok(change.events.length > 0, `a change message carries events: ${message.data}`);
      for (const event of change.events) assert.equal(event.revision, change.revision, `an event has its message's revision: ${message.data}`);
      return change;
    });
}

async function untilRevision(client: SseClient, revision: number, what: string, timeoutMs = 10_000): Promise<void> {
  await client.until((messages) => messages.some((message) => message.event === 'change' && Number(message.id) >= revision), timeoutMs, what);
}

function assertNoErrorEvents(client: SseClient, what: string): void {
  assert.deepEqual(client.events('error'), [], `${what}: the stream reported no error`);
}

// ---------------------------------------------------------------------------

describe('two kvs nodes on one etcd cluster', () => {
  it('read-your-writes across nodes: a write acknowledged by one node is what the other reads next, with the same revision', async () => {
    let lastRevision = 0;
    for (let i = 0; i < 120; i++) {
      // Mostly A then B; every fourth the other way round.
      const [writer, reader] = i % 4 === 3 ? [b, a] : [a, b];
      const key = `ryw/${i % 10}`;
      const value = `value-${i}-${randomBytes(3).toString('hex')}`;
      const written = assertWritten(await put(writer, key, value), `PUT ${key} #${i}`);
      assert.ok(written.revision > lastRevision, `revisions increase across nodes: ${written.revision} after ${lastRevision}`);
      lastRevision = written.revision;

      const read = await get(reader, key);
      assert.equal(read.status, 200, `GET ${key} #${i} through the other node right after the PUT: ${read.text}`);
      assert.equal(read.text, value, `GET ${key} #${i} returns the value just written`);
      assert.equal(read.headers.get('etag'), `"${written.revision}"`, `GET ${key} #${i}: the ETag of the write`);
      assert.equal(read.headers.get('kv-version'), String(written.version), `GET ${key} #${i}: the version of the write`);
      assert.equal(read.headers.get('kv-create-revision'), String(written.createRevision), `GET ${key} #${i}: the create revision`);
      assert.equal(read.headers.get('content-type'), 'text/plain');
      assert.ok(
        Number(read.headers.get('kv-revision')) >= written.revision,
        `GET ${key} #${i}: the store revision read (${read.headers.get('kv-revision')}) is at least the write's`,
      );

      if (i % 10 === 9) {
        // A delete through one node is a 404 through the other at once.
        const deleted = await call(kv(writer, key), { method: 'DELETE' });
        assert.equal(deleted.status, 204, `DELETE ${key}: ${deleted.text}`);
        const gone = await get(reader, key);
        assert.equal(gone.status, 404, `GET ${key} through the other node right after its DELETE: ${gone.text}`);
        expectProblem(gone, 404, 'key_not_found');
        assert.ok(Number(gone.headers.get('kv-revision')) >= Number(deleted.headers.get('kv-revision')), 'the 404 was read at or after the delete');
      }
    }
  });

  it('CAS across nodes: of two PUTs with If-Match of the same ETag, one on each node, exactly one wins and the other is 412 (50 rounds)', async (t) => {
    const key = 'cas/k';
    assertWritten(await put(a, key, 'start'), 'PUT cas/k');
    const wins = { a: 0, b: 0 };
    for (let round = 0; round < 50; round++) {
      const [readA, readB] = await Promise.all([get(a, key), get(b, key)]);
      assert.equal(readA.status, 200, readA.text);
      assert.equal(readB.status, 200, readB.text);
      const etag = readA.headers.get('etag')!;
      assert.equal(readB.headers.get('etag'), etag, `round ${round}: both nodes read the same ETag`);
      assert.equal(readB.text, readA.text, `round ${round}: both nodes read the same value`);

      const values = { a: `a-${round}`, b: `b-${round}` };
      const [fromA, fromB] = await Promise.all([put(a, key, values.a, { 'if-match': etag }), put(b, key, values.b, { 'if-match': etag })]);
      const statuses = [fromA.status, fromB.status].sort();
      assert.deepEqual(statuses, [200, 412], `round ${round}: one 200 and one 412 (A: ${fromA.status} ${fromA.text}; B: ${fromB.status} ${fromB.text})`);
      const [winner, loser, value] = fromA.status === 200 ? [fromA, fromB, values.a] : [fromB, fromA, values.b];
      if (winner === fromA) wins.a++;
      else wins.b++;
      const won = assertWritten(winner, `round ${round}: the winner`);
      assert.ok(won.revision > Number(etag.replaceAll('"', '')), 'the winning write has a new revision');
      const problem = expectProblem(loser, 412, 'precondition_failed');
      assert.equal(problem.currentRevision, won.revision, `round ${round}: the 412 names the winner's revision`);

      for (const [name, base] of [
        ['A', a],
        ['B', b],
      ] as const) {
        const now = await get(base, key);
        assert.equal(now.text, value, `round ${round}: node ${name} reads the winner's value`);
        assert.equal(now.headers.get('etag'), `"${won.revision}"`, `round ${round}: node ${name} reads the winner's revision`);
      }
    }
    assert.equal(wins.a + wins.b, 50);
    t.diagnostic(`CAS winners: node A ${wins.a}, node B ${wins.b}`);
  });

  it('create race across nodes: of two PUTs with If-None-Match: *, one on each node, exactly one creates the key (50 rounds)', async () => {
    for (let round = 0; round < 50; round++) {
      const key = `create/${round}`;
      const [fromA, fromB] = await Promise.all([put(a, key, 'from-a', { 'if-none-match': '*' }), put(b, key, 'from-b', { 'if-none-match': '*' })]);
      const statuses = [fromA.status, fromB.status].sort();
      assert.deepEqual(statuses, [201, 412], `round ${round}: one 201 and one 412 (A: ${fromA.status} ${fromA.text}; B: ${fromB.status} ${fromB.text})`);
      const [winner, loser, value] = fromA.status === 201 ? [fromA, fromB, 'from-a'] : [fromB, fromA, 'from-b'];
      const created = assertWritten(winner, `round ${round}: the creator`);
      assert.equal(created.version, 1);
      assert.equal(created.createRevision, created.revision);
      assert.equal(expectProblem(loser, 412, 'precondition_failed').currentRevision, created.revision);
      for (const base of [a, b]) {
        const now = await get(base, key);
        assert.equal(now.text, value, `round ${round}: the creator's value`);
        assert.equal(now.headers.get('kv-version'), '1', `round ${round}: the loser did not overwrite it`);
      }
    }
  });

  it('counters: 8 clients × 50 op=add through alternating nodes lose and double nothing; every acknowledged result is distinct', async () => {
    const key = 'counter/n';
    const CLIENTS = 8;
    const ADDS = 50;
    interface Answer {
      client: number;
      status: number;
      value?: number;
      revision?: number;
      text: string;
    }
    const answers: Answer[] = [];
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, client) => {
        for (let i = 0; i < ADDS; i++) {
          const base = (client + i) % 2 === 0 ? a : b;
          const response = await add(base, key);
          answers.push({ client, status: response.status, value: response.body?.value, revision: response.body?.revision, text: response.text });
        }
      }),
    );
    const acknowledged = answers.filter((answer) => answer.status === 200);
    const others = answers.filter((answer) => answer.status !== 200);
    // On a healthy cluster nothing should fail; the contract would allow a 503 (a txn that kept losing races), never anything else.
    for (const other of others) assert.equal(other.status, 503, `an add answered ${other.status}: ${other.text}`);
    assert.equal(
      others.length,
      0,
      `every add succeeds on a healthy cluster: ${others.length} did not (${others
        .slice(0, 3)
        .map((other) => other.text)
        .join(' | ')})`,
    );

    const values = acknowledged.map((answer) => answer.value!);
    assert.equal(new Set(values).size, values.length, 'every acknowledged add returned a distinct value');
    const revisions = acknowledged.map((answer) => answer.revision!);
    assert.equal(new Set(revisions).size, revisions.length, 'every acknowledged add has a revision of its own');
    // Ordered by revision, the values count up by one: each add applied once, on the value before it.
    const byRevision = [...acknowledged].sort((x, y) => x.revision! - y.revision!);
    byRevision.forEach((answer, index) =>
      assert.equal(answer.value, index + 1, `the add at revision ${answer.revision} returned ${answer.value}, expected ${index + 1}`),
    );

    for (const [name, base] of [
      ['A', a],
      ['B', b],
    ] as const) {
      const final = await get(base, key);
      assert.equal(final.status, 200, final.text);
      assert.equal(Number(final.text), acknowledged.length, `node ${name}: the counter equals the number of acknowledged adds`);
      assert.equal(final.headers.get('etag'), `"${byRevision.at(-1)!.revision}"`, `node ${name}: the counter's revision is the last add's`);
      assert.equal(final.headers.get('kv-version'), String(acknowledged.length));
    }
  });

  it('cross-node watch: a watch on node A reports the writes made through node B, in revision order, with their types', async () => {
    const onA = await watch(a, 'prefix=w/');
    const keyOnA = await watch(a, 'key=w/a');
    const onB = await watch(b, 'prefix=w/');

    const revisions: number[] = [];
    revisions.push(assertWritten(await put(b, 'w/a', 'one'), 'PUT w/a').revision);
    revisions.push(
      assertWritten(await call(kv(b, 'w/b'), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"n":1}' }), 'PUT w/b').revision,
    );
    revisions.push(assertWritten(await put(b, 'w/a', 'two'), 'PUT w/a again').revision);
    const added = await add(b, 'w/n', 5);
    assert.equal(added.status, 200, added.text);
    revisions.push(added.body.revision);
    const deleted = await call(kv(b, 'w/b'), { method: 'DELETE' });
    assert.equal(deleted.status, 204, deleted.text);
    revisions.push(Number(deleted.headers.get('kv-revision')));
    const both = await txn(b, {
      ops: [
        { op: 'put', key: 'w/c', value: 'c', encoding: 'utf8' },
        { op: 'delete', key: 'w/a' },
      ],
    });
    assert.equal(both.status, 200, both.text);
    revisions.push(both.body.revision);
    // Outside the prefix: must not show up.
    assertWritten(await put(b, 'other/x', 'x'), 'PUT other/x');

    await untilRevision(onA, revisions.at(-1)!, 'the txn through node B, on node A');
    await untilRevision(keyOnA, revisions.at(-1)!, 'the delete of w/a through node B, on node A');
    await untilRevision(onB, revisions.at(-1)!, 'the txn through node B, on node B');

    const expected: Change[] = [
      { revision: revisions[0]!, events: [{ type: 'put', key: 'w/a', revision: revisions[0]!, version: 1, value: 'one', encoding: 'utf8' }] },
      { revision: revisions[1]!, events: [{ type: 'put', key: 'w/b', revision: revisions[1]!, version: 1, value: { n: 1 }, encoding: 'json' }] },
      { revision: revisions[2]!, events: [{ type: 'put', key: 'w/a', revision: revisions[2]!, version: 2, value: 'two', encoding: 'utf8' }] },
      { revision: revisions[3]!, events: [{ type: 'put', key: 'w/n', revision: revisions[3]!, version: 1, value: 5, encoding: 'json' }] },
      { revision: revisions[4]!, events: [{ type: 'delete', key: 'w/b', revision: revisions[4]! }] },
      {
        revision: revisions[5]!,
        // One revision, both events (the API does not order events within a revision: compared by key).
        events: [
          { type: 'delete', key: 'w/a', revision: revisions[5]! },
          { type: 'put', key: 'w/c', revision: revisions[5]!, version: 1, value: 'c', encoding: 'utf8' },
        ],
      },
    ];
    const summary = (changes: Change[]) =>
      changes.map((change) => ({
        revision: change.revision,
        events: change.events
          .map(({ type, key, revision, version, value, encoding }) => ({
            type,
            key,
            revision,
            ...(version === undefined ? {} : { version }),
            ...(type === 'put' ? { value, encoding } : {}),
          }))
          .sort((x, y) => x.key.localeCompare(y.key)),
      }));

    const seenOnA = changesOf(onA.messages);
    for (let i = 1; i < seenOnA.length; i++) assert.ok(seenOnA[i]!.revision > seenOnA[i - 1]!.revision, 'node A delivers in increasing revision order');
    assert.deepEqual(summary(seenOnA), expected, 'node A reports exactly the writes made through node B');
    assert.deepEqual(changesOf(onB.messages), seenOnA, 'node B reports the very same messages as node A');
    assert.deepEqual(
      summary(changesOf(keyOnA.messages)),
      [expected[0]!, expected[2]!, { revision: revisions[5]!, events: [{ type: 'delete', key: 'w/a', revision: revisions[5]! }] }],
      'a key watch on node A sees only its key',
    );

    // Resuming from history on the other node gives the same messages.
    const replay = await watch(b, `prefix=w/&since=${revisions[0]! - 1}`);
    await untilRevision(replay, revisions.at(-1)!, 'the replay on node B');
    assert.deepEqual(changesOf(replay.messages), seenOnA, 'a watch on node B resumed from history replays what node A delivered live');
    for (const [name, client] of [
      ['A prefix', onA],
      ['A key', keyOnA],
      ['B prefix', onB],
      ['B replay', replay],
    ] as const) {
      assertNoErrorEvents(client, name);
      assert.equal(client.closed, false, `${name}: the stream is still open`);
      client.close();
    }
  });

  it('TTL: a key with a 1.5 s TTL written through A reads on both nodes until its deadline, then 404 on both, and a watch on B gets its expire', async () => {
    const key = 'ttl/k';
    const onB = await watch(b, `key=${key}`);
    const onA = await watch(a, 'prefix=ttl/');
    const sentAt = Date.now();
    const written = assertWritten(await put(a, key, 'short-lived', {}, 'ttl=1.5'), 'PUT ttl/k?ttl=1.5');
    const answeredAt = Date.now();
    assert.ok(written.expiresAt !== undefined, `the write shows its deadline: ${JSON.stringify(written)}`);
    const deadline = Date.parse(written.expiresAt!);
    assert.ok(
      deadline >= sentAt + 1_500 - 5 && deadline <= answeredAt + 1_500 + 5,
      `the deadline ${written.expiresAt} is 1.5 s after the write (sent ${new Date(sentAt).toISOString()}, answered ${new Date(answeredAt).toISOString()})`,
    );

    for (const [name, base] of [
      ['A', a],
      ['B', b],
    ] as const) {
      const readAt = Date.now();
      const read = await get(base, key);
      if (read.status !== 200 && readAt >= deadline) continue; // this machine was too slow to read before the deadline
      assert.equal(read.status, 200, `node ${name} reads the key ${deadline - readAt} ms before its deadline: ${read.text}`);
      assert.equal(read.text, 'short-lived');
      assert.equal(read.headers.get('kv-expires-at'), written.expiresAt, `node ${name} shows the deadline`);
      assert.equal(read.headers.get('etag'), `"${written.revision}"`);
    }

    // Poll both nodes: 200 only for reads sent before the deadline, then 404 on both.
    const gone = { A: false, B: false };
    while (!(gone.A && gone.B)) {
      assert.ok(Date.now() < deadline + 5_000, `the key still reads on ${gone.A ? '' : 'A '}${gone.B ? '' : 'B'} 5 s after its deadline`);
      for (const [name, base] of [
        ['A', a],
        ['B', b],
      ] as const) {
        const readAt = Date.now();
        const read = await get(base, key);
        if (read.status === 200) {
          assert.equal(gone[name], false, `node ${name} read the key again after a 404`);
          assert.ok(readAt < deadline + 5, `node ${name} read the key ${readAt - deadline} ms after its deadline`);
        } else {
          expectProblem(read, 404, 'key_not_found');
          assert.ok(Date.now() >= deadline, `node ${name} said 404 ${deadline - Date.now()} ms before the deadline`);
          gone[name] = true;
        }
      }
      await sleep(50);
    }

    // The lease's removal: a shared per-second lease, revoked by etcd's 500 ms sweep.
    const hasExpire = (messages: SseMessage[]) => changesOf(messages).some((change) => change.events.some((event) => event.type === 'expire'));
    await onB.until(hasExpire, Math.max(0, deadline + 6_000 - Date.now()), 'the expire event on node B');
    const expiredAt = Date.now();
    assert.ok(expiredAt - deadline <= 6_000, `the expire event came ${expiredAt - deadline} ms after the deadline`);
    const changes = changesOf(onB.messages);
    assert.equal(changes.length, 2, `a put and an expire: ${JSON.stringify(changes)}`);
    assert.equal(changes[0]!.revision, written.revision);
    assert.equal(changes[0]!.events[0]!.type, 'put');
    const expire = changes[1]!;
    assert.ok(expire.revision > written.revision);
    assert.deepEqual(expire.events, [{ type: 'expire', key, revision: expire.revision }]);
    // Node A (which wrote it) reports the same expiry.
    await untilRevision(onA, expire.revision, 'the expire event on node A');
    assert.deepEqual(changesOf(onA.messages), changes);

    for (const base of [a, b]) {
      assert.equal((await get(base, key)).status, 404);
      const listed = await call(`${base}/v1/kv?prefix=ttl/`);
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body.items, [], 'the expired key is not listed');
    }
    // A new write after the expiry creates the key anew.
    const again = assertWritten(await put(b, key, 'again'), 'PUT ttl/k after expiry');
    assert.equal(again.version, 1);
    assert.equal(again.createRevision, again.revision);
    onA.close();
    onB.close();
  });

  it('txn on A with a check that a write through B invalidated applies nothing (409), and concurrent txn/put races stay atomic', async (t) => {
    // Deterministic: A reads x, B overwrites x, A's txn pinned to the old revision must fail whole.
    const x0 = assertWritten(await put(a, 'txn/x', 'x0'), 'PUT txn/x');
    const x1 = assertWritten(await put(b, 'txn/x', 'x1'), 'PUT txn/x through B');
    const failed = await txn(a, {
      checks: [
        { key: 'txn/x', revision: x0.revision },
        { key: 'txn/y', exists: false },
      ],
      ops: [
        { op: 'put', key: 'txn/x', value: 'from-txn', encoding: 'utf8' },
        { op: 'put', key: 'txn/y', value: 'from-txn', encoding: 'utf8' },
        { op: 'add', key: 'txn/count', by: 1 },
      ],
    });
    assert.deepEqual(expectProblem(failed, 409, 'txn_conflict').failedChecks, [0]);
    for (const base of [a, b]) {
      const x = await get(base, 'txn/x');
      assert.equal(x.text, 'x1', 'x keeps the value B wrote');
      assert.equal(x.headers.get('etag'), `"${x1.revision}"`);
      assert.equal((await get(base, 'txn/y')).status, 404, 'the failed txn created no y');
      assert.equal((await get(base, 'txn/count')).status, 404, 'the failed txn added nothing');
    }
    // A create-only check lost to a create through B.
    assertWritten(await put(b, 'txn/fresh', 'by-b', { 'if-none-match': '*' }), 'create through B');
    const lostCreate = await txn(a, {
      checks: [{ key: 'txn/fresh', exists: false }],
      ops: [
        { op: 'put', key: 'txn/fresh', value: 'by-a', encoding: 'utf8' },
        { op: 'put', key: 'txn/fresh-mark', value: 1 },
      ],
    });
    assert.deepEqual(expectProblem(lostCreate, 409, 'txn_conflict').failedChecks, [0]);
    assert.equal((await get(a, 'txn/fresh')).text, 'by-b');
    assert.equal((await get(b, 'txn/fresh-mark')).status, 404);

    // Races: each round, A's txn (pinned to what it read of p) and B's plain PUT of p go at once.
    // Either the txn committed before B's put (q and the count moved with it), or it failed whole.
    let committed = 0;
    let conflicts = 0;
    for (let round = 0; round < 40; round++) {
      const p = assertWritten(await put(a, 'race/p', `p-${round}`), 'PUT race/p');
      const token = `t-${round}`;
      const [fromTxn, fromB] = await Promise.all([
        txn(a, {
          checks: [{ key: 'race/p', revision: p.revision }],
          ops: [
            { op: 'put', key: 'race/p', value: token, encoding: 'utf8' },
            { op: 'put', key: 'race/q', value: token, encoding: 'utf8' },
            { op: 'add', key: 'race/count', by: 1 },
          ],
        }),
        put(b, 'race/p', `b-${round}`),
      ]);
      const bWrite = assertWritten(fromB, `round ${round}: B's put`);
      const q = await get(b, 'race/q');
      const count = await get(a, 'race/count');
      if (fromTxn.status === 200) {
        committed++;
        assert.equal(fromTxn.body.committed, true);
        assert.ok(
          bWrite.revision > fromTxn.body.revision,
          `round ${round}: the txn committed at ${fromTxn.body.revision}, so B's put (${bWrite.revision}) came after it`,
        );
        assert.equal(q.text, token, `round ${round}: the committed txn's q`);
        assert.equal(q.headers.get('etag'), `"${fromTxn.body.revision}"`);
        assert.equal(fromTxn.body.results[2].value, committed);
      } else {
        conflicts++;
        assert.deepEqual(expectProblem(fromTxn, 409, 'txn_conflict').failedChecks, [0], `round ${round}`);
        if (round === 0) assert.equal(q.status, 404);
        else assert.notEqual(q.text, token, `round ${round}: the failed txn did not write q`);
      }
      assert.equal(count.status === 404 ? 0 : Number(count.text), committed, `round ${round}: the count equals the txns that committed`);
      const pNow = await get(a, 'race/p');
      assert.equal(pNow.text, `b-${round}`, `round ${round}: B's put is the last write of p either way`);
    }
    assert.equal(committed + conflicts, 40);
    t.diagnostic(`txn/put races: ${committed} txns committed first, ${conflicts} lost to the put`);
  });
});
