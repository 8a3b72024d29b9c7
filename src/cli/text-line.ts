/**
 * Text in the CLI's line-oriented output (ls: a key per line, KEY<TAB>VALUE;
 * txn's result lines): as it is, unless it could break the line or be
 * misread, then as a JSON string (which JSON.parse reads back): when it holds
 * a control character (newline, tab, ESC...) or a Unicode line separator, or
 * starts with a double quote (so that a line starting with one is always a
 * JSON string).
 */
export function lineText(text: string): string {
  if (!NEEDS_QUOTING.test(text)) return text;
  // JSON.stringify escapes C0 controls, quotes and backslashes; DEL, C1 and the separators are escaped here.
  return JSON.stringify(text).replace(LEFT_RAW, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// eslint-disable-next-line no-control-regex -- C0 and C1 controls are what this looks for.
const NEEDS_QUOTING = /^"|[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const LEFT_RAW = /[\u007f-\u009f\u2028\u2029]/g;
