#!/usr/bin/env node
// Builds kvs with TypeScript, and says when a build is needed at all.
//
//   node scripts/build.mjs              everything: src, tests, bench (tsconfig.json), the SDK
//                                       type-checked without Node types (src/client/tsconfig.json)
//   node scripts/build.mjs --src        the server and SDK only (tsconfig.src.json): what the package ships
//   Both compile the web console too, with the DOM's types and none of Node's (src/web/tsconfig.json).
//   node scripts/build.mjs --src --clean   the same from nothing: dist/ is removed first, so that no output of a
//                                       deleted source is packed (npm pack's prepack)
//   node scripts/build.mjs --if-stale   --src, but only when a source changed since the last build
//                                       (npm start: tsc takes ~3.5 s even with nothing to compile,
//                                       this check a few milliseconds)
//
// A build that succeeds records its start time in dist/.build-stamp; a source file newer than
// that is "changed". The start time, not the end: a file saved during the build counts as changed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'dist', '.build-stamp');
const args = new Set(process.argv.slice(2));

/** Newest modification time (ms) of the files a src build reads. */
function newestSourceMs() {
  let newest = 0;
  const visit = (path) => {
    const stats = statSync(path);
    if (stats.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
    else if (stats.mtimeMs > newest) newest = stats.mtimeMs;
  };
  for (const input of ['src', 'tsconfig.json', 'tsconfig.src.json', 'package.json']) visit(join(root, input));
  return newest;
}

function stampMs() {
  try {
    return statSync(stamp).mtimeMs;
  } catch {
    return 0;
  }
}

function tsc(project) {
  const compiler = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [compiler, '-p', join(root, project)], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (args.has('--if-stale') && newestSourceMs() < stampMs()) process.exit(0);
const startedAt = new Date();
// The incremental build info goes too: without it tsc would think the removed outputs were still there.
if (args.has('--clean')) rmSync(join(root, 'dist'), { recursive: true, force: true });
if (args.has('--src') || args.has('--if-stale')) {
  tsc('tsconfig.src.json');
} else {
  tsc('tsconfig.json');
  tsc('src/client/tsconfig.json');
}
// The console is browser code, compiled apart from the server (which must not see the DOM's types).
tsc('src/web/tsconfig.json');
mkdirSync(dirname(stamp), { recursive: true });
writeFileSync(stamp, '');
utimesSync(stamp, startedAt, startedAt);
