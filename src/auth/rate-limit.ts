import { RATE_LIMIT_SWEEP_INTERVAL_MS } from '../core/limits.js';

/**
 * A token bucket per client (a token's name, or an address when no tokens are
 * configured): `ratePerSecond` requests per second on average, bursts up to
 * `burst`. Idle buckets are forgotten, so the map stays as small as the set of
 * recently active clients.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updatedAtMs: number }>();
  private lastSweepMs = 0;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one request from `client`'s bucket: 0 when allowed, else the seconds to wait. */
  take(client: string): number {
    const nowMs = this.now();
    this.sweep(nowMs);
    let bucket = this.buckets.get(client);
    if (bucket === undefined) {
      bucket = { tokens: this.burst, updatedAtMs: nowMs };
      this.buckets.set(client, bucket);
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((nowMs - bucket.updatedAtMs) / 1000) * this.ratePerSecond);
    bucket.updatedAtMs = nowMs;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerSecond));
  }

  /** Drops buckets that have refilled completely: they hold no state worth keeping. */
  private sweep(nowMs: number): void {
    if (nowMs - this.lastSweepMs < RATE_LIMIT_SWEEP_INTERVAL_MS) return;
    this.lastSweepMs = nowMs;
    const fullAfterMs = (this.burst / this.ratePerSecond) * 1000;
    for (const [client, bucket] of this.buckets) {
      if (nowMs - bucket.updatedAtMs >= fullAfterMs) this.buckets.delete(client);
    }
  }
}
