import { resolve } from 'node:path';
import { ETCD_DEFAULT_MAX_REQUEST_BYTES, ETCD_DEFAULT_MAX_TXN_OPS, etcdLimits, parseEndpoint } from './engine/etcd/etcd-settings.js';
import { DEFAULT_LIMITS, MAX_KEY_BYTES_CEILING, MIB, type Limits } from './core/limits.js';

export type EngineName = 'lmdb' | 'etcd';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
/** `auto`: pretty on a terminal, JSON lines otherwise (LOG_FORMAT unset). */
export type LogFormat = 'json' | 'pretty' | 'auto';

/** Everything the server needs to start, validated. */
export interface Config {
  host: string;
  /** Access control (API.md §10). */
  adminToken: string | undefined;
  tokensFile: string | undefined;
  protectedMode: boolean;
  /** HTTPS certificate chain and key files (PEM); both or neither. */
  tls: { certFile: string; keyFile: string } | undefined;
  /** Requests per second per client (token, or address without tokens), with bursts; null = off. */
  rateLimit: { perSecond: number; burst: number } | null;
  port: number;
  /** Absolute path of the data directory. */
  dataDirectory: string;
  engine: EngineName;
  etcdEndpoints: string[];
  /** Prefix of every etcd key of this store. */
  etcdPrefix: string;
  /** The cluster's etcd --max-txn-ops and --max-request-bytes. */
  etcdMaxTxnOps: number;
  etcdMaxRequestBytes: number;
  limits: Limits;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * One setting: its environment variables (first set wins), its `kvs serve`
 * flag, and how to parse it. Flags win over the environment.
 */
interface Setting<T> {
  env: string[];
  flag: string;
  describe: string;
  parse(text: string, source: string): T;
}

const SECURITY_VARIABLES = ['KV_ADMIN_TOKEN', 'KV_TOKENS_FILE', 'KV_TLS_CERT', 'KV_TLS_KEY'] as const;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const integer = (min: number, max: number) => (text: string, source: string): number => {
  const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${source} must be an integer from ${min} to ${max} (got ${JSON.stringify(text)})`);
  }
  return value;
};

const oneOf = <T extends string>(choices: readonly T[]) => (text: string, source: string): T => {
  if (!(choices as readonly string[]).includes(text)) {
    throw new ConfigError(`${source} must be one of ${choices.join(', ')} (got ${JSON.stringify(text)})`);
  }
  return text as T;
};

const nonEmpty = (text: string, source: string): string => {
  if (text.trim() === '') throw new ConfigError(`${source} must not be empty`);
  return text;
};

export const SETTINGS = {
  host: { env: ['HOST'], flag: 'host', describe: 'listen address (default 127.0.0.1)', parse: nonEmpty },
  port: { env: ['PORT', 'KV_STORE_PORT'], flag: 'port', describe: 'listen port (default 8080; 0 picks a free one)', parse: integer(0, 65535) },
  dataDirectory: { env: ['DATA_DIRECTORY'], flag: 'data-directory', describe: 'where the embedded engine keeps its files (default ./data)', parse: nonEmpty },
  engine: { env: ['KV_ENGINE'], flag: 'engine', describe: 'storage engine: lmdb (embedded, default) or etcd', parse: oneOf<EngineName>(['lmdb', 'etcd']) },
  etcdEndpoints: {
    env: ['ETCD_ENDPOINTS'],
    flag: 'etcd-endpoints',
    describe: 'comma-separated etcd endpoints, for --engine etcd',
    parse: (text: string, source: string) => {
      const endpoints = text.split(',').map((part) => part.trim()).filter(Boolean);
      for (const endpoint of endpoints) {
        try {
          parseEndpoint(endpoint);
        } catch (error) {
          throw new ConfigError(`${source}: ${(error as Error).message}`);
        }
      }
      return endpoints;
    },
  },
  etcdPrefix: { env: ['KV_ETCD_PREFIX'], flag: 'etcd-prefix', describe: 'prefix of every etcd key of this store (default kvs/)', parse: nonEmpty },
  etcdMaxRequestBytes: { env: ['ETCD_MAX_REQUEST_BYTES'], flag: 'etcd-max-request-bytes', describe: "the cluster's etcd --max-request-bytes (default 1572864)", parse: integer(64 * 1024, 2 * 1024 * MIB) },
  etcdMaxTxnOps: { env: ['ETCD_MAX_TXN_OPS'], flag: 'etcd-max-txn-ops', describe: "the cluster's etcd --max-txn-ops (default 128)", parse: integer(3, 1_000_000) },
  maxValueBytes: { env: ['KV_MAX_VALUE_BYTES'], flag: 'max-value-bytes', describe: 'largest value in bytes (default 4 MiB)', parse: integer(1, 512 * MIB) },
  maxKeyBytes: { env: ['KV_MAX_KEY_BYTES'], flag: 'max-key-bytes', describe: `largest key in UTF-8 bytes (default 1024, at most ${MAX_KEY_BYTES_CEILING})`, parse: integer(1, MAX_KEY_BYTES_CEILING) },
  maxRequestBytes: { env: ['KV_MAX_REQUEST_BYTES'], flag: 'max-request-bytes', describe: 'largest JSON request body in bytes (default 8 MiB)', parse: integer(1024, 1024 * MIB) },
  historyRetention: { env: ['KV_HISTORY_RETENTION'], flag: 'history-retention', describe: 'revisions of change history kept (default 100000)', parse: integer(1, 1_000_000_000) },
  watchProgressMs: { env: ['KV_WATCH_PROGRESS_MS'], flag: 'watch-progress-ms', describe: 'a quiet watch stream gets a progress message after this long (default 10000)', parse: integer(10, 3_600_000) },
  watchBufferBytes: { env: ['KV_WATCH_BUFFER_BYTES'], flag: 'watch-buffer-bytes', describe: 'unsent bytes after which a watch consumer is too slow and dropped (default 8 MiB)', parse: integer(1024, 1024 * MIB) },
  maxWatchers: { env: ['KV_MAX_WATCHERS'], flag: 'max-watchers', describe: 'watch streams and long-polls held open at once (default 50000)', parse: integer(1, 10_000_000) },
  maxDataBytes: { env: ['KV_MAX_DATA_BYTES'], flag: 'max-data-bytes', describe: 'size the store may reach; beyond, writes get 507 storage_full (default 0 = no cap)', parse: integer(0, Number.MAX_SAFE_INTEGER) },
  maxPendingWrites: { env: ['KV_MAX_PENDING_WRITES'], flag: 'max-pending-writes', describe: 'writes waiting for a commit; beyond, 503 with Retry-After (default 10000)', parse: integer(1, 1_000_000) },
  logLevel: { env: ['LOG_LEVEL'], flag: 'log-level', describe: 'pino log level (default info; request logs at debug)', parse: oneOf(LOG_LEVELS) },
  logFormat: { env: ['LOG_FORMAT'], flag: 'log-format', describe: 'json (JSON lines) or pretty (for people); default: pretty on a terminal, else json', parse: oneOf(['json', 'pretty'] as const) },
  adminToken: { env: ['KV_ADMIN_TOKEN'], flag: 'admin-token', describe: 'one full-access bearer token (prefer the variable: flags show in ps)', parse: nonEmpty },
  tokensFile: { env: ['KV_TOKENS_FILE'], flag: 'tokens-file', describe: 'JSON file of named tokens (SHA-256 hashes) and their grants', parse: nonEmpty },
  protectedMode: { env: ['KV_PROTECTED_MODE'], flag: 'protected-mode', describe: 'on (default): with no token, serve loopback clients only; off: serve anyone', parse: oneOf(['on', 'off'] as const) },
  tlsCert: { env: ['KV_TLS_CERT'], flag: 'tls-cert', describe: 'PEM certificate chain: serve HTTPS (with --tls-key)', parse: nonEmpty },
  tlsKey: { env: ['KV_TLS_KEY'], flag: 'tls-key', describe: 'PEM private key for --tls-cert', parse: nonEmpty },
  rateLimit: { env: ['KV_RATE_LIMIT'], flag: 'rate-limit', describe: 'requests per second per client, 0 = off (default off)', parse: integer(0, 10_000_000) },
  rateBurst: { env: ['KV_RATE_BURST'], flag: 'rate-burst', describe: 'requests a client may send at once (default: the rate limit)', parse: integer(1, 10_000_000) },
} satisfies Record<string, Setting<unknown>>;

type SettingName = keyof typeof SETTINGS;
type Parsed = { [K in SettingName]?: ReturnType<(typeof SETTINGS)[K]['parse']> };

/**
 * Builds the configuration from the environment and `kvs serve` flags
 * (`--port 9000` or `--port=9000`). Throws ConfigError with a message fit for
 * the user on anything invalid.
 */
export function loadConfig(env: NodeJS.ProcessEnv, flags: Record<string, string | undefined> = {}, cwd = process.cwd()): Config {
  const parsed: Parsed = {};
  for (const [name, setting] of Object.entries(SETTINGS) as Array<[SettingName, Setting<unknown>]>) {
    const flagValue = flags[setting.flag];
    if (flagValue !== undefined) {
      (parsed as Record<string, unknown>)[name] = setting.parse(flagValue, `--${setting.flag}`);
      continue;
    }
    for (const variable of setting.env) {
      const envValue = env[variable];
      if (envValue !== undefined && envValue !== '') {
        (parsed as Record<string, unknown>)[name] = setting.parse(envValue, variable);
        break;
      }
    }
  }

  // An empty value elsewhere means "unset"; for these it is almost surely a
  // secret or path that failed to expand, and starting without it would serve
  // with less protection than the operator asked for.
  for (const variable of SECURITY_VARIABLES) {
    if (env[variable] === '') throw new ConfigError(`${variable} is set but empty; give it a value or unset it`);
  }
  if ((parsed.tlsCert === undefined) !== (parsed.tlsKey === undefined)) {
    throw new ConfigError('HTTPS needs both KV_TLS_CERT and KV_TLS_KEY (certificate chain and private key, PEM)');
  }
  const rate = parsed.rateLimit ?? 0;
  const engine = parsed.engine ?? 'lmdb';
  const etcdEndpoints = parsed.etcdEndpoints ?? [];
  if (engine === 'etcd' && etcdEndpoints.length === 0) {
    throw new ConfigError('KV_ENGINE=etcd needs ETCD_ENDPOINTS (for example http://127.0.0.1:2379)');
  }
  const maxValueBytes = parsed.maxValueBytes ?? DEFAULT_LIMITS.maxValueBytes;
  const etcdPrefix = parsed.etcdPrefix ?? 'kvs/';
  if (engine === 'etcd' && parsed.maxDataBytes !== undefined && parsed.maxDataBytes > 0) {
    throw new ConfigError("KV_MAX_DATA_BYTES caps the embedded engine's store; on etcd, the cap is etcd's --quota-backend-bytes (writes beyond it get 507)");
  }
  let limits: Limits = {
    ...DEFAULT_LIMITS,
    maxValueBytes,
    maxKeyBytes: parsed.maxKeyBytes ?? DEFAULT_LIMITS.maxKeyBytes,
    // Unless set, a JSON request must be able to carry one maximal value in base64.
    maxRequestBytes: parsed.maxRequestBytes ?? Math.max(DEFAULT_LIMITS.maxRequestBytes, Math.ceil((maxValueBytes * 4) / 3) + MIB),
    historyRetention: parsed.historyRetention ?? DEFAULT_LIMITS.historyRetention,
    watchProgressIntervalMs: parsed.watchProgressMs ?? DEFAULT_LIMITS.watchProgressIntervalMs,
    watchBufferBytesMax: parsed.watchBufferBytes ?? DEFAULT_LIMITS.watchBufferBytesMax,
    maxWatchers: parsed.maxWatchers ?? DEFAULT_LIMITS.maxWatchers,
    maxDataBytes: parsed.maxDataBytes ?? DEFAULT_LIMITS.maxDataBytes,
    maxPendingWrites: parsed.maxPendingWrites ?? DEFAULT_LIMITS.maxPendingWrites,
  };
  if (engine === 'etcd') {
    const server = { maxRequestBytes: parsed.etcdMaxRequestBytes ?? ETCD_DEFAULT_MAX_REQUEST_BYTES, maxTxnOps: parsed.etcdMaxTxnOps ?? ETCD_DEFAULT_MAX_TXN_OPS };
    try {
      limits = etcdLimits(limits, server, Buffer.byteLength(etcdPrefix), { maxValueBytes: parsed.maxValueBytes !== undefined, maxTxnOps: false });
    } catch (error) {
      throw new ConfigError((error as Error).message);
    }
  }
  return {
    host: parsed.host ?? '127.0.0.1',
    port: parsed.port ?? 8080,
    dataDirectory: resolve(cwd, parsed.dataDirectory ?? './data'),
    engine,
    etcdEndpoints,
    etcdPrefix,
    etcdMaxTxnOps: parsed.etcdMaxTxnOps ?? ETCD_DEFAULT_MAX_TXN_OPS,
    etcdMaxRequestBytes: parsed.etcdMaxRequestBytes ?? ETCD_DEFAULT_MAX_REQUEST_BYTES,
    limits,
    logLevel: parsed.logLevel ?? 'info',
    logFormat: parsed.logFormat ?? 'auto',
    adminToken: parsed.adminToken,
    tokensFile: parsed.tokensFile === undefined ? undefined : resolve(cwd, parsed.tokensFile),
    protectedMode: (parsed.protectedMode ?? 'on') === 'on',
    tls: parsed.tlsCert === undefined || parsed.tlsKey === undefined ? undefined : { certFile: resolve(cwd, parsed.tlsCert), keyFile: resolve(cwd, parsed.tlsKey) },
    rateLimit: rate === 0 ? null : { perSecond: rate, burst: parsed.rateBurst ?? rate },
  };
}
