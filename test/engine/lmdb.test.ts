import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { DEFAULT_LIMITS } from '../../src/core/limits.js';
import { LmdbEngine } from '../../src/engine/lmdb/lmdb-engine.js';
import { STORE_FILE_NAME } from '../../src/engine/lmdb/store-file.js';
import { runEngineConformance } from './conformance.js';
import { LMDB_DIFFERENCES } from './differences.js';

/** The embedded engine against the StorageEngine conformance suite: each store a file in this directory. */
const root = mkdtempSync(join(tmpdir(), 'kvs-engine-lmdb-'));
after(() => rmSync(root, { recursive: true, force: true }));

runEngineConformance(
  'lmdb',
  (store, options) =>
    new LmdbEngine({
      file: join(root, store, STORE_FILE_NAME),
      historyRetentionRevisions: options.historyRetentionRevisions ?? DEFAULT_LIMITS.historyRetentionRevisions,
      now: options.now,
      ...(options.maintenanceIntervalMs === undefined ? {} : { maintenanceIntervalMs: options.maintenanceIntervalMs }),
    }),
  LMDB_DIFFERENCES,
);
