#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { SETTINGS } from '../config.js';
import { VERSION } from '../version.js';
import { DATA_COMMANDS } from './commands/index.js';
import { GLOBAL_OPTIONS, GLOBAL_USAGE } from './context.js';
import { commandUsage, runDataCommand } from './data-command.js';
import { EXIT } from './exit-codes.js';

const SERVE_USAGE = `Usage: kvs serve [options]

Runs the server until SIGTERM or SIGINT. Every option is also an environment variable.

Options:
${Object.values(SETTINGS)
  .map((setting) => `  --${setting.flag.padEnd(24)} ${setting.describe} [${setting.env.join(', ')}]`)
  .join('\n')}
`;

const VERSION_USAGE = `Usage: kvs version

Prints the version of kvs (as kvs --version does).
`;

const USAGE = `kvs ${VERSION}: a durable key-value store server, and its command line

Usage: kvs <command> [arguments] [options]

Data (on a running server: --url, KVS_URL; default http://127.0.0.1:8080):
${DATA_COMMANDS.map((command) => `  ${`${command.name} ${command.synopsis}`.padEnd(34)} ${command.summary}`).join('\n')}

Server and files:
  ${'serve [options]'.padEnd(34)} run the server (kvs serve --help lists its options)
  ${'restore SRC --data-directory DIR'.padEnd(34)} turn a backup into a data directory (offline)
  ${'token create ...'.padEnd(34)} make a bearer token and its tokens-file entry
  ${'version'.padEnd(34)} print the version
  ${'help [COMMAND]'.padEnd(34)} this help, or a command's

${GLOBAL_USAGE}

Exit codes: 0 success, 1 other error, 2 usage, 3 key not found, 4 condition failed,
5 not authorised, 6 server unreachable or timed out.
`;

/** Options that take a value, so that the verb is found even after `--url X`. */
const VALUE_OPTIONS = new Set(
  Object.entries(GLOBAL_OPTIONS).flatMap(([name, option]) =>
    option.type === 'string' ? [`--${name}`, ...('short' in option ? [`-${option.short}`] : [])] : [],
  ),
);

/** The verb (the first word that is not an option or an option's value) and everything else. */
function splitVerb(argv: string[]): { verb: string | undefined; rest: string[] } {
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index]!;
    if (arg === '--') break;
    if (VALUE_OPTIONS.has(arg)) {
      index += 1;
      continue;
    }
    if (!arg.startsWith('-')) return { verb: arg, rest: [...argv.slice(0, index), ...argv.slice(index + 1)] };
  }
  return { verb: undefined, rest: argv };
}

async function main(argv: string[]): Promise<number> {
  const { verb, rest } = splitVerb(argv);
  const data = DATA_COMMANDS.find((command) => command.name === verb);
  if (data !== undefined) return runDataCommand(data, rest);
  switch (verb) {
    case 'serve':
      return serveCommand(rest);
    case 'restore': {
      const { restoreCommand } = await import('./restore.js');
      return restoreCommand(rest);
    }
    case 'token': {
      const { tokenCommand } = await import('./token.js');
      return tokenCommand(
        rest,
        (text) => process.stdout.write(text),
        (text) => process.stderr.write(text),
      );
    }
    case 'version':
      if (rest.includes('--help') || rest.includes('-h')) return help('version');
      process.stdout.write(`${VERSION}\n`);
      return EXIT.ok;
    case 'help':
      // The topic is the first word after `help`, wherever global options stand.
      return help(splitVerb(rest).verb);
    case undefined:
      if (rest.includes('--version')) {
        process.stdout.write(`${VERSION}\n`);
        return EXIT.ok;
      }
      if (rest.length === 0 || rest.includes('--help') || rest.includes('-h')) return help(undefined);
      process.stderr.write(`kvs: give a command (kvs help lists them)\n`);
      return EXIT.usage;
    default:
      process.stderr.write(`kvs: unknown command ${JSON.stringify(verb)} (kvs help lists the commands)\n`);
      return EXIT.usage;
  }
}

async function help(topic: string | undefined): Promise<number> {
  if (topic === undefined) {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  const command = DATA_COMMANDS.find((candidate) => candidate.name === topic);
  if (command !== undefined) {
    process.stdout.write(commandUsage(command));
    return EXIT.ok;
  }
  if (topic === 'serve') {
    process.stdout.write(SERVE_USAGE);
    return EXIT.ok;
  }
  if (topic === 'restore') {
    const { RESTORE_USAGE } = await import('./restore.js');
    process.stdout.write(RESTORE_USAGE);
    return EXIT.ok;
  }
  if (topic === 'token') {
    const { TOKEN_USAGE } = await import('./token.js');
    process.stdout.write(TOKEN_USAGE);
    return EXIT.ok;
  }
  if (topic === 'version') {
    process.stdout.write(VERSION_USAGE);
    return EXIT.ok;
  }
  if (topic === 'help') {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  process.stderr.write(`kvs help: no command ${JSON.stringify(topic)} (kvs help lists them)\n`);
  return EXIT.usage;
}

async function serveCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(SERVE_USAGE);
    return EXIT.ok;
  }
  const options = Object.fromEntries(Object.values(SETTINGS).map((setting) => [setting.flag, { type: 'string' as const }]));
  let values;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (error) {
    process.stderr.write(`kvs serve: ${(error as Error).message} (kvs serve --help lists the options)\n`);
    return EXIT.usage;
  }
  // Loaded on demand: the server's modules take a few hundred ms to load, which the other commands need not pay.
  const { serve } = await import('./serve.js');
  await serve(values as Record<string, string | undefined>);
  // Still serving: the process lives on its listening socket until a signal ends it.
  return EXIT.ok;
}

process.exitCode = await main(process.argv.slice(2));
