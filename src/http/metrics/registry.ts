/**
 * A small Prometheus registry (text exposition format 0.0.4). Hand-rolled
 * rather than prom-client because the per-request path must stay a map lookup
 * and a few additions: the GET path's budget is a few microseconds.
 */
type Labels = readonly string[];

/** Anything that renders its own lines of the exposition. */
export interface Metric {
  render(lines: string[]): void;
}

export class Counter implements Metric {
  /** Each series with its sample's name and labels, formatted once. */
  private readonly values = new Map<string, { prefix: string; value: number }>();

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
      series = { prefix: `${this.name}${formatLabels(this.labelNames, labels)} `, value: 0 };
      this.values.set(key, series);
    }
    return series;
  }

  render(lines: string[]): void {
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    for (const { prefix, value } of this.values.values()) lines.push(`${prefix}${value}`);
  }
}

interface HistogramSeries {
  /** Per bucket here, made cumulative when rendered. */
  counts: number[];
  sum: number;
  count: number;
  /** The samples' names and labels, formatted once: each bucket's (then +Inf's), _sum's, _count's. */
  bucketPrefixes: string[];
  sumPrefix: string;
  countPrefix: string;
}

export class Histogram implements Metric {
  private readonly allSeries = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly bucketBounds: readonly number[],
  ) {}

  observe(labels: Labels, value: number): void {
    record(this.bucketBounds, this.seriesFor(labels), value);
  }

  /** A function recording into the series for `labels`, to keep on a hot path (no label lookup per call). */
  observer(labels: Labels): (value: number) => void {
    const series = this.seriesFor(labels);
    const bounds = this.bucketBounds;
    return (value) => record(bounds, series, value);
  }

  private seriesFor(labels: Labels): HistogramSeries {
    const key = labels.join('\u0001');
    let series = this.allSeries.get(key);
    if (series === undefined) {
      const withLe = [...this.labelNames, 'le'];
      const plain = formatLabels(this.labelNames, labels);
      series = {
        counts: new Array<number>(this.bucketBounds.length).fill(0),
        sum: 0,
        count: 0,
        bucketPrefixes: [...this.bucketBounds.map(String), '+Inf'].map((le) => `${this.name}_bucket${formatLabels(withLe, [...labels, le])} `),
        sumPrefix: `${this.name}_sum${plain} `,
        countPrefix: `${this.name}_count${plain} `,
      };
      this.allSeries.set(key, series);
    }
    return series;
  }

  render(lines: string[]): void {
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const { counts, sum, count, bucketPrefixes, sumPrefix, countPrefix } of this.allSeries.values()) {
      let cumulative = 0;
      for (let index = 0; index < counts.length; index++) {
        cumulative += counts[index]!;
        lines.push(`${bucketPrefixes[index]}${cumulative}`);
      }
      lines.push(`${bucketPrefixes[counts.length]}${count}`, `${sumPrefix}${sum}`, `${countPrefix}${count}`);
    }
  }
}

function record(bounds: readonly number[], series: HistogramSeries, value: number): void {
  let bucket = 0;
  while (bucket < bounds.length && value > bounds[bucket]!) bucket++;
  if (bucket < bounds.length) series.counts[bucket]!++;
  series.sum += value;
  series.count++;
}

type Samples = () => Array<{ labels?: Record<string, string>; value: number }>;

/** A gauge whose samples are read when scraped. */
export class Gauge implements Metric {
  protected readonly type: 'gauge' | 'counter' = 'gauge';

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly read: Samples,
  ) {}

  render(lines: string[]): void {
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`);
    for (const { labels = {}, value } of this.read()) {
      lines.push(`${this.name}${formatLabels(Object.keys(labels), Object.values(labels))} ${value}`);
    }
  }
}

/** A counter whose samples are read when scraped: a count kept elsewhere (the watch hub's, the process's CPU time). */
export class ReadCounter extends Gauge {
  protected override readonly type = 'counter';
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
