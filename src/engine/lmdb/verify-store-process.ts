import { UnusableStore, verifyStore, type VerifierAnswer } from './verify-store.js';

/**
 * `node verify-store-process.js FILE`: verifyStore in a process of its own,
 * started by `kvs restore`, so that a page corrupt enough to crash LMDB (a
 * segfault, or SIGBUS past the end of the file) ends this process, which the
 * restore reports as a refusal, instead of ending the restore. Writes one JSON
 * answer to stdout (VerifierAnswer).
 */

async function answer(file: string): Promise<VerifierAnswer> {
  try {
    return { ok: true, ...(await verifyStore(file)) };
  } catch (error) {
    if (error instanceof UnusableStore) return { ok: false, reason: error.message };
    // LMDB's own errors (MDB_CORRUPTED, MDB_PAGE_NOTFOUND...), a record or log entry that does not decode.
    return { ok: false, reason: `is corrupt: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}` };
  }
}

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: node verify-store-process.js FILE\n');
  process.exitCode = 2;
} else {
  process.stdout.write(`${JSON.stringify(await answer(file))}\n`);
}
