import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { EtcdCluster } from '../helpers/etcd-cluster.js';
import { encodeKey } from '../helpers/http.js';
import { leftoversCleanedAfter, sleep, type ServerProcess } from '../helpers/server.js';
import { SseClient } from '../helpers/sse.js';

/**
 * etcd members dying under two `kvs serve` nodes (API.md §7, §8, §9): with one
 * of three members killed (kill -9, the leader when it can be told), writes go
 * on after a short window of 503s, nothing acknowledged is lost, /readyz stays
 * 200 and watches keep reporting every write exactly once; with two of three
 * gone (no quorum), /readyz turns 503 and writes fail fast with 503 — never a
 * 500, never a hang — and once the members are back everything resumes.
 */

const WRITERS = 8;
/** Longest a request may take while members die: the engine's own deadlines are 3 s per etcd call. */
const MAX_REQUEST_MS = 15_000;
const leftovers = leftoversCleanedAfter('kvs-cluster-member-failure-');
const PREFIX = `kvs-test/member-failure-${randomBytes(4).toString('hex')}/`;

let cluster: EtcdCluster;
let nodes: ServerProcess[] = [];
/** Members this file killed and has not restarted. */
const down = new Set<number>();
const watches: SseClient[] = [];

before(async () => {
  cluster = await EtcdCluster.start();
  const env = () => ({
    KV_ENGINE: 'etcd',
    ETCD_ENDPOINTS: cluster.endpoints.join(','),
    KV_ETCD_PREFIX: PREFIX,
    DATA_DIRECTORY: leftovers.directory(),
    LOG_LEVEL: 'warn',
  });
  nodes = [await leftovers.spawn(env()), await leftovers.spawn(env())];
});

after(async () => {
  for (const watch of watches) watch.close();
  for (const node of nodes) {
    node.kill('SIGKILL');
    await node.exited;
  }
  await cluster?.stop();
});

async function killMember(index: number): Promise<void> {
  await cluster.kill(index);
  down.add(index);
}

async function restartMember(index: number): Promise<void> {
  await cluster.restart(index);
  down.delete(index);
}

/** The index of the current leader, as the running members report it (etcd's gRPC gateway); null if none answers. */
async function leaderIndex(): Promise<number | null> {
  const ids: Array<string | null> = await Promise.all(
    cluster.endpoints.map(async (endpoint, index) => {
      if (down.has(index)) return null;
      try {
        const response = await fetch(`${endpoint}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1_000) });
        const status = (await response.json()) as { header?: { member_id?: string }; leader?: string };
        return status.header?.member_id === status.leader ? (status.leader ?? null) : null;
      } catch {
        return null;
      }
    }),
  );
  const index = ids.findIndex((id) => id !== null);
  return index === -1 ? null : index;
}

// ---------------------------------------------------------------------------
// Requests and what they answered.

interface Answer {
  status: number;
  /** -1: no HTTP answer (connection error or our deadline). */
  text: string;
  contentType: string;
  retryAfter: string | null;
  ms: number;
}

async function call(url: string, init: RequestInit = {}, timeoutMs = MAX_REQUEST_MS + 5_000): Promise<Answer> {
  const startedAt = Date.now();
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const text = await response.text();
    return {
      status: response.status,
      text,
      contentType: response.headers.get('content-type') ?? '',
      retryAfter: response.headers.get('retry-after'),
      ms: Date.now() - startedAt,
    };
  } catch (error) {
    return { status: -1, text: String((error as Error).cause ?? error), contentType: '', retryAfter: null, ms: Date.now() - startedAt };
  }
}

/** What is wrong with an answer that is not a 2xx: anything but a well-formed 503 unavailable, or one that took too long. */
function unavailableProblem(what: string, answer: Answer): string | null {
  if (answer.ms > MAX_REQUEST_MS) return `${what}: took ${answer.ms} ms (status ${answer.status})`;
  if (answer.status === -1) return `${what}: no HTTP answer after ${answer.ms} ms: ${answer.text}`;
  if (answer.status !== 503) return `${what}: ${answer.status} ${answer.text.slice(0, 300)}`;
  if (!answer.contentType.startsWith('application/problem+json')) return `${what}: 503 as ${answer.contentType}: ${answer.text.slice(0, 300)}`;
  try {
    const problem = JSON.parse(answer.text) as { status?: unknown; code?: unknown; detail?: unknown };
    if (problem.status !== 503 || problem.code !== 'unavailable' || typeof problem.detail !== 'string')
      return `${what}: malformed 503 problem: ${answer.text.slice(0, 300)}`;
  } catch {
    return `${what}: 503 body is not JSON: ${answer.text.slice(0, 300)}`;
  }
  if (answer.retryAfter === null) return `${what}: 503 without Retry-After`;
  return null;
}

const kv = (base: string, key: string): string => `${base}/v1/kv/${encodeKey(key)}`;

function putText(base: string, key: string, value: string): Promise<Answer> {
  return call(kv(base, key), { method: 'PUT', body: value, headers: { 'content-type': 'text/plain' } });
}

async function readyStatus(base: string): Promise<number> {
  return (await call(`${base}/readyz`, {}, 10_000)).status;
}

/** Polls until `condition` holds; returns how long that took, or fails after `timeoutMs`. */
async function within(timeoutMs: number, what: string, condition: () => Promise<boolean>): Promise<number> {
  const startedAt = Date.now();
  for (;;) {
    if (await condition()) return Date.now() - startedAt;
    if (Date.now() - startedAt > timeoutMs) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------
// The load: WRITERS clients each PUT distinct keys, alternating nodes.

interface Write {
  key: string;
  value: string;
  node: number;
  startedAt: number;
  answer: Answer | null;
}

interface Load {
  writes: Write[];
  stop: boolean;
  done: Promise<unknown>;
}

function startLoad(round: string): Load {
  const load: Load = { writes: [], stop: false, done: Promise.resolve() };
  const writer = async (w: number) => {
    for (let n = 0; !load.stop; n++) {
      const node = (w + n) % nodes.length;
      const write: Write = {
        key: `${round}/${w}/${n}`,
        value: `${round}-w${w}-n${n}-${randomBytes(3).toString('hex')}`,
        node,
        startedAt: Date.now(),
        answer: null,
      };
      load.writes.push(write);
      write.answer = await putText(nodes[node]!.url, write.key, write.value);
      if (write.answer.status !== 200 && write.answer.status !== 201) await sleep(20);
    }
  };
  load.done = Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  return load;
}

const acknowledged = (write: Write): boolean => write.answer !== null && (write.answer.status === 200 || write.answer.status === 201);

interface Listed {
  key: string;
  value: string;
  revision: number;
}

/** Every key under `prefix`, with its value, page by page through one node. */
async function listAll(base: string, prefix: string): Promise<Listed[]> {
  const items: Listed[] = [];
  let cursor: string | null = null;
  do {
    const answer = await call(
      `${base}/v1/kv?prefix=${encodeURIComponent(prefix)}&values=true&limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
    );
    assert.equal(answer.status, 200, `listing ${prefix}: ${answer.text.slice(0, 300)}`);
    const page = JSON.parse(answer.text) as { items: Array<{ key: string; value: unknown; encoding: string; revision: number }>; cursor: string | null };
    for (const item of page.items) items.push({ key: item.key, value: String(item.value), revision: item.revision });
    cursor = page.cursor;
  } while (cursor !== null);
  return items;
}

/**
 * One round: load on both nodes, kill -9 `victim` after ~1 s, keep loading
 * ~2.5 s, then check every answer, every acknowledged write (through both
 * nodes), /readyz, and a watch on node 0 opened before the load.
 */
async function killUnderLoad(round: string, victim: number, t: { diagnostic(message: string): void }): Promise<void> {
  const watch = await SseClient.connect(`${nodes[0]!.url}/v1/watch?prefix=${encodeURIComponent(`${round}/`)}&values=false`);
  watches.push(watch);
  const load = startLoad(round);
  await sleep(1_000);
  const acknowledgedBeforeKill = load.writes.filter(acknowledged).length;
  assert.ok(acknowledgedBeforeKill > 0, 'writes were acknowledged before the kill');
  const killedAt = Date.now();
  await killMember(victim);

  // Writes resume: some write sent after the kill is acknowledged within a few seconds.
  const resumedAfter = await within(8_000, `a write sent after member ${victim} was killed is acknowledged`, async () =>
    load.writes.some((write) => write.startedAt > killedAt && acknowledged(write)),
  );
  await sleep(Math.max(0, 2_500 - (Date.now() - killedAt)));
  load.stop = true;
  await load.done;

  const problems = load.writes
    .flatMap((write) => (acknowledged(write) ? [] : [unavailableProblem(`PUT ${write.key} through node ${write.node}`, write.answer!)]))
    .filter((problem) => problem !== null);
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} writes were answered with something other than a timely 503 unavailable`);
  const failedBeforeKill = load.writes.filter((write) => !acknowledged(write) && write.startedAt + write.answer!.ms < killedAt);
  assert.deepEqual(
    failedBeforeKill.map((write) => `${write.key}: ${write.answer!.status}`),
    [],
    'no write failed while all members were up',
  );
  const slowest = Math.max(...load.writes.map((write) => write.answer!.ms));
  assert.ok(slowest <= MAX_REQUEST_MS, `the slowest write took ${slowest} ms`);

  // 2 of 3 members: the store is ready on both nodes.
  for (const [index, node] of nodes.entries()) assert.equal(await readyStatus(node.url), 200, `node ${index} is ready with 2 of 3 members up`);

  // Every acknowledged write is there with its value (listing through node 1, GET of a sample through node 0);
  // a write whose outcome was unknown (503) is either absent or there with its value; nothing else is.
  const listed = await listAll(nodes[1]!.url, `${round}/`);
  const byKey = new Map(listed.map((item) => [item.key, item]));
  const sent = new Map(load.writes.map((write) => [write.key, write]));
  const lost = load.writes.filter((write) => acknowledged(write) && byKey.get(write.key)?.value !== write.value);
  assert.deepEqual(
    lost
      .slice(0, 10)
      .map((write) => `${write.key}: acknowledged ${write.answer!.status} ${write.answer!.text}, now ${JSON.stringify(byKey.get(write.key) ?? null)}`),
    [],
    `${lost.length} acknowledged writes are missing or wrong`,
  );
  for (const item of listed) {
    const write = sent.get(item.key);
    assert.ok(write !== undefined, `${item.key} is listed but was never written`);
    assert.equal(item.value, write.value, `${item.key} holds the value sent`);
    if (acknowledged(write))
      assert.equal(item.revision, (JSON.parse(write.answer!.text) as { revision: number }).revision, `${item.key}: the acknowledged revision`);
  }
  const acked = load.writes.filter(acknowledged);
  for (const write of acked.filter((_, index) => index % 25 === 0)) {
    const read = await call(kv(nodes[0]!.url, write.key));
    assert.equal(read.status, 200, `GET ${write.key} through node 0: ${read.text}`);
    assert.equal(read.text, write.value);
  }

  // The watch on node 0 (its etcd watch may have been on the killed member) reported every write once, in order.
  const maxRevision = Math.max(...listed.map((item) => item.revision));
  await watch.until(
    (messages) => messages.some((message) => message.event === 'change' && Number(message.id) >= maxRevision),
    15_000,
    `the watch reaching revision ${maxRevision}`,
  );
  assert.deepEqual(watch.events('error'), [], 'the watch reported no error');
  const changes = watch
    .events('change')
    .map((message) => JSON.parse(message.data) as { revision: number; events: Array<{ type: string; key: string; revision: number }> });
  for (let i = 1; i < changes.length; i++)
    assert.ok(
      changes[i]!.revision > changes[i - 1]!.revision,
      `the watch delivers in revision order (${changes[i]!.revision} after ${changes[i - 1]!.revision})`,
    );
  const watched = changes.flatMap((change) => change.events).map((event) => `${event.type} ${event.key}@${event.revision}`);
  const expected = [...listed].sort((x, y) => x.revision - y.revision).map((item) => `put ${item.key}@${item.revision}`);
  assert.deepEqual(watched, expected, 'the watch on node 0 reported exactly the writes that are stored, once each');
  watch.close();

  const unknown = load.writes.filter((write) => !acknowledged(write));
  t.diagnostic(
    `${round}: member ${victim} killed; ${load.writes.length} writes, ${acked.length} acknowledged (${acknowledgedBeforeKill} before the kill), ` +
      `${unknown.length} 503 (${unknown.filter((write) => byKey.has(write.key)).length} of them applied anyway); first acknowledged write sent after the kill ${resumedAfter} ms after it; slowest ${slowest} ms`,
  );
}

// ---------------------------------------------------------------------------

describe('etcd members failing under two kvs nodes', () => {
  it('round 1: kill -9 of one member (the leader) under write load: writes go on, no acknowledged write is lost', async (t) => {
    const victim = (await leaderIndex()) ?? 0;
    t.diagnostic(`leader before round 1: member ${victim}`);
    await killUnderLoad('r1', victim, t);
    await restartMember(victim);
  });

  it('round 2: with the first member back, kill -9 of another (the new leader): the same', async (t) => {
    for (const index of [...down]) await restartMember(index);
    const leader = await leaderIndex();
    const victim = leader ?? 1;
    t.diagnostic(`leader before round 2: member ${leader}`);
    await killUnderLoad('r2', victim, t);
  });

  it('quorum lost (2 of 3 members killed): /readyz 503 and writes fail fast with 503; members back: ready and writing again', async (t) => {
    if (down.size === 0) await killMember(1);
    const survivors = [0, 1, 2].filter((index) => !down.has(index));
    assert.equal(survivors.length, 2);
    // Before: 2 of 3 is serving.
    const before = await putText(nodes[0]!.url, 'q/before', 'before');
    assert.ok(before.status === 200 || before.status === 201, `a write with 2 of 3 members: ${before.status} ${before.text}`);

    // A watch on node 1 opened now must report the first write after the recovery.
    const watch = await SseClient.connect(`${nodes[1]!.url}/v1/watch?prefix=q/after`);
    watches.push(watch);

    const lastUp = survivors[0]!;
    const second = survivors[1]!;
    await killMember(second);
    const killedAt = Date.now();

    for (const [index, node] of nodes.entries()) {
      const took = await within(8_000, `node ${index} answers /readyz 503 without a quorum`, async () => (await readyStatus(node.url)) === 503);
      t.diagnostic(`node ${index}: /readyz 503 ${took} ms after the check began (${Date.now() - killedAt} ms after the kill)`);
    }
    const ready = await call(`${nodes[0]!.url}/readyz`, {}, 10_000);
    assert.equal(ready.status, 503);
    assert.ok(ready.ms < 5_000, `/readyz answers within a probe's timeout (${ready.ms} ms)`);

    // Writes (plain, conditional, counter, txn) fail with 503 through both nodes, well before any client would give up.
    const attempts = await Promise.all([
      putText(nodes[0]!.url, 'q/lost/0', 'x'),
      putText(nodes[1]!.url, 'q/lost/1', 'x'),
      call(kv(nodes[0]!.url, 'q/lost/2'), { method: 'PUT', body: 'x', headers: { 'if-none-match': '*' } }),
      call(`${kv(nodes[1]!.url, 'q/lost/n')}?op=add`, { method: 'POST' }),
      call(`${nodes[0]!.url}/v1/txn`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ops: [{ op: 'put', key: 'q/lost/t', value: 1 }] }),
      }),
      call(kv(nodes[1]!.url, 'q/before'), { method: 'DELETE' }),
    ]);
    const problems = attempts.map((answer, index) => unavailableProblem(`write ${index} without a quorum`, answer)).filter((problem) => problem !== null);
    assert.deepEqual(problems, [], 'every write without a quorum is a timely 503 unavailable');
    t.diagnostic(`writes without a quorum: ${attempts.map((answer) => `${answer.status} in ${answer.ms} ms`).join(', ')}`);
    // A read cannot be linearizable without a quorum: 503, or (if served) the right value; never a 500 or a hang.
    const read = await call(kv(nodes[0]!.url, 'q/before'));
    if (read.status !== 200) assert.equal(unavailableProblem('GET without a quorum', read), null);
    else assert.equal(read.text, 'before');
    t.diagnostic(`GET without a quorum: ${read.status} in ${read.ms} ms`);
    // The process keeps serving what needs no store.
    assert.equal((await call(`${nodes[1]!.url}/healthz`)).status, 200);

    // Members back: ready again, and writes go through.
    for (const index of [...down]) await restartMember(index);
    const restoredAt = Date.now();
    for (const [index, node] of nodes.entries()) {
      const took = await within(10_000, `node ${index} answers /readyz 200 once the members are back`, async () => (await readyStatus(node.url)) === 200);
      t.diagnostic(`node ${index}: /readyz 200 ${took} ms after the check began`);
    }
    let after: Answer | null = null;
    await within(10_000, 'a write is acknowledged once the members are back', async () => {
      after = await putText(nodes[0]!.url, 'q/after', `after-${lastUp}`);
      if (after.status === 200 || after.status === 201) return true;
      assert.equal(unavailableProblem('a write while the cluster recovers', after), null);
      return false;
    });
    t.diagnostic(`first write acknowledged ${Date.now() - restoredAt} ms after the members were restarted`);
    for (const node of nodes) {
      const got = await call(kv(node.url, 'q/after'));
      assert.equal(got.status, 200, got.text);
      assert.equal(got.text, `after-${lastUp}`);
    }
    // A 503 for a write means "may or may not have applied" (API-NOTES): each is absent, or there as sent — applied once, never replayed.
    const outcomes: string[] = [];
    for (const [key, expected] of [
      ['q/lost/0', 'x'],
      ['q/lost/1', 'x'],
      ['q/lost/2', 'x'],
      ['q/lost/n', '1'],
      ['q/lost/t', '1'],
    ] as const) {
      const got = await call(kv(nodes[1]!.url, key));
      if (got.status === 404) outcomes.push(`${key} absent`);
      else {
        assert.equal(got.status, 200, `${key}: ${got.text}`);
        assert.equal(got.text, expected, `${key}, answered 503 without a quorum, applied at most once as sent`);
        outcomes.push(`${key} applied`);
      }
    }
    t.diagnostic(`writes refused without a quorum, after the recovery: ${outcomes.join(', ')}`);
    // The change feed of node 1 came back too: its watch reports the write.
    const revision = (JSON.parse(after!.text) as { revision: number }).revision;
    await watch.until(
      (messages) => messages.some((message) => message.event === 'change' && Number(message.id) >= revision),
      10_000,
      'the watch on node 1 reporting the write after the recovery',
    );
    const events = watch
      .events('change')
      .flatMap((message) => (JSON.parse(message.data) as { events: Array<{ type: string; key: string; revision: number }> }).events);
    assert.deepEqual(
      events.map((event) => `${event.type} ${event.key}@${event.revision}`),
      [`put q/after@${revision}`],
    );
    watch.close();
    // Both nodes write again, each readable through the other.
    for (const [index, node] of nodes.entries()) {
      const answer = await putText(node.url, `q/again/${index}`, `v${index}`);
      assert.ok(answer.status === 200 || answer.status === 201, `node ${index} writes again: ${answer.status} ${answer.text}`);
      const other = nodes[(index + 1) % nodes.length]!;
      assert.equal((await call(kv(other.url, `q/again/${index}`))).text, `v${index}`);
    }
  });
});
