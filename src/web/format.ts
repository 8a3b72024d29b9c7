/** Numbers, sizes, durations and key order, as the console shows them. No DOM. */

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

export function formatCount(count: number): string {
  return count.toLocaleString('en-US');
}

/** A countdown: "2h 03m 09s", "4m 05s", "9s"; "expired" at or below zero. */
export function formatCountdown(ms: number): string {
  if (ms <= 0) return 'expired';
  const total = Math.ceil(ms / 1000);
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  if (days > 0) return `${days}d ${two(hours)}h ${two(minutes)}m`;
  if (hours > 0) return `${hours}h ${two(minutes)}m ${two(seconds)}s`;
  if (minutes > 0) return `${minutes}m ${two(seconds)}s`;
  return `${seconds}s`;
}

/** An instant as the API writes it, without the milliseconds: "2026-05-01 12:00:00 UTC". */
export function formatInstant(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * The order kvs lists keys in: their UTF-8 bytes, which is code point order
 * (JavaScript's `<` compares UTF-16 units, which differs past U+FFFF).
 */
export function compareKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index += 1) {
    const x = a.charCodeAt(index);
    const y = b.charCodeAt(index);
    if (x === y) continue;
    // A surrogate (U+D800..DFFF as a unit) stands for a code point above U+FFFF: above every other unit.
    const surrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdfff;
    if (surrogate(x) !== surrogate(y)) return surrogate(x) ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** The last `/`-separated part of a key, for a download's file name. */
export function lastSegment(key: string): string {
  const parts = key.split('/').filter((part) => part !== '');
  return parts.at(-1) ?? 'value';
}

/** Whether `text` is a valid integer number of seconds or a decimal (the API's `ttl`). */
export function parseTtl(text: string): number | null | 'invalid' {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  if (!/^\d+(\.\d{1,3})?$/.test(trimmed)) return 'invalid';
  const value = Number(trimmed);
  return value > 0 ? value : 'invalid';
}

/** The seconds from `now` to `deadline`, in whole milliseconds and at least one: a TTL that ends at the deadline. */
export function secondsUntil(deadline: Date, now = Date.now()): number {
  return Math.max(1, Math.ceil(deadline.getTime() - now)) / 1000;
}
