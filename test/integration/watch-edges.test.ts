import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { request } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';
import { SseClient } from '../helpers/sse.js';

describe('watch edges', () => {
  it('never sends a progress id below a resume point in the future', async () => {
    const server = await startTestServer({ limits: { watchProgressIntervalMs: 100 } });
    try {
      await request(`${server.url}/v1/kv/a`, { method: 'PUT', body: '1' });
      const client = await SseClient.connect(`${server.url}/v1/watch?prefix=&since=1000`);
      await client.until((messages) => messages.some((message) => message.event === 'progress'), 5000, 'a progress message');
      const progress = client.events('progress')[0]!;
      assert.equal(progress.id, '1000');
      await request(`${server.url}/v1/kv/b`, { method: 'PUT', body: '2' });
      client.close();
    } finally {
      await server.close();
    }
  });

  it('closes promptly on shutdown even when a watcher does not read', async () => {
    const server = await startTestServer();
    const { hostname, port } = new URL(server.url);
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(`GET /v1/watch?prefix= HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`);
    socket.pause(); // never reads
    // Fill its buffers so that a graceful end cannot complete by itself.
    const value = Buffer.alloc(256 * 1024, 0x61);
    for (let i = 0; i < 40; i++) await request(`${server.url}/v1/kv/big/${i}`, { method: 'PUT', body: value });
    const startedAt = Date.now();
    await server.close();
    const closeMs = Date.now() - startedAt;
    socket.destroy();
    assert.ok(closeMs < 5000, `close took ${closeMs} ms`);
  });
});
