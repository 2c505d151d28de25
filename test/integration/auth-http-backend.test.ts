/**
 * Digest authentication through the daemon with credentials that exist only in an HTTP backend (auth.http):
 * a phone registers with SHA-256; an unknown user is challenged like a wrong password; with the backend failing
 * the phone gets 503 + Retry-After, is never banned, and a user cached before the outage still registers.
 * Real UDP sockets and a real node:http backend, all on 127.0.0.x.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { computeAllHa1 } from '../../src/auth/digest.ts';
import { silentLogger } from '../../src/core/log.ts';
import { type Daemon, startDaemon } from '../../src/main.ts';
import { digestPhoneKit, header, INSIDE_IP, PBX_IP, type Peer, PUBLIC_IP } from './helpers/digest-phone.ts';

const REALM = 'palisade.http';
const TOKEN = 'backend-token-7c1e';

/** The application database behind the backend. */
const PASSWORDS: Record<string, string> = { carol: 'http-only-pass', erin: 'cached-before-outage', dave: 'never-reached' };

const kit = digestPhoneKit(REALM, 3000);
const { peer } = kit;
const register = (p: Peer, user: string, opts: { auth?: string; callId?: string } = {}) => kit.request(p, 'REGISTER', { user, ...opts });
const answer = (challenge: string, user: string, password: string, uri: string): string =>
  kit.answer(challenge, { user, password, method: 'REGISTER', uri, alg: 'SHA-256' });

/** Challenge, answer; resolves with the final response to the answered REGISTER. */
async function registerWithPassword(phone: Peer, user: string, password: string): Promise<string> {
  const r1 = register(phone, user);
  phone.send(r1.text);
  const c = await phone.next((m) => m.startsWith('SIP/2.0 401'));
  const sha256 = header(c, 'WWW-Authenticate').find((x) => /algorithm=SHA-256\b/.test(x));
  assert.ok(sha256, 'a SHA-256 challenge is offered');
  phone.send(register(phone, user, { callId: r1.callId, auth: answer(sha256, user, password, r1.uri) }).text);
  return phone.next((m) => m.startsWith('SIP/2.0 ') && !m.startsWith('SIP/2.0 100'));
}

let daemon: Daemon;
let pbx: Peer;
let backend: Server;
let dir: string;
let backendDown = false;
const backendSeen: Array<{ username: string; realm: string; auth: string | undefined }> = [];

before(async () => {
  backend = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { username: string; realm: string };
      backendSeen.push({ ...body, auth: req.headers.authorization });
      if (backendDown) {
        res.writeHead(500);
        res.end();
        return;
      }
      const password = req.headers.authorization === `Bearer ${TOKEN}` ? PASSWORDS[body.username] : undefined;
      if (password === undefined || body.realm !== REALM) {
        res.writeHead(404);
        res.end();
        return;
      }
      const text = JSON.stringify({ ha1: { sha256: computeAllHa1(body.username, REALM, password).sha256 }, groups: ['app'] });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(text);
    });
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  const backendPort = (backend.address() as AddressInfo).port;

  pbx = await peer(PBX_IP);
  pbx.sock.on('message', (b, rinfo) => {
    const m = b.toString('latin1');
    if (m.startsWith('SIP/2.0') || m.startsWith('ACK')) return;
    const lines = [
      'SIP/2.0 200 OK',
      ...m.split('\r\n').filter((l) => /^via\s*:/i.test(l)),
      `From: ${header(m, 'From')[0]}`,
      `To: ${header(m, 'To')[0]};tag=pbx1`,
      `Call-ID: ${header(m, 'Call-ID')[0]}`,
      `CSeq: ${header(m, 'CSeq')[0]}`,
      ...header(m, 'Contact').map((c) => `Contact: ${c}`),
      'Content-Length: 0',
      '',
      '',
    ];
    pbx.sock.send(Buffer.from(lines.join('\r\n')), rinfo.port, rinfo.address);
  });
  dir = mkdtempSync(join(tmpdir(), 'palisade-authhttp-'));
  mkdirSync(join(dir, 'data'));
  // The token comes from a file (relative to the policy file, like every path in it); no users file: users live in the backend.
  writeFileSync(join(dir, 'backend.token'), `${TOKEN}\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, 'palisade.yaml'),
    `
node: { dataDir: ${join(dir, 'data')} }
listeners:
  - { id: pub, transport: udp, address: ${PUBLIC_IP}, port: 0 }
pbx:
  listen: { transport: udp, address: ${INSIDE_IP}, port: 0 }
  targets: [{ name: pbx1, host: ${PBX_IP}, port: ${pbx.port} }]
auth:
  realm: ${REALM}
  http:
    url: http://127.0.0.1:${backendPort}/sip/ha1
    timeout: 1s
    cacheFor: 60s
    failuresToOpen: 2
    openFor: 30s
    token: { file: backend.token }
security:
  bans: { maxRetry: 3, banTime: 1h }
metrics: { enabled: false }
logging: { level: silent }
`,
  );
  daemon = await startDaemon({ configPath: join(dir, 'palisade.yaml'), logger: silentLogger, installSignalHandlers: false });
  kit.publicPort = daemon.status().listeners.find((l) => l.id === 'pub')?.port ?? 0;
});

after(async () => {
  await daemon.stop();
  pbx.sock.close();
  backend.closeAllConnections();
  await new Promise<void>((r) => backend.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

test('a phone registers with SHA-256 using credentials that exist only in the HTTP backend', async () => {
  const phone = await peer('127.0.0.21');
  try {
    pbx.inbox.length = 0;
    const final = await registerWithPassword(phone, 'carol', PASSWORDS.carol as string);
    assert.match(final, /^SIP\/2\.0 200/);
    const asked = backendSeen.filter((s) => s.username === 'carol');
    assert.equal(asked.length, 1, 'one backend request');
    assert.deepEqual(asked[0], { username: 'carol', realm: REALM, auth: `Bearer ${TOKEN}` });
    const atPbx = pbx.inbox.find((m) => m.startsWith('REGISTER'));
    assert.ok(atPbx, 'the REGISTER reached the PBX');
    assert.equal(header(atPbx, 'Authorization').length, 0, 'credentials stop at Palisade');
    // A second registration is answered from the cache.
    assert.match(await registerWithPassword(phone, 'carol', PASSWORDS.carol as string), /^SIP\/2\.0 200/);
    assert.equal(backendSeen.filter((s) => s.username === 'carol').length, 1);
  } finally {
    phone.sock.close();
  }
});

test('a user the backend does not know is challenged again, like a wrong password', async () => {
  const phone = await peer('127.0.0.22');
  try {
    const unknown = await registerWithPassword(phone, 'mallory', 'guess');
    const wrong = await registerWithPassword(phone, 'carol', 'wrong-password');
    const shape = (m: string): string =>
      m
        .replace(/nonce="[^"]+"/g, 'nonce=N')
        .replace(/^(Via|From|To|Call-ID|CSeq):.*$/gim, '$1: X')
        .split('\r\n')
        .sort()
        .join('\n');
    assert.match(unknown, /^SIP\/2\.0 401/);
    assert.equal(shape(unknown), shape(wrong), 'unknown user and wrong password are indistinguishable');
    assert.ok(
      backendSeen.some((s) => s.username === 'mallory'),
      'the backend was asked (and said 404)',
    );
  } finally {
    phone.sock.close();
  }
});

test('with the backend failing the phone gets 503 + Retry-After, is never banned, and cached users still register', async () => {
  const cachedPhone = await peer('127.0.0.23');
  const phone = await peer('127.0.0.24');
  try {
    assert.match(await registerWithPassword(cachedPhone, 'erin', PASSWORDS.erin as string), /^SIP\/2\.0 200/);
    backendDown = true;
    const bansBefore = daemon.status().bans;
    // More rounds than maxRetry (3): had a failed lookup counted as an unknown user, the phone would be banned.
    const retryAfter: string[] = [];
    for (let i = 0; i < 6; i++) {
      const final = await registerWithPassword(phone, 'dave', PASSWORDS.dave as string);
      assert.match(final, /^SIP\/2\.0 503/, `round ${i}: ${final.split('\r\n')[0]}`);
      assert.equal(header(final, 'WWW-Authenticate').length, 0, 'no challenge: the password was not judged');
      retryAfter.push(header(final, 'Retry-After')[0] ?? '');
    }
    assert.equal(retryAfter[0], '5', 'a failure with the breaker still closed suggests 5 s');
    const later = Number(retryAfter[5]);
    assert.ok(later >= 25 && later <= 30, `with the breaker open, Retry-After is the time left (${retryAfter.join(',')})`);
    assert.equal(backendSeen.filter((s) => s.username === 'dave').length, 2, 'the breaker opened after 2 failures');
    assert.equal(daemon.status().bans, bansBefore, 'nobody was banned');
    // The source is still answered (not banned) and a user cached before the outage still registers.
    assert.match(await registerWithPassword(cachedPhone, 'erin', PASSWORDS.erin as string), /^SIP\/2\.0 200/);
    phone.send(register(phone, 'dave').text);
    await phone.next((m) => m.startsWith('SIP/2.0 401'));
  } finally {
    backendDown = false;
    phone.sock.close();
    cachedPhone.sock.close();
  }
});
