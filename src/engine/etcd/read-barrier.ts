import type { Revision } from '../../core/types.js';

/** What a barrier waits on: the node's replica (replica.ts). */
export interface BarrierTarget {
  /** False while the replica cannot answer (loading, or known to lag): reads go to etcd without a barrier. */
  readonly usable: boolean;
  /** Resolves true once the replica has applied `revision`, false if it cannot within `timeoutMs`. */
  waitFor(revision: Revision, startedAtMs: number, timeoutMs: number): Promise<boolean>;
}

export interface ReadBarrierOptions {
  /** A linearizable read of etcd's current revision (a count-only Range of one key): etcd's quorum confirms it. */
  quorumRevision: () => Promise<Revision>;
  target: BarrierTarget;
  /** How long a round waits for the replica to apply the revision it read before giving up on the replica. */
  waitMs: number;
  now: () => number;
}

interface Round {
  promise: Promise<boolean>;
  resolve: (fresh: boolean) => void;
  reject: (error: unknown) => void;
}

/**
 * Linearizable reads from the node's replica (docs/adr/0011-replica-reads.md,
 * after Kubernetes' consistent reads from cache, KEP-2340). `fresh()`
 * resolves true once the replica has applied a revision that etcd reached
 * after the call: the revision of a quorum read that *started* after it. Any
 * write acknowledged before the call has a revision at or below that one, so
 * the replica then holds it, and so does any read answered from it.
 *
 * Barriers are shared. At most one quorum read is in flight; every call that
 * arrives while it is goes into the next round, which starts when it
 * returns. So under load one quorum round trip serves every read a node
 * received in the meantime, and etcd's cost of reads no longer grows with
 * their number. A round's waiting for the replica does not hold up the next
 * round's quorum read.
 *
 * `fresh()` resolves false when the replica cannot answer (loading, lagging
 * past `waitMs`): the caller reads etcd directly, which is linearizable too.
 * It rejects when etcd does not answer the quorum read (a KvError
 * `unavailable` from the client: 503 with Retry-After).
 */
export class ReadBarrier {
  private reading = false;
  private next: Round | null = null;
  private rounds = 0;

  constructor(private readonly options: ReadBarrierOptions) {}

  /** Quorum reads made since start: with shared rounds, far fewer than the reads they served. */
  get quorumReads(): number {
    return this.rounds;
  }

  fresh(): Promise<boolean> {
    if (!this.options.target.usable) return Promise.resolve(false);
    if (!this.reading) return this.run();
    if (this.next === null) {
      let resolve!: (fresh: boolean) => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<boolean>((resolveRound, rejectRound) => {
        resolve = resolveRound;
        reject = rejectRound;
      });
      this.next = { promise, resolve, reject };
    }
    return this.next.promise;
  }

  private run(): Promise<boolean> {
    this.reading = true;
    this.rounds++;
    const startedAtMs = this.options.now();
    const read = this.options.quorumRevision();
    const startNext = () => {
      this.reading = false;
      const next = this.next;
      this.next = null;
      if (next !== null) this.run().then(next.resolve, next.reject);
    };
    return read.then(
      (revision) => {
        startNext();
        return this.options.target.usable ? this.options.target.waitFor(revision, startedAtMs, this.options.waitMs) : false;
      },
      (error: unknown) => {
        startNext();
        throw error;
      },
    );
  }
}
