/**
 * A small Prometheus registry (text exposition format 0.0.4). Hand-rolled
 * rather than prom-client because the per-request path must stay a map lookup
 * and a few additions: the GET path's budget is a few microseconds.
 */
type Labels = readonly string[];

interface Metric {
  render(lines: string[]): void;
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly string[] = [],
  ) {}

  inc(labels: Labels = [], by = 1): void {
    const key = labels.join('\u0001');
    const current = this.values.get(key);
    if (current === undefined) this.values.set(key, { labels, value: by });
    else current.value += by;
  }

  render(lines: string[]): void {
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    for (const { labels, value } of this.values.values()) {
      lines.push(`${this.name}${formatLabels(this.labelNames, labels)} ${value}`);
    }
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly bucketBounds: readonly number[],
  ) {}

  observe(labels: Labels, value: number): void {
    const key = labels.join('\u0001');
    let series = this.series.get(key);
    if (series === undefined) {
      series = { labels, counts: new Array<number>(this.bucketBounds.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, series);
    }
    // Counts are per bucket here and made cumulative when rendered.
    let bucket = 0;
    while (bucket < this.bucketBounds.length && value > this.bucketBounds[bucket]!) bucket++;
    if (bucket < this.bucketBounds.length) series.counts[bucket]!++;
    series.sum += value;
    series.count++;
  }

  render(lines: string[]): void {
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const { labels, counts, sum, count } of this.series.values()) {
      let cumulative = 0;
      this.bucketBounds.forEach((bound, index) => {
        cumulative += counts[index]!;
        lines.push(`${this.name}_bucket${formatLabels([...this.labelNames, 'le'], [...labels, String(bound)])} ${cumulative}`);
      });
      lines.push(`${this.name}_bucket${formatLabels([...this.labelNames, 'le'], [...labels, '+Inf'])} ${count}`);
      lines.push(`${this.name}_sum${formatLabels(this.labelNames, labels)} ${sum}`);
      lines.push(`${this.name}_count${formatLabels(this.labelNames, labels)} ${count}`);
    }
  }
}

/** A gauge whose samples are read when scraped. */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly read: () => Array<{ labels?: Record<string, string>; value: number }>,
  ) {}

  render(lines: string[]): void {
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`);
    for (const { labels = {}, value } of this.read()) {
      lines.push(`${this.name}${formatLabels(Object.keys(labels), Object.values(labels))} ${value}`);
    }
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];

  register<M extends Metric>(metric: M): M {
    this.metrics.push(metric);
    return metric;
  }

  render(): string {
    const lines: string[] = [];
    for (const metric of this.metrics) metric.render(lines);
    return `${lines.join('\n')}\n`;
  }
}

function formatLabels(names: readonly string[], values: Labels): string {
  if (names.length === 0) return '';
  return `{${names.map((name, index) => `${name}="${escapeLabel(values[index] ?? '')}"`).join(',')}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
