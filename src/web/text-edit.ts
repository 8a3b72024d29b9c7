/**
 * A value's bytes as text to edit in a textarea, and the bytes of the edited
 * text, such that saving changes only what the user changed. No DOM.
 *
 * A textarea changes text by itself: its value turns every CRLF and lone CR
 * into LF (HTML's newline normalisation). And UTF-8 decoding drops a leading
 * byte order mark unless told not to. So: the BOM is kept as the character
 * U+FEFF (invisible in the box, encoded back as it was); a value whose line
 * endings are all CRLF is edited with LF and written back with CRLF; a value
 * that cannot come back unchanged (not UTF-8, CRLF mixed with LF, a lone CR,
 * NUL characters that a text box would hide) is not offered as text at all:
 * the editor says why and edits its base64.
 */

export type TextForm =
  /** `text` has LF line endings only; `crlf`: write them back as CRLF. */
  { editable: true; text: string; crlf: boolean; bom: boolean } | { editable: false; reason: string };

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

export function textForm(bytes: Uint8Array): TextForm {
  let text: string;
  try {
    text = strict.decode(bytes);
  } catch {
    return { editable: false, reason: 'These bytes are not UTF-8 text' };
  }
  if (text.includes('\u0000')) return { editable: false, reason: 'This value holds NUL characters (U+0000), which a text box would hide' };
  const crlf = (text.match(/\r\n/g) ?? []).length;
  const cr = (text.match(/\r/g) ?? []).length;
  const lf = (text.match(/\n/g) ?? []).length;
  if (cr > crlf)
    return {
      editable: false,
      reason: 'This value has a carriage return (CR) that does not start a CRLF line ending, which a text box would turn into a line feed',
    };
  if (crlf > 0 && lf > crlf) return { editable: false, reason: 'This value mixes CRLF and LF line endings, which a text box would make all LF' };
  return { editable: true, text: crlf > 0 ? text.replace(/\r\n/g, '\n') : text, crlf: crlf > 0, bom: text.startsWith('\ufeff') };
}

/** The bytes of text from a textarea (LF line endings), with CRLF line endings when `crlf`. */
export function textBytes(text: string, crlf: boolean): Uint8Array {
  // A textarea gives LF only; text set by other means could hold CRs: normalise as a textarea would, first.
  const lines = text.replace(/\r\n?/g, '\n');
  return encoder.encode(crlf ? lines.replace(/\n/g, '\r\n') : lines);
}

/** What a textarea does to a value set into it: CRLF and lone CR become LF (for tests, and the editor's own checks). */
export function asTextarea(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}
