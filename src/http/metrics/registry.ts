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
    this.series(labels).value += by;
  }

  /** The sample for `labels`, to keep and increment directly on a hot path (no label lookup per call). */
  series(labels: Labels): { value: number } {
    const key = labels.join('\u0001');
    let series = this.values.get(key);
    if (series === undefined) {
      series = { labels, value: 0 };
      this.values.set(key, series);
    }
    return series;
  }

  render(lines: string[]): void {
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    for (const { labels, value } of this.values.values()) {
      lines.push(`${this.name}${formatLabels(this.labelNames, labels)} ${value}`);
    }
  }
}

export class Histogram implements Metric {
  private readonly allSeries = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly bucketBounds: readonly number[],
  ) {}

  observe(labels: Labels, value: number): void {
    this.observer(labels)(value);
  }

  /** A function recording into the series for `labels`, to keep on a hot path (no label lookup per call). */
  observer(labels: Labels): (value: number) => void {
    const key = labels.join('\u0001');
    let series = this.allSeries.get(key);
    if (series === undefined) {
      series = { labels, counts: new Array<number>(this.bucketBounds.length).fill(0), sum: 0, count: 0 };
      this.allSeries.set(key, series);
    }
    const { counts } = series;
    const bounds = this.bucketBounds;
    const target = series;
    return (value) => {
      // Counts are per bucket here and made cumulative when rendered.
      let bucket = 0;
      while (bucket < bounds.length && value > bounds[bucket]!) bucket++;
      if (bucket < bounds.length) counts[bucket]!++;
      target.sum += value;
      target.count++;
    };
  }

  render(lines: string[]): void {
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const { labels, counts, sum, count } of this.allSeries.values()) {
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
