import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kvsOk, ndjson } from '../helpers/cli.js';
import { putValue, request } from '../helpers/http.js';
import { useTestServer } from '../helpers/server.js';

/**
 * `kvs ls` of the real CLI: every page of a listing, in the store's order
 * (UTF-8 bytes), with folders (--delimiter) merged among the keys.
 */
let url: string;

/** Key endings whose UTF-8 byte order differs from JavaScript's UTF-16 order (U+FF5E sorts after U+1F600 in UTF-16, before it in bytes). */
const ENDINGS = ['', 'A', 'a', '~', '\u007f', 'é', '\uff5e', '\u{1f600}', '/x', '-'];
/** 2,500 keys under flat/, in no particular order. */
const FLAT = Array.from({ length: 2_500 }, (_, index) => `flat/${(index * 7919) % 250}${ENDINGS[Math.floor(index / 250)]}`);
/** Under tree/: for each i, a key before the folder tree/fI/ (2 keys in it), and one after it: 3 rows per i in a delimited listing. */
const FOLDERS = 800;
const pad = (index: number) => String(index).padStart(4, '0');
const TREE = Array.from({ length: FOLDERS }, (_, index) => [
  `tree/f${pad(index)}-a`,
  `tree/f${pad(index)}/1`,
  `tree/f${pad(index)}/2`,
  `tree/f${pad(index)}x`,
]).flat();

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

const server = useTestServer({}, async () => {
  url = server.url;
  const lines = [...FLAT, ...TREE].map((key) =>
    JSON.stringify({ key, value: Buffer.from(`v:${key}`).toString('base64'), contentType: 'text/plain; charset=utf-8' }),
  );
  const imported = await request(`${url}/v1/admin/import`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: `${lines.join('\n')}\n`,
  });
  assert.equal(imported.status, 200, imported.text);
  assert.equal(imported.body.imported, FLAT.length + TREE.length);
  for (const [key, value, type] of [
    ['mixed/json', '{"a": 1}', 'application/json'],
    ['mixed/text', 'tab\there', 'text/plain'],
    ['mixed/binary', Buffer.from([0, 0xff, 0x10]), 'application/octet-stream'],
  ] as const) {
    assert.equal((await putValue(url, key, value, { headers: { 'content-type': type } })).status, 201);
  }
});

const ls = (args: string[]) => kvsOk(['ls', ...args], { url });
const lines = (text: string) => {
  assert.ok(text === '' || text.endsWith('\n'), 'the output ends with a newline');
  return text === '' ? [] : text.slice(0, -1).split('\n');
};
/** The keys of ls's lines: a line that starts with " is a key quoted as a JSON string (a control character in it, DEL here). */
const keysOf = (text: string) => lines(text).map((line) => (line.startsWith('"') ? (JSON.parse(line) as string) : line));

describe('kvs ls', () => {
  it('follows the cursors: 2,500 keys, each once, in UTF-8 byte order', async () => {
    const expected = [...FLAT].sort(byBytes);
    assert.equal(new Set(expected).size, FLAT.length, 'the test keys are distinct');
    const listed = keysOf(await ls(['flat/']));
    assert.equal(listed.length, expected.length);
    assert.deepEqual(listed, expected);
    // The byte order really is not JavaScript's string order here.
    assert.notDeepEqual(listed, [...FLAT].sort());
  });

  it('--reverse lists descending; --limit stops after N, across pages too', async () => {
    const expected = [...FLAT].sort(byBytes);
    assert.deepEqual(keysOf(await ls(['flat/', '--reverse'])), [...expected].reverse());
    assert.deepEqual(keysOf(await ls(['flat/', '--limit', '3'])), expected.slice(0, 3));
    assert.deepEqual(keysOf(await ls(['flat/', '--limit', '1500'])), expected.slice(0, 1500));
    assert.deepEqual(keysOf(await ls(['flat/', '-r', '--limit', '1001'])), [...expected].reverse().slice(0, 1001));
    assert.deepEqual(keysOf(await ls(['flat/', '--limit', '99999'])), expected);
  });

  it('--start KEY (inclusive) and --end KEY (exclusive) bound the listing, with PREFIX as an intersection', async () => {
    const sorted = [...FLAT].sort(byBytes);
    const within = (start: string, end: string | null) => sorted.filter((key) => byBytes(key, start) >= 0 && (end === null || byBytes(key, end) < 0));
    const range = within('flat/10', 'flat/12');
    assert.ok(range.length > 100, `a range across pages' worth of keys (${range.length})`);
    assert.deepEqual(keysOf(await ls(['--start', 'flat/10', '--end', 'flat/12'])), range);
    assert.deepEqual(keysOf(await ls(['flat/', '--start', 'flat/10', '--end', 'flat/12', '--reverse'])), [...range].reverse());
    assert.deepEqual(
      keysOf(await ls(['flat/2', '--start', 'flat/10'])),
      sorted.filter((key) => key.startsWith('flat/2')),
    );
    assert.deepEqual(keysOf(await ls(['--start', 'flat/99', '--end', 'flat/990', '--limit', '3'])), within('flat/99', 'flat/990').slice(0, 3));
    // Only --start: to the end of the store (tree/ and the other keys after flat/ included).
    const fromStart = keysOf(await ls(['--start', 'flat/249']));
    assert.deepEqual(
      fromStart.filter((key) => key.startsWith('flat/')),
      within('flat/249', null),
    );
    assert.ok(fromStart.includes('tree/f0000x'));
    assert.deepEqual(keysOf(await ls(['--start', 'flat/5', '--end', 'flat/5'])), [], 'an empty range');
  });

  it('with no PREFIX, lists every key', async () => {
    const all = keysOf(await ls([]));
    assert.equal(all.length, FLAT.length + TREE.length + 3);
    assert.deepEqual(all, [...all].sort(byBytes));
  });

  it('--delimiter / shows folders merged among the keys in order, across pages, each once', async () => {
    const expected = Array.from({ length: FOLDERS }, (_, index) => [`tree/f${pad(index)}-a`, `tree/f${pad(index)}/`, `tree/f${pad(index)}x`]).flat();
    assert.deepEqual(lines(await ls(['tree/', '--delimiter', '/'])), expected);
    assert.deepEqual(lines(await ls(['tree/', '-d', '/', '--reverse'])), [...expected].reverse());
    assert.deepEqual(lines(await ls(['tree/', '-d', '/', '--limit', '1000'])), expected.slice(0, 1000));
    assert.deepEqual(lines(await ls(['tree/f0001/', '-d', '/'])), ['tree/f0001/1', 'tree/f0001/2']);
    // -o json: a folder is {"prefix"}, a key its metadata.
    const json = ndjson(await ls(['tree/', '-d', '/', '--limit', '3', '-o', 'json']));
    assert.deepEqual(json[1], { prefix: 'tree/f0000/' });
    assert.equal(json[0].key, 'tree/f0000-a');
    assert.equal(json[2].key, 'tree/f0000x');
  });

  it('--values prints KEY<TAB>VALUE: JSON as JSON, binary as base64, text as is unless a tab or newline would break the line', async () => {
    // The text value holds a tab: printed as is, it would read as a third column, so it is quoted as JSON.
    assert.equal(await ls(['mixed/', '--values']), 'mixed/binary\tAP8Q\nmixed/json\t{"a":1}\nmixed/text\t"tab\\there"\n');
    assert.equal(await ls(['tree/f0000/1', '--values']), 'tree/f0000/1\tv:tree/f0000/1\n', 'plain text as is');
  });

  it('-o json prints one object per key (NDJSON): metadata, and the value with --values', async () => {
    const items = (await request(`${url}/v1/kv?prefix=mixed/`)).body.items;
    const plain = ndjson(await ls(['mixed/', '-o', 'json']));
    assert.deepEqual(plain, items);
    const withValues = ndjson(await ls(['mixed/', '--json', '--values']));
    assert.deepEqual(
      withValues,
      items.map((item: Record<string, unknown>, index: number) => ({
        ...item,
        ...[
          { value: 'AP8Q', encoding: 'base64' },
          { value: { a: 1 }, encoding: 'json' },
          { value: 'tab\there', encoding: 'utf8' },
        ][index],
      })),
    );
    const all = ndjson(await ls(['flat/', '-o', 'json']));
    assert.deepEqual(
      all.map((item) => item.key),
      [...FLAT].sort(byBytes),
    );
  });

  it('prints a key, folder or text value that could break its line (a control character, a leading ") as a JSON string', async () => {
    const keys = ['ctl/"inner"', 'ctl/del\u007f', 'ctl/esc\u001b[31mred', 'ctl/line\nbreak', 'ctl/plain', 'ctl/tab\there', 'ctl/é ok'];
    for (const key of keys)
      assert.equal((await putValue(url, key, key.endsWith('plain') ? 'line\none' : 'v', { headers: { 'content-type': 'text/plain' } })).status, 201, key);
    const printed = lines(await ls(['ctl/']));
    assert.deepEqual(printed, [
      'ctl/"inner"',
      '"ctl/del\\u007f"',
      '"ctl/esc\\u001b[31mred"',
      '"ctl/line\\nbreak"',
      'ctl/plain',
      '"ctl/tab\\there"',
      'ctl/é ok',
    ]);
    assert.deepEqual(
      printed.map((line) => (line.startsWith('"') ? JSON.parse(line) : line)),
      keys,
      'each line reads back as its key',
    );
    // With --values: both columns by the same rule.
    assert.equal(lines(await ls(['ctl/', '--values']))[4], 'ctl/plain\t"line\\none"');
    assert.equal(lines(await ls(['ctl/line', '--values']))[0], '"ctl/line\\nbreak"\tv');
    // A key that starts with " (else it would read as a quoted one), and a folder.
    assert.equal((await putValue(url, '"q"/x', 'v')).status, 201);
    assert.deepEqual(lines(await ls(['"q"'])), ['"\\"q\\"/x"']);
    assert.equal((await putValue(url, 'ctl2/a\nb/c', 'v')).status, 201);
    assert.deepEqual(lines(await ls(['ctl2/', '-d', '/'])), ['"ctl2/a\\nb/"']);
  });

  it('prints nothing for a prefix without keys, and exits 0', async () => {
    assert.equal(await ls(['nothing/here/']), '');
  });
});
