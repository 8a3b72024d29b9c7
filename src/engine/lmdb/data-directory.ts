import { readdirSync, statSync } from 'node:fs';
import { StoreOpenError } from './store-file.js';

/**
 * Refuses a DATA_DIRECTORY that holds something other than a kvs store: a file,
 * or a directory of another program's files (a home directory, a project). A
 * new store may be created only in a directory that is missing, empty, or holds
 * just the original server's data file (which kvs imports), what a volume
 * or a file manager leaves (lost+found, dotfiles), and kvs's own other files
 * (`kvsOwned`: the etcd engine's replica directory, non-authoritative, that a
 * node on etcd using the same directory left). kvs would only add files,
 * but mixing its store into someone else's directory is a mistake to catch
 * before it happens.
 */
export function checkDataDirectory(directory: string, storeFileName: string, seedFileName: string, kvsOwned: readonly string[] = []): void {
  let entries: string[];
  try {
    if (!statSync(directory).isDirectory()) throw new StoreOpenError(`DATA_DIRECTORY ${directory} is a file, not a directory`);
    entries = readdirSync(directory);
  } catch (error) {
    if (error instanceof StoreOpenError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new StoreOpenError(`DATA_DIRECTORY ${directory} cannot be read (${code ?? (error as Error).message})`);
  }
  if (entries.includes(storeFileName)) return;
  const expected = new Set([seedFileName, 'lost+found', `${storeFileName}-lock`, ...kvsOwned]);
  const foreign = entries.filter((name) => !expected.has(name) && !name.startsWith('.'));
  if (foreign.length > 0) {
    const shown = foreign.slice(0, 3).join(', ') + (foreign.length > 3 ? `, and ${foreign.length - 3} more` : '');
    throw new StoreOpenError(
      `DATA_DIRECTORY ${directory} holds no kvs store but other files (${shown}); use an empty or new directory, or an existing kvs data directory`,
    );
  }
}
