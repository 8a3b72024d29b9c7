import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { CommandFailure, UsageError } from '../failure.js';
import { writeOut } from '../io.js';
import { entryJson, jsonLine } from '../json-output.js';

export const getCommand: Command = {
  name: 'get',
  synopsis: 'KEY',
  summary: 'print a value (raw bytes; -o json adds its metadata)',
  details: `Writes the value's bytes to standard output exactly as stored (binary-safe;
a newline is added only when the output is a terminal). -o json prints one
object: key, value (JSON embedded, text, or base64 by "encoding"), contentType,
size, revision, createRevision, version, expiresAt. A JSON value is embedded as
its stored text (12345678901234567890 and 1.0 stay as they are), on one line.
Exit code 3 when the key does not exist.`,
  options: {},
  async run(context, positionals) {
    const [key, ...extra] = positionals;
    if (key === undefined || extra.length > 0) throw new UsageError('give exactly one KEY');
    const entry = await context.client.get(key, { signal: context.signal });
    if (entry === null) throw new CommandFailure(`key ${JSON.stringify(key)} not found`, EXIT.notFound);
    if (context.output === 'json') {
      await writeOut(context.stdout, `${jsonLine(entryJson(entry))}\n`);
      return EXIT.ok;
    }
    await writeOut(context.stdout, entry.value);
    // At a terminal, end the line so the prompt does not run into the value; piped, the bytes are left as they are.
    if (context.stdout.isTTY && entry.value.at(-1) !== 0x0a) await writeOut(context.stdout, '\n');
    return EXIT.ok;
  },
};
