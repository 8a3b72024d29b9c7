/**
 * Every limit kvs has, in one place. Names read thing, unit, qualifier
 * (`keyBytesMax`, `headersTimeoutMs`, `ETCD_SCAN_KEYS_MAX`), as TigerBeetle
 * names them, so a reader never has to guess the unit or the direction.
 *
 * 1. What limits are derived from: LMDB's key size, V8's longest string.
 * 2. LIMIT_CATALOGUE: the limits a server serves with (`Limits`), each with its
 *    default and, when an operator may set it, the range a setting accepts;
 *    RATE_LIMIT_CATALOGUE likewise. config.ts has one setting per settable
 *    entry, named after it, and its help shows the entry's default.
 * 3. ETCD_LIMIT_CATALOGUE: the etcd cluster's limits that kvs must fit in
 *    (set to match the cluster), then the etcd engine's own bounds.
 * 4. CONNECTION_LIMITS: what a connection may take.
 * 5. The bounds of the server's own work: pages, batches, sweeps, shutdown.
 * 6. Values derived for more than one layer, and LIMIT_RELATIONS: checked at
 *    start-up by config.ts's assertLimitRelations for the limits in force;
 *    the relations between the constants here are asserted when it loads.
 *
 * Limits are checked where requests enter (the HTTP layer) and each violation
 * has its own error code (see errors.ts). The engine re-checks nothing it is
 * told is valid; it asserts programmer errors only.
 */

export const KIB = 1024;
export const MIB = 1024 * KIB;

/** One limit: its default, and for one an operator may set, the range a setting accepts. */
export interface LimitEntry {
  /** In force when nothing sets it. Absent: it follows another limit (see the entry). */
  readonly default?: number;
  /** The least a setting accepts; with `max`, present for every limit an operator may set. */
  readonly min?: number;
  readonly max?: number;
  /** What `kvs serve --help` adds to the default when its number alone would mislead (or says instead of it, when there is none). */
  readonly defaultNote?: string;
}

// ---------------------------------------------------------------------------
// 1. What limits are derived from.

/** LMDB's largest key, in bytes (lmdb-js builds LMDB with this key size). */
export const LMDB_KEY_BYTES_MAX = 1978;
/** The embedded engine's expiry index keys an entry by its deadline (a float64) and then its key. */
export const EXPIRY_INDEX_PREFIX_BYTES = 8;
/** Bytes kept free below LMDB's key size on top of the expiry prefix: the ceiling has been 1960 since the first release. */
const KEY_BYTES_MARGIN = 10;
/** The hard ceiling of keyBytesMax: the longest key the expiry index can still hold, less a margin. */
export const KEY_BYTES_CEILING = LMDB_KEY_BYTES_MAX - EXPIRY_INDEX_PREFIX_BYTES - KEY_BYTES_MARGIN;

/** UTF-8 bytes one character may take, at most (a UTF-16 unit, which `length` counts, takes at most 3). */
export const UTF8_BYTES_PER_CHAR_MAX = 4;

/**
 * V8's longest string, in UTF-16 code units (2^29 - 24 on 64-bit builds): a
 * body parsed as JSON or NDJSON must become one string first.
 */
export const V8_STRING_CHARS_MAX = 2 ** 29 - 24;

/** A JSON request carries a value in base64 (4 bytes per 3) plus this much for its envelope: keys, other ops. */
const JSON_ENVELOPE_BYTES = 1 * MIB;

// ---------------------------------------------------------------------------
// 2. The limits a server serves with.

export const LIMIT_CATALOGUE = {
  /** Largest key, in UTF-8 bytes (at most KEY_BYTES_CEILING). */
  keyBytesMax: { default: 1024, min: 1, max: KEY_BYTES_CEILING },
  /** Largest value, in bytes. */
  valueBytesMax: { default: 4 * MIB, min: 1, max: 512 * MIB },
  /**
   * Largest request body of the JSON routes (`/v1/txn`, `/put`; imports are
   * exempt: see importBytesMax). Unless set, at least requestBytesToCarry(valueBytesMax):
   * one maximal value, base64-encoded inside a JSON envelope, must still fit.
   */
  requestBytesMax: { default: 8 * MIB, min: KIB, max: 1024 * MIB, defaultNote: 'more if one --max-value-bytes value in base64 needs it' },
  /** Largest body of `/v1/admin/import`: below V8's longest string, which the body must become to be parsed. */
  importBytesMax: { default: 256 * MIB },
  /** Most checks, and most ops, in one `/v1/txn`. */
  txnOpsMax: { default: 128 },
  /** Largest page of a range request (`limit`). */
  listLimitMax: { default: 1000 },
  /** Page size when `limit` is not given. */
  listLimitDefault: { default: 100 },
  /** Longest TTL. Ten years: long enough for any cache, short enough that `now + ttl` never loses precision. */
  ttlSecondsMax: { default: 10 * 365 * 24 * 3600 },
  /** Longest content type, in characters. */
  contentTypeCharsMax: { default: 256 },
  /** Revisions of history the change log keeps at least. */
  historyRetentionRevisions: { default: 100_000, min: 1, max: 1_000_000_000 },
  /** Watch streams and long-polls open at once; beyond, 503. */
  watchersMax: { default: 50_000, min: 1, max: 10_000_000 },
  /** Bytes a watch stream may have unsent before its consumer counts as too slow and is dropped. */
  watchBufferBytesMax: { default: 8 * MIB, min: KIB, max: 1024 * MIB },
  /** A watch stream with nothing to say for this long gets a `progress` message. */
  watchProgressIntervalMs: { default: 10_000, min: 10, max: 3_600_000 },
  /** An ended or evicted watch stream has this long to take its last bytes before its socket is destroyed. */
  watchCloseGraceMs: { default: 2_000 },
  /** Longest `Prefer: wait` of a long-poll. */
  waitSecondsMax: { default: 300 },
  /** Size the store may reach (its databases' pages, history included); beyond, writes that add data are 507. 0 = no cap. */
  dataBytesMax: { default: 0, min: 0, max: Number.MAX_SAFE_INTEGER, defaultNote: 'no cap' },
  /** Writes queued for the next commit; beyond, new writes are 503 with Retry-After (bounded memory and latency under overload). */
  pendingWritesMax: { default: 10_000, min: 1, max: 1_000_000 },
} as const satisfies Record<string, LimitEntry & { default: number }>;

export type LimitName = keyof typeof LIMIT_CATALOGUE;

/** The limits a server serves with (one number per LIMIT_CATALOGUE entry; see there for each). */
export type Limits = { -readonly [Name in keyof typeof LIMIT_CATALOGUE]: number };

function defaultsOf<Catalogue extends Record<string, { default: number }>>(catalogue: Catalogue): Readonly<{ [Name in keyof Catalogue]: number }> {
  return Object.freeze(Object.fromEntries(Object.entries(catalogue).map(([name, entry]) => [name, entry.default]))) as { [Name in keyof Catalogue]: number };
}

export const DEFAULT_LIMITS: Readonly<Limits> = defaultsOf(LIMIT_CATALOGUE);

/** The JSON request body that carries one value of `valueBytesMax` bytes: the default of requestBytesMax when it is not set. */
export function requestBytesToCarry(valueBytesMax: number): number {
  return Math.max(LIMIT_CATALOGUE.requestBytesMax.default, Math.ceil((valueBytesMax * 4) / 3) + JSON_ENVELOPE_BYTES);
}

/** Requests per second per client (its token, or its address without tokens), with bursts: set by KV_RATE_LIMIT and KV_RATE_BURST. */
export const RATE_LIMIT_CATALOGUE = {
  /** Requests per second per client; 0 = no rate limit. */
  rateLimitPerSecond: { default: 0, min: 0, max: 10_000_000 },
  /** Requests a client may send at once; unset, its rate per second. */
  rateBurstRequests: { min: 1, max: 10_000_000, defaultNote: 'the rate limit' },
} as const satisfies Record<string, LimitEntry>;

/** How often the rate limiter forgets clients whose buckets have refilled. */
export const RATE_LIMIT_SWEEP_INTERVAL_MS = 10_000;

// ---------------------------------------------------------------------------
// 3. The etcd engine.

/** Largest gRPC message the etcd client sends or receives. */
export const ETCD_MESSAGE_BYTES_MAX = 512 * MIB;

/** The etcd cluster's request limits, which kvs must fit in; each setting must match the cluster's flag. */
export const ETCD_LIMIT_CATALOGUE = {
  /**
   * etcd's --max-request-bytes (etcd's default: 1.5 MiB): bounds a value with
   * its key and record. At most what the gRPC client sends in one message.
   */
  etcdRequestBytesMax: { default: 1.5 * MIB, min: 64 * KIB, max: ETCD_MESSAGE_BYTES_MAX },
  /** etcd's --max-txn-ops (etcd's default: 128): ops, and compares, of one etcd Txn. */
  etcdTxnOpsMax: { default: 128, min: 3, max: 1_000_000 },
} as const satisfies Record<string, LimitEntry & { default: number }>;

export type EtcdLimits = { -readonly [Name in keyof typeof ETCD_LIMIT_CATALOGUE]: number };

export const DEFAULT_ETCD_LIMITS: Readonly<EtcdLimits> = defaultsOf(ETCD_LIMIT_CATALOGUE);

/** Room left in an etcd request for its framing: the txn envelope, compares, and the delete marker. */
export const ETCD_REQUEST_FRAMING_BYTES = 1 * KIB;
/** What the compare of each op of an import Txn adds, beyond its key and record. */
export const ETCD_COMPARE_FRAMING_BYTES = 64;
/** Slack left in an import Txn below etcd's request limit. */
export const ETCD_TXN_SLACK_BYTES = 16 * KIB;
/** Deadline of one etcd call. */
export const ETCD_CALL_TIMEOUT_MS = 3_000;
/** /readyz must answer within a load balancer's probe timeout, even with members down. */
export const ETCD_READY_PROBE_TIMEOUT_MS = 1_000;
/** How long a history read may wait for etcd's watch to deliver the window. */
export const ETCD_HISTORY_READ_TIMEOUT_MS = 15_000;
/** How often the etcd engine compacts history. */
export const ETCD_COMPACTION_INTERVAL_MS = 60_000;
/** A namespace watch that failed is opened again after this long. */
export const ETCD_WATCH_RETRY_MS = 250;
/** Attempts of one transaction that keep losing optimistic races before it gives up with 503. */
export const ETCD_CONFLICT_ATTEMPTS_MAX = 200;
/** Longest random pause between two attempts (its bound grows 2 ms per attempt up to this). */
export const ETCD_CONFLICT_BACKOFF_MS_MAX = 50;
/** Keys read per etcd Range while listing, counting or exporting. */
export const ETCD_SCAN_KEYS_MAX = 500;
/** The first etcd Range of a scan takes at most this many keys: values can be ~1.5 MiB each. */
export const ETCD_SCAN_FIRST_KEYS_MAX = 100;
/** Later Ranges take as many keys as the values seen so far say fit in about this many bytes. */
export const ETCD_SCAN_BYTES_TARGET = 16 * MIB;
/** A lease no write has asked for in this long is forgotten. */
export const ETCD_LEASE_IDLE_MS = 3_000;
/** Dead connections to etcd are noticed within seconds (etcd permits pings every 5 s). */
export const ETCD_KEEPALIVE_INTERVAL_MS = 10_000;
export const ETCD_KEEPALIVE_TIMEOUT_MS = 5_000;
/** A restarted member is tried again soon, not after minutes of backoff. */
export const ETCD_RECONNECT_BACKOFF_MS_MIN = 200;
export const ETCD_RECONNECT_BACKOFF_MS_MAX = 2_000;
/** A read waits this long for the node's replica to apply the revision its barrier read, then reads etcd instead (docs/adr/0011-replica-reads.md). */
export const ETCD_REPLICA_WAIT_MS = 1_000;
/** open() waits this long for the replica's first load; reads go to etcd until it is done. */
export const ETCD_REPLICA_OPEN_WAIT_MS = 5_000;
/** A `?stale` read of a replica not confirmed current for this long starts a barrier in the background, which confirms it again. */
export const ETCD_STALE_REFRESH_MS = 500;
/** Keys per etcd Range while the replica loads, at most (fewer when values are large). */
export const ETCD_REPLICA_LOAD_KEYS_MAX = 1_000;
/**
 * The first Range of a load takes at most this many keys: value sizes are not
 * known yet, and 10 values of etcd's default largest (1.5 MiB) are 15 MiB.
 * Later Ranges take as many keys as would fit in ETCD_REPLICA_LOAD_BYTES_TARGET
 * if each were as large as the largest of the page before, and at most twice
 * as many as the page before asked for, so a page grows gradually into a
 * region of unknown sizes.
 */
export const ETCD_REPLICA_LOAD_FIRST_KEYS_MAX = 10;
export const ETCD_REPLICA_LOAD_BYTES_TARGET = 8 * MIB;
/**
 * The largest Range response a load accepts (the gRPC receive bound of the
 * channel the load reads on; raised to one value of etcd's --max-request-bytes
 * when that is larger): what bounds the node's memory per page. A larger page
 * fails before it is buffered (RESOURCE_EXHAUSTED) and is asked again with
 * half the keys, and no more than that for the rest of the load.
 */
export const ETCD_REPLICA_LOAD_PAGE_BYTES_MAX = 64 * MIB;
/** Changes the feed brings while the replica loads are held (in memory) up to this many bytes; beyond, the load starts over. */
export const ETCD_REPLICA_LOAD_BUFFER_BYTES_MAX = 64 * MIB;
/** A failed load is tried again after this long, doubling up to the max. */
export const ETCD_REPLICA_LOAD_RETRY_MS_MIN = 250;
export const ETCD_REPLICA_LOAD_RETRY_MS_MAX = 4_000;

// ---------------------------------------------------------------------------
// 4. Connections.

/**
 * Connection limits, each chosen rather than inherited (a slow or idle client
 * must not hold a connection forever; a big header is a 431, not memory).
 */
export const CONNECTION_LIMITS = Object.freeze({
  /** Request line and headers together, in bytes (Node's default, made explicit); beyond: 431. */
  headerBytesMax: 16 * KIB,
  /** Time to receive the request headers. */
  headersTimeoutMs: 10_000,
  /** Time to receive a whole request, body included (a 4 MiB value at 1 Mbit/s needs ~35 s). */
  requestTimeoutMs: 60_000,
  /**
   * Idle keep-alive connections are closed after this: above the 60 s idle timeout
   * of common load balancers, so that they close first and never send a request
   * on a connection kvs is closing.
   */
  keepAliveTimeoutMs: 65_000,
  /** How often Node checks the two timeouts above (its default, 30 s, would let a slow client keep a connection up to 40 s). */
  connectionsCheckingIntervalMs: 1_000,
});

export type ConnectionLimits = { -readonly [Name in keyof typeof CONNECTION_LIMITS]: number };

/** The idle timeout of common load balancers, which keepAliveTimeoutMs must exceed. */
export const LOAD_BALANCER_IDLE_MS = 60_000;

/** Keep-alive while the server closes: long enough for a response to be read, short enough not to delay shutdown. */
export const CLOSING_KEEP_ALIVE_MS = 100;
/** While the server closes, connections with no response under way are ended this often. */
export const CLOSING_SWEEP_INTERVAL_MS = 50;

/**
 * After a 413, how much more of the refused body kvs reads (and discards), and for how
 * long, before it closes the connection instead: the 413 goes out at once, and a client
 * still sending would otherwise get a reset (EPIPE) in place of it (nginx's lingering close).
 */
export const REFUSED_BODY_DRAIN_BYTES_MAX = 64 * MIB;
export const REFUSED_BODY_DRAIN_MS_MAX = 10_000;

// ---------------------------------------------------------------------------
// 5. The bounds of the server's own work.

/** Revisions read from history per step while a watch catches up... */
export const WATCH_REPLAY_PAGE_REVISIONS_MAX = 500;
/** ...and value bytes: a page ends after the revision that reaches this. */
export const WATCH_REPLAY_PAGE_VALUE_BYTES_MAX = 8 * MIB;
/** How long a catching-up watcher may take to drain what it was sent before it counts as a slow consumer. */
export const WATCH_REPLAY_DRAIN_TIMEOUT_MS = 30_000;
/** Lagging watchers served by one history read, at most (etcd's syncWatchers: maxWatchersPerSync). */
export const WATCH_REPLAY_BATCH_WATCHERS_MAX = 512;
/** History reads in flight at once, for all lagging watchers together. */
export const WATCH_REPLAY_READS_MAX = 2;

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

// ---------------------------------------------------------------------------
// 6. Values derived for more than one layer, and the relations between limits.

/** Longest content type, in UTF-8 bytes: what a record must leave room for. */
export const CONTENT_TYPE_BYTES_MAX = LIMIT_CATALOGUE.contentTypeCharsMax.default * UTF8_BYTES_PER_CHAR_MAX;

/** A relation between limits that must hold for a server to work as its limits promise. */
export interface LimitRelation {
  /** The limits it relates (their settings are named when it fails). */
  readonly names: readonly LimitName[];
  readonly holds: (limits: Limits) => boolean;
  /** Why it must hold, for the message when it does not. */
  readonly reason: string;
}

/**
 * The relations between the limits in force: config.ts's
 * assertLimitRelations checks them once, where the configuration is built,
 * and refuses to start (naming the settings) when one fails.
 *
 * Not here, by decision: requestBytesMax is not required to carry a base64'd
 * valueBytesMax. Unless set it does (requestBytesToCarry), but an operator may
 * lower it to keep JSON bodies small: PUT /v1/kv/{key} takes full values, and
 * a deliberately small JSON limit is a supported configuration.
 */
export const LIMIT_RELATIONS: readonly LimitRelation[] = [
  {
    names: ['keyBytesMax'],
    holds: (limits) => limits.keyBytesMax <= KEY_BYTES_CEILING,
    reason: `a key must fit in the embedded engine's expiry index: at most ${KEY_BYTES_CEILING} bytes (LMDB's ${LMDB_KEY_BYTES_MAX}-byte keys less its ${EXPIRY_INDEX_PREFIX_BYTES}-byte prefix and a margin)`,
  },
  {
    names: ['listLimitDefault', 'listLimitMax'],
    holds: (limits) => limits.listLimitDefault <= limits.listLimitMax,
    reason: 'the default page size must be a page size the server accepts',
  },
  {
    names: ['importBytesMax'],
    holds: (limits) => limits.importBytesMax <= V8_STRING_CHARS_MAX,
    reason: `an import body is parsed as one string, and V8's longest is ${V8_STRING_CHARS_MAX} characters`,
  },
  {
    names: ['watchCloseGraceMs'],
    holds: (limits) => limits.watchCloseGraceMs < SHUTDOWN_TIMEOUT_MS,
    reason: `a closing watch stream must be let go before a graceful shutdown gives up (${SHUTDOWN_TIMEOUT_MS} ms)`,
  },
];

/** The relations of LIMIT_RELATIONS that `limits` breaks (none: it may be served). */
export function brokenLimitRelations(limits: Limits): LimitRelation[] {
  return LIMIT_RELATIONS.filter((relation) => !relation.holds(limits));
}

/** A constant here broke a relation: a programmer error, found when the module loads. */
function assertConstant(holds: boolean, relation: string): void {
  if (!holds) throw new Error(`core/limits.ts: ${relation} does not hold`);
}

assertConstant(brokenLimitRelations(DEFAULT_LIMITS).length === 0, 'every LIMIT_RELATIONS entry, for DEFAULT_LIMITS,');
for (const [name, entry] of Object.entries({ ...LIMIT_CATALOGUE, ...ETCD_LIMIT_CATALOGUE, ...RATE_LIMIT_CATALOGUE }) as Array<[string, LimitEntry]>) {
  assertConstant((entry.min === undefined) === (entry.max === undefined), `${name}: min and max, both or neither,`);
  if (entry.default !== undefined && entry.min !== undefined)
    assertConstant(entry.min <= entry.default && entry.default <= entry.max!, `${name}: min <= default <= max`);
}
assertConstant(
  LIMIT_CATALOGUE.requestBytesMax.default >= requestBytesToCarry(LIMIT_CATALOGUE.valueBytesMax.default),
  'default requestBytesMax carries a default valueBytesMax',
);
assertConstant(CONNECTION_LIMITS.headersTimeoutMs <= CONNECTION_LIMITS.requestTimeoutMs, 'headersTimeoutMs <= requestTimeoutMs');
assertConstant(CONNECTION_LIMITS.connectionsCheckingIntervalMs < CONNECTION_LIMITS.headersTimeoutMs, 'connectionsCheckingIntervalMs < headersTimeoutMs');
assertConstant(CONNECTION_LIMITS.keepAliveTimeoutMs > LOAD_BALANCER_IDLE_MS, 'keepAliveTimeoutMs > LOAD_BALANCER_IDLE_MS');
assertConstant(
  TXN_READ_VALUE_BYTES_MAX >= LIMIT_CATALOGUE.valueBytesMax.default,
  'a txn may read one default maximal value: TXN_READ_VALUE_BYTES_MAX >= valueBytesMax',
);
assertConstant(ETCD_SCAN_FIRST_KEYS_MAX <= ETCD_SCAN_KEYS_MAX, 'ETCD_SCAN_FIRST_KEYS_MAX <= ETCD_SCAN_KEYS_MAX');
assertConstant(ETCD_RECONNECT_BACKOFF_MS_MIN <= ETCD_RECONNECT_BACKOFF_MS_MAX, 'ETCD_RECONNECT_BACKOFF_MS_MIN <= ETCD_RECONNECT_BACKOFF_MS_MAX');
assertConstant(ETCD_REPLICA_LOAD_FIRST_KEYS_MAX <= ETCD_REPLICA_LOAD_KEYS_MAX, 'ETCD_REPLICA_LOAD_FIRST_KEYS_MAX <= ETCD_REPLICA_LOAD_KEYS_MAX');
assertConstant(
  ETCD_REPLICA_LOAD_BYTES_TARGET < ETCD_REPLICA_LOAD_PAGE_BYTES_MAX,
  'a page aimed at the target is accepted: ETCD_REPLICA_LOAD_BYTES_TARGET < ETCD_REPLICA_LOAD_PAGE_BYTES_MAX',
);
assertConstant(ETCD_REPLICA_LOAD_RETRY_MS_MIN <= ETCD_REPLICA_LOAD_RETRY_MS_MAX, 'ETCD_REPLICA_LOAD_RETRY_MS_MIN <= ETCD_REPLICA_LOAD_RETRY_MS_MAX');
assertConstant(
  ETCD_REPLICA_WAIT_MS < ETCD_CALL_TIMEOUT_MS,
  'a read gives up on the replica before etcd would time out: ETCD_REPLICA_WAIT_MS < ETCD_CALL_TIMEOUT_MS',
);
