import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, ReadCounter, Registry } from '../../src/http/metrics/registry.js';

function render(...metrics: Array<Counter | Histogram | Gauge | ReadCounter>): string {
  const registry = new Registry();
  for (const metric of metrics) registry.register(metric);
  return registry.render();
}

function lines(text: string): string[] {
  assert.ok(text.endsWith('\n'), 'exposition ends with a newline');
  return text.slice(0, -1).split('\n');
}

describe('Counter', () => {
  it('renders HELP, TYPE and an unlabelled sample', () => {
    const counter = new Counter('kvs_writes_total', 'Writes applied.');
    counter.inc();
    counter.inc();
    counter.inc([], 5);
    assert.equal(render(counter), '# HELP kvs_writes_total Writes applied.\n# TYPE kvs_writes_total counter\nkvs_writes_total 7\n');
  });

  it('renders only HELP and TYPE before any increment', () => {
    const counter = new Counter('kvs_empty_total', 'Nothing yet.', ['route']);
    assert.deepEqual(lines(render(counter)), ['# HELP kvs_empty_total Nothing yet.', '# TYPE kvs_empty_total counter']);
  });

  it('keeps one series per label combination, in first-seen order', () => {
    const counter = new Counter('http_requests_total', 'Requests.', ['method', 'status']);
    counter.inc(['GET', '200']);
    counter.inc(['PUT', '201']);
    counter.inc(['GET', '200']);
    counter.inc(['GET', '404'], 3);
    assert.deepEqual(lines(render(counter)), [
      '# HELP http_requests_total Requests.',
      '# TYPE http_requests_total counter',
      'http_requests_total{method="GET",status="200"} 2',
      'http_requests_total{method="PUT",status="201"} 1',
      'http_requests_total{method="GET",status="404"} 3',
    ]);
  });

  it('escapes ", \\ and newlines in label values', () => {
    const counter = new Counter('c', 'h', ['v']);
    counter.inc(['say "hi"']);
    counter.inc(['back\\slash']);
    counter.inc(['line\nbreak']);
    counter.inc(['all "\\\n" of them']);
    assert.deepEqual(lines(render(counter)).slice(2), [
      'c{v="say \\"hi\\""} 1',
      'c{v="back\\\\slash"} 1',
      'c{v="line\\nbreak"} 1',
      'c{v="all \\"\\\\\\n\\" of them"} 1',
    ]);
  });

  it('escapes a backslash before a quote or n without double escaping', () => {
    const counter = new Counter('c', 'h', ['v']);
    counter.inc(['\\n']); // a backslash then the letter n, not a newline
    counter.inc(['\\"']);
    assert.deepEqual(lines(render(counter)).slice(2), ['c{v="\\\\n"} 1', 'c{v="\\\\\\""} 1']);
  });

  it('keeps label values that contain the internal separator apart', () => {
    const counter = new Counter('c', 'h', ['a', 'b']);
    counter.inc(['x', 'y']);
    counter.inc(['x', 'z']);
    assert.equal(lines(render(counter)).length, 4);
  });
});

describe('Histogram', () => {
  it('renders cumulative buckets, +Inf, _sum and _count', () => {
    const histogram = new Histogram('latency_seconds', 'Latency.', [], [0.5, 1, 2]);
    for (const value of [0.25, 0.5, 0.75, 4]) histogram.observe([], value);
    assert.deepEqual(lines(render(histogram)), [
      '# HELP latency_seconds Latency.',
      '# TYPE latency_seconds histogram',
      'latency_seconds_bucket{le="0.5"} 2',
      'latency_seconds_bucket{le="1"} 3',
      'latency_seconds_bucket{le="2"} 3',
      'latency_seconds_bucket{le="+Inf"} 4',
      'latency_seconds_sum 5.5',
      'latency_seconds_count 4',
    ]);
  });

  it('counts a value equal to a bound in that bucket (le is inclusive)', () => {
    const histogram = new Histogram('h', 'x', [], [1, 2]);
    histogram.observe([], 1);
    histogram.observe([], 2);
    assert.deepEqual(lines(render(histogram)).slice(2, 5), ['h_bucket{le="1"} 1', 'h_bucket{le="2"} 2', 'h_bucket{le="+Inf"} 2']);
  });

  it('counts values above every bound only in +Inf', () => {
    const histogram = new Histogram('h', 'x', [], [1]);
    histogram.observe([], 10);
    histogram.observe([], 20);
    assert.deepEqual(lines(render(histogram)).slice(2), ['h_bucket{le="1"} 0', 'h_bucket{le="+Inf"} 2', 'h_sum 30', 'h_count 2']);
  });

  it('puts le after the other labels and keeps series apart', () => {
    const histogram = new Histogram('req_seconds', 'Durations.', ['route', 'method'], [0.1, 1]);
    histogram.observe(['/v1/kv/*', 'GET'], 0.05);
    histogram.observe(['/v1/kv/*', 'PUT'], 0.5);
    histogram.observe(['/v1/kv/*', 'GET'], 0.5);
    assert.deepEqual(lines(render(histogram)).slice(2), [
      'req_seconds_bucket{route="/v1/kv/*",method="GET",le="0.1"} 1',
      'req_seconds_bucket{route="/v1/kv/*",method="GET",le="1"} 2',
      'req_seconds_bucket{route="/v1/kv/*",method="GET",le="+Inf"} 2',
      'req_seconds_sum{route="/v1/kv/*",method="GET"} 0.55',
      'req_seconds_count{route="/v1/kv/*",method="GET"} 2',
      'req_seconds_bucket{route="/v1/kv/*",method="PUT",le="0.1"} 0',
      'req_seconds_bucket{route="/v1/kv/*",method="PUT",le="1"} 1',
      'req_seconds_bucket{route="/v1/kv/*",method="PUT",le="+Inf"} 1',
      'req_seconds_sum{route="/v1/kv/*",method="PUT"} 0.5',
      'req_seconds_count{route="/v1/kv/*",method="PUT"} 1',
    ]);
  });

  it('escapes label values in every line', () => {
    const histogram = new Histogram('h', 'x', ['route'], [1]);
    histogram.observe(['a"b'], 0.5);
    const output = lines(render(histogram));
    assert.deepEqual(output.slice(2), [
      'h_bucket{route="a\\"b",le="1"} 1',
      'h_bucket{route="a\\"b",le="+Inf"} 1',
      'h_sum{route="a\\"b"} 0.5',
      'h_count{route="a\\"b"} 1',
    ]);
  });

  it('renders only HELP and TYPE before any observation', () => {
    const histogram = new Histogram('h', 'x', ['route'], [1]);
    assert.deepEqual(lines(render(histogram)), ['# HELP h x', '# TYPE h histogram']);
  });
});

describe('Gauge', () => {
  it('reads its samples at render time', () => {
    let keys = 3;
    const gauge = new Gauge('kvs_keys', 'Live keys.', () => [{ value: keys }]);
    const registry = new Registry();
    registry.register(gauge);
    assert.equal(registry.render(), '# HELP kvs_keys Live keys.\n# TYPE kvs_keys gauge\nkvs_keys 3\n');
    keys = 10;
    assert.equal(registry.render(), '# HELP kvs_keys Live keys.\n# TYPE kvs_keys gauge\nkvs_keys 10\n');
  });

  it('renders labelled samples with escaping', () => {
    const gauge = new Gauge('g', 'help', () => [
      { labels: { engine: 'lmdb', db: 'kv' }, value: 1 },
      { labels: { engine: 'a"b\\c\nd', db: '' }, value: 2.5 },
      { value: -1 },
    ]);
    assert.deepEqual(lines(render(gauge)), ['# HELP g help', '# TYPE g gauge', 'g{engine="lmdb",db="kv"} 1', 'g{engine="a\\"b\\\\c\\nd",db=""} 2.5', 'g -1']);
  });

  it('renders only HELP and TYPE when there are no samples', () => {
    const gauge = new Gauge('g', 'help', () => []);
    assert.deepEqual(lines(render(gauge)), ['# HELP g help', '# TYPE g gauge']);
  });
});

describe('ReadCounter', () => {
  it('is typed counter and reads its samples at render time', () => {
    let sent = 2;
    const counter = new ReadCounter('kvs_events_sent_total', 'Events sent.', () => [{ value: sent }]);
    assert.equal(render(counter), '# HELP kvs_events_sent_total Events sent.\n# TYPE kvs_events_sent_total counter\nkvs_events_sent_total 2\n');
    sent = 5;
    assert.deepEqual(lines(render(counter)).slice(2), ['kvs_events_sent_total 5']);
  });
});

describe('Histogram observer', () => {
  it('records into the same series as observe()', () => {
    const histogram = new Histogram('h', 'x', ['kind'], [1]);
    const minor = histogram.observer(['minor']);
    minor(0.5);
    histogram.observe(['minor'], 2);
    minor(1);
    assert.deepEqual(lines(render(histogram)).slice(2), [
      'h_bucket{kind="minor",le="1"} 2',
      'h_bucket{kind="minor",le="+Inf"} 3',
      'h_sum{kind="minor"} 3.5',
      'h_count{kind="minor"} 3',
    ]);
  });
});

describe('Registry', () => {
  it('renders metrics in registration order, ending with a newline', () => {
    const registry = new Registry();
    const counter = registry.register(new Counter('a_total', 'A.'));
    registry.register(new Gauge('b', 'B.', () => [{ value: 2 }]));
    counter.inc();
    assert.equal(registry.render(), '# HELP a_total A.\n# TYPE a_total counter\na_total 1\n# HELP b B.\n# TYPE b gauge\nb 2\n');
  });

  it('returns the registered metric', () => {
    const registry = new Registry();
    const counter = new Counter('x_total', 'X.');
    assert.equal(registry.register(counter), counter);
  });
});
