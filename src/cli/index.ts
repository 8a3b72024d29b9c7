#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { SETTINGS } from '../config.js';
import { VERSION } from '../version.js';

const USAGE = `kvs ${VERSION}: a durable key-value store server

Usage:
  kvs serve [options]    run the server (every option is also an environment variable)
  kvs token create ...   make a bearer token and its tokens-file entry (kvs token create --help)
  kvs version            print the version
  kvs help               print this help

Options of kvs serve:
${Object.values(SETTINGS)
  .map((setting) => `  --${setting.flag.padEnd(20)} ${setting.describe} [${setting.env.join(', ')}]`)
  .join('\n')}
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const options = Object.fromEntries(Object.values(SETTINGS).map((setting) => [setting.flag, { type: 'string' as const }]));
      let values;
      try {
        ({ values } = parseArgs({ args: rest, options, strict: true, allowPositionals: false }));
      } catch (error) {
        process.stderr.write(`kvs serve: ${(error as Error).message}\n\n${USAGE}`);
        process.exit(2);
      }
      // Loaded on demand: the server's modules take a few hundred ms to load, which `kvs version` need not pay.
      const { serve } = await import('./serve.js');
      await serve(values as Record<string, string | undefined>);
      return;
    }
    case 'token': {
      const { tokenCommand } = await import('./token.js');
      process.exitCode = tokenCommand(rest, (text) => process.stdout.write(text), (text) => process.stderr.write(text));
      return;
    }
    case 'version':
    case '--version':
      process.stdout.write(`${VERSION}\n`);
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`kvs: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      process.exit(2);
  }
}

await main(process.argv.slice(2));
