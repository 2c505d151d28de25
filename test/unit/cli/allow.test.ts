import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { createSecurityRoutes } from '../../../src/admin/routes-security.ts';
import { type AdminServer, startAdminServer } from '../../../src/admin/server.ts';
import { renderAllow } from '../../../src/cli/commands/allow.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { silentLogger } from '../../../src/core/log.ts';
import { type AuditLog, createAuditLog } from '../../../src/observability/audit.ts';
import { AllowList } from '../../../src/security/allow-list.ts';
import { type BanManager, createBanManager } from '../../../src/security/bans.ts';
import { run } from './helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'palisade-cli-allow-'));
after(() => rmSync(root, { recursive: true, force: true }));

interface Fixture {
  socketPath: string;
  auditPath: string;
  bans: BanManager;
  allow: AllowList;
  audit: AuditLog;
  server: AdminServer;
  close(): Promise<void>;
}

async function startFixture(): Promise<Fixture> {
  const dir = mkdtempSync(join(root, 'f-'));
  const clock = new ManualClock(0, Date.now());
  const allow = new AllowList(['10.1.0.0/16'], dir);
  const bans = createBanManager({
    clock,
    findTimeMs: 60_000,
    maxRetry: 5,
    banTimeMs: 600_000,
    factor: 2,
    maxBanTimeMs: 86_400_000,
    allow,
    maxTracked: 1000,
    sweepIntervalMs: 0,
  });
  const auditPath = join(dir, 'audit.log');
  const audit = createAuditLog({ path: auditPath, logger: silentLogger, clock });
  const socketPath = join(dir, 'admin.sock');
  const server = await startAdminServer({
    socketPath,
    handlers: { status: () => ({}), reload: () => ({}) },
    routes: createSecurityRoutes({ bans, allow, audit, now: () => clock.wallNow() }),
  });
  return {
    socketPath,
    auditPath,
    bans,
    allow,
    audit,
    server,
    async close() {
      await server.close();
      await audit.close();
      bans.close();
    },
  };
}

describe('palisade allow', () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await startFixture();
  });
  afterEach(async () => {
    await f.close();
  });
  const s = (): string[] => ['--socket', f.socketPath];

  it('lists policy and runtime entries, adds (lifting a covered ban) and removes', async () => {
    f.bans.ban('172.16.9.9', { reason: 'oops' });
    let r = await run(['allow', 'add', '172.16.9.1/24', ...s()]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'allowed 172.16.9.0/24 (lifted 1 ban(s))\n');
    assert.equal(f.bans.isBanned('172.16.9.9'), false);

    r = await run(['allow', 'add', '172.16.9.0/24', ...s()]);
    assert.equal(r.code, 0);
    assert.equal(r.out, 'already allowed: 172.16.9.0/24\n');

    r = await run(['allow', 'list', ...s()]);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^CIDR\s+ORIGIN\s+ADDED BY\s+ADDED AT$/);
    assert.deepEqual(lines[1]?.split(/\s{2,}/), ['10.1.0.0/16', 'policy', '-', '-']);
    const rt = lines[2]?.split(/\s{2,}/) ?? [];
    assert.deepEqual(rt.slice(0, 2), ['172.16.9.0/24', 'runtime']);
    assert.match(rt[3] ?? '', /^\d{4}-\d\d-\d\dT/);

    r = await run(['allow', 'list', '--json', ...s()]);
    const json = JSON.parse(r.out) as { entries: { cidr: string; origin: string }[] };
    assert.deepEqual(
      json.entries.map((e) => e.origin),
      ['policy', 'runtime'],
    );

    r = await run(['allow', 'remove', '10.1.0.0/16', ...s()]);
    assert.equal(r.code, 1);
    assert.match(r.err, /ALLOW_POLICY_ENTRY/);

    r = await run(['allow', 'remove', '192.168.0.0/16', ...s()]);
    assert.equal(r.code, 1);
    assert.match(r.err, /ALLOW_NOT_FOUND/);

    r = await run(['allow', 'remove', '172.16.9.0/24', ...s()]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'removed 172.16.9.0/24 from the allow list\n');

    await f.audit.flush();
    const recs = readFileSync(f.auditPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; target: string; outcome: string });
    assert.deepEqual(
      recs.map((x) => [x.action, x.outcome]),
      [
        ['allow.add', 'ok'],
        ['ban.remove', 'ok'],
        ['allow.add', 'ok'],
        ['allow.remove', 'refused'],
        ['allow.remove', 'refused'],
        ['allow.remove', 'ok'],
      ],
    );
  });

  it('refuses a bad CIDR locally with exit 2', async () => {
    for (const args of [
      ['allow', 'add', '10.0.0.0/33'],
      ['allow', 'add', 'lan'],
      ['allow', 'remove', '1.2.3'],
      ['allow', 'add'],
    ]) {
      const r = await run([...args, ...s()]);
      assert.equal(r.code, 2, args.join(' '));
      assert.notEqual(r.err, '');
    }
    assert.equal(f.allow.list().length, 1);
  });

  it('exits 1 with one line when the daemon is not running', async () => {
    const r = await run(['allow', 'list', '--socket', join(root, 'none.sock')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^palisade: daemon not running .*\n$/);
  });
});

describe('renderAllow', () => {
  it('says so when empty and cleans control characters', () => {
    assert.deepEqual(renderAllow({ entries: [] }), ['allow list is empty']);
    const out = renderAllow({ entries: [{ cidr: '10.0.0.0/8', origin: 'runtime', by: 'x\u001b[2J', addedAt: 0 }] });
    assert.equal(out[1], '10.0.0.0/8  runtime  x?[2J     1970-01-01T00:00:00.000Z');
  });
});
