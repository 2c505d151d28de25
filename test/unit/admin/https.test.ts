import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { base64url, SignJWT } from 'jose';
import { signAdminToken } from '../../../src/admin/auth.ts';
import { type AdminHttpsPolicy, type AdminHttpsServer, startAdminHttps } from '../../../src/admin/https.ts';
import { type AdminRequest, type AdminRole, reply } from '../../../src/admin/router.ts';
import { ACTOR_HEADER } from '../../../src/admin/routes-security.ts';
import type { Clock } from '../../../src/core/clock.ts';
import { isPalisadeError } from '../../../src/core/errors.ts';
import { generateSelfSignedCert } from '../../../src/transport/self-signed.ts';

const SECRET = 's3cret-'.repeat(6);
const KEY = new TextEncoder().encode(SECRET);
const cert = generateSelfSignedCert('palisade', ['127.0.0.1']);

function policy(over: Partial<AdminHttpsPolicy> = {}): AdminHttpsPolicy {
  return {
    address: '127.0.0.1',
    port: 0,
    minVersion: 'TLSv1.3',
    tokens: { key: SECRET, issuer: 'palisade', audience: 'palisade-admin' },
    rateLimit: 1000,
    ...over,
  };
}

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

function call(
  port: number,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string>; maxVersion?: 'TLSv1.2' } = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const text = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        ca: cert.certPem,
        agent: false,
        timeout: 5000,
        ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
        headers: {
          ...(opts.token !== undefined ? { authorization: `Bearer ${opts.token}` } : {}),
          ...(text !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw === '' ? undefined : (JSON.parse(raw) as unknown) });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(text);
  });
}

const token = (role: AdminRole, sub = 'alice', ttlSec = 300, nowWallMs = Date.now()): Promise<string> =>
  signAdminToken(KEY, { sub, role, ttlSec, nowWallMs, issuer: 'palisade', audience: 'palisade-admin' });

function errorCode(r: Res): unknown {
  return (r.body as { error?: { code?: unknown } } | undefined)?.error?.code;
}

describe('HTTPS admin API', () => {
  let server: AdminHttpsServer;
  const actors: unknown[] = [];
  let reloads = 0;

  before(async () => {
    server = await startAdminHttps({
      policyHttps: policy(),
      certPem: cert.certPem,
      keyPem: cert.keyPem,
      handlers: {
        status: () => ({ state: 'running' }),
        reload: () => {
          reloads++;
          return { ok: true };
        },
      },
      routes: [
        { method: 'GET', path: '/v1/bans', handler: () => ({ bans: [], total: 0 }) },
        {
          method: 'POST',
          path: '/v1/bans',
          handler: (req: AdminRequest) => {
            actors.push(req.headers?.[ACTOR_HEADER]);
            return reply(201, { ban: req.body });
          },
        },
        { method: 'GET', path: '/v1/users', role: 'admin', handler: () => ({ users: [] }) },
      ],
    });
  });
  after(() => server.close());

  it('serves GET /v1/status to a viewer', async () => {
    assert.ok(server.port > 0);
    const r = await call(server.port, 'GET', '/v1/status', { token: await token('viewer') });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { state: 'running' });
  });

  it('refuses a viewer POST /v1/bans (403) and lets an operator, audited as the token sub', async () => {
    const body = { target: '192.0.2.7' };
    const v = await call(server.port, 'POST', '/v1/bans', { token: await token('viewer'), body });
    assert.equal(v.status, 403);
    assert.equal(errorCode(v), 'ADMIN_FORBIDDEN');
    assert.deepEqual(actors, [], 'the handler never ran');
    const o = await call(server.port, 'POST', '/v1/bans', {
      token: await token('operator', 'bob'),
      body,
      headers: { [ACTOR_HEADER]: 'someone-else' },
    });
    assert.equal(o.status, 201);
    assert.deepEqual(o.body, { ban: body });
    assert.deepEqual(actors, ['bob']);
  });

  it('keeps admin-only routes from operators; reload needs operator', async () => {
    assert.equal((await call(server.port, 'GET', '/v1/users', { token: await token('operator') })).status, 403);
    assert.equal((await call(server.port, 'GET', '/v1/users', { token: await token('admin') })).status, 200);
    assert.equal((await call(server.port, 'POST', '/v1/reload', { token: await token('viewer') })).status, 403);
    assert.equal(reloads, 0);
    assert.equal((await call(server.port, 'POST', '/v1/reload', { token: await token('admin') })).status, 200);
    assert.equal(reloads, 1);
  });

  it('answers 401 with WWW-Authenticate: Bearer without a token, and before routing', async () => {
    const r = await call(server.port, 'GET', '/v1/status');
    assert.equal(r.status, 401);
    assert.equal(errorCode(r), 'ADMIN_UNAUTHORIZED');
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="palisade-admin"');
    const unknown = await call(server.port, 'GET', '/v1/nothing-here');
    assert.equal(unknown.status, 401, 'an unauthenticated client learns nothing about the route table');
  });

  it('refuses tampered, expired, alg=none, wrong-audience, HS512 and missing-exp tokens with 401', async () => {
    const good = await token('admin');
    const [h, p, s] = good.split('.') as [string, string, string];
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(p))) as Record<string, unknown>;
    const tampered = `${h}.${base64url.encode(JSON.stringify({ ...claims, sub: 'mallory' }))}.${s}`;
    const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${p}.`;
    const expired = await token('admin', 'alice', 60, Date.now() - 120_000);
    const exp = Math.floor(Date.now() / 1000) + 300;
    const build = (alg: string) => new SignJWT({ role: 'admin' }).setProtectedHeader({ alg }).setSubject('m').setIssuer('palisade');
    const wrongAud = await build('HS256').setAudience('someone-else').setExpirationTime(exp).sign(KEY);
    const hs512 = await build('HS512').setAudience('palisade-admin').setExpirationTime(exp).sign(KEY);
    const noExp = await build('HS256').setAudience('palisade-admin').sign(KEY);
    const otherKey = await build('HS256')
      .setAudience('palisade-admin')
      .setExpirationTime(exp)
      .sign(new TextEncoder().encode('o'.repeat(40)));
    const cases = { tampered, none, expired, wrongAud, hs512, noExp, otherKey };
    for (const [name, t] of Object.entries(cases)) {
      const r = await call(server.port, 'GET', '/v1/status', { token: t });
      assert.equal(r.status, 401, name);
      assert.match(String(r.headers['www-authenticate']), /^Bearer realm="palisade-admin", error="invalid_token"/, name);
    }
  });

  it('refuses a TLS 1.2 client when minVersion is TLSv1.3', async () => {
    await assert.rejects(call(server.port, 'GET', '/v1/status', { token: await token('viewer'), maxVersion: 'TLSv1.2' }), (e: Error) => {
      assert.match(e.message + String((e as NodeJS.ErrnoException).code), /alert|version|ECONNRESET|handshake/i);
      return true;
    });
  });
});

describe('HTTPS admin API rate limit', () => {
  it('answers 429 with Retry-After past rateLimit per minute, and recovers as time passes', async () => {
    let now = 0;
    const clock: Clock = { now: () => now, wallNow: () => Date.now(), setTimer: () => ({ cancel: () => {} }) };
    const server = await startAdminHttps({
      policyHttps: policy({ rateLimit: 3 }),
      certPem: cert.certPem,
      keyPem: cert.keyPem,
      handlers: { status: () => ({ state: 'running' }), reload: () => ({ ok: true }) },
      clock,
    });
    try {
      const t = await token('viewer');
      for (let i = 0; i < 3; i++) assert.equal((await call(server.port, 'GET', '/v1/status', { token: t })).status, 200);
      const limited = await call(server.port, 'GET', '/v1/status', { token: t });
      assert.equal(limited.status, 429);
      assert.equal(errorCode(limited), 'ADMIN_RATE_LIMITED');
      assert.equal(limited.headers['retry-after'], '20');
      // Unauthenticated requests count too (a token guesser is slowed down).
      assert.equal((await call(server.port, 'GET', '/v1/status')).status, 429);
      now += 20_000;
      assert.equal((await call(server.port, 'GET', '/v1/status', { token: t })).status, 200);
    } finally {
      await server.close();
    }
  });
});

describe('HTTPS admin API start-up', () => {
  it('refuses a token key shorter than 32 bytes, an unset env key, and a missing cert, naming the field', async () => {
    const start = (p: AdminHttpsPolicy, withCert = true) =>
      startAdminHttps({
        policyHttps: p,
        ...(withCert ? { certPem: cert.certPem, keyPem: cert.keyPem } : {}),
        handlers: { status: () => null, reload: () => null },
        env: {},
      });
    const field = (path: string) => (e: unknown) => {
      assert.ok(isPalisadeError(e));
      assert.equal(e.code, 'CONFIG_INVALID');
      assert.equal((e.details as { path?: string }).path, path);
      assert.ok(!String(e.message).includes(SECRET));
      return true;
    };
    await assert.rejects(start(policy({ tokens: { key: 'short', issuer: 'i', audience: 'a' } })), field('admin.https.tokens.key'));
    await assert.rejects(start(policy({ tokens: { key: { env: 'NOPE' }, issuer: 'i', audience: 'a' } })), field('admin.https.tokens.key'));
    await assert.rejects(start(policy(), false), field('admin.https.cert'));
    await assert.rejects(start(policy({ cert: '/nonexistent/admin.crt' })), field('admin.https.key'));
  });
});
