import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { webModule } from '../helpers/web.js';

/** How the console shows keys (src/web/key-display.ts): two different keys never look the same. */

type KeyPart = string | { codePoint: number };
interface KeyDisplayModule {
  keyParts(text: string): KeyPart[];
  plainKey(text: string): string;
  codePointName(codePoint: number): string;
}

let keys: KeyDisplayModule;
before(async () => {
  keys = await webModule<KeyDisplayModule>('key-display');
});

const shown = (text: string) => keys.plainKey(text);

describe('key display', () => {
  it('shows printable text as it is, letters of any script with their marks included', () => {
    for (const text of ['app/config.json', 'a b', 'users/carol ünïcödé', 'odd/emoji 😀', '日本/キー', 'नमस्ते', 'שָׁלוֹם', 'e\u0301'.normalize('NFC'), '❤️']) {
      assert.deepEqual(keys.keyParts(text), [text], JSON.stringify(text));
    }
    assert.deepEqual(keys.keyParts(''), []);
  });

  it('shows invisible characters by their code point: controls, zero-width, bidi, BOM, soft hyphen, separators', () => {
    assert.deepEqual(keys.keyParts('a\nb'), ['a', { codePoint: 0x0a }, 'b']);
    for (const code of [
      0x00, 0x09, 0x7f, 0x85, 0xad, 0x200b, 0x200c, 0x200d, 0x200e, 0x202e, 0x2066, 0x2060, 0xfeff, 0x2028, 0x2029, 0x3164, 0x115f, 0xe0041,
    ]) {
      const character = String.fromCodePoint(code);
      assert.deepEqual(keys.keyParts(`x${character}y`), ['x', { codePoint: code }, 'y'], keys.codePointName(code));
    }
  });

  it('shows look-alikes of a space by their code point, never U+0020 itself', () => {
    for (const code of [0xa0, 0x2000, 0x2007, 0x2009, 0x202f, 0x205f, 0x3000, 0x1680]) {
      assert.equal(shown(`a${String.fromCodePoint(code)}b`), `a⟨${keys.codePointName(code)}⟩b`);
    }
    assert.equal(shown('a b'), 'a b');
  });

  it('shows combining marks on ASCII (or on nothing) by their code point: e + U+0301 is not é', () => {
    assert.equal(shown('cafe\u0301'), 'cafe⟨U+0301⟩');
    assert.equal(shown('café'), 'café');
    assert.notEqual(shown('cafe\u0301'), shown('café'));
    assert.equal(shown('\u0301x'), '⟨U+0301⟩x');
    assert.equal(shown('a\u0301\u0302'), 'a⟨U+0301⟩⟨U+0302⟩');
    assert.equal(shown('a\u200b\u0301'), 'a⟨U+200B⟩⟨U+0301⟩');
    // On other letters, marks are how those scripts write: shown.
    assert.equal(shown('ü\u0301'), 'ü\u0301');
    assert.equal(shown('क\u093f'), 'क\u093f');
  });

  it('different keys of letters, spaces, marks and invisible characters are never shown the same', () => {
    const unit = fc.constantFrom('a', 'e', ' ', '/', 'é', '\u0301', '\u00a0', '\u200b', '\u200d', '\ufeff', '\n', '\u202e', 'ü', 'क', '\u093f');
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 8 }), fc.array(unit, { maxLength: 8 }), (a, b) => {
        const [x, y] = [a.join(''), b.join('')];
        if (x !== y) assert.notEqual(shown(x), shown(y), `${JSON.stringify(x)} and ${JSON.stringify(y)}`);
      }),
      { numRuns: 5000 },
    );
  });
});
