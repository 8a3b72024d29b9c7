import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { expectProblem, putValue, request } from '../helpers/http.js';
import { sleep, useTestServer } from '../helpers/server.js';

/**
 * Overload: writes beyond the bound of queued writes are refused at once with
 * 503 and Retry-After (none of them applied); slow clients holding hundreds of
 * connections do not delay others; event-loop lag is a metric.
 */

describe('bounded pending writes', () => {
  const server = useTestServer({ limits: { pendingWritesMax: 4 } });

  it('a burst beyond the bound: the excess is 503 unavailable with Retry-After and not applied; the rest is durable', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `burst/${i}`);
    const responses = await Promise.all(keys.map((key) => putValue(server.url, key, key)));
    const refused = responses.filter((response) => response.status === 503);
    const accepted = responses.filter((response) => response.status === 201);
    assert.equal(refused.length + accepted.length, keys.length, `other statuses: ${responses.map((response) => response.status).join(',')}`);
    assert.ok(refused.length > 0, 'no write was refused: the bound did not apply');
    assert.ok(accepted.length > 0);
    const problem = expectProblem(refused[0]!, 503, 'unavailable');
    assert.match(problem.detail, /waiting/);
    assert.equal(refused[0]!.headers.get('retry-after'), '1');
    for (const [index, key] of keys.entries()) {
      const read = await request(`${server.url}/v1/kv/${key}`);
      assert.equal(read.status, responses[index]!.status === 201 ? 200 : 404, `${key}: answered ${responses[index]!.status}, now ${read.status}`);
    }
    // Once the burst is over, writes go through.
    assert.equal((await putValue(server.url, 'burst/after', 'x')).status, 201);
  });
});

describe('slow clients', () => {
  const server = useTestServer();

  it('300 connections trickling their headers do not delay a normal request beyond 1 s', async () => {
    const port = Number(new URL(server.url).port);
    const slow: Socket[] = [];
    const trickle = setInterval(() => {
      for (const socket of slow) if (!socket.destroyed) socket.write('a');
    }, 100);
    try {
      for (let i = 0; i < 300; i++) {
        const socket = connect(port, '127.0.0.1', () => socket.write('GET /v1/kv/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '));
        socket.on('error', () => {});
        slow.push(socket);
      }
      await sleep(300);
      await putValue(server.url, 'normal', 'fast');
      let slowest = 0;
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        const response = await request(`${server.url}/v1/kv/normal`);
        slowest = Math.max(slowest, performance.now() - started);
        assert.equal(response.text, 'fast');
        await sleep(50);
      }
      assert.ok(slowest < 1000, `a normal request took ${slowest.toFixed(0)} ms beside 300 slow clients`);
      assert.ok(slow.filter((socket) => !socket.destroyed).length > 250, 'the slow clients were dropped before the measurement: it proved nothing');
    } finally {
      clearInterval(trickle);
      for (const socket of slow) socket.destroy();
    }
  });
});

describe('event-loop lag metric', () => {
  const server = useTestServer();

  it('nodejs_eventloop_lag_max_seconds shows a blocked loop, and falls back after the scrape', async () => {
    const metric = async (name: string) => {
      const text = (await request(`${server.url}/metrics`)).text;
      const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
      assert.ok(line !== undefined, `no ${name} in /metrics`);
      return Number(line.slice(name.length + 1));
    };
    await metric('nodejs_eventloop_lag_max_seconds');
    // The server runs in this process: block its loop for 300 ms.
    const until = Date.now() + 300;
    while (Date.now() < until) {
      // busy
    }
    await sleep(50);
    assert.ok((await metric('nodejs_eventloop_lag_max_seconds')) >= 0.2);
    assert.ok((await metric('nodejs_eventloop_lag_p99_seconds')) >= 0);
    await sleep(100);
    assert.ok((await metric('nodejs_eventloop_lag_max_seconds')) < 0.2, 'the window was not reset by the scrape');
  });
});
