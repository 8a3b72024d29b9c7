import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Limits } from './core/limits.js';
import type { StorageEngine } from './engine/engine.js';
import { importEntries, parseSeedDocument } from './engine/transfer.js';

/** The original server's data file, inside DATA_DIRECTORY. */
export const SEED_FILE_NAME = 'key_value_data.json';

/**
 * Imports the original server's data file once: only into a store that has
 * never been written (EngineLifecycle.neverWritten), so a restart never imports it again. The
 * file is left in place. Keys kvs cannot hold are logged and skipped; a file
 * that is not JSON is logged and the server starts empty (the file remains,
 * and `POST /v1/admin/import?format=seed` can take it once fixed).
 */
export async function importSeedFileOnce(engine: StorageEngine, dataDirectory: string, limits: Limits, logger: Logger, nowMs: number): Promise<number> {
  const file = join(dataDirectory, SEED_FILE_NAME);
  if (!existsSync(file)) return 0;
  if (!engine.neverWritten()) return 0;
  let parsed;
  try {
    parsed = parseSeedDocument(readFileSync(file, 'utf8'), limits);
  } catch (error) {
    logger.error({ file, err: error }, "the original server's data file could not be read; nothing was imported");
    return 0;
  }
  for (const problem of parsed.problems) logger.warn({ file }, `skipped while importing the original server's data: ${problem}`);
  const { imported, revision } = await importEntries(engine, parsed.entries, nowMs);
  logger.info({ file, imported, skipped: parsed.problems.length, revision }, `imported ${imported} keys from the original server's data file (left in place)`);
  return imported;
}
