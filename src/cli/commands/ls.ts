import type { ListItem } from '../../client/index.js';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { UsageError } from '../failure.js';
import { integerArgument, writeOut } from '../io.js';
import { envelopeOf, jsonLine, RawJson } from '../json-output.js';
import { lineText } from '../text-line.js';

const encoder = new TextEncoder();

export const lsCommand: Command = {
  name: 'ls',
  synopsis: '[PREFIX]',
  summary: 'list keys, one per line (every page)',
  details: `  --values          also print each value: KEY<TAB>VALUE (JSON as JSON, binary as
                    base64, text as it is)
  --delimiter D     roll keys up after PREFIX to the first D (e.g. /): folders
                    are printed as PREFIX...D
  --start KEY       from KEY on (inclusive)
  --end KEY         up to KEY (exclusive); with PREFIX, the keys in both
  --reverse         descending order
  --limit N         print at most N keys
A key, folder or text value that holds a control character (newline, tab,
ESC...) or starts with " is printed as a JSON string ("a\\nb"), so that each
line is one key.
-o json prints one JSON object per line: the key's metadata (and value), or
{"prefix": P} for a rolled-up folder. A JSON value comes as the server's listing
embeds it, parsed and serialised again there (a number beyond 2^53 rounded, 1.0
as 1); kvs get -o json shows a value's stored text.`,
  options: {
    values: { type: 'boolean' },
    delimiter: { type: 'string', short: 'd' },
    start: { type: 'string' },
    end: { type: 'string' },
    reverse: { type: 'boolean', short: 'r' },
    limit: { type: 'string' },
  },
  async run(context, positionals, values) {
    const [prefix, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError('give at most one PREFIX');
    const limit = integerArgument(values.limit as string | undefined, '--limit', { min: 1 });
    const withValues = values.values === true;
    const delimiter = values.delimiter as string | undefined;
    if (delimiter === '') throw new UsageError('--delimiter must not be empty');
    const reverse = values.reverse === true;
    const start = values.start as string | undefined;
    const end = values.end as string | undefined;
    const query = context.client.list({
      ...(prefix === undefined ? {} : { prefix }),
      ...(start === undefined ? {} : { start }),
      ...(end === undefined ? {} : { end }),
      values: withValues,
      reverse,
      ...(delimiter === undefined ? {} : { delimiter }),
      limit: Math.min(limit ?? 1000, 1000),
      signal: context.signal,
    });
    let printed = 0;
    for await (const page of query.pages()) {
      for (const row of inOrder(page.items, page.prefixes, reverse)) {
        if (limit !== undefined && printed >= limit) return EXIT.ok;
        await writeOut(context.stdout, `${typeof row === 'string' ? prefixLine(row, context.output) : itemLine(row, context.output, withValues)}\n`);
        printed += 1;
      }
    }
    return EXIT.ok;
  },
};

function prefixLine(prefix: string, output: string): string {
  return output === 'json' ? JSON.stringify({ prefix }) : lineText(prefix);
}

function itemLine(item: ListItem, output: string, withValues: boolean): string {
  const value = withValues && item.value !== undefined ? envelopeOf(item.value, item.contentType) : undefined;
  if (output === 'json') {
    const { text: _text, json: _json, value: _bytes, expiresAt, ...meta } = item;
    return jsonLine({ ...meta, ...(expiresAt === null ? {} : { expiresAt: expiresAt.toISOString() }), ...(value ?? {}) });
  }
  // One line per key: JSON as JSON, base64 as it is, a key or text quoted when it could break the line.
  const key = lineText(item.key);
  if (value === undefined) return key;
  if (value.value instanceof RawJson) return `${key}\t${value.value.text}`;
  const text = String(value.value);
  return `${key}\t${value.encoding === 'utf8' ? lineText(text) : text}`;
}

/** A page's keys and folders merged in the order the store keeps them (UTF-8 bytes). */
function inOrder(items: ListItem[], prefixes: string[], reverse: boolean): Array<ListItem | string> {
  if (prefixes.length === 0) return items;
  const rows: Array<ListItem | string> = [...items, ...prefixes];
  const sortKey = (row: ListItem | string) => encoder.encode(typeof row === 'string' ? row : row.key);
  rows.sort((a, b) => compareBytes(sortKey(a), sortKey(b)) * (reverse ? -1 : 1));
  return rows;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index += 1) if (a[index] !== b[index]) return a[index]! - b[index]!;
  return a.length - b.length;
}
