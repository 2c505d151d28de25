import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { createSecurityRoutes } from '../../../src/admin/routes-security.ts';
import { type AdminServer, startAdminServer } from '../../../src/admin/server.ts';
import { formatRemaining, operatorActor, renderTable } from '../../../src/cli/commands/bans.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { silentLogger } from '../../../src/core/log.ts';
import { type AuditLog, createAuditLog } from '../../../src/observability/audit.ts';
import { AllowList } from '../../../src/security/allow-list.ts';
import { type BanManager, createBanManager } from '../../../src/security/bans.ts';
import { run } from './helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'palisade-cli-bans-'));
after(() => rmSync(root, { recursive: true, force: true }));

interface Fixture {
  socketPath: string;
  auditPath: string;
  bans: BanManager;
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
    audit,
    server,
    async close() {
      await server.close();
      await audit.close();
      bans.close();
    },
  };
}

describe('palisade bans', () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await startFixture();
  });
  afterEach(async () => {
    await f.close();
  });
  const s = (): string[] => ['--socket', f.socketPath];

  it('adds, lists (table and JSON), removes and flushes', async () => {
    let r = await run(['bans', 'list', ...s()]);
    assert.equal(r.code, 0);
    assert.equal(r.out, 'no bans\n');

    r = await run(['bans', 'add', '192.0.2.7', '--for', '10m', '--reason', 'scanner', ...s()]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^banned 192\.0\.2\.7 for (9m 5\ds|10m 0s)\n$/);
    assert.equal(f.bans.isBanned('192.0.2.7'), true);

    r = await run(['bans', 'add', '198.51.100.0/24', ...s()]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'banned 198.51.100.0/24 until removed\n');
    for (let i = 0; i < 5; i++) f.bans.offence('203.0.113.9', 'auth_failure');

    r = await run(['bans', 'list', ...s()]);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^TARGET\s+REASON\s+SOURCE\s+EXPIRES IN\s+OFFENCES$/);
    assert.equal(lines.length, 4);
    const row = (t: string): string[] => (lines.find((l) => l.startsWith(`${t} `)) ?? '').split(/\s{2,}/);
    assert.deepEqual(row('192.0.2.7').slice(0, 3), ['192.0.2.7', 'scanner', 'manual']);
    assert.match(row('192.0.2.7')[3] ?? '', /^(9m 5\ds|10m 0s)$/);
    assert.deepEqual(row('198.51.100.0/24'), ['198.51.100.0/24', 'manual', 'manual', 'never', '0']);
    const auto = row('203.0.113.9');
    assert.deepEqual([...auto.slice(0, 3), auto[4]], ['203.0.113.9', 'auth_failure', 'auto', '5']);
    assert.match(auto[3] ?? '', /^(9m 5\ds|10m 0s)$/);

    r = await run(['bans', 'list', '--json', ...s()]);
    assert.equal(r.code, 0);
    const json = JSON.parse(r.out) as { bans: { target: string; source: string }[]; total: number };
    assert.equal(json.total, 3);
    assert.deepEqual(json.bans.map((b) => b.target).sort(), ['192.0.2.7', '198.51.100.0/24', '203.0.113.9']);

    r = await run(['bans', 'remove', '198.51.100.0/24', ...s()]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'unbanned 198.51.100.0/24\n');
    assert.equal(f.bans.isBanned('198.51.100.1'), false);

    r = await run(['bans', 'remove', '198.51.100.0/24', ...s()]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^palisade: unban failed: BAN_NOT_FOUND: .* \(HTTP 404\)\n$/);

    r = await run(['bans', 'flush', ...s()]);
    assert.equal(r.code, 0);
    assert.equal(r.out, 'removed 2 ban(s)\n');
    assert.equal(f.bans.list().length, 0);

    await f.audit.flush();
    const actions = readFileSync(f.auditPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { action: string; outcome: string }).action);
    assert.deepEqual(actions, ['ban.add', 'ban.add', 'ban.remove', 'ban.remove', 'ban.flush']);
  });

  it('refuses a bad address, range or duration locally with exit 2', async () => {
    for (const args of [
      ['bans', 'add', '192.0.2.300'],
      ['bans', 'add', 'example.com'],
      ['bans', 'add', '192.0.2.0/'],
      ['bans', 'add', '192.0.2.0/40'],
      ['bans', 'add', '192.0.2.1', '--for', '10x'],
      ['bans', 'add', '192.0.2.1', '--for', '0'],
      ['bans', 'add', '192.0.2.1', '--reason', 'x'.repeat(201)],
      ['bans', 'remove', 'nope'],
      ['bans', 'add'],
    ]) {
      const r = await run([...args, ...s()]);
      assert.equal(r.code, 2, args.join(' '));
      assert.notEqual(r.err, '', args.join(' '));
    }
    assert.equal(f.bans.list().length, 0);
    await f.audit.flush();
    assert.throws(() => readFileSync(f.auditPath), /ENOENT/, 'nothing reached the daemon');
  });

  it('reports a refusal by the daemon (allow-listed address) with exit 1', async () => {
    const r = await run(['bans', 'add', '10.1.2.3', ...s()]);
    assert.equal(r.code, 1);
    assert.match(r.err, /BAN_ALLOWLISTED/);
    assert.equal(r.err.split('\n').filter((l) => l !== '').length, 1);
  });

  it('accepts seconds for --for', async () => {
    const r = await run(['bans', 'add', '2001:db8::1', '--for', '90', '--json', ...s()]);
    assert.equal(r.code, 0, r.err);
    const ban = (JSON.parse(r.out) as { ban: { target: string; expiresAt: number; bannedAt: number } }).ban;
    assert.equal(ban.expiresAt - ban.bannedAt, 90_000);
  });
});

describe('palisade bans without a daemon', () => {
  it('exits 1 with one line when nothing listens on the socket', async () => {
    const r = await run(['bans', 'list', '--socket', join(root, 'missing.sock')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^palisade: daemon not running \(no admin socket at .*missing\.sock\)\n$/);
    assert.equal(r.out, '');
  });

  it('sends the operator as x-palisade-actor', async () => {
    const seen: (string | undefined)[] = [];
    const path = join(root, 'hdr.sock');
    const srv = createServer((req, res) => {
      const a = req.headers['x-palisade-actor'];
      seen.push(typeof a === 'string' ? a : undefined);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"removed":0}');
    });
    await new Promise<void>((resolve) => srv.listen(path, resolve));
    try {
      const r = await run(['bans', 'flush', '--socket', path]);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, 'removed 0 ban(s)\n');
    } finally {
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    }
    assert.deepEqual(seen, [operatorActor()]);
    assert.match(seen[0] ?? '', /^[A-Za-z0-9._+:-]+@[A-Za-z0-9._@+:-]+$/);
  });
});

describe('bans helpers', () => {
  it('names the operator: SUDO_USER, then USER, then the uid', () => {
    assert.equal(operatorActor({ SUDO_USER: 'alice', USER: 'root' }, 'gw1'), 'alice@gw1');
    assert.equal(operatorActor({ USER: 'bob' }, 'gw1'), 'bob@gw1');
    assert.equal(operatorActor({}, 'gw1'), `${process.getuid?.() ?? 'unknown'}@gw1`);
    assert.equal(operatorActor({ USER: 'e ve' }, 'h'), 'e_ve@h');
  });

  it('formats time left', () => {
    assert.equal(formatRemaining(null, 0), 'never');
    assert.equal(formatRemaining(0, 5), 'expired');
    assert.equal(formatRemaining(45_000, 0), '45s');
    assert.equal(formatRemaining(599_001, 0), '10m 0s');
    assert.equal(formatRemaining(7_500_000, 0), '2h 5m');
    assert.equal(formatRemaining(3 * 86_400_000 + 4 * 3_600_000, 0), '3d 4h');
  });

  it('pads table columns', () => {
    assert.deepEqual(renderTable(['A', 'BB'], [['xxx', 'y']]), ['A    BB', 'xxx  y']);
  });
});
