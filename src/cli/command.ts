import type { ParseArgsConfig } from 'node:util';
import type { CommandContext } from './context.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * One `kvs` verb: its help, its own flags (the global ones are added), and
 * what it does. `run` returns the exit code, or throws a UsageError,
 * CommandFailure or SDK error that index.ts turns into one line and a code.
 */
export interface Command {
  name: string;
  /** The synopsis after `kvs NAME`, e.g. `KEY [VALUE|@FILE|-]`. */
  synopsis: string;
  summary: string;
  /** Flags and details, shown by `kvs NAME --help`. */
  details: string;
  options: Options;
  run(context: CommandContext, positionals: string[], values: Record<string, string | boolean | string[] | undefined>): Promise<number>;
}
