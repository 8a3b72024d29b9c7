import { parseArgs } from 'node:util';
import { ACTIONS, newToken, tokenEntry, type Action } from '../auth/tokens.js';

export const TOKEN_USAGE = `Usage:
  kvs token create --name NAME --grant PREFIX:ACTIONS [--grant ...]
  kvs token create --name NAME --admin

ACTIONS is a comma list of ${ACTIONS.join(', ')}; PREFIX may be empty (every key),
e.g. --grant app/:read,write,watch --grant config/:read
Prints a new random token once, and the entry to add to the KV_TOKENS_FILE
(it holds only the token's SHA-256).
`;

/** `kvs token create`: a new token and its tokens-file entry. Returns the exit code. */
export function tokenCommand(args: string[], out: (text: string) => void, err: (text: string) => void): number {
  const [subcommand, ...rest] = args;
  if (subcommand === 'help' || subcommand === '--help' || rest.includes('--help') || rest.includes('-h')) {
    out(TOKEN_USAGE);
    return 0;
  }
  if (subcommand !== 'create') {
    err(`kvs token: ${subcommand === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(subcommand)}`}\n\n${TOKEN_USAGE}`);
    return 2;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { name: { type: 'string' }, grant: { type: 'string', multiple: true }, admin: { type: 'boolean', default: false } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    err(`kvs token create: ${(error as Error).message}\n\n${TOKEN_USAGE}`);
    return 2;
  }
  const name = values.name?.trim();
  if (!name) {
    err(`kvs token create: --name is required\n\n${TOKEN_USAGE}`);
    return 2;
  }
  const grantTexts = values.grant ?? [];
  if (values.admin === grantTexts.length > 0) {
    err(`kvs token create: give --admin, or one or more --grant, not both\n\n${TOKEN_USAGE}`);
    return 2;
  }
  const grants: Array<{ prefix: string; actions: Action[] }> = [];
  for (const text of grantTexts) {
    // The last colon separates: a prefix may itself contain colons.
    const colon = text.lastIndexOf(':');
    const actions =
      colon === -1
        ? []
        : text
            .slice(colon + 1)
            .split(',')
            .map((action) => action.trim());
    if (colon === -1 || actions.length === 0 || !actions.every((action) => (ACTIONS as readonly string[]).includes(action))) {
      err(`kvs token create: --grant ${JSON.stringify(text)} must be PREFIX:ACTIONS with ACTIONS from ${ACTIONS.join(', ')}\n\n${TOKEN_USAGE}`);
      return 2;
    }
    grants.push({ prefix: text.slice(0, colon), actions: [...new Set(actions as Action[])] });
  }
  const token = newToken();
  out(
    `token (shown only now; give it to the client, keep it secret):\n${token}\n\nentry for KV_TOKENS_FILE ({"tokens": [ ... ]}):\n${JSON.stringify(tokenEntry(name, token, grants, values.admin === true))}\n`,
  );
  return 0;
}
