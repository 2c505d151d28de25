import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  type ConfigIssue,
  formatIssue,
  formatPath,
  loadPolicyFile,
  loadPolicyText,
  MAX_POLICY_BYTES,
  resolveSecret,
} from '../../../src/config/load.ts';

const root = resolve(import.meta.dirname, '../../..');

/** A small valid policy; tests break one thing at a time. */
const MINIMAL = `listeners:
  - transport: udp
    port: 5060
pbx:
  targets:
    - name: pbx1
      host: 127.0.0.1
`;

function issuesOf(text: string, file = 'policy.yaml'): ConfigIssue[] {
  const r = loadPolicyText(text, file);
  assert.equal(r.ok, false, 'expected the policy to be rejected');
  return r.ok ? [] : r.error;
}

function pick(issues: readonly ConfigIssue[]): Array<Pick<ConfigIssue, 'code' | 'line' | 'column' | 'path'>> {
  return issues.map(({ code, line, column, path }) => ({ code, line, column, path }));
}

describe('shipped policies', () => {
  it('config/palisade.yaml validates and has the documented listeners', () => {
    const r = loadPolicyFile(join(root, 'config/palisade.yaml'));
    assert.ok(r.ok, r.ok ? '' : r.error.map(formatIssue).join('\n'));
    const p = r.value;
    assert.deepEqual(
      p.listeners.map((l) => [l.transport, l.address, l.port]),
      [
        ['udp', '0.0.0.0', 5060],
        ['tcp', '0.0.0.0', 5060],
        ['tls', '0.0.0.0', 5061],
        ['wss', '0.0.0.0', 8443],
      ],
    );
    const tls = p.listeners[2]?.tls;
    assert.equal(tls?.minVersion, 'TLSv1.3');
    assert.equal(tls?.cert, undefined, 'no cert path: a self-signed certificate is generated');
    assert.equal(p.listeners[3]?.ws?.path, '/');
    assert.deepEqual([p.pbx.listen.address, p.pbx.listen.port], ['127.0.0.1', 5080]);
    assert.deepEqual(
      p.pbx.targets.map((t) => [t.host, t.port, t.transport]),
      [['127.0.0.1', 5070, 'udp']],
    );
    assert.equal(p.node.dataDir, join(root, 'config/data'));
    assert.deepEqual([p.metrics.address, p.metrics.port], ['127.0.0.1', 9090]);
  });

  const examples = readdirSync(join(root, 'config/examples')).filter((f) => f.endsWith('.yaml'));
  it('ships at least the failover and NAT examples', () => {
    assert.ok(examples.includes('two-pbx-failover.yaml'));
    assert.ok(examples.includes('behind-nat.yaml'));
  });
  for (const f of examples) {
    it(`config/examples/${f} validates`, () => {
      const r = loadPolicyFile(join(root, 'config/examples', f));
      assert.ok(r.ok, r.ok ? '' : r.error.map(formatIssue).join('\n'));
    });
  }

  it('the failover example has two targets of different priority', () => {
    const r = loadPolicyFile(join(root, 'config/examples/two-pbx-failover.yaml'));
    assert.ok(r.ok);
    const prios = r.value.pbx.targets.map((t) => t.priority);
    assert.equal(prios.length, 2);
    assert.notEqual(prios[0], prios[1]);
  });

  it('the NAT example advertises a public address', () => {
    const r = loadPolicyFile(join(root, 'config/examples/behind-nat.yaml'));
    assert.ok(r.ok);
    assert.ok(r.value.listeners.every((l) => l.advertise !== undefined));
  });
});

describe('loadPolicyText: valid input', () => {
  it('applies defaults', () => {
    const r = loadPolicyText(MINIMAL, '/etc/palisade/policy.yaml');
    assert.ok(r.ok);
    assert.equal(r.value.listeners[0]?.address, '0.0.0.0');
    assert.equal(r.value.pbx.targets[0]?.port, 5060);
    assert.equal(r.value.pbx.listen.port, 5080);
    assert.equal(r.value.timers.t1Ms, 500);
  });

  it('resolves relative paths against the policy file directory', () => {
    const text = `${MINIMAL}node:\n  dataDir: ./state\n`.replace(
      '    port: 5060\n',
      '    port: 5060\n  - transport: tls\n    port: 5061\n    tls: { cert: tls/c.pem, key: /abs/k.pem, keyPassphrase: { file: pass.txt } }\n',
    );
    const r = loadPolicyText(text, '/etc/palisade/policy.yaml');
    assert.ok(r.ok, r.ok ? '' : r.error.map(formatIssue).join('\n'));
    assert.equal(r.value.node.dataDir, '/etc/palisade/state');
    const tls = r.value.listeners[1]?.tls;
    assert.equal(tls?.cert, '/etc/palisade/tls/c.pem');
    assert.equal(tls?.key, '/abs/k.pem');
    assert.deepEqual(tls?.keyPassphrase, { file: '/etc/palisade/pass.txt' });
  });

  it('returns a deep-frozen policy', () => {
    const r = loadPolicyText(MINIMAL, 'p.yaml');
    assert.ok(r.ok);
    const p = r.value;
    assert.ok(Object.isFrozen(p));
    assert.ok(Object.isFrozen(p.listeners));
    assert.ok(Object.isFrozen(p.listeners[0]));
    assert.ok(Object.isFrozen(p.pbx.targets[0]));
    assert.ok(Object.isFrozen(p.limits.sip));
    assert.throws(() => {
      (p.pbx.targets as unknown as unknown[]).push({});
    }, TypeError);
    assert.throws(() => {
      (p.listeners[0] as { port: number }).port = 1;
    }, TypeError);
  });
});

describe('loadPolicyText: broken files name line:column and path', () => {
  it('bad YAML indentation', () => {
    const text = `listeners:
  - transport: udp
    port: 5060
   address: 0.0.0.0
pbx: {}
`;
    const issues = issuesOf(text);
    assert.equal(issues[0]?.code, 'CONFIG_YAML');
    assert.deepEqual([issues[0]?.line, issues[0]?.column], [4, 4]);
  });

  it('mapping items at different columns', () => {
    const issues = issuesOf('pbx:\n  listen: {}\n targets: []\n');
    assert.deepEqual(pick(issues.slice(0, 1)), [{ code: 'CONFIG_YAML', line: 3, column: 2, path: '' }]);
  });

  it('tabs as indentation', () => {
    const issues = issuesOf('pbx:\n\ttargets: []\n');
    assert.deepEqual(pick(issues.slice(0, 1)), [{ code: 'CONFIG_YAML', line: 2, column: 1, path: '' }]);
  });

  it('unknown key points at the key itself, with a suggestion', () => {
    const text = MINIMAL.replace('    port: 5060\n', '    port: 5060\n    adress: 10.0.0.1\n');
    const issues = issuesOf(text);
    assert.deepEqual(pick(issues), [{ code: 'CONFIG_INVALID', line: 4, column: 5, path: 'listeners[0].adress' }]);
    assert.match(issues[0]?.message ?? '', /unknown key.*"address"/);
  });

  it('unknown top-level key', () => {
    const issues = issuesOf(`${MINIMAL}metrix:\n  port: 1\n`);
    assert.deepEqual(pick(issues), [{ code: 'CONFIG_INVALID', line: 8, column: 1, path: 'metrix' }]);
  });

  it('wrong type points at the value', () => {
    const text = MINIMAL.replace('    port: 5060', '    port: "5060"');
    const issues = issuesOf(text);
    assert.deepEqual(pick(issues), [{ code: 'CONFIG_INVALID', line: 3, column: 11, path: 'listeners[0].port' }]);
    assert.match(issues[0]?.message ?? '', /expected a number, got a string/);
  });

  it('bad enum deep in the tree', () => {
    const text = MINIMAL.replace(
      '    port: 5060\n',
      '    port: 5060\n  - transport: tls\n    port: 5061\n    tls:\n      minVersion: TLSv1.1\n',
    );
    const issues = issuesOf(text);
    assert.deepEqual(pick(issues), [{ code: 'CONFIG_INVALID', line: 7, column: 19, path: 'listeners[1].tls.minVersion' }]);
  });

  it('bad CIDR points at the list element', () => {
    const issues = issuesOf(`${MINIMAL}access:\n  deny:\n    - 192.0.2.0/24\n    - 10.0.0.0/33\n`);
    assert.deepEqual(pick(issues), [{ code: 'CONFIG_INVALID', line: 11, column: 7, path: 'access.deny[1]' }]);
    assert.match(issues[0]?.message ?? '', /CIDR/);
  });

  it('missing pbx.targets points at the parent mapping', () => {
    const text = `listeners:
  - transport: udp
    port: 5060
pbx:
  listen:
    port: 5080
`;
    const issues = issuesOf(text);
    assert.deepEqual(pick(issues), [{ code: 'CONFIG_INVALID', line: 5, column: 3, path: 'pbx.targets' }]);
    assert.equal(issues[0]?.message, 'required key is missing');
  });

  it('missing required list-item key points at the item', () => {
    const issues = issuesOf(MINIMAL.replace('      host: 127.0.0.1\n', ''));
    assert.deepEqual(pick(issues), [{ code: 'CONFIG_INVALID', line: 6, column: 7, path: 'pbx.targets[0].host' }]);
  });

  it('empty value points at its key', () => {
    const issues = issuesOf('listeners:\n  - transport: udp\n    port: 5060\npbx:\n');
    assert.deepEqual(pick(issues), [{ code: 'CONFIG_INVALID', line: 4, column: 1, path: 'pbx' }]);
    assert.match(issues[0]?.message ?? '', /expected a mapping, got an empty value/);
  });

  it('reports every problem, sorted by position', () => {
    const text = `listeners:
  - transport: udp
    port: 70000
    bogus: 1
pbx:
  targets: []
`;
    const issues = issuesOf(text);
    assert.deepEqual(
      issues.map((i) => `${i.line}:${i.column} ${i.path}`),
      ['3:11 listeners[0].port', '4:5 listeners[0].bogus', '6:12 pbx.targets'],
    );
  });

  it('an empty file lacks listeners and pbx', () => {
    const issues = issuesOf('');
    assert.deepEqual(
      issues.map((i) => i.path),
      ['listeners', 'pbx'],
    );
  });

  it('a bad secret form', () => {
    const text = MINIMAL.replace(
      '    port: 5060\n',
      '    port: 5060\n  - transport: tls\n    port: 5061\n    tls: { key: k.pem, cert: c.pem, keyPassphrase: { file: 3 } }\n',
    );
    const issues = issuesOf(text);
    assert.deepEqual(pick(issues), [{ code: 'CONFIG_INVALID', line: 6, column: 52, path: 'listeners[1].tls.keyPassphrase' }]);
    assert.match(issues[0]?.message ?? '', /file: PATH.*env: NAME/);
  });
});

describe('loadPolicyText: YAML rules', () => {
  it('rejects duplicate keys with the position of the second', () => {
    const text = MINIMAL.replace('    port: 5060\n', '    port: 5060\n    port: 5061\n');
    const issues = issuesOf(text);
    assert.deepEqual(pick(issues), [{ code: 'CONFIG_YAML', line: 4, column: 5, path: '' }]);
    assert.match(issues[0]?.message ?? '', /duplicate key/);
  });

  it('rejects duplicate top-level keys', () => {
    const issues = issuesOf(`${MINIMAL}pbx:\n  targets: []\n`);
    assert.deepEqual(pick(issues), [{ code: 'CONFIG_YAML', line: 8, column: 1, path: '' }]);
  });

  it('rejects several documents, unknown tags and unknown anchors', () => {
    assert.equal(issuesOf(`${MINIMAL}---\na: 1\n`)[0]?.code, 'CONFIG_YAML');
    assert.deepEqual(pick(issuesOf(MINIMAL.replace('port: 5060', 'port: !int 5060'))), [
      { code: 'CONFIG_YAML', line: 3, column: 11, path: '' },
    ]);
    assert.deepEqual(pick(issuesOf(MINIMAL.replace('port: 5060', 'port: *p'))), [{ code: 'CONFIG_YAML', line: 3, column: 11, path: '' }]);
  });

  it('bounds alias expansion', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    const issues = issuesOf(`${lines.join('\n')}\n`);
    assert.equal(issues[0]?.code, 'CONFIG_YAML');
    assert.match(issues[0]?.message ?? '', /alias/);
  });

  it('accepts anchors, aliases and merge keys; top-level x- keys are ignored, others are not', () => {
    const text = MINIMAL.replace(
      '    port: 5060\n',
      '    port: 5060\n  - { transport: tls, port: 5061, tls: *tls }\n  - { transport: wss, port: 8443, tls: { <<: *tls, minVersion: TLSv1.3 } }\n',
    );
    const r = loadPolicyText(`x-tls: &tls { minVersion: TLSv1.2, clientCert: none }\n${text}`, 'p.yaml');
    assert.ok(r.ok, r.ok ? '' : r.error.map(formatIssue).join('\n'));
    assert.deepEqual(
      r.value.listeners.map((l) => l.tls?.minVersion),
      [undefined, 'TLSv1.2', 'TLSv1.3'],
    );
    assert.deepEqual(
      issuesOf(`tlsDefaults: &tls { minVersion: TLSv1.2 }\n${text}`).map((i) => i.path),
      ['tlsDefaults'],
    );
  });

  it('rejects a file that is too large', () => {
    const issues = issuesOf(`# ${'x'.repeat(MAX_POLICY_BYTES)}\n${MINIMAL}`);
    assert.equal(issues[0]?.code, 'CONFIG_IO');
  });
});

describe('cross-field checks', () => {
  it('rejects two listeners on the same TCP port', () => {
    const text = MINIMAL.replace('  - transport: udp\n', '  - transport: tcp\n    port: 5060\n  - transport: ws\n');
    const issues = issuesOf(text);
    assert.deepEqual(pick(issues), [{ code: 'CONFIG_INVALID', line: 5, column: 11, path: 'listeners[1].port' }]);
  });

  it('allows UDP and TCP on the same port, and any number of port-0 listeners', () => {
    const text = MINIMAL.replace(
      '    port: 5060\n',
      '    port: 5060\n  - transport: tcp\n    port: 5060\n  - { transport: udp, port: 0, id: a }\n  - { transport: udp, port: 0, id: b }\n',
    );
    const r = loadPolicyText(text, 'p.yaml');
    assert.ok(r.ok, r.ok ? '' : r.error.map(formatIssue).join('\n'));
  });

  it('rejects duplicate listener ids and target names, cert without key, min > max', () => {
    const text = `listeners:
  - { transport: udp, port: 5060, id: edge }
  - { transport: tls, port: 5061, id: edge, tls: { cert: c.pem } }
pbx:
  targets:
    - { name: a, host: h1 }
    - { name: a, host: h2 }
registrar: { minExpires: 600, maxExpires: 60 }
`;
    assert.deepEqual(
      issuesOf(text).map((i) => `${i.line}:${i.column} ${i.path}`),
      ['3:39 listeners[1].id', '3:58 listeners[1].tls.cert', '7:15 pbx.targets[1].name', '8:26 registrar.minExpires'],
    );
  });
});

describe('formatIssue / formatPath', () => {
  it('formats FILE:LINE:COL path: message', () => {
    const i: ConfigIssue = {
      code: 'CONFIG_INVALID',
      file: 'conf/p.yaml',
      line: 12,
      column: 7,
      path: 'listeners[1].tls.minVersion',
      message: 'bad',
    };
    assert.equal(formatIssue(i), 'conf/p.yaml:12:7 listeners[1].tls.minVersion: bad');
    assert.equal(formatIssue({ ...i, path: '' }), 'conf/p.yaml:12:7 bad');
    assert.equal(formatIssue({ ...i, code: 'CONFIG_IO', line: 0, column: 0, path: '' }), 'conf/p.yaml: bad');
    assert.equal(formatIssue({ ...i, line: 0, column: 0 }), 'conf/p.yaml: listeners[1].tls.minVersion: bad');
  });

  it('formats paths', () => {
    assert.equal(formatPath(['listeners', 1, 'tls', 'minVersion']), 'listeners[1].tls.minVersion');
    assert.equal(formatPath(['pbx', 'targets']), 'pbx.targets');
    assert.equal(formatPath(['a b']), '["a b"]');
    assert.equal(formatPath([]), '');
  });

  it('a real issue formats with the file name given', () => {
    const issues = issuesOf(MINIMAL.replace('    port: 5060', '    port: yes'), 'etc/p.yaml');
    assert.equal(formatIssue(issues[0] as ConfigIssue), 'etc/p.yaml:3:11 listeners[0].port: expected a number, got a string');
  });
});

describe('loadPolicyFile I/O', () => {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-load-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a missing file is CONFIG_IO with no position', () => {
    const r = loadPolicyFile(join(dir, 'nope.yaml'));
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.deepEqual(pick(r.error), [{ code: 'CONFIG_IO', line: 0, column: 0, path: '' }]);
    assert.match(r.error[0]?.message ?? '', /ENOENT/);
  });

  it('a directory is CONFIG_IO', () => {
    const r = loadPolicyFile(dir);
    assert.equal(r.ok ? 'ok' : r.error[0]?.code, 'CONFIG_IO');
  });

  it('issues carry the path as given', () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'listeners: 3\n');
    const r = loadPolicyFile(f);
    assert.equal(r.ok, false);
    if (!r.ok) assert.ok(r.error.every((i) => i.file === f));
  });
});

describe('resolveSecret', () => {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-secret-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const SECRET = 's3cr3t-Value!';

  it('inline', () => {
    assert.deepEqual(resolveSecret(SECRET, dir), { ok: true, value: SECRET });
  });

  it('from a file relative to the base dir, trailing newline stripped', () => {
    writeFileSync(join(dir, 'pass.txt'), `${SECRET}\n`);
    assert.deepEqual(resolveSecret({ file: 'pass.txt' }, dir), { ok: true, value: SECRET });
    assert.deepEqual(resolveSecret({ file: join(dir, 'pass.txt') }, '/nonexistent'), { ok: true, value: SECRET });
  });

  it('a missing file names the file, code CONFIG_IO', () => {
    const r = resolveSecret({ file: 'missing.txt' }, dir, { at: { file: 'p.yaml', path: 'x.keyPassphrase' } });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.error.code, 'CONFIG_IO');
    assert.equal(r.error.path, 'x.keyPassphrase');
    assert.ok(r.error.message.includes(join(dir, 'missing.txt')));
  });

  it('an empty file is an error', () => {
    writeFileSync(join(dir, 'empty.txt'), '\n');
    assert.equal(resolveSecret({ file: 'empty.txt' }, dir).ok, false);
  });

  it('from the environment', () => {
    const env = { PALISADE_TEST_SECRET: SECRET };
    assert.deepEqual(resolveSecret({ env: 'PALISADE_TEST_SECRET' }, dir, { env }), { ok: true, value: SECRET });
    process.env.PALISADE_TEST_SECRET_2 = SECRET;
    try {
      assert.deepEqual(resolveSecret({ env: 'PALISADE_TEST_SECRET_2' }, dir), { ok: true, value: SECRET });
    } finally {
      delete process.env.PALISADE_TEST_SECRET_2;
    }
  });

  it('a missing or empty env var is an error that names the variable and leaks no value', () => {
    const env = { OTHER: SECRET, EMPTY: '' };
    for (const name of ['PALISADE_UNSET_VAR', 'EMPTY']) {
      const r = resolveSecret({ env: name }, dir, { env });
      assert.equal(r.ok, false);
      if (r.ok) continue;
      assert.equal(r.error.code, 'CONFIG_IO');
      assert.ok(r.error.message.includes(name));
      assert.ok(!JSON.stringify(r.error).includes(SECRET));
    }
  });

  it('validation messages never echo a value from the file', () => {
    const text = MINIMAL.replace(
      '    port: 5060\n',
      `    port: 5060\n  - transport: tls\n    port: 5061\n    tls: { keyPassphrase: { file: { nested: ${SECRET} } }, bogus: ${SECRET} }\n`,
    );
    const issues = issuesOf(text);
    assert.ok(issues.length >= 2);
    assert.ok(!JSON.stringify(issues).includes(SECRET));
  });
});
