import { extname } from 'node:path';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { UsageError } from '../failure.js';
import { integerArgument, readInputFile, readStdin, secondsArgument, writeOut } from '../io.js';

/** Content types guessed from a file's extension, for `put KEY @FILE` without --content-type. */
const TYPES_BY_EXTENSION: Record<string, string> = {
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.toml': 'application/toml',
  '.xml': 'application/xml',
  '.html': 'text/html; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
};

export const putCommand: Command = {
  name: 'put',
  synopsis: 'KEY [VALUE|@FILE|-]',
  summary: 'create or replace a key',
  details: `The value is VALUE as text, the bytes of FILE with @FILE, or standard input with
- (or when no value is given and standard input is not a terminal).
  --content-type TYPE  default: text for VALUE, by extension for @FILE
                       (.json, .txt, .yaml, .png, ...), else application/octet-stream
  --ttl SECONDS        expire the key after SECONDS (decimals allowed)
  --if-revision N      write only if the key is at revision N (compare-and-swap)
  --create             write only if the key does not exist
Prints the new revision. Exit code 4 when --if-revision or --create fails.`,
  options: {
    'content-type': { type: 'string' },
    ttl: { type: 'string' },
    'if-revision': { type: 'string' },
    create: { type: 'boolean' },
  },
  async run(context, positionals, values) {
    const [key, source, ...extra] = positionals;
    if (key === undefined || extra.length > 0) throw new UsageError('give KEY and at most one VALUE, @FILE or -');
    const ifRevision = integerArgument(values['if-revision'] as string | undefined, '--if-revision', { min: 0 });
    if (ifRevision !== undefined && values.create === true) throw new UsageError('give --if-revision or --create, not both');
    const ttlSeconds = secondsArgument(values.ttl as string | undefined, '--ttl');
    const { body, contentType } = await valueFrom(source, context.stdin);
    const result = await context.client.put(key, body, {
      contentType: (values['content-type'] as string | undefined) ?? contentType,
      ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
      // Revision 0 means "absent", as in a txn check: the same as --create.
      ...(ifRevision === undefined || ifRevision === 0 ? {} : { ifRevision }),
      ...(values.create === true || ifRevision === 0 ? { ifAbsent: true } : {}),
      signal: context.signal,
    });
    const text =
      context.output === 'json'
        ? JSON.stringify({ ...result, expiresAt: result.expiresAt?.toISOString() })
        : `revision ${result.revision}${result.created ? ' (created)' : ''}`;
    await writeOut(context.stdout, `${text}\n`);
    return EXIT.ok;
  },
};

async function valueFrom(source: string | undefined, stdin: NodeJS.ReadStream): Promise<{ body: Uint8Array; contentType: string }> {
  if (source === undefined && stdin.isTTY) throw new UsageError('give a VALUE, @FILE, or - to read standard input');
  if (source === undefined || source === '-') return { body: await readStdin(stdin), contentType: 'application/octet-stream' };
  if (source.startsWith('@')) {
    const file = source.slice(1);
    return { body: await readInputFile(file), contentType: TYPES_BY_EXTENSION[extname(file).toLowerCase()] ?? 'application/octet-stream' };
  }
  return { body: new TextEncoder().encode(source), contentType: 'text/plain; charset=utf-8' };
}
