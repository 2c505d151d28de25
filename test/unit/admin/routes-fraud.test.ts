import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { signAdminToken } from '../../../src/admin/auth.ts';
import { type AdminResponse, adminRequest } from '../../../src/admin/client.ts';
import { startAdminHttps } from '../../../src/admin/https.ts';
import type { AdminRole } from '../../../src/admin/router.ts';
import { createFraudRoutes, type FraudControl, MAX_SUBJECT_CHARS, parseFraudSubject } from '../../../src/admin/routes-fraud.ts';
import { ACTOR_HEADER } from '../../../src/admin/routes-security.ts';
import { type AdminServer, startAdminServer } from '../../../src/admin/server.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import type { CallAuthorizationSummary } from '../../../src/daemon/fraud.ts';
import type { AuditEvent } from '../../../src/observability/audit.ts';
import { createAnomalyDetector } from '../../../src/policy/anomaly.ts';
import { createFraudStageStats } from '../../../src/policy/stage.ts';
import { generateSelfSignedCert } from '../../../src/transport/self-signed.ts';

const root = mkdtempSync(join(tmpdir(), 'palisade-fraud-routes-'));
after(() => rmSync(root, { recursive: true, force: true }));

const HOUR = 3_600_000;

/** A CallAuthorization-like object over a plain map of blocks, with a settable wall clock. */
function fakeAuth(now: { ms: number }): FraudControl['auth'] & { map: Map<string, number> } {
  const map = new Map<string, number>();
  const live = () => [...map].filter(([, u]) => u > now.ms).map(([subject, until]) => ({ subject, until }));
  return {
    map,
    blocks: live,
    unblock: (s) => live().some((b) => b.subject === s) && map.delete(s),
    summary: (): CallAuthorizationSummary => ({
      enabled: true,
      stats: { ...createFraudStageStats(), allowed: 7, denied: 3 },
      decisions: { allowed: 7, blocked: 3 },
      terminations: { max_duration: 1 },
      callsInProgress: 2,
      blocked: live().length,
      anomalySubjects: 4,
      anomalyEvictions: 0,
    }),
  };
}

function code(r: AdminResponse): unknown {
  return (r.body as { error?: { code?: unknown } } | null)?.error?.code;
}

describe('parseFraudSubject', () => {
  it('accepts user:NAME, trunk:NAME and a bare user name; refuses the rest', () => {
    assert.equal(parseFraudSubject('user:alice'), 'user:alice');
    assert.equal(parseFraudSubject(' alice '), 'user:alice');
    assert.equal(parseFraudSubject('1001'), 'user:1001');
    assert.equal(parseFraudSubject('alice@example.com'), 'user:alice@example.com');
    assert.equal(parseFraudSubject('trunk:sbc1'), 'trunk:sbc1');
    assert.equal(parseFraudSubject('trunk:carrier-1.lon'), 'trunk:carrier-1.lon');
    for (const bad of [
      '',
      '   ',
      'user:',
      'trunk:',
      'peer:sbc1',
      'USER:alice',
      'user:al ice',
      'user:a"b',
      'user:a\\b',
      'user:a:b',
      'user:a\u0000b',
      'trunk:-x',
      'trunk:a/b',
      `trunk:${'a'.repeat(65)}`,
      `user:${'a'.repeat(129)}`,
      'x'.repeat(MAX_SUBJECT_CHARS + 1),
      'anonymous:x',
    ]) {
      assert.equal(parseFraudSubject(bad), undefined, JSON.stringify(bad));
    }
    assert.equal(parseFraudSubject(`user:${'a'.repeat(128)}`), `user:${'a'.repeat(128)}`);
  });
});

describe('AnomalyDetector.blocks', () => {
  it('lists blocks in force soonest first, drops expired ones, and unblock lifts one', () => {
    const det = createAnomalyDetector({
      sequential: { windowMs: 600_000, minNumbers: 3, varyingDigits: 3, action: { kind: 'block_user', forMs: HOUR } },
    });
    const attack = (subject: string, t0: number): void => {
      for (let i = 0; i < 3; i++)
        det.observe({ kind: 'attempt', subject, at: t0 + i, callClass: 'international', e164: `+4420794600${10 + i}` });
    };
    const t = 1_800_000_000_000;
    attack('user:mallory', t + 1000);
    attack('trunk:sbc1', t);
    assert.deepEqual(det.blocks(t + 10), [
      { subject: 'trunk:sbc1', until: t + 2 + HOUR },
      { subject: 'user:mallory', until: t + 1002 + HOUR },
    ]);
    assert.deepEqual(det.blocks(t + 500 + HOUR), [{ subject: 'user:mallory', until: t + 1002 + HOUR }], 'trunk block expired');
    assert.equal(det.blockedUntil('trunk:sbc1', t), undefined, 'the expired block was dropped');
    assert.equal(det.unblock('user:mallory'), true);
    assert.deepEqual(det.blocks(t), []);
    assert.equal(det.unblock('user:mallory'), false);
  });
});

describe('fraud routes over the admin socket', () => {
  let server: AdminServer;
  let socketPath: string;
  let events: AuditEvent[];
  let now: { ms: number };
  let auth: ReturnType<typeof fakeAuth>;
  let n = 0;
  beforeEach(async () => {
    events = [];
    now = { ms: Date.UTC(2026, 10, 29, 22, 0) };
    auth = fakeAuth(now);
    socketPath = join(root, `a${++n}.sock`);
    server = await startAdminServer({
      socketPath,
      handlers: { status: () => ({}), reload: () => ({ ok: true }) },
      routes: createFraudRoutes({ auth, audit: { record: (e) => events.push(e) } }),
    });
  });
  afterEach(async () => {
    await server.close();
  });
  const call = (method: string, path: string): Promise<AdminResponse> =>
    adminRequest(socketPath, method, path, undefined, { headers: { [ACTOR_HEADER]: 'alice@gw1' } });

  it('lists blocks in force with ISO times', async () => {
    let r = await call('GET', '/v1/fraud/blocks');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { blocks: [], total: 0 });
    auth.map.set('user:mallory', now.ms + HOUR);
    auth.map.set('trunk:old', now.ms - 1);
    r = await call('GET', '/v1/fraud/blocks');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { blocks: [{ subject: 'user:mallory', until: '2026-11-29T23:00:00.000Z' }], total: 1 });
    assert.equal(events.length, 0, 'reading is not audited');
  });

  it('returns the summary', async () => {
    const r = await call('GET', '/v1/fraud');
    assert.equal(r.status, 200);
    const b = r.body as CallAuthorizationSummary;
    assert.equal(b.enabled, true);
    assert.equal(b.callsInProgress, 2);
    assert.equal(b.stats.denied, 3);
    assert.deepEqual(b.decisions, { allowed: 7, blocked: 3 });
  });

  it('unblocks (bare name = user), audits with the actor, and 404s what is not blocked', async () => {
    auth.map.set('user:mallory', now.ms + HOUR);
    auth.map.set('trunk:sbc1', now.ms + HOUR);
    let r = await call('DELETE', '/v1/fraud/blocks/mallory');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { removed: true, subject: 'user:mallory' });
    assert.equal(auth.map.has('user:mallory'), false);
    assert.deepEqual(events.at(-1), {
      actor: 'alice@gw1',
      action: 'fraud.unblock',
      target: 'user:mallory',
      outcome: 'ok',
      details: { until: '2026-11-29T23:00:00.000Z' },
    });

    r = await call('DELETE', `/v1/fraud/blocks/${encodeURIComponent('trunk:sbc1')}`);
    assert.equal(r.status, 200);
    assert.equal(auth.map.has('trunk:sbc1'), false);

    r = await call('DELETE', '/v1/fraud/blocks/user:mallory');
    assert.equal(r.status, 404);
    assert.equal(code(r), 'FRAUD_NOT_BLOCKED');
    assert.deepEqual(events.at(-1), {
      actor: 'alice@gw1',
      action: 'fraud.unblock',
      target: 'user:mallory',
      outcome: 'refused',
      details: { code: 'FRAUD_NOT_BLOCKED' },
    });

    auth.map.set('user:late', now.ms - 1);
    r = await call('DELETE', '/v1/fraud/blocks/user:late');
    assert.equal(r.status, 404, 'an expired block is not lifted again');
    assert.equal(events.length, 4);
  });

  it('refuses a malformed subject with 400 and audits it with printable text', async () => {
    for (const bad of ['peer:x', 'user:a%20b', 'user:a%0Ab', encodeURIComponent('user:"x"'), 'x'.repeat(300)]) {
      const before = events.length;
      const r = await call('DELETE', `/v1/fraud/blocks/${bad}`);
      assert.equal(r.status, 400, bad);
      assert.equal(code(r), 'FRAUD_BAD_SUBJECT');
      assert.equal(events.length, before + 1);
      const e = events.at(-1) as AuditEvent;
      assert.equal(e.outcome, 'refused');
      assert.ok((e.target ?? '').length <= MAX_SUBJECT_CHARS + 1);
      assert.doesNotMatch(e.target ?? '', /[\n\r]/);
    }
    const undecodable = await call('DELETE', '/v1/fraud/blocks/user%3');
    assert.equal(undecodable.status, 404);
    assert.equal(code(undecodable), 'ADMIN_NOT_FOUND', 'undecodable: no route');
  });

  it('without an actor header the audit says unknown', async () => {
    auth.map.set('user:bob', now.ms + HOUR);
    const r = await adminRequest(socketPath, 'DELETE', '/v1/fraud/blocks/user:bob');
    assert.equal(r.status, 200);
    assert.equal(events.at(-1)?.actor, 'unknown');
  });
});

describe('fraud routes on the HTTPS admin API', () => {
  it('a viewer reads but cannot unblock; an operator unblocks, audited under the token subject', async () => {
    const SECRET = 'y'.repeat(48);
    const cert = generateSelfSignedCert('palisade', ['127.0.0.1']);
    const clock = new ManualClock(0, Date.now());
    const now = { ms: Date.now() };
    const auth = fakeAuth(now);
    auth.map.set('user:mallory', now.ms + HOUR);
    const events: AuditEvent[] = [];
    const server = await startAdminHttps({
      policyHttps: {
        address: '127.0.0.1',
        port: 0,
        minVersion: 'TLSv1.3',
        tokens: { key: SECRET, issuer: 'palisade', audience: 'palisade-admin' },
        rateLimit: 120,
      },
      certPem: cert.certPem,
      keyPem: cert.keyPem,
      handlers: { status: () => ({}), reload: () => ({ ok: true }) },
      routes: createFraudRoutes({ auth, audit: { record: (e) => events.push(e) } }),
      clock,
    });
    const tok = (role: AdminRole, sub: string) =>
      signAdminToken(new TextEncoder().encode(SECRET), {
        sub,
        role,
        ttlSec: 60,
        nowWallMs: Date.now(),
        issuer: 'palisade',
        audience: 'palisade-admin',
      });
    const call = (method: string, path: string, token: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: server.port,
            method,
            path,
            ca: cert.certPem,
            agent: false,
            timeout: 5000,
            headers: { authorization: `Bearer ${token}`, [ACTOR_HEADER]: 'spoofed' },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end();
      });
    try {
      const viewer = await tok('viewer', 'dash');
      assert.equal(await call('GET', '/v1/fraud', viewer), 200);
      assert.equal(await call('GET', '/v1/fraud/blocks', viewer), 200);
      assert.equal(await call('DELETE', '/v1/fraud/blocks/user:mallory', viewer), 403);
      assert.equal(auth.map.has('user:mallory'), true);
      assert.equal(events.length, 0, 'a refused role check never reaches the handler');
      assert.equal(await call('DELETE', '/v1/fraud/blocks/user:mallory', await tok('operator', 'carol@noc')), 200);
      assert.equal(auth.map.has('user:mallory'), false);
      assert.equal(events[0]?.actor, 'carol@noc');
      assert.equal(events[0]?.action, 'fraud.unblock');
    } finally {
      await server.close();
    }
  });
});
