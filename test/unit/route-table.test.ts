import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable } from '../../src/http/route-table.js';

describe('RouteTable.allowedMethods', () => {
  it('gives the methods of an exact path, sorted and upper-cased', () => {
    const table = new RouteTable();
    table.add('/v1/kv', ['GET', 'delete']);
    table.add('/v1/kv', 'head');
    assert.deepEqual(table.allowedMethods('/v1/kv'), ['DELETE', 'GET', 'HEAD']);
  });

  it('matches exact paths exactly', () => {
    const table = new RouteTable();
    table.add('/v1/kv', 'GET');
    assert.deepEqual(table.allowedMethods('/v1/kv/'), []);
    assert.deepEqual(table.allowedMethods('/v1/kvx'), []);
    assert.deepEqual(table.allowedMethods('/v1'), []);
    assert.deepEqual(table.allowedMethods('x/v1/kv'), []);
    assert.deepEqual(table.allowedMethods('/V1/KV'), []);
  });

  it('gives [] when nothing matches, including an empty table', () => {
    assert.deepEqual(new RouteTable().allowedMethods('/'), []);
    const table = new RouteTable();
    table.add('/healthz', 'GET');
    assert.deepEqual(table.allowedMethods('/readyz'), []);
  });

  it('lets * match any rest of the path, including slashes and nothing', () => {
    const table = new RouteTable();
    table.add('/v1/kv/*', ['GET', 'PUT']);
    assert.deepEqual(table.allowedMethods('/v1/kv/a'), ['GET', 'PUT']);
    assert.deepEqual(table.allowedMethods('/v1/kv/a/b/c'), ['GET', 'PUT']);
    assert.deepEqual(table.allowedMethods('/v1/kv/'), ['GET', 'PUT']);
    assert.deepEqual(table.allowedMethods('/v1/kv'), []);
    assert.deepEqual(table.allowedMethods('/v1/other/a'), []);
  });

  it('lets :param match exactly one non-empty segment', () => {
    const table = new RouteTable();
    table.add('/v1/tokens/:id', ['GET', 'DELETE']);
    assert.deepEqual(table.allowedMethods('/v1/tokens/abc'), ['DELETE', 'GET']);
    assert.deepEqual(table.allowedMethods('/v1/tokens/a.b-c'), ['DELETE', 'GET']);
    assert.deepEqual(table.allowedMethods('/v1/tokens/'), []);
    assert.deepEqual(table.allowedMethods('/v1/tokens/a/b'), []);
    assert.deepEqual(table.allowedMethods('/v1/tokens'), []);
  });

  it('handles several params and params followed by literal text', () => {
    const table = new RouteTable();
    table.add('/a/:x/b/:y_2', 'GET');
    table.add('/files/:name.json', 'POST');
    assert.deepEqual(table.allowedMethods('/a/1/b/2'), ['GET']);
    assert.deepEqual(table.allowedMethods('/a/1/c/2'), []);
    assert.deepEqual(table.allowedMethods('/files/report.json'), ['POST']);
    assert.deepEqual(table.allowedMethods('/files/reportxjson'), []);
  });

  it('unions the methods of every matching route', () => {
    const table = new RouteTable();
    table.add('/v1/kv/*', ['PUT', 'DELETE']);
    table.add('/v1/kv/:key', 'GET');
    table.add('/v1/kv/special', 'POST');
    assert.deepEqual(table.allowedMethods('/v1/kv/special'), ['DELETE', 'GET', 'POST', 'PUT']);
    assert.deepEqual(table.allowedMethods('/v1/kv/other'), ['DELETE', 'GET', 'PUT']);
    assert.deepEqual(table.allowedMethods('/v1/kv/a/b'), ['DELETE', 'PUT']);
  });

  it('treats regex metacharacters in route URLs literally', () => {
    const table = new RouteTable();
    table.add('/v1/openapi.json', 'GET');
    table.add('/a+b', 'GET');
    table.add('/q?x', 'GET');
    table.add('/(group)', 'GET');
    table.add('/[set]', 'GET');
    table.add('/x|y', 'GET');
    table.add('/^start$', 'GET');
    table.add('/{1,2}', 'GET');
    table.add('/back\\slash', 'GET');
    for (const path of ['/v1/openapi.json', '/a+b', '/q?x', '/(group)', '/[set]', '/x|y', '/^start$', '/{1,2}', '/back\\slash']) {
      assert.deepEqual(table.allowedMethods(path), ['GET'], path);
    }
    for (const path of ['/v1/openapiXjson', '/aab', '/ab', '/qx', '/x', '/group', '/s', '/y', '/start', '/{1', '/backslash', '/back\\\\slash']) {
      assert.deepEqual(table.allowedMethods(path), [], path);
    }
  });

  it('treats regex metacharacters in the requested path literally', () => {
    const table = new RouteTable();
    table.add('/v1/kv/:key', 'GET');
    table.add('/exact', 'GET');
    assert.deepEqual(table.allowedMethods('/v1/kv/.*'), ['GET']);
    assert.deepEqual(table.allowedMethods('/ex.ct'), []);
    assert.deepEqual(table.allowedMethods('/exac*'), []);
  });
});

describe('RouteTable.entries', () => {
  it('lists every URL once with its sorted methods', () => {
    const table = new RouteTable();
    table.add('/b', ['POST', 'GET']);
    table.add('/a/*', 'put');
    table.add('/b', 'GET');
    assert.deepEqual(table.entries(), [
      { url: '/b', methods: ['GET', 'POST'] },
      { url: '/a/*', methods: ['PUT'] },
    ]);
  });
});
