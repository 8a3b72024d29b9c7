import { readFile } from 'node:fs/promises';
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
