#!/usr/bin/env node
// Builds kvs with TypeScript, and says when a build is needed at all.
//
//   node scripts/build.mjs              everything: src, tests, bench (tsconfig.json), the SDK
//                                       type-checked without Node types (src/client/tsconfig.json)
//   node scripts/build.mjs --src        the server and SDK only (tsconfig.src.json): what the package ships
//   Both compile the web console too, with the DOM's types and none of Node's (src/web/tsconfig.json),
//   and first remove what tsc emitted for a source that is gone (deleted or renamed): tsc never does,
//   and the console serves whatever dist/src/web holds.
//   node scripts/build.mjs --pack       dist/src from nothing (npm pack's prepack), so that nothing but the
//                                       outputs of today's sources is packed: compiled into a directory of
//                                       its own, which then replaces dist/src. The rest of dist/ (the built
//                                       tests and bench) is left as it was.
//   node scripts/build.mjs --if-stale   --src, but only when a source changed since the last build
//                                       (npm start: tsc takes ~3.5 s even with nothing to compile,
//                                       this check a few milliseconds)
//
// A build that succeeds records its start time (the stamp's modification time) and the list of the
// files under src/ (its content) in dist/.build-stamp. The sources are "changed" when a file a src build
// reads is newer than the stamp, or when that list differs: a deleted or renamed file leaves no newer
// modification time behind. The start time, not the end: a file saved during the build counts as changed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const stamp = join(dist, '.build-stamp');
const args = new Set(process.argv.slice(2));

/** The files under src/ (paths from the root, sorted), and the newest modification time (ms) of the files a src build reads. */
function sourceState() {
  const files = [];
  let newest = 0;
  const visit = (path) => {
    const stats = statSync(path);
    if (stats.isDirectory()) {
      for (const name of readdirSync(path)) visit(join(path, name));
      return;
    }
    if (stats.mtimeMs > newest) newest = stats.mtimeMs;
    if (path.startsWith(join(root, 'src'))) files.push(relative(root, path));
  };
  for (const input of ['src', 'tsconfig.json', 'tsconfig.src.json', 'package.json']) visit(join(root, input));
  return { files: files.sort(), newest };
}

/** The last successful build: its start time and the files under src/ then; null when unknown (none, or an older stamp). */
function lastBuild() {
  try {
    const recorded = JSON.parse(readFileSync(stamp, 'utf8'));
    if (!Array.isArray(recorded.sources)) return null;
    return { startedMs: statSync(stamp).mtimeMs, sources: recorded.sources };
  } catch {
    return null;
  }
}

function isStale() {
  const last = lastBuild();
  if (last === null) return true;
  const { files, newest } = sourceState();
  if (newest >= last.startedMs) return true;
  return files.length !== last.sources.length || files.some((file, index) => file !== last.sources[index]);
}

/** What tsc emits for `x.ts` (rootDir is the repository's root, outDir dist/; src/web's own config maps src to dist/src the same way). */
const OUTPUT = /^(.+)(\.js|\.js\.map|\.d\.ts|\.d\.ts\.map)$/;

/** Removes the outputs under dist/src, dist/test and dist/bench whose source (.ts) no longer exists, and the directories that leaves empty. */
function removeOutputsOfDeletedSources() {
  const visit = (directory) => {
    let entries;
    try {
      entries = readdirSync(directory, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) {
        visit(path);
        if (readdirSync(path).length === 0 && !existsSync(join(root, relative(dist, path)))) rmdirSync(path);
        continue;
      }
      const output = OUTPUT.exec(entry.name);
      if (output === null) continue;
      const source = join(root, relative(dist, directory), `${output[1]}.ts`);
      if (!existsSync(source)) rmSync(path, { force: true });
    }
  };
  for (const top of ['src', 'test', 'bench']) visit(join(dist, top));
}

function tsc(project, ...options) {
  const compiler = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [compiler, '-p', join(root, project), ...options], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (args.has('--if-stale') && !isStale()) process.exit(0);
const startedAt = new Date();
const { files: sources } = sourceState();
if (args.has('--pack')) {
  // A fresh compile (its incremental state starts empty) into dist/.pack/src; then it takes dist/src's place.
  const fresh = join(dist, '.pack');
  rmSync(fresh, { recursive: true, force: true });
  tsc('tsconfig.src.json', '--outDir', fresh, '--tsBuildInfoFile', join(fresh, '.tsbuildinfo'));
  tsc('src/web/tsconfig.json', '--outDir', join(fresh, 'src'));
  const old = join(dist, '.pack-replaced');
  rmSync(old, { recursive: true, force: true });
  if (existsSync(join(dist, 'src'))) renameSync(join(dist, 'src'), old);
  renameSync(join(fresh, 'src'), join(dist, 'src'));
  rmSync(old, { recursive: true, force: true });
  rmSync(fresh, { recursive: true, force: true });
} else {
  removeOutputsOfDeletedSources();
  if (args.has('--src') || args.has('--if-stale')) {
    tsc('tsconfig.src.json');
  } else {
    tsc('tsconfig.json');
    tsc('src/client/tsconfig.json');
  }
  // The console is browser code, compiled apart from the server (which must not see the DOM's types).
  tsc('src/web/tsconfig.json');
}
mkdirSync(dist, { recursive: true });
writeFileSync(stamp, `${JSON.stringify({ sources })}\n`);
utimesSync(stamp, startedAt, startedAt);
