import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import type { Command } from './command.js';
import { contextFrom, GLOBAL_OPTIONS, GLOBAL_USAGE } from './context.js';
import { EXIT } from './exit-codes.js';
import { describeFailure, UsageError } from './failure.js';

export function commandUsage(command: Command): string {
  const summary = command.summary.charAt(0).toUpperCase() + command.summary.slice(1);
  return `Usage: kvs ${command.name}${command.synopsis === '' ? '' : ` ${command.synopsis}`} [options]\n\n${summary}.\n\n${command.details}\n\n${GLOBAL_USAGE}\n`;
}

/**
 * Runs a data verb with `args` (everything but the verb itself): parses its
 * flags and the global ones, runs it, and turns any failure into one line on
 * stderr and an exit code.
 */
export async function runDataCommand(command: Command, args: string[]): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // `kvs export | head`: a reader that went away is not an error worth a message.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT.ok);
  });
  try {
    const options = { ...GLOBAL_OPTIONS, ...command.options };
    let parsed;
    try {
      parsed = parseArgs({ args: markNegativeNumbers(args, options), options, strict: true, allowPositionals: true });
    } catch (error) {
      // parseArgs explains at length, over several lines; its first sentence names the problem.
      throw new UsageError((error as Error).message.split('\n')[0]!.split('. ')[0]!.replace(/\.$/, ''));
    }
    parsed.positionals = parsed.positionals.map(unmarkNegativeNumber);
    if (parsed.values.help === true) {
      process.stdout.write(commandUsage(command));
      return EXIT.ok;
    }
    const context = contextFrom(parsed.values as Record<string, string | boolean | undefined>, stop.signal);
    return await command.run(context, parsed.positionals, parsed.values as Record<string, string | boolean | undefined>);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EPIPE') return EXIT.ok;
    if (stop.signal.aborted) {
      process.stderr.write(`kvs ${command.name}: interrupted\n`);
      return EXIT.error;
    }
    const { exitCode, message } = describeFailure(error);
    // One line, whatever the message holds (a JSON parser's echo of the input, a server's detail).
    const line = message.replace(/\s*[\r\n]+\s*/g, ' ').trim();
    process.stderr.write(`kvs ${command.name}: ${line}${exitCode === EXIT.usage ? ` (kvs ${command.name} --help)` : ''}\n`);
    return exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Marks a negative number given as an argument (`kvs add KEY -3`); NUL cannot occur in a real argument. */
const NEGATIVE_MARK = '\u0000';
const NEGATIVE_NUMBER = /^-\d+(\.\d+)?$/;

/**
 * parseArgs takes `-3` for the short options -3 (an unknown flag); a negative
 * number that is not an option's value is a positional argument (add's BY), so
 * it is marked to get through, and unmarked after.
 */
function markNegativeNumbers(args: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const takesValue = new Set(
    Object.entries(options).flatMap(([name, option]) =>
      option.type === 'string' ? [`--${name}`, ...(option.short === undefined ? [] : [`-${option.short}`])] : [],
    ),
  );
  const marked: string[] = [];
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index]!;
    if (arg === '--') {
      marked.push(...args.slice(index));
      break;
    }
    if (takesValue.has(arg)) {
      // The option's value, whatever it looks like: parseArgs judges it.
      marked.push(...args.slice(index, index + 2));
      index += 1;
      continue;
    }
    marked.push(NEGATIVE_NUMBER.test(arg) ? `${NEGATIVE_MARK}${arg}` : arg);
  }
  return marked;
}

function unmarkNegativeNumber(positional: string): string {
  return positional.startsWith(NEGATIVE_MARK) ? positional.slice(NEGATIVE_MARK.length) : positional;
}
