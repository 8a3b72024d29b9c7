/**
 * The exit codes of every `kvs` command, told apart as etcdctl does so that
 * scripts can branch on them. Documented in `kvs help` and the README.
 */
export const EXIT = Object.freeze({
  /** The command did what it was asked. */
  ok: 0,
  /** Any other failure: the server refused the request, a file could not be read or written. */
  error: 1,
  /** The command line is wrong: unknown verb or flag, missing or malformed argument. */
  usage: 2,
  /** The key does not exist (`del --prefix` with no key under the prefix is not a failure: 0). */
  notFound: 3,
  /** A condition failed: `--if-revision`, `--create`, a txn check, a counter that is not one. */
  conditionFailed: 4,
  /** The server refused the token: missing, unknown (401) or without the grant (403). */
  notAuthorised: 5,
  /** The server could not be reached, or did not answer in time. */
  unreachable: 6,
});

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
