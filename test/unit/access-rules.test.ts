import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, ANY_TOKEN, PUBLIC, allows, grantCovers, keyAccess, type Access } from '../../src/auth/access.js';
import type { Action, Grant, Principal } from '../../src/auth/tokens.js';
import { keyBytes, prefixEnd } from '../../src/core/keys.js';

function grant(prefix: string, ...actions: Action[]): Grant {
  return { prefix, actions: new Set(actions) };
}

function principal(...grants: Grant[]): Principal {
  return { name: 'app', admin: false, grants };
}

const ADMIN_PRINCIPAL: Principal = { name: 'ops', admin: true, grants: [] };

/** A `range` access for [start, end) given as strings (end null = unbounded). */
function range(action: Action, start: string | Buffer, end: string | Buffer | null): Access {
  const bytes = (value: string | Buffer) => (typeof value === 'string' ? keyBytes(value) : value);
  return { kind: 'range', action, start: bytes(start), end: end === null ? null : bytes(end) };
}

/** The range a prefix request (list/delete/watch of `prefix`) asks for. */
function prefixRange(action: Action, prefix: string): Access {
  return { kind: 'range', action, start: keyBytes(prefix), end: prefixEnd(keyBytes(prefix)) };
}

describe('allows: admin and token-level rules', () => {
  it('lets an admin principal do everything, including admin routes', () => {
    // An admin has no grants at all: nothing below may depend on them.
    const accesses: Access[] = [
      PUBLIC,
      ANY_TOKEN,
      ADMIN,
      keyAccess('anything/at/all', 'read', 'write', 'watch'),
      range('watch', '', null),
      prefixRange('write', 'x/'),
    ];
    for (const access of accesses) assert.equal(allows(ADMIN_PRINCIPAL, access), true, JSON.stringify(access));
  });

  it('lets a non-admin principal through public and any-token routes but not admin ones', () => {
    for (const who of [principal(), principal(grant('', 'read', 'write', 'watch'))]) {
      assert.equal(allows(who, PUBLIC), true);
      assert.equal(allows(who, ANY_TOKEN), true);
      // Even a grant on every key with every action is not admin.
      assert.equal(allows(who, ADMIN), false);
    }
  });
});

describe('allows: keys', () => {
  const app = principal(grant('app/', 'read', 'write'), grant('shared/', 'read'));

  it('allows keys under a granted prefix with a granted action', () => {
    assert.equal(allows(app, keyAccess('app/x', 'read')), true);
    assert.equal(allows(app, keyAccess('app/x/y/z', 'write')), true);
    assert.equal(allows(app, keyAccess('app/x', 'read', 'write')), true);
    assert.equal(allows(app, keyAccess('shared/config', 'read')), true);
  });

  it('refuses a key outside every prefix, or an action no covering grant has', () => {
    assert.equal(allows(app, keyAccess('other/x', 'read')), false);
    // "app" and "app0" are not under "app/".
    assert.equal(allows(app, keyAccess('app', 'read')), false);
    assert.equal(allows(app, keyAccess('app0', 'read')), false);
    assert.equal(allows(app, keyAccess('app/x', 'watch')), false);
    assert.equal(allows(app, keyAccess('shared/config', 'write')), false);
  });

  it('refuses the whole request when one key or one action is not covered', () => {
    const mixedKeys: Access = {
      kind: 'keys',
      needs: [
        { key: 'app/a', action: 'read' },
        { key: 'app/b', action: 'write' },
        { key: 'other/c', action: 'read' },
      ],
    };
    assert.equal(allows(app, mixedKeys), false);
    // Same key, one action missing (shared/ is read-only).
    assert.equal(allows(app, keyAccess('shared/config', 'read', 'write')), false);
    const mixedActions: Access = {
      kind: 'keys',
      needs: [
        { key: 'app/a', action: 'write' },
        { key: 'shared/x', action: 'write' },
      ],
    };
    assert.equal(allows(app, mixedActions), false);
    // Without the offending need, the same request passes: the refusal above is due to it alone.
    assert.equal(
      allows(app, {
        kind: 'keys',
        needs: [
          { key: 'app/a', action: 'read' },
          { key: 'app/b', action: 'write' },
        ],
      }),
      true,
    );
  });

  it('combines grants: each need may be covered by a different grant', () => {
    const split = principal(grant('app/', 'read'), grant('app/', 'write'));
    assert.equal(allows(split, keyAccess('app/x', 'read', 'write')), true);
  });

  it('refuses everything keyed to a principal without grants', () => {
    assert.equal(allows(principal(), keyAccess('app/x', 'read')), false);
  });

  it('handles multi-byte UTF-8 keys and prefixes', () => {
    const japanese = principal(grant('日本/', 'read'), grant('😀', 'write'));
    assert.equal(allows(japanese, keyAccess('日本/東京', 'read')), true);
    assert.equal(allows(japanese, keyAccess('日本語', 'read')), false);
    assert.equal(allows(japanese, keyAccess('😀/x', 'write')), true);
    assert.equal(allows(japanese, keyAccess('😁/x', 'write')), false);
    assert.equal(allows(principal(grant('app/', 'read')), keyAccess('app/ünïcödé/😀', 'read')), true);
  });
});

describe('allows: ranges under a prefix grant "app/"', () => {
  const app = principal(grant('app/', 'read', 'watch'));

  it('allows the prefix itself and any longer prefix', () => {
    assert.equal(allows(app, prefixRange('read', 'app/')), true);
    assert.equal(allows(app, prefixRange('read', 'app/x/')), true);
    assert.equal(allows(app, prefixRange('watch', 'app/x')), true);
  });

  it('refuses shorter or neighbouring prefixes', () => {
    // "app" also covers "app0", "apple", ...: not all under "app/".
    assert.equal(allows(app, prefixRange('read', 'app')), false);
    assert.equal(allows(app, prefixRange('read', 'ap')), false);
    assert.equal(allows(app, prefixRange('read', 'app0')), false);
    assert.equal(allows(app, prefixRange('read', '')), false);
  });

  it('allows start/end ranges inside the prefix', () => {
    assert.equal(allows(app, range('read', 'app/a', 'app/b')), true);
    assert.equal(allows(app, range('read', 'app/', 'app/zzz')), true);
  });

  it('refuses an unbounded end, and a start below the prefix', () => {
    assert.equal(allows(app, range('read', 'app/a', null)), false);
    // "app." sorts just below "app/" ('.' = 0x2e, '/' = 0x2f).
    assert.equal(allows(app, range('read', 'app.', 'app/b')), false);
    assert.equal(allows(app, range('read', Buffer.from('app.\xff', 'latin1'), 'app/b')), false);
  });

  it('allows an end exactly at prefixEnd("app/") and refuses one byte beyond', () => {
    const high = prefixEnd(keyBytes('app/'))!;
    assert.deepEqual(high, keyBytes('app0'));
    assert.equal(allows(app, range('read', 'app/a', high)), true);
    // The next byte string after "app0", and the next one at the same length.
    assert.equal(allows(app, range('read', 'app/a', Buffer.concat([high, Buffer.from([0])]))), false);
    assert.equal(allows(app, range('read', 'app/a', 'app1')), false);
  });

  it('refuses a covered range with an action the grant lacks', () => {
    assert.equal(allows(app, prefixRange('write', 'app/')), false);
    assert.equal(allows(app, range('write', 'app/a', 'app/b')), false);
  });

  it('lets any one grant cover the range (not a union of grants)', () => {
    const two = principal(grant('app/a', 'read'), grant('app/b', 'read'));
    assert.equal(allows(two, prefixRange('read', 'app/a')), true);
    // [app/a, app/c) is covered by the two grants together, but by neither alone.
    assert.equal(allows(two, range('read', 'app/a', 'app/c')), false);
  });

  it('handles multi-byte UTF-8 prefixes', () => {
    const japanese = principal(grant('日本/', 'read'));
    assert.equal(allows(japanese, prefixRange('read', '日本/')), true);
    assert.equal(allows(japanese, prefixRange('read', '日本/東京/')), true);
    assert.equal(allows(japanese, range('read', '日本/a', '日本/😀')), true);
    // "日本" without the slash covers "日本語" too.
    assert.equal(allows(japanese, prefixRange('read', '日本')), false);
    // A prefix ending in the first bytes of a 3-byte character is not the whole prefix.
    assert.equal(allows(japanese, range('read', keyBytes('日本/').subarray(0, 4), prefixEnd(keyBytes('日本/')))), false);
  });
});

describe('allows: the empty-prefix grant', () => {
  const everything = principal(grant('', 'read'));

  it('covers every range, unbounded ones included', () => {
    assert.equal(allows(everything, range('read', '', null)), true);
    assert.equal(allows(everything, range('read', 'zzz', null)), true);
    assert.equal(allows(everything, prefixRange('read', '')), true);
    assert.equal(allows(everything, prefixRange('read', 'app')), true);
    assert.equal(allows(everything, range('read', Buffer.alloc(0), Buffer.from([0xff, 0xff]))), true);
    assert.equal(allows(everything, keyAccess('any/key', 'read')), true);
  });

  it('still needs the action', () => {
    assert.equal(allows(everything, range('write', '', null)), false);
    assert.equal(allows(everything, keyAccess('any/key', 'write')), false);
  });
});

describe('grantCovers', () => {
  it('is true exactly for ranges within [prefix, prefixEnd(prefix))', () => {
    const low = keyBytes('app/');
    const high = prefixEnd(low)!;
    assert.equal(grantCovers('app/', low, high), true);
    assert.equal(grantCovers('app/', keyBytes('app/m'), keyBytes('app/n')), true);
    assert.equal(grantCovers('app/', keyBytes('app.'), high), false);
    assert.equal(grantCovers('app/', low, null), false);
    assert.equal(grantCovers('app/', low, keyBytes('app1')), false);
    assert.equal(grantCovers('app', keyBytes('app'), prefixEnd(keyBytes('app'))), true);
    assert.equal(grantCovers('app/', keyBytes('app'), prefixEnd(keyBytes('app'))), false);
  });

  it('is always true for the empty prefix', () => {
    assert.equal(grantCovers('', Buffer.alloc(0), null), true);
    assert.equal(grantCovers('', Buffer.from([0xff]), null), true);
  });
});

describe('allows: all of several needs', () => {
  const watchRange = (prefix: string): Access => ({
    kind: 'all',
    of: [
      { kind: 'range', action: 'read', start: keyBytes(prefix), end: prefixEnd(keyBytes(prefix)) },
      { kind: 'range', action: 'watch', start: keyBytes(prefix), end: prefixEnd(keyBytes(prefix)) },
    ],
  });
  const principal = (grants: Array<{ prefix: string; actions: Action[] }>): Principal => ({
    name: 't',
    admin: false,
    grants: grants.map((grant) => ({ prefix: grant.prefix, actions: new Set(grant.actions) })),
  });

  it('is allowed only when every part is, possibly by different grants', () => {
    assert.equal(allows(principal([{ prefix: 'app/', actions: ['read', 'watch'] }]), watchRange('app/')), true);
    assert.equal(
      allows(
        principal([
          { prefix: 'app/', actions: ['read'] },
          { prefix: '', actions: ['watch'] },
        ]),
        watchRange('app/'),
      ),
      true,
    );
    assert.equal(allows(principal([{ prefix: '', actions: ['watch'] }]), watchRange('app/')), false, 'watch alone would reveal values');
    assert.equal(allows(principal([{ prefix: 'app/', actions: ['read'] }]), watchRange('app/')), false);
    assert.equal(allows(principal([{ prefix: 'app/x/', actions: ['read', 'watch'] }]), watchRange('app/')), false);
  });
});
