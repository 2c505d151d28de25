/**
 * Digest authentication, anti-enumeration, bans and scanner handling through the daemon, over real UDP sockets,
 * with our own client computing SHA-256 / SHA-512-256 responses. (SIPp and SIPVicious runs live in auth-*.test.ts
 * and attack-*.test.ts.)
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/core/log.ts';
import { type Daemon, startDaemon } from '../../src/main.ts';
import {
  answerAllOk,
  digestPhoneKit,
  header,
  INSIDE_IP,
  PBX_IP,
  type Peer,
  PUBLIC_IP,
  writeAliceAndOldphone,
} from './helpers/digest-phone.ts';

const REALM = 'palisade.test';
const kit = digestPhoneKit(REALM);
const { peer, request, answer } = kit;

let daemon: Daemon;
let pbx: Peer;
let dir: string;

before(async () => {
  pbx = await peer(PBX_IP);
  answerAllOk(pbx);
  dir = mkdtempSync(join(tmpdir(), 'palisade-auth-'));
  mkdirSync(join(dir, 'data'));
  writeAliceAndOldphone(join(dir, 'data', 'users.yaml'), REALM);
  writeFileSync(
    join(dir, 'palisade.yaml'),
    `
node: { dataDir: ${join(dir, 'data')} }
listeners:
  - { id: pub, transport: udp, address: ${PUBLIC_IP}, port: 0 }
pbx:
  listen: { transport: udp, address: ${INSIDE_IP}, port: 0 }
  targets: [{ name: pbx1, host: ${PBX_IP}, port: ${pbx.port} }]
auth: { realm: ${REALM}, md5FirstFor: [127.0.0.18/32] }
security:
  bans: { maxRetry: 5, banTime: 1h }
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
});

test('REGISTER is challenged with 401, strongest algorithm first, and passes with SHA-256; the PBX gets no credentials', async () => {
  const phone = await peer('127.0.0.11');
  try {
    const r1 = request(phone, 'REGISTER');
    phone.send(r1.text);
    const c = await phone.next((m) => m.startsWith('SIP/2.0 401'));
    const challenges = header(c, 'WWW-Authenticate');
    assert.ok(challenges.length >= 2, 'several challenges');
    assert.match(challenges[0] ?? '', /algorithm=SHA-512-256/);
    assert.match(challenges[1] ?? '', /algorithm=SHA-256/);
    assert.ok(challenges.every((x) => x.includes(`realm="${REALM}"`)));
    const sha256 = challenges.find((x) => /algorithm=SHA-256\b/.test(x)) ?? '';
    const r2 = request(phone, 'REGISTER', {
      callId: r1.callId,
      auth: answer(sha256, { user: 'alice', password: 's3cret-A', method: 'REGISTER', uri: r1.uri, alg: 'SHA-256' }),
    });
    pbx.inbox.length = 0;
    phone.send(r2.text);
    await phone.next((m) => m.startsWith('SIP/2.0 200'));
    const atPbx = pbx.inbox.find((m) => m.startsWith('REGISTER'));
    assert.ok(atPbx, 'the REGISTER reached the PBX');
    assert.equal(header(atPbx, 'Authorization').length, 0, 'credentials stop at Palisade');
  } finally {
    phone.sock.close();
  }
});

test('INVITE is challenged with 407 and passes with SHA-512-256; the PBX gets the asserted identity', async () => {
  const phone = await peer('127.0.0.12');
  try {
    const r1 = request(phone, 'INVITE');
    phone.send(r1.text);
    const c = await phone.next((m) => m.startsWith('SIP/2.0 407'));
    const ch = header(c, 'Proxy-Authenticate').find((x) => x.includes('SHA-512-256')) ?? '';
    pbx.inbox.length = 0;
    const r2 = request(phone, 'INVITE', {
      callId: r1.callId,
      auth: answer(ch, { user: 'alice', password: 's3cret-A', method: 'INVITE', uri: r1.uri, alg: 'SHA-512-256' }),
    });
    phone.send(r2.text);
    await phone.next((m) => m.startsWith('SIP/2.0 200'));
    const inv = pbx.inbox.find((m) => m.startsWith('INVITE'));
    assert.ok(inv);
    assert.deepEqual(header(inv, 'P-Asserted-Identity'), [`<sip:alice@${REALM}>`]);
    assert.equal(header(inv, 'Proxy-Authorization').length, 0);
  } finally {
    phone.sock.close();
  }
});

test('unknown user and wrong password get the same answer; a replayed Authorization is refused', async () => {
  const phone = await peer('127.0.0.13');
  try {
    const shapes: string[] = [];
    for (const [user, password] of [
      ['alice', 'wrong'],
      ['nobody', 'whatever'],
    ] as const) {
      const r1 = request(phone, 'REGISTER', { user });
      phone.send(r1.text);
      const c = await phone.next((m) => m.startsWith('SIP/2.0 401'));
      const ch = header(c, 'WWW-Authenticate')[1] ?? '';
      const r2 = request(phone, 'REGISTER', {
        user,
        callId: r1.callId,
        auth: answer(ch, { user, password, method: 'REGISTER', uri: r1.uri, alg: 'SHA-256' }),
      });
      phone.send(r2.text);
      const again = await phone.next((m) => m.startsWith('SIP/2.0 '));
      // Everything but nonces and per-message ids must be identical.
      shapes.push(
        again
          .replace(/nonce="[^"]+"/g, 'nonce=N')
          .replace(/^(Via|From|To|Call-ID|CSeq):.*$/gim, '$1: X')
          .split('\r\n')
          .sort()
          .join('\n'),
      );
    }
    assert.equal(shapes[0], shapes[1], 'unknown user and wrong password are indistinguishable');
    assert.match(shapes[0] ?? '', /SIP\/2\.0 401/);

    // Replay: the same Authorization (same nonce and nc) a second time is not accepted.
    const other = await peer('127.0.0.14');
    try {
      const r1 = request(other, 'REGISTER');
      other.send(r1.text);
      const c = await other.next((m) => m.startsWith('SIP/2.0 401'));
      const ch = header(c, 'WWW-Authenticate')[1] ?? '';
      const auth = answer(ch, { user: 'alice', password: 's3cret-A', method: 'REGISTER', uri: r1.uri, alg: 'SHA-256' });
      other.send(request(other, 'REGISTER', { callId: r1.callId, auth }).text);
      await other.next((m) => m.startsWith('SIP/2.0 200'));
      other.send(request(other, 'REGISTER', { callId: r1.callId, auth }).text);
      await other.next((m) => m.startsWith('SIP/2.0 401'));
    } finally {
      other.sock.close();
    }
  } finally {
    phone.sock.close();
  }
});

test('MD5 is accepted only for a user allowed to use it', async () => {
  const phone = await peer('127.0.0.15');
  try {
    for (const [user, password, expect] of [
      ['oldphone', 'md5-only', '200'],
      ['alice', 's3cret-A', '401'],
    ] as const) {
      const r1 = request(phone, 'REGISTER', { user });
      phone.send(r1.text);
      const c = await phone.next((m) => m.startsWith('SIP/2.0 401'));
      const md5 = header(c, 'WWW-Authenticate').find((x) => /algorithm=MD5/.test(x));
      assert.ok(md5, 'MD5 is offered because one user may use it');
      phone.send(
        request(phone, 'REGISTER', {
          user,
          callId: r1.callId,
          auth: answer(md5, { user, password, method: 'REGISTER', uri: r1.uri, alg: 'MD5' }),
        }).text,
      );
      await phone.next((m) => m.startsWith(`SIP/2.0 ${expect}`));
    }
  } finally {
    phone.sock.close();
  }
});

test("an authenticated user cannot register its phone under another user's address of record", async () => {
  const phone = await peer('127.0.0.20');
  try {
    const r1 = request(phone, 'REGISTER');
    const asBob = (t: string) => t.replace(/^To: .*$/m, `To: <sip:bob@${PUBLIC_IP}>`);
    phone.send(asBob(r1.text));
    const c = await phone.next((m) => m.startsWith('SIP/2.0 401'));
    const ch = header(c, 'WWW-Authenticate')[1] ?? '';
    pbx.inbox.length = 0;
    const r2 = request(phone, 'REGISTER', {
      callId: r1.callId,
      auth: answer(ch, { user: 'alice', password: 's3cret-A', method: 'REGISTER', uri: r1.uri, alg: 'SHA-256' }),
    });
    phone.send(asBob(r2.text));
    await phone.next((m) => m.startsWith('SIP/2.0 403'));
    assert.equal(pbx.inbox.filter((m) => m.startsWith('REGISTER')).length, 0, 'nothing reached the registrar');
  } finally {
    phone.sock.close();
  }
});

test('challenges are stateless: no retransmitted 401 toward a source that never answers', async () => {
  const phone = await peer('127.0.0.21');
  try {
    phone.send(request(phone, 'REGISTER').text);
    await phone.next((m) => m.startsWith('SIP/2.0 401'));
    await new Promise((r) => setTimeout(r, 1200)); // Timer G would have repeated it at 500 ms and 1500 ms
    assert.equal(phone.inbox.filter((m) => m.startsWith('SIP/2.0 401')).length, 0);
  } finally {
    phone.sock.close();
  }
});

test('a legacy source range gets MD5 listed first, and an MD5-only phone there registers', async () => {
  const legacy = await peer('127.0.0.18');
  try {
    const r1 = request(legacy, 'REGISTER', { user: 'oldphone' });
    legacy.send(r1.text);
    const c = await legacy.next((m) => m.startsWith('SIP/2.0 401'));
    const challenges = header(c, 'WWW-Authenticate');
    assert.match(challenges[0] ?? '', /algorithm=MD5/, 'MD5 first for this source');
    assert.ok(
      challenges.some((x) => /SHA-512-256/.test(x)),
      'the stronger ones are still offered',
    );
    legacy.send(
      request(legacy, 'REGISTER', {
        user: 'oldphone',
        callId: r1.callId,
        auth: answer(challenges[0] ?? '', { user: 'oldphone', password: 'md5-only', method: 'REGISTER', uri: r1.uri, alg: 'MD5' }),
      }).text,
    );
    await legacy.next((m) => m.startsWith('SIP/2.0 200'));
  } finally {
    legacy.sock.close();
  }
});

test('password guessing is banned after maxRetry failures: then silence', async () => {
  const attacker = await peer('127.0.0.16');
  try {
    let answered = 0;
    for (let i = 0; i < 8; i++) {
      const r1 = request(attacker, 'REGISTER');
      attacker.send(r1.text);
      const c = await attacker.next((m) => m.startsWith('SIP/2.0 401'), 500).catch(() => undefined);
      if (!c) break;
      answered++;
      const ch = header(c, 'WWW-Authenticate')[1] ?? '';
      attacker.send(
        request(attacker, 'REGISTER', {
          callId: r1.callId,
          auth: answer(ch, { user: 'alice', password: `guess${i}`, method: 'REGISTER', uri: r1.uri, alg: 'SHA-256' }),
        }).text,
      );
      await attacker.next((m) => m.startsWith('SIP/2.0 401'), 500).catch(() => undefined);
    }
    assert.ok(answered >= 4 && answered <= 6, `banned after 5 failures (answered ${answered} rounds)`);
    assert.ok(daemon.status().bans >= 1);
    attacker.send(request(attacker, 'OPTIONS').text);
    await assert.rejects(
      attacker.next(() => true, 400),
      'a banned source gets no answer at all',
    );
  } finally {
    attacker.sock.close();
  }
});

test('a scanner User-Agent gets no answer and its source is banned', async () => {
  const scanner = await peer('127.0.0.17');
  try {
    scanner.send(request(scanner, 'OPTIONS', { ua: 'friendly-scanner' }).text);
    await assert.rejects(scanner.next(() => true, 400));
    // Even a clean request from that source is ignored now.
    scanner.send(request(scanner, 'REGISTER').text);
    await assert.rejects(scanner.next(() => true, 400));
  } finally {
    scanner.sock.close();
  }
});
