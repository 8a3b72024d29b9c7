import { CONTENT_TYPE_BYTES_MAX } from '../../core/limits.js';

/**
 * The layout of the etcd value of an entry (keyspace.ts encodes it): format and
 * flags (a byte each), the deadline (a float64, when the entry has one), the
 * content type's length (a u16) and text, then the value. Pure, so that the
 * configuration's limits (etcd-limits.ts) can size requests without loading
 * the etcd schema.
 */
export const FORMAT_AND_FLAGS_BYTES = 2;
export const EXPIRY_BYTES = 8;
export const TYPE_LENGTH_BYTES = 2;
/** A record's header without its content type, at most. */
export const RECORD_HEADER_BYTES_MAX = FORMAT_AND_FLAGS_BYTES + EXPIRY_BYTES + TYPE_LENGTH_BYTES;
/** Bytes of a record beyond its value: what an etcd request limit must leave room for. */
export const RECORD_OVERHEAD_BYTES_MAX = RECORD_HEADER_BYTES_MAX + CONTENT_TYPE_BYTES_MAX;
