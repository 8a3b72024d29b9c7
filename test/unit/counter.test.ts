import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addToCounter, parseCounter } from '../../src/core/counter.js';
import { expectKvError } from '../helpers/assertions.js';

const MAX = Number.MAX_SAFE_INTEGER; // 2^53 − 1
const MIN = Number.MIN_SAFE_INTEGER;

const assertKvError = (fn: () => unknown, code: string) => expectKvError(fn, code);

const parse = (text: string | Buffer) => parseCounter(typeof text === 'string' ? Buffer.from(text, 'utf8') : text, 'n');

describe('parseCounter', () => {
  it('reads JSON integers', () => {
    assert.equal(parse('0'), 0);
    assert.equal(parse('1'), 1);
    assert.equal(parse('42'), 42);
    assert.equal(parse('-7'), -7);
    assert.equal(parse('1234567890'), 1234567890);
  });

  it('allows JSON whitespace around the integer', () => {
    assert.equal(parse(' 5'), 5);
    assert.equal(parse('5\n'), 5);
    assert.equal(parse('\t-3\r\n'), -3);
    assert.equal(parse('  0  '), 0);
  });

  it('reads the extremes of ±(2^53−1)', () => {
    assert.equal(parse(String(MAX)), MAX);
    assert.equal(parse(String(MIN)), MIN);
  });

  it('reads -0 (valid JSON) as zero', () => {
    // JSON's grammar allows "-0"; the code accepts it and returns -0, which equals 0 numerically
    // and serialises as "0".
    const value = parse('-0');
    assert.ok(value === 0);
    assert.equal(JSON.stringify(value), '0');
    assert.equal(addToCounter(value, 1, 'n'), 1);
  });

  it('refuses integers beyond ±(2^53−1) with not_a_counter', () => {
    for (const text of [String(MAX + 1), String(MIN - 1), '9007199254740993', '-9007199254740993', '12345678901234567890', '1' + '0'.repeat(400)]) {
      assertKvError(() => parse(text), 'not_a_counter');
    }
  });

  it('refuses floats and exponents, even integral ones', () => {
    for (const text of ['1.5', '1.0', '-0.0', '0.1', '1e3', '1E3', '1e+2', '-2e0', '.5', '5.']) {
      assertKvError(() => parse(text), 'not_a_counter');
    }
  });

  it('refuses numbers that are not JSON: leading zeros, plus sign, hex, Infinity, NaN', () => {
    for (const text of ['05', '-05', '00', '+5', '0x10', 'Infinity', '-Infinity', 'NaN', '1_000', '- 5']) {
      assertKvError(() => parse(text), 'not_a_counter');
    }
  });

  it('refuses strings, objects, arrays, booleans, null and empty values', () => {
    for (const text of ['"5"', '{"n":5}', '[5]', 'true', 'false', 'null', '', '   ', 'five', '5 5', '5,']) {
      assertKvError(() => parse(text), 'not_a_counter');
    }
  });

  it('refuses bytes that are not UTF-8', () => {
    assertKvError(() => parse(Buffer.from([0x35, 0xff])), 'not_a_counter');
  });

  it('refuses whitespace that JSON does not allow (NBSP, BOM, vertical tab, form feed, U+2028)', () => {
    // JSON (RFC 8259) whitespace is only space, tab, LF and CR; JSON.parse refuses all of these.
    for (const text of ['\u00a05', '\uFEFF5', '\u000b5', '5\u000c', '\u20285']) {
      assert.throws(() => JSON.parse(text), SyntaxError);
      assertKvError(() => parse(text), 'not_a_counter');
    }
  });

  it('names the key in the error message', () => {
    const error = assertKvError(() => parseCounter(Buffer.from('x'), 'visits/today'), 'not_a_counter');
    assert.match(error.message, /visits\/today/);
  });
});

describe('addToCounter', () => {
  it('adds positive, negative and zero amounts', () => {
    assert.equal(addToCounter(0, 1, 'n'), 1);
    assert.equal(addToCounter(10, -15, 'n'), -5);
    assert.equal(addToCounter(-5, 0, 'n'), -5);
    assert.equal(addToCounter(MAX, -MAX, 'n'), 0);
  });

  it('reaches ±(2^53−1) exactly', () => {
    assert.equal(addToCounter(MAX - 1, 1, 'n'), MAX);
    assert.equal(addToCounter(MIN + 1, -1, 'n'), MIN);
    assert.equal(addToCounter(0, MAX, 'n'), MAX);
    assert.equal(addToCounter(0, MIN, 'n'), MIN);
  });

  it('refuses results above 2^53−1 with counter_overflow', () => {
    assertKvError(() => addToCounter(MAX, 1, 'n'), 'counter_overflow');
    assertKvError(() => addToCounter(MAX - 1, 2, 'n'), 'counter_overflow');
    assertKvError(() => addToCounter(MAX, MAX, 'n'), 'counter_overflow');
    assertKvError(() => addToCounter(1, MAX, 'n'), 'counter_overflow');
  });

  it('refuses results below −(2^53−1) with counter_overflow', () => {
    assertKvError(() => addToCounter(MIN, -1, 'n'), 'counter_overflow');
    assertKvError(() => addToCounter(MIN + 1, -2, 'n'), 'counter_overflow');
    assertKvError(() => addToCounter(MIN, MIN, 'n'), 'counter_overflow');
    assertKvError(() => addToCounter(-1, MIN, 'n'), 'counter_overflow');
  });

  it('names the key in the error message', () => {
    const error = assertKvError(() => addToCounter(MAX, 1, 'hits'), 'counter_overflow');
    assert.match(error.message, /hits/);
  });
});
