import { prefixEnd } from '../../core/keys.js';
import type { Entry } from '../../core/types.js';
import type { KeyValue } from './etcd-api.js';
import { revisionOf } from './etcd-api.js';
import { EXPIRY_BYTES, FORMAT_AND_FLAGS_BYTES, TYPE_LENGTH_BYTES } from './record-layout.js';

/**
 * Where one kvs store lives in etcd: every key under a namespace prefix (so
 * several stores, or other applications, can share a cluster), user keys
 * under `<namespace>k/`, kvs's own bookkeeping under `<namespace>m/`.
 *
 * A user key is stored as its UTF-8 bytes after the data prefix; the etcd
 * value is a small header (format, expiry, content type) and the value bytes.
 */
export class Keyspace {
  readonly namespace: Buffer;
  readonly namespaceEnd: Buffer;
  readonly dataPrefix: Buffer;
  readonly dataEnd: Buffer;
  /** `<namespace>m/`: kvs's bookkeeping keys. */
  readonly metaPrefix: Buffer;
  /** Put in the same etcd txn as every delete kvs makes: a delete without it in its revision is a lease expiry. */
  readonly deleteMarker: Buffer;
  /** Written when a kvs node opens the store: a revision of this namespace its change feed starts from. */
  readonly openMarker: Buffer;
  /** The revision history is compacted up to, as kvs last compacted it (zero-padded decimal). */
  readonly compactedKey: Buffer;

  constructor(namespace: string) {
    this.namespace = Buffer.from(namespace, 'utf8');
    this.namespaceEnd = prefixEnd(this.namespace) ?? Buffer.from([0]);
    this.dataPrefix = Buffer.concat([this.namespace, Buffer.from('k/')]);
    this.dataEnd = prefixEnd(this.dataPrefix)!;
    this.metaPrefix = Buffer.concat([this.namespace, Buffer.from('m/')]);
    const meta = (name: string) => Buffer.concat([this.metaPrefix, Buffer.from(name)]);
    this.deleteMarker = meta('deleted');
    this.openMarker = meta('opened');
    this.compactedKey = meta('compacted');
  }

  /** The etcd key of a user key (or of a range bound, in bytes). */
  etcdKey(key: string | Buffer): Buffer {
    return Buffer.concat([this.dataPrefix, typeof key === 'string' ? Buffer.from(key, 'utf8') : key]);
  }

  /** The etcd range end of a user range end (null = to the last key). */
  etcdEnd(end: Buffer | null): Buffer {
    return end === null ? this.dataEnd : this.etcdKey(end);
  }

  /** Whether an etcd key lies in the namespace (user keys and bookkeeping). */
  contains(etcdKey: Buffer): boolean {
    return etcdKey.length >= this.namespace.length && etcdKey.subarray(0, this.namespace.length).equals(this.namespace);
  }

  /** An etcd key of the namespace without the namespace (the replica's key: `k/<user key>`, `m/<name>`). */
  relative(etcdKey: Buffer): Buffer {
    return etcdKey.subarray(this.namespace.length);
  }

  isData(etcdKey: Buffer): boolean {
    return etcdKey.length >= this.dataPrefix.length && etcdKey.subarray(0, this.dataPrefix.length).equals(this.dataPrefix);
  }

  userKey(etcdKey: Buffer): string {
    return etcdKey.subarray(this.dataPrefix.length).toString('utf8');
  }
}

const FORMAT = 1;
const HAS_EXPIRY = 1;

/** The etcd value of an entry: format byte, flags, [expiry float64], content type length (u16) and text, value bytes. */
export function encodeRecord(value: Buffer, contentType: string, expiresAtMs: number | null): Buffer {
  const type = Buffer.from(contentType, 'utf8');
  const header = Buffer.alloc(FORMAT_AND_FLAGS_BYTES + (expiresAtMs === null ? 0 : EXPIRY_BYTES) + TYPE_LENGTH_BYTES);
  header[0] = FORMAT;
  header[1] = expiresAtMs === null ? 0 : HAS_EXPIRY;
  let at = FORMAT_AND_FLAGS_BYTES;
  if (expiresAtMs !== null) at = header.writeDoubleBE(expiresAtMs, at);
  header.writeUInt16BE(type.length, at);
  return Buffer.concat([header, type, value]);
}

export interface StoredEntry extends Entry {
  /** The etcd lease the key is attached to ('0' = none). */
  lease: string;
}

/** An etcd key-value of this keyspace as an entry; throws on a value kvs did not write. */
export function decodeRecord(keyspace: Keyspace, kv: KeyValue): StoredEntry {
  const raw = kv.value;
  if (raw.length < FORMAT_AND_FLAGS_BYTES + TYPE_LENGTH_BYTES || raw[0] !== FORMAT)
    throw new Error(`etcd key ${JSON.stringify(kv.key.toString('utf8'))} holds a value kvs did not write`);
  let at = FORMAT_AND_FLAGS_BYTES;
  let expiresAtMs: number | null = null;
  if ((raw[1]! & HAS_EXPIRY) !== 0) {
    expiresAtMs = raw.readDoubleBE(at);
    at += EXPIRY_BYTES;
  }
  const typeLength = raw.readUInt16BE(at);
  at += TYPE_LENGTH_BYTES;
  const contentType = raw.toString('utf8', at, at + typeLength);
  return {
    key: keyspace.userKey(kv.key),
    value: raw.subarray(at + typeLength),
    contentType,
    createRevision: revisionOf(kv.create_revision),
    revision: revisionOf(kv.mod_revision),
    version: revisionOf(kv.version),
    expiresAtMs,
    lease: kv.lease,
  };
}

/**
 * An etcd key-value of this keyspace as an entry, for the engine's reads and
 * writes: a value kvs did not write (another program wrote under the prefix)
 * reads as an entry that expired long ago, so reads skip it and a write
 * replaces it, instead of failing.
 */
export function decodeStored(keyspace: Keyspace, kv: KeyValue): StoredEntry {
  try {
    return decodeRecord(keyspace, kv);
  } catch {
    return {
      key: keyspace.userKey(kv.key),
      value: kv.value,
      contentType: 'application/octet-stream',
      createRevision: revisionOf(kv.create_revision),
      revision: revisionOf(kv.mod_revision),
      version: revisionOf(kv.version),
      expiresAtMs: 0,
      lease: kv.lease,
    };
  }
}
