import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { signAdminToken } from '../../../src/admin/auth.ts';
import { startAdminHttps } from '../../../src/admin/https.ts';
import type { AdminRole } from '../../../src/admin/router.ts';
import { ACTOR_HEADER, createSecurityRoutes } from '../../../src/admin/routes-security.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import type { AuditEvent } from '../../../src/observability/audit.ts';
import { AllowList } from '../../../src/security/allow-list.ts';
import { createBanManager } from '../../../src/security/bans.ts';
import { generateSelfSignedCert } from '../../../src/transport/self-signed.ts';

const SECRET = 'x'.repeat(48);
const KEY = new TextEncoder().encode(SECRET);
const cert = generateSelfSignedCert('palisade', ['127.0.0.1']);
const dir = mkdtempSync(join(tmpdir(), 'palisade-https-sec-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function call(port: number, method: string, path: string, token: string, body?: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        ca: cert.certPem,
        agent: false,
        timeout: 5000,
        headers: {
          authorization: `Bearer ${token}`,
          [ACTOR_HEADER]: 'spoofed',
          ...(text !== undefined ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(text);
  });
}

describe('HTTPS admin API with the real security routes', () => {
  it('bans as an operator, audited under the token sub; a viewer lists but cannot flush', async () => {
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
      maxTracked: 1000,
      maxRangeBans: 2,
      sweepIntervalMs: 0,
    });
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
      routes: createSecurityRoutes({ bans, allow, audit: { record: (e) => events.push(e) }, now: () => clock.wallNow() }),
      clock,
    });
    const tok = (role: AdminRole, sub: string) =>
      signAdminToken(KEY, { sub, role, ttlSec: 60, nowWallMs: Date.now(), issuer: 'palisade', audience: 'palisade-admin' });
    try {
      assert.equal(await call(server.port, 'POST', '/v1/bans', await tok('operator', 'carol@noc'), { target: '192.0.2.9' }), 201);
      assert.equal(bans.list().length, 1);
      assert.equal(events[0]?.actor, 'carol@noc');
      assert.equal(await call(server.port, 'GET', '/v1/bans', await tok('viewer', 'dash')), 200);
      assert.equal(await call(server.port, 'POST', '/v1/bans/flush', await tok('viewer', 'dash')), 403);
      assert.equal(await call(server.port, 'DELETE', '/v1/bans/192.0.2.9', await tok('viewer', 'dash')), 403);
      assert.equal(bans.list().length, 1);
      assert.equal(events.length, 1, 'refused role checks never reach the handler');
    } finally {
      await server.close();
      bans.close();
    }
  });
});
