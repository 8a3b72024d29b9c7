import type { ChangeEvent, Revision, RevisionChanges } from '../../core/types.js';
import { KvError } from '../../core/errors.js';
import { ETCD_WATCH_RETRY_MS } from '../../core/limits.js';
import { EventType, revisionOf, type ResponseHeader, type WatchEvent, type WatchResponse } from './etcd-api.js';
import type { EtcdClient } from './etcd-client.js';
import { decodeRecord, type Keyspace } from './keyspace.js';
import { replicaWrite, type ReplicaBatch } from './replica.js';

/**
 * Turns etcd watch events of the namespace into kvs revisions: groups them by
 * revision, drops kvs's bookkeeping keys, and names deletes. A delete made by
 * kvs shares its revision with a put of the delete marker (Keyspace); a delete
 * without one was etcd expiring a lease, an `expire`. Returns null for a
 * revision with no user-visible change.
 */
export function toRevisions(
  keyspace: Keyspace,
  events: readonly WatchEvent[],
  onForeignValue: (error: Error) => void = () => {},
): Array<{ revision: Revision; changes: RevisionChanges | null }> {
  const out: Array<{ revision: Revision; changes: RevisionChanges | null }> = [];
  let at = 0;
  while (at < events.length) {
    const revision = revisionOf(events[at]!.kv.mod_revision);
    let end = at;
    while (end < events.length && revisionOf(events[end]!.kv.mod_revision) === revision) end++;
    const group = events.slice(at, end);
    at = end;
    const userDelete = group.some((event) => event.type === EventType.put && event.kv.key.equals(keyspace.deleteMarker));
    const changes: ChangeEvent[] = [];
    for (const event of group) {
      if (!keyspace.isData(event.kv.key)) continue;
      if (event.type === EventType.put) {
        let decoded;
        try {
          decoded = decodeRecord(keyspace, event.kv);
        } catch (error) {
          // Another program wrote into kvs's keys: not a kvs change; reads treat the key the same way.
          onForeignValue(error as Error);
          continue;
        }
        const { lease: _lease, ...entry } = decoded;
        changes.push({ type: 'put', key: entry.key, revision, entry });
      } else {
        changes.push({ type: userDelete ? 'delete' : 'expire', key: keyspace.userKey(event.kv.key), revision });
      }
    }
    out.push({ revision, changes: changes.length === 0 ? null : { revision, events: changes } });
  }
  return out;
}

export interface ChangeFeedOptions {
  client: EtcdClient;
  keyspace: Keyspace;
  /** Revisions after this one are reported. */
  after: Revision;
  publish(changes: RevisionChanges): void;
  /** Every revision's changes to the namespace (none for other revisions), in order: the replica's feed. */
  advance(batch: ReplicaBatch): void;
  /**
   * etcd compacted revisions the feed had not read: it resumes at etcd's
   * oldest revision, and the changes in between are lost to it.
   * `compactRevision` is the last revision lost (history is compacted up to it).
   */
  onGap(compactRevision: Revision): void;
  onError(error: unknown): void;
  /**
   * Each watch response's header. Only its cluster id is telling: a watch
   * created on a member still behind the others reports that member's
   * revision, lower than what the feed has seen, with nothing wrong.
   */
  onHeader?(header: ResponseHeader | null): void;
}

/** etcd's whole keyspace, as a watch range: from the smallest key ("\0") to the end ("\0" as range_end). */
const ALL_KEYS = Buffer.from([0]);

/**
 * The live change feed: one etcd watch for the engine's lifetime, resumed
 * from the last revision seen whenever the stream breaks (a member died: the
 * client moves to the next), so each revision is reported once, in order,
 * whichever node wrote it.
 *
 * The watch covers etcd's whole keyspace, not just the namespace: every etcd
 * revision has at least one event (etcd makes a revision only for a txn that
 * changes keys), so the feed sees every revision, and the replica it feeds
 * can tell that it has reached a revision a barrier read even when other
 * applications made the last ones (docs/adr/0011-replica-reads.md). Events
 * outside the namespace only advance the revision.
 */
export class ChangeFeed {
  private seen: Revision;
  private namespaceSeen: Revision;
  private lastChange: Revision = 0;
  private closed = false;
  private cancel: (() => void) | null = null;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: ChangeFeedOptions) {
    this.seen = options.after;
    this.namespaceSeen = options.after;
  }

  /** The last revision that changed a key (bookkeeping revisions left out). */
  get lastChangeRevision(): Revision {
    return this.lastChange;
  }

  /** The last namespace revision the feed has reported (or skipped as bookkeeping). */
  get revision(): Revision {
    return this.namespaceSeen;
  }

  /** The last etcd revision the feed has seen, in the namespace or not. */
  get etcdRevision(): Revision {
    return this.seen;
  }

  start(): void {
    if (this.closed) return;
    const { client } = this.options;
    const { stream, member } = client.openWatch();
    let failed = false;
    const fail = (error: unknown) => {
      if (failed || this.closed) return;
      failed = true;
      stream.removeAllListeners('data');
      stream.cancel();
      client.leave(member);
      this.options.onError(error);
      this.retryTimer = setTimeout(() => this.start(), ETCD_WATCH_RETRY_MS);
    };
    this.cancel = () => {
      failed = true;
      stream.removeAllListeners('data');
      stream.cancel();
    };
    const joiner = new FragmentJoiner();
    stream.on('data', (response: WatchResponse) => {
      try {
        this.options.onHeader?.(response.header);
      } catch (error) {
        this.options.onError(error);
      }
      if (failed) return; // the header made the engine rewind the feed: this stream is gone
      const events = joiner.complete(response);
      if (response.canceled) {
        const compacted = revisionOf(response.compact_revision);
        if (compacted > this.seen + 1) {
          // History the feed had not read yet is gone: the changes in between are lost to it.
          this.options.onError(
            new Error(
              `etcd compacted revisions up to ${compacted - 1} before the change feed read them; the feed resumes at ${compacted}, its watchers are told (history_compacted) and the replica reloads`,
            ),
          );
          this.seen = compacted - 1;
          this.namespaceSeen = Math.max(this.namespaceSeen, compacted - 1);
          try {
            this.options.onGap(compacted - 1);
          } catch (error) {
            this.options.onError(error);
          }
        }
        fail(new Error(`etcd cancelled the change feed's watch: ${response.cancel_reason || 'no reason given'}`));
        return;
      }
      try {
        this.deliver(events);
      } catch (error) {
        this.options.onError(error); // a listener's failure must not take the feed (or the process) down
      }
    });
    stream.on('error', (error) => fail(error));
    stream.on('end', () => fail(new Error('etcd ended the change feed stream')));
    stream.write({ create_request: { key: ALL_KEYS, range_end: ALL_KEYS, start_revision: this.seen + 1, fragment: true } });
  }

  /**
   * etcd's history went back to `revision` (it was restored from a backup,
   * docs/adr/0011-replica-reads.md): what the feed saw after it is void. Its
   * revisions move back to `revision`, said out loud here rather than by a
   * silent decrease, and it watches again from the next one.
   */
  rewind(revision: Revision): void {
    this.options.onError(
      new Error(`etcd's revision went back from ${this.seen} to ${revision} (restored from a backup?); the change feed watches again from ${revision + 1}`),
    );
    this.seen = revision;
    this.namespaceSeen = revision;
    this.lastChange = Math.min(this.lastChange, revision);
    if (this.closed) return;
    this.cancel?.();
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.start();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.cancel?.();
  }

  /** One watch message's complete revisions: to the replica in one batch, then to the listeners, revision by revision. */
  private deliver(events: readonly WatchEvent[]): void {
    const { keyspace } = this.options;
    const fresh = events.filter((event) => revisionOf(event.kv.mod_revision) > this.seen);
    if (fresh.length === 0) return;
    const inNamespace = fresh.filter((event) => keyspace.contains(event.kv.key));
    const last = revisionOf(fresh[fresh.length - 1]!.kv.mod_revision);
    let bytes = 0;
    const writes = inNamespace.map((event) => {
      bytes += event.kv.key.length + event.kv.value.length;
      return replicaWrite(keyspace, event);
    });
    this.seen = last;
    this.options.advance({ revision: last, writes, bytes });
    for (const { revision, changes } of toRevisions(keyspace, inNamespace, (error) => this.options.onError(error))) {
      this.namespaceSeen = revision;
      if (changes === null) continue;
      this.lastChange = revision;
      this.options.publish(changes);
    }
  }
}

/**
 * The changes of revisions `after < r <= upTo` from etcd's history, through a
 * watch that starts at `after + 1` and ends once it has read `upTo`. The
 * watch covers etcd's whole keyspace, as the change feed's does, so it ends
 * on any revision etcd has made, whether or not it changed the namespace
 * (the feed's revision after a gap need not have); a deadline guards the
 * rest. Its cost is the revisions of other applications in the window.
 */
export function readHistory(
  client: EtcdClient,
  keyspace: Keyspace,
  after: Revision,
  upTo: Revision,
  limit: number,
  valueBytesMax: number,
  timeoutMs: number,
): Promise<RevisionChanges[]> {
  return new Promise((resolve, reject) => {
    const { stream, member } = client.openWatch();
    const collected: RevisionChanges[] = [];
    let valueBytes = 0;
    let settled = false;
    const finish = (error: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream.removeAllListeners('data');
      stream.on('error', () => {}); // the cancel below surfaces as a CANCELLED error
      stream.cancel();
      if (error === null) resolve(collected);
      else reject(error);
    };
    const timer = setTimeout(() => {
      client.leave(member);
      finish(new KvError('unavailable', `etcd did not return the history after revision ${after} in time`, { retryAfterSeconds: 1 }));
    }, timeoutMs);
    const joiner = new FragmentJoiner();
    stream.on('data', (response: WatchResponse) => {
      const events = joiner.complete(response);
      if (response.canceled) {
        const compactRevision = revisionOf(response.compact_revision);
        if (compactRevision > 0) {
          finish(
            new KvError(
              'history_compacted',
              `history before revision ${compactRevision} is compacted; watch from ${compactRevision - 1} or later, or read the current state first`,
              { compactRevision: compactRevision - 1 },
            ),
          );
        } else {
          finish(new KvError('unavailable', `etcd cancelled a history read: ${response.cancel_reason || 'no reason given'}`, { retryAfterSeconds: 1 }));
        }
        return;
      }
      for (const { revision, changes } of toRevisions(
        keyspace,
        events.filter((event) => keyspace.contains(event.kv.key) || revisionOf(event.kv.mod_revision) >= upTo),
      )) {
        if (revision > upTo) return finish(null);
        if (changes !== null) {
          collected.push(changes);
          for (const event of changes.events) valueBytes += event.entry?.value.length ?? 0;
        }
        if (revision === upTo || collected.length >= limit || valueBytes >= valueBytesMax) return finish(null);
      }
    });
    stream.on('error', (error) => {
      client.leave(member);
      finish(new KvError('unavailable', `etcd broke off a history read: ${error.message}`, { retryAfterSeconds: 1 }));
    });
    stream.on('end', () => finish(new KvError('unavailable', 'etcd ended a history read early', { retryAfterSeconds: 1 })));
    stream.write({ create_request: { key: ALL_KEYS, range_end: ALL_KEYS, start_revision: after + 1, fragment: true } });
  });
}

/**
 * etcd may split one batch of watch events over several messages (`fragment`,
 * each under its request limit), and one revision's events over two of them.
 * Each message hands on the revisions known complete, holding back only the
 * last revision of an unfinished batch, so memory stays near one message.
 */
export class FragmentJoiner {
  private held: WatchEvent[] = [];

  complete(response: Pick<WatchResponse, 'fragment' | 'events'>): WatchEvent[] {
    const events = this.held.length === 0 ? response.events : this.held.concat(response.events);
    this.held = [];
    if (!response.fragment || events.length === 0) return events;
    const last = events[events.length - 1]!.kv.mod_revision;
    let split = events.length;
    while (split > 0 && events[split - 1]!.kv.mod_revision === last) split--;
    this.held = events.slice(split);
    return events.slice(0, split);
  }
}
