/**
 * Per-key queues within one kvs node. Optimistic etcd transactions on a hot
 * key (a counter) would otherwise race each other from the same node and
 * mostly lose, each loss costing two etcd round trips; queued, they only ever
 * race writers on other nodes. Keys are taken in sorted order, so two
 * transactions over overlapping keys cannot wait for each other in a cycle.
 */
export class KeyLocks {
  private readonly tails = new Map<string, Promise<void>>();

  /** Waits until every key is free, holds them, and returns the function that frees them. */
  async acquire(keys: readonly string[]): Promise<() => void> {
    const releases: Array<() => void> = [];
    for (const key of [...new Set(keys)].sort()) {
      const previous = this.tails.get(key) ?? Promise.resolve();
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const tail = previous.then(() => held);
      this.tails.set(key, tail);
      releases.push(() => {
        release();
        // The last holder cleans up, so idle keys cost nothing.
        void tail.then(() => {
          if (this.tails.get(key) === tail) this.tails.delete(key);
        });
      });
      await previous;
    }
    return () => {
      for (const release of releases) release();
    };
  }
}
