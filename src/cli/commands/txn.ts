import type { TxnOpResult, TxnRequest } from '../../client/index.js';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { UsageError } from '../failure.js';
import { readSource, writeOut } from '../io.js';
import { entryJson, jsonLine } from '../json-output.js';
import { lineText } from '../text-line.js';

export const txnCommand: Command = {
  name: 'txn',
  synopsis: 'FILE|-',
  summary: 'run a transaction: the /v1/txn body from FILE or standard input',
  details: `The body is {"checks": [...], "ops": [...]} as POST /v1/txn takes it (docs/API.md §5).
Prints the revision and one line per op result (-o json: the whole result).
Exit code 4 when a check fails (nothing was applied). A body that is not a JSON
object is exit 2; any other is sent as it is, and the server's 400 says what is
wrong with it (exit 1).`,
  options: {},
  async run(context, positionals) {
    const [source, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError('give one FILE, or - for standard input');
    const text = (await readSource(source, context.stdin, 'the txn body')).toString('utf8');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new UsageError(`the txn body is not JSON: ${(error as Error).message}`);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new UsageError('the txn body must be a JSON object {"checks": [...], "ops": [...]}');
    const result = await context.client.txn(body as TxnRequest, { signal: context.signal });
    const results = result.results.map(resultJson);
    if (context.output === 'json') {
      await writeOut(context.stdout, `${jsonLine({ committed: true, revision: result.revision, results })}\n`);
      return EXIT.ok;
    }
    const lines = [`committed at revision ${result.revision}`, ...result.results.map(resultLine)];
    await writeOut(context.stdout, `${lines.join('\n')}\n`);
    return EXIT.ok;
  },
};

function resultJson(result: TxnOpResult): Record<string, unknown> {
  switch (result.op) {
    case 'get':
      return result.entry === null ? { op: 'get', key: result.key, found: false } : { op: 'get', found: true, ...entryJson(result.entry) };
    case 'put':
      return { ...result, expiresAt: result.expiresAt?.toISOString() };
    default:
      return { ...result };
  }
}

/** One line per op: its key quoted as ls quotes keys (text-line.ts) when it could break the line. */
function resultLine(result: TxnOpResult): string {
  const key = lineText(result.key);
  switch (result.op) {
    case 'put':
      return `put ${key}: revision ${result.revision}${result.created ? ' (created)' : ''}`;
    case 'delete':
      return `delete ${key}: ${result.deleted ? 'deleted' : 'not found'}`;
    case 'add':
      return `add ${key}: ${result.value}`;
    case 'get':
      return `get ${key}: ${result.entry === null ? 'not found' : jsonLine(entryJson(result.entry).value)}`;
  }
}
