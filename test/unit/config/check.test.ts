import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkPolicyFile } from '../../../src/config/check.ts';

const root = resolve(import.meta.dirname, '../../..');

describe('checkPolicyFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-check-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the default policy is ok, with a summary line', () => {
    const f = join(root, 'config/palisade.yaml');
    const r = checkPolicyFile(f);
    assert.equal(r.ok, true);
    assert.deepEqual(r.lines, [`${f}: ok (4 listeners, 1 PBX target)`]);
  });

  it('an invalid policy lists one FILE:LINE:COL line per issue, then a summary', () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'listeners:\n  - transport: sctp\n    port: 5060\n');
    const r = checkPolicyFile(f);
    assert.equal(r.ok, false);
    assert.equal(r.lines.length, 3);
    assert.match(r.lines[0] ?? '', new RegExp(`^${f}:1:1 pbx: required key is missing$`));
    assert.match(r.lines[1] ?? '', new RegExp(`^${f}:2:16 listeners\\[0\\]\\.transport: `));
    assert.equal(r.lines[2], `${f}: invalid (2 problems)`);
  });

  it('warns, without failing, about secrets and files the machine lacks, and never prints a secret', () => {
    const f = join(dir, 'warn.yaml');
    writeFileSync(
      f,
      `listeners:
  - transport: tls
    port: 5061
    tls: { cert: c.pem, key: k.pem, keyPassphrase: { env: PALISADE_CHECK_TEST_UNSET } }
  - transport: wss
    port: 8443
    tls: { cert: c.pem, key: k.pem, keyPassphrase: hunter2-inline }
pbx:
  targets: [{ name: a, host: 127.0.0.1 }]
`,
    );
    const r = checkPolicyFile(f);
    assert.equal(r.ok, true);
    const text = r.lines.join('\n');
    assert.match(text, /listeners\[0\]\.tls\.cert: file .*c\.pem does not exist/);
    assert.match(text, /listeners\[0\]\.tls\.keyPassphrase: environment variable PALISADE_CHECK_TEST_UNSET is not set/);
    assert.match(text, /listeners\[1\]\.tls\.keyPassphrase: secret written inline/);
    assert.ok(!text.includes('hunter2'));
  });

  it('a missing file is invalid', () => {
    const r = checkPolicyFile(join(dir, 'absent.yaml'));
    assert.equal(r.ok, false);
    assert.match(r.lines[0] ?? '', /ENOENT/);
  });
});
