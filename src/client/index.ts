/**
 * The kvs SDK: `import { KvsClient } from 'kvs/client'`. Built on fetch with no
 * Node-only imports, so it runs in Node ≥ 20 and in browsers (the web console
 * uses it).
 */
export { KvsClient, DEFAULT_URL, keyPath, type KvsClientOptions } from './client.js';
export { Entry, type EntryMeta } from './entry.js';
export { ListQuery } from './list.js';
export {
  KvsError,
  InvalidRequestError,
  UnauthorizedError,
  ForbiddenError,
  NotFoundError,
  PreconditionFailedError,
  TxnConflictError,
  NotACounterError,
  CounterOverflowError,
  HistoryCompactedError,
  TooLargeError,
  RateLimitedError,
  UnavailableError,
  StorageFullError,
  KvsNetworkError,
  KvsTimeoutError,
  type Problem,
} from './errors.js';
export type * from './types.js';
export { type Encoding, type JsonValue } from './values.js';
