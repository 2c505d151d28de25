/**
 * Digest authentication at the border, with real peers (auth.mode 'palisade', the default):
 * SIPp registers and calls with MD5 for a user allowed MD5; our own phone (harness/digest-client.ts, hashes from
 * node:crypto) registers and calls with SHA-256 and SHA-512-256; challenges are ordered strongest first and MD5 is
 * offered only where allowed; unknown user / wrong password answers are indistinguishable; a replayed
 * Authorization is refused with a fresh challenge; five failures ban the source.
 * Users are written with the real CLI (`palisade user add … --password-stdin`). Each failure-path test uses its
 * own loopback source (127.0.0.1x) so offences never add up across tests.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startPalisade } from './harness/daemon.ts';
import {
  addUser,
  buildAuthorization,
  headerValues,
  openSipClient,
  parseChallenges,
  type SipClient,
  type SipResponse,
  startMd5OnlyShim,
} from './harness/digest-client.ts';
import { listBans, waitForBan } from './harness/flood.ts';
import { runSipp, type SippResult, startSippUas } from './harness/sipp.ts';
import { readySippRig, type SippRig, stopSippRig } from './helpers/sipp-rig.ts';

const PUBLIC = '127.0.0.1';
const INSIDE = '127.0.0.2';
const PBX = '127.0.0.3';
const T = { timeout: 60_000 };
const PASSWORDS = { alice: 'correct horse 7', bob: 'legacy-phone-9' } as const;

function explain(r: SippResult): string {
  return `outcome=${r.outcome} ok=${r.successful} failed=${r.failed}\n${r.stderr.slice(-1500)}\n${r.stdout.slice(-800)}`;
}

const LEGACY = '127.0.0.19';

function policy(pbxPort: number) {
  return {
    listeners: [{ id: 'udp', transport: 'udp', address: PUBLIC, port: 0 }],
    pbx: {
      listen: { transport: 'udp', address: INSIDE, port: 0 },
      targets: [{ name: 'pbx1', host: PBX, port: pbxPort, transport: 'udp' }],
      probe: { intervalMs: 1000, timeoutMs: 800, failuresToDown: 2 },
    },
    media: { publicAddress: PUBLIC, plainAllowedFrom: ['127.0.0.0/8'] },
    // A legacy phone range: MD5 leads its challenges, so SIPp (which reads only the first one) works unaided.
    auth: { mode: 'palisade', realm: 'palisade', md5FirstFor: [`${LEGACY}/32`] },
    logging: { level: 'warn' },
  };
}

type Rig = SippRig;

/** PBX (SIPp UAS running `scenario`), users alice (SHA only) and bob (MD5 allowed, unless `withMd5User` is false), then the daemon. */
async function startRig(scenario: string, withMd5User = true): Promise<Rig> {
  const work = await mkdtemp(join(tmpdir(), 'palisade-auth-'));
  const uas = await startSippUas({ scenario, transport: 'u1', localIp: PBX, workDir: work });
  const dir = join(work, 'daemon');
  await mkdir(join(dir, 'data'), { recursive: true, mode: 0o700 });
  const users = join(dir, 'data', 'users.yaml');
  await addUser(users, 'alice', PASSWORDS.alice);
  if (withMd5User) await addUser(users, 'bob', PASSWORDS.bob, { allowMd5: true });
  const d = await startPalisade({ policy: policy(uas.port), dir });
  return readySippRig(work, uas, d);
}

const stopRig = stopSippRig;

/** REGISTER → 401, then credentials computed with MD5 against the challenge's nonce, whatever was offered. */
async function registerWithMd5(c: SipClient, user: string, password: string): Promise<SipResponse> {
  const first = c.buildRequest('REGISTER', { extra: ['Expires: 300'] });
  const ch = await c.send(first);
  assert.equal(ch.status, 401);
  const auth = buildAuthorization({
    alg: 'MD5',
    user,
    password,
    realm: 'palisade',
    nonce: parseChallenges(ch)[0]?.params.nonce ?? '',
    method: 'REGISTER',
    uri: first.uri,
    nc: 1,
    cnonce: 'abcdef01',
  });
  return c.send(
    c.buildRequest('REGISTER', {
      callId: first.callId,
      fromTag: first.fromTag,
      cseq: 2,
      extra: ['Expires: 300', `Authorization: ${auth}`],
    }),
  );
}

function algorithms(r: SipResponse): string[] {
  return parseChallenges(r).map((c) => c.algorithm);
}

/** What an attacker can compare between two answers: status, reason, header names, challenge shape. */
function shape(r: SipResponse): unknown {
  return {
    status: r.status,
    reason: r.reason,
    headers: r.headers.map(([n]) => n.toLowerCase()).sort(),
    challenges: parseChallenges(r).map((c) => ({
      kind: c.kind,
      algorithm: c.algorithm,
      params: Object.keys(c.params).sort(),
      realm: c.params.realm,
      stale: c.params.stale,
    })),
  };
}

describe('digest authentication: REGISTER (401)', () => {
  let rig: Rig | undefined;
  const clients: SipClient[] = [];
  const phone = async (user: string, password: string, localIp = PUBLIC): Promise<SipClient> => {
    assert.ok(rig);
    const c = await openSipClient({ localIp, remoteHost: PUBLIC, remotePort: rig.port, user, password });
    clients.push(c);
    return c;
  };
  before(async () => {
    rig = await startRig('uas-register.xml');
  });
  after(async () => {
    for (const c of clients) await c.close();
    await stopRig(rig);
  });

  test('challenges come strongest first; a SHA-only user registers with SHA-256 and SHA-512-256', T, async () => {
    const alice = await phone('alice', PASSWORDS.alice);
    for (const algorithm of ['SHA-256', 'SHA-512-256'] as const) {
      const ex = await alice.register({ algorithm });
      assert.equal(ex.challenge.status, 401);
      // MD5 is in the (user-independent) challenge because one account (bob) may use it: offering it per user
      // would tell an attacker which accounts exist.
      assert.deepEqual(algorithms(ex.challenge), ['SHA-512-256', 'SHA-256', 'MD5']);
      assert.equal(headerValues(ex.challenge, 'proxy-authenticate').length, 0, 'REGISTER is challenged with WWW-Authenticate');
      assert.equal(ex.final.status, 200, `${algorithm}: ${ex.final.raw}`);
    }
  });

  test('a user allowed MD5 is offered SHA-512-256, SHA-256, MD5 in that order and registers with MD5', T, async () => {
    const bob = await phone('bob', PASSWORDS.bob);
    const ex = await bob.register({ algorithm: 'MD5' });
    assert.deepEqual(algorithms(ex.challenge), ['SHA-512-256', 'SHA-256', 'MD5']);
    assert.equal(ex.final.status, 200, ex.final.raw);
  });

  test('MD5 credentials from a user not allowed MD5 are refused', T, async () => {
    // bob's challenge offers MD5; alice's credentials computed with MD5 against that nonce must still fail.
    const alice = await phone('alice', PASSWORDS.alice, '127.0.0.11');
    const probe = await alice.register({ algorithm: 'SHA-256' });
    assert.equal(probe.final.status, 200);
    const r = await registerWithMd5(alice, 'alice', PASSWORDS.alice);
    assert.equal(r.status, 401, r.raw);
    assert.ok(parseChallenges(r).length >= 2, 'a fresh challenge');
  });

  test('unknown user and wrong password get the very same answer (a fresh challenge)', T, async () => {
    const ghost = await phone('nobody', 'whatever', '127.0.0.12');
    const wrong = await phone('alice', 'not-the-password', '127.0.0.13');
    const a = await ghost.register({ algorithm: 'SHA-256' });
    const b = await wrong.register({ algorithm: 'SHA-256' });
    assert.equal(a.final.status, 401, a.final.raw);
    assert.deepEqual(shape(a.final), shape(b.final));
    assert.deepEqual(shape(a.challenge), shape(b.challenge));
    const n1 = parseChallenges(a.final)[0]?.params.nonce;
    assert.ok(n1 !== undefined && n1 !== parseChallenges(a.challenge)[0]?.params.nonce, 'a fresh nonce');
  });

  test('a replayed Authorization (same nonce and nc) is refused with a fresh challenge', T, async () => {
    const alice = await phone('alice', PASSWORDS.alice, '127.0.0.14');
    const ex = await alice.register({ algorithm: 'SHA-512-256' });
    assert.equal(ex.final.status, 200, ex.final.raw);
    const again = await alice.replay(ex.authenticated);
    assert.equal(again.status, 401, again.raw);
    const fresh = parseChallenges(again);
    assert.ok(fresh.length >= 2, 'challenges offered again');
    const usedNonce = parseChallenges(ex.challenge)[0]?.params.nonce;
    assert.ok(
      fresh.every((c) => c.params.nonce !== usedNonce),
      'the replayed nonce is not offered again',
    );
  });

  test('five wrong passwords ban the source: the sixth attempt gets no answer', T, async () => {
    assert.ok(rig);
    const src = '127.0.0.15';
    const guesser = await phone('alice', 'guess', src);
    for (let i = 0; i < 4; i++) {
      const ex = await guesser.register({ algorithm: 'SHA-256', password: `guess-${i}` });
      assert.equal(ex.final.status, 401, `attempt ${i + 1}`);
    }
    // The fifth failure tips the ban: its answer is the same fresh challenge, or nothing at all (nothing is sent
    // to a source once it is banned). Either way no 200.
    const fifth = await guesser.register({ algorithm: 'SHA-256', password: 'guess-4', timeoutMs: 1500 }).then(
      (ex) => ex.final.status,
      () => 'no answer',
    );
    assert.ok(fifth === 401 || fifth === 'no answer', `fifth attempt: ${String(fifth)}`);
    const ban = await waitForBan(rig.d, src, 2000);
    assert.ok(ban, `ban for ${src}: ${JSON.stringify(await listBans(rig.d))}`);
    await assert.rejects(guesser.register({ algorithm: 'SHA-256', timeoutMs: 1500 }), /no final response/);
    // The right password does not help a banned source either.
    const same = await phone('alice', PASSWORDS.alice, src);
    await assert.rejects(same.register({ algorithm: 'SHA-256', timeoutMs: 1500 }), /no final response/);
    // Other sources are untouched.
    const ok = await phone('alice', PASSWORDS.alice, '127.0.0.16');
    assert.equal((await ok.register({ algorithm: 'SHA-256' })).final.status, 200);
  });

  test('SIPp registers with MD5 (the 401 stripped to its MD5 challenge: SIPp reads only the first one)', T, async () => {
    assert.ok(rig);
    const shim = await startMd5OnlyShim({ host: PUBLIC, port: rig.port });
    try {
      const r = await runSipp({
        scenario: 'uac-register-auth.xml',
        transport: 'u1',
        localIp: PUBLIC,
        remote: shim.address,
        service: 'bob',
        maxCalls: 3,
        rate: 10,
        extraArgs: ['-au', 'bob', '-ap', PASSWORDS.bob],
        wallTimeoutMs: 20_000,
        workDir: rig.work,
      });
      assert.equal(r.successful, 3, explain(r));
      assert.equal(r.failed, 0, explain(r));
      assert.ok(shim.removed() >= 6, `SHA challenges were offered first (removed ${shim.removed()})`);
    } finally {
      await shim.close();
    }
  });
});

describe('digest authentication: SIPp from a legacy range (auth.md5FirstFor), no shim', () => {
  let rig: Rig | undefined;
  before(async () => {
    rig = await startRig('uas-call.xml');
  });
  after(async () => {
    await stopRig(rig);
  });

  test('SIPp places 5 calls with MD5 straight through Palisade: MD5 is its first challenge', T, async () => {
    assert.ok(rig);
    const r = await runSipp({
      scenario: 'uac-call-auth.xml',
      transport: 'u1',
      localIp: LEGACY,
      remote: `${PUBLIC}:${rig.port}`,
      service: '100',
      maxCalls: 5,
      rate: 5,
      keys: { user: 'bob' },
      extraArgs: ['-au', 'bob', '-ap', PASSWORDS.bob, '-auth_uri', `100@${PUBLIC}:${rig.port}`],
      wallTimeoutMs: 25_000,
      workDir: rig.work,
    });
    assert.equal(r.successful, 5, explain(r));
    assert.equal(r.failed, 0, explain(r));
  });
});

describe('digest authentication: INVITE (407)', () => {
  let rig: Rig | undefined;
  const clients: SipClient[] = [];
  before(async () => {
    rig = await startRig('uas-call.xml');
  });
  after(async () => {
    for (const c of clients) await c.close();
    await stopRig(rig);
  });

  for (const algorithm of ['SHA-256', 'SHA-512-256'] as const) {
    test(`our phone calls with ${algorithm}: 407 → authenticated INVITE → 200 → BYE 200`, T, async () => {
      assert.ok(rig);
      const alice = await openSipClient({ remoteHost: PUBLIC, remotePort: rig.port, user: 'alice', password: PASSWORDS.alice });
      clients.push(alice);
      const call = await alice.call({ to: '100', algorithm, holdMs: 200 });
      assert.equal(call.challenge.status, 407);
      assert.equal(headerValues(call.challenge, 'www-authenticate').length, 0, 'INVITE is challenged with Proxy-Authenticate');
      assert.deepEqual(algorithms(call.challenge), ['SHA-512-256', 'SHA-256', 'MD5']);
      assert.equal(call.headerName, 'Proxy-Authorization');
      assert.equal(call.final.status, 200, call.final.raw);
      assert.equal(call.bye?.status, 200);
    });
  }

  test('SIPp places 5 calls with MD5 for a user allowed MD5', T, async () => {
    assert.ok(rig);
    const shim = await startMd5OnlyShim({ host: PUBLIC, port: rig.port });
    try {
      const r = await runSipp({
        scenario: 'uac-call-auth.xml',
        transport: 'u1',
        localIp: PUBLIC,
        remote: shim.address,
        service: '100',
        maxCalls: 5,
        rate: 5,
        keys: { user: 'bob' },
        // SIPp's digest-uri defaults to remote_ip:remote_port; RFC 3261 §22.4 wants the Request-URI (else 400).
        extraArgs: ['-au', 'bob', '-ap', PASSWORDS.bob, '-auth_uri', `100@${shim.address}`],
        wallTimeoutMs: 25_000,
        workDir: rig.work,
      });
      assert.equal(r.successful, 5, explain(r));
      assert.equal(r.failed, 0, explain(r));
      assert.ok(shim.removed() >= 10, `SHA challenges were offered first (removed ${shim.removed()})`);
    } finally {
      await shim.close();
    }
  });
});

describe('digest authentication: no account may use MD5', () => {
  let rig: Rig | undefined;
  let alice: SipClient | undefined;
  before(async () => {
    rig = await startRig('uas-register.xml', false);
  });
  after(async () => {
    await alice?.close();
    await stopRig(rig);
  });

  test('MD5 is never offered, and MD5 credentials are refused', T, async () => {
    assert.ok(rig);
    alice = await openSipClient({ remoteHost: PUBLIC, remotePort: rig.port, user: 'alice', password: PASSWORDS.alice });
    const ex = await alice.register({ algorithm: 'SHA-512-256' });
    assert.deepEqual(algorithms(ex.challenge), ['SHA-512-256', 'SHA-256']);
    assert.equal(ex.final.status, 200, ex.final.raw);
    await assert.rejects(alice.register({ algorithm: 'MD5' }), /no MD5 challenge/);
    const forged = await registerWithMd5(alice, 'alice', PASSWORDS.alice);
    assert.equal(forged.status, 401, forged.raw);
  });
});
