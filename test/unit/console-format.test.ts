import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { webModule } from '../helpers/web.js';

/** The console's byte and number formatting (src/web/bytes.ts, src/web/format.ts). */

interface BytesModule {
  hexDump(bytes: Uint8Array, start: number, end: number): string;
  fromBase64(text: string): Uint8Array | null;
  toBase64(bytes: Uint8Array): string;
  utf8Prefix(bytes: Uint8Array, limit: number): string;
}
interface FormatModule {
  formatBytes(bytes: number): string;
  formatCountdown(ms: number): string;
  formatInstant(date: Date): string;
  compareKeys(a: string, b: string): number;
  lastSegment(key: string): string;
  parseTtl(text: string): number | null | 'invalid';
}

let bytes: BytesModule;
let format: FormatModule;
before(async () => {
  bytes = await webModule<BytesModule>('bytes');
  format = await webModule<FormatModule>('format');
});

describe('hex dump', () => {
  it('16 bytes a line: offset, hex in two groups of 8, printable ASCII', () => {
    const data = Uint8Array.from([0x00, 0x01, 0x02, 0x7f, 0x80, 0xfe, 0xff, 0x41, 0x42, 0x43]);
    assert.equal(bytes.hexDump(data, 0, data.length), '00000000  00 01 02 7f 80 fe ff 41  42 43                    |.......ABC|');
    const text = new TextEncoder().encode('The quick brown fox jumps over!!');
    assert.equal(
      bytes.hexDump(text, 0, text.length),
      [
        '00000000  54 68 65 20 71 75 69 63  6b 20 62 72 6f 77 6e 20  |The quick brown |',
        '00000010  66 6f 78 20 6a 75 6d 70  73 20 6f 76 65 72 21 21  |fox jumps over!!|',
      ].join('\n'),
    );
    assert.equal(bytes.hexDump(new Uint8Array(0), 0, 0), '');
  });

  it('a range: offsets from its start; parts joined by a line break are the dump of the whole', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(12), (data, lines) => {
        const cut = Math.min(data.length, lines * 16);
        const whole = bytes.hexDump(data, 0, data.length);
        const parts = [bytes.hexDump(data, 0, cut), bytes.hexDump(data, cut, data.length)].filter((part) => part !== '');
        assert.equal(parts.join('\n'), whole);
        assert.equal(whole === '' ? 0 : whole.split('\n').length, Math.ceil(data.length / 16));
      }),
    );
    assert.match(bytes.hexDump(new Uint8Array(64), 32, 48), /^00000020 /);
    // The end is clamped to the bytes.
    assert.equal(bytes.hexDump(new Uint8Array(3), 0, 100).split('\n').length, 1);
  });
});

describe('base64 and UTF-8', () => {
  it('base64 round-trips any bytes, ignores whitespace, refuses what is not base64', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        const text = bytes.toBase64(data);
        assert.equal(text, Buffer.from(data).toString('base64'));
        assert.deepEqual(bytes.fromBase64(text), data);
        assert.deepEqual(bytes.fromBase64(text.replace(/(.{7})/g, '$1\n ')), data);
      }),
    );
    for (const bad of ['a', 'ab$c', 'abc=d', '====', 'abcde']) assert.equal(bytes.fromBase64(bad), null, bad);
  });

  it('a UTF-8 prefix leaves out a character cut by the limit', () => {
    const data = new TextEncoder().encode('aé😀');
    assert.equal(bytes.utf8Prefix(data, 1), 'a');
    assert.equal(bytes.utf8Prefix(data, 2), 'a');
    assert.equal(bytes.utf8Prefix(data, 3), 'aé');
    assert.equal(bytes.utf8Prefix(data, 6), 'aé');
    assert.equal(bytes.utf8Prefix(data, 7), 'aé😀');
  });
});

describe('TTL parsing', () => {
  it('seconds greater than 0 with up to 3 decimals; empty is none; anything else is invalid', () => {
    assert.equal(format.parseTtl(''), null);
    assert.equal(format.parseTtl('   '), null);
    assert.equal(format.parseTtl('600'), 600);
    assert.equal(format.parseTtl(' 1.5 '), 1.5);
    assert.equal(format.parseTtl('0.001'), 0.001);
    for (const bad of ['0', '0.000', '-1', '1.2345', '1e3', 'abc', '1,5', '.5', '5.', '+5', 'Infinity', 'NaN'])
      assert.equal(format.parseTtl(bad), 'invalid', bad);
  });
});

describe('numbers, sizes, durations, key order', () => {
  it('sizes in B, KiB, MiB, GiB', () => {
    assert.equal(format.formatBytes(0), '0 B');
    assert.equal(format.formatBytes(1023), '1023 B');
    assert.equal(format.formatBytes(1024), '1.0 KiB');
    assert.equal(format.formatBytes(256 * 1024), '256 KiB');
    assert.equal(format.formatBytes(5 * 1024 * 1024), '5.0 MiB');
    assert.equal(format.formatBytes(3 * 1024 ** 4), '3072 GiB');
  });

  it('countdowns and instants', () => {
    assert.equal(format.formatCountdown(0), 'expired');
    assert.equal(format.formatCountdown(1), '1s');
    assert.equal(format.formatCountdown(65_000), '1m 05s');
    assert.equal(format.formatCountdown(2 * 3600_000 + 3 * 60_000 + 9_000), '2h 03m 09s');
    assert.equal(format.formatCountdown(86_400_000 + 60_000), '1d 00h 01m');
    assert.equal(format.formatInstant(new Date('2026-05-01T12:00:00.789Z')), '2026-05-01 12:00:00 UTC');
  });

  it('keys compare by their UTF-8 bytes (code points), as kvs lists them', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        assert.equal(Math.sign(format.compareKeys(a, b)), Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
    );
    assert.ok(format.compareKeys('\uffff', '😀') < 0, 'U+FFFF before U+1F600, unlike UTF-16 order');
  });

  it('the last segment names a download', () => {
    assert.equal(format.lastSegment('app/config.json'), 'config.json');
    assert.equal(format.lastSegment('app/'), 'app');
    assert.equal(format.lastSegment('/'), 'value');
  });
});
