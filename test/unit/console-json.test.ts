import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { webModule } from '../helpers/web.js';

/** The console's JSON printer (src/web/json.ts): exact, linear, bounded. */

type Run = [string, string];
interface Printer {
  position: number;
  error: string | null;
  tooDeep: boolean;
  readonly finished: boolean;
  readonly complete: boolean;
  next(maxChars: number, maxLines: number): Run[];
}
interface JsonModule {
  JSON_MAX_DEPTH: number;
  JsonPrinter: new (text: string, maxDepth?: number) => Printer;
  prettyJsonRuns(text: string, maxDepth?: number): Run[] | null;
  utf8Length(text: string, end?: number): number;
}

let json: JsonModule;
before(async () => {
  json = await webModule<JsonModule>('json');
});

const textOf = (runs: Run[]) => runs.map(([, piece]) => piece).join('');
const pretty = (text: string) => {
  const runs = json.prettyJsonRuns(text);
  return runs === null ? null : textOf(runs);
};
/** The text printed a chunk at a time, until the printer is finished. */
function chunked(text: string, maxChars: number, maxLines: number): { text: string; printer: Printer; chunks: number } {
  const printer = new json.JsonPrinter(text);
  let out = '';
  let chunks = 0;
  while (!printer.finished) {
    out += textOf(printer.next(maxChars, maxLines));
    chunks += 1;
    assert.ok(chunks < 1_000_000, 'the printer makes progress');
  }
  return { text: out, printer, chunks };
}

describe('the JSON printer', () => {
  it('indents by two, keeps empty containers on one line, and classes every token', () => {
    const runs = json.prettyJsonRuns('{"a":[1,2,{}],"b":{"c":null,"d":[]},"e":"x","f":true}')!;
    assert.equal(textOf(runs), '{\n  "a": [\n    1,\n    2,\n    {}\n  ],\n  "b": {\n    "c": null,\n    "d": []\n  },\n  "e": "x",\n  "f": true\n}');
    assert.deepEqual(
      runs.filter(([kind]) => kind !== 'j-punct'),
      [
        ['j-key', '"a"'],
        ['j-num', '1'],
        ['j-num', '2'],
        ['j-key', '"b"'],
        ['j-key', '"c"'],
        ['j-lit', 'null'],
        ['j-key', '"d"'],
        ['j-key', '"e"'],
        ['j-str', '"x"'],
        ['j-key', '"f"'],
        ['j-lit', 'true'],
      ],
    );
  });

  it('keeps numbers and escapes exactly as written (no round trip through a double)', () => {
    assert.equal(pretty('[18446744073709551617, 1e400, -0.0e-0, "\\u00e9\\/\\n"]'), '[\n  18446744073709551617,\n  1e400,\n  -0.0e-0,\n  "\\u00e9\\/\\n"\n]');
    assert.equal(pretty(' "top" '), '"top"');
    assert.equal(pretty('12'), '12');
  });

  it('prints what JSON.stringify(value, null, 2) prints, for any JSON', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 6 }), (text) => {
        assert.equal(pretty(text), JSON.stringify(JSON.parse(text), null, 2));
      }),
      { numRuns: 300 },
    );
  });

  it('accepts exactly what JSON.parse accepts', () => {
    const unit = fc.constantFrom(
      '{',
      '}',
      '[',
      ']',
      ',',
      ':',
      '"',
      '\\',
      'u',
      '0',
      '1',
      '9',
      '-',
      '+',
      '.',
      'e',
      'E',
      't',
      'r',
      'e',
      'f',
      'a',
      'l',
      's',
      'n',
      ' ',
      '\n',
      '\t',
      '\u00a0',
      '\u0001',
      'x',
    );
    const parses = (text: string) => {
      try {
        JSON.parse(text);
        return true;
      } catch {
        return false;
      }
    };
    const check = (text: string) => assert.equal(pretty(text) !== null, parses(text), JSON.stringify(text));
    fc.assert(fc.property(fc.string({ unit, maxLength: 24 }), check), { numRuns: 3000 });
    // Valid documents with one character changed, dropped or added.
    fc.assert(
      fc.property(fc.json({ maxDepth: 4 }), fc.nat(), unit, fc.constantFrom('replace', 'drop', 'add'), (text, at, character, how) => {
        const index = at % (text.length + 1);
        const changed =
          how === 'replace'
            ? text.slice(0, index) + character + text.slice(index + 1)
            : how === 'drop'
              ? text.slice(0, index) + text.slice(index + 1)
              : text.slice(0, index) + character + text.slice(index);
        check(changed);
      }),
      { numRuns: 2000 },
    );
    for (const text of [
      '',
      '  ',
      '{',
      '[1,]',
      '{"a"}',
      '{"a":1,}',
      '01',
      '1.',
      '.5',
      '+1',
      '"\\x"',
      '"\\u12"',
      '"a\nb"',
      'nul',
      'true false',
      '[1]x',
      '\ufeff{}',
      '{"a":1}}',
    ])
      check(text);
  });

  it('says where invalid JSON is wrong', () => {
    const printer = new json.JsonPrinter('{\n  "a": 1,\n  "b": x\n}');
    printer.next(Infinity, Infinity);
    assert.equal(printer.error, "expected a value but found 'x', at line 3, column 8");
    assert.equal(printer.complete, false);
  });

  it('printed a chunk at a time, joins into the same text, whatever the budget (tokens may be cut)', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 5 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 6 }), (text, maxChars, maxLines) => {
        const { text: out, printer } = chunked(text, maxChars, maxLines);
        assert.equal(printer.complete, true);
        assert.equal(out, pretty(text));
      }),
      { numRuns: 300 },
    );
    // A long string is cut between chunks, never between the halves of a surrogate pair.
    const long = JSON.stringify('😀'.repeat(1000));
    const printer = new json.JsonPrinter(long);
    const first = textOf(printer.next(101, 10));
    assert.ok(first.length <= 101);
    assert.ok(!/[\ud800-\udbff]$/.test(first), 'no lone high surrogate at the cut');
  });

  it('is linear and bounded: deep nesting stops at JSON_MAX_DEPTH at once; a chunk never exceeds its budget', () => {
    for (const depth of [3000, 6000, 100_000]) {
      const text = '['.repeat(depth) + ']'.repeat(depth);
      const started = performance.now();
      const printer = new json.JsonPrinter(text);
      const runs = printer.next(256 * 1024, 5000);
      const ms = performance.now() - started;
      assert.equal(printer.tooDeep, true, `depth ${depth}`);
      assert.equal(printer.finished, true);
      assert.ok(textOf(runs).length < 20_000, `depth ${depth}: ${textOf(runs).length} characters`);
      assert.ok(ms < 200, `depth ${depth}: ${ms} ms`);
    }
    // Within the depth limit, it formats.
    const nested = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
    assert.ok(pretty(nested(json.JSON_MAX_DEPTH)) !== null);
    assert.equal(pretty(nested(json.JSON_MAX_DEPTH + 1)), null);

    // 4 MiB of [0,0,...]: each chunk is within its budget, and formatting all of it is linear.
    const big = `[${new Array(2 * 1024 * 1024).fill('0').join(',')}]`;
    const printer = new json.JsonPrinter(big);
    const started = performance.now();
    const first = textOf(printer.next(256 * 1024, 5000));
    assert.ok(first.length <= 256 * 1024);
    assert.equal(first.split('\n').length, 5001);
    assert.ok(performance.now() - started < 200);
    // All of it, a chunk at a time: "[\n", then "  0" per element, ",\n" between, "\n]".
    const elements = 256 * 1024;
    const all = chunked(`[${new Array(elements).fill('0').join(',')}]`, 256 * 1024, 5000);
    assert.equal(all.printer.complete, true);
    assert.equal(all.text.length, 5 * elements + 2);
    assert.equal(all.chunks, Math.ceil(elements / 5000));
  });

  it('counts UTF-8 bytes of a prefix', () => {
    for (const text of ['', 'abc', 'é', '😀', 'a😀é€x', '\ud800x', 'x\udc00']) {
      assert.equal(json.utf8Length(text), Buffer.byteLength(text, 'utf8'), JSON.stringify(text));
    }
    assert.equal(json.utf8Length('a😀b', 1), 1);
    assert.equal(json.utf8Length('a😀b', 3), 5);
  });
});
