import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { UsageError } from '../failure.js';
import { writeOut } from '../io.js';

export const statusCommand: Command = {
  name: 'status',
  synopsis: '',
  summary: "the server's engine, version, store revision and key count",
  details: 'Needs an admin token when the server has tokens.',
  options: {},
  async run(context, positionals) {
    if (positionals.length > 0) throw new UsageError('status takes no arguments');
    const status = await context.client.status({ signal: context.signal });
    if (context.output === 'json') {
      await writeOut(context.stdout, `${JSON.stringify({ url: context.client.url, ...status })}\n`);
      return EXIT.ok;
    }
    const rows: Array<[string, string | number]> = [
      ['url', context.client.url],
      ['engine', status.engine],
      ['version', status.version],
      ['revision', status.revision],
      ['compactRevision', status.compactRevision],
      ['keys', status.keys],
      ['uptime', `${status.uptimeSeconds} s`],
    ];
    await writeOut(context.stdout, rows.map(([name, value]) => `${`${name}:`.padEnd(17)}${value}\n`).join(''));
    return EXIT.ok;
  },
};
