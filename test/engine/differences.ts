/**
 * How each engine departs from what the other does, each with its reason: the
 * one list to review when asking "does kvs behave the same on etcd?". The
 * engine conformance suite (conformance.ts) and the integration tests read
 * their expectations from here instead of branching on the engine's name.
 *
 * A difference is its reason, or null where the engine does not differ.
 */
export type Difference = string | null;

export interface EngineDifferences {
  /** The name the engine reports (/v1/status `engine`). */
  name: 'lmdb' | 'etcd';

  /** Capabilities beyond StorageEngine (engine.ts): which the engine has. */
  capabilities: { syncReader: boolean; freshReader: boolean; snapshotBackup: boolean };

  /**
   * Entries past their deadline that the engine still holds are keys like any
   * other for status().keys and deleteRange (counted, and deleted with a
   * `delete` event), until they are removed.
   */
  countsUnremovedExpired: Difference;

  /** status() reports no `dataBytes`. */
  noDataBytes: Difference;

  /** open() itself writes, so a store only ever opened is no longer neverWritten() when opened again. */
  openWrites: Difference;

  /**
   * Revisions are shared with writers other than this store's (other
   * namespaces, kvs's own bookkeeping), so a store's revisions are not
   * consecutive: a restart, a compaction, another store may take some.
   */
  sharedRevisions: Difference;

  /**
   * Revisions kvs itself takes when it records a compaction (etcd: the
   * compaction point is a key of its own): at least min, at most max.
   */
  compactionRecordRevisions: { min: number; max: number };

  /** Most ops one transaction may carry (/v1/limits maxTxnOps) when lower than the default, and why. */
  maxTxnOps: { value: number; reason: string } | null;

  /** Most distinct keys one transaction may name in its checks and ops together, when bounded, and why. */
  txnDistinctKeysMax: { value: number; reason: string } | null;

  /**
   * The value limit (/v1/limits maxValueBytes) for a store named by
   * `namespaceBytes` bytes (etcd: its key prefix), when the engine lowers the
   * default, and why.
   */
  maxValueBytes: { forNamespaceBytes: (namespaceBytes: number) => number; reason: string } | null;

  /** An import of more than one transaction's worth is applied as several (txnCapacity is not null). */
  importsInSeveralTxns: Difference;

  /** kvs syncs nothing itself: no kvs_write_sync_duration_seconds series. */
  noOwnSync: Difference;

  /** Expired keys are removed by someone else than kvs's sweeper: no kvs_expiry_lag_seconds series. */
  noSweeper: Difference;

  /** The most an expire event may come after the key's deadline, in ms (the sweep interval, or etcd's lease granularity). */
  expireEventLagMsMax: number;

  /** The store lives in this file inside DATA_DIRECTORY, or null when it lives elsewhere. */
  storeFileName: string | null;
}

const MIB = 1024 * 1024;

export const LMDB_DIFFERENCES: EngineDifferences = {
  name: 'lmdb',
  capabilities: { syncReader: true, freshReader: false, snapshotBackup: true },
  countsUnremovedExpired: null,
  noDataBytes: null,
  openWrites: null,
  sharedRevisions: null,
  compactionRecordRevisions: { min: 0, max: 0 },
  maxTxnOps: null,
  txnDistinctKeysMax: null,
  maxValueBytes: null,
  importsInSeveralTxns: null,
  noOwnSync: null,
  noSweeper: null,
  // The sweeper runs every EXPIRY_SWEEP_INTERVAL_MS (250 ms); the rest is a loaded machine's slack.
  expireEventLagMsMax: 2_000,
  storeFileName: 'kvs.mdb',
};

/** etcd's defaults kvs is tested with (etcd --max-request-bytes, --max-txn-ops). */
const ETCD_MAX_REQUEST_BYTES = 1.5 * MIB;
const ETCD_MAX_TXN_OPS = 128;

export const ETCD_DIFFERENCES: EngineDifferences = {
  name: 'etcd',
  capabilities: { syncReader: false, freshReader: true, snapshotBackup: false },
  countsUnremovedExpired:
    'etcd removes an expired key when its lease ends (about a second after the deadline); until then status() counts what etcd holds, and a prefix delete deletes it, since telling it apart would mean reading every value in the range',
  noDataBytes: 'the data lives in etcd, whose size is etcd’s to report (etcdctl endpoint status)',
  openWrites: 'open() writes a marker, the revision the change feed starts from, so a store only ever opened counts as written',
  sharedRevisions: 'revisions are the cluster’s: other namespaces on the cluster and kvs’s own markers take revisions too',
  compactionRecordRevisions: { min: 1, max: 3 },
  maxTxnOps: {
    value: ETCD_MAX_TXN_OPS - 1,
    reason: 'a kvs transaction is one etcd Txn, which takes at most --max-txn-ops (128) ops: its writes and the delete marker',
  },
  txnDistinctKeysMax: {
    value: ETCD_MAX_TXN_OPS,
    reason: 'the etcd Txn also carries one compare per distinct key it names, and etcd takes at most --max-txn-ops (128) compares',
  },
  maxValueBytes: {
    // One etcd request holds the value with its key (at most 1024 bytes), the namespace, the record header (RECORD_OVERHEAD_BYTES_MAX) and framing.
    forNamespaceBytes: (namespaceBytes) => ETCD_MAX_REQUEST_BYTES - 1024 - namespaceBytes - (2 + 8 + 2 + 1024) - 1024,
    reason: 'a value must fit in one etcd request (--max-request-bytes, 1.5 MiB) with its key, record header and framing',
  },
  importsInSeveralTxns: 'one etcd Txn holds at most --max-txn-ops ops and --max-request-bytes bytes: a larger import is several, in order',
  noOwnSync: 'etcd syncs in its own processes; a write is durable once etcd’s quorum committed it',
  noSweeper: 'etcd’s leases remove expired keys, not a kvs sweeper',
  // Leases last whole seconds, are shared per expiry second, and etcd revokes expired ones every 500 ms.
  expireEventLagMsMax: 3_500,
  storeFileName: null,
};

/** The differences of the engine named `engine` (the integration tests: TEST_ENGINE). */
export function differencesOf(engine: 'lmdb' | 'etcd'): EngineDifferences {
  return engine === 'etcd' ? ETCD_DIFFERENCES : LMDB_DIFFERENCES;
}

/** What /v1/limits maxTxnOps is when `asked` ops were configured (the default: 128). */
export function expectedMaxTxnOps(differences: EngineDifferences, asked = DEFAULT_MAX_TXN_OPS): number {
  return Math.min(asked, differences.maxTxnOps?.value ?? asked);
}

/**
 * What /v1/limits maxValueBytes is by default for a server of test/helpers/server.ts
 * on `dataDirectory` (whose store, on etcd, is the namespace `<dataDirectory>/`).
 */
export function expectedMaxValueBytes(differences: EngineDifferences, dataDirectory: string): number {
  return differences.maxValueBytes?.forNamespaceBytes(Buffer.byteLength(`${dataDirectory}/`)) ?? DEFAULT_MAX_VALUE_BYTES;
}

/** DEFAULT_LIMITS' values, written out: what the API promises by default (API.md), not what the code says. */
const DEFAULT_MAX_TXN_OPS = 128;
const DEFAULT_MAX_VALUE_BYTES = 4 * MIB;
