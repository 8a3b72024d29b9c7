import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { queryBoolean, queryInteger, queryString, queryTtlMs, type Query } from '../../src/http/query.js';
import { expectKvError } from '../helpers/assertions.js';

const assertInvalidRequest = (fn: () => unknown, message?: RegExp) => expectKvError(fn, 'invalid_request', message === undefined ? {} : { message });

const TEN_YEARS = 10 * 365 * 24 * 3600;

describe('queryString', () => {
  it('returns the single value, or undefined when absent', () => {
    assert.equal(queryString({ prefix: 'a/' }, 'prefix'), 'a/');
    assert.equal(queryString({ prefix: '' }, 'prefix'), '');
    assert.equal(queryString({}, 'prefix'), undefined);
    assert.equal(queryString({ prefix: undefined }, 'prefix'), undefined);
  });

  it('refuses a repeated parameter, naming it', () => {
    assertInvalidRequest(() => queryString({ prefix: ['a', 'b'] }, 'prefix'), /"prefix"/);
    assertInvalidRequest(() => queryString({ prefix: ['a', 'a'] }, 'prefix'));
    assertInvalidRequest(() => queryString({ prefix: [] }, 'prefix'));
  });

  it('ignores other parameters, even repeated ones', () => {
    assert.equal(queryString({ a: ['1', '2'], b: 'x' }, 'b'), 'x');
  });
});

describe('queryBoolean', () => {
  it('reads true/1 and false/0', () => {
    assert.equal(queryBoolean({ reverse: 'true' }, 'reverse', false), true);
    assert.equal(queryBoolean({ reverse: '1' }, 'reverse', false), true);
    assert.equal(queryBoolean({ reverse: 'false' }, 'reverse', true), false);
    assert.equal(queryBoolean({ reverse: '0' }, 'reverse', true), false);
  });

  it('gives the fallback when absent or empty', () => {
    assert.equal(queryBoolean({}, 'values', true), true);
    assert.equal(queryBoolean({}, 'values', false), false);
    assert.equal(queryBoolean({ values: '' }, 'values', true), true);
    assert.equal(queryBoolean({ values: '' }, 'values', false), false);
  });

  it('refuses other spellings, naming the parameter', () => {
    for (const value of ['TRUE', 'True', 'yes', 'no', 'on', 'off', '2', '-1', ' true', 'true ', 't', 'f']) {
      assertInvalidRequest(() => queryBoolean({ reverse: value }, 'reverse', false), /"reverse"/);
    }
  });

  it('refuses a repeated parameter', () => {
    assertInvalidRequest(() => queryBoolean({ reverse: ['true', 'true'] }, 'reverse', false));
  });
});

describe('queryInteger', () => {
  const range = { min: 1, max: 1000, fallback: 100 };

  it('gives the fallback when absent', () => {
    assert.equal(queryInteger({}, 'limit', range), 100);
  });

  it('reads decimal integers within the bounds, inclusive', () => {
    assert.equal(queryInteger({ limit: '1' }, 'limit', range), 1);
    assert.equal(queryInteger({ limit: '50' }, 'limit', range), 50);
    assert.equal(queryInteger({ limit: '1000' }, 'limit', range), 1000);
    assert.equal(queryInteger({ by: '-5' }, 'by', { min: -10, max: 10, fallback: 1 }), -5);
    assert.equal(queryInteger({ by: '0' }, 'by', { min: -10, max: 10, fallback: 1 }), 0);
  });

  it('reads the extremes of the safe integer range', () => {
    const wide = { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER, fallback: 0 };
    assert.equal(queryInteger({ by: '9007199254740991' }, 'by', wide), Number.MAX_SAFE_INTEGER);
    assert.equal(queryInteger({ by: '-9007199254740991' }, 'by', wide), Number.MIN_SAFE_INTEGER);
    assertInvalidRequest(() => queryInteger({ by: '9007199254740992' }, 'by', wide));
    assertInvalidRequest(() => queryInteger({ by: '-9007199254740993' }, 'by', wide));
  });

  it('refuses values out of bounds, naming the parameter and the range', () => {
    for (const value of ['0', '-1', '1001', '99999999']) {
      assertInvalidRequest(() => queryInteger({ limit: value }, 'limit', range), /"limit".*1 to 1000/);
    }
  });

  it('refuses what is not a decimal integer', () => {
    for (const value of [' ', 'abc', '1.5', '10.0', '1e2', '0x10', '+5', ' 5', '5 ', '5abc', 'Infinity', 'NaN', '--1', '1,000', '١٢']) {
      assertInvalidRequest(() => queryInteger({ limit: value }, 'limit', range), /"limit"/);
    }
  });

  it('treats an empty value as absent, as queryBoolean does', () => {
    assert.equal(queryInteger({ limit: '' }, 'limit', range), range.fallback);
  });

  it('refuses a repeated parameter', () => {
    assertInvalidRequest(() => queryInteger({ limit: ['5', '6'] }, 'limit', range));
  });
});

describe('queryTtlMs', () => {
  it('gives null when absent', () => {
    assert.equal(queryTtlMs({}, TEN_YEARS), null);
  });

  it('reads whole seconds', () => {
    assert.equal(queryTtlMs({ ttl: '30' }, TEN_YEARS), 30_000);
    assert.equal(queryTtlMs({ ttl: '1' }, TEN_YEARS), 1000);
    assert.equal(queryTtlMs({ ttl: '030' }, TEN_YEARS), 30_000);
  });

  it('reads up to three decimals as exact milliseconds', () => {
    assert.equal(queryTtlMs({ ttl: '1.5' }, TEN_YEARS), 1500);
    assert.equal(queryTtlMs({ ttl: '0.25' }, TEN_YEARS), 250);
    assert.equal(queryTtlMs({ ttl: '0.001' }, TEN_YEARS), 1);
    assert.equal(queryTtlMs({ ttl: '1.005' }, TEN_YEARS), 1005); // 1.005 * 1000 is 1004.999… in floating point
    assert.equal(queryTtlMs({ ttl: '4.35' }, TEN_YEARS), 4350);
    assert.equal(queryTtlMs({ ttl: '0.5' }, TEN_YEARS), 500);
    assert.equal(queryTtlMs({ ttl: '2.000' }, TEN_YEARS), 2000);
  });

  it('rounds every seconds.millis text to the exact millisecond (many samples)', () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
    for (let i = 0; i < 5000; i++) {
      const seconds = next() % TEN_YEARS;
      const millis = next() % 1000;
      const expected = seconds * 1000 + millis;
      if (expected === 0) continue;
      const text = `${seconds}.${String(millis).padStart(3, '0')}`;
      assert.equal(queryTtlMs({ ttl: text }, TEN_YEARS), expected, text);
    }
  });

  it('accepts exactly the maximum and refuses anything above', () => {
    assert.equal(queryTtlMs({ ttl: '100' }, 100), 100_000);
    assert.equal(queryTtlMs({ ttl: '100.000' }, 100), 100_000);
    assertInvalidRequest(() => queryTtlMs({ ttl: '100.001' }, 100), /ttl/);
    assertInvalidRequest(() => queryTtlMs({ ttl: '101' }, 100), /ttl/);
    assert.equal(queryTtlMs({ ttl: String(TEN_YEARS) }, TEN_YEARS), TEN_YEARS * 1000);
    assertInvalidRequest(() => queryTtlMs({ ttl: String(TEN_YEARS + 1) }, TEN_YEARS));
  });

  it('refuses zero', () => {
    for (const value of ['0', '0.0', '0.000', '00']) {
      assertInvalidRequest(() => queryTtlMs({ ttl: value }, TEN_YEARS), /ttl/);
    }
  });

  it('refuses more than three decimals, signs, exponents and junk', () => {
    for (const value of ['1.2345', '0.0001', '0.0005', '-1', '+1', '1e3', '.5', '5.', '', ' ', '1 ', 'abc', '1,5', 'Infinity', 'NaN', '0x10', '1.5s']) {
      assertInvalidRequest(() => queryTtlMs({ ttl: value }, TEN_YEARS), /ttl/);
    }
  });

  it('refuses a repeated ttl', () => {
    assertInvalidRequest(() => queryTtlMs({ ttl: ['1', '1'] }, TEN_YEARS));
  });

  it('accepts the Query type as Fastify hands it over', () => {
    const query: Query = { ttl: '2', other: ['x', 'y'] };
    assert.equal(queryTtlMs(query, TEN_YEARS), 2000);
  });
});
