/**
 * Progress of a long export, import, backup or restore on standard error, as
 * one line rewritten in place, only when stderr is a terminal: piped or
 * redirected output gets nothing extra.
 */
export class Progress {
  private readonly startedAtMs = Date.now();
  // The first line waits as long as the next ones: a rate over a few milliseconds means nothing.
  private lastDrawnAtMs = this.startedAtMs;
  private drawn = false;
  private finished = false;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly unit: 'keys' | 'records' | 'bytes',
    private readonly verb: string,
    private readonly total: number | null = null,
  ) {}

  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  /** Reports `done` so far; redrawn at most five times a second. */
  update(done: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDrawnAtMs < 200) return;
    this.lastDrawnAtMs = now;
    this.draw(done);
  }

  /** The final figure, and the line ended. */
  finish(done: number): void {
    if (!this.enabled || this.finished) return;
    this.draw(done);
    this.stream.write('\n');
    this.finished = true;
  }

  private draw(done: number): void {
    const seconds = Math.max(0.001, (Date.now() - this.startedAtMs) / 1000);
    const counted = this.unit !== 'bytes';
    const amount = counted ? `${done.toLocaleString('en-US')} ${done === 1 ? this.unit.slice(0, -1) : this.unit}` : formatBytes(done);
    const of = this.total === null ? '' : ` of ${counted ? this.total.toLocaleString('en-US') : formatBytes(this.total)}`;
    const rate = counted ? `${Math.round(done / seconds).toLocaleString('en-US')} ${this.unit}/s` : `${formatBytes(done / seconds)}/s`;
    this.stream.write(`\r${this.verb} ${amount}${of} (${rate})\u001b[K`);
    this.drawn = true;
  }

  /** Clears a half-drawn line before an error is printed. */
  abandon(): void {
    if (this.drawn && !this.finished) this.stream.write('\n');
  }
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
