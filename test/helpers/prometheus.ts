import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * A /metrics exposition parsed strictly by the Prometheus project's own Python
 * client (prometheus_client; Debian: python3-prometheus-client, which .ci/run
 * installs), in one python3 process kept for the test file (a scrape costs a
 * line each way, not a Python start).
 *
 * The client has two parsers. Its Prometheus text (0.0.4) parser says of itself
 * that it is "laxer than the main Go parser": it takes a family that appears
 * twice, unknown label syntax and repeated series. Its OpenMetrics parser is
 * strict: metric and label names, a family's HELP and TYPE at most once and
 * before its samples, a family name used once (a family split in two is a
 * "clashing name"), a series' samples together, histogram buckets in order,
 * cumulative, with +Inf equal to _count, no negative or NaN counter value, no
 * blank or stray comment line. kvs serves the text format, which OpenMetrics
 * extends; the one difference that matters here is the name of a counter's
 * family, which OpenMetrics gives without `_total` (its samples keep it). So the
 * exposition is read with the OpenMetrics parser after renaming, in the HELP and
 * TYPE lines only, each counter family `x_total` to `x`, and adding `# EOF`. A
 * counter whose name lacks `_total` then fails (its samples clash with its
 * family). The parser silently drops an exact repeat of a series within its
 * group: every sample line must come back as a sample, or the exposition is
 * refused as well.
 */

export interface PromSample {
  /** The sample's own name: `x_total`, `x`, `x_bucket`, `x_sum`, `x_count`. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  /** As the exposition names it (a counter with its `_total`). */
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'unknown' | 'info' | 'stateset' | 'gaugehistogram';
  help: string;
  samples: PromSample[];
}

export type Exposition = Map<string, PromFamily>;

const SCRIPT = String.raw`
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families

def number(value):
    return repr(float(value))

def parse(text):
    if not text.endswith('\n'):
        raise ValueError('the exposition does not end with a newline')
    lines = text[:-1].split('\n')
    counters = set()
    for line in lines:
        parts = line.split(' ')
        if len(parts) == 4 and parts[:2] == ['#', 'TYPE'] and parts[3] == 'counter' and parts[2].endswith('_total'):
            counters.add(parts[2])
    mapped = []
    for line in lines:
        parts = line.split(' ', 3)
        if len(parts) >= 3 and parts[0] == '#' and parts[1] in ('HELP', 'TYPE') and parts[2] in counters:
            parts[2] = parts[2][:-len('_total')]
            line = ' '.join(parts)
        mapped.append(line)
    families = list(text_string_to_metric_families('\n'.join(mapped + ['# EOF']) + '\n'))
    sample_lines = sum(1 for line in lines if not line.startswith('#'))
    parsed = sum(len(family.samples) for family in families)
    if parsed != sample_lines:
        raise ValueError('%d sample lines but %d distinct samples: a series appears more than once' % (sample_lines, parsed))
    return [
        {
            'name': family.name + '_total' if family.type == 'counter' else family.name,
            'type': family.type,
            'help': family.documentation,
            'samples': [{'name': s.name, 'labels': s.labels, 'value': number(s.value)} for s in family.samples],
        }
        for family in families
    ]

for line in sys.stdin:
    try:
        answer = {'families': parse(json.loads(line))}
    except Exception as error:
        answer = {'error': '%s: %s' % (type(error).__name__, error)}
    sys.stdout.write(json.dumps(answer) + '\n')
    sys.stdout.flush()
`;

/** Debian's python3 (where python3-prometheus-client installs), else whichever python3 is on PATH and has the client. */
function pythonWithClient(): string | null {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(candidate, ['-c', 'import prometheus_client.openmetrics.parser'], { stdio: 'ignore' });
    if (probe.status === 0) return candidate;
  }
  return null;
}

const fromPython = (text: string) => (text === 'inf' ? Number.POSITIVE_INFINITY : text === '-inf' ? Number.NEGATIVE_INFINITY : Number(text));

/** The parser process of a test file: parse() as often as needed, close() in an after hook. */
export class ExpositionParser {
  private child: ChildProcessWithoutNullStreams | null = null;
  private readonly waiting: Array<{ resolve: (line: string) => void; reject: (error: Error) => void }> = [];
  private stderr = '';

  private start(): ChildProcessWithoutNullStreams {
    if (this.child !== null) return this.child;
    const python = pythonWithClient();
    if (python === null) throw new Error('no python3 with the Prometheus client here: apt-get install python3-prometheus-client (.ci/run installs it)');
    const child = spawn(python, ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONIOENCODING: 'utf-8' } });
    child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      this.waiting.shift()?.resolve(line);
      this.holdWhileWaiting();
    });
    child.on('exit', (code, signal) => {
      for (const waiter of this.waiting.splice(0)) waiter.reject(new Error(`the exposition parser exited (${code ?? signal}):\n${this.stderr}`));
      this.child = null;
    });
    child.on('error', (error) => {
      for (const waiter of this.waiting.splice(0)) waiter.reject(error);
    });
    this.child = child;
    this.holdWhileWaiting();
    return child;
  }

  /** The process keeps the test's event loop alive only while an answer is awaited: a file that forgets close() still ends. */
  private holdWhileWaiting(): void {
    const child = this.child;
    if (child === null) return;
    const hold = this.waiting.length > 0;
    for (const handle of [child, child.stdin, child.stdout, child.stderr] as unknown as Array<{ ref?: () => void; unref?: () => void }>) {
      if (hold) handle.ref?.();
      else handle.unref?.();
    }
  }

  /** The families of `text`, by name; throws with the parser's reason when `text` is not a valid exposition. */
  async parse(text: string): Promise<Exposition> {
    const child = this.start();
    const answer = new Promise<string>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.holdWhileWaiting();
    child.stdin.write(`${JSON.stringify(text)}\n`);
    const parsed = JSON.parse(await answer) as {
      error?: string;
      families?: Array<Omit<PromFamily, 'samples'> & { samples: Array<Omit<PromSample, 'value'> & { value: string }> }>;
    };
    if (parsed.error !== undefined) throw new Error(`not a valid exposition: ${parsed.error}`);
    const exposition: Exposition = new Map();
    for (const family of parsed.families!) {
      exposition.set(family.name, { ...family, samples: family.samples.map((sample) => ({ ...sample, value: fromPython(sample.value) })) });
    }
    return exposition;
  }

  close(): void {
    this.child?.stdin.end();
  }
}
