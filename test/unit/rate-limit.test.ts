import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter } from '../../src/auth/rate-limit.js';

/** A clock the test moves by hand. */
function fakeClock(startMs = 1_000_000): { now: () => number; advance(ms: number): void } {
  let nowMs = startMs;
  return { now: () => nowMs, advance: (ms) => (nowMs += ms) };
}

/** Takes `count` requests in a row and returns what each got (0 = allowed). */
function takeMany(limiter: RateLimiter, client: string, count: number): number[] {
  return Array.from({ length: count }, () => limiter.take(client));
}

describe('RateLimiter', () => {
  it('allows a burst, then refuses with a wait of at least one second', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(1, 3, clock.now);
    assert.deepEqual(takeMany(limiter, 'a', 3), [0, 0, 0]);
    const wait = limiter.take('a');
    assert.ok(wait >= 1, `wait ${wait}`);
    assert.ok(Number.isInteger(wait), 'Retry-After is whole seconds');
    // Refusals do not spend anything: still refused, still the same wait.
    assert.equal(limiter.take('a'), wait);
  });

  it('refills at the given rate', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(2, 2, clock.now);
    assert.deepEqual(takeMany(limiter, 'a', 2), [0, 0]);
    assert.ok(limiter.take('a') > 0);
    // 2 per second: one request back after 500 ms, not before.
    clock.advance(499);
    assert.ok(limiter.take('a') > 0, 'not yet refilled after 499 ms');
    clock.advance(1);
    assert.equal(limiter.take('a'), 0);
    assert.ok(limiter.take('a') > 0);
    // Over 10 s at 2/s, 20 requests are allowed in all (the burst caps what accumulates).
    let allowed = 0;
    for (let step = 0; step < 100; step++) {
      clock.advance(100);
      if (limiter.take('a') === 0) allowed++;
    }
    assert.equal(allowed, 20);
  });

  it('never accumulates more than the burst', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(10, 5, clock.now);
    limiter.take('a');
    // 5 s idle refills 50 at 10/s, but the bucket holds 5. (Under the 10 s sweep interval, so the bucket is kept and its cap is what counts.)
    clock.advance(5_000);
    assert.deepEqual(
      takeMany(limiter, 'a', 6).map((wait) => wait === 0),
      [true, true, true, true, true, false],
    );
  });

  it('keeps a bucket per client', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(1, 2, clock.now);
    assert.deepEqual(takeMany(limiter, 'a', 2), [0, 0]);
    assert.ok(limiter.take('a') > 0);
    // "a" being exhausted costs "b" nothing.
    assert.deepEqual(takeMany(limiter, 'b', 2), [0, 0]);
    assert.ok(limiter.take('b') > 0);
    assert.deepEqual(takeMany(limiter, 'c', 2), [0, 0]);
  });

  it('at 1 request/s tells a client to wait 1 s, and is right', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(1, 1, clock.now);
    assert.equal(limiter.take('a'), 0);
    assert.equal(limiter.take('a'), 1);
    clock.advance(300);
    assert.equal(limiter.take('a'), 1);
    clock.advance(700);
    assert.equal(limiter.take('a'), 0);
  });

  it('at 10 requests/s rounds the wait up to 1 s, never 0', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(10, 1, clock.now);
    assert.equal(limiter.take('a'), 0);
    assert.equal(limiter.take('a'), 1);
    clock.advance(100);
    assert.equal(limiter.take('a'), 0);
  });

  it('below 1 request/s gives the whole wait, and the request succeeds after it', () => {
    for (const [rate, expectedWait] of [
      [0.5, 2],
      [0.25, 4],
      [0.1, 10],
    ] as const) {
      const clock = fakeClock();
      const limiter = new RateLimiter(rate, 1, clock.now);
      assert.equal(limiter.take('a'), 0);
      const wait = limiter.take('a');
      assert.equal(wait, expectedWait, `rate ${rate}`);
      // A client that waits one second less is still refused; one that waits as told is served.
      clock.advance((wait - 1) * 1000);
      assert.ok(limiter.take('a') > 0, `rate ${rate}: refused before the wait is over`);
      clock.advance(1000);
      assert.equal(limiter.take('a'), 0, `rate ${rate}: served after the wait`);
    }
  });

  it('rounds a partial wait up: the client is never told to come back too early', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(0.5, 1, clock.now);
    assert.equal(limiter.take('a'), 0);
    // 500 ms in, a quarter of a request has refilled: 1.5 s to go, so 2 s (not 1).
    clock.advance(500);
    assert.equal(limiter.take('a'), 2);
    clock.advance(1000);
    assert.ok(limiter.take('a') > 0, 'refused 1 s later');
    clock.advance(1000);
    assert.equal(limiter.take('a'), 0);
  });

  it('gives a client a full burst again after a long idle (idle buckets are swept)', () => {
    const clock = fakeClock(0);
    const limiter = new RateLimiter(1, 3, clock.now);
    assert.deepEqual(takeMany(limiter, 'idle', 3), [0, 0, 0]);
    assert.ok(limiter.take('idle') > 0);
    // Well past both the sweep interval and the refill time; another client triggers the sweep.
    clock.advance(60_000);
    assert.equal(limiter.take('other'), 0);
    assert.deepEqual(
      takeMany(limiter, 'idle', 4).map((wait) => wait === 0),
      [true, true, true, false],
    );
  });

  it('does not reset a client that is still refilling when a sweep runs', () => {
    const clock = fakeClock(0);
    const limiter = new RateLimiter(1, 100, clock.now);
    assert.deepEqual(
      takeMany(limiter, 'busy', 100).every((wait) => wait === 0),
      true,
    );
    // 20 s later the sweep runs, but "busy" has refilled only 20 of its 100: it must keep its state.
    clock.advance(20_000);
    limiter.take('other');
    const allowed = takeMany(limiter, 'busy', 100).filter((wait) => wait === 0).length;
    assert.equal(allowed, 20);
  });
});
