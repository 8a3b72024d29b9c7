import { connect, type Socket } from 'node:net';
import fc, { type Arbitrary } from 'fast-check';

/*
 * Helpers of the hostile-input suite (fuzz.test.ts):
 *  - a raw HTTP/1.1 client over node:net, which sends exactly the bytes it is
 *    given (fetch and node:http refuse or rewrite much of what a hostile
 *    client sends) and parses the responses it gets back;
 *  - fast-check arbitraries of hostile requests: methods, paths (keys with
 *    valid and invalid percent-encodings, dot segments, keys around the size
 *    limit), query strings, headers and bodies shaped for each route.
 */

// ---------------------------------------------------------------------------
// Raw HTTP/1.1 over node:net
// ---------------------------------------------------------------------------

export interface RawResponse {
  status: number;
  reason: string;
  /** Lower-cased names; a repeated header is joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** A 200 event stream (text/event-stream): its body is not read. */
  stream: boolean;
}

/** One TCP connection: write anything, read the responses it gets back. */
export class RawConnection {
  private received = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  /** The server (or the network) closed the connection. */
  closed = false;
  /** Bytes received so far on this connection. */
  receivedBytes = 0;
  error: Error | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.receivedBytes += chunk.length;
      this.notify();
    });
    socket.on('error', (error) => {
      this.error = error;
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, host);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
    });
  }

  /** Writes unless the connection is gone; returns false when it is (or when the socket buffer is full). */
  write(data: string | Buffer): boolean {
    if (this.closed || this.socket.destroyed) return false;
    return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
  }

  /** Resolves once the socket's write buffer drained, the connection closed, or `timeoutMs` passed. */
  drain(timeoutMs: number): Promise<void> {
    if (this.closed || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }

  /** Half-closes: the server sees the end of the request stream. */
  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Bytes received and not yet taken as a response. */
  get unread(): Buffer {
    return this.received;
  }

  /**
   * The next complete response (interim 1xx responses are skipped). `head`:
   * the request was a HEAD, so the response has no body. Rejects when the
   * connection closes first or nothing complete arrives within `timeoutMs`.
   */
  async readResponse(options: { timeoutMs: number; head?: boolean }): Promise<RawResponse> {
    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      const parsed = parseResponse(this.received, options.head === true, this.closed);
      if (parsed !== null) {
        this.received = this.received.subarray(parsed.consumed);
        return parsed.response;
      }
      if (this.closed) {
        throw new Error(`the connection closed before a complete response${this.error ? ` (${this.error.message})` : ''}; received ${preview(this.received)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no complete response within ${options.timeoutMs} ms; received ${preview(this.received)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** Resolves true once the connection is closed, false if it is still open after `timeoutMs`. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    return this.closed;
  }

  private notify(): void {
    this.wake?.();
  }
}

/** Sends `bytes` on a new connection and returns the first response; the connection is destroyed after. */
export async function rawExchange(port: number, bytes: string | Buffer, options: { timeoutMs: number; head?: boolean }): Promise<RawResponse> {
  const connection = await RawConnection.open(port);
  try {
    connection.write(bytes);
    return await connection.readResponse(options);
  } finally {
    connection.destroy();
  }
}

function preview(bytes: Buffer): string {
  const text = bytes.subarray(0, 300).toString('latin1');
  return bytes.length === 0 ? 'nothing' : `${bytes.length} bytes: ${JSON.stringify(text)}${bytes.length > 300 ? '...' : ''}`;
}

const NO_BODY = Buffer.alloc(0);

/** Parses one response at the start of `buffer`, or returns null when it is not complete yet. */
export function parseResponse(buffer: Buffer, head: boolean, closed: boolean): { response: RawResponse; consumed: number } | null {
  let offset = 0;
  for (;;) {
    const headEnd = buffer.indexOf('\r\n\r\n', offset);
    if (headEnd === -1) return null;
    const [statusLine = '', ...lines] = buffer.subarray(offset, headEnd).toString('latin1').split('\r\n');
    const match = /^HTTP\/\d\.\d (\d{3})(?: (.*))?$/.exec(statusLine);
    if (match === null) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine.slice(0, 200))}`);
    const status = Number(match[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`malformed response header line ${JSON.stringify(line)}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const bodyStart = headEnd + 4;
    if (status >= 100 && status < 200 && status !== 101) {
      offset = bodyStart; // an interim response (100 Continue): the real one follows
      continue;
    }
    const base = { status, reason: match[2] ?? '', headers };
    if (head || status === 204 || status === 304 || status === 101) {
      return { response: { ...base, body: NO_BODY, stream: false }, consumed: bodyStart };
    }
    if (status === 200 && (headers['content-type'] ?? '').startsWith('text/event-stream')) {
      return { response: { ...base, body: NO_BODY, stream: true }, consumed: buffer.length };
    }
    if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
      const chunks: Buffer[] = [];
      let at = bodyStart;
      for (;;) {
        const lineEnd = buffer.indexOf('\r\n', at);
        if (lineEnd === -1) return null;
        const sizeText = buffer.subarray(at, lineEnd).toString('latin1').split(';')[0]!.trim();
        if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw new Error(`malformed chunk size ${JSON.stringify(sizeText)} in a response`);
        const size = parseInt(sizeText, 16);
        at = lineEnd + 2;
        if (size === 0) {
          // Trailers, if any, end with an empty line.
          const trailersEnd = buffer.subarray(at, at + 2).toString('latin1') === '\r\n' ? at + 2 : buffer.indexOf('\r\n\r\n', at) + 4;
          if (trailersEnd < at + 2 || buffer.length < trailersEnd) return null;
          return { response: { ...base, body: Buffer.concat(chunks), stream: false }, consumed: trailersEnd };
        }
        if (buffer.length < at + size + 2) return null;
        chunks.push(buffer.subarray(at, at + size));
        at += size + 2;
      }
    }
    const lengthText = headers['content-length'];
    if (lengthText !== undefined) {
      const length = Number(lengthText);
      if (!Number.isSafeInteger(length) || length < 0) throw new Error(`malformed Content-Length ${JSON.stringify(lengthText)} in a response`);
      if (buffer.length < bodyStart + length) return null;
      return { response: { ...base, body: buffer.subarray(bodyStart, bodyStart + length), stream: false }, consumed: bodyStart + length };
    }
    // No length: the body runs to the end of the connection.
    if (!closed) return null;
    return { response: { ...base, body: buffer.subarray(bodyStart), stream: false }, consumed: buffer.length };
  }
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

export interface FuzzRequest {
  method: string;
  /** The request target as sent (origin-form: path and query, already percent-encoded or not). */
  target: string;
  headers: Array<[string, string]>;
  body: Buffer | null;
  /** Send the body with Transfer-Encoding: chunked, in pieces, instead of Content-Length. */
  chunked: boolean;
}

/** The bytes of `request`: HTTP/1.1 with Host, the framing of its body, and Connection: close. */
export function serializeRequest(request: FuzzRequest, host: string): Buffer {
  const lines = [`${request.method} ${request.target} HTTP/1.1`, `Host: ${host}`];
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  if (request.body !== null) lines.push(request.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${request.body.length}`);
  lines.push('Connection: close');
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  if (request.body === null) return head;
  if (!request.chunked) return Buffer.concat([head, request.body]);
  const parts: Buffer[] = [head];
  const body = request.body;
  const third = Math.max(1, Math.ceil(body.length / 3));
  for (let at = 0; at < body.length; at += third) {
    const piece = body.subarray(at, at + third);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

/** A readable reproduction of `request`: its bytes as a JS string literal (long bodies cut). */
export function describeRequest(request: FuzzRequest): string {
  const bytes = serializeRequest(
    { ...request, body: request.body !== null && request.body.length > 1500 ? request.body.subarray(0, 1500) : request.body },
    '127.0.0.1',
  );
  const cut = request.body !== null && request.body.length > 1500 ? ` (body cut from ${request.body.length} bytes)` : '';
  return `${JSON.stringify(bytes.toString('latin1'))}${cut}`;
}

// ---------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------

export interface FuzzContext {
  keyBytesMax: number;
  /** Keys that exist when the fuzzing starts (unencoded), so that requests also hit real entries. */
  keys: string[];
}

/** A route as the server's RouteTable lists it, or the pseudo-route of paths no route serves. */
export interface FuzzTarget {
  url: string;
  methods: string[];
}

export const UNKNOWN_PATHS: FuzzTarget = { url: '(unknown paths)', methods: [] };

export const STANDARD_METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'];
/** Tokens Node's parser takes (WebDAV and friends), tokens it refuses, and case variants. CONNECT is left out: Node drops it without an answer. */
export const ODD_METHODS = ['TRACE', 'PROPFIND', 'MKCOL', 'SEARCH', 'PURGE', 'LINK', 'REPORT', 'M-SEARCH', 'QUERY', 'SOURCE', 'FOO', 'get', 'Put', 'X'];

/** Percent-encodes a key for a path, keeping `/` readable (as clients do). */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

const SAFE_CHARS = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~'];
const safeText = (maxLength: number): Arbitrary<string> => fc.string({ unit: fc.constantFrom(...SAFE_CHARS), minLength: 1, maxLength });

/**
 * Pieces of hostile paths and query values, as sent on the wire: invalid
 * percent-encodings (%ZZ, a lone %), NUL, overlong UTF-8 (%C0%AF), encoded
 * lone surrogates (%ED%A0%80), code points past U+10FFFF, dot segments,
 * encoded slashes, double encoding, control characters, and raw punctuation.
 */
export const HOSTILE_PIECES = [
  '%ZZ',
  '%',
  '%0',
  '%G0',
  '%00',
  '%C0%AF',
  '%C0%80',
  '%E0%80%AF',
  '%ED%A0%80',
  '%ED%BF%BF',
  '%F4%90%80%80',
  '%F8%88%80%80%80',
  '%FF',
  '%FE%FF',
  '%EF%BB%BF',
  '%C3',
  '%E2%82',
  '%2F',
  '%2f',
  '%252F',
  '%25',
  '%2E',
  '%2E%2E',
  '.',
  '..',
  '/',
  '//',
  '/./',
  '/../',
  '%5C',
  '\\',
  '%20',
  '+',
  '%0A',
  '%0D%0A',
  '%09',
  '%7F',
  '%E2%80%AE',
  '%F0%9F%98%80',
  '%E2%82%AC',
  '~',
  '!',
  '$',
  '&',
  "'",
  '(',
  ')',
  '*',
  ',',
  ';',
  '=',
  ':',
  '@',
  '[',
  ']',
  '|',
  '^',
  '`',
  '{',
  '}',
  '"',
  '<',
  '>',
  '?',
  'a',
  'b',
  'key',
  '__proto__',
  'constructor',
];

const hostileText: Arbitrary<string> = fc
  .array(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...HOSTILE_PIECES) }, { weight: 1, arbitrary: safeText(4) }), { minLength: 1, maxLength: 8 })
  .map((pieces) => pieces.join(''));

/** Keys around the size limit, in 1-, 2-, 3- and 4-byte characters, percent-encoded or not, up to five times the limit. */
function longKeyPath(keyBytesMax: number): Arbitrary<string> {
  return fc
    .tuple(fc.constantFrom('k', '%41', '%C3%A9', '%E2%82%AC', '%F0%9F%98%80'), fc.integer({ min: -2, max: 2 }), fc.constantFrom(1, 1, 1, 3, 5))
    .map(([unit, delta, factor]) => {
      const bytesPerUnit = unit.startsWith('%') ? unit.length / 3 : 1;
      return unit.repeat(Math.max(1, Math.floor((keyBytesMax * factor) / bytesPerUnit) + delta));
    });
}

/** The key part of a `/v1/kv/{key}` path (or a `key=` value), as sent on the wire. */
export function keyPathArb(context: FuzzContext): Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...context.keys.map(encodeKeyPath)) },
    { weight: 3, arbitrary: safeText(24) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }).map(encodeKeyPath) },
    { weight: 4, arbitrary: hostileText },
    { weight: 2, arbitrary: longKeyPath(context.keyBytesMax) },
    { weight: 1, arbitrary: fc.constant('') },
  );
}

/** The query parameters each route knows; a route not listed here (a new one) gets all of them. */
const ROUTE_PARAMETERS: Record<string, string[]> = {
  '/v1/kv': ['prefix', 'start', 'end', 'limit', 'cursor', 'reverse', 'values', 'delimiter', 'dry_run'],
  '/v1/kv/*': ['ttl', 'op', 'by'],
  '/v1/watch': ['key', 'prefix', 'since', 'values'],
  '/v1/admin/export': ['prefix'],
  '/v1/admin/import': ['format'],
  '/put': ['key'],
  '/get': ['key'],
  '/del': ['key'],
};
/** Routes that read query parameters (the others are fixed resources). */
export const ROUTES_WITH_PARAMETERS: ReadonlySet<string> = new Set(Object.keys(ROUTE_PARAMETERS));
const ALL_PARAMETERS = ['prefix', 'start', 'end', 'limit', 'cursor', 'reverse', 'values', 'delimiter', 'dry_run', 'ttl', 'op', 'by', 'since', 'key', 'format'];
const ODD_PARAMETERS = [
  'foo',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '',
  'limit[]',
  'prefix[0]',
  '__proto__[polluted]',
  'a[b]',
  '%ZZ',
  '%00',
  'LIMIT',
  'Prefix',
  'key%00',
];

const NUMBERS = [
  '0',
  '1',
  '2',
  '-1',
  '10',
  '100',
  '1000',
  '1001',
  '-0',
  '+1',
  '01',
  '1e3',
  '1.5',
  '0.001',
  '0.0001',
  '1.2345',
  'NaN',
  'Infinity',
  '-Infinity',
  '0x10',
  '%201',
  '9007199254740991',
  '9007199254740992',
  '-9007199254740991',
  '-9007199254740992',
  '99999999999999999999',
  '315360000',
  '315360001',
  '9'.repeat(400),
];
const WORDS = ['true', 'false', 'TRUE', 'True', 'yes', 'no', 'on', '', 'add', 'ADD', 'put', 'seed', 'ndjson', 'csv', '/', '//', '%2F', '%00', 'a', 'a/'];

/** Random base64url, cursors that look like the server's (version 1, direction f/t, any bound) and garbage. */
const cursorArb: Arbitrary<string> = fc.oneof(
  fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes).toString('base64url')),
  fc
    .tuple(fc.constantFrom(0x66, 0x74, 0x00, 0x01), fc.constantFrom(1, 0, 2), fc.uint8Array({ maxLength: 24 }))
    .map(([direction, version, bound]) => Buffer.concat([Buffer.from([version, direction]), bound]).toString('base64url')),
  fc.constantFrom('!!!', '====', 'AQ', 'AWY', 'AXQ', 'AWY=', 'AWY%3D', 'a+b/', '%ZZ', `AWZh${'A'.repeat(3000)}`),
);

function parameterValueArb(context: FuzzContext): Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...NUMBERS) },
    { weight: 3, arbitrary: fc.constantFrom(...WORDS) },
    { weight: 2, arbitrary: cursorArb },
    { weight: 3, arbitrary: keyPathArb(context) },
    { weight: 1, arbitrary: safeText(12) },
  );
}

/** A value a client could mean for parameter `name` (so that requests also get past validation), or a hostile one. */
function plausibleValueArb(context: FuzzContext, name: string): Arbitrary<string> {
  const keyish = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...context.keys.map(encodeKeyPath), 'a', 'a%2F', '', 'sp', '__proto__') },
    { weight: 1, arbitrary: keyPathArb(context) },
  );
  const plausible: Record<string, Arbitrary<string>> = {
    prefix: keyish,
    start: keyish,
    end: keyish,
    key: keyish,
    limit: fc.constantFrom('1', '2', '10', '100', '1000', '0', '1001', '-1', '1.5', ''),
    cursor: cursorArb,
    reverse: fc.constantFrom('true', 'false', '1', '0', '', 'yes'),
    values: fc.constantFrom('true', 'false', '1', '0', '', 'yes'),
    dry_run: fc.constantFrom('true', 'false', '1', '0', '', 'yes'),
    delimiter: fc.constantFrom('/', '/', 'a', '%2F', '', '%00', '//'),
    ttl: fc.constantFrom('1', '0.5', '300', '0.001', '0.0005', '315360000', '315360001', '0', '-1', '1e3'),
    op: fc.constantFrom('add', 'add', 'add', 'ADD', 'put', ''),
    by: fc.constantFrom('1', '-1', '0', '2', '-0', '9007199254740991', '9007199254740992', '1.5', 'x'),
    since: fc.constantFrom('0', '1', '2', '5', '1000', '', '-1', '9007199254740991'),
    format: fc.constantFrom('ndjson', 'seed', 'seed', '', 'csv'),
  };
  return plausible[name] ?? parameterValueArb(context);
}

/** Each of the route's parameters at most once, with values a client could mean (watch: exactly one of key and prefix). */
function plausibleQueryArb(context: FuzzContext, known: string[], watch: boolean): Arbitrary<string> {
  const names = watch ? known.filter((name) => name !== 'key' && name !== 'prefix') : known;
  const optional = names.map((name) =>
    fc.oneof(
      fc.constant<[string, string] | null>(null),
      plausibleValueArb(context, name).map((value): [string, string] | null => [name, value]),
    ),
  );
  const selector = watch
    ? fc.constantFrom('key', 'prefix').chain((name) => plausibleValueArb(context, name).map((value): Array<[string, string] | null> => [[name, value]]))
    : fc.constant<Array<[string, string] | null>>([]);
  return fc.tuple(selector, fc.tuple(...optional)).map(([first, rest]) => {
    const pairs = [...first, ...rest].filter((pair): pair is [string, string] => pair !== null);
    return pairs.length === 0 ? '' : `?${pairs.map(([name, value]) => `${name}=${value}`).join('&')}`;
  });
}

function queryArb(context: FuzzContext, target: FuzzTarget): Arbitrary<string> {
  const known = ROUTE_PARAMETERS[target.url] ?? ALL_PARAMETERS;
  const hostile = hostileQueryArb(context, known);
  return fc.oneof({ weight: 1, arbitrary: plausibleQueryArb(context, known, target.url === '/v1/watch') }, { weight: 1, arbitrary: hostile });
}

/** Parameters repeated, unknown, empty, valueless, with hostile values. */
function hostileQueryArb(context: FuzzContext, known: string[]): Arbitrary<string> {
  const name = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...known) },
    { weight: 2, arbitrary: fc.constantFrom(...ALL_PARAMETERS) },
    { weight: 1, arbitrary: fc.constantFrom(...ODD_PARAMETERS) },
  );
  const pairs = fc
    .array(fc.tuple(name, parameterValueArb(context), fc.nat(9)), { maxLength: 6 })
    .map((list) => (list.length === 0 ? '' : `?${list.map(([key, value, form]) => (form === 0 && value === '' ? key : `${key}=${value}`)).join('&')}`));
  return fc.oneof({ weight: 12, arbitrary: pairs }, { weight: 1, arbitrary: fc.constantFrom('?', '??', '?&&', '?=1', '?&', '?#', '?%') });
}

function pathArb(context: FuzzContext, target: FuzzTarget): Arbitrary<string> {
  if (target === UNKNOWN_PATHS) {
    return fc.oneof(
      fc.constantFrom(
        '/',
        '/v1',
        '/v1/',
        '/v2/kv/a',
        '/v1/kv2',
        '/v1/admin',
        '/v1/admin/',
        '/v1/admin/x',
        '/v1/watch/x',
        '/v1/txn/x',
        '/healthz/x',
        '/%ZZ',
        '/%00',
        '/..',
        '/../etc/passwd',
        '/v1/../healthz',
        '/favicon.ico',
        '//',
        '///v1/kv/a',
        '/index.html',
        '/v1/KV/a',
        '/V1/kv/a',
        '*',
        '/v1/kv%2Fa',
        '/v1%2Fkv/a',
      ),
      fc.webPath().map((path) => (path.startsWith('/') ? path : `/${path}`)),
      hostileText.map((text) => `/${text}`),
    );
  }
  if (target.url.endsWith('*')) {
    const prefix = target.url.slice(0, -1);
    return fc.oneof(
      { weight: 12, arbitrary: keyPathArb(context).map((key) => `${prefix}${key}`) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(prefix.replace(/\/$/, ''), `${prefix}/`, `${prefix}.`, `${prefix}..`, prefix.replace(/\//g, '//'), prefix.toUpperCase()),
      },
    );
  }
  const url = target.url;
  return fc.oneof(
    { weight: 8, arbitrary: fc.constant(url) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        `${url}/`,
        url.toUpperCase(),
        url.replace(/\//g, '//'),
        `${url}/..`,
        `${url}/.`,
        `${url}%2F`,
        `${url}%ZZ`,
        `${url}%00`,
        `/.${url}`,
        `${url};a=b`,
        `${url}#frag`,
      ),
    },
  );
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/json;charset=latin1',
  'APPLICATION/JSON',
  'text/json',
  'application/problem+json',
  'application/vnd.kvs+json',
  'application/x-ndjson',
  'application/octet-stream',
  'text/plain',
  'text/plain; charset=iso-8859-1',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  '',
  ' ',
  ';',
  ';;;',
  'application/',
  '/json',
  'foo',
  'application/json;;;',
  'application/json, text/plain',
  '*/*',
  'text/*',
  `application/${'x'.repeat(300)}`,
  'application/json; a="unterminated',
  'application/json\t',
  'a\u00e9b',
];
const ENTITY_TAGS = [
  '"1"',
  '"2"',
  '"3"',
  '"5"',
  'W/"1"',
  'W/"5"',
  '*',
  '"1", "2"',
  '"1",,"2"',
  ' , ',
  '"abc"',
  '"05"',
  '"-1"',
  '"99999999999999999"',
  'garbage',
  '',
  '"',
  'W/',
  'W/*',
  '*, "1"',
  '"1" "2"',
  '"1",W/"2"',
  `"${'9'.repeat(300)}"`,
  'W/"0"',
  '"0"',
  'w/"1"',
  '"1',
  '1',
  '"1",',
  ',"1"',
];
/** Prefer values; no valid wait above 1 s, so that a long-poll never holds a run up for long. */
const PREFERS = [
  'wait=1',
  'wait=0',
  'wait=-1',
  'wait=abc',
  'wait=1.5',
  'wait=301',
  'wait=99999999',
  'wait=',
  'wait="1"',
  'wait="abc"',
  'respond-async, wait=1',
  'return=minimal',
  'wait=1; foo=bar',
  'WAIT=1',
  'wait = 1',
  'handling=strict',
  '',
];
const LAST_EVENT_IDS = ['', '0', '1', '-1', 'abc', '99999999999999999999', '9007199254740991', '9007199254740992', '1.5', ' 5', 'NaN', '0x1', '1e3'];
const ACCEPTS = ['application/json', 'text/event-stream', '*/*', 'text/html', 'application/problem+json;q=0', 'garbage', '', 'application/x-ndjson, */*;q=0.1'];
const AUTHORIZATIONS = ['Bearer x', 'Bearer', 'Basic Zm9vOmJhcg==', `Bearer ${'a'.repeat(200)}`, '', 'Bearer  '];
const HEADER_VALUE_CHARS = [...' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\t'];
const TOKEN_CHARS = [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!#$%&'*+.^_`|~"];

/** `arbitrary` `presentWeight` times in `presentWeight + absentWeight`, else absent. */
const sometimes = <T>(arbitrary: Arbitrary<T>, absentWeight: number, presentWeight = 1): Arbitrary<T | undefined> =>
  fc.oneof({ weight: absentWeight, arbitrary: fc.constant(undefined) }, { weight: presentWeight, arbitrary });

/** Routes whose bodies are JSON (or read as JSON): their requests carry a JSON type more often. */
const JSON_BODY_ROUTES = new Set(['/v1/txn', '/put']);

function headersArb(target: FuzzTarget): Arbitrary<Array<[string, string]>> {
  const jsonRoute = JSON_BODY_ROUTES.has(target.url);
  const jsonWeight = jsonRoute ? 12 : 3;
  const extra = fc.tuple(
    fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 12 }).map((name) => `X-${name}`),
    fc.string({ unit: fc.constantFrom(...HEADER_VALUE_CHARS), maxLength: 40 }),
  );
  return fc
    .record({
      'Content-Type': sometimes(
        fc.oneof({ weight: jsonWeight, arbitrary: fc.constant('application/json') }, { weight: 4, arbitrary: fc.constantFrom(...CONTENT_TYPES) }),
        1,
        jsonRoute ? 4 : 1,
      ),
      'If-Match': sometimes(fc.constantFrom(...ENTITY_TAGS), 4),
      'If-None-Match': sometimes(fc.constantFrom(...ENTITY_TAGS), 3),
      Prefer: sometimes(fc.constantFrom(...PREFERS), 3),
      'Last-Event-ID': sometimes(fc.constantFrom(...LAST_EVENT_IDS), 4),
      Accept: sometimes(fc.constantFrom(...ACCEPTS), 4),
      Authorization: sometimes(fc.constantFrom(...AUTHORIZATIONS), 6),
      extra: fc.array(extra, { maxLength: 2 }),
    })
    .map((record) => {
      const headers: Array<[string, string]> = [];
      for (const [name, value] of Object.entries(record)) {
        if (name === 'extra') headers.push(...(value as Array<[string, string]>));
        else if (value !== undefined) headers.push([name, value as string]);
      }
      return headers;
    });
}

// Bodies ---------------------------------------------------------------------

/** Strings a JSON body may give as a key: existing keys, hostile ones (NUL, lone surrogates, dot segments, too long) and non-strings. */
function jsonKeyArb(context: FuzzContext): Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom<unknown>(...context.keys) },
    {
      weight: 3,
      arbitrary: fc.constantFrom<unknown>(
        '__proto__',
        'constructor',
        'prototype',
        '',
        '.',
        '..',
        'a/../b',
        'a/./b',
        '/',
        '//',
        '\u0000',
        'a\u0000b',
        '\uD800',
        'x\uDFFFy',
        '\uFEFF',
        'k'.repeat(context.keyBytesMax),
        'k'.repeat(context.keyBytesMax + 1),
        '\u20AC'.repeat(Math.floor(context.keyBytesMax / 3) + 1),
      ),
    },
    { weight: 3, arbitrary: safeText(12) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(1, null, true, [], {}, ['a']) },
  );
}

const jsonValueArb: Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(JSON.parse('{"__proto__":{"polluted":true}}'), 'aGk=', '', '!!', 'aGk', Number.MAX_SAFE_INTEGER + 1) },
);

function txnOpArb(context: FuzzContext): Arbitrary<unknown> {
  return fc.record(
    {
      op: fc.constantFrom<unknown>('put', 'put', 'delete', 'add', 'get', 'PUT', '', 'noop', 1, null),
      key: jsonKeyArb(context),
      value: jsonValueArb,
      encoding: fc.constantFrom<unknown>('json', 'utf8', 'base64', 'hex', '', 1, null),
      contentType: fc.constantFrom<unknown>('text/plain', 'application/json', '', ' ', 'a'.repeat(300), 'x\u0001y', 'x\u20ACy', 'x\u00e9y', 7),
      ttl: fc.oneof(fc.double(), fc.constantFrom<unknown>(0, -1, 0.0001, 0.0005, 1, 30, 315360000, 315360001, 1e308, '1', null)),
      by: fc.oneof(fc.integer(), fc.double(), fc.constantFrom<unknown>(0, -0, 9007199254740991, -9007199254740991, 9007199254740992, 1e300, '1', null, 1.5)),
      extra: fc.constantFrom<unknown>(1, null, 'x'),
    },
    { requiredKeys: ['op'] },
  );
}

function txnCheckArb(context: FuzzContext): Arbitrary<unknown> {
  return fc.record(
    {
      key: jsonKeyArb(context),
      revision: fc.oneof(fc.nat(20), fc.constantFrom<unknown>(-1, 1.5, 2 ** 53, 1e300, '1', null)),
      exists: fc.constantFrom<unknown>(true, false, 'true', 0, null),
      extra: fc.constantFrom<unknown>(1, 'x'),
    },
    { requiredKeys: [] },
  );
}

/** Ops and checks a client could mean: existing or simple keys, well-formed members. */
function plausibleTxnArb(context: FuzzContext): Arbitrary<unknown> {
  const key = fc.oneof(fc.constantFrom(...context.keys), safeText(6));
  const op = fc.oneof(
    fc.record({ op: fc.constant('put'), key, value: fc.jsonValue({ maxDepth: 2 }) }),
    fc.record(
      {
        op: fc.constant('put'),
        key,
        value: fc.constantFrom('aGk=', '', 'AAEC/w=='),
        encoding: fc.constantFrom('base64', 'utf8'),
        ttl: fc.constantFrom(1, 30, 0.5),
      },
      { requiredKeys: ['op', 'key', 'value', 'encoding'] },
    ),
    fc.record({ op: fc.constantFrom('get', 'delete'), key }),
    fc.record({ op: fc.constant('add'), key, by: fc.integer({ min: -5, max: 5 }) }, { requiredKeys: ['op', 'key'] }),
  );
  const check = fc.oneof(fc.record({ key, revision: fc.nat(12) }), fc.record({ key, exists: fc.boolean() }));
  return fc.record(
    { checks: fc.array(check, { maxLength: 2 }), ops: fc.uniqueArray(op, { maxLength: 3, selector: (entry) => entry.key }) },
    { requiredKeys: ['ops'] },
  );
}

function txnBodyArb(context: FuzzContext): Arbitrary<string> {
  const manyGets = (count: number) => ({ ops: Array.from({ length: count }, (_, index) => ({ op: 'get', key: `k${index}` })) });
  const manyChecks = (count: number) => ({ checks: Array.from({ length: count }, (_, index) => ({ key: `k${index}`, exists: false })) });
  return fc
    .oneof(
      { weight: 5, arbitrary: plausibleTxnArb(context) },
      {
        weight: 5,
        arbitrary: fc.record(
          { checks: fc.array(txnCheckArb(context), { maxLength: 3 }), ops: fc.array(txnOpArb(context), { maxLength: 4 }) },
          { requiredKeys: [] },
        ),
      },
      {
        weight: 1,
        arbitrary: fc.constantFrom<unknown>(
          manyGets(128),
          manyGets(129),
          manyChecks(129),
          {
            ops: [
              { op: 'put', key: 'a', value: 1 },
              { op: 'get', key: 'a' },
            ],
          },
          JSON.parse('{"__proto__":{"polluted":true},"ops":[]}'),
          { constructor: { prototype: { polluted: true } } },
          { ops: {} },
          { ops: 'put' },
          { checks: null },
        ),
      },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    )
    .map((body) => JSON.stringify(body));
}

function seedPutBodyArb(context: FuzzContext): Arbitrary<string> {
  return fc
    .oneof(
      { weight: 6, arbitrary: fc.record({ key: jsonKeyArb(context), value: fc.oneof(jsonValueArb, fc.constant(null)) }, { requiredKeys: [] }) },
      { weight: 1, arbitrary: fc.constantFrom<unknown>(JSON.parse('{"__proto__":{"key":"p","value":1}}'), { key: 'p', value: 1, extra: true }) },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
    )
    .map((body) => JSON.stringify(body));
}

const EXPIRIES = [
  '2000-01-01T00:00:00Z',
  '9999-12-31T23:59:59Z',
  '2024-13-45T99:99:99Z',
  'yesterday',
  '',
  '2100-01-01T00:00:00.123456789+14:00',
  '2100-01-01t00:00:00z',
];

function exportLineArb(context: FuzzContext): Arbitrary<string> {
  const record = fc.record(
    {
      key: jsonKeyArb(context),
      value: fc.oneof(
        fc.uint8Array({ maxLength: 24 }).map((bytes) => Buffer.from(bytes).toString('base64')),
        fc.constantFrom<unknown>('!!', 'aGk', '', 'aGk==', 5, null),
      ),
      contentType: fc.constantFrom<unknown>('text/plain', 'application/json', '', 'x\u0001y', 'a'.repeat(300), 3, null),
      expiresAt: fc.oneof(
        fc.integer({ min: -3600, max: 3600 * 24 }).map((seconds) => new Date(Date.now() + seconds * 1000).toISOString()),
        fc.constantFrom<unknown>(...EXPIRIES, 0, null),
      ),
    },
    { requiredKeys: [] },
  );
  // Sometimes with a "__proto__" member, written into the text (an object literal would set the prototype instead).
  const line = fc.tuple(record, fc.nat(4)).map(([fields, polluting]) => {
    const text = JSON.stringify(fields);
    return polluting === 0 ? text.replace(/^\{/, text === '{}' ? '{"__proto__":{"polluted":true}' : '{"__proto__":{"polluted":true},') : text;
  });
  return fc.oneof(
    { weight: 6, arbitrary: line },
    { weight: 1, arbitrary: fc.json({ maxDepth: 2 }) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', '{', 'null', '[]', '"x"', '\uFEFF{"key":"a","value":""}') },
  );
}

function ndjsonBodyArb(context: FuzzContext): Arbitrary<string> {
  return fc.tuple(fc.array(exportLineArb(context), { maxLength: 5 }), fc.constantFrom('\n', '\r\n', '\n\n')).map(([lines, separator]) => lines.join(separator));
}

function seedDocumentArb(context: FuzzContext): Arbitrary<string> {
  const key = jsonKeyArb(context).map((candidate) => (typeof candidate === 'string' ? candidate : 'k'));
  return fc.dictionary(key, fc.oneof(jsonValueArb, fc.constant(null)), { maxKeys: 4 }).map((document) => JSON.stringify(document));
}

const randomBytes: Arbitrary<Buffer> = fc.uint8Array({ maxLength: 256 }).map((bytes) => Buffer.from(bytes));
const jsonBody: Arbitrary<Buffer> = fc.json({ maxDepth: 4 }).map((text) => Buffer.from(text, 'utf8'));
const utf8 = (arbitrary: Arbitrary<string>): Arbitrary<Buffer> => arbitrary.map((text) => Buffer.from(text, 'utf8'));

function bodyArb(context: FuzzContext, target: FuzzTarget): Arbitrary<Buffer | null> {
  const none = fc.constant<Buffer | null>(null);
  const empty = fc.constant<Buffer | null>(Buffer.alloc(0));
  switch (target.url) {
    case '/v1/txn':
      return fc.oneof(
        { weight: 8, arbitrary: utf8(txnBodyArb(context)) },
        { weight: 1, arbitrary: jsonBody },
        { weight: 1, arbitrary: randomBytes },
        { weight: 1, arbitrary: none },
        { weight: 1, arbitrary: empty },
      );
    case '/put':
      return fc.oneof(
        { weight: 8, arbitrary: utf8(seedPutBodyArb(context)) },
        { weight: 1, arbitrary: jsonBody },
        { weight: 1, arbitrary: randomBytes },
        { weight: 1, arbitrary: none },
      );
    case '/v1/admin/import':
      return fc.oneof(
        { weight: 5, arbitrary: utf8(ndjsonBodyArb(context)) },
        { weight: 3, arbitrary: utf8(seedDocumentArb(context)) },
        { weight: 1, arbitrary: jsonBody },
        { weight: 1, arbitrary: randomBytes },
        { weight: 1, arbitrary: none },
      );
    case '/v1/kv/*':
      return fc.oneof(
        { weight: 3, arbitrary: randomBytes },
        { weight: 3, arbitrary: jsonBody },
        { weight: 1, arbitrary: utf8(txnBodyArb(context)) },
        { weight: 2, arbitrary: none },
        { weight: 1, arbitrary: empty },
      );
    default:
      return fc.oneof(
        { weight: 6, arbitrary: none },
        { weight: 1, arbitrary: randomBytes },
        { weight: 1, arbitrary: jsonBody },
        { weight: 1, arbitrary: utf8(txnBodyArb(context)) },
      );
  }
}

/** A hostile request for `target`: mostly its own methods and parameters, often not. */
export function requestArb(context: FuzzContext, target: FuzzTarget): Arbitrary<FuzzRequest> {
  const own = target.methods.length > 0 ? target.methods : STANDARD_METHODS;
  const method = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...own) },
    { weight: 3, arbitrary: fc.constantFrom(...STANDARD_METHODS) },
    { weight: 1, arbitrary: fc.constantFrom(...ODD_METHODS) },
  );
  return fc
    .record({
      method,
      path: pathArb(context, target),
      query: queryArb(context, target),
      headers: headersArb(target),
      body: bodyArb(context, target),
      chunked: fc.boolean().chain((flip) => (flip ? fc.boolean() : fc.constant(false))),
    })
    .map(({ method: verb, path, query, headers, body, chunked }) => ({
      method: verb,
      target: `${path}${query}`,
      headers,
      body,
      chunked: chunked && body !== null,
    }));
}
