import { resolve } from 'node:path';
import { etcdLimits, parseEndpoint } from './engine/etcd/etcd-settings.js';
import {
  brokenLimitRelations,
  DEFAULT_ETCD_LIMITS,
  DEFAULT_LIMITS,
  ETCD_LIMIT_CATALOGUE,
  KEY_BYTES_CEILING,
  LIMIT_CATALOGUE,
  MIB,
  RATE_LIMIT_CATALOGUE,
  requestBytesToCarry,
  type EtcdLimits,
  type LimitEntry,
  type LimitName,
  type Limits,
} from './core/limits.js';

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
  etcdTxnOpsMax: number;
  etcdRequestBytesMax: number;
  limits: Limits;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * One setting: its environment variables (first set wins), its `kvs serve`
 * flag, and how to parse it. Flags win over the environment. A setting of a
 * limit is named after its catalogue entry (`limit`), which gives its range
 * and the default its help shows.
 */
interface Setting<T> {
  env: string[];
  flag: string;
  describe: string;
  parse(text: string, source: string): T;
  limit?: SettableLimitName;
}

/** Every entry of the catalogue that a setting may set. */
const SETTABLE_LIMITS = { ...LIMIT_CATALOGUE, ...ETCD_LIMIT_CATALOGUE, ...RATE_LIMIT_CATALOGUE };
type SettableLimitName = {
  [Name in keyof typeof SETTABLE_LIMITS]: (typeof SETTABLE_LIMITS)[Name] extends { min: number; max: number } ? Name : never;
}[keyof typeof SETTABLE_LIMITS];

const SECURITY_VARIABLES = ['KV_ADMIN_TOKEN', 'KV_TOKENS_FILE', 'KV_TLS_CERT', 'KV_TLS_KEY'] as const;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const integer =
  (min: number, max: number) =>
  (text: string, source: string): number => {
    const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new ConfigError(`${source} must be an integer from ${min} to ${max} (got ${JSON.stringify(text)})`);
    }
    return value;
  };

const oneOf =
  <T extends string>(choices: readonly T[]) =>
  (text: string, source: string): T => {
    if (!(choices as readonly string[]).includes(text)) {
      throw new ConfigError(`${source} must be one of ${choices.join(', ')} (got ${JSON.stringify(text)})`);
    }
    return text as T;
  };

const nonEmpty = (text: string, source: string): string => {
  if (text.trim() === '') throw new ConfigError(`${source} must not be empty`);
  return text;
};

/** A number of a limit as help shows it: whole MiB of a byte limit as MiB, anything else as is. */
function shownLimit(name: string, value: number): string {
  return name.includes('Bytes') && value >= MIB && value % MIB === 0 ? `${value / MIB} MiB` : String(value);
}

/**
 * The setting of the catalogue entry `limit`: it accepts the entry's range, and
 * its help ends with the entry's default (`describe` names neither).
 */
function limitSetting<Name extends SettableLimitName>(limit: Name, env: string[], flag: string, describe: string): Setting<number> & { limit: Name } {
  const entry: LimitEntry = SETTABLE_LIMITS[limit];
  const shown = entry.default === undefined ? undefined : shownLimit(limit, entry.default);
  const note = entry.defaultNote;
  const defaultText = shown === undefined ? `default: ${note}` : note === undefined ? `default ${shown}` : `default ${shown}; ${note}`;
  return { env, flag, limit, describe: `${describe} (${defaultText})`, parse: integer(entry.min!, entry.max!) };
}

export const SETTINGS = {
  host: { env: ['HOST'], flag: 'host', describe: 'listen address (default 127.0.0.1)', parse: nonEmpty },
  port: { env: ['PORT', 'KV_STORE_PORT'], flag: 'port', describe: 'listen port (default 8080; 0 picks a free one)', parse: integer(0, 65535) },
  dataDirectory: {
    env: ['DATA_DIRECTORY'],
    flag: 'data-directory',
    describe: "where kvs keeps its files: the embedded engine's store, or an etcd node's replica (etcd-replica/, removed when it stops) (default ./data)",
    parse: nonEmpty,
  },
  engine: { env: ['KV_ENGINE'], flag: 'engine', describe: 'storage engine: lmdb (embedded, default) or etcd', parse: oneOf<EngineName>(['lmdb', 'etcd']) },
  etcdEndpoints: {
    env: ['ETCD_ENDPOINTS'],
    flag: 'etcd-endpoints',
    describe: 'comma-separated etcd endpoints, for --engine etcd',
    parse: (text: string, source: string) => {
      const endpoints = text
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean);
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
  etcdRequestBytesMax: limitSetting('etcdRequestBytesMax', ['ETCD_MAX_REQUEST_BYTES'], 'etcd-max-request-bytes', "the cluster's etcd --max-request-bytes"),
  etcdTxnOpsMax: limitSetting('etcdTxnOpsMax', ['ETCD_MAX_TXN_OPS'], 'etcd-max-txn-ops', "the cluster's etcd --max-txn-ops"),
  valueBytesMax: limitSetting('valueBytesMax', ['KV_MAX_VALUE_BYTES'], 'max-value-bytes', 'largest value in bytes'),
  keyBytesMax: limitSetting('keyBytesMax', ['KV_MAX_KEY_BYTES'], 'max-key-bytes', `largest key in UTF-8 bytes, at most ${KEY_BYTES_CEILING}`),
  requestBytesMax: limitSetting('requestBytesMax', ['KV_MAX_REQUEST_BYTES'], 'max-request-bytes', 'largest JSON request body in bytes'),
  historyRetentionRevisions: limitSetting('historyRetentionRevisions', ['KV_HISTORY_RETENTION'], 'history-retention', 'revisions of change history kept'),
  watchProgressIntervalMs: limitSetting(
    'watchProgressIntervalMs',
    ['KV_WATCH_PROGRESS_MS'],
    'watch-progress-ms',
    'a quiet watch stream gets a progress message after this long',
  ),
  watchBufferBytesMax: limitSetting(
    'watchBufferBytesMax',
    ['KV_WATCH_BUFFER_BYTES'],
    'watch-buffer-bytes',
    'unsent bytes after which a watch consumer is too slow and dropped',
  ),
  watchersMax: limitSetting('watchersMax', ['KV_MAX_WATCHERS'], 'max-watchers', 'watch streams and long-polls held open at once'),
  dataBytesMax: limitSetting('dataBytesMax', ['KV_MAX_DATA_BYTES'], 'max-data-bytes', 'size the store may reach; beyond, writes get 507 storage_full'),
  pendingWritesMax: limitSetting(
    'pendingWritesMax',
    ['KV_MAX_PENDING_WRITES'],
    'max-pending-writes',
    'writes waiting for a commit; beyond, 503 with Retry-After',
  ),
  logLevel: { env: ['LOG_LEVEL'], flag: 'log-level', describe: 'pino log level (default info; request logs at debug)', parse: oneOf(LOG_LEVELS) },
  logFormat: {
    env: ['LOG_FORMAT'],
    flag: 'log-format',
    describe: 'json (JSON lines) or pretty (for people); default: pretty on a terminal, else json',
    parse: oneOf(['json', 'pretty'] as const),
  },
  adminToken: {
    env: ['KV_ADMIN_TOKEN'],
    flag: 'admin-token',
    describe: 'one full-access bearer token (prefer the variable: flags show in ps)',
    parse: nonEmpty,
  },
  tokensFile: { env: ['KV_TOKENS_FILE'], flag: 'tokens-file', describe: 'JSON file of named tokens (SHA-256 hashes) and their grants', parse: nonEmpty },
  protectedMode: {
    env: ['KV_PROTECTED_MODE'],
    flag: 'protected-mode',
    describe: 'on (default): with no token, serve loopback clients only; off: serve anyone',
    parse: oneOf(['on', 'off'] as const),
  },
  tlsCert: { env: ['KV_TLS_CERT'], flag: 'tls-cert', describe: 'PEM certificate chain: serve HTTPS (with --tls-key)', parse: nonEmpty },
  tlsKey: { env: ['KV_TLS_KEY'], flag: 'tls-key', describe: 'PEM private key for --tls-cert', parse: nonEmpty },
  rateLimitPerSecond: limitSetting('rateLimitPerSecond', ['KV_RATE_LIMIT'], 'rate-limit', 'requests per second per client, 0 = off'),
  rateBurstRequests: limitSetting('rateBurstRequests', ['KV_RATE_BURST'], 'rate-burst', 'requests a client may send at once'),
} satisfies Record<string, Setting<unknown>>;

type SettingName = keyof typeof SETTINGS;
type Parsed = { [K in SettingName]?: ReturnType<(typeof SETTINGS)[K]['parse']> };

/** The served limits the settings set (a limit's setting has its name). */
function limitsSetIn(parsed: Parsed): Partial<Limits> {
  const set: Partial<Limits> = {};
  for (const name of Object.keys(LIMIT_CATALOGUE) as LimitName[]) {
    const value = (parsed as Partial<Record<string, unknown>>)[name];
    if (typeof value === 'number') set[name] = value;
  }
  return set;
}

/**
 * Refuses limits that break a relation of LIMIT_RELATIONS (core/limits.ts),
 * in one line naming the limits involved: by the variable or flag that set
 * each (`setBy`), else by its catalogue name.
 */
export function assertLimitRelations(limits: Limits, setBy: Partial<Record<LimitName, string>> = {}): void {
  const broken = brokenLimitRelations(limits)[0];
  if (broken === undefined) return;
  const named = broken.names.map((name) => `${setBy[name] ?? name}=${limits[name]}`);
  throw new ConfigError(`${named.join(' with ')}: ${broken.reason}`);
}

/**
 * Builds the configuration from the environment and `kvs serve` flags
 * (`--port 9000` or `--port=9000`). Throws ConfigError with a message fit for
 * the user on anything invalid.
 */
export function loadConfig(env: NodeJS.ProcessEnv, flags: Record<string, string | undefined> = {}, cwd = process.cwd()): Config {
  const parsed: Parsed = {};
  /** Where each setting given came from: its flag or its variable. */
  const setBy: Partial<Record<string, string>> = {};
  for (const [name, setting] of Object.entries(SETTINGS) as Array<[SettingName, Setting<unknown>]>) {
    const flagValue = flags[setting.flag];
    if (flagValue !== undefined) {
      (parsed as Record<string, unknown>)[name] = setting.parse(flagValue, `--${setting.flag}`);
      setBy[name] = `--${setting.flag}`;
      continue;
    }
    for (const variable of setting.env) {
      const envValue = env[variable];
      if (envValue !== undefined && envValue !== '') {
        (parsed as Record<string, unknown>)[name] = setting.parse(envValue, variable);
        setBy[name] = variable;
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
  const rate = parsed.rateLimitPerSecond ?? RATE_LIMIT_CATALOGUE.rateLimitPerSecond.default;
  const engine = parsed.engine ?? 'lmdb';
  const etcdEndpoints = parsed.etcdEndpoints ?? [];
  if (engine === 'etcd' && etcdEndpoints.length === 0) {
    throw new ConfigError('KV_ENGINE=etcd needs ETCD_ENDPOINTS (for example http://127.0.0.1:2379)');
  }
  const etcdPrefix = parsed.etcdPrefix ?? 'kvs/';
  if (engine === 'etcd' && parsed.dataBytesMax !== undefined && parsed.dataBytesMax > 0) {
    throw new ConfigError("KV_MAX_DATA_BYTES caps the embedded engine's store; on etcd, the cap is etcd's --quota-backend-bytes (writes beyond it get 507)");
  }
  let limits: Limits = { ...DEFAULT_LIMITS, ...limitsSetIn(parsed) };
  // Unless set, a JSON request must be able to carry one maximal value in base64.
  if (parsed.requestBytesMax === undefined) limits.requestBytesMax = requestBytesToCarry(limits.valueBytesMax);
  const etcd: EtcdLimits = {
    etcdRequestBytesMax: parsed.etcdRequestBytesMax ?? DEFAULT_ETCD_LIMITS.etcdRequestBytesMax,
    etcdTxnOpsMax: parsed.etcdTxnOpsMax ?? DEFAULT_ETCD_LIMITS.etcdTxnOpsMax,
  };
  if (engine === 'etcd') {
    try {
      limits = etcdLimits(limits, etcd, Buffer.byteLength(etcdPrefix), { valueBytesMax: parsed.valueBytesMax !== undefined, txnOpsMax: false });
    } catch (error) {
      throw new ConfigError((error as Error).message);
    }
  }
  assertLimitRelations(limits, setBy);
  return {
    host: parsed.host ?? '127.0.0.1',
    port: parsed.port ?? 8080,
    dataDirectory: resolve(cwd, parsed.dataDirectory ?? './data'),
    engine,
    etcdEndpoints,
    etcdPrefix,
    etcdTxnOpsMax: etcd.etcdTxnOpsMax,
    etcdRequestBytesMax: etcd.etcdRequestBytesMax,
    limits,
    logLevel: parsed.logLevel ?? 'info',
    logFormat: parsed.logFormat ?? 'auto',
    adminToken: parsed.adminToken,
    tokensFile: parsed.tokensFile === undefined ? undefined : resolve(cwd, parsed.tokensFile),
    protectedMode: (parsed.protectedMode ?? 'on') === 'on',
    tls:
      parsed.tlsCert === undefined || parsed.tlsKey === undefined
        ? undefined
        : { certFile: resolve(cwd, parsed.tlsCert), keyFile: resolve(cwd, parsed.tlsKey) },
    rateLimit: rate === 0 ? null : { perSecond: rate, burst: parsed.rateBurstRequests ?? rate },
  };
}
