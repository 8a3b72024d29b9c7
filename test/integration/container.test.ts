import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DockerfileParser, type Copy, type Env, type From, type Healthcheck, type Instruction, type Label } from 'dockerfile-ast';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { parse as parseYaml } from 'yaml';
import { loadConfig, SETTINGS } from '../../src/config.js';
import { httpsFetch, makeCertificate } from '../helpers/https.js';
import { freePort, leftoversCleanedAfter, sleep, TEST_ENGINE } from '../helpers/server.js';

/**
 * Issue 12, the container image, without a Docker engine (none runs on this
 * machine or CI's): the Dockerfile and compose.yaml are parsed and held to the
 * rules of docs/adr/0008-container-image.md, and the image's own start command
 * (ENTRYPOINT + CMD with the final stage's ENV and WORKDIR) is run on a directory
 * where the final stage was replayed (its COPYs, its npm ci --omit=dev, its kvs
 * link), through tini as in the image: the seed README's requests, /docs, the
 * console, the HEALTHCHECK's command, the no-token warning and the `kvs token
 * create` it advises, SIGTERM, a restart with a token, TLS and pretty logs.
 * What only a real build would show (the base image pulls, apt-get and npm ci
 * succeed in it, the volume's ownership) is not covered: see the ADR.
 */

const ROOT = new URL('../../../', import.meta.url).pathname;
const repoFile = (path: string) => join(ROOT, path);
const readRepoFile = (path: string) => readFileSync(repoFile(path), 'utf8');
const MANIFEST = JSON.parse(readRepoFile('package.json')) as {
  name: string;
  version: string;
  license: string;
  description: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

// ---------------------------------------------------------------------------
// The Dockerfile, as dockerfile-ast parses it.

interface Stage {
  from: From;
  name: string | null;
  instructions: Instruction[];
}

const DOCKERFILE = DockerfileParser.parse(readRepoFile('Dockerfile'));

function stagesOf(): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of DOCKERFILE.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const from = instruction as From;
      stages.push({ from, name: from.getBuildStage(), instructions: [] });
    } else {
      // Instructions before the first FROM (global ARGs) belong to no stage.
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

const STAGES = stagesOf();
const FINAL = STAGES.at(-1)!;

const withKeyword = (stage: Stage, keyword: string) => stage.instructions.filter((instruction) => instruction.getKeyword() === keyword);
const argumentsOf = (instruction: Instruction) => instruction.getArguments().map((argument) => argument.getValue());
const runCommands = (stage: Stage) => withKeyword(stage, 'RUN').map((instruction) => instruction.getArgumentsContent() ?? '');

/** The exec (JSON) form of CMD, ENTRYPOINT or a HEALTHCHECK's CMD, as Docker reads it; throws on the shell form. */
function execForm(text: string, what: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new assert.AssertionError({ message: `${what} must be in exec form (a JSON array), not ${JSON.stringify(text)}` });
  }
  assert.ok(
    Array.isArray(parsed) && parsed.length > 0 && parsed.every((part) => typeof part === 'string'),
    `${what} must be a non-empty JSON array of strings`,
  );
  return parsed as string[];
}

/** The final stage's single instruction of a kind (Docker uses the last; the image should have one). */
function only(keyword: string): Instruction {
  const found = withKeyword(FINAL, keyword);
  assert.equal(found.length, 1, `the final stage has one ${keyword} (found ${found.length})`);
  return found[0]!;
}

function properties(instructions: Instruction[]): Map<string, string> {
  const result = new Map<string, string>();
  for (const instruction of instructions) {
    for (const property of (instruction as Env | Label).getProperties()) result.set(property.getName(), property.getValue() ?? '');
  }
  return result;
}

/** The image's environment, from the final stage's ENV instructions (later ones win, as in Docker). */
const IMAGE_ENV = properties(withKeyword(FINAL, 'ENV'));

const WORKDIR = (() => {
  const workdirs = withKeyword(FINAL, 'WORKDIR');
  assert.ok(workdirs.length > 0, 'the final stage sets a WORKDIR');
  return argumentsOf(workdirs.at(-1)!)[0]!;
})();

const ENTRYPOINT = execForm(only('ENTRYPOINT').getRawArgumentsContent() ?? '', 'ENTRYPOINT');
const CMD = execForm(only('CMD').getRawArgumentsContent() ?? '', 'CMD');

const HEALTHCHECK = (() => {
  const instruction = only('HEALTHCHECK') as Healthcheck;
  assert.equal(instruction.getSubcommand()?.getValue().toUpperCase(), 'CMD', 'HEALTHCHECK runs a command (HEALTHCHECK CMD ...)');
  const command = /\bCMD\s+(\[[\s\S]*\])\s*$/.exec(instruction.getArgumentsContent() ?? '');
  assert.ok(command, 'the HEALTHCHECK command is in exec form');
  const flags = new Map(instruction.getFlags().map((flag) => [flag.getName(), flag.getValue() ?? '']));
  return { command: execForm(command[1]!, 'HEALTHCHECK CMD'), flags };
})();

/** A Docker duration (30s, 1m30s, 500ms) in milliseconds. */
function durationMs(text: string): number {
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(amount) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'];
  }
  assert.ok(total > 0, `a duration: ${text}`);
  return total;
}

/** .dockerignore's patterns, matched as Docker does for the cases used here (paths from the context root, * and **). */
function dockerignore(): { patterns: string[]; ignores(path: string): boolean } {
  const patterns = readRepoFile('.dockerignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  assert.ok(!patterns.some((pattern) => pattern.startsWith('!')), 'this check does not handle exceptions (!pattern)');
  const expressions = patterns.map((pattern) => {
    const clean = posix.normalize(pattern.replace(/^\/+/, '').replace(/\/+$/, ''));
    const source = clean
      .split('/')
      .map((part) =>
        part === '**'
          ? '.*'
          : part
              .replace(/[.+^${}()|[\]\\]/g, '\\$&')
              .replaceAll('*', '[^/]*')
              .replaceAll('?', '[^/]'),
      )
      .join('/')
      .replaceAll('.*/', '(?:.*/)?');
    // A pattern that matches a directory excludes everything in it.
    return new RegExp(`^${source}(?:/.*)?$`);
  });
  return { patterns, ignores: (path) => expressions.some((expression) => expression.test(posix.normalize(path).replace(/\/+$/, ''))) };
}

/** The files under a path of the repository (itself, if a file), as paths from the repository's root. */
function filesUnder(path: string): string[] {
  const clean = posix.normalize(path).replace(/\/+$/, '');
  if (!lstatSync(repoFile(clean)).isDirectory()) return [clean];
  return readdirSync(repoFile(clean)).flatMap((name) => filesUnder(posix.join(clean, name)));
}

/** The port kvs listens on when nothing sets one (src/config.ts). */
const DEFAULT_PORT = loadConfig({}).port;
/** The port the image listens on: its ENV's, else kvs's default. */
const IMAGE_PORT = IMAGE_ENV.get('PORT') ?? IMAGE_ENV.get('KV_STORE_PORT') ?? String(DEFAULT_PORT);

describe('Dockerfile', () => {
  test('lints clean with dockerfile-utils (unknown instructions and flags, invalid values)', () => {
    const problems = lintDockerfile(readRepoFile('Dockerfile')).map((problem) => `line ${problem.range.start.line + 1}: ${problem.message}`);
    assert.deepEqual(problems, []);
  });

  test('multi-stage, on the same pinned slim Debian (glibc) node image in every stage', () => {
    assert.ok(STAGES.length >= 2, 'a build stage and a runtime stage');
    const build = STAGES[0]!;
    assert.ok(build.name, 'the build stage is named (FROM ... AS build)');
    for (const stage of STAGES) {
      assert.equal(stage.from.getRegistry(), null, 'the official image, from Docker Hub');
      assert.equal(stage.from.getImageName(), 'node');
      // A full version (not 24, not lts, not latest) of a supported LTS, on Debian 12 "bookworm", slim.
      assert.match(stage.from.getImageTag() ?? '', /^(22|24)\.\d+\.\d+-bookworm-slim$/, `a pinned node LTS on bookworm-slim: ${stage.from.getImage()}`);
      assert.equal(stage.from.getImage(), build.from.getImage(), 'every stage on the same image');
    }
  });

  test('the build stage runs npm ci and npm run build; the runtime stage installs production dependencies only', () => {
    const build = STAGES[0]!;
    assert.ok(
      runCommands(build).some((command) => /\bnpm ci\b/.test(command)),
      'the build stage runs npm ci',
    );
    assert.ok(
      runCommands(build).some((command) => /\bnpm run build\b/.test(command)),
      'the build stage runs npm run build',
    );
    const installs = runCommands(FINAL).filter((command) => /\bnpm (ci|install|i)\b/.test(command));
    assert.equal(installs.length, 1, 'the runtime stage installs dependencies once');
    assert.match(installs[0]!, /\bnpm ci\b[^&;]*--omit=dev/, 'with npm ci --omit=dev');
    assert.doesNotMatch(runCommands(FINAL).join('\n'), /npm run build|\btsc\b/, 'nothing is built in the runtime stage');
    // That what --omit=dev leaves out is not needed at run time (an import, a createRequire, a resolve of a
    // package's file): the start command below runs on this very install, and uses what loads lazily.
  });

  test('the runtime stage copies the built dist/, proto/ (where the etcd engine reads it) and package.json', () => {
    const build = STAGES[0]!;
    const copies = withKeyword(FINAL, 'COPY').map((instruction) => {
      const parts = argumentsOf(instruction);
      return { from: (instruction as Copy).getFromFlag()?.getValue() ?? null, sources: parts.slice(0, -1), destination: parts.at(-1)! };
    });
    const destinationOf = (predicate: (copy: (typeof copies)[number]) => boolean) => {
      const copy = copies.find(predicate);
      return copy === undefined ? undefined : posix.normalize(posix.join(WORKDIR, copy.destination));
    };
    const buildWorkdir = argumentsOf(withKeyword(build, 'WORKDIR').at(-1)!)[0]!;
    assert.equal(
      destinationOf((copy) => copy.from === build.name && copy.sources.some((source) => posix.normalize(source) === posix.join(buildWorkdir, 'dist'))),
      posix.join(WORKDIR, 'dist'),
      'COPY --from=build the built dist/ to WORKDIR/dist',
    );
    assert.equal(
      destinationOf((copy) => copy.from === null && copy.sources.includes('package.json')),
      `${WORKDIR}/`,
      'package.json beside dist/ (kvs reads its version there)',
    );
    assert.equal(
      destinationOf((copy) => copy.from === null && copy.sources.some((source) => source.replace(/\/+$/, '') === 'proto'))?.replace(/\/+$/, ''),
      posix.join(WORKDIR, 'proto'),
      'proto/ beside dist/',
    );
    // The etcd engine reads the proto relative to its own compiled file: the image must put proto/ exactly there.
    const source = readRepoFile('src/engine/etcd/etcd-api.ts');
    const read = /new URL\('([^']+etcd-v3\.proto)', import\.meta\.url\)/.exec(source);
    assert.ok(read, 'etcd-api.ts reads its proto with new URL(..., import.meta.url)');
    assert.equal(posix.join(WORKDIR, 'dist/src/engine/etcd', read[1]!), posix.join(WORKDIR, 'proto/etcd-v3.proto'));
  });

  test('runs as the unprivileged node user, with /data a volume it owns, and the image environment', () => {
    const users = withKeyword(FINAL, 'USER');
    assert.ok(users.length > 0, 'the final stage sets USER');
    const user = argumentsOf(users.at(-1)!)[0]!;
    assert.equal(user.split(':')[0], 'node', "the node image's node user (uid 1000), not root");
    const lastUserLine = users.at(-1)!.getRange().start.line;
    assert.ok(
      withKeyword(FINAL, 'RUN').every((run) => run.getRange().start.line < lastUserLine),
      'USER comes after every RUN: nothing after it needs root',
    );

    const volumes = withKeyword(FINAL, 'VOLUME').flatMap((instruction) => {
      const text = (instruction.getArgumentsContent() ?? '').trim();
      return text.startsWith('[') ? execForm(text, 'VOLUME') : argumentsOf(instruction);
    });
    assert.deepEqual(volumes, ['/data']);
    assert.ok(
      runCommands(FINAL).some((command) => /mkdir -p \/data\b/.test(command) && /chown (-R )?node(:node)? \/data\b/.test(command)),
      '/data exists in the image and belongs to node (a new named volume copies that ownership)',
    );

    assert.equal(IMAGE_ENV.get('DATA_DIRECTORY'), '/data');
    assert.equal(IMAGE_ENV.get('HOST'), '0.0.0.0');
    assert.ok(
      !IMAGE_ENV.has('PORT') && !IMAGE_ENV.has('KV_STORE_PORT'),
      "no port in the image: kvs's default applies, and -e PORT=... or the seed's -e KV_STORE_PORT=... moves it (an image PORT would hide KV_STORE_PORT, which kvs reads second)",
    );
    assert.equal(IMAGE_ENV.get('KV_PROTECTED_MODE'), 'off', 'protected mode off, as in the official Redis image (ADR 0008)');
    // Every variable the image sets is one kvs reads (a typo would be silently ignored), or NODE_ENV.
    const known = new Set(Object.values(SETTINGS).flatMap((setting) => setting.env));
    for (const name of IMAGE_ENV.keys()) assert.ok(known.has(name) || name === 'NODE_ENV', `ENV ${name} is not a kvs setting (src/config.ts)`);

    const exposed = withKeyword(FINAL, 'EXPOSE').flatMap(argumentsOf);
    assert.deepEqual(exposed, ['8080']);
    assert.equal(exposed[0], IMAGE_PORT, 'EXPOSE is the port kvs listens on');
  });

  test('HEALTHCHECK fetches /healthz with node (no curl in the image)', () => {
    const [program, ...rest] = HEALTHCHECK.command;
    assert.equal(program, 'node');
    const script = rest.at(-1)!;
    assert.ok(rest.includes('-e'), 'an inline script: node -e ...');
    assert.match(script, /\bfetch\(/, "node's global fetch");
    assert.match(script, /\/healthz\b/);
    // The port kvs takes: its variables in the order src/config.ts reads them, then its default.
    assert.ok(
      script.includes(`${SETTINGS.port.env.map((variable) => `process.env.${variable}`).join(' || ')} || ${DEFAULT_PORT}`),
      `the port the server listens on (${SETTINGS.port.env.join(', then ')}, then ${DEFAULT_PORT}): ${script}`,
    );
    assert.doesNotMatch(HEALTHCHECK.command.join(' '), /\b(curl|wget)\b/);
    for (const flag of ['interval', 'timeout', 'start-period', 'retries']) assert.ok(HEALTHCHECK.flags.has(flag), `HEALTHCHECK --${flag}`);
  });

  test('tini is PID 1, and the exec-form CMD starts node itself (not npm)', () => {
    assert.deepEqual(ENTRYPOINT, ['tini', '--']);
    assert.ok(
      runCommands(FINAL).some((command) => /apt-get install\b.*\btini\b/.test(command)),
      'the runtime stage installs tini from Debian',
    );
    assert.equal(CMD[0], 'node', 'node directly: npm would stand between the signal and kvs');
    assert.ok(!CMD.some((part) => /^(npm|npx|yarn|pnpm)$/.test(part)));
    assert.equal(CMD[1], 'dist/src/cli/index.js', 'the kvs CLI, relative to WORKDIR');
    assert.ok(existsSync(repoFile(CMD[1]!)), `${CMD[1]} is what npm run build makes`);
    assert.equal(CMD[2], 'serve');
  });

  test('OCI labels: title, description, licenses, version (from package.json); a source only as a URL, and no label empty', () => {
    const labels = properties(withKeyword(FINAL, 'LABEL'));
    const oci = (name: string) => labels.get(`org.opencontainers.image.${name}`);
    assert.equal(oci('title'), 'kvs');
    assert.equal(oci('description'), MANIFEST.description);
    assert.equal(oci('licenses'), MANIFEST.license);
    assert.equal(oci('version'), MANIFEST.version, "the label follows package.json's version");
    // The repository has no public address yet: no source label (docker build --label adds one), never an empty one.
    const source = oci('source');
    assert.ok(source === undefined || /^https:\/\/\S+$/.test(source), `org.opencontainers.image.source is a URL or absent: ${JSON.stringify(source)}`);
    const args = new Map(
      withKeyword(FINAL, 'ARG')
        .map((arg) => argumentsOf(arg)[0]!.split('='))
        .map(([name, value]) => [name!, value ?? '']),
    );
    for (const [name, value] of labels) {
      assert.notEqual(value.trim(), '', `${name} is empty`);
      for (const [, variable] of value.matchAll(/\$\{?(\w+)/g)) {
        assert.ok(args.has(variable!), `${name} uses ARG ${variable}, declared in the final stage`);
        assert.notEqual(args.get(variable!)!.replace(/^["']|["']$/g, ''), '', `${name} would be empty by default: ARG ${variable} has no default`);
      }
    }
  });

  test('.dockerignore keeps installed, built, local and secret files out of the build context, and nothing the build copies', () => {
    const ignore = dockerignore();
    for (const path of [
      'node_modules',
      'src/x/node_modules',
      'dist',
      'dist/src/main.js',
      'data',
      'data/kvs.mdb',
      '.git',
      '.git/HEAD',
      '.env',
      '.bench',
      'npm-debug.log',
    ]) {
      assert.ok(ignore.ignores(path), `.dockerignore excludes ${path}`);
    }
    // Secrets and data anywhere in the tree, not only at the top: certificates and keys, tokens files, .env files,
    // data directories and stores.
    for (const path of [
      'server.pem',
      'deploy/tls/server.pem',
      'src/x/y/key.pem',
      'tls/server.key',
      'deploy/nginx/site.key',
      'certs/ca.crt',
      'x/client.p12',
      'tokens.json',
      'config/tokens.json',
      'deploy/tokens-prod.json',
      'deploy/.env',
      'sub/.env.local',
      'old/data',
      'old/data/kvs.mdb',
      'backup/kvs.mdb',
      'backup/kvs.mdb-lock',
    ]) {
      assert.ok(ignore.ignores(path), `.dockerignore excludes ${path}`);
    }
    for (const stage of STAGES) {
      for (const copy of withKeyword(stage, 'COPY')) {
        if ((copy as Copy).getFromFlag() !== null) continue;
        for (const source of argumentsOf(copy).slice(0, -1)) {
          assert.ok(!ignore.ignores(source), `.dockerignore excludes ${source}, which the Dockerfile copies`);
          assert.ok(existsSync(repoFile(source)), `the Dockerfile copies ${source}, which exists`);
          // Nor any file in it (a **/ pattern reaches into the copied directories too).
          const excluded = filesUnder(source).filter((file) => ignore.ignores(file));
          assert.deepEqual(excluded, [], `.dockerignore excludes files of ${source}, which the Dockerfile copies`);
        }
      }
    }
    for (const file of ['src/main.ts', 'src/engine/etcd/etcd-api.ts', 'proto/etcd-v3.proto', 'tsconfig.json'])
      assert.ok(!ignore.ignores(file), `${file} is in the context`);
  });
});

// ---------------------------------------------------------------------------
// compose.yaml, as the yaml package parses it (merge keys on, as Compose reads them).

interface ComposeService {
  build?: string | { context: string };
  image?: string;
  profiles?: string[];
  environment?: Record<string, string> | string[];
  command?: string[] | string;
  volumes?: string[];
  ports?: string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
}

const COMPOSE = parseYaml(readRepoFile('compose.yaml'), { merge: true }) as { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };
const SERVICES = COMPOSE.services;

function environmentOf(service: ComposeService): Record<string, string> {
  const environment = service.environment ?? {};
  if (!Array.isArray(environment)) return Object.fromEntries(Object.entries(environment).map(([name, value]) => [name, String(value)]));
  return Object.fromEntries(environment.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

const dependsOn = (service: ComposeService) => (Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {}));
const buildsThisImage = (service: ComposeService) => (typeof service.build === 'string' ? service.build : service.build?.context) === '.';
/** ${KV_ADMIN_TOKEN}, ${KV_ADMIN_TOKEN:?message}...: the value comes from the environment or .env. */
const FROM_ENVIRONMENT = /^\$\{KV_ADMIN_TOKEN(?:(?::?[?-]).*)?\}$/;

/** `--flag=value` arguments of a command, by flag. */
function flagsOf(command: ComposeService['command']): Map<string, string> {
  assert.ok(Array.isArray(command), 'the command is a list');
  return new Map(command.filter((part) => part.startsWith('--')).map((part) => [part.slice(2, part.indexOf('=')), part.slice(part.indexOf('=') + 1)]));
}

const ETCD_MEMBERS = Object.entries(SERVICES).filter(([, service]) => /^(quay\.io\/coreos\/etcd|gcr\.io\/etcd-development\/etcd):/.test(service.image ?? ''));
const KVS_ETCD_NODES = Object.entries(SERVICES).filter(([, service]) => buildsThisImage(service) && environmentOf(service)['KV_ENGINE'] === 'etcd');

describe('compose.yaml', () => {
  test('(a) one kvs node by default: this image, a named volume at /data, the token from the environment, a healthcheck', () => {
    const kvs = SERVICES['kvs'];
    assert.ok(kvs, 'a service named kvs');
    assert.equal(kvs.profiles, undefined, 'in no profile: docker compose up starts it');
    assert.ok(buildsThisImage(kvs), "built from this repository's Dockerfile");
    assert.equal(environmentOf(kvs)['KV_ENGINE'] ?? 'lmdb', 'lmdb');
    const data = (kvs.volumes ?? []).map((volume) => volume.split(':')).find(([, target]) => target === IMAGE_ENV.get('DATA_DIRECTORY'));
    assert.ok(data, "a volume at the image's DATA_DIRECTORY");
    assert.ok(!data[0]!.includes('/') && !data[0]!.startsWith('.'), 'a named volume, not a bind mount');
    assert.ok(COMPOSE.volumes && data[0]! in COMPOSE.volumes, `the volume ${data[0]} is declared`);
    assert.match(environmentOf(kvs)['KV_ADMIN_TOKEN'] ?? '', FROM_ENVIRONMENT, 'KV_ADMIN_TOKEN from the environment or .env, never a literal');
    assert.ok(
      (kvs.ports ?? []).some((port) => port.endsWith(`:${IMAGE_PORT}`)),
      'the container port published',
    );
    // The image's HEALTHCHECK applies unless the service replaces or disables it.
    assert.ok(kvs.healthcheck === undefined ? HEALTHCHECK.command.length > 0 : kvs.healthcheck.disable !== true, 'a healthcheck');
  });

  test('(b) three etcd 3.5 members bootstrapped with one consistent --initial-cluster', () => {
    assert.equal(ETCD_MEMBERS.length, 3, 'three members');
    const clusters = new Set<string>();
    const tokens = new Set<string>();
    for (const [name, service] of ETCD_MEMBERS) {
      assert.match(service.image!, /:v3\.5\.\d+$/, `${name}: the official image, pinned to a 3.5 release`);
      assert.deepEqual(service.profiles, ['cluster'], `${name} is in the cluster profile`);
      const flags = flagsOf(service.command);
      assert.equal(flags.get('name'), name, `${name}: --name is the service name`);
      assert.equal(flags.get('initial-cluster-state'), 'new');
      assert.equal(new URL(flags.get('initial-advertise-peer-urls')!).hostname, name, `${name} advertises its own peer address`);
      assert.equal(new URL(flags.get('advertise-client-urls')!).hostname, name, `${name} advertises its own client address`);
      assert.ok(flags.get('listen-client-urls') && flags.get('listen-peer-urls') && flags.get('data-dir'));
      assert.ok(
        (service.volumes ?? []).some((volume) => volume.split(':')[1] === flags.get('data-dir')),
        `${name}'s data directory is a volume`,
      );
      assert.ok(service.healthcheck?.test, `${name} has a healthcheck (kvs nodes wait for it)`);
      clusters.add(flags.get('initial-cluster')!);
      tokens.add(flags.get('initial-cluster-token')!);
    }
    assert.equal(clusters.size, 1, 'the same --initial-cluster on every member');
    assert.equal(tokens.size, 1, 'the same --initial-cluster-token on every member');
    const initial = new Map([...clusters][0]!.split(',').map((entry) => entry.split('=') as [string, string]));
    assert.deepEqual([...initial.keys()].sort(), ETCD_MEMBERS.map(([name]) => name).sort(), '--initial-cluster names every member');
    for (const [name, service] of ETCD_MEMBERS)
      assert.equal(
        initial.get(name),
        flagsOf(service.command).get('initial-advertise-peer-urls'),
        `${name}'s --initial-cluster entry is its advertised peer URL`,
      );
  });

  test('(b) two kvs nodes on KV_ENGINE=etcd, with ETCD_ENDPOINTS naming all three members, and the same token', () => {
    assert.equal(KVS_ETCD_NODES.length, 2, 'two kvs nodes on etcd');
    const memberClientUrls = ETCD_MEMBERS.map(([, service]) => flagsOf(service.command).get('advertise-client-urls')!).sort();
    for (const [name, service] of KVS_ETCD_NODES) {
      assert.deepEqual(service.profiles, ['cluster'], `${name} is in the cluster profile`);
      const environment = environmentOf(service);
      assert.deepEqual(
        environment['ETCD_ENDPOINTS']!.split(',')
          .map((endpoint) => endpoint.trim())
          .sort(),
        memberClientUrls,
        `${name}: ETCD_ENDPOINTS names every member`,
      );
      assert.match(
        environment['KV_ADMIN_TOKEN'] ?? '',
        FROM_ENVIRONMENT,
        `${name}: a token from the environment (docs/SCALING.md: always tokens behind a proxy)`,
      );
      assert.equal(environment['KV_ADMIN_TOKEN'], environmentOf(SERVICES['kvs']!)['KV_ADMIN_TOKEN'], 'the same token as everywhere');
      assert.deepEqual(dependsOn(service).sort(), ETCD_MEMBERS.map(([member]) => member).sort(), `${name} waits for the etcd members`);
      assert.equal(service.ports, undefined, `${name} is reached through nginx only`);
    }
  });

  test('(b) nginx runs deploy/nginx/kvs.conf, read-only, with its upstream on the kvs nodes', () => {
    const nginx = SERVICES['nginx'];
    assert.ok(nginx, 'a service named nginx');
    assert.match(nginx.image ?? '', /^nginx:\d+\.\d+\.\d+(-\w+)?$/, 'the official nginx image, pinned');
    assert.deepEqual(nginx.profiles, ['cluster']);
    const mount = (nginx.volumes ?? []).map((volume) => volume.split(':')).find(([source]) => posix.normalize(source!) === 'deploy/nginx/kvs.conf');
    assert.ok(mount, 'deploy/nginx/kvs.conf is mounted');
    assert.equal(mount[2], 'ro', 'read-only');
    assert.ok(existsSync(repoFile('deploy/nginx/kvs.conf')));
    const script = Array.isArray(nginx.command) ? nginx.command.at(-1)! : (nginx.command ?? '');
    assert.match(
      script,
      new RegExp(`\\s${mount[1]!.replaceAll('.', '\\.')}\\s*>\\s*/etc/nginx/conf\\.d/\\S+\\.conf`),
      'the mounted file, filled in, goes to conf.d (which the stock nginx.conf includes in http {})',
    );

    // Fill in the placeholders as the container does, and read the upstream.
    let site = readRepoFile('deploy/nginx/kvs.conf');
    const substitutions = [...script.matchAll(/-e\s+'s\/(\{\{\w+\}\})\/([^/]+)\/'/g)];
    assert.ok(substitutions.length > 0, 'sed fills in placeholders');
    for (const [, placeholder, value] of substitutions) site = site.replaceAll(placeholder!, value!);
    assert.doesNotMatch(site, /\{\{\w+\}\}/, 'every placeholder is filled in');
    const upstreams = new Map<string, string[]>();
    for (const [, name, body] of site.matchAll(/^upstream\s+(\S+)\s*\{([\s\S]*?)^\}/gm)) {
      upstreams.set(
        name!,
        [...body!.matchAll(/^\s*server\s+(\S+)/gm)].map((server) => server[1]!),
      );
    }
    for (const [, target] of site.matchAll(/proxy_pass\s+http:\/\/([^/;\s]+)/g))
      assert.ok(upstreams.has(target!), `proxy_pass http://${target} is an upstream of the file`);
    const servers = [...upstreams.values()].flat();
    const expected = KVS_ETCD_NODES.map(
      ([name, service]) => `${name}:${environmentOf(service)['PORT'] ?? environmentOf(service)['KV_STORE_PORT'] ?? IMAGE_PORT}`,
    );
    assert.deepEqual(servers.sort(), expected.sort(), "the upstream's servers are the kvs nodes, at the port they listen on");
    const listen = /^\s*listen\s+(\S+);/m.exec(site)?.[1] ?? '';
    const listenPort = listen.split(':').at(-1)!;
    assert.ok(
      (nginx.ports ?? []).some((port) => port.endsWith(`:${listenPort}`)),
      `nginx's listen port (${listen}) is published`,
    );
    assert.deepEqual(
      dependsOn(nginx).sort(),
      KVS_ETCD_NODES.map(([name]) => name).sort(),
      'nginx starts after the kvs nodes (it resolves their names at start)',
    );
  });
});

// ---------------------------------------------------------------------------
// The image's start command, run on a directory laid out like the image.

const leftovers = leftoversCleanedAfter('kvs-container-');
/**
 * Processes still to kill if a test fails: tini and kvs both. tini puts kvs in a
 * process group of its own, and killing tini (not PID 1 here, unlike in the
 * container) leaves kvs running, holding the test's pipes open.
 */
const strays = new Set<number>();
const killStrays = (pids: Iterable<number>) => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
};
after(() => killStrays(strays));

/** The children of a process (Linux). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** tini on PATH (Debian: /usr/bin/tini), as in the image. */
const HAS_TINI = spawnSync('tini', ['--version'], { stdio: 'ignore' }).status === 0;

/** The image's file system as far as the tests need it: its root, WORKDIR in it, and the directory its `kvs` link is in. */
interface ImageLayout {
  root: string;
  app: string;
  /** Where the image's PATH finds `kvs` (/usr/local/bin, under root). */
  bin: string;
}

/** A path of the image (absolute, or relative to WORKDIR) in the laid-out directory. */
const inImage = (root: string, path: string) => join(root, posix.isAbsolute(path) ? path : posix.join(WORKDIR, path));

/**
 * The final stage replayed, instruction by instruction, into a directory:
 * - COPY: context files from the repository; the build stage's /app/... from the
 *   repository's own build (the build stage copies the context to the same relative
 *   paths and runs the same npm run build). Its dist/ holds only dist/src: the build
 *   stage has no test/ or bench/ (.dockerignore), whose output the repository's dist/
 *   also holds.
 * - RUN: `npm ci` as written there (production dependencies only, from the lock
 *   file; from npm's cache where it has them), `chmod` and `ln -s` as written. What
 *   prepares the system (apt-get, /data) is the host's here (tini from Debian, a
 *   temporary data directory); `npm cache clean` is skipped: the cache is this
 *   machine's. Any other command fails the test, to keep it in step with the Dockerfile.
 * So node_modules is what the image has, and nothing more: a package the server loads
 * at run time that is only a devDependency is missing, however it is loaded.
 */
function layOutImage(): ImageLayout {
  const root = leftovers.directory();
  const app = join(root, WORKDIR);
  mkdirSync(app, { recursive: true });
  const buildStage = STAGES[0]!;
  const buildWorkdir = argumentsOf(withKeyword(buildStage, 'WORKDIR').at(-1)!)[0]!;
  const environment = new Map<string, string>();
  for (const instruction of FINAL.instructions) {
    const keyword = instruction.getKeyword();
    if (keyword === 'ENV') {
      for (const [name, value] of properties([instruction])) environment.set(name, value);
    } else if (keyword === 'COPY') {
      const parts = argumentsOf(instruction);
      const destination = posix.join(WORKDIR, parts.at(-1)!);
      const from = (instruction as Copy).getFromFlag()?.getValue() ?? null;
      for (const source of parts.slice(0, -1)) {
        let repoPath: string;
        if (from === null) repoPath = source;
        else {
          assert.equal(from, buildStage.name, 'copies from the build stage only');
          repoPath = posix.relative(buildWorkdir, source);
        }
        const target = parts.at(-1)!.endsWith('/') && !source.endsWith('/') ? posix.join(destination, posix.basename(source)) : destination;
        cpSync(repoFile(repoPath), join(root, target), {
          recursive: true,
          filter: (path) => {
            const inRepo = relative(ROOT, path);
            return !inRepo.startsWith('dist/') || inRepo === 'dist/src' || inRepo.startsWith('dist/src/');
          },
        });
      }
    } else if (keyword === 'RUN') {
      const script = (instruction.getArgumentsContent() ?? '').replace(/\\\r?\n/g, ' ');
      for (const command of script.split('&&').map((part) => part.trim())) {
        const words = command.split(/\s+/);
        if (/^(apt-get|rm|mkdir|chown)$/.test(words[0]!)) continue;
        if (words[0] === 'npm' && words[1] === 'cache') continue;
        if (words[0] === 'npm' && words[1] === 'ci') {
          const install = spawnSync('npm', [...words.slice(1), '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
            cwd: app,
            env: { ...process.env, ...Object.fromEntries(environment) },
            encoding: 'utf8',
          });
          assert.equal(install.status, 0, `${command} in the image layout:\n${install.stdout}${install.stderr}`);
        } else if (words[0] === 'chmod' && words.length === 3) {
          chmodSync(inImage(root, words[2]!), parseInt(words[1]!, 8));
        } else if (words[0] === 'ln' && words[1] === '-s' && words.length === 4) {
          mkdirSync(dirname(inImage(root, words[3]!)), { recursive: true });
          symlinkSync(inImage(root, words[2]!), inImage(root, words[3]!));
        } else {
          assert.fail(`the test does not replay the final stage's \`${command}\`: teach layOutImage()`);
        }
      }
    }
  }
  return { root, app, bin: join(root, '/usr/local/bin') };
}

interface Running {
  child: ChildProcess;
  url: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The image's environment (its ENV over the base image's PATH), with a test's overrides. */
function imageEnvironment(image: ImageLayout, overrides: Record<string, string>): Record<string, string> {
  // The base image's PATH starts with /usr/local/bin: the image's own there, then this machine's (node, tini).
  return { PATH: `${image.bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`, ...Object.fromEntries(IMAGE_ENV), ...overrides };
}

/** ENTRYPOINT + CMD, as the image starts (without tini where a developer's machine lacks it). */
function startCommand(): string[] {
  if (ENTRYPOINT[0] === 'tini' && !HAS_TINI) {
    assert.ok(!process.env['CI'], "tini is not installed (.ci/run installs it): CI must run the image's ENTRYPOINT");
    return CMD;
  }
  return [...ENTRYPOINT, ...CMD];
}

/** The port kvs will take in `environment`, as src/config.ts picks it (its variables in order, then its default). */
function portIn(environment: Record<string, string>): string {
  return SETTINGS.port.env.map((variable) => environment[variable]).find((value) => value !== undefined && value !== '') ?? String(DEFAULT_PORT);
}

async function startImage(app: string, environment: Record<string, string>, scheme: 'http' | 'https', ca?: Buffer): Promise<Running> {
  const [program, ...args] = startCommand();
  const child = spawn(program!, args, { cwd: app, env: environment, stdio: ['ignore', 'pipe', 'pipe'] });
  const pids = new Set([child.pid!]);
  for (const pid of pids) strays.add(pid);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      // kvs exits first (tini exits with its status): neither is left.
      if (code !== null) for (const pid of pids) strays.delete(pid);
      resolve({ code, signal });
    }),
  );
  let running = true;
  void exited.then(() => (running = false));
  const url = `${scheme}://127.0.0.1:${portIn(environment)}`;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (!running) throw new Error(`the image's start command exited before it was ready:\n${output}`);
    for (const pid of childrenOf(child.pid!)) {
      pids.add(pid);
      strays.add(pid);
    }
    try {
      const status = ca === undefined ? (await fetch(`${url}/readyz`)).status : (await httpsFetch(`${url}/readyz`, ca)).status;
      if (status === 200) return { child, url, output: () => output, exited };
    } catch {
      // not listening yet
    }
    await sleep(25);
  }
  killStrays(pids);
  throw new Error(`the image's start command was not ready within 10 s:\n${output}`);
}

/** The HEALTHCHECK's command, as Docker runs it in the container: same environment and working directory, its --timeout. */
function runHealthcheck(app: string, environment: Record<string, string>): { status: number | null; output: string } {
  const [program, ...args] = HEALTHCHECK.command;
  const result = spawnSync(program!, args, { cwd: app, env: environment, encoding: 'utf8', timeout: durationMs(HEALTHCHECK.flags.get('timeout') ?? '30s') });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** SIGTERM to PID 1 (tini), as docker stop sends it: kvs must exit 0 well within docker stop's 10 s. */
async function stopLikeDocker(running: Running): Promise<void> {
  const started = Date.now();
  running.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), 10_000)));
  const result = await Promise.race([running.exited, timeout]);
  clearTimeout(timer);
  assert.notEqual(result, 'timeout', `still running 10 s after SIGTERM:\n${running.output()}`);
  assert.deepEqual(result, { code: 0, signal: null }, `exit 0 on SIGTERM:\n${running.output()}`);
  assert.ok(Date.now() - started < 10_000);
}

/** The seed README's two sample requests (curl -X POST -H ... -d '...' URL, then curl URL), as fetch calls. */
function seedSampleRequests(): Array<{ method: string; headers: Record<string, string>; body: string | undefined; url: string }> {
  const readme = readRepoFile('test/fixtures/seed-README.md');
  const section = readme.slice(readme.indexOf('Sample Requests'));
  const commands = [...section.matchAll(/```bash\n([\s\S]*?)```/g)].map((match) => match[1]!.trim()).slice(0, 2);
  assert.equal(commands.length, 2);
  return commands.map((command) => {
    const words = [...command.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((match) => match[1] ?? match[2] ?? match[3]!);
    assert.equal(words.shift(), 'curl');
    const request = { method: 'GET', headers: {} as Record<string, string>, body: undefined as string | undefined, url: '' };
    while (words.length > 0) {
      const word = words.shift()!;
      if (word === '-X') request.method = words.shift()!;
      else if (word === '-H') {
        const header = words.shift()!;
        request.headers[header.slice(0, header.indexOf(':')).trim()] = header.slice(header.indexOf(':') + 1).trim();
      } else if (word === '-d') request.body = words.shift()!;
      else request.url = word;
    }
    assert.match(request.url, /^http:\/\/localhost:8080\//);
    return request;
  });
}

/** A GET that must answer 200 with this content type; its body as text. */
async function expectServed(url: string, type: RegExp): Promise<string> {
  const response = await fetch(url);
  const body = await response.text();
  assert.equal(response.status, 200, `${url}: ${body.slice(0, 300)}`);
  assert.match(response.headers.get('content-type') ?? '', type, url);
  return body;
}

describe(
  "the image's start command",
  { skip: TEST_ENGINE === 'etcd' ? 'engine-independent (the image defaults to the embedded engine): runs in the lmdb pass' : false },
  () => {
    let image: ImageLayout;
    before(() => {
      image = layOutImage();
    });

    test('its node_modules holds the production dependencies only, from the lock file', () => {
      const installed = (directory: string) =>
        readdirSync(directory).flatMap((name) =>
          name.startsWith('@') ? readdirSync(join(directory, name)).map((scoped) => `${name}/${scoped}`) : name.startsWith('.') ? [] : [name],
        );
      const packages = new Set(installed(join(image.app, 'node_modules')));
      const lock = JSON.parse(readRepoFile('package-lock.json')) as { packages: Record<string, { dev?: boolean }> };
      for (const name of Object.keys(MANIFEST.dependencies)) assert.ok(packages.has(name), `${name} (a dependency) is installed`);
      for (const name of packages) {
        const entry = lock.packages[`node_modules/${name}`];
        assert.ok(entry !== undefined && entry.dev !== true, `${name} is installed: a production package of the lock file`);
      }
      // A devDependency may be a production package too (@types/node is one of protobufjs's dependencies).
      const devOnly = Object.keys(MANIFEST.devDependencies).filter((name) => lock.packages[`node_modules/${name}`]?.dev === true);
      assert.ok(devOnly.includes('typescript'));
      for (const name of devOnly) assert.ok(!packages.has(name), `${name} (a devDependency only) is not installed`);
    });

    test("the kvs command is on the image's PATH: the CLI that CMD runs", () => {
      const environment = imageEnvironment(image, {});
      const found = spawnSync('sh', ['-c', 'command -v kvs'], { env: environment, encoding: 'utf8' });
      assert.equal(found.stdout.trim(), join(image.bin, 'kvs'), "kvs is found in the image's /usr/local/bin");
      assert.equal(readlinkSync(join(image.bin, 'kvs')), inImage(image.root, posix.join(WORKDIR, CMD[1]!)), 'a link to the CLI that CMD runs');
      // From anywhere (docker exec's working directory need not be WORKDIR).
      const version = spawnSync('kvs', ['version'], { cwd: image.root, env: environment, encoding: 'utf8' });
      assert.equal(version.status, 0, version.stderr);
      assert.equal(version.stdout.trim(), MANIFEST.version);
    });

    test("serves the seed README's requests on KV_STORE_PORT, /docs and the console, passes its HEALTHCHECK, warns without a token, stops on SIGTERM with the data on disk; restarted with a token from `kvs token create`, TLS and pretty logs it reads the key back", async (t) => {
      if (!HAS_TINI) t.diagnostic('tini is not installed here: running the CMD without the ENTRYPOINT');
      const { app } = image;
      // The etcd engine finds its proto where the image puts it (relative to the compiled module).
      const proto = spawnSync(
        process.execPath,
        ['--input-type=module', '-e', "const { etcdMethods } = await import('./dist/src/engine/etcd/etcd-api.js'); etcdMethods();"],
        { cwd: app, encoding: 'utf8' },
      );
      assert.equal(proto.status, 0, `the etcd engine loads proto/ in the image layout:\n${proto.stderr}`);

      // /data and 8080 may not be free here: a temporary data directory and a free port, given as the seed's
      // KV_STORE_PORT (docker run -e KV_STORE_PORT=9000). HOST is the image's 0.0.0.0, overridden to 127.0.0.1
      // because tests bind loopback only (protected mode stays off, as in the image).
      const dataDirectory = leftovers.directory();
      const storePort = String(await freePort());
      const environment = imageEnvironment(image, { DATA_DIRECTORY: dataDirectory, KV_STORE_PORT: storePort, HOST: '127.0.0.1' });
      const first = await startImage(app, environment, 'http');
      assert.equal(new URL(first.url).port, storePort, 'kvs listens on KV_STORE_PORT');

      const [create, read] = seedSampleRequests();
      const put = await fetch(create!.url.replace('http://localhost:8080', first.url), {
        method: create!.method,
        headers: create!.headers,
        body: create!.body ?? null,
      });
      assert.equal(put.status, 200);
      assert.deepEqual(await put.json(), { status: 'success' });
      const get = await fetch(read!.url.replace('http://localhost:8080', first.url), { method: read!.method });
      assert.equal(get.status, 200);
      assert.deepEqual(await get.json(), { status: 'success', value: 'new_value' });

      // What loads packages beyond the import graph: /docs (swagger-ui-dist's files), the console (eventsource-parser's module).
      assert.match(await expectServed(`${first.url}/docs`, /^text\/html/), /swagger-ui-bundle\.js/);
      await expectServed(`${first.url}/docs/assets/swagger-ui-bundle.js`, /^text\/javascript/);
      assert.match(await expectServed(`${first.url}/`, /^text\/html/), /console\//);
      await expectServed(`${first.url}/console/vendor/eventsource-parser.js`, /^text\/javascript/);

      const healthy = runHealthcheck(app, environment);
      assert.equal(healthy.status, 0, `the HEALTHCHECK command exits 0 while kvs serves on KV_STORE_PORT:\n${healthy.output}`);

      const lines = first
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: number; msg: string });
      const warning = lines.find((line) => line.level === 40 && /no token/.test(line.msg));
      assert.ok(warning, `a warning that no token is configured:\n${first.output()}`);
      assert.match(warning.msg, /protected mode is off/);
      assert.match(warning.msg, /KV_ADMIN_TOKEN/, 'it says how to set a token');
      assert.match(warning.msg, /KV_TOKENS_FILE/);
      const advice = /`(kvs [^`]+)`/.exec(warning.msg);
      assert.ok(advice, `the warning names a kvs command: ${warning.msg}`);

      await stopLikeDocker(first);
      assert.notEqual(runHealthcheck(app, environment).status, 0, 'the HEALTHCHECK command fails once kvs is gone');

      // The warning's advice, followed in the image (docker exec CONTAINER kvs token create ...): a token and its entry.
      const [command, ...verb] = advice[1]!.split(' ');
      const created = spawnSync(command!, [...verb, '--name', 'ops', '--admin'], { cwd: app, env: environment, encoding: 'utf8' });
      assert.equal(created.status, 0, `${advice[1]} in the image:\n${created.stderr}`);
      const token = /^(kvs_\S+)$/m.exec(created.stdout)?.[1];
      const entry = created.stdout.split('\n').find((line) => line.startsWith('{"name"'));
      assert.ok(token !== undefined && entry !== undefined, created.stdout);
      const tokensFile = join(leftovers.directory(), 'tokens.json');
      writeFileSync(tokensFile, JSON.stringify({ tokens: [JSON.parse(entry)] }));

      // The same data directory, now with that token, HTTPS (the README's exposed run), PORT and pretty logs
      // (pino-pretty loads only for them).
      const certificate = makeCertificate(leftovers.directory());
      const secured = imageEnvironment(image, {
        DATA_DIRECTORY: dataDirectory,
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        KV_TOKENS_FILE: tokensFile,
        KV_TLS_CERT: certificate.certFile,
        KV_TLS_KEY: certificate.keyFile,
        LOG_FORMAT: 'pretty',
      });
      const second = await startImage(app, secured, 'https', certificate.cert);
      const again = await httpsFetch(`${second.url}/get?key=new_key`, certificate.cert, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(again.status, 200, again.text);
      assert.deepEqual(JSON.parse(again.text), { status: 'success', value: 'new_value' }, 'the key written before SIGTERM is on disk');
      assert.equal((await httpsFetch(`${second.url}/get?key=new_key`, certificate.cert)).status, 401, 'the token is required');
      const healthyOverTls = runHealthcheck(app, secured);
      assert.equal(healthyOverTls.status, 0, `the HEALTHCHECK command follows KV_TLS_CERT to https:\n${healthyOverTls.output}`);
      assert.doesNotMatch(second.output(), /no token is configured/, 'no warning once a token is configured');
      await stopLikeDocker(second);
      const logged = second
        .output()
        .split('\n')
        .filter((line) => line.trim() !== '');
      assert.ok(logged.length > 0 && logged.every((line) => !line.startsWith('{')), `pretty lines, no JSON:\n${second.output()}`);
      assert.ok(
        logged.some((line) => /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: /.test(line)),
        `pino-pretty's format:\n${second.output()}`,
      );
      assert.ok(existsSync(join(dataDirectory, 'kvs.mdb')), 'the store is in DATA_DIRECTORY');
    });
  },
);
