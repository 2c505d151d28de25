import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Credential, StaticCredentialSource } from '../../../src/auth/credentials.ts';
import { computeAllHa1, computeResponse, type DigestAlgorithm, type DigestQop, hashOf, hexDigest } from '../../../src/auth/digest.ts';
import { createNonce, DEFAULT_NONCE_TTL_MS, NonceCountTracker } from '../../../src/auth/nonce.ts';
import { authenticate, replyFor, selectCredentials, type VerifyInput, verifyAuthorization } from '../../../src/auth/verify.ts';
import { ManualClock } from '../../../src/core/clock.ts';

const REALM = 'palisade';
const SRC = '127.0.0.1';
const secret = Buffer.alloc(32, 1);
const PASSWORD = 'correct horse';

function cred(user: string, extra: Partial<Credential> = {}): Credential {
  return {
    user,
    realm: REALM,
    ha1: computeAllHa1(user, REALM, PASSWORD),
    groups: [],
    aliases: [],
    disabled: false,
    allowMd5: false,
    ...extra,
  };
}

interface ClientOpts {
  user?: string;
  password?: string;
  nonce: string;
  algorithm?: DigestAlgorithm | undefined;
  qop?: DigestQop | undefined;
  nc?: number;
  cnonce?: string;
  method?: string;
  uri?: string;
  body?: string;
  realm?: string;
  opaque?: string;
  extra?: string;
}

/** What a UAC sends (RFC 7616 §3.4). */
function authorization(o: ClientOpts): string {
  const user = o.user ?? 'alice';
  const realm = o.realm ?? REALM;
  const algorithm: DigestAlgorithm = o.algorithm ?? 'SHA-256';
  const qop = 'qop' in o ? o.qop : 'auth';
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = o.cnonce ?? 'cn0nce';
  const uri = o.uri ?? 'sip:palisade.example';
  const ha1 = hexDigest(hashOf(algorithm), `${user}:${realm}:${o.password ?? PASSWORD}`);
  const response = computeResponse({
    algorithm,
    ha1,
    nonce: o.nonce,
    method: o.method ?? 'REGISTER',
    uri,
    ...(qop !== undefined ? { qop, nc, cnonce } : {}),
    ...(o.body !== undefined ? { body: o.body } : {}),
  });
  const parts = [`username="${user}"`, `realm="${realm}"`, `nonce="${o.nonce}"`, `uri="${uri}"`, `response="${response}"`];
  if (o.algorithm !== undefined) parts.push(`algorithm=${algorithm}`);
  else parts.push('algorithm=SHA-256');
  if (qop !== undefined) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce="${cnonce}"`);
  if (o.opaque !== undefined) parts.push(`opaque="${o.opaque}"`);
  if (o.extra !== undefined) parts.push(o.extra);
  return `Digest ${parts.join(', ')}`;
}

function setup() {
  const clock = new ManualClock();
  const nonceCounts = new NonceCountTracker(1000);
  const nonce = createNonce({ secret, realm: REALM, source: SRC, nowMs: clock.wallNow() });
  const base = (header: string | undefined, credential: Credential | undefined, extra: Partial<VerifyInput> = {}): VerifyInput => ({
    method: 'REGISTER',
    requestUri: 'sip:palisade.example',
    header,
    credential,
    realm: REALM,
    now: clock.wallNow(),
    source: SRC,
    allowMd5: false,
    secrets: [secret],
    nonceCounts,
    ...extra,
  });
  return { clock, nonceCounts, nonce, base };
}

describe('verifyAuthorization', () => {
  it('no header → challenge, not stale', () => {
    const { base } = setup();
    assert.deepEqual(verifyAuthorization(base(undefined, cred('alice'))), { kind: 'challenge', stale: false });
  });

  for (const algorithm of ['SHA-256', 'SHA-512-256', 'SHA-256-sess', 'SHA-512-256-sess'] as const) {
    it(`accepts a correct ${algorithm} response`, () => {
      const { base, nonce } = setup();
      const v = verifyAuthorization(base(authorization({ nonce, algorithm }), cred('alice')));
      assert.equal(v.kind, 'ok');
      assert.ok(v.kind === 'ok');
      assert.equal(v.user, 'alice');
      assert.equal(v.algorithm, algorithm);
    });
  }

  it('MD5 is refused unless allowed', () => {
    const { base, nonce } = setup();
    const h = authorization({ nonce, algorithm: 'MD5' });
    assert.deepEqual(verifyAuthorization(base(h, cred('alice'))), { kind: 'fail', reason: 'algorithm_not_allowed', user: 'alice' });
    assert.equal(verifyAuthorization(base(h, cred('alice'), { allowMd5: true })).kind, 'ok');
    // An absent algorithm means MD5 (RFC 3261 §22.4).
    const noAlg = h.replace(', algorithm=MD5', '');
    assert.deepEqual(verifyAuthorization(base(noAlg, cred('alice'))), { kind: 'fail', reason: 'algorithm_not_allowed', user: 'alice' });
    assert.deepEqual(verifyAuthorization(base(h.replace('algorithm=MD5', 'algorithm=SHA-1'), cred('alice'))), {
      kind: 'fail',
      reason: 'algorithm_not_allowed',
    });
  });

  it('unknown user and wrong password: same verdict kind and the identical reply', () => {
    const { base, nonce } = setup();
    const wrong = verifyAuthorization(base(authorization({ nonce, password: 'guess' }), cred('alice')));
    const unknown = verifyAuthorization(base(authorization({ nonce, user: 'mallory', password: 'guess', nc: 2 }), undefined));
    const disabled = verifyAuthorization(base(authorization({ nonce, nc: 3 }), cred('alice', { disabled: true })));
    assert.deepEqual(wrong, { kind: 'fail', reason: 'bad_password', user: 'alice' });
    assert.deepEqual(unknown, { kind: 'fail', reason: 'unknown_user' });
    assert.deepEqual(disabled, { kind: 'fail', reason: 'disabled', user: 'alice' });
    assert.deepEqual(replyFor(wrong), replyFor(unknown));
    assert.deepEqual(replyFor(disabled), replyFor(unknown));
    assert.deepEqual(replyFor(unknown), { kind: 'challenge', stale: false });
  });

  it('the dummy HA1 of unknown users cannot be guessed (no all-zero or unkeyed HA1 passes)', () => {
    const { base, nonce } = setup();
    for (const ha1 of ['0'.repeat(64), hexDigest('sha256', 'mallory:palisade:')]) {
      const response = computeResponse({
        algorithm: 'SHA-256',
        ha1,
        nonce,
        method: 'REGISTER',
        uri: 'sip:palisade.example',
        qop: 'auth',
        nc: '00000001',
        cnonce: 'c',
      });
      const h = `Digest username="mallory", realm="palisade", nonce="${nonce}", uri="sip:palisade.example", response="${response}", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c"`;
      assert.deepEqual(verifyAuthorization(base(h, undefined)), { kind: 'fail', reason: 'unknown_user' });
    }
  });

  it('a credential for another user than the header names is not used', () => {
    const { base, nonce } = setup();
    const v = verifyAuthorization(base(authorization({ nonce, user: 'bob' }), cred('alice')));
    assert.deepEqual(v, { kind: 'fail', reason: 'unknown_user' });
  });

  it('stale nonce: stale=true only when the digest is right', () => {
    const { base, nonce, clock } = setup();
    clock.advance(DEFAULT_NONCE_TTL_MS + 1);
    assert.deepEqual(verifyAuthorization(base(authorization({ nonce }), cred('alice'))), { kind: 'challenge', stale: true });
    assert.deepEqual(verifyAuthorization(base(authorization({ nonce, password: 'x' }), cred('alice'))), {
      kind: 'fail',
      reason: 'bad_password',
      user: 'alice',
    });
  });

  it('a nonce that is not ours (other secret, other source) → fresh challenge', () => {
    const { base, clock } = setup();
    const forged = createNonce({ secret: Buffer.alloc(32, 2), realm: REALM, source: SRC, nowMs: clock.wallNow() });
    assert.deepEqual(verifyAuthorization(base(authorization({ nonce: forged }), cred('alice'))), { kind: 'challenge', stale: false });
    const elsewhere = createNonce({ secret, realm: REALM, source: '127.0.0.9', nowMs: clock.wallNow() });
    assert.deepEqual(verifyAuthorization(base(authorization({ nonce: elsewhere }), cred('alice'))), { kind: 'challenge', stale: false });
    assert.deepEqual(verifyAuthorization(base(authorization({ nonce: 'abc' }), cred('alice'))), { kind: 'challenge', stale: false });
  });

  it('replayed nc is refused; increasing nc accepted; out-of-order within the window accepted once', () => {
    const { base, nonce } = setup();
    const c = cred('alice');
    const at = (nc: number) => verifyAuthorization(base(authorization({ nonce, nc }), c)).kind;
    assert.equal(at(1), 'ok');
    const replay = verifyAuthorization(base(authorization({ nonce, nc: 1 }), c));
    assert.deepEqual(replay, { kind: 'fail', reason: 'replay', user: 'alice' });
    assert.equal(at(2), 'ok');
    assert.equal(at(5), 'ok');
    assert.equal(at(4), 'ok');
    assert.equal(at(4), 'fail');
    assert.equal(at(3), 'ok');
    assert.equal(at(6), 'ok');
  });

  it('a forged request does not burn the legitimate client’s nc', () => {
    const { base, nonce } = setup();
    const c = cred('alice');
    assert.equal(verifyAuthorization(base(authorization({ nonce, nc: 1, password: 'x' }), c)).kind, 'fail');
    assert.equal(verifyAuthorization(base(authorization({ nonce, nc: 1 }), c)).kind, 'ok');
  });

  it('bad_uri, bad_realm, malformed, opaque, userhash', () => {
    const { base, nonce } = setup();
    const c = cred('alice');
    assert.deepEqual(verifyAuthorization(base(authorization({ nonce, uri: 'sip:other.example' }), c)), { kind: 'fail', reason: 'bad_uri' });
    assert.deepEqual(verifyAuthorization(base(authorization({ nonce, realm: 'elsewhere' }), c)), { kind: 'fail', reason: 'bad_realm' });
    assert.deepEqual(verifyAuthorization(base('Digest username=', c)), { kind: 'fail', reason: 'malformed' });
    assert.deepEqual(verifyAuthorization(base(authorization({ nonce, extra: 'userhash=true' }), c)), { kind: 'fail', reason: 'malformed' });
    const withOpaque = { opaque: 'op4que' };
    assert.equal(verifyAuthorization(base(authorization({ nonce, opaque: 'op4que' }), c, withOpaque)).kind, 'ok');
    assert.deepEqual(verifyAuthorization(base(authorization({ nonce, nc: 2 }), c, withOpaque)), { kind: 'fail', reason: 'malformed' });
    // SHA-256 response of MD5 length.
    const short = authorization({ nonce, nc: 3 }).replace(/response="[0-9a-f]+"/, `response="${'a'.repeat(32)}"`);
    assert.deepEqual(verifyAuthorization(base(short, c)), { kind: 'fail', reason: 'malformed' });
    assert.deepEqual(replyFor({ kind: 'fail', reason: 'malformed' }), { kind: 'reject', status: 400 });
    // A custom URI comparison is honoured.
    const loose = { uriMatches: (a: string, b: string) => a.toLowerCase() === b.toLowerCase() };
    assert.equal(verifyAuthorization(base(authorization({ nonce, nc: 4, uri: 'SIP:PALISADE.EXAMPLE' }), c, loose)).kind, 'ok');
  });

  it('RFC 2069 (no qop) only when the policy allows it', () => {
    const { base, nonce } = setup();
    const h = authorization({ nonce, qop: undefined });
    assert.deepEqual(verifyAuthorization(base(h, cred('alice'))), { kind: 'fail', reason: 'algorithm_not_allowed' });
    assert.equal(verifyAuthorization(base(h, cred('alice'), { allowNoQop: true })).kind, 'ok');
  });

  it('auth-int binds the body', () => {
    const { base, nonce } = setup();
    const body = 'v=0\r\n';
    const h = authorization({ nonce, qop: 'auth-int', body, method: 'INVITE' });
    assert.equal(verifyAuthorization(base(h, cred('alice'), { method: 'INVITE', body })).kind, 'ok');
    const h2 = authorization({ nonce, qop: 'auth-int', body, method: 'INVITE', nc: 2 });
    assert.deepEqual(verifyAuthorization(base(h2, cred('alice'), { method: 'INVITE', body: 'v=1\r\n' })), {
      kind: 'fail',
      reason: 'bad_password',
      user: 'alice',
    });
  });

  it('a user without the requested HA1 fails after the same work', () => {
    const { base, nonce } = setup();
    const c = cred('alice', { ha1: { md5: computeAllHa1('alice', REALM, PASSWORD).md5 } });
    assert.deepEqual(verifyAuthorization(base(authorization({ nonce }), c)), {
      kind: 'fail',
      reason: 'algorithm_not_allowed',
      user: 'alice',
    });
  });
});

describe('nonce-count state and replies', () => {
  it('a nonce forgotten by the bounded tracker comes back as stale=true, never as a reopened replay window', () => {
    const clock = new ManualClock();
    const nonceCounts = new NonceCountTracker(1);
    const c = cred('alice');
    const n1 = createNonce({ secret, realm: REALM, source: SRC, nowMs: clock.wallNow() });
    clock.advance(10);
    const n2 = createNonce({ secret, realm: REALM, source: SRC, nowMs: clock.wallNow() });
    const input = (header: string): VerifyInput => ({
      method: 'REGISTER',
      requestUri: 'sip:palisade.example',
      header,
      credential: c,
      realm: REALM,
      now: clock.wallNow(),
      source: SRC,
      allowMd5: false,
      secrets: [secret],
      nonceCounts,
    });
    assert.equal(verifyAuthorization(input(authorization({ nonce: n1 }))).kind, 'ok');
    assert.equal(verifyAuthorization(input(authorization({ nonce: n2 }))).kind, 'ok');
    assert.equal(nonceCounts.evictions, 1);
    assert.deepEqual(verifyAuthorization(input(authorization({ nonce: n1 }))), { kind: 'challenge', stale: true });
  });

  it('replyFor: one reply for every credential failure, 400 for syntax, accept for ok', () => {
    const same = ['unknown_user', 'bad_password', 'disabled', 'algorithm_not_allowed', 'replay', 'bad_realm'] as const;
    for (const reason of same) assert.deepEqual(replyFor({ kind: 'fail', reason }), { kind: 'challenge', stale: false }, reason);
    assert.deepEqual(replyFor({ kind: 'fail', reason: 'bad_uri' }), { kind: 'reject', status: 400 });
    assert.deepEqual(replyFor({ kind: 'challenge', stale: true }), { kind: 'challenge', stale: true });
    assert.deepEqual(replyFor({ kind: 'ok', user: 'a', credential: cred('a'), algorithm: 'SHA-256' }), { kind: 'accept' });
  });
});

describe('authenticate and selectCredentials', () => {
  it('looks the user up through a CredentialSource', async () => {
    const { base, nonce } = setup();
    const source = new StaticCredentialSource([cred('alice')]);
    const { credential: _c, header: _h, ...rest } = base(undefined, undefined);
    assert.equal((await authenticate(source, { ...rest, header: authorization({ nonce }) })).kind, 'ok');
    assert.deepEqual(await authenticate(source, { ...rest, header: authorization({ nonce, user: 'eve', nc: 2 }) }), {
      kind: 'fail',
      reason: 'unknown_user',
    });
    assert.deepEqual(await authenticate(source, { ...rest, header: undefined }), { kind: 'challenge', stale: false });
    assert.deepEqual(await authenticate(source, { ...rest, header: 'garbage' }), { kind: 'fail', reason: 'malformed' });
  });

  it('picks the credentials of our realm among several', () => {
    const { nonce } = setup();
    const ours = authorization({ nonce });
    const theirs = authorization({ nonce, realm: 'upstream' });
    const s = selectCredentials([theirs, ours], REALM);
    assert.ok(s !== undefined && typeof s !== 'string');
    assert.equal(s.realm, REALM);
    assert.equal(selectCredentials([theirs], REALM), undefined);
    assert.equal(selectCredentials(['bad', theirs], REALM), 'bad');
  });
});

describe('verifyAuthorization never throws', () => {
  it('on any string as Authorization (property)', () => {
    const { base } = setup();
    const known = cred('alice');
    fc.assert(
      fc.property(fc.string({ maxLength: 400, unit: 'binary' }), fc.boolean(), (header, withUser) => {
        const v = verifyAuthorization(base(header, withUser ? known : undefined));
        assert.ok(v.kind === 'fail' || v.kind === 'challenge');
      }),
      { numRuns: 1500 },
    );
  });

  it('on well-formed headers with arbitrary parameter values (property)', () => {
    const { base, nonce } = setup();
    const known = cred('alice');
    const value = fc.string({ maxLength: 40 }).map((x) => `"${x.replace(/[\\"]/g, '')}"`);
    fc.assert(
      fc.property(
        fc.record({
          username: value,
          realm: fc.constantFrom('"palisade"', '"x"'),
          uri: value,
          response: fc.constantFrom(`"${'a'.repeat(64)}"`, '"00"', 'zz'),
          algorithm: fc.constantFrom('SHA-256', 'MD5', 'SHA-512-256-sess', 'foo'),
          qop: fc.constantFrom('auth', 'auth-int', 'x'),
          nc: fc.constantFrom('00000001', 'ffffffff', '1'),
          cnonce: value,
        }),
        fc.boolean(),
        (p, realNonce) => {
          const parts = Object.entries(p).map(([k, v]) => `${k}=${v}`);
          parts.push(`nonce="${realNonce ? nonce : 'bogus'}"`);
          const v = verifyAuthorization(base(`Digest ${parts.join(', ')}`, known, { allowMd5: true }));
          assert.ok(v.kind === 'fail' || v.kind === 'challenge');
        },
      ),
      { numRuns: 1500 },
    );
  });
});
