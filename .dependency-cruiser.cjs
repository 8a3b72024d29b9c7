// The import direction of docs/ARCHITECTURE.md, checked by dependency-cruiser: `npm run lint:deps`, part of `npm run lint`
// and so of `npm test`.
//
//   core ← engine ← watch ← http ← main/cli; auth needs only core; client needs nothing of the server; web needs only
//   client; cli's data verbs use only client. Only engine/lmdb imports lmdb; only engine/etcd imports gRPC. The two
//   engines never import each other, and outside engine/ only the composition root (main.ts) reaches into them, with
//   two narrow doors: config.ts reads engine/etcd/etcd-settings.ts, `kvs restore` runs engine/lmdb/restore.ts.
//
// Tests and the bench may import anything (they are not cruised as sources of violations, only as importers of src/).
/** The server's modules: every module under src/ but the SDK and the console. */
const SERVER = '^src/(?!client/|web/)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles: each layer, and each module in it, builds on what is below it.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-is-the-bottom',
      severity: 'error',
      comment: 'core/ has no I/O and needs nothing of kvs but core/.',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/core/' },
    },
    {
      name: 'core-needs-no-package',
      severity: 'error',
      comment: 'core/ is plain TypeScript: no npm package.',
      from: { path: '^src/core/' },
      to: { dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'engine-needs-only-core',
      severity: 'error',
      comment: 'engine/ (the contract and both engines) builds on core/ alone: watch, http, auth and main are above it.',
      from: { path: '^src/engine/' },
      to: { path: '^src/', pathNot: '^src/(core|engine)/' },
    },
    {
      name: 'engine-contract-is-engine-neutral',
      severity: 'error',
      comment: 'engine/*.ts (the contract, listing, transfer, txn-plan) serve both engines and import neither.',
      from: { path: '^src/engine/[^/]+$' },
      to: { path: '^src/engine/(lmdb|etcd)/' },
    },
    {
      name: 'engines-apart',
      severity: 'error',
      comment: 'engine/lmdb and engine/etcd never import each other.',
      from: { path: '^src/engine/(lmdb|etcd)/' },
      to: { path: '^src/engine/(lmdb|etcd)/', pathNot: '^src/engine/$1/' },
    },
    {
      name: 'engine-internals-stay-inside',
      severity: 'error',
      comment:
        'Outside engine/, only main.ts (the composition root: it picks the engine) imports an engine; config.ts and cli/restore.ts have a rule of their own.',
      from: { path: '^src/', pathNot: ['^src/engine/', '^src/main\\.ts$', '^src/config\\.ts$', '^src/cli/restore\\.ts$'] },
      to: { path: '^src/engine/(lmdb|etcd)/' },
    },
    {
      name: 'config-reads-only-engine-settings',
      severity: 'error',
      comment: "config.ts knows of the engines only what engine/etcd/etcd-settings.ts exports (endpoint syntax, etcd's default limits).",
      from: { path: '^src/config\\.ts$' },
      to: { path: '^src/engine/(lmdb|etcd)/', pathNot: '^src/engine/etcd/etcd-settings\\.ts$' },
    },
    {
      name: 'restore-runs-only-the-offline-restore',
      severity: 'error',
      comment: '`kvs restore` (offline) runs engine/lmdb/restore.ts and nothing else of an engine.',
      from: { path: '^src/cli/restore\\.ts$' },
      to: { path: '^src/engine/(lmdb|etcd)/', pathNot: '^src/engine/lmdb/restore\\.ts$' },
    },
    {
      name: 'settings-load-no-engine',
      severity: 'error',
      comment:
        'The configuration, which every kvs command reads for its help, loads no engine: neither lmdb nor gRPC nor the etcd schema (nor the HTTP server).',
      from: { path: ['^src/config\\.ts$', '^src/engine/etcd/etcd-settings\\.ts$'] },
      to: { path: ['node_modules/(lmdb|@grpc/|fastify)', '^src/(engine/etcd/(etcd-api|etcd-client)|http/|main)'], reachable: true },
    },
    {
      name: 'watch-needs-core-and-engine',
      severity: 'error',
      comment: 'watch/ builds on core/ and the engine contract; http is above it.',
      from: { path: '^src/watch/' },
      to: { path: '^src/', pathNot: '^src/(core|engine|watch)/' },
    },
    {
      name: 'auth-needs-only-core',
      severity: 'error',
      comment: 'auth/ (tokens, grants, the gatekeeper) needs nothing of kvs but core/.',
      from: { path: '^src/auth/' },
      to: { path: '^src/', pathNot: '^src/(core|auth)/' },
    },
    {
      name: 'http-is-below-main',
      severity: 'error',
      comment: 'http/ builds on core, engine, watch and auth; main.ts and the CLI are above it, the SDK and the console apart.',
      from: { path: '^src/http/' },
      to: { path: '^src/', pathNot: '^src/(core|engine|watch|auth|http)/' },
    },
    {
      name: 'client-needs-nothing-of-the-server',
      severity: 'error',
      comment: 'The SDK (kvs/client) runs in browsers too: nothing of the server, and no Node module.',
      from: { path: '^src/client/' },
      to: { path: '^src/', pathNot: '^src/client/' },
    },
    {
      name: 'web-needs-only-client',
      severity: 'error',
      comment: 'The console runs in the browser, on the SDK alone.',
      from: { path: '^src/web/' },
      to: { path: '^src/', pathNot: '^src/(web|client)/' },
    },
    {
      name: 'browser-code-has-no-node-module',
      severity: 'error',
      comment: 'The SDK and the console run in browsers: no node: module (their tsconfig.json has no Node types either).',
      from: { path: '^src/(client|web)/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'data-verbs-use-only-client',
      severity: 'error',
      comment: "The CLI's data verbs (cli/commands/) are SDK clients: nothing of the server, however indirectly.",
      from: { path: '^src/cli/commands/' },
      to: { path: SERVER, pathNot: '^src/cli/(?!index\\.ts$|serve\\.ts$|restore\\.ts$|token\\.ts$)', reachable: true },
    },
    {
      name: 'only-engine-lmdb-imports-lmdb',
      severity: 'error',
      comment: 'The embedded engine is the only user of lmdb-js.',
      from: { path: '^src/', pathNot: '^src/engine/lmdb/' },
      to: { path: 'node_modules/lmdb/' },
    },
    {
      name: 'only-engine-etcd-imports-grpc',
      severity: 'error',
      comment: 'The etcd engine is the only user of gRPC (@grpc/grpc-js, @grpc/proto-loader).',
      from: { path: '^src/', pathNot: '^src/engine/etcd/' },
      to: { path: 'node_modules/@grpc/' },
    },
    {
      name: 'server-needs-no-tests',
      severity: 'error',
      comment: 'src/ never imports test/ or bench/.',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'server-needs-no-dev-dependency',
      severity: 'error',
      comment: 'What src/ imports at run time must be a dependency: the package is installed without devDependencies.',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'Every import resolves.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^dist/', '^src/engine/etcd/generated/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    cache: { folder: 'node_modules/.cache/dependency-cruiser', strategy: 'content' },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
