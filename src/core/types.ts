/**
 * The domain model, shaped after etcd's mvccpb.KeyValue so that an etcd-backed
 * engine maps onto it one-to-one.
 *
 * A revision is the store-wide counter: every write transaction that changes
 * at least one key gets the next revision, shared by all keys it changes.
 * Revision 0 means "no write yet" (and, in a compare, "the key is absent").
 */
export type Revision = number;

/** A live key with its value and counters. */
export interface Entry {
  key: string;
  value: Buffer;
  /** As sent by the writer; `application/octet-stream` when none was sent. */
  contentType: string;
  /** Revision of the write that created this incarnation of the key. */
  createRevision: Revision;
  /** Revision of the write that last modified the key (etcd's mod_revision). */
  revision: Revision;
  /** Writes since creation; 1 for a new key. A delete resets it. */
  version: number;
  /** Absolute expiry in ms since the epoch, or null for no TTL. */
  expiresAtMs: number | null;
}

/** An entry without its value bytes: what range listings and write results carry. */
export type EntryMeta = Omit<Entry, 'value'> & { size: number };

export type ChangeType = 'put' | 'delete' | 'expire';

/** One key changed at one revision; the unit of the change log and the watch feed. */
export interface ChangeEvent {
  type: ChangeType;
  key: string;
  revision: Revision;
  /** Present for `put`. */
  entry?: Entry;
}

/** Every event of one revision, in the order the transaction applied them. */
export interface RevisionChanges {
  revision: Revision;
  events: ChangeEvent[];
}
