import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { webModule } from '../helpers/web.js';

/**
 * The console's editor writes back only what the user changed
 * (src/web/text-edit.ts): a value's text form survives a textarea, which
 * turns CRLF and CR into LF, or is not offered at all.
 */

type TextForm = { editable: true; text: string; crlf: boolean; bom: boolean } | { editable: false; reason: string };
interface TextEditModule {
  textForm(bytes: Uint8Array): TextForm;
  textBytes(text: string, crlf: boolean): Uint8Array;
  asTextarea(text: string): string;
}
interface FormatModule {
  secondsUntil(deadline: Date, now?: number): number;
}

let edit: TextEditModule;
let format: FormatModule;
before(async () => {
  edit = await webModule<TextEditModule>('text-edit');
  format = await webModule<FormatModule>('format');
});

const utf8 = (text: string) => new TextEncoder().encode(text);
/** Open, put through a textarea, save: the bytes written, or null when the value is edited as base64. */
const roundTrip = (bytes: Uint8Array, change: (text: string) => string = (text) => text): Uint8Array | null => {
  const form = edit.textForm(bytes);
  return form.editable ? edit.textBytes(edit.asTextarea(change(form.text)), form.crlf) : null;
};

describe('editing a value as text', () => {
  it('a value that is offered as text comes back byte for byte through a textarea; any other is edited as base64', () => {
    const unit = fc.constantFrom('a', 'b', ' ', 'é', '😀', '\r', '\n', '\r\n', '\t', '\u0000', '\ufeff', '\u2028', '\u0085');
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 30 }), (pieces) => {
        const text = pieces.join('');
        const bytes = utf8(text);
        const back = roundTrip(bytes);
        const crlf = (text.match(/\r\n/g) ?? []).length;
        const expectText = !text.includes('\u0000') && (text.match(/\r/g) ?? []).length === crlf && (crlf === 0 || (text.match(/\n/g) ?? []).length === crlf);
        assert.equal(back !== null, expectText, JSON.stringify(text));
        if (back !== null) assert.deepEqual(back, bytes, JSON.stringify(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('CRLF line endings are kept: editing one word changes only that word', () => {
    const bytes = utf8('line1\r\nline2\r\n');
    const form = edit.textForm(bytes);
    assert.deepEqual(form, { editable: true, text: 'line1\nline2\n', crlf: true, bom: false });
    assert.deepEqual(
      roundTrip(bytes, (text) => text.replace('line2', 'second line')),
      utf8('line1\r\nsecond line\r\n'),
    );
    // New lines typed into a CRLF value are CRLF too.
    assert.deepEqual(
      roundTrip(bytes, (text) => `${text}line3\n`),
      utf8('line1\r\nline2\r\nline3\r\n'),
    );
    // LF stays LF.
    assert.deepEqual(
      roundTrip(utf8('a\nb'), (text) => text.replace('b', 'c')),
      utf8('a\nc'),
    );
  });

  it('a byte order mark is kept', () => {
    const bytes = Uint8Array.from([0xef, 0xbb, 0xbf, ...utf8('hello world')]);
    const form = edit.textForm(bytes);
    assert.deepEqual(form, { editable: true, text: '\ufeffhello world', crlf: false, bom: true });
    assert.deepEqual(
      roundTrip(bytes, (text) => text.replace('world', 'there')),
      Uint8Array.from([0xef, 0xbb, 0xbf, ...utf8('hello there')]),
    );
  });

  it('says why a value is not offered as text: not UTF-8, mixed line endings, a lone CR, NUL', () => {
    const reason = (bytes: Uint8Array) => {
      const form = edit.textForm(bytes);
      return form.editable ? null : form.reason;
    };
    assert.match(reason(Uint8Array.from([0x41, 0xff]))!, /not UTF-8/);
    assert.match(reason(utf8('a\r\nb\nc'))!, /mixes CRLF and LF/);
    assert.match(reason(utf8('a\rb'))!, /carriage return/);
    assert.match(reason(utf8('a\r\nb\r'))!, /carriage return/);
    assert.match(reason(utf8('a\u0000b'))!, /NUL/);
  });
});

describe('a TTL left as it is', () => {
  it('is the time left to the deadline, in whole milliseconds, at least one', () => {
    const now = Date.parse('2026-05-01T12:00:00.000Z');
    assert.equal(format.secondsUntil(new Date(now + 245_123), now), 245.123);
    assert.equal(format.secondsUntil(new Date(now + 1500), now - 0.2), 1.501);
    assert.equal(format.secondsUntil(new Date(now - 5000), now), 0.001);
  });
});
