import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { UsageError } from '../failure.js';
import { writeOut } from '../io.js';
import { Progress } from '../progress.js';

export const exportCommand: Command = {
  name: 'export',
  synopsis: '[PREFIX]',
  summary: 'write every key (under PREFIX) as NDJSON to standard output',
  details: `One line per key, {"key","value"(base64),"contentType","expiresAt"?}, from one
consistent snapshot; kvs import reads it back. Needs an admin token when the
server has tokens. Shows progress on standard error when it is a terminal.`,
  options: {},
  async run(context, positionals) {
    const [prefix, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError('give at most one PREFIX');
    const progress = new Progress(context.stderr, 'keys', 'exported');
    let keys = 0;
    try {
      for await (const record of context.client.export(prefix ?? '', { signal: context.signal })) {
        await writeOut(context.stdout, `${JSON.stringify(record)}\n`);
        keys += 1;
        progress.update(keys);
      }
    } catch (error) {
      progress.abandon();
      throw error;
    }
    progress.finish(keys);
    return EXIT.ok;
  },
};
