import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jwtVerify } from 'jose';
import { parseTtl, runTokenCreate } from '../../../src/cli/commands/token.ts';
import { runCli } from '../../../src/cli/program.ts';
import { capture } from './helpers.ts';

const SECRET = 'token-cli-secret-'.repeat(3);

const BASE = ['listeners:', '  - transport: udp', '    port: 5060', 'pbx:', '  targets:', '    - name: pbx1', '      host: 127.0.0.1'];

describe('palisade token create', () => {
  let dir: string;
  let withHttps: string;
  let withoutHttps: string;
  let shortKey: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-token-'));
    writeFileSync(join(dir, 'token.key'), `${SECRET}\n`, { mode: 0o600 });
    withHttps = join(dir, 'https.yaml');
    writeFileSync(
      withHttps,
      [...BASE, 'admin:', '  https:', '    tokens:', '      key: { file: token.key }', '      audience: ops-api', ''].join('\n'),
    );
    withoutHttps = join(dir, 'plain.yaml');
    writeFileSync(withoutHttps, [...BASE, ''].join('\n'));
    writeFileSync(join(dir, 'short.key'), 'too-short\n');
    shortKey = join(dir, 'short.yaml');
    writeFileSync(shortKey, [...BASE, 'admin:', '  https:', '    tokens:', '      key: { file: short.key }', ''].join('\n'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints a token that verifies with jose under the policy key, issuer and audience; never the key', async () => {
    const c = capture();
    const code = await runCli(['token', 'create', '--role', 'operator', '--sub', 'alice', '--ttl', '2h', '--config', withHttps], c.ctx);
    assert.equal(code, 0, c.err());
    const tokenText = c.out().trim();
    assert.match(tokenText, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const { payload, protectedHeader } = await jwtVerify(tokenText, new TextEncoder().encode(SECRET), {
      algorithms: ['HS256'],
      issuer: 'palisade',
      audience: 'ops-api',
    });
    assert.equal(protectedHeader.alg, 'HS256');
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.role, 'operator');
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 7200);
    assert.ok(!c.out().includes(SECRET) && !c.err().includes(SECRET));
  });

  it('--json prints token, sub, role and expiresAt', async () => {
    const c = capture();
    const now = Date.UTC(2026, 5, 1);
    const code = await runTokenCreate(c.ctx, { role: 'viewer', sub: 'grafana', ttl: '30d', config: withHttps, json: true }, now);
    assert.equal(code, 0, c.err());
    const j = JSON.parse(c.out()) as { token: string; sub: string; role: string; expiresAt: string };
    assert.equal(j.sub, 'grafana');
    assert.equal(j.role, 'viewer');
    assert.equal(j.expiresAt, new Date(now + 30 * 86_400_000).toISOString());
  });

  it('refuses bad input with exit 2 and no output on stdout', async () => {
    const cases: string[][] = [
      ['--role', 'root', '--sub', 'a', '--config', withHttps],
      ['--sub', 'a', '--config', withHttps],
      ['--role', 'admin', '--sub', 'has space', '--config', withHttps],
      ['--role', 'admin', '--sub', 'a', '--ttl', '400d', '--config', withHttps],
      ['--role', 'admin', '--sub', 'a', '--ttl', 'soon', '--config', withHttps],
      ['--role', 'admin', '--sub', 'a', '--config', withoutHttps],
      ['--role', 'admin', '--sub', 'a', '--config', shortKey],
    ];
    for (const args of cases) {
      const c = capture();
      const code = await runCli(['token', 'create', ...args], c.ctx);
      assert.equal(code, 2, `${args.join(' ')}: ${c.err()}`);
      assert.equal(c.out(), '', args.join(' '));
    }
    const c = capture();
    await runCli(['token', 'create', '--role', 'admin', '--sub', 'a', '--config', withoutHttps], c.ctx);
    assert.match(c.err(), /no admin\.https/);
  });

  it('parses ttl as duration text or seconds, 1 s to 366 d', () => {
    assert.equal(parseTtl('1h'), 3600);
    assert.equal(parseTtl('90'), 90);
    assert.equal(parseTtl('366d'), 366 * 86_400);
    assert.equal(parseTtl('367d'), undefined);
    assert.equal(parseTtl('500ms'), undefined);
    assert.equal(parseTtl('0'), undefined);
  });
});
