import { runWrk, type LoadResult } from './lib.js';
import { summarise } from './measure.js';

/** A server under load: its URL and the pid whose CPU time is counted. */
export interface Target {
  url: string;
  pid: number;
}

/** One thing measured: a server with the wrk script (and its environment) that loads it. */
export interface Subject {
  name: string;
  target: Target;
  script: string;
  env?: Record<string, string>;
  /** Connections, when not the run's. */
  connections?: number;
  /** The status every answer has when it is not 2xx (a 404 of a missing key): those are not counted as errors. */
  expectedStatus?: number;
}

/** A row of the report: a subject against its anchor, in the shape bench/run.ts prints. */
export interface Row {
  scenario: string;
  subject: LoadResult;
  anchor: LoadResult;
  anchorName: string;
}

export interface RunSettings {
  seconds: number;
  rounds: number;
  connections: number;
  warmupSeconds: number;
}

/**
 * Interleaved rounds: every subject once per round, in order, after an
 * unmeasured warm-up of each, so that a shared machine's noise hits them
 * alike; medians of each figure over the rounds.
 */
export async function measureInterleaved(subjects: Subject[], settings: RunSettings): Promise<Map<string, LoadResult>> {
  const results = new Map<string, LoadResult[]>(subjects.map((subject) => [subject.name, []]));
  for (const subject of subjects) load(subject, settings, settings.warmupSeconds);
  // Answers of the expected status are not errors; the first is checked to be of it.
  for (const subject of subjects) if (subject.expectedStatus !== undefined) await expectStatus(subject);
  for (let round = 0; round < settings.rounds; round++) {
    for (const subject of subjects) results.get(subject.name)!.push(load(subject, settings, settings.seconds));
  }
  return new Map([...results].map(([name, rounds]) => [name, summarise(rounds)]));
}

function load(subject: Subject, settings: RunSettings, seconds: number): LoadResult {
  const env = { RUN_ID: `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`, ...subject.env };
  const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  Object.assign(process.env, env);
  try {
    const result = runWrk(subject.target.url, subject.target.pid, {
      seconds,
      connections: subject.connections ?? settings.connections,
      script: subject.script,
    });
    return subject.expectedStatus === undefined ? result : { ...result, errors: result.errors - (result.non2xx ?? 0) };
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/** The answer to the first request `subject`'s script would send (get-key.lua's PATH_PREFIX, key 0) has the expected status. */
async function expectStatus(subject: Subject): Promise<void> {
  const path = `${subject.env?.['PATH_PREFIX'] ?? '/v1/kv/bench/k'}0`;
  const response = await fetch(`${subject.target.url}${path}`);
  await response.arrayBuffer();
  if (response.status !== subject.expectedStatus) throw new Error(`${subject.name}: ${path} answered ${response.status}, not ${subject.expectedStatus}`);
}

/** `subject` against `anchor`, from measured results. */
export function row(scenario: string, results: Map<string, LoadResult>, subject: string, anchor: string, anchorName = anchor): Row {
  return { scenario, subject: results.get(subject)!, anchor: results.get(anchor)!, anchorName };
}
