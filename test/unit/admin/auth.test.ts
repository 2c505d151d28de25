import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { base64url, SignJWT } from 'jose';
import { parseBearer, signAdminToken, tokenKeyBytes, verifyAdminToken } from '../../../src/admin/auth.ts';
import { createAdminRateLimiter } from '../../../src/admin/rate-limit.ts';
import { roleAllows, routeRole } from '../../../src/admin/router.ts';

const SECRET = 'k'.repeat(40);
const KEY = new TextEncoder().encode(SECRET);
const SETTINGS = { issuer: 'palisade', audience: 'palisade-admin' };
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);

function sign(sub = 'alice', ttlSec = 3600, nowWallMs = NOW, role: 'viewer' | 'operator' | 'admin' = 'operator'): Promise<string> {
  return signAdminToken(KEY, { sub, role, ttlSec, nowWallMs, ...SETTINGS });
}

describe('admin tokens', () => {
  it('round-trips sub, role and exp', async () => {
    const r = await verifyAdminToken(await sign(), KEY, SETTINGS, NOW + 1000);
    assert.ok(r.ok);
    assert.deepEqual(r.value, { sub: 'alice', role: 'operator', exp: NOW / 1000 + 3600 });
  });

  it('allows 30 s of clock skew past exp, not more', async () => {
    const t = await sign('alice', 60);
    assert.ok((await verifyAdminToken(t, KEY, SETTINGS, NOW + 85_000)).ok);
    const late = await verifyAdminToken(t, KEY, SETTINGS, NOW + 95_000);
    assert.equal(late.ok ? 'ok' : late.error.code, 'TOKEN_EXPIRED');
  });

  it('refuses a wrong key, issuer, audience, a missing exp or role, alg none and HS512', async () => {
    const code = async (t: string, key = KEY): Promise<string> => {
      const r = await verifyAdminToken(t, key, SETTINGS, NOW);
      return r.ok ? 'ok' : r.error.code;
    };
    const good = await sign();
    assert.equal(await code(good, new TextEncoder().encode('x'.repeat(40))), 'TOKEN_BAD_SIGNATURE');
    const base = (alg = 'HS256') =>
      new SignJWT({ role: 'admin' })
        .setProtectedHeader({ alg })
        .setSubject('mallory')
        .setIssuedAt(NOW / 1000);
    assert.equal(await code(await base().setIssuer('palisade').setAudience('palisade-admin').sign(KEY)), 'TOKEN_CLAIMS');
    const exp = NOW / 1000 + 60;
    assert.equal(
      await code(await base().setIssuer('other').setAudience('palisade-admin').setExpirationTime(exp).sign(KEY)),
      'TOKEN_CLAIMS',
    );
    assert.equal(await code(await base().setIssuer('palisade').setAudience('other').setExpirationTime(exp).sign(KEY)), 'TOKEN_CLAIMS');
    assert.equal(
      await code(await base('HS512').setIssuer('palisade').setAudience('palisade-admin').setExpirationTime(exp).sign(KEY)),
      'TOKEN_BAD_ALG',
    );
    const noRole = await new SignJWT({ role: 'root' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('mallory')
      .setIssuer('palisade')
      .setAudience('palisade-admin')
      .setExpirationTime(exp)
      .sign(KEY);
    assert.equal(await code(noRole), 'TOKEN_CLAIMS');
    const [, payload] = good.split('.');
    const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${payload}.`;
    assert.equal(await code(none), 'TOKEN_BAD_ALG');
    assert.equal(await code('not-a-jwt'), 'TOKEN_MALFORMED');
    assert.equal(await code('a'.repeat(5000)), 'TOKEN_MALFORMED');
  });

  it('refuses keys shorter than 32 bytes and bad subjects', async () => {
    const short = tokenKeyBytes('x'.repeat(31));
    assert.equal(short.ok ? 'ok' : short.error.code, 'TOKEN_KEY_TOO_SHORT');
    assert.ok(tokenKeyBytes('x'.repeat(32)).ok);
    await assert.rejects(sign('bad sub'), RangeError);
    await assert.rejects(sign('alice', 0), RangeError);
  });

  it('parses Authorization: Bearer', () => {
    const code = (h: string | string[] | undefined): string => {
      const r = parseBearer(h);
      return r.ok ? r.value : r.error.code;
    };
    assert.equal(code('Bearer abc.def.ghi'), 'abc.def.ghi');
    assert.equal(code('bearer abc'), 'abc');
    assert.equal(code(undefined), 'TOKEN_MISSING');
    assert.equal(code('Basic YWxhZGRpbjpvcGVuc2VzYW1l'), 'TOKEN_MALFORMED');
    assert.equal(code('Bearer a b'), 'TOKEN_MALFORMED');
    assert.equal(code(['Bearer a', 'Bearer b']), 'TOKEN_MALFORMED');
    assert.equal(code(`Bearer ${'a'.repeat(5000)}`), 'TOKEN_MALFORMED');
  });
});

describe('admin roles', () => {
  it('defaults to viewer for GET and operator otherwise; orders viewer < operator < admin', () => {
    const h = () => null;
    assert.equal(routeRole({ method: 'GET', path: '/v1/status', handler: h }), 'viewer');
    assert.equal(routeRole({ method: 'DELETE', path: '/v1/bans/:t', handler: h }), 'operator');
    assert.equal(routeRole({ method: 'GET', path: '/v1/users', handler: h, role: 'admin' }), 'admin');
    assert.ok(roleAllows('admin', 'operator'));
    assert.ok(roleAllows('operator', 'operator'));
    assert.ok(!roleAllows('viewer', 'operator'));
    assert.ok(!roleAllows('operator', 'admin'));
  });
});

describe('admin rate limiter', () => {
  it('allows a burst of perMinute, then refills evenly and says when to retry', () => {
    const l = createAdminRateLimiter(60);
    for (let i = 0; i < 60; i++) assert.ok(l.take('192.0.2.1', 0).ok, `request ${i}`);
    const r = l.take('192.0.2.1', 0);
    assert.deepEqual(r, { ok: false, retryAfterSec: 1 });
    assert.ok(l.take('::ffff:192.0.2.2', 0).ok, 'another address has its own bucket');
    assert.ok(!l.take('::ffff:192.0.2.1', 500).ok, 'a v4-mapped address is the same client');
    assert.ok(l.take('192.0.2.1', 1000).ok, 'one token per second comes back');
    assert.ok(!l.take('192.0.2.1', 1000).ok);
    assert.ok(!l.take('192.0.2.1', -5000).ok, 'a clock stepping back adds nothing');
  });

  it('keeps a bounded table and counts evictions', () => {
    const l = createAdminRateLimiter(1, 100);
    for (let i = 0; i < 1000; i++) l.take(`10.0.${i >> 8}.${i & 255}`, 0);
    assert.equal(l.size, 100);
    assert.equal(l.evictions, 900);
  });
});
