import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyLocks } from '../../src/engine/etcd/key-locks.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('KeyLocks (per-key queues of the etcd engine)', () => {
  it('holds a key until released, then hands it to the next waiter in arrival order', async () => {
    const locks = new KeyLocks();
    const order: string[] = [];
    const first = await locks.acquire(['k']);
    const second = locks.acquire(['k']).then((release) => (order.push('second'), release));
    const third = locks.acquire(['k']).then((release) => (order.push('third'), release));
    await tick();
    assert.deepEqual(order, [], 'nobody gets a held key');
    first();
    (await second)();
    (await third)();
    assert.deepEqual(order, ['second', 'third']);
  });

  it('lets holders of different keys run at once', async () => {
    const locks = new KeyLocks();
    const a = await locks.acquire(['a']);
    const b = await Promise.race([locks.acquire(['b']), tick().then(() => null)]);
    assert.notEqual(b, null, 'b is free while a is held');
    a();
    b!();
  });

  it('takes overlapping key sets in one order, so opposite orders cannot deadlock', async () => {
    const locks = new KeyLocks();
    const results = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const release = await locks.acquire(i % 2 === 0 ? ['x', 'y'] : ['y', 'x', 'x']);
        await tick();
        release();
        return i;
      }),
    );
    assert.equal(results.length, 50);
    const again = await locks.acquire(['x', 'y']);
    again();
  });
});
