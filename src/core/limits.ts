/**
 * Every limit kvs enforces, with its default. Names carry their unit last
 * (`Bytes`, `Ms`, `Seconds`) so a reader never has to guess.
 *
 * Limits are checked where requests enter (the HTTP layer) and each violation
 * has its own error code (see errors.ts). The engine re-checks nothing it is
 * told is valid; it asserts programmer errors only.
 */
export interface Limits {
  /** Largest key, in UTF-8 bytes. LMDB allows up to 1978 bytes per key; the expiry index adds an 8-byte prefix. */
  keyBytesMax: number;
  /** Largest value, in bytes. */
  valueBytesMax: number;
  /** Largest request body of the JSON routes (`/v1/txn`, `/put`, imports are exempt: see importBytesMax). */
  requestBytesMax: number;
  /** Largest body of `/v1/admin/import`. */
  importBytesMax: number;
  /** Most checks, and most ops, in one `/v1/txn`. */
  txnOpsMax: number;
  /** Largest page of a range request (`limit`). */
  listLimitMax: number;
  /** Page size when `limit` is not given. */
  listLimitDefault: number;
  /** Longest TTL. */
  ttlSecondsMax: number;
  /** Longest content type, in characters. */
  contentTypeCharsMax: number;
  /** Revisions of history the change log keeps at least. */
  historyRetentionRevisions: number;
  /** Watch streams and long-polls open at once; beyond, 503. */
  watchersMax: number;
  /** Bytes a watch stream may have unsent before its consumer counts as too slow and is dropped. */
  watchBufferBytesMax: number;
  /** A watch stream with nothing to say for this long gets a `progress` message. */
  watchProgressIntervalMs: number;
  /** An ended or evicted watch stream has this long to take its last bytes before its socket is destroyed. */
  watchCloseGraceMs: number;
  /** Longest `Prefer: wait` of a long-poll. */
  waitSecondsMax: number;
  /** Size the store may reach (its databases' pages, history included); beyond, writes that add data are 507. 0 = no cap. */
  dataBytesMax: number;
  /** Writes queued for the next commit; beyond, new writes are 503 with Retry-After (bounded memory and latency under overload). */
  pendingWritesMax: number;
}

export const MIB = 1024 * 1024;

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  keyBytesMax: 1024,
  valueBytesMax: 4 * MIB,
  // One maximal value, base64-encoded inside a JSON envelope, must still fit.
  requestBytesMax: 8 * MIB,
  // Below V8's longest string (~512 MiB), which the body must become to be parsed.
  importBytesMax: 256 * MIB,
  txnOpsMax: 128,
  listLimitMax: 1000,
  listLimitDefault: 100,
  // Ten years: long enough for any cache, short enough that `now + ttl` never loses precision.
  ttlSecondsMax: 10 * 365 * 24 * 3600,
  contentTypeCharsMax: 256,
  historyRetentionRevisions: 100_000,
  watchersMax: 50_000,
  watchBufferBytesMax: 8 * MIB,
  watchProgressIntervalMs: 10_000,
  watchCloseGraceMs: 2_000,
  waitSecondsMax: 300,
  dataBytesMax: 0,
  pendingWritesMax: 10_000,
});

/** Revisions read from history per step while a watch catches up... */
export const WATCH_REPLAY_PAGE_REVISIONS_MAX = 500;
/** ...and value bytes: a page ends after the revision that reaches this. */
export const WATCH_REPLAY_PAGE_VALUE_BYTES_MAX = 8 * MIB;

/** The hard ceiling of `keyBytesMax`: LMDB's key size (1978) minus the 8-byte expiry-index prefix, rounded down. */
export const KEY_BYTES_CEILING = 1960;

/** Largest magnitude of a counter: JSON numbers beyond it lose integer precision. */
export const COUNTER_ABS_MAX = Number.MAX_SAFE_INTEGER;

/**
 * Most value bytes one page of a listing carries with `values=true`: a page ends
 * early (with a cursor) rather than build a response too large to serialise.
 */
export const LIST_PAGE_VALUE_BYTES_MAX = 32 * MIB;

/** Most value bytes the `get` ops of one transaction may read; beyond, the txn is refused whole (413) before anything applies. */
export const TXN_READ_VALUE_BYTES_MAX = 64 * MIB;

/** How long graceful shutdown may take before the process exits anyway. */
export const SHUTDOWN_TIMEOUT_MS = 10_000;

/** How often the background sweeper looks for expired keys. */
export const EXPIRY_SWEEP_INTERVAL_MS = 250;

/** Most expired keys removed in one sweep transaction, so a sweep never stalls writers for long. */
export const EXPIRY_SWEEP_BATCH_MAX = 1000;

/** Most change-log revisions deleted in one compaction transaction. */
export const COMPACTION_BATCH_MAX = 5000;

/**
 * After a 413, how much more of the refused body kvs reads (and discards), and for how
 * long, before it closes the connection instead: the 413 goes out at once, and a client
 * still sending would otherwise get a reset (EPIPE) in place of it (nginx's lingering close).
 */
export const REFUSED_BODY_DRAIN_BYTES_MAX = 64 * MIB;
export const REFUSED_BODY_DRAIN_MS_MAX = 10_000;
