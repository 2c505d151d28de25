import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { knownKeysAt, listSchemaKeyPaths, suggestKey } from '../../../src/config/schema-keys.ts';

const root = resolve(import.meta.dirname, '../../..');

describe('config/README.md', () => {
  const readme = readFileSync(resolve(root, 'config/README.md'), 'utf8');

  /** A key is documented by a table row `| \`path\` |`; keys inside a TLS block are documented once as `tls.…`. */
  function documented(path: string): boolean {
    const row = (p: string): boolean => readme.includes(`| \`${p}\` |`);
    if (row(path)) return true;
    const at = path.indexOf('.tls.');
    return at >= 0 && row(path.slice(at + 1));
  }

  it('documents every key of the schema', () => {
    const keys = listSchemaKeyPaths();
    assert.ok(keys.length > 80, `schema walk found only ${keys.length} keys`);
    const missing = keys.filter((k) => !documented(k));
    assert.deepEqual(missing, []);
  });

  it('documents no key the schema lacks', () => {
    const keys = new Set(listSchemaKeyPaths());
    const rows = [...readme.matchAll(/^\| `([A-Za-z[\].]+)` \|/gm)].map((m) => m[1] ?? '');
    assert.ok(rows.length > 50);
    const stale = rows.filter((r) => !keys.has(r) && !keys.has(`listeners[].${r}`));
    assert.deepEqual(stale, []);
  });
});

describe('schema keys', () => {
  it('lists keys allowed at a path, through lists and optional blocks', () => {
    assert.ok(knownKeysAt(['listeners', 0]).includes('advertise'));
    assert.ok(knownKeysAt(['listeners', 3, 'tls']).includes('minVersion'));
    assert.deepEqual(knownKeysAt(['listeners', 0, 'tls', 'keyPassphrase']).sort(), ['env', 'file']);
    assert.deepEqual(knownKeysAt(['nope']), []);
  });

  it('suggests close keys only', () => {
    assert.equal(suggestKey('adress', ['address', 'port']), 'address');
    assert.equal(suggestKey('Port', ['address', 'port']), 'port');
    assert.equal(suggestKey('banana', ['address', 'port']), undefined);
  });
});
