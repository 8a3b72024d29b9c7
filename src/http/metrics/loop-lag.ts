/**
 * Event-loop lag: a timer due every 20 ms notes how late it fires. While the
 * loop is blocked (a long synchronous task, GC), every request waits as long,
 * so the lag bounds what the slowest request just suffered. Figures are since
 * the last read (a scrape). Node's monitorEventLoopDelay was tried first; in a
 * process that had run other servers it stopped recording long blocks, so
 * this is measured by hand.
 */
export class LoopLag {
  private samplesMs: number[] = [];
  private expectedAt: number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly intervalMs = 20) {
    this.expectedAt = performance.now() + intervalMs;
    this.timer = setInterval(() => this.tick(), intervalMs);
    // Measuring must not keep the process alive.
    this.timer.unref();
  }

  private tick(): void {
    const now = performance.now();
    // Bounded: a scrape every few seconds reads a few hundred samples; without scrapes, keep the latest.
    if (this.samplesMs.length >= 10_000) this.samplesMs.splice(0, 5_000);
    this.samplesMs.push(Math.max(0, now - this.expectedAt));
    this.expectedAt = now + this.intervalMs;
  }

  /** The 99th percentile and the maximum lag since the last call, in seconds; then starts a new window. */
  read(): { p99Seconds: number; maxSeconds: number } {
    const sorted = this.samplesMs.sort((a, b) => a - b);
    this.samplesMs = [];
    if (sorted.length === 0) return { p99Seconds: 0, maxSeconds: 0 };
    const p99 = sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
    return { p99Seconds: p99 / 1000, maxSeconds: sorted.at(-1)! / 1000 };
  }
}
