import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, decodeRecordCopy, encodeRecord, recordExpiresAtMs } from '../../src/engine/lmdb/record-codec.js';
import type { Entry } from '../../src/core/types.js';

type Stored = Omit<Entry, 'key'>;

function sample(overrides: Partial<Stored> = {}): Stored {
  return {
    value: Buffer.from('hello'),
    contentType: 'text/plain',
    createRevision: 3,
    revision: 7,
    version: 2,
    expiresAtMs: null,
    ...overrides,
  };
}

function assertRoundTrip(stored: Stored, key = 'k'): void {
  const record = encodeRecord(stored);
  for (const decode of [decodeRecord, decodeRecordCopy]) {
    const entry = decode(key, record);
    assert.deepEqual(entry, { key, ...stored }, decode.name);
  }
}

describe('encodeRecord / decodeRecord', () => {
  it('round-trips a plain entry', () => {
    assertRoundTrip(sample());
  });

  it('round-trips an empty value', () => {
    assertRoundTrip(sample({ value: Buffer.alloc(0) }));
    const entry = decodeRecord('k', encodeRecord(sample({ value: Buffer.alloc(0) })));
    assert.equal(entry.value.length, 0);
  });

  it('round-trips an empty content type', () => {
    assertRoundTrip(sample({ contentType: '' }));
  });

  it('round-trips a content type with multi-byte characters', () => {
    assertRoundTrip(sample({ contentType: 'text/plain; charset=utf-8; title="日本語 😀 é"' }));
    assertRoundTrip(sample({ contentType: 'ü'.repeat(256), value: Buffer.from([0xde, 0xad]) }));
  });

  it('round-trips binary values, including ones that look like a header', () => {
    assertRoundTrip(sample({ value: Buffer.from(Array.from({ length: 256 }, (_, i) => i)) }));
    assertRoundTrip(sample({ value: encodeRecord(sample()) }));
    assertRoundTrip(sample({ value: Buffer.alloc(100_000, 0xab) }));
  });

  it('round-trips revisions and versions up to 2^53−1 exactly', () => {
    const max = Number.MAX_SAFE_INTEGER;
    assertRoundTrip(sample({ createRevision: max, revision: max, version: max }));
    assertRoundTrip(sample({ createRevision: 1, revision: max - 1, version: 2 ** 32 + 1 }));
    assertRoundTrip(sample({ createRevision: 2 ** 53 - 2, revision: 2 ** 53 - 1, version: 1 }));
  });

  it('round-trips expiresAtMs null and set', () => {
    assertRoundTrip(sample({ expiresAtMs: null }));
    assertRoundTrip(sample({ expiresAtMs: 1_767_225_600_123 }));
    assertRoundTrip(sample({ expiresAtMs: 1 }));
    assertRoundTrip(sample({ expiresAtMs: Date.UTC(2300, 0, 1) }));
  });

  it('uses the documented layout', () => {
    const record = encodeRecord(sample({ contentType: 'é', value: Buffer.from('v'), createRevision: 1, revision: 2, version: 3, expiresAtMs: 4 }));
    assert.equal(record.length, 35 + 2 + 1);
    assert.equal(record[0], 1);
    assert.equal(record.readDoubleBE(1), 1);
    assert.equal(record.readDoubleBE(9), 2);
    assert.equal(record.readDoubleBE(17), 3);
    assert.equal(record.readDoubleBE(25), 4);
    assert.equal(record.readUInt16BE(33), 2);
    assert.deepEqual(record.subarray(35, 37), Buffer.from('é', 'utf8'));
    assert.deepEqual(record.subarray(37), Buffer.from('v'));
  });

  it('passes the key through', () => {
    const entry = decodeRecord('app/日本', encodeRecord(sample()));
    assert.equal(entry.key, 'app/日本');
  });

  it('decodeRecord returns a view of the record (no copy)', () => {
    const record = encodeRecord(sample({ value: Buffer.from('abc') }));
    const entry = decodeRecord('k', record);
    record[record.length - 1] = 0x7a;
    assert.deepEqual(entry.value, Buffer.from('abz'));
  });
});

describe('decodeRecordCopy', () => {
  it('returns a value independent of the source buffer', () => {
    for (const value of [Buffer.from('abc'), Buffer.alloc(10_000, 0x11), Buffer.alloc(0)]) {
      const record = encodeRecord(sample({ value, contentType: 'application/json' }));
      const entry = decodeRecordCopy('k', record);
      const expected = Buffer.from(value);
      record.fill(0xee);
      assert.deepEqual(entry.value, expected);
      assert.equal(entry.contentType, 'application/json');
      assert.equal(entry.revision, 7);
    }
  });

  it('does not share memory with the source when the source is a view into a larger buffer', () => {
    const record = encodeRecord(sample({ value: Buffer.from('payload') }));
    const arena = Buffer.alloc(record.length + 64, 0);
    record.copy(arena, 32);
    const view = arena.subarray(32, 32 + record.length);
    const entry = decodeRecordCopy('k', view);
    arena.fill(0x00);
    assert.deepEqual(entry.value, Buffer.from('payload'));
  });
});

describe('recordExpiresAtMs', () => {
  it('reads the expiry without decoding the rest', () => {
    assert.equal(recordExpiresAtMs(encodeRecord(sample({ expiresAtMs: null }))), null);
    assert.equal(recordExpiresAtMs(encodeRecord(sample({ expiresAtMs: 1_700_000_000_000 }))), 1_700_000_000_000);
  });
});

describe('corrupt records', () => {
  it('throws on an empty buffer', () => {
    assert.throws(() => decodeRecord('k', Buffer.alloc(0)), /corrupt record/);
    assert.throws(() => decodeRecordCopy('k', Buffer.alloc(0)), /corrupt record/);
  });

  it('throws on a record shorter than the header', () => {
    const record = encodeRecord(sample());
    for (const length of [1, 10, 34]) {
      assert.throws(() => decodeRecord('k', record.subarray(0, length)), /corrupt record/);
      assert.throws(() => decodeRecordCopy('k', record.subarray(0, length)), /corrupt record/);
    }
  });

  it('throws on an unknown format byte, naming the key', () => {
    const record = encodeRecord(sample());
    for (const format of [0, 2, 0xff]) {
      const copy = Buffer.from(record);
      copy[0] = format;
      assert.throws(() => decodeRecord('my/key', copy), /corrupt record.*my\/key/);
    }
  });

  it('accepts a header-only record (empty content type and value)', () => {
    const record = encodeRecord(sample({ contentType: '', value: Buffer.alloc(0) }));
    assert.equal(record.length, 35);
    assert.deepEqual(decodeRecord('k', record).value, Buffer.alloc(0));
  });

  it('throws when the content type length runs past the end of the record', () => {
    // Header intact, body truncated: the record cannot hold the content type it announces.
    const record = encodeRecord(sample({ contentType: 'application/json', value: Buffer.from('{}') }));
    const truncated = record.subarray(0, 35 + 4);
    assert.throws(() => decodeRecord('k', truncated), /corrupt record/);
  });
});
