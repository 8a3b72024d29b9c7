import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TokenRegistry, TokensFileError, newToken, sha256, tokenEntry } from '../../src/auth/tokens.js';
import { tempDirectory } from '../helpers/server.js';

const directory = tempDirectory('kvs-tokens-');
after(() => rmSync(directory, { recursive: true, force: true }));

let fileCount = 0;
/** Writes `content` (a string as is, anything else as JSON) to a fresh file and returns its path. */
function tokensFile(content: unknown): string {
  const file = join(directory, `tokens-${++fileCount}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

/** Independent of src/: the hex SHA-256 a tokens file holds. */
function hexHash(token: string): string {
  return createHash('sha256').update(Buffer.from(token, 'utf8')).digest('hex');
}

/** load() must throw a TokensFileError whose message names the variable and `naming`. */
function assertRejected(content: unknown, naming: RegExp): TokensFileError {
  const file = tokensFile(content);
  let caught: unknown;
  try {
    TokenRegistry.load({ tokensFile: file });
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof TokensFileError, `expected a TokensFileError for ${JSON.stringify(content)}, got ${String(caught)}`);
  assert.equal(caught.name, 'TokensFileError');
  assert.match(caught.message, /KV_TOKENS_FILE/);
  assert.ok(caught.message.includes(file), `message should name the file: ${caught.message}`);
  assert.match(caught.message, naming);
  return caught;
}

const HASH = hexHash('some-token');
const GRANTS = [{ prefix: 'app/', actions: ['read'] }];

describe('sha256', () => {
  it('is the SHA-256 of the UTF-8 bytes, as node:crypto computes it', () => {
    for (const token of ['', 'abc', 'kvs_x', 'ünïcödé 😀']) {
      assert.equal(sha256(token).toString('hex'), hexHash(token));
    }
    // Known answer for "abc" (FIPS 180-2).
    assert.equal(sha256('abc').toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('TokenRegistry with KV_ADMIN_TOKEN only', () => {
  it('authenticates the admin token as an admin principal', () => {
    const registry = TokenRegistry.load({ adminToken: 's3cret-admin' });
    assert.equal(registry.enabled, true);
    const principal = registry.authenticate('s3cret-admin');
    assert.ok(principal !== null);
    assert.equal(principal.admin, true);
    assert.equal(principal.name, 'admin');
  });

  it('refuses any other token, including near misses', () => {
    const registry = TokenRegistry.load({ adminToken: 's3cret-admin' });
    for (const wrong of ['', 's3cret-admi', 's3cret-admin ', 'S3CRET-ADMIN', 's3cret-adminx', hexHash('s3cret-admin')]) {
      assert.equal(registry.authenticate(wrong), null, JSON.stringify(wrong));
    }
  });

  it('is disabled when nothing is configured', () => {
    for (const registry of [TokenRegistry.empty(), TokenRegistry.load({})]) {
      assert.equal(registry.enabled, false);
      assert.equal(registry.authenticate(''), null);
      assert.equal(registry.authenticate('anything'), null);
    }
  });
});

describe('TokenRegistry with a tokens file', () => {
  const appToken = newToken();
  const opsToken = newToken();
  const file = tokensFile({
    tokens: [
      {
        name: 'app',
        sha256: hexHash(appToken),
        grants: [
          { prefix: 'app/', actions: ['read', 'write'] },
          { prefix: '', actions: ['watch'] },
        ],
      },
      // Upper-case hex is the same hash.
      { name: 'ops', sha256: sha256(opsToken).toString('hex').toUpperCase(), admin: true },
    ],
  });

  it('parses named grants', () => {
    const principal = TokenRegistry.load({ tokensFile: file }).authenticate(appToken);
    assert.ok(principal !== null);
    assert.equal(principal.name, 'app');
    assert.equal(principal.admin, false);
    assert.deepEqual(
      principal.grants.map((grant) => ({ prefix: grant.prefix, actions: [...grant.actions].sort() })),
      [
        { prefix: 'app/', actions: ['read', 'write'] },
        { prefix: '', actions: ['watch'] },
      ],
    );
  });

  it('parses an admin entry', () => {
    const principal = TokenRegistry.load({ tokensFile: file }).authenticate(opsToken);
    assert.ok(principal !== null);
    assert.equal(principal.name, 'ops');
    assert.equal(principal.admin, true);
  });

  it('refuses unknown tokens, and the hash itself presented as a token', () => {
    const registry = TokenRegistry.load({ tokensFile: file });
    assert.equal(registry.enabled, true);
    assert.equal(registry.authenticate(newToken()), null);
    assert.equal(registry.authenticate(hexHash(appToken)), null);
    assert.equal(registry.authenticate(`${appToken}x`), null);
  });

  it('combines the admin token and the file', () => {
    const registry = TokenRegistry.load({ adminToken: 'root-token', tokensFile: file });
    assert.equal(registry.authenticate('root-token')?.admin, true);
    assert.equal(registry.authenticate(appToken)?.name, 'app');
    assert.equal(registry.authenticate(opsToken)?.name, 'ops');
  });

  it('accepts the entries tokenEntry() produces', () => {
    const token = newToken();
    const entries = [tokenEntry('made', token, [{ prefix: 'm/', actions: ['read'] }], false), tokenEntry('root', newToken(), [], true)];
    const registry = TokenRegistry.load({ tokensFile: tokensFile({ tokens: entries }) });
    const principal = registry.authenticate(token);
    assert.equal(principal?.name, 'made');
    assert.equal(principal?.grants[0]?.prefix, 'm/');
    assert.ok(principal?.grants[0]?.actions.has('read'));
  });
});

describe('TokenRegistry rejects malformed tokens files', () => {
  it('rejects a missing file', () => {
    const file = join(directory, 'does-not-exist.json');
    assert.throws(
      () => TokenRegistry.load({ tokensFile: file }),
      (error: unknown) =>
        error instanceof TokensFileError &&
        error.message.includes('KV_TOKENS_FILE') &&
        error.message.includes(file) &&
        /ENOENT|no such file/.test(error.message),
    );
  });

  it('rejects text that is not JSON', () => {
    assertRejected('not json', /JSON/);
    assertRejected('{"tokens": [', /JSON/);
    assertRejected('', /JSON/);
  });

  it('rejects a document without a "tokens" array', () => {
    for (const document of ['null', '[]', '42', '{}', '{"tokens": {}}', '{"tokens": "x"}', '{"token": []}']) {
      assertRejected(document, /"tokens"/);
    }
  });

  it('rejects an entry that is not an object, naming its index', () => {
    assertRejected({ tokens: [{ name: 'ok', sha256: HASH, admin: true }, 'x'] }, /tokens\[1\] must be an object/);
    assertRejected({ tokens: [null] }, /tokens\[0\] must be an object/);
  });

  it('rejects a missing or empty name', () => {
    assertRejected({ tokens: [{ sha256: HASH, grants: GRANTS }] }, /tokens\[0\]\.name/);
    assertRejected({ tokens: [{ name: '', sha256: HASH, grants: GRANTS }] }, /tokens\[0\]\.name/);
    assertRejected({ tokens: [{ name: 7, sha256: HASH, grants: GRANTS }] }, /tokens\[0\]\.name/);
  });

  it('rejects a name used twice', () => {
    const error = assertRejected(
      {
        tokens: [
          { name: 'app', sha256: HASH, grants: GRANTS },
          { name: 'app', sha256: hexHash('other'), grants: GRANTS },
        ],
      },
      /tokens\[1\]\.name/,
    );
    assert.match(error.message, /"app"/);
    assert.match(error.message, /twice/);
  });

  it('rejects a sha256 that is not 64 hex digits', () => {
    for (const hash of [undefined, '', HASH.slice(1), `${HASH}0`, `${HASH.slice(1)}g`, 'some-token', 42]) {
      assertRejected({ tokens: [{ name: 'app', sha256: hash, grants: GRANTS }] }, /tokens\[0\]\.sha256/);
    }
  });

  it('rejects an admin flag that is not a boolean', () => {
    for (const admin of ['true', 1, null]) {
      assertRejected({ tokens: [{ name: 'ops', sha256: HASH, admin }] }, /tokens\[0\]\.admin/);
    }
  });

  it('rejects an entry with neither grants nor admin: true', () => {
    for (const entry of [{}, { grants: [] }, { admin: false }, { admin: false, grants: [] }, { grants: 'app/' }]) {
      assertRejected({ tokens: [{ name: 'app', sha256: HASH, ...entry }] }, /tokens\[0\] needs "grants"/);
    }
  });

  it('rejects a grant that is not an object or whose prefix is not a string', () => {
    assertRejected({ tokens: [{ name: 'app', sha256: HASH, grants: ['app/'] }] }, /grants\[0\] must be an object/);
    for (const prefix of [undefined, null, 3, ['app/']]) {
      assertRejected({ tokens: [{ name: 'app', sha256: HASH, grants: [...GRANTS, { prefix, actions: ['read'] }] }] }, /tokens\[0\]\.grants\[1\]\.prefix/);
    }
  });

  it('rejects an empty list, which would silently turn access control off', () => {
    assertRejected({ tokens: [] }, /has no tokens/);
  });

  it('rejects a prefix that is not well-formed Unicode (a lone surrogate)', () => {
    assertRejected(
      { tokens: [{ name: 'app', sha256: HASH, grants: [{ prefix: 'app/\ud83d', actions: ['read'] }] }] },
      /grants\[0\]\.prefix must be well-formed/,
    );
  });

  it('rejects an entry named "admin" beside KV_ADMIN_TOKEN (the names would be confused)', () => {
    const file = tokensFile({ tokens: [{ name: 'admin', sha256: HASH, grants: GRANTS }] });
    assert.throws(
      () => TokenRegistry.load({ adminToken: 'root-token', tokensFile: file }),
      (error: unknown) => error instanceof TokensFileError && /KV_ADMIN_TOKEN/.test(error.message),
    );
    assert.equal(TokenRegistry.load({ tokensFile: file }).authenticate('some-token')?.name, 'admin', 'without KV_ADMIN_TOKEN the name is free');
  });

  it('rejects empty, missing or unknown actions', () => {
    for (const actions of [[], undefined, 'read', ['read', 'delete'], ['admin'], ['READ']]) {
      assertRejected(
        { tokens: [{ name: 'app', sha256: HASH, grants: [{ prefix: 'app/', actions }] }] },
        /tokens\[0\]\.grants\[0\]\.actions.*read, write, watch/,
      );
    }
  });
});

describe('newToken', () => {
  it('is "kvs_" and at least 43 base64url characters (32 random bytes)', () => {
    const token = newToken();
    assert.match(token, /^kvs_[A-Za-z0-9_-]{43,}$/);
    assert.ok(Buffer.from(token.slice(4), 'base64url').length >= 32);
  });

  it('never repeats', () => {
    const tokens = new Set(Array.from({ length: 100 }, () => newToken()));
    assert.equal(tokens.size, 100);
  });
});

describe('tokenEntry', () => {
  it('holds the hash, never the token', () => {
    const token = newToken();
    for (const entry of [tokenEntry('app', token, [{ prefix: 'app/', actions: ['read', 'write'] }], false), tokenEntry('ops', token, [], true)]) {
      assert.equal(entry.sha256, hexHash(token));
      assert.ok(!JSON.stringify(entry).includes(token), 'the entry must not contain the token');
      assert.ok(!JSON.stringify(entry).includes(token.slice(4)), 'nor its random part');
    }
  });

  it('is a grants entry or an admin entry', () => {
    const token = newToken();
    assert.deepEqual(tokenEntry('app', token, [{ prefix: 'app/', actions: ['read'] }], false), {
      name: 'app',
      sha256: hexHash(token),
      grants: [{ prefix: 'app/', actions: ['read'] }],
    });
    assert.deepEqual(tokenEntry('ops', token, [], true), { name: 'ops', sha256: hexHash(token), admin: true });
  });
});
