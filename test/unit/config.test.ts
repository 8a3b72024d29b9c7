import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.js';
import { DEFAULT_LIMITS, KEY_BYTES_CEILING, MIB } from '../../src/core/limits.js';

const CWD = resolve('/srv/kvs-test');

function assertConfigError(fn: () => unknown, naming: string): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.ok(caught instanceof Error);
  assert.equal(caught.name, 'ConfigError');
  assert.ok(caught.message.includes(naming), `message ${JSON.stringify(caught.message)} should name ${naming}`);
  return caught;
}

describe('loadConfig defaults', () => {
  it('gives the documented defaults for an empty environment', () => {
    const config = loadConfig({}, {}, CWD);
    assert.deepEqual(config, {
      host: '127.0.0.1',
      port: 8080,
      dataDirectory: resolve(CWD, 'data'),
      engine: 'lmdb',
      etcdEndpoints: [],
      etcdPrefix: 'kvs/',
      etcdTxnOpsMax: 128,
      etcdRequestBytesMax: 1572864,
      limits: { ...DEFAULT_LIMITS },
      logLevel: 'info',
      logFormat: 'auto',
      adminToken: undefined,
      tokensFile: undefined,
      protectedMode: true,
      tls: undefined,
      rateLimit: null,
    });
  });

  it('has the documented default limits', () => {
    const { limits } = loadConfig({}, {}, CWD);
    assert.equal(limits.keyBytesMax, 1024);
    assert.equal(limits.valueBytesMax, 4 * 1024 * 1024);
    assert.equal(limits.requestBytesMax, 8 * 1024 * 1024);
    assert.equal(limits.txnOpsMax, 128);
    assert.equal(limits.listLimitMax, 1000);
    assert.equal(limits.listLimitDefault, 100);
    assert.equal(limits.historyRetentionRevisions, 100_000);
    assert.equal(limits.contentTypeCharsMax, 256);
  });

  it('resolves ./data against process.cwd() by default', () => {
    assert.equal(loadConfig({}).dataDirectory, resolve(process.cwd(), 'data'));
  });

  it('resolves a relative DATA_DIRECTORY against cwd and keeps an absolute one', () => {
    assert.equal(loadConfig({ DATA_DIRECTORY: 'store/db' }, {}, CWD).dataDirectory, resolve(CWD, 'store/db'));
    assert.equal(loadConfig({ DATA_DIRECTORY: '../elsewhere' }, {}, CWD).dataDirectory, resolve(CWD, '../elsewhere'));
    const absolute = resolve('/var/lib/kvs');
    assert.equal(loadConfig({ DATA_DIRECTORY: absolute }, {}, CWD).dataDirectory, absolute);
  });

  it('ignores unrelated variables and treats empty variables as unset', () => {
    const config = loadConfig({ HOME: '/root', HOST: '', PORT: '', KV_ENGINE: '', LOG_LEVEL: '', DATA_DIRECTORY: '' }, {}, CWD);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8080);
    assert.equal(config.engine, 'lmdb');
    assert.equal(config.logLevel, 'info');
    assert.equal(config.dataDirectory, resolve(CWD, 'data'));
  });

  it('does not share the limits object between calls or with DEFAULT_LIMITS', () => {
    const first = loadConfig({}, {}, CWD);
    first.limits.keyBytesMax = 1;
    assert.equal(loadConfig({}, {}, CWD).limits.keyBytesMax, 1024);
    assert.equal(DEFAULT_LIMITS.keyBytesMax, 1024);
  });
});

describe('loadConfig environment', () => {
  it('reads HOST, PORT, DATA_DIRECTORY, KV_ENGINE and LOG_LEVEL', () => {
    const config = loadConfig({ HOST: '0.0.0.0', PORT: '9000', DATA_DIRECTORY: '/tmp/kv', KV_ENGINE: 'lmdb', LOG_LEVEL: 'debug' }, {}, CWD);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.port, 9000);
    assert.equal(config.dataDirectory, resolve('/tmp/kv'));
    assert.equal(config.engine, 'lmdb');
    assert.equal(config.logLevel, 'debug');
  });

  it('accepts port 0 and 65535', () => {
    assert.equal(loadConfig({ PORT: '0' }, {}, CWD).port, 0);
    assert.equal(loadConfig({ PORT: '65535' }, {}, CWD).port, 65535);
  });

  it('reads KV_STORE_PORT when PORT is unset or empty', () => {
    assert.equal(loadConfig({ KV_STORE_PORT: '7000' }, {}, CWD).port, 7000);
    assert.equal(loadConfig({ PORT: '', KV_STORE_PORT: '7000' }, {}, CWD).port, 7000);
  });

  it('prefers PORT over KV_STORE_PORT', () => {
    assert.equal(loadConfig({ PORT: '9000', KV_STORE_PORT: '7000' }, {}, CWD).port, 9000);
  });

  it('reports an invalid PORT even when KV_STORE_PORT is valid', () => {
    assertConfigError(() => loadConfig({ PORT: 'abc', KV_STORE_PORT: '7000' }, {}, CWD), 'PORT');
  });

  it('names KV_STORE_PORT when it is the invalid one', () => {
    assertConfigError(() => loadConfig({ KV_STORE_PORT: '70000' }, {}, CWD), 'KV_STORE_PORT');
  });

  it('refuses invalid ports, naming PORT', () => {
    for (const port of ['abc', '-1', '65536', '80.5', ' ', '8080x', 'NaN']) {
      assertConfigError(() => loadConfig({ PORT: port }, {}, CWD), 'PORT');
    }
  });

  it('refuses an unknown KV_ENGINE and LOG_LEVEL, naming them', () => {
    assertConfigError(() => loadConfig({ KV_ENGINE: 'redis' }, {}, CWD), 'KV_ENGINE');
    assertConfigError(() => loadConfig({ KV_ENGINE: 'LMDB' }, {}, CWD), 'KV_ENGINE');
    assertConfigError(() => loadConfig({ LOG_LEVEL: 'verbose' }, {}, CWD), 'LOG_LEVEL');
  });

  it('reads LOG_FORMAT json or pretty; unset or empty leaves it to the terminal (auto)', () => {
    assert.equal(loadConfig({ LOG_FORMAT: 'json' }, {}, CWD).logFormat, 'json');
    assert.equal(loadConfig({ LOG_FORMAT: 'pretty' }, {}, CWD).logFormat, 'pretty');
    assert.equal(loadConfig({ LOG_FORMAT: '' }, {}, CWD).logFormat, 'auto');
    assert.equal(loadConfig({}, {}, CWD).logFormat, 'auto');
  });

  it('refuses any other LOG_FORMAT, naming it and the choices', () => {
    for (const format of ['xml', 'JSON', 'auto', ' pretty', 'text']) {
      const error = assertConfigError(() => loadConfig({ LOG_FORMAT: format }, {}, CWD), 'LOG_FORMAT');
      assert.match(error.message, /json, pretty/);
    }
  });

  it('refuses a blank HOST or DATA_DIRECTORY, naming them', () => {
    assertConfigError(() => loadConfig({ HOST: '   ' }, {}, CWD), 'HOST');
    assertConfigError(() => loadConfig({ DATA_DIRECTORY: ' ' }, {}, CWD), 'DATA_DIRECTORY');
  });

  it('refuses KV_ENGINE=etcd without ETCD_ENDPOINTS', () => {
    assertConfigError(() => loadConfig({ KV_ENGINE: 'etcd' }, {}, CWD), 'ETCD_ENDPOINTS');
    assertConfigError(() => loadConfig({ KV_ENGINE: 'etcd', ETCD_ENDPOINTS: '' }, {}, CWD), 'ETCD_ENDPOINTS');
    assertConfigError(() => loadConfig({ KV_ENGINE: 'etcd', ETCD_ENDPOINTS: ' , ,' }, {}, CWD), 'ETCD_ENDPOINTS');
    assertConfigError(() => loadConfig({ KV_ENGINE: 'etcd', ETCD_ENDPOINTS: 'http://a:2379,foo/bar' }, {}, CWD), 'ETCD_ENDPOINTS');
    assertConfigError(() => loadConfig({ KV_ENGINE: 'etcd', ETCD_ENDPOINTS: 'ftp://a:2379' }, {}, CWD), 'ETCD_ENDPOINTS');
  });

  it('splits and trims ETCD_ENDPOINTS for KV_ENGINE=etcd', () => {
    const config = loadConfig({ KV_ENGINE: 'etcd', ETCD_ENDPOINTS: 'http://a:2379, http://b:2379,,http://c:2379 ' }, {}, CWD);
    assert.equal(config.engine, 'etcd');
    assert.deepEqual(config.etcdEndpoints, ['http://a:2379', 'http://b:2379', 'http://c:2379']);
  });

  it("derives the etcd engine's limits from etcd's request limits", () => {
    const config = loadConfig({ KV_ENGINE: 'etcd', ETCD_ENDPOINTS: 'http://a:2379' }, {}, CWD);
    assert.equal(config.etcdPrefix, 'kvs/');
    // One etcd request (1.5 MiB) holds the value, its key (up to 1024 bytes), the namespace, the record header and framing.
    assert.ok(
      config.limits.valueBytesMax < 1.5 * 1024 * 1024 - 1024 && config.limits.valueBytesMax > 1.5 * 1024 * 1024 - 8192,
      String(config.limits.valueBytesMax),
    );
    assert.equal(config.limits.txnOpsMax, 127, "etcd's 128 ops, less the delete marker");
    const larger = loadConfig(
      {
        KV_ENGINE: 'etcd',
        ETCD_ENDPOINTS: 'http://a:2379',
        ETCD_MAX_REQUEST_BYTES: String(10 * 1024 * 1024),
        ETCD_MAX_TXN_OPS: '1024',
        KV_ETCD_PREFIX: 'apps/one/',
      },
      {},
      CWD,
    );
    assert.ok(larger.limits.valueBytesMax > 9 * 1024 * 1024);
    assert.equal(larger.limits.txnOpsMax, 128, 'never above the API default');
    assert.equal(larger.etcdTxnOpsMax, 1024);
    assert.equal(larger.etcdPrefix, 'apps/one/');
  });

  it('refuses, on etcd, a value limit etcd cannot take and the embedded store cap', () => {
    assertConfigError(
      () => loadConfig({ KV_ENGINE: 'etcd', ETCD_ENDPOINTS: 'http://a:2379', KV_MAX_VALUE_BYTES: String(4 * 1024 * 1024) }, {}, CWD),
      'ETCD_MAX_REQUEST_BYTES',
    );
    assertConfigError(() => loadConfig({ KV_ENGINE: 'etcd', ETCD_ENDPOINTS: 'http://a:2379', KV_MAX_DATA_BYTES: '1000000' }, {}, CWD), 'quota-backend-bytes');
    assert.equal(loadConfig({ KV_ENGINE: 'etcd', ETCD_ENDPOINTS: 'http://a:2379', KV_MAX_VALUE_BYTES: '1000' }, {}, CWD).limits.valueBytesMax, 1000);
  });

  it('reads the limits from the environment and keeps the others at their defaults', () => {
    const { limits } = loadConfig(
      { KV_MAX_VALUE_BYTES: '1048576', KV_MAX_KEY_BYTES: '512', KV_MAX_REQUEST_BYTES: '4096', KV_HISTORY_RETENTION: '50' },
      {},
      CWD,
    );
    assert.deepEqual(limits, { ...DEFAULT_LIMITS, valueBytesMax: 1048576, keyBytesMax: 512, requestBytesMax: 4096, historyRetentionRevisions: 50 });
  });

  it('enforces the bounds of each limit, naming the variable', () => {
    assert.equal(loadConfig({ KV_MAX_KEY_BYTES: String(KEY_BYTES_CEILING) }, {}, CWD).limits.keyBytesMax, KEY_BYTES_CEILING);
    assertConfigError(() => loadConfig({ KV_MAX_KEY_BYTES: String(KEY_BYTES_CEILING + 1) }, {}, CWD), 'KV_MAX_KEY_BYTES');
    assertConfigError(() => loadConfig({ KV_MAX_KEY_BYTES: '0' }, {}, CWD), 'KV_MAX_KEY_BYTES');
    assert.equal(loadConfig({ KV_MAX_VALUE_BYTES: String(512 * MIB) }, {}, CWD).limits.valueBytesMax, 512 * MIB);
    assertConfigError(() => loadConfig({ KV_MAX_VALUE_BYTES: String(512 * MIB + 1) }, {}, CWD), 'KV_MAX_VALUE_BYTES');
    assertConfigError(() => loadConfig({ KV_MAX_VALUE_BYTES: '0' }, {}, CWD), 'KV_MAX_VALUE_BYTES');
    assertConfigError(() => loadConfig({ KV_MAX_VALUE_BYTES: '4MiB' }, {}, CWD), 'KV_MAX_VALUE_BYTES');
    assertConfigError(() => loadConfig({ KV_MAX_REQUEST_BYTES: '1023' }, {}, CWD), 'KV_MAX_REQUEST_BYTES');
    assertConfigError(() => loadConfig({ KV_HISTORY_RETENTION: '0' }, {}, CWD), 'KV_HISTORY_RETENTION');
    assertConfigError(() => loadConfig({ KV_HISTORY_RETENTION: '1.5' }, {}, CWD), 'KV_HISTORY_RETENTION');
  });
});

describe('loadConfig flags', () => {
  it('lets flags override the environment', () => {
    const config = loadConfig(
      { HOST: '0.0.0.0', PORT: '9000', KV_STORE_PORT: '7000', DATA_DIRECTORY: 'env-data', LOG_LEVEL: 'warn', LOG_FORMAT: 'json', KV_MAX_KEY_BYTES: '100' },
      { host: '::1', port: '9001', 'data-directory': 'flag-data', 'log-level': 'trace', 'max-key-bytes': '200', 'log-format': 'pretty' },
      CWD,
    );
    assert.equal(config.logFormat, 'pretty');
    assert.equal(config.host, '::1');
    assert.equal(config.port, 9001);
    assert.equal(config.dataDirectory, resolve(CWD, 'flag-data'));
    assert.equal(config.logLevel, 'trace');
    assert.equal(config.limits.keyBytesMax, 200);
  });

  it('uses the environment for settings without a flag', () => {
    const config = loadConfig({ PORT: '9000', HOST: '10.0.0.1' }, { port: '9001', host: undefined }, CWD);
    assert.equal(config.port, 9001);
    assert.equal(config.host, '10.0.0.1');
  });

  it('reads the engine and its endpoints from flags', () => {
    const config = loadConfig({ KV_ENGINE: 'lmdb' }, { engine: 'etcd', 'etcd-endpoints': 'http://x:2379' }, CWD);
    assert.equal(config.engine, 'etcd');
    assert.deepEqual(config.etcdEndpoints, ['http://x:2379']);
    assertConfigError(() => loadConfig({}, { engine: 'etcd' }, CWD), 'ETCD_ENDPOINTS');
  });

  it('reads limit flags', () => {
    const { limits } = loadConfig({}, { 'max-value-bytes': '2048', 'max-request-bytes': '8192', 'history-retention': '10' }, CWD);
    assert.equal(limits.valueBytesMax, 2048);
    assert.equal(limits.requestBytesMax, 8192);
    assert.equal(limits.historyRetentionRevisions, 10);
  });

  it('names the flag, not the variable, when a flag is invalid', () => {
    const error = assertConfigError(() => loadConfig({ PORT: '9000' }, { port: 'abc' }, CWD), '--port');
    assert.ok(!/\bPORT\b/.test(error.message));
    assertConfigError(() => loadConfig({}, { engine: 'redis' }, CWD), '--engine');
    assertConfigError(() => loadConfig({}, { 'log-level': 'loud' }, CWD), '--log-level');
    assertConfigError(() => loadConfig({}, { 'log-format': 'yaml' }, CWD), '--log-format');
    assertConfigError(() => loadConfig({}, { 'max-key-bytes': '5000' }, CWD), '--max-key-bytes');
    assertConfigError(() => loadConfig({}, { host: '' }, CWD), '--host');
    assertConfigError(() => loadConfig({}, { port: '' }, CWD), '--port');
  });

  it('refuses an invalid flag even when the environment is valid, and ignores an invalid variable the flag overrides', () => {
    assertConfigError(() => loadConfig({ PORT: '9000' }, { port: '99999' }, CWD), '--port');
    assert.equal(loadConfig({ PORT: 'garbage' }, { port: '9001' }, CWD).port, 9001);
  });
});

describe('access control and TLS settings', () => {
  it('reads tokens, protected mode, TLS files and the rate limit', () => {
    const config = loadConfig(
      { KV_ADMIN_TOKEN: 'secret', KV_TOKENS_FILE: 'tokens.json', KV_PROTECTED_MODE: 'off', KV_TLS_CERT: 'c.pem', KV_TLS_KEY: 'k.pem', KV_RATE_LIMIT: '50' },
      {},
      '/srv',
    );
    assert.equal(config.adminToken, 'secret');
    assert.equal(config.tokensFile, '/srv/tokens.json');
    assert.equal(config.protectedMode, false);
    assert.deepEqual(config.tls, { certFile: '/srv/c.pem', keyFile: '/srv/k.pem' });
    assert.deepEqual(config.rateLimit, { perSecond: 50, burst: 50 });
  });

  it('defaults to protected mode on, no TLS, no rate limit', () => {
    const config = loadConfig({});
    assert.equal(config.protectedMode, true);
    assert.equal(config.tls, undefined);
    assert.equal(config.rateLimit, null);
  });

  it('refuses a certificate without its key, and the other way round', () => {
    for (const env of [{ KV_TLS_CERT: 'c.pem' }, { KV_TLS_KEY: 'k.pem' }]) {
      assert.throws(
        () => loadConfig(env),
        (error: unknown) => error instanceof ConfigError && /KV_TLS_CERT and KV_TLS_KEY/.test(error.message),
      );
    }
  });

  it('reads the storage cap and the bound of pending writes, and refuses bad ones', () => {
    const { limits } = loadConfig({ KV_MAX_DATA_BYTES: '1073741824', KV_MAX_PENDING_WRITES: '500' }, {}, CWD);
    assert.equal(limits.dataBytesMax, 1073741824);
    assert.equal(limits.pendingWritesMax, 500);
    assert.equal(loadConfig({}, {}, CWD).limits.dataBytesMax, 0, 'no cap by default');
    assertConfigError(() => loadConfig({ KV_MAX_DATA_BYTES: '-1' }, {}, CWD), 'KV_MAX_DATA_BYTES');
    assertConfigError(() => loadConfig({ KV_MAX_PENDING_WRITES: '0' }, {}, CWD), 'KV_MAX_PENDING_WRITES');
  });

  it('refuses a protected mode other than on or off', () => {
    assert.throws(
      () => loadConfig({ KV_PROTECTED_MODE: 'maybe' }),
      (error: unknown) => error instanceof ConfigError && error.message.includes('KV_PROTECTED_MODE'),
    );
  });
});
