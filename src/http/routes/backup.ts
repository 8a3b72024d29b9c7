import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { ADMIN } from '../../auth/access.js';
import { KvError } from '../../core/errors.js';
import type { BackupFile } from '../../engine/engine.js';
import type { HttpDeps } from '../deps.js';
import { headers, operation, type OperationSpec } from '../openapi/operation.js';

/** A busy server's hint to a second backup: copies of a large store take seconds. */
const BACKUP_RETRY_AFTER_SECONDS = 5;

/**
 * `GET /v1/admin/backup` (API.md §11): a consistent snapshot of the embedded
 * store, copied to a file beside it while the server keeps serving, then sent
 * with its revision and SHA-256 (docs/adr/0007-backup-and-restore.md).
 */
export async function backupRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { engine, snapshotBackup } = deps;
  /** One backup at a time: each holds a copy of the whole store on disk until it is sent. */
  let running = false;

  // No HEAD: its headers would cost a full copy of the store, for no body.
  app.get(
    '/v1/admin/backup',
    { schema: operation(BACKUP_OPERATION, deps.limits), exposeHeadRoute: false, config: { access: ADMIN } },
    async (request, reply) => {
      if (snapshotBackup === null) throw new KvError('not_implemented', noBackupDetail(engine.name));
      if (running) {
        throw new KvError('unavailable', 'a backup is already being taken or sent by this server; retry once it is done', {
          retryAfterSeconds: BACKUP_RETRY_AFTER_SECONDS,
        });
      }
      running = true;
      // 'close' comes once the response is sent, or as soon as the client goes away.
      let responseClosed = false;
      const closed = new Promise<void>((resolve) => reply.raw.once('close', resolve)).then(() => (responseClosed = true));
      let snapshot: BackupFile;
      try {
        snapshot = await snapshotBackup.backup();
      } catch (error) {
        running = false;
        throw error;
      }
      // The file lives until the response ends, whichever way; only then may another backup start.
      void closed.then(async () => {
        running = false;
        await snapshot
          .discard()
          .catch((error: unknown) => request.log.warn({ err: error, file: snapshot.path }, 'a backup copy could not be removed; the next start removes it'));
      });
      if (responseClosed) return reply.hijack();
      // Stops as soon as the client goes: its copy is being removed, and the next backup may start.
      const digest = await sha256Base64(snapshot.path, () => responseClosed);
      if (digest === null || responseClosed) return reply.hijack();
      return reply
        .type('application/octet-stream')
        .header('content-length', String(snapshot.bytes))
        .header('kv-revision', String(snapshot.revision))
        .header('content-disposition', `attachment; filename="kvs-backup-${snapshot.revision}.mdb"`)
        .header('repr-digest', `sha-256=:${digest}:`)
        .send(createReadStream(snapshot.path));
    },
  );
}

/** The 501 detail for an engine without a local store to copy: what to use instead. */
function noBackupDetail(engineName: string): string {
  if (engineName === 'etcd') {
    return 'the etcd engine keeps no local store to back up: take a snapshot of the cluster with "etcdctl snapshot save FILE", or export the keys with GET /v1/admin/export (kvs export)';
  }
  return `the ${engineName} engine cannot take backups: export the keys with GET /v1/admin/export (kvs export)`;
}

/**
 * The SHA-256 of a file (base64), for Repr-Digest (RFC 9530), read in chunks so the event loop keeps
 * serving; null once `abandoned()` says nobody will read it.
 */
async function sha256Base64(path: string, abandoned: () => boolean): Promise<string | null> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) {
    if (abandoned()) return null;
    hash.update(chunk as Buffer);
  }
  return hash.digest('base64');
}

const BACKUP_OPERATION: OperationSpec = {
  operationId: 'backup',
  tag: 'Admin',
  summary: 'A consistent snapshot of the embedded store, taken while it serves',
  description: 'An LMDB file; `kvs restore` turns it back into a data directory. One backup at a time per server.',
  access: 'admin',
  engine: true,
  responses: {
    200: {
      description: 'The snapshot.',
      headers: headers('KV-Revision', 'Repr-Digest', 'Content-Disposition', 'Content-Length'),
      content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
    },
  },
  failures: {
    not_implemented: 'The etcd engine keeps no local store: the detail names `etcdctl snapshot save` and the export.',
    unavailable: `Another backup is being taken or sent (\`Retry-After: ${BACKUP_RETRY_AFTER_SECONDS}\`).`,
    storage_full: 'No room beside the store for the copy.',
  },
};
