import { readFile } from 'node:fs/promises';
import { bytesToBase64, isJsonContentType, isUtf8, utf8 } from '../client/values.js';
import type { Entry } from '../client/index.js';
import { EXIT } from './exit-codes.js';
import { CommandFailure, UsageError } from './failure.js';

/** Writes to a stream, waiting while its buffer is full, so that a large export never piles up in memory. */
export async function writeOut(stream: NodeJS.WritableStream, chunk: string | Uint8Array): Promise<void> {
  if (stream.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const onDrain = () => {
      stream.off('error', onError);
      resolve();
    };
    const onError = (error: Error) => {
      stream.off('drain', onDrain);
      reject(error);
    };
    stream.once('drain', onDrain);
    stream.once('error', onError);
  });
}

/** All of standard input. */
export async function readStdin(stdin: NodeJS.ReadStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

/** A file's bytes, with a one-line error naming it. */
export async function readInputFile(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    // Exit 1, as exit-codes.ts says of a file that cannot be read: the command line itself is fine.
    throw new CommandFailure(`${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, EXIT.error);
  }
}

/** `FILE` or `-` (standard input) for verbs that read a document: txn, import. */
export async function readSource(source: string | undefined, stdin: NodeJS.ReadStream, what: string): Promise<Buffer> {
  if (source === undefined) {
    if (stdin.isTTY) throw new UsageError(`give ${what} as FILE, or - for standard input`);
    return readStdin(stdin);
  }
  return source === '-' ? readStdin(stdin) : readInputFile(source);
}

/** A value as the API's JSON envelopes show it (API.md §2): JSON embedded, text as a string, else base64. */
export function envelopeOf(value: Uint8Array, contentType: string): { value: unknown; encoding: 'json' | 'utf8' | 'base64' } {
  if (isJsonContentType(contentType) && isUtf8(value)) {
    try {
      return { value: JSON.parse(utf8(value)), encoding: 'json' };
    } catch {
      // Stored as JSON but is not: show it as what it is.
    }
  }
  if (isUtf8(value)) return { value: utf8(value), encoding: 'utf8' };
  return { value: bytesToBase64(value), encoding: 'base64' };
}

/** An entry with its metadata as one JSON object (`-o json`). */
export function entryJson(entry: Entry): Record<string, unknown> {
  return {
    key: entry.key,
    ...envelopeOf(entry.value, entry.contentType),
    contentType: entry.contentType,
    size: entry.value.length,
    revision: entry.revision,
    createRevision: entry.createRevision,
    version: entry.version,
    ...(entry.expiresAt === null ? {} : { expiresAt: entry.expiresAt.toISOString() }),
  };
}

/** A whole number from a flag or argument, or a usage error naming it. */
export function integerArgument(text: string | undefined, name: string, options: { min?: number } = {}): number | undefined {
  if (text === undefined) return undefined;
  const value = /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || (options.min !== undefined && value < options.min)) {
    throw new UsageError(`${name} must be a whole number${options.min === undefined ? '' : ` >= ${options.min}`} (got ${JSON.stringify(text)})`);
  }
  return value;
}

/** A number of seconds (decimals allowed) > 0. */
export function secondsArgument(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(value > 0)) throw new UsageError(`${name} must be a number of seconds > 0 (got ${JSON.stringify(text)})`);
  return value;
}
