import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { UsageError } from '../failure.js';
import { integerArgument, writeOut } from '../io.js';

export const addCommand: Command = {
  name: 'add',
  synopsis: 'KEY [BY]',
  summary: 'add BY (default 1, may be negative) to a counter; prints the new value',
  details: `A missing key counts as 0; the result is stored as JSON. Exit code 4 when the
value is not a JSON integer or the result would overflow.`,
  options: {},
  async run(context, positionals) {
    const [key, byText, ...extra] = positionals;
    if (key === undefined || extra.length > 0) throw new UsageError('give KEY and at most one BY');
    const by = integerArgument(byText, 'BY') ?? 1;
    const result = await context.client.add(key, by, { signal: context.signal });
    await writeOut(context.stdout, `${context.output === 'json' ? JSON.stringify(result) : result.value}\n`);
    return EXIT.ok;
  },
};
