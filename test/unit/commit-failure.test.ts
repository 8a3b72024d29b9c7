import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commitFailure } from '../../src/engine/lmdb/group-commit.js';

describe('commitFailure: what writers hear when a commit fails', () => {
  it('reports a full map or disk as 507 storage_full', () => {
    for (const error of [
      new Error('MDB_MAP_FULL: Environment mapsize limit reached'),
      Object.assign(new Error('write failed'), { code: 'ENOSPC' }),
      new Error('No space left on device'),
    ]) {
      const reported = commitFailure(error);
      assert.equal(reported.code, 'storage_full');
      assert.equal(reported.status, 507);
    }
  });

  it('reports any other failure as 503 unavailable with Retry-After, never as a bare 500', () => {
    const reported = commitFailure(new Error('Commit failed (see commitError for details)'));
    assert.equal(reported.code, 'unavailable');
    assert.equal(reported.status, 503);
    assert.equal(reported.extras.retryAfterSeconds, 1);
    assert.match(reported.message, /not applied/);
  });
});
