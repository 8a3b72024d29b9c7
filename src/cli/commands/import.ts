import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { UsageError } from '../failure.js';
import { readSource, writeOut } from '../io.js';
import { Progress } from '../progress.js';

export const importCommand: Command = {
  name: 'import',
  synopsis: 'FILE|-',
  summary: "import an export (NDJSON), or the original server's data file",
  details: `  --format ndjson   kvs export's format (default)
  --format seed     the original server's key_value_data.json ({"key": value})
All or nothing: one bad line refuses the whole import and names the line.
The server applies the whole file before it answers: kvs import waits up to an
hour for that answer, whatever --timeout says. Shows progress on standard error
when it is a terminal. Needs an admin token when the server has tokens.`,
  options: {
    format: { type: 'string' },
  },
  async run(context, positionals, values) {
    const [source, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError('give one FILE, or - for standard input');
    const format = (values.format as string | undefined) ?? 'ndjson';
    if (format !== 'ndjson' && format !== 'seed') throw new UsageError(`--format must be ndjson or seed (got ${JSON.stringify(format)})`);
    const data = await readSource(source, context.stdin, 'the data to import');
    // One request, applied atomically by the server: the progress there is to show is what has been sent.
    const progress = new Progress(context.stderr, 'bytes', 'sent', data.length);
    let result;
    try {
      result = await context.client.import(data, {
        format,
        signal: context.signal,
        ...(progress.enabled ? { onUploadProgress: (sent: number) => (sent === data.length ? progress.finish(sent) : progress.update(sent)) } : {}),
      });
    } catch (error) {
      progress.abandon();
      throw error;
    }
    await writeOut(
      context.stdout,
      context.output === 'json'
        ? `${JSON.stringify(result)}\n`
        : `imported ${result.imported.toLocaleString('en-US')} key${result.imported === 1 ? '' : 's'} at revision ${result.revision}\n`,
    );
    return EXIT.ok;
  },
};
