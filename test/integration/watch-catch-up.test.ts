import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { putValue } from '../helpers/http.js';
import { useTestServer } from '../helpers/server.js';
import { SseClient } from '../helpers/sse.js';

/**
 * Many watch streams resuming from the past (clients reconnecting after a
 * restart) share their history reads: 200 streams from one revision cost a
 * bounded number of engine.changesSince calls, not 200 times the pages of
 * history, and each still gets exactly its changes, history then live, in
 * order, with no gap or duplicate. Runs on both engines.
 */

const STREAMS = 200;
const HISTORY = 900;

describe('watch streams resuming together share the catch-up', () => {
  let reads = 0;
  const server = useTestServer({}, () => {
    // Counted on the engine the server was given: every history read of every stream goes through it.
    const changesSince = server.engine.changesSince.bind(server.engine);
    server.engine.changesSince = (...args) => {
      reads++;
      return changesSince(...args);
    };
  });

  it(`${STREAMS} streams from one revision: a few reads per page of history, every change once, in order`, async () => {
    /** The key each revision wrote. */
    const written = new Map<number, string>();
    const put = async (key: string, value: string) => {
      const revision = Number((await putValue(server.url, key, value)).headers.get('kv-revision'));
      written.set(revision, key);
      return revision;
    };
    const start = await put('catch-up/start', 'x');
    for (let count = 0; count < HISTORY; count += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, index) => put(`catch-up/${(count + index) % 7}`, String(count + index))));
    }
    const head = await put('catch-up/head', 'x');
    reads = 0;

    const prefixOf = (index: number) => (index % 2 === 0 ? 'catch-up/' : 'catch-up/3');
    const streams = await Promise.all(
      Array.from({ length: STREAMS }, (_, index) => SseClient.connect(`${server.url}/v1/watch?prefix=${prefixOf(index)}&since=${start}&values=false`)),
    );
    const ids = (stream: SseClient) => stream.messages.filter((message) => message.event === 'change').map((message) => Number(message.id));
    const expected = (index: number, upTo: number) =>
      [...written]
        .filter(([revision, key]) => revision > start && revision <= upTo && key.startsWith(prefixOf(index)))
        .map(([revision]) => revision)
        .sort((a, b) => a - b);
    try {
      await Promise.all(streams.map((stream, index) => stream.until(() => ids(stream).length >= expected(index, head).length, 30_000, 'the history')));
      // Then live: a write every stream must get once, after its history.
      const live = await put('catch-up/3', 'live');
      await Promise.all(streams.map((stream) => stream.until(() => ids(stream).at(-1) === live, 30_000, 'the live change')));
      for (const [index, stream] of streams.entries()) assert.deepEqual(ids(stream), expected(index, live), `stream ${index}: every change once, in order`);
      // Alone, each stream would read (start, head] itself: 200 × 2 pages of 500 revisions at least.
      assert.ok(reads <= 40, `${reads} history reads for ${STREAMS} streams`);
    } finally {
      for (const stream of streams) stream.close();
    }
  });
});
