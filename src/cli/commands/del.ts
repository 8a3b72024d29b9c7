import { createInterface } from 'node:readline/promises';
import type { Command } from '../command.js';
import type { CommandContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { CommandFailure, UsageError } from '../failure.js';
import { integerArgument, writeOut } from '../io.js';

export const delCommand: Command = {
  name: 'del',
  synopsis: 'KEY | --prefix PREFIX',
  summary: 'delete a key, or every key under a prefix',
  details: `  --if-revision N   delete KEY only if it is at revision N
  --prefix PREFIX   delete every key under PREFIX (non-empty) at one revision:
                    shows how many keys match and asks first
  --yes             do not ask (required when standard input is not a terminal)
Exit code 3 when KEY does not exist, 4 when --if-revision fails.`,
  options: {
    prefix: { type: 'string' },
    'if-revision': { type: 'string' },
    yes: { type: 'boolean', short: 'y' },
  },
  async run(context, positionals, values) {
    const prefix = values.prefix as string | undefined;
    if (prefix !== undefined) {
      if (positionals.length > 0) throw new UsageError('give KEY or --prefix PREFIX, not both');
      if (values['if-revision'] !== undefined) throw new UsageError('--if-revision applies to one KEY, not to --prefix');
      return deletePrefix(context, prefix, values.yes === true);
    }
    const [key, ...extra] = positionals;
    if (key === undefined || extra.length > 0) throw new UsageError('give exactly one KEY (or --prefix PREFIX)');
    const ifRevision = integerArgument(values['if-revision'] as string | undefined, '--if-revision', { min: 1 });
    const deleted = await context.client.delete(key, { ...(ifRevision === undefined ? {} : { ifRevision }), signal: context.signal });
    if (!deleted) throw new CommandFailure(`key ${JSON.stringify(key)} not found`, EXIT.notFound);
    await writeOut(context.stdout, context.output === 'json' ? `${JSON.stringify({ key, deleted: true })}\n` : 'deleted\n');
    return EXIT.ok;
  },
};

async function deletePrefix(context: CommandContext, prefix: string, yes: boolean): Promise<number> {
  if (prefix === '') throw new UsageError('--prefix must not be empty (deleting every key at once is not offered)');
  if (!yes && !context.stdin.isTTY)
    throw new UsageError(`refusing to delete under ${JSON.stringify(prefix)} without --yes: standard input is not a terminal to ask on`);
  const { matched } = await context.client.deletePrefix(prefix, { dryRun: true, signal: context.signal });
  if (!yes) {
    if (matched === 0) {
      await writeOut(context.stdout, context.output === 'json' ? `${JSON.stringify({ prefix, deleted: 0 })}\n` : `no keys under ${JSON.stringify(prefix)}\n`);
      return EXIT.ok;
    }
    const prompt = createInterface({ input: context.stdin, output: context.stderr });
    const answer = await prompt
      .question(`delete ${matched.toLocaleString('en-US')} key${matched === 1 ? '' : 's'} under ${JSON.stringify(prefix)}? [y/N] `)
      .finally(() => prompt.close());
    if (!/^y(es)?$/i.test(answer.trim())) {
      await writeOut(context.stderr, 'nothing deleted\n');
      return EXIT.error;
    }
  }
  const result = await context.client.deletePrefix(prefix, { signal: context.signal });
  await writeOut(
    context.stdout,
    context.output === 'json'
      ? `${JSON.stringify({ prefix, ...result })}\n`
      : `deleted ${result.deleted.toLocaleString('en-US')} key${result.deleted === 1 ? '' : 's'} at revision ${result.revision}\n`,
  );
  return EXIT.ok;
}
