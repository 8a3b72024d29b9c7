import { UnusableStore, verifyStore, type VerifierAnswer, type VerifierProgress, type VerifyProgress } from './verify-store.js';

/**
 * `node verify-store-process.js FILE [--progress]`: verifyStore in a process
 * of its own, started by `kvs restore`, so that a page corrupt enough to
 * crash LMDB (a segfault, or SIGBUS past the end of the file) ends this
 * process, which the restore reports as a refusal, instead of ending the
 * restore. Writes one JSON answer to stdout (VerifierAnswer), preceded with
 * --progress by a line now and then saying how far it is (VerifierProgress).
 */

async function answer(file: string, onProgress: VerifyProgress | undefined): Promise<VerifierAnswer> {
  try {
    return { ok: true, ...(await verifyStore(file, onProgress)) };
  } catch (error) {
    if (error instanceof UnusableStore) return { ok: false, reason: error.message };
    // LMDB's own errors (MDB_CORRUPTED, MDB_PAGE_NOTFOUND...), a record or log entry that does not decode.
    return { ok: false, reason: `is corrupt: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}` };
  }
}

function reportProgress(checked: number, total: number): void {
  const line: VerifierProgress = { progress: { checked, total } };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const [file, ...flags] = process.argv.slice(2);
if (file === undefined || flags.some((flag) => flag !== '--progress')) {
  process.stderr.write('usage: node verify-store-process.js FILE [--progress]\n');
  process.exitCode = 2;
} else {
  process.stdout.write(`${JSON.stringify(await answer(file, flags.includes('--progress') ? reportProgress : undefined))}\n`);
}
