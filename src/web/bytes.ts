/** Bytes ↔ text for the console: UTF-8, base64, hex dumps. Platform APIs only. */

// The SDK's own conversions, shared rather than written twice (the console is served the SDK's modules anyway).
export { bytesToBase64 as toBase64, isUtf8 } from '../client/values.js';

/** The first `limit` bytes as text: a character cut by the limit is left out rather than shown as U+FFFD. */
export function utf8Prefix(bytes: Uint8Array, limit: number): string {
  const decoder = new TextDecoder('utf-8');
  return bytes.length <= limit ? decoder.decode(bytes) : decoder.decode(bytes.subarray(0, limit), { stream: true });
}

/** The bytes of base64 text (whitespace ignored); null when it is not base64. */
export function fromBase64(text: string): Uint8Array | null {
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) return null;
  try {
    const binary = atob(compact);
    const bytes = new Uint8Array(binary.length);
    for (let index = 0; index < binary.length; index += 1) bytes[index] = binary.charCodeAt(index);
    return bytes;
  } catch {
    return null;
  }
}

/** `offset  hex bytes (16 a line)  |printable ASCII|`, for bytes[start, end) (`start` a multiple of 16). */
export function hexDump(bytes: Uint8Array, start: number, end: number): string {
  end = Math.min(bytes.length, end);
  const lines: string[] = [];
  for (let offset = start; offset < end; offset += 16) {
    let hex = '';
    let ascii = '';
    for (let index = 0; index < 16; index += 1) {
      const at = offset + index;
      if (index === 8) hex += ' ';
      if (at < end) {
        const byte = bytes[at]!;
        hex += `${byte.toString(16).padStart(2, '0')} `;
        ascii += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.';
      } else {
        hex += '   ';
      }
    }
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${hex} |${ascii}|`);
  }
  return lines.join('\n');
}
