import { readFileSync } from 'node:fs';
import { KvsClient, DEFAULT_URL } from '../client/index.js';
import { EXIT } from './exit-codes.js';
import { CommandFailure, UsageError } from './failure.js';

/** The options every data verb takes, wherever they stand on the command line. */
export const GLOBAL_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  output: { type: 'string', short: 'o' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** How long a request may wait for its answer (a stream: for its start, then between chunks). */
const TIMEOUT_SECONDS_DEFAULT = 30;

export const GLOBAL_USAGE = `Global options:
  --url URL          the server (default ${DEFAULT_URL}) [KVS_URL]
  --token TOKEN      bearer token [KVS_TOKEN]
  --token-file FILE  read the token from FILE
  -o, --output FMT   text (default) or json; --json is -o json
  --timeout SECONDS  give up on a server that does not answer (default ${TIMEOUT_SECONDS_DEFAULT}) [KVS_TIMEOUT]
  -h, --help         help for the command`;

export type OutputFormat = 'text' | 'json';

/** What a command runs with: its client, output format and the process's streams. */
export interface CommandContext {
  client: KvsClient;
  output: OutputFormat;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM: long commands stop cleanly. */
  signal: AbortSignal;
}

export interface GlobalValues {
  url?: string | undefined;
  token?: string | undefined;
  'token-file'?: string | undefined;
  output?: string | undefined;
  json?: boolean | undefined;
  timeout?: string | undefined;
}

/** The client and output format the global options and the environment ask for. */
export function contextFrom(values: GlobalValues, signal: AbortSignal): CommandContext {
  const env = process.env;
  const output = values.json === true ? 'json' : (values.output ?? 'text');
  if (output !== 'text' && output !== 'json') throw new UsageError(`-o must be text or json (got ${JSON.stringify(output)})`);
  const url = values.url ?? (env['KVS_URL'] || DEFAULT_URL);
  if (!/^https?:\/\/[^/]/i.test(url) || !URL.canParse(url)) throw new UsageError(`--url must be an http:// or https:// URL (got ${JSON.stringify(url)})`);
  const token = values.token ?? tokenFromFile(values['token-file']) ?? (env['KVS_TOKEN'] || undefined);
  const timeoutSeconds = timeoutFrom(values.timeout ?? (env['KVS_TIMEOUT'] || undefined));
  return {
    client: new KvsClient({ url, token, timeoutMs: timeoutSeconds * 1000 }),
    output,
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env,
    signal,
  };
}

function timeoutFrom(text: string | undefined): number {
  if (text === undefined) return TIMEOUT_SECONDS_DEFAULT;
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(seconds > 0)) throw new UsageError(`--timeout must be a number of seconds > 0 (got ${JSON.stringify(text)})`);
  return seconds;
}

function tokenFromFile(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CommandFailure(`--token-file ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, EXIT.error);
  }
  const token = text.trim();
  if (token === '') throw new UsageError(`--token-file ${file} is empty`);
  return token;
}
