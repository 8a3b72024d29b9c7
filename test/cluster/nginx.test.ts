import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EtcdCluster } from '../helpers/etcd-cluster.js';
import { encodeKey, expectProblem, request, type JsonResponse } from '../helpers/http.js';
import { freePort, leftoversCleanedAfter, sleep, type ServerProcess } from '../helpers/server.js';
import { SseClient } from '../helpers/sse.js';

/**
 * The load-balancer configuration of docs/SCALING.md, deploy/nginx/kvs.conf, run
 * as shipped (only its placeholders substituted) by a real nginx in front of two
 * `kvs serve` processes on a real 3-member etcd cluster. Through nginx: round trips
 * with the token passed through, requests spread over both nodes on kept-alive
 * upstream connections, keys passed byte for byte, a long-poll, a watch that gets
 * every node's writes at once and resumes with Last-Event-ID, a value at the etcd
 * size limit, backpressure from a stalled watcher reaching kvs, a node killed
 * (SIGKILL) under load without a failed GET or PUT, and every node down (503).
 *
 * Which node served a request is read from nginx's access log ($upstream_addr),
 * which the test's own main configuration (around kvs.conf) defines.
 */

const CONFIG_FILE = new URL('../../../deploy/nginx/kvs.conf', import.meta.url).pathname;

/** nginx: $NGINX_BINARY, else on PATH, else where Debian installs it (/usr/sbin is not on every user's PATH). */
function findNginx(): string | null {
  const candidates = process.env['NGINX_BINARY']
    ? [process.env['NGINX_BINARY']]
    : ['nginx', '/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];
  for (const candidate of candidates) {
    if (spawnSync(candidate, ['-v'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return null;
}

const NGINX = findNginx();
// Only a developer's machine may lack nginx: CI (.ci/run installs it) must run this test.
const skip =
  NGINX === null && !process.env['CI']
    ? 'nginx is not installed (Debian: apt-get install -y nginx, as .ci/run does); this test runs whenever CI is set'
    : false;

const TOKEN = randomBytes(16).toString('hex');
const WATCH_BUFFER_BYTES = 256 * 1024;
const AUTH = { authorization: `Bearer ${TOKEN}` };

interface Nginx {
  url: string;
  child: ChildProcess;
  directory: string;
  accessLog(): string[];
  errorLog(): string;
  stop(): Promise<void>;
}

const nginxProcesses = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of nginxProcesses) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** nginx 1.19.5 and later take -e (the error log before the configuration is read). */
function takesErrorLogFlag(binary: string): boolean {
  const version = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(spawnSync(binary, ['-v'], { encoding: 'utf8' }).stderr);
  if (version === null) return false;
  const [major, minor, patch] = version.slice(1).map(Number) as [number, number, number];
  return major > 1 || (major === 1 && (minor > 19 || (minor === 19 && patch >= 5)));
}

/**
 * deploy/nginx/kvs.conf with its placeholders substituted, inside a main
 * configuration of the test's own (pid, logs and temp files in a temporary
 * directory; nginx in the foreground, as the current user).
 */
async function startNginx(binary: string, nodes: string[]): Promise<Nginx> {
  const template = readFileSync(CONFIG_FILE, 'utf8');
  for (let attempt = 1; ; attempt++) {
    const directory = mkdtempSync(join(tmpdir(), 'kvs-nginx-'));
    const port = await freePort();
    const site = template.replaceAll('{{KVS_NODE_1}}', nodes[0]!).replaceAll('{{KVS_NODE_2}}', nodes[1]!).replaceAll('{{LISTEN}}', `127.0.0.1:${port}`);
    assert.doesNotMatch(site, /\{\{\w+\}\}/, 'kvs.conf has a placeholder the test does not know');
    writeFileSync(join(directory, 'kvs.conf'), site);
    const main = join(directory, 'nginx.conf');
    writeFileSync(
      main,
      [
        // As root, workers would otherwise run as nobody, who cannot enter this directory.
        ...(process.getuid?.() === 0 ? [`user ${userInfo().username};`] : []),
        'worker_processes 2;',
        'daemon off;',
        `pid ${directory}/nginx.pid;`,
        `error_log ${directory}/error.log info;`,
        'events { worker_connections 1024; }',
        'http {',
        `  client_body_temp_path ${directory}/client_body;`,
        `  proxy_temp_path ${directory}/proxy;`,
        `  fastcgi_temp_path ${directory}/fastcgi;`,
        `  uwsgi_temp_path ${directory}/uwsgi;`,
        `  scgi_temp_path ${directory}/scgi;`,
        `  log_format upstreams '$request_method $request_uri $status "$upstream_addr" "$upstream_status"';`,
        `  access_log ${directory}/access.log upstreams;`,
        `  include ${directory}/kvs.conf;`,
        '}',
        '',
      ].join('\n'),
    );
    const flags = ['-p', `${directory}/`, '-c', main, ...(takesErrorLogFlag(binary) ? ['-e', `${directory}/error.log`] : [])];
    const check = spawnSync(binary, ['-t', ...flags], { encoding: 'utf8' });
    if (check.status !== 0) {
      rmSync(directory, { recursive: true, force: true });
      throw new Error(`nginx -t refused deploy/nginx/kvs.conf:\n${check.stderr}`);
    }

    const child = spawn(binary, flags, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    nginxProcesses.add(child);
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let exited = false;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    void gone.then(() => {
      exited = true;
      nginxProcesses.delete(child);
    });
    const read = (file: string) => (existsSync(join(directory, file)) ? readFileSync(join(directory, file), 'utf8') : '');
    const nginx: Nginx = {
      url: `http://127.0.0.1:${port}`,
      child,
      directory,
      accessLog: () => read('access.log').split('\n').filter(Boolean),
      errorLog: () => `${output}${read('error.log')}`.slice(-4000),
      async stop() {
        if (!exited) {
          process.kill(-child.pid!, 'SIGTERM');
          const timer = setTimeout(() => {
            try {
              process.kill(-child.pid!, 'SIGKILL');
            } catch {
              // gone
            }
          }, 3_000);
          await gone;
          clearTimeout(timer);
        }
        rmSync(directory, { recursive: true, force: true });
      },
    };
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (exited) break;
      try {
        if ((await fetch(`${nginx.url}/healthz`)).status === 200) return nginx;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) break;
      await sleep(25);
    }
    const log = nginx.errorLog();
    await nginx.stop();
    // The port was free when picked, not necessarily when nginx bound it.
    if (attempt < 3 && /Address already in use/.test(log)) continue;
    throw new Error(`nginx did not serve kvs's /healthz within 10 s:\n${log}`);
  }
}

/**
 * Established TCP connections that nginx's processes hold to each of `ports`
 * (Linux /proc): with upstream keep-alive, idle connections stay open between
 * requests; without it (or with HTTP/1.0, or `Connection: close`), none do.
 */
function nginxConnectionsTo(masterPid: number, ports: number[]): Map<number, number> {
  const pids = [masterPid];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Fields after the command's closing parenthesis: state, ppid, ...
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === masterPid) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  const inodes = new Set<string>();
  for (const pid of pids) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match) inodes.add(match[1]!);
      } catch {
        // closed meanwhile
      }
    }
  }
  const counts = new Map(ports.map((port) => [port, 0]));
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== '01' || !inodes.has(fields[9]!)) continue; // 01: ESTABLISHED
      const remotePort = parseInt(fields[2]!.split(':')[1]!, 16);
      if (counts.has(remotePort)) counts.set(remotePort, counts.get(remotePort)! + 1);
    }
  }
  return counts;
}

/** host:port of a node, as nginx's $upstream_addr shows it. */
const address = (server: ServerProcess) => new URL(server.url).host;

describe('nginx in front of two kvs nodes on etcd (deploy/nginx/kvs.conf)', { skip }, () => {
  const leftovers = leftoversCleanedAfter('kvs-nginx-');
  let cluster: EtcdCluster;
  let nodes: ServerProcess[];
  let nginx: Nginx;
  let base: string;

  /** A request through nginx, with the token. */
  const api = (path: string, init: RequestInit = {}): Promise<JsonResponse> =>
    // A redirect from nginx is a failure of the configuration, never followed.
    request(`${base}${path}`, {
      redirect: 'manual',
      ...init,
      headers: { ...AUTH, ...(init.headers as Record<string, string> | undefined) },
      signal: init.signal ?? AbortSignal.timeout(15_000),
    });
  /** A request to one node directly, bypassing nginx. */
  const direct = (node: ServerProcess, path: string, init: RequestInit = {}): Promise<JsonResponse> =>
    request(`${node.url}${path}`, {
      ...init,
      headers: { ...AUTH, ...(init.headers as Record<string, string> | undefined) },
      signal: AbortSignal.timeout(15_000),
    });
  const put = (path: string, body: string | Buffer, init: RequestInit = {}) =>
    api(path, { method: 'PUT', body, ...init, headers: { 'content-type': 'text/plain', ...(init.headers as Record<string, string> | undefined) } });
  const diagnostics = () => `\nnginx error log:\n${nginx.errorLog()}\naccess log (last 30):\n${nginx.accessLog().slice(-30).join('\n')}`;

  before(async () => {
    if (NGINX === null)
      throw new Error("CI is set but the nginx binary was not found: install Debian's nginx package (apt-get install -y nginx), as .ci/run does");
    cluster = await EtcdCluster.start();
    const env = {
      KV_ENGINE: 'etcd',
      ETCD_ENDPOINTS: cluster.endpoints.join(','),
      KV_ETCD_PREFIX: `nginx-test-${randomBytes(4).toString('hex')}/`,
      KV_ADMIN_TOKEN: TOKEN,
      // Small, so that a stalled watcher is dropped after a few MiB of changes.
      KV_WATCH_BUFFER_BYTES: String(WATCH_BUFFER_BYTES),
    };
    nodes = await Promise.all([0, 1].map(() => leftovers.spawn({ ...env, DATA_DIRECTORY: leftovers.directory() })));
    nginx = await startNginx(NGINX, nodes.map(address));
    base = nginx.url;
  });

  after(async () => {
    await nginx?.stop();
    await cluster?.stop();
  });

  it('round-trips PUT, GET, DELETE and a txn, and passes Authorization through', async () => {
    const unauthenticated = await request(`${base}/v1/kv/rt/a`, { signal: AbortSignal.timeout(5_000) });
    expectProblem(unauthenticated, 401, 'unauthorized');
    assert.match(unauthenticated.headers.get('www-authenticate') ?? '', /^Bearer/);

    const created = await put('/v1/kv/rt/a', 'one');
    assert.equal(created.status, 201, created.text + diagnostics());
    const read = await api('/v1/kv/rt/a');
    assert.equal(read.status, 200);
    assert.equal(read.text, 'one');
    assert.equal(read.headers.get('etag'), `"${created.body.revision}"`);
    assert.equal(read.headers.get('content-type'), 'text/plain');

    // Preconditions travel as headers: a stale If-Match is refused by kvs, a current one applies.
    expectProblem(await put('/v1/kv/rt/a', 'two', { headers: { 'if-match': `"${created.body.revision - 1}"` } }), 412, 'precondition_failed');
    const replaced = await put('/v1/kv/rt/a', 'two', { headers: { 'if-match': `"${created.body.revision}"` } });
    assert.equal(replaced.status, 200, replaced.text);
    assert.equal((await api('/v1/kv/rt/a', { headers: { 'if-none-match': `"${replaced.body.revision}"` } })).status, 304);

    const txn = await api('/v1/txn', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        checks: [{ key: 'rt/a', revision: replaced.body.revision }],
        ops: [
          { op: 'put', key: 'rt/b', value: { n: 1 } },
          { op: 'add', key: 'rt/n', by: 5 },
        ],
      }),
    });
    assert.equal(txn.status, 200, txn.text);
    assert.equal(txn.body.committed, true);
    assert.equal((await api('/v1/kv/rt/n')).text, '5');

    assert.equal((await api('/v1/kv/rt/a', { method: 'DELETE' })).status, 204);
    expectProblem(await api('/v1/kv/rt/a'), 404, 'key_not_found');

    // The original server's routes too.
    const seedPut = await api('/put', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'rt/seed', value: 'v' }),
    });
    assert.equal(seedPut.status, 200, seedPut.text);
    assert.deepEqual((await api('/get?key=rt/seed')).body, { status: 'success', value: 'v' });
  });

  it('spreads requests over both nodes, and every node reads what another wrote', async () => {
    const count = 40;
    const written: number[] = [];
    for (let index = 0; index < count; index++) {
      const response = await put(`/v1/kv/spread/${index}`, `value ${index}`);
      assert.ok(response.status === 201, `PUT spread/${index}: ${response.status} ${response.text}`);
      written.push(response.body.revision);
    }
    for (let index = 0; index < count; index++) {
      const response = await api(`/v1/kv/spread/${index}`);
      assert.equal(response.text, `value ${index}`);
      assert.equal(response.headers.get('etag'), `"${written[index]}"`);
    }
    const served = new Map<string, number>();
    for (const line of nginx.accessLog()) {
      const match = /^(GET|PUT) \/v1\/kv\/spread\/\d+ (\d+) "([^"]*)"/.exec(line);
      if (match) served.set(match[3]!, (served.get(match[3]!) ?? 0) + 1);
    }
    for (const node of nodes) {
      assert.ok(
        (served.get(address(node)) ?? 0) >= count / 2,
        `node ${address(node)} served ${served.get(address(node)) ?? 0} of ${2 * count} requests: ${JSON.stringify([...served])}${diagnostics()}`,
      );
    }
    // Upstream keep-alive (keepalive, HTTP/1.1, an empty Connection header): nginx keeps idle connections to both nodes.
    if (process.platform === 'linux') {
      const held = nginxConnectionsTo(
        nginx.child.pid!,
        nodes.map((node) => Number(new URL(node.url).port)),
      );
      for (const [port, connections] of held)
        assert.ok(connections >= 1, `nginx holds no idle connection to the node on port ${port}: upstream keep-alive is off${diagnostics()}`);
    }
    // Whichever node took a write, each node serves it (linearizable reads on etcd).
    for (const node of nodes) {
      for (const index of [0, 1, count - 1]) assert.equal((await direct(node, `/v1/kv/spread/${index}`)).text, `value ${index}`);
    }
  });

  it('passes keys through byte for byte (percent-encoding, //, spaces, non-ASCII)', async () => {
    const keys = ['enc/100%', 'enc/a//b', 'enc/%2F', 'enc/sp ace+plus', 'enc/ü?#&='];
    for (const key of keys) {
      const response = await put(`/v1/kv/${encodeKey(key)}`, key);
      assert.equal(response.status, 201, `${key}: ${response.status} ${response.text}${diagnostics()}`);
      assert.equal(response.body.key, key);
      assert.equal((await api(`/v1/kv/${encodeKey(key)}`)).text, key);
    }
    // nginx must not resolve an encoded dot segment (fetch would, so the request is sent as is): kvs refuses the key.
    const dotted = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      // Host and path given apart: a URL string would be parsed, and its dot segment resolved, by the client.
      const { hostname, port } = new URL(base);
      const sent = httpGet({ hostname, port, path: '/v1/kv/enc/x/%2E%2E/a//b', headers: AUTH }, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode!, body }));
      });
      sent.on('error', reject);
    });
    assert.equal(dotted.status, 400, `a key with a ".." segment: ${dotted.status} ${dotted.body}`);
    assert.equal(JSON.parse(dotted.body).code, 'invalid_key');
    // An encoded slash is the same key as a slash: decoded once, by kvs.
    assert.equal((await api('/v1/kv/enc/a%2F%2Fb')).text, 'enc/a//b');
    const listed = await api('/v1/kv?prefix=enc/');
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(
      listed.body.items.map((item: { key: string }) => item.key),
      [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
  });

  it('holds a long-poll (Prefer: wait) open until another node writes the key, or until it elapses', async () => {
    const created = await put('/v1/kv/poll/k', 'v1');
    const startedAt = Date.now();
    const poll = api('/v1/kv/poll/k', { headers: { 'if-none-match': `"${created.body.revision}"`, prefer: 'wait=20' } });
    await sleep(500);
    // Written on each node directly, so the one holding the long-poll hears of it through etcd at least once.
    const second = await direct(nodes[0]!, '/v1/kv/poll/k', { method: 'PUT', body: 'v2', headers: { 'content-type': 'text/plain' } });
    assert.equal(second.status, 200, second.text);
    const answered = await poll;
    assert.equal(answered.status, 200, answered.text + diagnostics());
    assert.equal(answered.text, 'v2');
    assert.ok(Date.now() - startedAt < 5_000, `the long-poll answered after ${Date.now() - startedAt} ms`);

    const waitedFrom = Date.now();
    const unchanged = await api('/v1/kv/poll/k', { headers: { 'if-none-match': `"${second.body.revision}"`, prefer: 'wait=1' } });
    assert.equal(unchanged.status, 304, unchanged.text + diagnostics());
    assert.ok(Date.now() - waitedFrom >= 900, `a 1 s long-poll answered after ${Date.now() - waitedFrom} ms`);
  });

  it('streams a watch unbuffered: writes through either node arrive at once, and Last-Event-ID resumes', async () => {
    const watch = await SseClient.connect(`${base}/v1/watch?prefix=watch/`, AUTH);
    try {
      assert.equal(watch.response.headers.get('content-type')?.startsWith('text/event-stream'), true);
      const writers = [...nodes.map((node) => (path: string, init: RequestInit) => direct(node, path, init)), api];
      const delays: number[] = [];
      for (let index = 0; index < 6; index++) {
        const writer = writers[index % writers.length]!;
        const sentAt = Date.now();
        const written = await writer(`/v1/kv/watch/${index}`, { method: 'PUT', body: `w${index}`, headers: { 'content-type': 'text/plain' } });
        assert.equal(written.status, 201, written.text);
        await watch.until(
          (messages) => messages.some((message) => message.id === String(written.body.revision)),
          5_000,
          `the event of revision ${written.body.revision}`,
        );
        delays.push(Date.now() - sentAt);
      }
      // Buffered by the proxy, an event would wait for a buffer to fill or the stream to end.
      assert.ok(Math.max(...delays) < 1_000, `events took ${delays.join(', ')} ms from PUT to the watcher${diagnostics()}`);
      const changes = watch.events('change');
      assert.equal(changes.length, 6, JSON.stringify(watch.messages));
      const revisions = changes.map((message) => Number(message.id));
      assert.deepEqual(
        revisions,
        [...revisions].sort((a, b) => a - b),
      );
      assert.deepEqual(
        changes.map((message) => JSON.parse(message.data).events[0].key),
        [0, 1, 2, 3, 4, 5].map((index) => `watch/${index}`),
      );

      const resumed = await SseClient.connect(`${base}/v1/watch?prefix=watch/`, { ...AUTH, 'last-event-id': changes[2]!.id! });
      try {
        await resumed.until((messages) => messages.filter((message) => message.event === 'change').length >= 3, 5_000, 'the three changes after Last-Event-ID');
        assert.deepEqual(
          resumed.events('change').map((message) => message.id),
          changes.slice(3).map((message) => message.id),
        );
      } finally {
        resumed.close();
      }
    } finally {
      watch.close();
    }
  });

  it('passes a value of exactly /v1/limits maxValueBytes, and answers larger bodies with problem+json', async () => {
    const limits = await api('/v1/limits');
    assert.equal(limits.status, 200);
    const maxValueBytes: number = limits.body.maxValueBytes;
    // etcd's default --max-request-bytes (1.5 MiB) less kvs's key, namespace and framing.
    assert.ok(maxValueBytes > 1_400_000 && maxValueBytes < 1.5 * 1024 * 1024, `maxValueBytes ${maxValueBytes}`);
    const value = randomBytes(maxValueBytes);
    const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
    const stored = await put('/v1/kv/large/max', value, { headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(stored.status, 201, stored.text + diagnostics());
    for (const read of [
      () => fetch(`${base}/v1/kv/large/max`, { headers: AUTH }),
      ...nodes.map((node) => () => fetch(`${node.url}/v1/kv/large/max`, { headers: AUTH })),
    ]) {
      const response = await read();
      assert.equal(response.status, 200);
      assert.equal(digest(Buffer.from(await response.arrayBuffer())), digest(value));
    }
    // One byte more: refused by kvs, not by nginx, with kvs's limit.
    const tooLarge = await put('/v1/kv/large/over', randomBytes(maxValueBytes + 1), { headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(expectProblem(tooLarge, 413, 'value_too_large').limit, maxValueBytes);
    // Beyond nginx's client_max_body_size (8 MiB): nginx's 413, in kvs's format.
    const huge = await put('/v1/kv/large/huge', Buffer.alloc(8 * 1024 * 1024 + 1), { headers: { 'content-type': 'application/octet-stream' } });
    expectProblem(huge, 413, 'request_too_large');
  });

  it('lets backpressure reach kvs: a watcher that stops reading is dropped by kvs (slow_consumer), not spooled by nginx', async () => {
    const evictions = async () => {
      let total = 0;
      for (const node of nodes) {
        const metrics = await direct(node, '/metrics');
        assert.equal(metrics.status, 200, metrics.text);
        total += Number(/^kvs_watch_evictions_total (\d+)$/m.exec(metrics.text)?.[1] ?? Number.NaN);
      }
      return total;
    };
    const before = await evictions();
    const stalled = await new Promise<IncomingMessage>((resolve, reject) => {
      const watch = httpGet(`${base}/v1/watch?prefix=slow/`, { headers: AUTH }, resolve);
      watch.on('error', reject);
    });
    assert.equal(stalled.statusCode, 200);
    stalled.pause(); // reads nothing more: the socket's buffers fill, then nginx's, then kvs's
    const value = 'x'.repeat(1024 * 1024);
    let mebibytes = 0;
    try {
      while (mebibytes < 64 && (await evictions()) === before) {
        const written = await put(`/v1/kv/slow/${mebibytes % 4}`, value);
        assert.ok(written.status === 200 || written.status === 201, written.text);
        mebibytes++;
      }
    } finally {
      stalled.destroy();
    }
    // Buffered by nginx (to a temp file of up to 1 GiB), the stream would never push back on kvs.
    assert.ok(
      (await evictions()) > before,
      `kvs never dropped a watcher that read nothing of ${mebibytes} MiB of changes (KV_WATCH_BUFFER_BYTES=${WATCH_BUFFER_BYTES})${diagnostics()}`,
    );
    await Promise.all(nodes.map((node) => direct(node, '/v1/kv?prefix=slow/', { method: 'DELETE' })));
  });

  it('keeps every GET and PUT succeeding while a node is killed (SIGKILL) under load; watches resume on the survivor', async () => {
    const [survivor, victim] = [nodes[0]!, nodes[1]!];
    const mark = await put('/v1/kv/load/mark', 'start');
    assert.equal(mark.status, 201);
    // least_conn: the second stream goes to the node that does not hold the first, so one is on the victim.
    const watchUrl = `${base}/v1/watch?prefix=load/&since=${mark.body.revision}`;
    const watches = [await SseClient.connect(watchUrl, AUTH)];
    watches.push(await SseClient.connect(watchUrl, AUTH));

    const acknowledged: Array<{ key: string; revision: number }> = [];
    const failures: string[] = [];
    let stopped = false;
    let afterKill = 0;
    let killed = false;
    const worker = async (id: number) => {
      for (let n = 0; !stopped; n++) {
        const key = `load/${id}/${n}`;
        try {
          const written = await put(`/v1/kv/${key}`, `${id}.${n}`);
          // 200, not 201, when nginx sent it to the node being killed, which applied it, and then to the survivor.
          if (written.status !== 201 && written.status !== 200) {
            failures.push(`PUT ${key}: ${written.status} ${written.text}`);
            continue;
          }
          acknowledged.push({ key, revision: written.body.revision });
          const read = await api(`/v1/kv/${key}`);
          if (read.status !== 200 || read.text !== `${id}.${n}`) failures.push(`GET ${key}: ${read.status} ${read.text}`);
          if (killed) afterKill++;
        } catch (error) {
          failures.push(`${key}: ${(error as Error).message} ${(error as Error & { cause?: Error }).cause?.message ?? ''}`);
        }
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    await sleep(500);
    victim.kill('SIGKILL');
    await victim.exited;
    killed = true;
    await sleep(1_500);
    stopped = true;
    await Promise.all(workers);

    assert.deepEqual(failures, [], `requests failed through nginx around the kill:${diagnostics()}`);
    assert.ok(afterKill >= 20, `only ${afterKill} PUT+GET pairs ran after the kill`);
    // Proof the retry path ran: a request nginx sent to the dead node first and then to the survivor.
    const retried = nginx.accessLog().filter((line) => line.includes(`"${address(victim)}, ${address(survivor)}"`));
    assert.ok(retried.length >= 1, `no request was retried on the surviving node${diagnostics()}`);

    // Non-idempotent requests are fine too once the dead node is known to be down.
    for (let expected = 1; expected <= 5; expected++) {
      const added = await api('/v1/kv/load/counter?op=add', { method: 'POST' });
      assert.equal(added.status, 200, added.text + diagnostics());
      assert.equal(added.body.value, expected);
    }
    assert.equal((await api('/readyz')).status, 200);

    // Every acknowledged write reached each watcher: the one on the victim resumes from its last event, on the survivor.
    const ended = watches.filter((watch) => watch.closed);
    assert.equal(ended.length, 1, `expected exactly one of the two watches to be on the killed node and end; ${ended.length} ended`);
    const seen = new Map<number, Set<string>>();
    const collect = (index: number, client: SseClient) => {
      const ids = client.events('change').map((message) => Number(message.id));
      assert.deepEqual(
        ids,
        [...new Set(ids)].sort((a, b) => a - b),
        'one connection delivered a revision twice or out of order',
      );
      for (const message of client.events('change')) {
        for (const event of JSON.parse(message.data).events as Array<{ key: string; revision: number }>) seen.get(index)!.add(`${event.key}@${event.revision}`);
      }
    };
    const lastWrite = Math.max(...acknowledged.map((write) => write.revision));
    const followers: SseClient[] = [];
    try {
      for (const [index, watch] of watches.entries()) {
        seen.set(index, new Set());
        let client = watch;
        if (watch.closed) {
          collect(index, watch);
          const lastId = watch.messages.filter((message) => message.id !== undefined).at(-1)?.id ?? String(mark.body.revision);
          client = await SseClient.connect(watchUrl, { ...AUTH, 'last-event-id': lastId });
          followers.push(client);
        }
        await client.until((messages) => messages.some((message) => Number(message.id) >= lastWrite), 10_000, `revision ${lastWrite}`);
        collect(index, client);
        const missing = acknowledged.filter((write) => !seen.get(index)!.has(`${write.key}@${write.revision}`));
        assert.deepEqual(missing, [], `watch ${index} missed acknowledged writes`);
      }
    } finally {
      for (const client of [...watches, ...followers]) client.close();
    }
  });

  it("with every node down, answers 503 unavailable in kvs's format, with Retry-After", async () => {
    const survivor = nodes[0]!;
    survivor.kill('SIGKILL');
    await survivor.exited;
    for (const path of ['/v1/kv/rt/b', '/readyz']) {
      const response = await api(path);
      const problem = expectProblem(response, 503, 'unavailable');
      assert.match(problem.detail, /may or may not have been applied/);
      assert.equal(response.headers.get('retry-after'), '1');
    }
    const write = await put('/v1/kv/rt/c', 'x');
    expectProblem(write, 503, 'unavailable');
  });
});
