import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_CONTENT_TYPE,
  JSON_CONTENT_TYPE,
  decodeValueFromEnvelope,
  encodeValueForEnvelope,
  isCanonicalBase64,
  isJsonContentType,
  parseValueEncoding,
  tryDecodeUtf8,
} from '../../src/core/encoding.js';
import { expectKvError } from '../helpers/assertions.js';

const assertInvalidRequest = (fn: () => unknown, message?: RegExp) => expectKvError(fn, 'invalid_request', message === undefined ? {} : { message });

describe('isJsonContentType', () => {
  it('recognises JSON media types with or without parameters', () => {
    for (const type of [
      'application/json',
      'application/json; charset=utf-8',
      'application/json;charset=UTF-8',
      'application/problem+json',
      'application/vnd.api+json; version=2',
      'text/json',
      'APPLICATION/JSON',
      'Application/Json; Charset=utf-8',
      'TEXT/JSON',
      '  application/json  ',
    ]) {
      assert.equal(isJsonContentType(type), true, type);
    }
  });

  it('refuses other media types', () => {
    for (const type of [
      'text/plain',
      'text/plain; charset=utf-8',
      'application/octet-stream',
      'application/jsonp',
      'application/json-seq',
      'application/xml',
      'text/html; x=application/json',
      '',
    ]) {
      assert.equal(isJsonContentType(type), false, type);
    }
  });
});

describe('tryDecodeUtf8', () => {
  it('decodes valid UTF-8 and returns null for invalid bytes', () => {
    assert.equal(tryDecodeUtf8(Buffer.from('héllo 😀', 'utf8')), 'héllo 😀');
    assert.equal(tryDecodeUtf8(Buffer.alloc(0)), '');
    assert.equal(tryDecodeUtf8(Buffer.from([0xff])), null);
    assert.equal(tryDecodeUtf8(Buffer.from([0xc3])), null); // truncated sequence
    assert.equal(tryDecodeUtf8(Buffer.from([0xed, 0xa0, 0x80])), null); // encoded surrogate
  });
});

describe('encodeValueForEnvelope', () => {
  it('embeds JSON values as JSON when the content type is JSON', () => {
    assert.deepEqual(encodeValueForEnvelope(Buffer.from('{"x":1,"y":[true,null]}'), 'application/json'), {
      value: { x: 1, y: [true, null] },
      encoding: 'json',
    });
    assert.deepEqual(encodeValueForEnvelope(Buffer.from('42'), 'application/json; charset=utf-8'), { value: 42, encoding: 'json' });
    assert.deepEqual(encodeValueForEnvelope(Buffer.from('"hi"'), 'application/problem+json'), { value: 'hi', encoding: 'json' });
    assert.deepEqual(encodeValueForEnvelope(Buffer.from('null'), 'text/json'), { value: null, encoding: 'json' });
    assert.deepEqual(encodeValueForEnvelope(Buffer.from(' [1, 2] '), 'APPLICATION/JSON'), { value: [1, 2], encoding: 'json' });
  });

  it('shows valid UTF-8 as a string when the content type is not JSON, even if the text is JSON', () => {
    assert.deepEqual(encodeValueForEnvelope(Buffer.from('{"x":1}'), 'text/plain'), { value: '{"x":1}', encoding: 'utf8' });
    assert.deepEqual(encodeValueForEnvelope(Buffer.from('héllo 😀', 'utf8'), 'application/octet-stream'), { value: 'héllo 😀', encoding: 'utf8' });
  });

  it('falls back to utf8 when a JSON content type holds text that is not JSON', () => {
    assert.deepEqual(encodeValueForEnvelope(Buffer.from('hello'), 'application/json'), { value: 'hello', encoding: 'utf8' });
    assert.deepEqual(encodeValueForEnvelope(Buffer.from('{"x":'), 'application/json'), { value: '{"x":', encoding: 'utf8' });
    assert.deepEqual(encodeValueForEnvelope(Buffer.alloc(0), 'application/json'), { value: '', encoding: 'utf8' });
  });

  it('shows an empty value as an empty utf8 string', () => {
    assert.deepEqual(encodeValueForEnvelope(Buffer.alloc(0), 'application/octet-stream'), { value: '', encoding: 'utf8' });
  });

  it('shows invalid UTF-8 as base64, whatever the content type', () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x80]);
    assert.deepEqual(encodeValueForEnvelope(bytes, 'application/octet-stream'), { value: '//4AgA==', encoding: 'base64' });
    assert.deepEqual(encodeValueForEnvelope(bytes, 'application/json'), { value: '//4AgA==', encoding: 'base64' });
    assert.deepEqual(encodeValueForEnvelope(bytes, 'text/plain'), { value: '//4AgA==', encoding: 'base64' });
  });

  it('round-trips utf8 and base64 presentations back to the exact stored bytes', () => {
    const samples = [
      Buffer.from('plain text'),
      Buffer.from('tab\tnewline\n\u0000nul', 'utf8'),
      Buffer.from([0x00, 0x01, 0xfe, 0xff]),
      Buffer.from('\uFEFFstarts with a byte order mark', 'utf8'),
    ];
    for (const bytes of samples) {
      const shown = encodeValueForEnvelope(bytes, 'application/octet-stream');
      assert.notEqual(shown.encoding, 'json');
      const back = decodeValueFromEnvelope(shown.value, shown.encoding, 'ops[0]');
      assert.deepEqual(back.bytes, bytes, `bytes ${bytes.toString('hex')} shown as ${JSON.stringify(shown)}`);
    }
  });
});

describe('decodeValueFromEnvelope', () => {
  it('serialises any JSON value for encoding json, as application/json', () => {
    assert.deepEqual(decodeValueFromEnvelope({ x: 1 }, 'json', 'ops[0]'), { bytes: Buffer.from('{"x":1}'), contentType: JSON_CONTENT_TYPE });
    assert.deepEqual(decodeValueFromEnvelope('hi', 'json', 'ops[0]'), { bytes: Buffer.from('"hi"'), contentType: 'application/json' });
    assert.deepEqual(decodeValueFromEnvelope(0, 'json', 'ops[0]'), { bytes: Buffer.from('0'), contentType: 'application/json' });
    assert.deepEqual(decodeValueFromEnvelope(null, 'json', 'ops[0]'), { bytes: Buffer.from('null'), contentType: 'application/json' });
    assert.deepEqual(decodeValueFromEnvelope([1, 'é'], 'json', 'ops[0]'), { bytes: Buffer.from('[1,"é"]', 'utf8'), contentType: 'application/json' });
  });

  it('requires a value for encoding json, naming where it is missing', () => {
    assertInvalidRequest(() => decodeValueFromEnvelope(undefined, 'json', 'ops[3]'), /ops\[3\]\.value/);
  });

  it('takes a string for encoding utf8, as text/plain', () => {
    assert.deepEqual(decodeValueFromEnvelope('héllo', 'utf8', 'ops[0]'), { bytes: Buffer.from('héllo', 'utf8'), contentType: 'text/plain; charset=utf-8' });
    assert.deepEqual(decodeValueFromEnvelope('', 'utf8', 'ops[0]'), { bytes: Buffer.alloc(0), contentType: 'text/plain; charset=utf-8' });
  });

  it('refuses non-strings for encoding utf8', () => {
    for (const value of [undefined, null, 1, true, {}, ['a']]) {
      assertInvalidRequest(() => decodeValueFromEnvelope(value, 'utf8', 'ops[1]'), /ops\[1\]\.value/);
    }
  });

  it('takes canonical base64 for encoding base64, as application/octet-stream', () => {
    assert.deepEqual(decodeValueFromEnvelope('aGk=', 'base64', 'ops[0]'), { bytes: Buffer.from('hi'), contentType: DEFAULT_CONTENT_TYPE });
    assert.deepEqual(decodeValueFromEnvelope('//4AgA==', 'base64', 'ops[0]'), {
      bytes: Buffer.from([0xff, 0xfe, 0x00, 0x80]),
      contentType: 'application/octet-stream',
    });
    assert.deepEqual(decodeValueFromEnvelope('', 'base64', 'ops[0]'), { bytes: Buffer.alloc(0), contentType: 'application/octet-stream' });
  });

  it('refuses non-strings and non-canonical base64 for encoding base64', () => {
    for (const value of [undefined, null, 1, {}, ['aGk='], 'aGk', 'a b=', 'aGk==', 'aG=k', 'aGk=\n', ' aGk=', '_-8=', 'aGk=aGk=', '=', 'a']) {
      assertInvalidRequest(() => decodeValueFromEnvelope(value, 'base64', 'ops[2]'), /ops\[2\]\.value/);
    }
  });
});

describe('isCanonicalBase64', () => {
  it('accepts padded standard base64', () => {
    for (const text of ['', 'aGk=', 'aA==', 'aGVsbG8=', 'aGVsbG8h', 'AAAA', '++//', 'YWJj+/8=']) {
      assert.equal(isCanonicalBase64(text), true, text);
    }
  });

  it('refuses missing padding, whitespace, base64url and junk', () => {
    for (const text of ['aGk', 'a b=', 'aA', 'aA=', 'aGk==', 'a===', '====', 'aGk= ', ' aGk=', 'aG\nk=', '_-8=', 'aGk=aGk=', 'aGk*', 'é===']) {
      assert.equal(isCanonicalBase64(text), false, text);
    }
  });

  it('accepts what Buffer#toString("base64") produces, for many lengths', () => {
    for (let length = 0; length < 40; length++) {
      const bytes = Buffer.from(Array.from({ length }, (_, i) => (i * 73 + length * 31) & 0xff));
      const text = bytes.toString('base64');
      assert.equal(isCanonicalBase64(text), true, text);
      assert.deepEqual(Buffer.from(text, 'base64'), bytes);
    }
  });
});

describe('parseValueEncoding', () => {
  it('defaults to json when absent', () => {
    assert.equal(parseValueEncoding(undefined, 'ops[0]'), 'json');
  });

  it('accepts json, utf8 and base64', () => {
    assert.equal(parseValueEncoding('json', 'ops[0]'), 'json');
    assert.equal(parseValueEncoding('utf8', 'ops[0]'), 'utf8');
    assert.equal(parseValueEncoding('base64', 'ops[0]'), 'base64');
  });

  it('refuses anything else, naming the field', () => {
    for (const value of [null, '', 'JSON', 'utf-8', 'base64url', 'binary', 1, true, {}]) {
      assertInvalidRequest(() => parseValueEncoding(value, 'ops[4]'), /ops\[4\]\.encoding/);
    }
  });
});
