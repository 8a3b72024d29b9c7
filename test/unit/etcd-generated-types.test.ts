import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/** The checkout: dist/test/unit/ → the root. */
const root = fileURLToPath(new URL('../../../', import.meta.url));
const GENERATED = 'src/engine/etcd/generated';

function filesUnder(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('the generated etcd types (npm run generate:etcd-types)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'kvs-etcd-types-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('are what the generator makes of proto/etcd-v3.proto now: regenerating changes nothing', () => {
    // The script's own command line, writing elsewhere: the flags exist once, in package.json.
    const script: string = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts['generate:etcd-types'];
    assert.ok(script.includes(`-O ${GENERATED} `), script);
    const [command, ...args] = script.replace(`-O ${GENERATED} `, `-O ${scratch} `).split(' ');
    const generated = spawnSync(join(root, 'node_modules', '.bin', command!), args, { cwd: root, encoding: 'utf8' });
    assert.equal(generated.status, 0, generated.stderr);

    const committed = filesUnder(join(root, GENERATED))
      .map((path) => relative(join(root, GENERATED), path))
      .sort();
    const fresh = filesUnder(scratch)
      .map((path) => relative(scratch, path))
      .sort();
    assert.deepEqual(committed, fresh, 'the same files');
    for (const file of fresh) {
      assert.equal(
        readFileSync(join(root, GENERATED, file), 'utf8'),
        readFileSync(join(scratch, file), 'utf8'),
        `${file} is stale: run npm run generate:etcd-types`,
      );
    }
  });
});
