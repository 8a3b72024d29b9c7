import type { WatchEvent } from '../../client/index.js';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { UsageError } from '../failure.js';
import { integerArgument, writeOut } from '../io.js';
import { envelopeOf, jsonLine } from '../json-output.js';

export const watchCommand: Command = {
  name: 'watch',
  synopsis: '[PREFIX] | --key KEY',
  summary: 'print changes as they happen (NDJSON), resuming by itself',
  details: `Prints one JSON line per revision, {"revision": R, "events": [...]}, as the
server's change feed sends it (every key when neither PREFIX nor --key is given).
A dropped connection is resumed from the last revision printed: nothing is
missed or repeated. Runs until interrupted (exit 0); exit 6 at once when the
server cannot be reached at the start.
  --key KEY        one key instead of a prefix
  --since R        start with the changes after revision R (from history)
  --no-values      leave values out of put events
  --count N        exit after N revisions
A JSON value comes as the server's change feed embeds it, parsed and serialised
again there (a number beyond 2^53 rounded, 1.0 as 1); kvs get -o json shows a
value's stored text.`,
  options: {
    key: { type: 'string' },
    since: { type: 'string' },
    'no-values': { type: 'boolean' },
    count: { type: 'string' },
  },
  async run(context, positionals, values) {
    const [prefix, ...extra] = positionals;
    const key = values.key as string | undefined;
    if (extra.length > 0 || (key !== undefined && prefix !== undefined)) throw new UsageError('give at most one PREFIX, or --key KEY');
    const since = integerArgument(values.since as string | undefined, '--since', { min: 0 });
    const count = integerArgument(values.count as string | undefined, '--count', { min: 1 });
    const withValues = values['no-values'] !== true;
    let printed = 0;
    const messages = context.client.watch({
      ...(key === undefined ? { prefix: prefix ?? '' } : { key }),
      ...(since === undefined ? {} : { since }),
      values: withValues,
      signal: context.signal,
    });
    for await (const message of messages) {
      await writeOut(context.stdout, `${jsonLine({ revision: message.revision, events: message.events.map((event) => eventJson(event)) })}\n`);
      printed += 1;
      if (count !== undefined && printed >= count) break;
    }
    return EXIT.ok;
  },
};

function eventJson(event: WatchEvent): Record<string, unknown> {
  const json: Record<string, unknown> = { type: event.type, key: event.key, revision: event.revision };
  if (event.type !== 'put') return json;
  json.version = event.version;
  json.createRevision = event.createRevision;
  json.contentType = event.contentType;
  if (event.expiresAt) json.expiresAt = event.expiresAt.toISOString();
  if (event.value !== undefined) Object.assign(json, envelopeOf(event.value, event.contentType ?? 'application/octet-stream'));
  return json;
}
