import {
  CounterOverflowError,
  ForbiddenError,
  KvsError,
  KvsNetworkError,
  KvsTimeoutError,
  NotACounterError,
  PreconditionFailedError,
  TxnConflictError,
  UnauthorizedError,
} from '../client/index.js';
import { EXIT, type ExitCode } from './exit-codes.js';

/** The command line is wrong: exit 2, with the command's usage. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A failure the command reports in its own words, with its own exit code (e.g. a key not found: 3). */
export class CommandFailure extends Error {
  override name = 'CommandFailure';
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

/** The exit code and the one line a failed command prints: never a stack trace. */
export function describeFailure(error: unknown): { exitCode: ExitCode; message: string } {
  if (error instanceof UsageError) return { exitCode: EXIT.usage, message: error.message };
  if (error instanceof CommandFailure) return { exitCode: error.exitCode, message: error.message };
  if (error instanceof KvsTimeoutError) {
    // A write the server was too slow to answer may still have been applied: repeating it blindly could apply it twice.
    const applied = error.mayHaveApplied ? '; the write may have been applied all the same: check before repeating it' : '';
    return { exitCode: EXIT.unreachable, message: `no answer in time from ${error.url}${applied}` };
  }
  if (error instanceof KvsNetworkError) return { exitCode: EXIT.unreachable, message: `cannot reach the server: ${error.message}` };
  if (error instanceof UnauthorizedError)
    return { exitCode: EXIT.notAuthorised, message: `not authorised: ${error.detail} (give a token with --token, --token-file or KVS_TOKEN)` };
  if (error instanceof ForbiddenError) return { exitCode: EXIT.notAuthorised, message: `forbidden: ${error.detail}` };
  if (error instanceof PreconditionFailedError) {
    const current = error.currentRevision;
    return { exitCode: EXIT.conditionFailed, message: `condition failed: the key is ${current === null ? 'absent' : `at revision ${current}`}` };
  }
  if (error instanceof TxnConflictError)
    return {
      exitCode: EXIT.conditionFailed,
      message: `txn not applied: check${error.failedChecks.length === 1 ? '' : 's'} ${error.failedChecks.join(', ')} failed`,
    };
  if (error instanceof NotACounterError || error instanceof CounterOverflowError) return { exitCode: EXIT.conditionFailed, message: error.detail };
  if (error instanceof KvsError) return { exitCode: EXIT.error, message: `${error.detail} (${error.status} ${error.code})` };
  return { exitCode: EXIT.error, message: error instanceof Error ? error.message : String(error) };
}
