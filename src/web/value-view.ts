import { hexDump, isUtf8, toBase64, utf8Prefix } from './bytes.js';
import { h, replace } from './dom.js';
import { formatBytes, lastSegment } from './format.js';
import { prettyJsonFragment, prettyJsonText } from './json.js';

/**
 * A value shown by its content type: JSON pretty-printed and highlighted,
 * text, hex and base64 for any bytes, an inline preview for raster images.
 * Large values are shown truncated, with a download link to all their bytes
 * (a blob: URL), so that a value of several MiB never freezes the page: each
 * view has a cap on what it puts into the DOM, and each is built only when
 * its tab is chosen.
 */

export type ValueKind = 'json' | 'text' | 'image' | 'binary';

/** Text shown at most (JSON, text, base64). */
export const TEXT_LIMIT = 256 * 1024;
/** JSON up to this is highlighted; beyond, pretty-printed as plain text (a span per token costs). */
const HIGHLIGHT_LIMIT = 128 * 1024;
/** Bytes of a hex dump (16 per line). */
const HEX_LIMIT = 64 * 1024;

/**
 * Images previewed inline, by their exact media type. Not SVG: opened from
 * its blob: URL, an SVG document could run script; it is shown as text.
 */
const PREVIEWABLE = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp', 'image/x-icon', 'image/vnd.microsoft.icon']);

const TEXT_TYPES = /^(text\/.+|application\/(xml|javascript|ecmascript|x-ndjson|ndjson|yaml|x-yaml|toml|x-www-form-urlencoded|sql|graphql)|image\/svg\+xml|.+\+xml|.+\+yaml)$/;

export function mediaType(contentType: string): string {
  return contentType.split(';', 1)[0]!.trim().toLowerCase();
}

export function isJsonType(contentType: string): boolean {
  const type = mediaType(contentType);
  return type === 'application/json' || type.endsWith('+json');
}

/** How a value is shown: by its content type, and (when its bytes are known) whether they are text. */
export function kindOf(contentType: string, bytes: Uint8Array | null): ValueKind {
  const type = mediaType(contentType);
  if (PREVIEWABLE.has(type)) return 'image';
  if (isJsonType(contentType)) return 'json';
  if (TEXT_TYPES.test(type)) return bytes === null || isUtf8(bytes) ? 'text' : 'binary';
  return 'binary';
}

interface Tab {
  name: string;
  render(): Node;
}

/** Blob URLs made for the shown value: revoked when another is shown. */
let blobUrls: string[] = [];

function blobUrl(bytes: Uint8Array, type: string): string {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  blobUrls.push(url);
  return url;
}

export function releaseValueUrls(): void {
  for (const url of blobUrls) URL.revokeObjectURL(url);
  blobUrls = [];
}

/** The tabs and the value under them, for `bytes` of `contentType`; `key` names the download. */
export function valueView(key: string, contentType: string, bytes: Uint8Array): HTMLElement {
  releaseValueUrls();
  const kind = kindOf(contentType, bytes);
  const utf8 = kind === 'json' || kind === 'text' || isUtf8(bytes);
  const tabs: Tab[] = [];
  if (kind === 'json') tabs.push({ name: 'JSON', render: () => jsonView(bytes) });
  if (kind === 'image') tabs.push({ name: 'Preview', render: () => imageView(bytes, mediaType(contentType)) });
  if (utf8) tabs.push({ name: 'Text', render: () => textView(bytes) });
  tabs.push({ name: 'Hex', render: () => hexView(bytes) });
  tabs.push({ name: 'Base64', render: () => base64View(bytes) });

  const body = h('div', { class: 'value-box', role: 'tabpanel' });
  const bar = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Show the value as' });
  const buttons = tabs.map((tab) => {
    const button = h('button', { type: 'button', role: 'tab', 'aria-selected': 'false', text: tab.name });
    button.addEventListener('click', () => select(tab, button));
    return button;
  });
  const select = (tab: Tab, button: HTMLButtonElement) => {
    for (const other of buttons) other.setAttribute('aria-selected', String(other === button));
    replace(body, tab.render());
  };
  // Octet-stream that happens to be text still opens as hex: what it is, not what it looks like.
  const first = kind === 'binary' ? tabs.findIndex((tab) => tab.name === 'Hex') : 0;
  const download = h('a', { href: blobUrl(bytes, 'application/octet-stream'), download: lastSegment(key), text: `Download (${formatBytes(bytes.length)})` });
  bar.append(...buttons, h('span', { class: 'spacer' }), download);
  select(tabs[first]!, buttons[first]!);
  return h('div', { class: 'value-view' }, bar, body);
}

function truncatedNote(shown: number, total: number, what: string): HTMLElement {
  return h('div', { class: 'truncated', role: 'note', text: `Showing the first ${formatBytes(shown)} ${what} of ${formatBytes(total)}. Download the value for all of it.` });
}

function pre(className: string, content: string | Node): HTMLPreElement {
  const element = h('pre', { class: `value ${className}`, tabindex: '0' });
  element.append(content);
  return element;
}

function emptyView(): HTMLElement {
  return h('p', { class: 'value empty', text: 'The value is empty (0 bytes).' });
}

function jsonView(bytes: Uint8Array): Node {
  if (bytes.length === 0) return emptyView();
  if (bytes.length > TEXT_LIMIT) {
    // Not parsed at all: a 4 MiB document would cost more than it shows.
    return h('div', {}, pre('json', utf8Prefix(bytes, TEXT_LIMIT)), truncatedNote(TEXT_LIMIT, bytes.length, 'as stored (not formatted)'));
  }
  const text = utf8Prefix(bytes, TEXT_LIMIT);
  try {
    JSON.parse(text);
  } catch (error) {
    return h('div', {}, h('div', { class: 'banner warn', role: 'note' }, h('p', { text: `Stored as JSON, but it is not valid JSON (${(error as Error).message}); shown as text.` })), pre('text', text));
  }
  return pre('json', bytes.length <= HIGHLIGHT_LIMIT ? prettyJsonFragment(text) : prettyJsonText(text));
}

function textView(bytes: Uint8Array): Node {
  if (bytes.length === 0) return emptyView();
  const shown = pre('text', utf8Prefix(bytes, TEXT_LIMIT));
  return bytes.length > TEXT_LIMIT ? h('div', {}, shown, truncatedNote(TEXT_LIMIT, bytes.length, 'as text')) : shown;
}

function hexView(bytes: Uint8Array): Node {
  if (bytes.length === 0) return emptyView();
  const shown = pre('hex', hexDump(bytes, HEX_LIMIT));
  return bytes.length > HEX_LIMIT ? h('div', {}, shown, truncatedNote(HEX_LIMIT, bytes.length, 'in hex')) : shown;
}

function base64View(bytes: Uint8Array): Node {
  if (bytes.length === 0) return emptyView();
  // 3 bytes make 4 characters: a multiple of 3 keeps the shown part valid base64.
  const limit = Math.floor((TEXT_LIMIT * 3) / 4 / 3) * 3;
  const shown = pre('base64', toBase64(bytes.length > limit ? bytes.subarray(0, limit) : bytes));
  return bytes.length > limit ? h('div', {}, shown, truncatedNote(limit, bytes.length, 'in base64')) : shown;
}

function imageView(bytes: Uint8Array, type: string): Node {
  // The blob's type is one of PREVIEWABLE, never the stored text.
  const image = h('img', { src: blobUrl(bytes, PREVIEWABLE.has(type) ? type : 'application/octet-stream'), alt: 'The value, as an image' });
  const caption = h('p', { class: 'image-size' });
  const box = h('div', { class: 'value-image' }, image, caption);
  image.addEventListener('load', () => {
    caption.textContent = `${image.naturalWidth} × ${image.naturalHeight} pixels`;
    // A small image is shown larger, its pixels kept sharp.
    if (image.naturalWidth < 96 && image.naturalHeight < 96) image.classList.add('small');
  });
  image.addEventListener('error', () => replace(box, h('p', { class: 'value empty', text: 'The browser could not show these bytes as an image.' })));
  return box;
}
