import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { etag, ifNoneMatchHits, writeConditions } from '../../src/http/conditions.js';
import { expectKvError } from '../helpers/assertions.js';

const assertInvalidRequest = (fn: () => unknown, message?: RegExp) => expectKvError(fn, 'invalid_request', message === undefined ? {} : { message });

const MALFORMED = ['', '   ', ',', '5', '"5', '5"', "'5'", 'W/5', 'w/"5"', 'W/ "5"', '"5" "6"', '*, "5"', '"5", *', '**', '"a"b"'];

describe('etag', () => {
  it('quotes the revision', () => {
    assert.equal(etag(5), '"5"');
    assert.equal(etag(1), '"1"');
    assert.equal(etag(Number.MAX_SAFE_INTEGER), '"9007199254740991"');
  });
});

describe('writeConditions', () => {
  it('gives no compares without conditional headers', () => {
    assert.deepEqual(writeConditions('k', undefined, undefined), []);
  });

  it('turns If-Match: * into "must exist"', () => {
    assert.deepEqual(writeConditions('k', '*', undefined), [{ key: 'k', kind: 'exists', expected: true }]);
    assert.deepEqual(writeConditions('k', '  *  ', undefined), [{ key: 'k', kind: 'exists', expected: true }]);
  });

  it('turns If-None-Match: * into "must not exist"', () => {
    assert.deepEqual(writeConditions('k', undefined, '*'), [{ key: 'k', kind: 'exists', expected: false }]);
  });

  it('turns a single If-Match tag into revisionIn', () => {
    assert.deepEqual(writeConditions('a/b', '"5"', undefined), [{ key: 'a/b', kind: 'revisionIn', revisions: [5] }]);
    assert.deepEqual(writeConditions('k', etag(Number.MAX_SAFE_INTEGER), undefined), [{ key: 'k', kind: 'revisionIn', revisions: [Number.MAX_SAFE_INTEGER] }]);
  });

  it('turns an If-Match list into revisionIn with every revision', () => {
    assert.deepEqual(writeConditions('k', '"5", "7"', undefined), [{ key: 'k', kind: 'revisionIn', revisions: [5, 7] }]);
    assert.deepEqual(writeConditions('k', '"5","7" ,  "9"', undefined), [{ key: 'k', kind: 'revisionIn', revisions: [5, 7, 9] }]);
  });

  it('never matches weak tags in If-Match (strong comparison)', () => {
    assert.deepEqual(writeConditions('k', 'W/"5"', undefined), [{ key: 'k', kind: 'revisionIn', revisions: [] }]);
    assert.deepEqual(writeConditions('k', 'W/"5", "7"', undefined), [{ key: 'k', kind: 'revisionIn', revisions: [7] }]);
  });

  it('matches weak tags in If-None-Match (weak comparison)', () => {
    assert.deepEqual(writeConditions('k', undefined, 'W/"5"'), [{ key: 'k', kind: 'revisionNotIn', revisions: [5] }]);
    assert.deepEqual(writeConditions('k', undefined, '"4", W/"5"'), [{ key: 'k', kind: 'revisionNotIn', revisions: [4, 5] }]);
  });

  it('turns If-None-Match tags into revisionNotIn', () => {
    assert.deepEqual(writeConditions('k', undefined, '"5"'), [{ key: 'k', kind: 'revisionNotIn', revisions: [5] }]);
    assert.deepEqual(writeConditions('k', undefined, '"5", "6"'), [{ key: 'k', kind: 'revisionNotIn', revisions: [5, 6] }]);
  });

  it('lets non-numeric quoted tags match nothing', () => {
    assert.deepEqual(writeConditions('k', '"abc"', undefined), [{ key: 'k', kind: 'revisionIn', revisions: [] }]);
    assert.deepEqual(writeConditions('k', '""', undefined), [{ key: 'k', kind: 'revisionIn', revisions: [] }]);
    assert.deepEqual(writeConditions('k', '"-1", "5a", "1.0", "abc", "3"', undefined), [{ key: 'k', kind: 'revisionIn', revisions: [3] }]);
    assert.deepEqual(writeConditions('k', undefined, '"xyz"'), [{ key: 'k', kind: 'revisionNotIn', revisions: [] }]);
    // Larger than any revision kvs can issue.
    assert.deepEqual(writeConditions('k', '"12345678901234567"', undefined), [{ key: 'k', kind: 'revisionIn', revisions: [] }]);
  });

  it('ignores revision 0 tags', () => {
    assert.deepEqual(writeConditions('k', '"0"', undefined), [{ key: 'k', kind: 'revisionIn', revisions: [] }]);
    assert.deepEqual(writeConditions('k', '"0", "3"', undefined), [{ key: 'k', kind: 'revisionIn', revisions: [3] }]);
    assert.deepEqual(writeConditions('k', undefined, '"0"'), [{ key: 'k', kind: 'revisionNotIn', revisions: [] }]);
    assert.deepEqual(writeConditions('k', undefined, 'W/"0", "2"'), [{ key: 'k', kind: 'revisionNotIn', revisions: [2] }]);
  });

  it('matches only the exact tag kvs issued ("05" is not "5")', () => {
    // RFC 9110 compares opaque tags character by character; kvs issues "5", never "05".
    assert.deepEqual(writeConditions('k', '"05"', undefined), [{ key: 'k', kind: 'revisionIn', revisions: [] }]);
    assert.deepEqual(writeConditions('k', undefined, '"007"'), [{ key: 'k', kind: 'revisionNotIn', revisions: [] }]);
  });

  it('treats a well-formed tag containing a comma as a tag that matches nothing, not as malformed', () => {
    // RFC 9110 etagc allows "," (0x2C) inside the quotes.
    assert.deepEqual(writeConditions('k', '"a,b"', undefined), [{ key: 'k', kind: 'revisionIn', revisions: [] }]);
  });

  it('skips empty list elements, as RFC 9110 §5.6.1 asks', () => {
    for (const header of ['"5",', ',"5"', '"5",,"6"', ' , "5" ,, "6" , ']) {
      const [compare] = writeConditions('k', header, undefined);
      assert.equal(compare?.kind, 'revisionIn');
      assert.deepEqual(compare?.kind === 'revisionIn' ? compare.revisions.filter((revision) => revision === 5) : [], [5], header);
    }
  });

  it('gives both compares, If-Match first, when both headers are sent', () => {
    assert.deepEqual(writeConditions('k', '"3"', '"4"'), [
      { key: 'k', kind: 'revisionIn', revisions: [3] },
      { key: 'k', kind: 'revisionNotIn', revisions: [4] },
    ]);
    assert.deepEqual(writeConditions('k', '*', '*'), [
      { key: 'k', kind: 'exists', expected: true },
      { key: 'k', kind: 'exists', expected: false },
    ]);
  });

  it('refuses malformed If-Match with invalid_request naming the header', () => {
    for (const header of MALFORMED) {
      assertInvalidRequest(() => writeConditions('k', header, undefined), /If-Match/);
    }
  });

  it('refuses malformed If-None-Match with invalid_request naming the header', () => {
    for (const header of MALFORMED) {
      assertInvalidRequest(() => writeConditions('k', undefined, header), /If-None-Match/);
    }
  });
});

describe('ifNoneMatchHits', () => {
  it('is false without the header', () => {
    assert.equal(ifNoneMatchHits(undefined, 5), false);
  });

  it('is true for * whatever the revision', () => {
    assert.equal(ifNoneMatchHits('*', 1), true);
    assert.equal(ifNoneMatchHits(' * ', 99), true);
  });

  it('matches the current revision only', () => {
    assert.equal(ifNoneMatchHits('"5"', 5), true);
    assert.equal(ifNoneMatchHits('"5"', 6), false);
    assert.equal(ifNoneMatchHits('"6"', 5), false);
  });

  it('matches any tag of a list', () => {
    assert.equal(ifNoneMatchHits('"3", "5", "8"', 5), true);
    assert.equal(ifNoneMatchHits('"3", "5", "8"', 4), false);
  });

  it('uses weak comparison: W/"5" matches revision 5', () => {
    assert.equal(ifNoneMatchHits('W/"5"', 5), true);
    assert.equal(ifNoneMatchHits('W/"5"', 6), false);
    assert.equal(ifNoneMatchHits('"1", W/"5"', 5), true);
  });

  it('never matches non-numeric tags', () => {
    assert.equal(ifNoneMatchHits('"abc"', 5), false);
    assert.equal(ifNoneMatchHits('""', 5), false);
    assert.equal(ifNoneMatchHits('"5a"', 5), false);
  });

  it('round-trips with etag for any revision', () => {
    for (const revision of [1, 2, 10, 123456, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      assert.equal(ifNoneMatchHits(etag(revision), revision), true);
      assert.equal(ifNoneMatchHits(etag(revision), revision - 1), false);
    }
  });

  it('refuses malformed headers with invalid_request', () => {
    for (const header of MALFORMED) {
      assertInvalidRequest(() => ifNoneMatchHits(header, 5), /If-None-Match/);
    }
  });
});
