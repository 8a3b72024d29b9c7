import type { ChangeEvent, Revision, RevisionChanges } from '../../core/types.js';
import { KvError } from '../../core/errors.js';
import { ETCD_WATCH_RETRY_MS } from '../../core/limits.js';
import { EventType, revisionOf, type WatchEvent, type WatchResponse } from './etcd-api.js';
import type { EtcdClient } from './etcd-client.js';
import { decodeRecord, type Keyspace } from './keyspace.js';

/**
 * Turns etcd watch events of the namespace into kvs revisions: groups them by
 * revision, drops kvs's bookkeeping keys, and names deletes. A delete made by
 * kvs shares its revision with a put of the delete marker (Keyspace); a delete
 * without one was etcd expiring a lease, an `expire`. Returns null for a
 * revision with no user-visible change.
 */
export function toRevisions(keyspace: Keyspace, events: readonly WatchEvent[], onForeignValue: (error: Error) => void = () => {}): Array<{ revision: Revision; changes: RevisionChanges | null }> {
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
  onError(error: unknown): void;
}

/**
 * The live change feed: one etcd watch on the namespace for the engine's
 * lifetime, resumed from the last revision seen whenever the stream breaks
 * (a member died: the client moves to the next), so each revision is
 * reported once, in order, whichever node wrote it.
 */
export class ChangeFeed {
  private seen: Revision;
  private lastChange: Revision = 0;
  private closed = false;
  private cancel: (() => void) | null = null;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: ChangeFeedOptions) {
    this.seen = options.after;
  }

  /** The last revision that changed a key (bookkeeping revisions left out). */
  get lastChangeRevision(): Revision {
    return this.lastChange;
  }

  /** The last namespace revision the feed has reported (or skipped as bookkeeping). */
  get revision(): Revision {
    return this.seen;
  }

  start(): void {
    if (this.closed) return;
    const { client, keyspace } = this.options;
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
      stream.cancel();
    };
    const joiner = new FragmentJoiner();
    stream.on('data', (response: WatchResponse) => {
      const events = joiner.complete(response);
      if (response.canceled) {
        const compacted = revisionOf(response.compact_revision);
        if (compacted > 0) {
          // History the feed had not read yet is gone: watchers cannot be told what they missed.
          this.options.onError(new Error(`etcd compacted revisions up to ${compacted} before the change feed read them; changes ${this.seen + 1}..${compacted - 1} were not reported`));
          this.seen = compacted - 1;
        }
        fail(new Error(`etcd cancelled the change feed's watch: ${response.cancel_reason || 'no reason given'}`));
        return;
      }
      try {
        for (const { revision, changes } of toRevisions(keyspace, events, (error) => this.options.onError(error))) {
          if (revision <= this.seen) continue;
          this.seen = revision;
          if (changes === null) continue;
          this.lastChange = revision;
          this.options.publish(changes);
        }
      } catch (error) {
        this.options.onError(error); // a listener's failure must not take the feed (or the process) down
      }
    });
    stream.on('error', (error) => fail(error));
    stream.on('end', () => fail(new Error('etcd ended the change feed stream')));
    stream.write({ create_request: { key: keyspace.namespace, range_end: keyspace.namespaceEnd, start_revision: this.seen + 1, fragment: true } });
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.cancel?.();
  }
}

/**
 * The changes of revisions `after < r <= upTo` from etcd's history, through a
 * watch that starts at `after + 1` and ends once it has read `upTo`. `upTo`
 * must be a revision with an event in the namespace (the change feed's
 * revision is), or this would wait for it; a deadline guards against that.
 */
export function readHistory(client: EtcdClient, keyspace: Keyspace, after: Revision, upTo: Revision, limit: number, valueBytesMax: number, timeoutMs: number): Promise<RevisionChanges[]> {
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
          finish(new KvError('history_compacted', `history before revision ${compactRevision} is compacted; watch from ${compactRevision - 1} or later, or read the current state first`, { compactRevision: compactRevision - 1 }));
        } else {
          finish(new KvError('unavailable', `etcd cancelled a history read: ${response.cancel_reason || 'no reason given'}`, { retryAfterSeconds: 1 }));
        }
        return;
      }
      for (const { revision, changes } of toRevisions(keyspace, events)) {
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
    stream.write({ create_request: { key: keyspace.namespace, range_end: keyspace.namespaceEnd, start_revision: after + 1, fragment: true } });
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
