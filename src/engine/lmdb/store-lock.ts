import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { connect, createServer, type Server } from 'node:net';
import { StoreOpenError } from './store-file.js';

/**
 * One kvs per store. LMDB lets several processes open one environment, but
 * each kvs numbers revisions and plans writes from its own memory, so two on
 * one store would corrupt its history. The lock is a listening Unix socket in
 * Linux's abstract namespace, named after the store's real path: the kernel
 * releases it when the process dies, even by kill -9, so there is no stale
 * lock to clean up, and the holder tells a second kvs its pid.
 *
 * Elsewhere than Linux there is no abstract namespace; there the lock is not
 * taken (documented in docs/RELIABILITY.md).
 */
export interface StoreLock {
  release(): Promise<void>;
}

/** The store is held by another kvs process; `holderPid` is its pid, when it answered. */
export class StoreInUseError extends StoreOpenError {
  override name = 'StoreInUseError';
  constructor(
    file: string,
    readonly holderPid: number | null,
  ) {
    super(`${file} is in use by another kvs${holderPid === null ? '' : ` (pid ${holderPid})`}; stop it first, or point DATA_DIRECTORY elsewhere`);
  }
}

export async function lockStore(file: string): Promise<StoreLock> {
  if (process.platform !== 'linux') return { release: async () => {} };
  const name = `\0kvs-store-${createHash('sha256')
    .update(join(realpathSync(dirname(file)), basename(file)))
    .digest('hex')
    .slice(0, 40)}`;
  const server = createServer((socket) => socket.end(`${process.pid}\n`));
  try {
    await listen(server, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    throw new StoreInUseError(file, await holderPid(name));
  }
  // The lock must not keep the process alive by itself.
  server.unref();
  return { release: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Asks the lock's holder for its pid (null if it does not answer within a second). */
function holderPid(path: string): Promise<number | null> {
  return new Promise((resolve) => {
    const socket = connect(path);
    let text = '';
    const done = (pid: number | null) => {
      socket.destroy();
      resolve(pid);
    };
    socket.setTimeout(1000, () => done(null));
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('end', () => done(/^\d+\n$/.test(text) ? Number(text.trim()) : null));
    socket.on('error', () => done(null));
  });
}
