/**
 * JSON pretty-printed from its own text, token by token: not through
 * JSON.parse and stringify, which would show 12345678901234567890 as
 * 12345678901234567000 and rewrite escapes. No DOM: runs of [class, text]
 * that the view turns into nodes.
 *
 * Linear and bounded, whatever the input: a JsonPrinter formats one chunk at
 * a time (a budget of characters and lines), iteratively (no recursion), and
 * checks the syntax as it goes, so that nothing past what is shown is ever
 * formatted, and invalid JSON is found where it is met. Indentation grows with
 * depth, so a document nested N deep would print N² spaces: past `maxDepth`
 * the printer stops and says so (the view then shows the text as stored).
 */

export type TokenClass = 'j-key' | 'j-str' | 'j-num' | 'j-lit' | 'j-punct';
export type Run = [TokenClass, string];

/** Nesting deeper than this is not formatted. */
export const JSON_MAX_DEPTH = 100;

/** What the printer expects next. */
type Expect =
  /** A value: the document's, an array element, or an object member's after its colon. */
  | 'value'
  /** A member name (after `{` or a comma in an object). */
  | 'key'
  | 'colon'
  /** A comma or the container's close (the end of the document at the top). */
  | 'after-value'
  /** Nothing but whitespace: the document is complete. */
  | 'end';

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const HEX = /^[0-9a-fA-F]{4}$/;

export class JsonPrinter {
  /** Where in the text the printer stands (UTF-16 units). */
  position = 0;
  /** Why the text is not valid JSON (with where), once met; formatting stops there. */
  error: string | null = null;
  /** True once nesting went past `maxDepth`; formatting stops there. */
  tooDeep = false;

  /** Open containers, innermost last: true for an object. */
  private readonly stack: boolean[] = [];
  private expect: Expect = 'value';
  /** A token cut by the budget: the rest of it is printed first. */
  private partial: { end: number; kind: TokenClass } | null = null;
  private readonly indents: string[] = [];
  private runs: Run[] = [];
  private chars = 0;
  private lines = 0;

  constructor(
    private readonly text: string,
    private readonly maxDepth = JSON_MAX_DEPTH,
  ) {
    this.skipSpace();
    if (this.position >= text.length) this.fail('the value is empty');
  }

  /** True when there is nothing more to print: the whole document, or up to an error or the depth limit. */
  get finished(): boolean {
    return this.error !== null || this.tooDeep || (this.expect === 'end' && this.partial === null);
  }

  /** True when the whole document was printed (and so is valid JSON). */
  get complete(): boolean {
    return this.expect === 'end' && this.partial === null && this.error === null;
  }

  /** The next chunk: about `maxChars` characters (a token may end it a little past) and at most `maxLines` line breaks. */
  next(maxChars: number, maxLines: number): Run[] {
    this.runs = [];
    this.chars = 0;
    this.lines = 0;
    const text = this.text;
    while (!this.finished && this.chars < maxChars && this.lines < maxLines) {
      if (this.partial !== null) {
        this.emitToken(this.partial.kind, this.position, this.partial.end, maxChars);
        continue;
      }
      this.skipSpace();
      if (this.position >= text.length) {
        this.fail('the text ends before the value does');
        break;
      }
      this.step(maxChars);
    }
    if (this.expect === 'end' && this.partial === null && this.error === null) {
      // Trailing whitespace is all that may follow.
      this.skipSpace();
      if (this.position < text.length) this.fail(`unexpected ${describe(text, this.position)} after the end of the value`);
    }
    return this.runs;
  }

  private step(maxChars: number): void {
    const text = this.text;
    const at = this.position;
    const character = text[at]!;
    switch (this.expect) {
      case 'value':
        return this.value(maxChars);
      case 'key':
        if (character !== '"') return this.fail(`expected a member name (a string) but found ${describe(text, at)}`);
        return this.string('j-key', maxChars);
      case 'colon':
        if (character !== ':') return this.fail(`expected ':' but found ${describe(text, at)}`);
        this.position += 1;
        this.push('j-punct', ': ');
        this.expect = 'value';
        return;
      case 'after-value': {
        const inObject = this.stack.at(-1);
        if (character === ',' && inObject !== undefined) {
          this.position += 1;
          this.push('j-punct', ',');
          this.newline();
          this.expect = inObject ? 'key' : 'value';
          return;
        }
        if ((character === '}' && inObject === true) || (character === ']' && inObject === false)) {
          this.position += 1;
          this.stack.pop();
          this.newline();
          this.push('j-punct', character);
          this.expect = this.stack.length === 0 ? 'end' : 'after-value';
          return;
        }
        const wanted = inObject === undefined ? 'the end of the value' : inObject ? "',' or '}'" : "',' or ']'";
        return this.fail(`expected ${wanted} but found ${describe(text, at)}`);
      }
      case 'end':
        return;
    }
  }

  private value(maxChars: number): void {
    const text = this.text;
    const at = this.position;
    const character = text[at]!;
    if (character === '{' || character === '[') {
      const object = character === '{';
      const close = object ? '}' : ']';
      // An empty container stays on one line.
      let next = at + 1;
      while (next < text.length && isSpace(text.charCodeAt(next))) next += 1;
      if (text[next] === close) {
        this.position = next + 1;
        this.push('j-punct', object ? '{}' : '[]');
        this.afterValue();
        return;
      }
      if (this.stack.length >= this.maxDepth) {
        this.tooDeep = true;
        return;
      }
      this.position = at + 1;
      this.stack.push(object);
      this.push('j-punct', character);
      this.newline();
      this.expect = object ? 'key' : 'value';
      return;
    }
    if (character === '"') return this.string('j-str', maxChars);
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, at)) {
        this.position = at + word.length;
        this.push('j-lit', word);
        this.afterValue();
        return;
      }
    }
    NUMBER.lastIndex = at;
    if (NUMBER.test(text)) {
      this.emitToken('j-num', at, NUMBER.lastIndex, maxChars);
      this.afterValue();
      return;
    }
    this.fail(`expected a value but found ${describe(text, at)}`);
  }

  private string(kind: TokenClass, maxChars: number): void {
    const text = this.text;
    const start = this.position;
    let index = start + 1;
    for (;;) {
      if (index >= text.length) return this.fail('a string is not closed', start);
      const code = text.charCodeAt(index);
      if (code === 0x22) break;
      if (code < 0x20) return this.fail('a control character inside a string (it must be escaped)', index);
      if (code === 0x5c) {
        const escape = text[index + 1];
        if (escape === 'u') {
          if (!HEX.test(text.slice(index + 2, index + 6))) return this.fail('an invalid \\u escape', index);
          index += 6;
        } else if (escape !== undefined && ESCAPES.has(escape)) {
          index += 2;
        } else {
          return this.fail('an invalid escape', index);
        }
      } else {
        index += 1;
      }
    }
    this.emitToken(kind, start, index + 1, maxChars);
    if (kind === 'j-key') this.expect = 'colon';
    else this.afterValue();
  }

  private afterValue(): void {
    this.expect = this.stack.length === 0 ? 'end' : 'after-value';
  }

  /** Prints text[start, end) as one token, or as much of it as the budget takes (the rest comes first next time). */
  private emitToken(kind: TokenClass, start: number, end: number, maxChars: number): void {
    let cut = end;
    const room = Math.max(1, maxChars - this.chars);
    if (end - start > room) {
      cut = start + room;
      // Never between the halves of a surrogate pair.
      const unit = this.text.charCodeAt(cut - 1);
      if (unit >= 0xd800 && unit <= 0xdbff && cut - 1 > start) cut -= 1;
    }
    this.push(kind, this.text.slice(start, cut));
    this.position = cut;
    this.partial = cut < end ? { end, kind } : null;
  }

  private push(kind: TokenClass, piece: string): void {
    this.chars += piece.length;
    const last = this.runs.at(-1);
    if (last !== undefined && last[0] === kind) last[1] += piece;
    else this.runs.push([kind, piece]);
  }

  private newline(): void {
    const depth = this.stack.length;
    this.indents[depth] ??= `\n${'  '.repeat(depth)}`;
    this.push('j-punct', this.indents[depth]);
    this.lines += 1;
  }

  private skipSpace(): void {
    const text = this.text;
    let index = this.position;
    while (index < text.length && isSpace(text.charCodeAt(index))) index += 1;
    this.position = index;
  }

  private fail(why: string, at = this.position): void {
    this.error = `${why}, at ${where(this.text, at)}`;
  }
}

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

/** A character of the text, for a message: quoted, or its code point when invisible. */
function describe(text: string, at: number): string {
  const code = text.codePointAt(at);
  if (code === undefined) return 'the end of the text';
  return code > 0x20 && code < 0x7f ? `'${String.fromCodePoint(code)}'` : `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** "line 3, column 7" (1-based, in characters). */
function where(text: string, at: number): string {
  let line = 1;
  let lineStart = 0;
  for (let index = text.indexOf('\n'); index !== -1 && index < at; index = text.indexOf('\n', index + 1)) {
    line += 1;
    lineStart = index + 1;
  }
  return `line ${line}, column ${at - lineStart + 1}`;
}

/** The whole document's runs (for small values and tests): null when it is not valid JSON or nested too deep. */
export function prettyJsonRuns(text: string, maxDepth = JSON_MAX_DEPTH): Run[] | null {
  const printer = new JsonPrinter(text, maxDepth);
  const runs = printer.next(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
  return printer.complete ? runs : null;
}

/** The number of UTF-8 bytes of text[0, end): how much of a value a part of its text stands for. */
export function utf8Length(text: string, end = text.length): number {
  let bytes = 0;
  for (let index = 0; index < end; index += 1) {
    const code = text.charCodeAt(index);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && index + 1 < end) {
      const next = text.charCodeAt(index + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        index += 1;
      } else {
        bytes += 3;
      }
    } else bytes += 3;
  }
  return bytes;
}
