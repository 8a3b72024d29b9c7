import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodePathKey, keySuccessor, prefixEnd, validateKey } from '../../src/core/keys.js';
import { expectKvError } from '../helpers/assertions.js';
import { seededRandom } from '../helpers/random.js';

const assertKvError = (fn: () => unknown, code: string, extras?: Record<string, unknown>) => expectKvError(fn, code, extras === undefined ? {} : { extras });

/** Random bytes biased toward the interesting values 0x00, 0x01, 0xfe and 0xff. */
function randomBytes(next: () => number, maxLength: number): Buffer {
  const length = Math.floor(next() * (maxLength + 1));
  const bytes = Buffer.alloc(length);
  const special = [0x00, 0x01, 0x61, 0x62, 0xfe, 0xff];
  for (let i = 0; i < length; i++) {
    bytes[i] = next() < 0.6 ? special[Math.floor(next() * special.length)]! : Math.floor(next() * 256);
  }
  return bytes;
}

function startsWith(bytes: Buffer, prefix: Buffer): boolean {
  return bytes.length >= prefix.length && bytes.subarray(0, prefix.length).equals(prefix);
}

describe('validateKey', () => {
  it('returns a valid key unchanged', () => {
    assert.equal(validateKey('app/config', 1024), 'app/config');
    assert.equal(validateKey('a', 1024), 'a');
    assert.equal(validateKey('日本/😀', 1024), '日本/😀');
  });

  it('refuses non-strings with invalid_key', () => {
    for (const value of [undefined, null, 42, true, {}, ['a'], Buffer.from('a'), Symbol('a')]) {
      assertKvError(() => validateKey(value, 1024), 'invalid_key');
    }
  });

  it('refuses the empty string', () => {
    assertKvError(() => validateKey('', 1024), 'invalid_key');
  });

  it('accepts a key of exactly keyBytesMax ASCII bytes and refuses one more, with limit', () => {
    assert.equal(validateKey('a'.repeat(1024), 1024), 'a'.repeat(1024));
    const error = assertKvError(() => validateKey('a'.repeat(1025), 1024), 'invalid_key', { limit: 1024 });
    assert.match(error.message, /1025/);
  });

  it('counts multi-byte characters in UTF-8 bytes, not UTF-16 units or code points', () => {
    // 'é' is 2 bytes: 512 of them are exactly 1024 bytes.
    const twoByte = 'é'.repeat(512);
    assert.equal(validateKey(twoByte, 1024), twoByte);
    assertKvError(() => validateKey(`${twoByte}a`, 1024), 'invalid_key', { limit: 1024 });
    // '😀' is 4 bytes and 2 UTF-16 units.
    const fourByte = '😀'.repeat(256);
    assert.equal(validateKey(fourByte, 1024), fourByte);
    assertKvError(() => validateKey(`a${fourByte}`, 1024), 'invalid_key', { limit: 1024 });
    // 3 characters, 6 bytes: over a limit of 5 although .length is 3.
    assertKvError(() => validateKey('ééé', 5), 'invalid_key', { limit: 5 });
    // '日' is 3 bytes.
    assert.equal(validateKey('日日', 6), '日日');
    assertKvError(() => validateKey('日日', 5), 'invalid_key', { limit: 5 });
  });

  it('honours a small custom keyBytesMax', () => {
    assert.equal(validateKey('abcd', 4), 'abcd');
    assertKvError(() => validateKey('abcde', 4), 'invalid_key', { limit: 4 });
    assert.equal(validateKey('😀', 4), '😀');
    assertKvError(() => validateKey('a😀', 4), 'invalid_key', { limit: 4 });
  });

  it('refuses U+0000 anywhere', () => {
    for (const key of ['\u0000', 'a\u0000', '\u0000a', 'a/\u0000/b']) {
      assertKvError(() => validateKey(key, 1024), 'invalid_key');
    }
  });

  it('refuses lone surrogates but accepts surrogate pairs', () => {
    for (const key of ['\uD800', '\uDFFF', 'a\uD83D', '\uDE00b', 'a\uDC00\uD800b', 'x/\uD800/y']) {
      assertKvError(() => validateKey(key, 1024), 'invalid_key');
    }
    assert.equal(validateKey('\uD83D\uDE00', 1024), '😀');
  });

  it('refuses "." and ".." as a segment in every position', () => {
    const keys = ['.', '..', './a', '../a', 'a/.', 'a/..', 'a/./b', 'a/../b', 'a/b/.', 'a/b/..', './.', '../..', '/.', '/..', './', '../', 'a//..//b'];
    for (const key of keys) {
      assertKvError(() => validateKey(key, 1024), 'invalid_key');
    }
  });

  it('allows dots that are not a whole "." or ".." segment', () => {
    for (const key of ['a.b', '...', '.hidden', 'a/.hidden', 'a/...', '..a', 'a..', 'a/..b/c', 'v1.2.3', '.a/.b', 'a./b.']) {
      assert.equal(validateKey(key, 1024), key);
    }
  });

  it('allows empty segments and leading or trailing slashes', () => {
    for (const key of ['/', '/a', 'a/', 'a//b']) {
      assert.equal(validateKey(key, 1024), key);
    }
  });
});

describe('decodePathKey', () => {
  it('returns a key without % unchanged', () => {
    assert.equal(decodePathKey('app/config'), 'app/config');
    assert.equal(decodePathKey('a+b'), 'a+b');
  });

  it('decodes %2F to /', () => {
    assert.equal(decodePathKey('a%2Fb'), 'a/b');
    assert.equal(decodePathKey('a%2fb'), 'a/b');
  });

  it('decodes exactly once', () => {
    assert.equal(decodePathKey('a%252Fb'), 'a%2Fb');
    assert.equal(decodePathKey('%2541'), '%41');
    assert.equal(decodePathKey('%25'), '%');
  });

  it('decodes multi-byte UTF-8 sequences', () => {
    assert.equal(decodePathKey('%E6%97%A5%2F%F0%9F%98%80'), '日/😀');
    assert.equal(decodePathKey('caf%C3%A9'), 'café');
  });

  it('refuses malformed percent-encoding with invalid_key', () => {
    for (const raw of ['%zz', 'a%zzb', '%', 'a%', '%2', '%E0%A4', '%C3', '%FF', '%ED%A0%80']) {
      assertKvError(() => decodePathKey(raw), 'invalid_key');
    }
  });

  it('yields dot segments that validateKey then refuses', () => {
    const decoded = decodePathKey('a/%2E%2E/b');
    assert.equal(decoded, 'a/../b');
    assertKvError(() => validateKey(decoded, 1024), 'invalid_key');
  });
});

describe('prefixEnd', () => {
  it('increments the last byte', () => {
    assert.deepEqual(prefixEnd(Buffer.from('a')), Buffer.from('b'));
    assert.deepEqual(prefixEnd(Buffer.from('app/')), Buffer.from('app0'));
    assert.deepEqual(prefixEnd(Buffer.from([0x00])), Buffer.from([0x01]));
    assert.deepEqual(prefixEnd(Buffer.from([0x61, 0xfe])), Buffer.from([0x61, 0xff]));
  });

  it('drops trailing 0xff bytes and increments the byte before them', () => {
    assert.deepEqual(prefixEnd(Buffer.from([0x61, 0xff])), Buffer.from([0x62]));
    assert.deepEqual(prefixEnd(Buffer.from([0x61, 0xff, 0xff, 0xff])), Buffer.from([0x62]));
    assert.deepEqual(prefixEnd(Buffer.from([0x01, 0x02, 0xff])), Buffer.from([0x01, 0x03]));
    assert.deepEqual(prefixEnd(Buffer.from([0xfe, 0xff])), Buffer.from([0xff]));
  });

  it('returns null for an all-0xff prefix and for the empty prefix', () => {
    assert.equal(prefixEnd(Buffer.from([0xff])), null);
    assert.equal(prefixEnd(Buffer.from([0xff, 0xff, 0xff])), null);
    assert.equal(prefixEnd(Buffer.alloc(0)), null);
  });

  it('works on the UTF-8 bytes of multi-byte characters', () => {
    // 'é' = c3 a9 → c3 aa ('ê')
    assert.deepEqual(prefixEnd(Buffer.from('é', 'utf8')), Buffer.from([0xc3, 0xaa]));
    assert.deepEqual(prefixEnd(Buffer.from('café', 'utf8')), Buffer.from('cafê', 'utf8'));
    // '😀' = f0 9f 98 80 → f0 9f 98 81
    assert.deepEqual(prefixEnd(Buffer.from('😀', 'utf8')), Buffer.from([0xf0, 0x9f, 0x98, 0x81]));
  });

  it('does not modify its argument', () => {
    const prefix = Buffer.from([0x61, 0xff]);
    prefixEnd(prefix);
    assert.deepEqual(prefix, Buffer.from([0x61, 0xff]));
  });

  it('is the tightest exclusive upper bound of the prefix range (random byte strings)', () => {
    const next = seededRandom(0x5eed);
    let checkedInside = 0;
    for (let round = 0; round < 400; round++) {
      const prefix = randomBytes(next, 4);
      const end = prefixEnd(prefix);
      if (prefix.length === 0 || prefix.every((byte) => byte === 0xff)) {
        assert.equal(end, null, `prefix ${prefix.toString('hex')}`);
        continue;
      }
      assert.ok(end !== null, `prefix ${prefix.toString('hex')}`);
      assert.ok(!startsWith(end, prefix), `prefixEnd(${prefix.toString('hex')}) = ${end.toString('hex')} starts with the prefix`);
      assert.ok(Buffer.compare(prefix, end) < 0);
      for (let sample = 0; sample < 25; sample++) {
        const suffix = randomBytes(next, 5);
        const inside = Buffer.concat([prefix, suffix]);
        assert.ok(Buffer.compare(inside, end) < 0, `${inside.toString('hex')} should sort below ${end.toString('hex')}`);
        checkedInside++;
        // Any string in [prefix, end) must start with the prefix (nothing else sneaks in).
        // Often share part of the prefix so that the check below is exercised near the bounds.
        const other = Buffer.concat([prefix.subarray(0, Math.floor(next() * (prefix.length + 1))), randomBytes(next, 4)]);
        if (Buffer.compare(other, prefix) >= 0 && Buffer.compare(other, end) < 0) {
          assert.ok(startsWith(other, prefix), `${other.toString('hex')} lies in [${prefix.toString('hex')}, ${end.toString('hex')}) without the prefix`);
        }
      }
    }
    assert.ok(checkedInside > 1000);
  });
});

describe('keySuccessor', () => {
  it('appends a 0x00 byte', () => {
    assert.deepEqual(keySuccessor(Buffer.from('a')), Buffer.from([0x61, 0x00]));
    assert.deepEqual(keySuccessor(Buffer.alloc(0)), Buffer.from([0x00]));
    assert.deepEqual(keySuccessor(Buffer.from([0xff])), Buffer.from([0xff, 0x00]));
  });

  it('is strictly greater than the key and nothing lies strictly between them', () => {
    const next = seededRandom(42);
    for (let round = 0; round < 300; round++) {
      const key = randomBytes(next, 4);
      const successor = keySuccessor(key);
      assert.ok(Buffer.compare(key, successor) < 0);
      const other = randomBytes(next, 5);
      if (Buffer.compare(other, key) > 0) {
        assert.ok(Buffer.compare(other, successor) >= 0, `${other.toString('hex')} lies between ${key.toString('hex')} and its successor`);
      }
    }
  });

  it('does not modify or alias its argument', () => {
    const key = Buffer.from('ab');
    const successor = keySuccessor(key);
    successor[0] = 0x7a;
    assert.deepEqual(key, Buffer.from('ab'));
  });
});
