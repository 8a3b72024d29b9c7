import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertLimitRelations, ConfigError, loadConfig, SETTINGS } from '../../src/config.js';
import {
  brokenLimitRelations,
  CONTENT_TYPE_BYTES_MAX,
  DEFAULT_ETCD_LIMITS,
  DEFAULT_LIMITS,
  ETCD_LIMIT_CATALOGUE,
  ETCD_MESSAGE_BYTES_MAX,
  EXPIRY_INDEX_PREFIX_BYTES,
  KEY_BYTES_CEILING,
  LIMIT_CATALOGUE,
  LIMIT_RELATIONS,
  MIB,
  RATE_LIMIT_CATALOGUE,
  requestBytesToCarry,
  SHUTDOWN_TIMEOUT_MS,
  V8_STRING_CHARS_MAX,
  type LimitEntry,
  type Limits,
} from '../../src/core/limits.js';
import { RECORD_HEADER_BYTES_MAX, RECORD_OVERHEAD_BYTES_MAX } from '../../src/engine/etcd/record-layout.js';
import { encodeRecord } from '../../src/engine/etcd/keyspace.js';
import { expiryIndexKey } from '../../src/engine/lmdb/stores.js';

const CATALOGUE: Record<string, LimitEntry> = { ...LIMIT_CATALOGUE, ...ETCD_LIMIT_CATALOGUE, ...RATE_LIMIT_CATALOGUE };
const SETTING_LIST = Object.entries(SETTINGS) as Array<[string, (typeof SETTINGS)[keyof typeof SETTINGS] & { limit?: string }]>;

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ConfigError');
}

describe('the limit catalogue', () => {
  it('gives DEFAULT_LIMITS and DEFAULT_ETCD_LIMITS from its entries, and nothing else', () => {
    assert.deepEqual(Object.keys(DEFAULT_LIMITS).sort(), Object.keys(LIMIT_CATALOGUE).sort());
    for (const [name, entry] of Object.entries(LIMIT_CATALOGUE)) assert.equal(DEFAULT_LIMITS[name as keyof Limits], entry.default, name);
    assert.deepEqual(DEFAULT_ETCD_LIMITS, { etcdRequestBytesMax: 1.5 * MIB, etcdTxnOpsMax: 128 });
    assert.ok(Object.isFrozen(DEFAULT_LIMITS) && Object.isFrozen(DEFAULT_ETCD_LIMITS));
  });

  it('names every limit thing-unit-qualifier: no max or default in front', () => {
    for (const name of Object.keys(CATALOGUE)) assert.doesNotMatch(name, /^(max|min|default)[A-Z]/, name);
  });

  it('keeps every default within its range', () => {
    for (const [name, entry] of Object.entries(CATALOGUE)) {
      assert.equal(entry.min === undefined, entry.max === undefined, `${name}: min and max, both or neither`);
      if (entry.default !== undefined && entry.min !== undefined) assert.ok(entry.min <= entry.default && entry.default <= entry.max!, name);
    }
  });
});

describe('settings of limits', () => {
  it('each settable entry has exactly one setting, named after it', () => {
    const settable = Object.entries(CATALOGUE)
      .filter(([, entry]) => entry.min !== undefined)
      .map(([name]) => name)
      .sort();
    const setters = SETTING_LIST.filter(([, setting]) => setting.limit !== undefined);
    for (const [key, setting] of setters) assert.equal(setting.limit, key, `the setting ${key} sets ${setting.limit}`);
    assert.deepEqual(setters.map(([key]) => key).sort(), settable);
  });

  it('accepts exactly the range of its catalogue entry', () => {
    for (const [key, setting] of SETTING_LIST) {
      if (setting.limit === undefined) continue;
      const { min, max } = CATALOGUE[setting.limit]!;
      assert.equal(setting.parse(String(min), 'X'), min, key);
      assert.equal(setting.parse(String(max), 'X'), max, key);
      if (min! > 0) assert.throws(() => setting.parse(String(min! - 1), 'X'), ConfigError, key);
      if (max! < Number.MAX_SAFE_INTEGER) assert.throws(() => setting.parse(String(max! + 1), 'X'), ConfigError, key);
    }
  });

  it("shows the catalogue's default in its help", () => {
    assert.match(SETTINGS.valueBytesMax.describe, /\(default 4 MiB\)$/);
    assert.match(SETTINGS.keyBytesMax.describe, new RegExp(`at most ${KEY_BYTES_CEILING} \\(default 1024\\)$`));
    assert.match(SETTINGS.etcdRequestBytesMax.describe, /\(default 1572864\)$/);
    assert.match(SETTINGS.etcdTxnOpsMax.describe, /\(default 128\)$/);
    assert.match(SETTINGS.historyRetentionRevisions.describe, /\(default 100000\)$/);
    assert.match(SETTINGS.dataBytesMax.describe, /\(default 0; no cap\)$/);
    assert.match(SETTINGS.rateLimitPerSecond.describe, /0 = off \(default 0\)$/);
    assert.match(SETTINGS.rateBurstRequests.describe, /\(default: the rate limit\)$/);
    for (const [key, setting] of SETTING_LIST) if (setting.limit !== undefined) assert.equal(setting.describe.match(/\(default/g)?.length, 1, key);
  });

  it('refuses an etcd request limit beyond what the gRPC client sends in one message, naming it', () => {
    const env = { KV_ENGINE: 'etcd', ETCD_ENDPOINTS: 'http://a:2379' };
    assert.equal(loadConfig({ ...env, ETCD_MAX_REQUEST_BYTES: String(ETCD_MESSAGE_BYTES_MAX) }, {}, '/').etcdRequestBytesMax, ETCD_MESSAGE_BYTES_MAX);
    assert.match(
      configError(() => loadConfig({ ...env, ETCD_MAX_REQUEST_BYTES: String(ETCD_MESSAGE_BYTES_MAX + 1) }, {}, '/')).message,
      /^ETCD_MAX_REQUEST_BYTES must be an integer from/,
    );
  });
});

describe('derived limits', () => {
  it('the key ceiling is LMDB’s key size less the expiry index’s prefix (and a margin): 1960 as before', () => {
    assert.equal(KEY_BYTES_CEILING, 1960);
    assert.equal(expiryIndexKey(1, Buffer.alloc(KEY_BYTES_CEILING)).length, KEY_BYTES_CEILING + EXPIRY_INDEX_PREFIX_BYTES);
    assert.ok(KEY_BYTES_CEILING + EXPIRY_INDEX_PREFIX_BYTES <= 1978);
  });

  it("an etcd record's header and overhead follow from its fields and the longest content type", () => {
    assert.equal(RECORD_HEADER_BYTES_MAX, 12);
    assert.equal(encodeRecord(Buffer.alloc(0), '', 1).length, RECORD_HEADER_BYTES_MAX);
    assert.equal(CONTENT_TYPE_BYTES_MAX, 256 * 4);
    assert.equal(RECORD_OVERHEAD_BYTES_MAX, 2 + 8 + 2 + 1024);
    const longest = '\u20AC'.repeat(LIMIT_CATALOGUE.contentTypeCharsMax.default); // 3 UTF-8 bytes per UTF-16 unit, the most
    assert.ok(encodeRecord(Buffer.alloc(0), longest, 1).length <= RECORD_OVERHEAD_BYTES_MAX);
  });

  it('a JSON request carries one value in base64 with its envelope, and never less than the default', () => {
    assert.equal(requestBytesToCarry(1), 8 * MIB);
    assert.equal(requestBytesToCarry(4 * MIB), 8 * MIB);
    assert.equal(requestBytesToCarry(30 * MIB), 41 * MIB);
    assert.equal(loadConfig({ KV_MAX_VALUE_BYTES: String(30 * MIB) }, {}, '/').limits.requestBytesMax, 41 * MIB);
  });
});

describe('assertLimitRelations', () => {
  it('passes the defaults, and the limits of every default configuration', () => {
    assert.deepEqual(brokenLimitRelations(DEFAULT_LIMITS), []);
    assert.doesNotThrow(() => assertLimitRelations({ ...DEFAULT_LIMITS }));
    assert.doesNotThrow(() => loadConfig({ KV_ENGINE: 'etcd', ETCD_ENDPOINTS: 'http://a:2379' }, {}, '/'));
  });

  it('refuses a key beyond the ceiling, in one line naming the setting', () => {
    const error = configError(() => assertLimitRelations({ ...DEFAULT_LIMITS, keyBytesMax: KEY_BYTES_CEILING + 1 }, { keyBytesMax: 'KV_MAX_KEY_BYTES' }));
    assert.match(error.message, new RegExp(`^KV_MAX_KEY_BYTES=${KEY_BYTES_CEILING + 1}: `));
    assert.doesNotMatch(error.message, /\n/);
  });

  it('refuses a default page larger than the largest, naming both (by their names when no setting set them)', () => {
    const error = configError(() => assertLimitRelations({ ...DEFAULT_LIMITS, listLimitDefault: 2000 }));
    assert.match(error.message, /^listLimitDefault=2000 with listLimitMax=1000: /);
  });

  it('refuses an import body V8 cannot hold as a string, and a watch close grace beyond the shutdown timeout', () => {
    assert.match(configError(() => assertLimitRelations({ ...DEFAULT_LIMITS, importBytesMax: V8_STRING_CHARS_MAX + 1 })).message, /^importBytesMax=/);
    assert.match(configError(() => assertLimitRelations({ ...DEFAULT_LIMITS, watchCloseGraceMs: SHUTDOWN_TIMEOUT_MS })).message, /^watchCloseGraceMs=/);
  });

  it('names each relation’s limits by catalogue names', () => {
    for (const relation of LIMIT_RELATIONS) for (const name of relation.names) assert.ok(name in LIMIT_CATALOGUE, name);
  });
});
