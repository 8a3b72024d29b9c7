/**
 * How a key (or any stored text shown on one line) is shown so that two
 * different keys never look the same. No DOM: dom.ts keyText turns the parts
 * into nodes, plainKey into text for tooltips and messages.
 *
 * Shown by their code point (U+200B) rather than as themselves:
 * - invisible characters: C0/C1 controls and DEL, format characters
 *   (zero-width space and joiners, bidirectional overrides and isolates, the
 *   BOM, the soft hyphen, tags...), line and paragraph separators, Hangul
 *   fillers;
 * - look-alikes of a space: every space separator but U+0020 (no-break
 *   space, thin and ideographic spaces...);
 * - combining marks on ASCII (or on nothing, or on a character itself shown
 *   by its code point): `e` + U+0301 would look like `é` (U+00E9). Marks on
 *   other letters are how those scripts are written, and are shown as they are.
 */

/** A part of the shown key: text as it is, or one character by its code point. */
export type KeyPart = string | { codePoint: number };

const INVISIBLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Zs}\u115f\u1160\u3164\uffa0]$/u;
const MARK = /^\p{M}$/u;
/** Printable ASCII only: nothing to escape (the common case, checked first). */
const PLAIN_ASCII = /^[\x20-\x7e]*$/;

export function keyParts(text: string): KeyPart[] {
  if (PLAIN_ASCII.test(text)) return text === '' ? [] : [text];
  const parts: KeyPart[] = [];
  let plain = '';
  // Whether a combining mark here would sit on ASCII (or on nothing, or on an escaped character).
  let markOnAscii = true;
  for (const character of text) {
    const code = character.codePointAt(0)!;
    let escaped: boolean;
    if (code === 0x20) {
      escaped = false;
      markOnAscii = true;
    } else if (INVISIBLE.test(character)) {
      escaped = true;
      markOnAscii = true;
    } else if (MARK.test(character)) {
      escaped = markOnAscii;
    } else {
      escaped = false;
      markOnAscii = code < 0x80;
    }
    if (escaped) {
      if (plain !== '') parts.push(plain);
      plain = '';
      parts.push({ codePoint: code });
    } else {
      plain += character;
    }
  }
  if (plain !== '') parts.push(plain);
  return parts;
}

/** `U+200B` for a code point. */
export function codePointName(codePoint: number): string {
  return `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The key as plain text (a tooltip, a message): escaped characters as ⟨U+200B⟩. */
export function plainKey(text: string): string {
  return keyParts(text)
    .map((part) => (typeof part === 'string' ? part : `⟨${codePointName(part.codePoint)}⟩`))
    .join('');
}
