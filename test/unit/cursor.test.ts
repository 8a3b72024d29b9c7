import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCursor, encodeCursor, type Cursor } from '../../src/core/cursor.js';
import { expectKvError } from '../helpers/assertions.js';

const assertInvalidRequest = (fn: () => unknown) => expectKvError(fn, 'invalid_request');

const BOUNDS: Buffer[] = [
  Buffer.alloc(0),
  Buffer.from('a'),
  Buffer.from('app/config/'),
  Buffer.from('日本/😀', 'utf8'),
  Buffer.from([0x00]),
  Buffer.from([0xff, 0xfe, 0x80, 0xc3]), // not UTF-8
  Buffer.from([0x61, 0x00, 0xff, 0x00]),
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  Buffer.alloc(2000, 0xff),
];

describe('encodeCursor / decodeCursor', () => {
  it('round-trips forward cursors with arbitrary bytes', () => {
    for (const bound of BOUNDS) {
      const text = encodeCursor({ from: bound });
      const decoded = decodeCursor(text, false);
      assert.ok('from' in decoded, `direction for ${bound.toString('hex')}`);
      assert.ok(!('to' in decoded));
      assert.deepEqual(decoded.from, bound);
    }
  });

  it('round-trips reverse cursors with arbitrary bytes', () => {
    for (const bound of BOUNDS) {
      const text = encodeCursor({ to: bound });
      const decoded = decodeCursor(text, true);
      assert.ok('to' in decoded, `direction for ${bound.toString('hex')}`);
      assert.ok(!('from' in decoded));
      assert.deepEqual(decoded.to, bound);
    }
  });

  it('produces opaque base64url text (no +, / or = padding)', () => {
    for (const bound of BOUNDS) {
      for (const cursor of [{ from: bound }, { to: bound }] as Cursor[]) {
        assert.match(encodeCursor(cursor), /^[A-Za-z0-9_-]+$/);
      }
    }
  });

  it('gives forward and reverse cursors of the same bound different text', () => {
    const bound = Buffer.from('k');
    assert.notEqual(encodeCursor({ from: bound }), encodeCursor({ to: bound }));
  });

  it('returns a bound independent of later changes', () => {
    const bound = Buffer.from('abc');
    const text = encodeCursor({ from: bound });
    bound[0] = 0x7a;
    const decoded = decodeCursor(text, false);
    assert.ok('from' in decoded);
    assert.deepEqual(decoded.from, Buffer.from('abc'));
  });

  it('refuses a forward cursor on a reverse walk, and vice versa, mentioning reverse', () => {
    const forward = encodeCursor({ from: Buffer.from('a') });
    const reverse = encodeCursor({ to: Buffer.from('a') });
    assert.match(assertInvalidRequest(() => decodeCursor(forward, true)).message, /reverse/);
    assert.match(assertInvalidRequest(() => decodeCursor(reverse, false)).message, /reverse/);
    // Also with an empty bound.
    assertInvalidRequest(() => decodeCursor(encodeCursor({ from: Buffer.alloc(0) }), true));
    assertInvalidRequest(() => decodeCursor(encodeCursor({ to: Buffer.alloc(0) }), false));
  });

  it('refuses the empty string', () => {
    assertInvalidRequest(() => decodeCursor('', false));
    assertInvalidRequest(() => decodeCursor('', true));
  });

  it('refuses text that is not base64url', () => {
    const valid = encodeCursor({ from: Buffer.from([0xfb, 0xff, 0xfe]) });
    for (const text of ['not a cursor!', 'abc def', `${valid}=`, `${valid}==`, 'AWZh+w', 'AWZh/w', 'AWZh\n', ' AWZh', 'AWZh.', '日本']) {
      for (const reverse of [false, true]) assertInvalidRequest(() => decodeCursor(text, reverse));
    }
  });

  it('refuses base64url text too short to hold a version and a direction', () => {
    for (const text of ['A', 'AQ', 'AW']) {
      // 'A' → 0 bytes, 'AQ' → [0x01], 'AW' → [0x01]
      for (const reverse of [false, true]) assertInvalidRequest(() => decodeCursor(text, reverse));
    }
  });

  it('refuses a wrong version byte', () => {
    for (const version of [0, 2, 0xff]) {
      const text = Buffer.from([version, 0x66, 0x61]).toString('base64url');
      assertInvalidRequest(() => decodeCursor(text, false));
      const reverseText = Buffer.from([version, 0x74, 0x61]).toString('base64url');
      assertInvalidRequest(() => decodeCursor(reverseText, true));
    }
  });

  it('refuses an unknown direction byte', () => {
    for (const direction of [0x00, 0x46, 0x54, 0x72, 0xff]) {
      const text = Buffer.from([1, direction, 0x61]).toString('base64url');
      for (const reverse of [false, true]) assertInvalidRequest(() => decodeCursor(text, reverse));
    }
  });

  it('refuses garbage that happens to be base64url', () => {
    for (const text of ['garbage', 'hello-world_', 'AAAA', '____']) {
      for (const reverse of [false, true]) assertInvalidRequest(() => decodeCursor(text, reverse));
    }
  });
});
