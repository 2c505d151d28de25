import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { type AdminResponse, adminRequest } from '../../../src/admin/client.ts';
import type { AdminRequest } from '../../../src/admin/router.ts';
import { createSecurityRoutes, type SecurityControl, sanitizeActor } from '../../../src/admin/routes-security.ts';
import { type AdminServer, startAdminServer } from '../../../src/admin/server.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { silentLogger } from '../../../src/core/log.ts';
import { type AuditLog, createAuditLog } from '../../../src/observability/audit.ts';
import { AllowList } from '../../../src/security/allow-list.ts';
import { type BanManager, createBanManager } from '../../../src/security/bans.ts';

const root = mkdtempSync(join(tmpdir(), 'palisade-sec-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

export interface Fixture {
  dir: string;
  socketPath: string;
  auditPath: string;
  clock: ManualClock;
  bans: BanManager;
  allow: AllowList;
  audit: AuditLog;
  server: AdminServer;
  close(): Promise<void>;
}

/** A real admin server with the security routes, a real BanManager (ManualClock) and AllowList (temp dataDir). */
export async function startFixture(base: string, policyAllow: readonly string[] = ['10.1.0.0/16']): Promise<Fixture> {
  const dir = mkdtempSync(join(base, 'f-'));
  const clock = new ManualClock(0, Date.now());
  const allow = new AllowList(policyAllow, dir);
  const bans = createBanManager({
    clock,
    findTimeMs: 60_000,
    maxRetry: 5,
    banTimeMs: 600_000,
    factor: 2,
    maxBanTimeMs: 86_400_000,
    allow,
    maxTracked: 1000,
    maxRangeBans: 2,
    sweepIntervalMs: 0,
  });
  const auditPath = join(dir, 'audit.log');
  const audit = createAuditLog({ path: auditPath, logger: silentLogger, clock });
  const ctrl: SecurityControl = { bans, allow, audit, now: () => clock.wallNow() };
  const socketPath = join(dir, 'admin.sock');
  const server = await startAdminServer({
    socketPath,
    handlers: { status: () => ({ state: 'running' }), reload: () => ({ ok: true }) },
    routes: createSecurityRoutes(ctrl),
  });
  return {
    dir,
    socketPath,
    auditPath,
    clock,
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

export async function auditLines(f: Fixture): Promise<Record<string, unknown>[]> {
  await f.audit.flush();
  let text = '';
  try {
    text = readFileSync(f.auditPath, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function code(r: AdminResponse): unknown {
  const b = r.body as { error?: { code?: unknown } } | null;
  return b?.error?.code;
}

const ACTOR = { headers: { 'x-palisade-actor': 'alice@gw1' } };

describe('security routes over the admin socket', () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await startFixture(root);
  });
  afterEach(async () => {
    await f.close();
  });
  const call = (method: string, path: string, body?: unknown): Promise<AdminResponse> =>
    adminRequest(f.socketPath, method, path, body, ACTOR);

  it('adds, lists and removes an address ban, and audits each change', async () => {
    const add = await call('POST', '/v1/bans', { target: '192.0.2.7', for: '10m', reason: 'scanner' });
    assert.equal(add.status, 201);
    const ban = (add.body as { ban: { target: string; source: string; reason: string; expiresAt: number; bannedAt: number } }).ban;
    assert.equal(ban.target, '192.0.2.7');
    assert.equal(ban.source, 'manual');
    assert.equal(ban.reason, 'scanner');
    assert.equal(ban.expiresAt - ban.bannedAt, 600_000);
    assert.equal(f.bans.isBanned('192.0.2.7'), true);

    const secs = await call('POST', '/v1/bans', { target: '2001:DB8::0:7', for: 90 });
    assert.equal(secs.status, 201);
    const b2 = (secs.body as { ban: { target: string; expiresAt: number; bannedAt: number; reason: string } }).ban;
    assert.equal(b2.target, '2001:db8::7');
    assert.equal(b2.expiresAt - b2.bannedAt, 90_000);
    assert.equal(b2.reason, 'manual');

    const list = await call('GET', '/v1/bans');
    assert.equal(list.status, 200);
    const bans = (list.body as { bans: { target: string }[]; total: number }).bans;
    assert.deepEqual(bans.map((b) => b.target).sort(), ['192.0.2.7', '2001:db8::7']);

    const del = await call('DELETE', `/v1/bans/${encodeURIComponent('192.0.2.7')}`);
    assert.equal(del.status, 200);
    assert.deepEqual(del.body, { removed: true, target: '192.0.2.7' });
    assert.equal(f.bans.isBanned('192.0.2.7'), false);
    const again = await call('DELETE', '/v1/bans/192.0.2.7');
    assert.equal(again.status, 404);
    assert.equal(code(again), 'BAN_NOT_FOUND');

    const lines = await auditLines(f);
    assert.deepEqual(
      lines.map((l) => [l.action, l.target, l.outcome]),
      [
        ['ban.add', '192.0.2.7', 'ok'],
        ['ban.add', '2001:db8::7', 'ok'],
        ['ban.remove', '192.0.2.7', 'ok'],
        ['ban.remove', '192.0.2.7', 'refused'],
      ],
    );
    assert.equal(lines[0]?.reason, 'scanner');
    assert.equal(lines[0]?.type, 'audit');
    for (const l of lines) assert.match(String(l.actor), /^[A-Za-z0-9._@+:-]{1,64}$/);
  });

  it('bans a CIDR range and removes it with the slash URL-encoded', async () => {
    const add = await call('POST', '/v1/bans', { target: '198.51.100.77/24' });
    assert.equal(add.status, 201);
    const ban = (add.body as { ban: { target: string; kind: string; expiresAt: number | null } }).ban;
    assert.deepEqual([ban.target, ban.kind, ban.expiresAt], ['198.51.100.0/24', 'cidr', null]);
    assert.equal(f.bans.isBanned('198.51.100.9'), true);
    const del = await call('DELETE', `/v1/bans/${encodeURIComponent('198.51.100.0/24')}`);
    assert.equal(del.status, 200);
    assert.equal(f.bans.isBanned('198.51.100.9'), false);
  });

  it('refuses bad input with stable codes and audits refusals', async () => {
    const cases: [unknown, number, string][] = [
      [{ target: 'not-an-ip' }, 400, 'BAN_BAD_TARGET'],
      [{ target: '192.0.2.1/' }, 400, 'BAN_BAD_TARGET'],
      [{ target: '192.0.2.1', for: '10 minutes' }, 400, 'BAN_BAD_DURATION'],
      [{ target: '192.0.2.1', for: 0 }, 400, 'BAN_BAD_DURATION'],
      [{ target: '192.0.2.1', for: -5 }, 400, 'BAN_BAD_DURATION'],
      [{ target: '192.0.2.1', for: '99999d' }, 400, 'BAN_BAD_DURATION'],
      [{ target: '10.1.2.3' }, 400, 'BAN_ALLOWLISTED'],
      [{ target: '192.0.2.1', extra: true }, 400, 'ADMIN_BAD_REQUEST'],
      [{ target: 7 }, 400, 'ADMIN_BAD_REQUEST'],
      [{ target: '1'.repeat(65) }, 400, 'ADMIN_BAD_REQUEST'],
      [{ target: '192.0.2.1', reason: 'x'.repeat(201) }, 400, 'ADMIN_BAD_REQUEST'],
      [{ target: '192.0.2.1', for: true }, 400, 'ADMIN_BAD_REQUEST'],
      [['192.0.2.1'], 400, 'ADMIN_BAD_REQUEST'],
      [undefined, 400, 'ADMIN_BAD_REQUEST'],
    ];
    for (const [body, status, c] of cases) {
      const r = await call('POST', '/v1/bans', body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.equal(code(r), c, JSON.stringify(body));
    }
    assert.equal(f.bans.list().length, 0);
    // Range bans are bounded (2 in this fixture).
    assert.equal((await call('POST', '/v1/bans', { target: '203.0.113.0/28' })).status, 201);
    assert.equal((await call('POST', '/v1/bans', { target: '203.0.113.16/28' })).status, 201);
    const third = await call('POST', '/v1/bans', { target: '203.0.113.32/28' });
    assert.equal(code(third), 'BAN_TOO_MANY_RANGES');
    const badDel = await call('DELETE', '/v1/bans/nonsense');
    assert.equal(badDel.status, 400);
    assert.equal(code(badDel), 'BAN_BAD_TARGET');

    const refused = (await auditLines(f)).filter((l) => l.outcome === 'refused');
    const codes = refused.map((l) => (l.details as { code?: string } | undefined)?.code);
    for (const c of ['BAN_BAD_TARGET', 'BAN_BAD_DURATION', 'BAN_ALLOWLISTED', 'BAN_TOO_MANY_RANGES']) assert.ok(codes.includes(c), c);
    const allowlisted = refused.find((l) => (l.details as { code?: string }).code === 'BAN_ALLOWLISTED');
    assert.equal(allowlisted?.target, '10.1.2.3');
  });

  it('flushes every ban and audits the count', async () => {
    f.bans.ban('192.0.2.1', { reason: 'a' });
    f.bans.ban('192.0.2.0/30', { reason: 'b' });
    for (let i = 0; i < 5; i++) f.bans.offence('192.0.2.99', 'auth_failure');
    assert.equal(f.bans.list().length, 3);
    const r = await call('POST', '/v1/bans/flush');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { removed: 3 });
    assert.equal(f.bans.list().length, 0);
    const bad = await call('POST', '/v1/bans/flush', { all: true });
    assert.equal(code(bad), 'ADMIN_BAD_REQUEST');
    const flush = (await auditLines(f)).find((l) => l.action === 'ban.flush');
    assert.deepEqual(flush?.details, { removed: 3 });
  });

  it('lists the auto ban with its source, and honours ?limit', async () => {
    for (let i = 0; i < 5; i++) f.bans.offence('192.0.2.50', 'auth_failure');
    f.clock.advance(1000);
    f.bans.ban('192.0.2.51', { reason: 'op' });
    const r = await call('GET', '/v1/bans?limit=1');
    const body = r.body as { bans: { target: string; source: string }[]; total: number };
    assert.equal(body.total, 2);
    assert.deepEqual(
      body.bans.map((b) => [b.target, b.source]),
      [['192.0.2.51', 'manual']],
    );
    const all = (await call('GET', '/v1/bans')).body as { bans: { target: string; source: string }[] };
    assert.equal(all.bans.find((b) => b.target === '192.0.2.50')?.source, 'auto');
    assert.equal(code(await call('GET', '/v1/bans?limit=0')), 'ADMIN_BAD_REQUEST');
  });

  it('manages the allow list: add (lifting covered bans), list, remove, policy entries refused', async () => {
    f.bans.ban('172.16.5.5', { reason: 'oops', forMs: 60_000 });
    const add = await call('POST', '/v1/allow', { cidr: '172.16.5.9/24' });
    assert.equal(add.status, 201);
    const added = add.body as { entry: { cidr: string; origin: string; by: string }; unbanned: string[] };
    assert.equal(added.entry.cidr, '172.16.5.0/24');
    assert.equal(added.entry.origin, 'runtime');
    assert.deepEqual(added.unbanned, ['172.16.5.5']);
    assert.equal(f.bans.isBanned('172.16.5.5'), false);
    assert.equal((await call('POST', '/v1/bans', { target: '172.16.5.6' })).status, 400);

    const dup = await call('POST', '/v1/allow', { cidr: '172.16.5.0/24' });
    assert.equal(dup.status, 200);

    const list = await call('GET', '/v1/allow');
    assert.deepEqual(
      (list.body as { entries: { cidr: string; origin: string }[] }).entries.map((e) => [e.cidr, e.origin]),
      [
        ['10.1.0.0/16', 'policy'],
        ['172.16.5.0/24', 'runtime'],
      ],
    );
    // Persisted in dataDir.
    assert.match(readFileSync(join(f.dir, 'allow.json'), 'utf8'), /172\.16\.5\.0\/24/);

    const pol = await call('DELETE', `/v1/allow/${encodeURIComponent('10.1.0.0/16')}`);
    assert.equal(pol.status, 409);
    assert.equal(code(pol), 'ALLOW_POLICY_ENTRY');
    const missing = await call('DELETE', `/v1/allow/${encodeURIComponent('192.168.0.0/16')}`);
    assert.equal(missing.status, 404);
    assert.equal(code(missing), 'ALLOW_NOT_FOUND');
    const del = await call('DELETE', `/v1/allow/${encodeURIComponent('172.16.5.0/24')}`);
    assert.equal(del.status, 200);
    assert.deepEqual(del.body, { removed: true, cidr: '172.16.5.0/24' });
    assert.equal(f.allow.has('172.16.5.5'), false);

    for (const [body, c] of [
      [{ cidr: '300.1.1.1' }, 'ALLOW_BAD_CIDR'],
      [{ cidr: '10.0.0.0/33' }, 'ALLOW_BAD_CIDR'],
      [{ cidr: '' }, 'ADMIN_BAD_REQUEST'],
      [{ cidr: '10.0.0.0/8', by: 'me' }, 'ADMIN_BAD_REQUEST'],
    ] as const) {
      const r = await call('POST', '/v1/allow', body);
      assert.equal(r.status, 400);
      assert.equal(code(r), c);
    }

    const lines = (await auditLines(f)).filter((l) => String(l.action).startsWith('allow.') || l.action === 'ban.remove');
    assert.deepEqual(
      lines.slice(0, 2).map((l) => [l.action, l.target, l.outcome]),
      [
        ['allow.add', '172.16.5.0/24', 'ok'],
        ['ban.remove', '172.16.5.5', 'ok'],
      ],
    );
    const policyRefusal = lines.find((l) => (l.details as { code?: string } | undefined)?.code === 'ALLOW_POLICY_ENTRY');
    assert.equal(policyRefusal?.outcome, 'refused');
    assert.ok(lines.some((l) => l.action === 'allow.remove' && l.outcome === 'ok' && l.target === '172.16.5.0/24'));
  });

  it('answers 405 for a wrong method on a known path', async () => {
    const r = await call('PUT', '/v1/bans');
    assert.equal(r.status, 405);
    const r2 = await call('POST', '/v1/allow/10.0.0.1');
    assert.equal(r2.status, 405);
  });
});

describe('actor header', () => {
  it('sanitises the actor: allowed characters, 64 chars, default unknown', () => {
    assert.equal(sanitizeActor('alice@gw1'), 'alice@gw1');
    assert.equal(sanitizeActor(undefined), 'unknown');
    assert.equal(sanitizeActor('  '), 'unknown');
    assert.equal(sanitizeActor(['bob@h', 'eve@h']), 'bob@h');
    assert.equal(sanitizeActor('e v"e\n@h'), 'e_v_e_@h');
    assert.equal(sanitizeActor('x'.repeat(100)).length, 64);
  });

  it('is recorded in the audit log when the server passes request headers', async () => {
    const dir = mkdtempSync(join(root, `h${n++}-`));
    const clock = new ManualClock(0, Date.now());
    const allow = new AllowList([], dir);
    const bans = createBanManager({
      clock,
      findTimeMs: 60_000,
      maxRetry: 5,
      banTimeMs: 600_000,
      factor: 2,
      maxBanTimeMs: 86_400_000,
      allow,
      maxTracked: 100,
      sweepIntervalMs: 0,
    });
    const auditPath = join(dir, 'audit.log');
    const audit = createAuditLog({ path: auditPath, logger: silentLogger, clock });
    const routes = createSecurityRoutes({ bans, allow, audit, now: () => clock.wallNow() });
    const post = routes.find((r) => r.method === 'POST' && r.path === '/v1/bans');
    assert.ok(post);
    const req: AdminRequest & { headers: Record<string, string> } = {
      method: 'POST',
      path: '/v1/bans',
      params: {},
      query: new URLSearchParams(),
      body: { target: '192.0.2.9', reason: 'test' },
      headers: { 'x-palisade-actor': 'carol@ops-1' },
    };
    await post.handler(req);
    await audit.close();
    const line = JSON.parse(readFileSync(auditPath, 'utf8').trim()) as Record<string, unknown>;
    assert.equal(line.actor, 'carol@ops-1');
    assert.equal(line.action, 'ban.add');
  });
});
