/**
 * What the configuration (src/config.ts) may know of the etcd engine: the
 * syntax of an endpoint and the kvs limits a cluster allows (etcd's default
 * request limits are in core/limits.ts's catalogue). Pure: it loads neither gRPC nor the schema, so that every
 * `kvs` command, which reads the settings for its help, starts without them
 * (dependency-cruiser holds this, and config.ts to this module alone).
 */
export { etcdLimits } from './etcd-limits.js';

/** `http(s)://host:port` or `host:port` as a gRPC address; throws a message fit for the user otherwise. */
export function parseEndpoint(endpoint: string): { address: string; secure: boolean } {
  const match = /^(https?):\/\/([^/]+)\/?$/.exec(endpoint.trim());
  if (match) return { address: match[2]!, secure: match[1] === 'https' };
  if (/^[^/\s]+:\d+$/.test(endpoint.trim())) return { address: endpoint.trim(), secure: false };
  throw new Error(`"${endpoint}" is not an etcd endpoint (http://host:port or https://host:port)`);
}
