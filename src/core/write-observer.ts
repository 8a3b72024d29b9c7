/**
 * What an engine reports about its writes, for /metrics: a sink the engine is
 * given (so the engine needs nothing of the HTTP layer, where the metrics
 * live). Calls are made on the write path, after the work they describe;
 * implementations only add to counters.
 */
export interface WriteObserver {
  /**
   * A batch became durable: `writes` writes (group-commit jobs on the
   * embedded engine, sweeps and compactions included; one etcd Txn on etcd),
   * `commitSeconds` from handing it to the store to the commit's return,
   * `syncSeconds` from then until it was reported synced (null where the
   * engine has no sync of its own: etcd, whose quorum commit is the txn).
   */
  batchCommitted(writes: number, commitSeconds: number, syncSeconds: number | null): void;
  /** The expiry sweeper removed a key `lagSeconds` after its deadline (from the deadline to the removal being durable). */
  keySwept(lagSeconds: number): void;
}

/** An observer that records nothing: the default. */
export const NO_WRITE_OBSERVER: WriteObserver = Object.freeze({
  batchCommitted: () => {},
  keySwept: () => {},
});
