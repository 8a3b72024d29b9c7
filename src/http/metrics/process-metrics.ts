import { readdirSync, readFileSync } from 'node:fs';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { Histogram, type Metric, type Registry } from './registry.js';

/**
 * The standard process and Node.js runtime series, under the names
 * prom-client's default collectors use (so dashboards made for them work),
 * written here rather than taken from prom-client: see docs/adr/0010-metrics.md.
 * Everything is read when scraped, except GC pauses, which a performance
 * observer records as they happen.
 */
export function registerProcessMetrics(registry: Registry): void {
  registry.register(
    new Sampled(
      () => process.cpuUsage(),
      [
        { name: 'process_cpu_user_seconds_total', help: 'Total user CPU time spent in seconds.', type: 'counter', value: (cpu) => cpu.user / 1e6 },
        { name: 'process_cpu_system_seconds_total', help: 'Total system CPU time spent in seconds.', type: 'counter', value: (cpu) => cpu.system / 1e6 },
        {
          name: 'process_cpu_seconds_total',
          help: 'Total user and system CPU time spent in seconds.',
          type: 'counter',
          value: (cpu) => (cpu.user + cpu.system) / 1e6,
        },
      ],
    ),
  );
  registry.register(
    new Sampled(
      () => null,
      [
        {
          name: 'process_start_time_seconds',
          help: 'Start time of the process since unix epoch in seconds.',
          type: 'gauge',
          value: () => performance.timeOrigin / 1000,
        },
        { name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', type: 'gauge', value: () => process.memoryUsage.rss() },
        { name: 'process_open_fds', help: 'Number of open file descriptors.', type: 'gauge', value: openFds },
        { name: 'process_max_fds', help: 'Maximum number of open file descriptors (the soft limit).', type: 'gauge', value: maxFds },
      ],
    ),
  );
  registry.register(
    new Sampled(
      () => process.memoryUsage(),
      [
        { name: 'nodejs_heap_size_total_bytes', help: 'Process heap size from Node.js in bytes.', type: 'gauge', value: (memory) => memory.heapTotal },
        { name: 'nodejs_heap_size_used_bytes', help: 'Process heap size used from Node.js in bytes.', type: 'gauge', value: (memory) => memory.heapUsed },
        { name: 'nodejs_external_memory_bytes', help: 'Node.js external memory size in bytes.', type: 'gauge', value: (memory) => memory.external },
      ],
    ),
  );
  registry.register(processGcDurations());
}

interface SampledSeries<T> {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  /** null: not known on this platform (the series is left out). */
  value: (sample: T) => number | null;
}

/** Several unlabelled series computed from one reading taken at scrape time (one process.cpuUsage() for user, system and total). */
class Sampled<T> implements Metric {
  constructor(
    private readonly sample: () => T,
    private readonly series: ReadonlyArray<SampledSeries<T>>,
  ) {}

  render(lines: string[]): void {
    const sample = this.sample();
    for (const { name, help, type, value } of this.series) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      const current = value(sample);
      if (current !== null) lines.push(`${name} ${current}`);
    }
  }
}

/** Linux: the entries of /proc/self/fd, less the one reading it opens. */
function openFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return null;
  }
}

/** Linux: the soft limit of "Max open files" in /proc/self/limits. */
function maxFds(): number | null {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line === null || line[1] === 'unlimited' ? null : Number(line[1]);
  } catch {
    return null;
  }
}

/** prom-client's buckets for GC pauses. */
const GC_BUCKETS_SECONDS = [0.001, 0.01, 0.1, 1, 2, 5];

const GC_KINDS: ReadonlyArray<[number, string]> = [
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
];

let gcDurations: Histogram | null = null;

/**
 * One histogram and one observer per process: GC pauses are the process's,
 * whatever the number of servers in it (tests). The observer is called after
 * each collection with its duration; it does not keep the process alive.
 */
function processGcDurations(): Histogram {
  if (gcDurations !== null) return gcDurations;
  const histogram = new Histogram(
    'nodejs_gc_duration_seconds',
    'Garbage collection pauses by kind (minor, major, incremental, weakcb), in seconds.',
    ['kind'],
    GC_BUCKETS_SECONDS,
  );
  const byKind = new Map(GC_KINDS.map(([kind, label]) => [kind, histogram.observer([label])]));
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      byKind.get((entry as { detail?: { kind?: number } | null }).detail?.kind ?? -1)?.(entry.duration / 1000);
    }
  }).observe({ entryTypes: ['gc'] });
  gcDurations = histogram;
  return histogram;
}
