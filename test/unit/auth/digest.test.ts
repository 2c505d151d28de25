import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  buildChallenges,
  computeAllHa1,
  computeHa1,
  computeResponse,
  DIGEST_ALGORITHMS,
  hashOf,
  hexDigest,
  parseAlgorithm,
} from '../../../src/auth/digest.ts';
import { parseAuthParams } from '../../../src/auth/digest-header.ts';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

// RFC 7616 §3.9.1.
const RFC7616 = {
  realm: 'http-auth@example.org',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  uri: '/dir/index.html',
  method: 'GET',
  nc: '00000001',
  qop: 'auth' as const,
};

describe('digest computations', () => {
  it('RFC 7616 §3.9.1: MD5 response for Mufasa / "Circle of Life"', () => {
    const ha1 = computeHa1('md5', 'Mufasa', RFC7616.realm, 'Circle of Life');
    assert.equal(computeResponse({ ...RFC7616, algorithm: 'MD5', ha1 }), '8ca523f5e9506fed4657c9700eebdbec');
  });

  it('RFC 7616 §3.9.1: SHA-256 response for Mufasa / "Circle of Life"', () => {
    const ha1 = computeHa1('sha256', 'Mufasa', RFC7616.realm, 'Circle of Life');
    assert.equal(
      computeResponse({ ...RFC7616, algorithm: 'SHA-256', ha1 }),
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    );
  });

  it('RFC 2617 §3.5: MD5 qop=auth response', () => {
    const ha1 = computeHa1('md5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life');
    const r = computeResponse({
      algorithm: 'MD5',
      ha1,
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      method: 'GET',
      uri: '/dir/index.html',
      qop: 'auth',
      nc: '00000001',
      cnonce: '0a4f113b',
    });
    assert.equal(r, '6629fae49393a05397450978507c4ef1');
  });

  it('RFC 2069 §2.4: legacy response without qop', () => {
    const ha1 = computeHa1('md5', 'Mufasa', 'testrealm@host.com', 'CircleOfLife');
    const r = computeResponse({
      algorithm: 'MD5',
      ha1,
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      method: 'GET',
      uri: '/dir/index.html',
    });
    assert.equal(r, '1949323746fe6a43ef61f9606e7febea');
  });

  it('SHA-512-256 is FIPS 180-4 SHA-512/256, not truncated SHA-512', () => {
    assert.equal(hexDigest('sha512_256', 'abc'), '53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23');
    const truncated = createHash('sha512').update('abc').digest('hex').slice(0, 64);
    assert.notEqual(hexDigest('sha512_256', 'abc'), truncated);
    assert.equal(computeHa1('sha512_256', 'u', 'r', 'p').length, 64);
  });

  it('-sess re-keys HA1 with nonce and cnonce (RFC 7616 §3.4.2)', () => {
    const ha1 = computeHa1('md5', 'u', 'r', 'p');
    const sessHa1 = md5(`${ha1}:n:c`);
    const ha2 = md5('REGISTER:sip:r');
    const expected = md5(`${sessHa1}:n:00000002:c:auth:${ha2}`);
    const got = computeResponse({
      algorithm: 'MD5-sess',
      ha1,
      nonce: 'n',
      cnonce: 'c',
      nc: '00000002',
      qop: 'auth',
      method: 'REGISTER',
      uri: 'sip:r',
    });
    assert.equal(got, expected);
    assert.notEqual(
      got,
      computeResponse({ algorithm: 'MD5', ha1, nonce: 'n', cnonce: 'c', nc: '00000002', qop: 'auth', method: 'REGISTER', uri: 'sip:r' }),
    );
  });

  it('auth-int puts H(body) into HA2 (RFC 7616 §3.4.3)', () => {
    const ha1 = computeHa1('md5', 'u', 'r', 'p');
    const body = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n';
    const ha2 = md5(`INVITE:sip:bob@r:${md5(body)}`);
    const expected = md5(`${ha1}:n:00000001:c:auth-int:${ha2}`);
    const base = {
      algorithm: 'MD5' as const,
      ha1,
      nonce: 'n',
      cnonce: 'c',
      nc: '00000001',
      qop: 'auth-int' as const,
      method: 'INVITE',
      uri: 'sip:bob@r',
    };
    assert.equal(computeResponse({ ...base, body }), expected);
    assert.equal(computeResponse({ ...base, body: Buffer.from(body) }), expected);
    assert.notEqual(computeResponse({ ...base, body: `${body} ` }), expected);
    // No body: H of the empty string.
    assert.equal(computeResponse(base), md5(`${ha1}:n:00000001:c:auth-int:${md5(`INVITE:sip:bob@r:${md5('')}`)}`));
  });

  it('computeAllHa1 gives one HA1 per hash, hashed as UTF-8', () => {
    const all = computeAllHa1('jöhn', 'r', 'pässword');
    assert.equal(all.md5, createHash('md5').update(Buffer.from('jöhn:r:pässword', 'utf8')).digest('hex'));
    assert.equal(all.sha256.length, 64);
    assert.equal(all.sha512_256.length, 64);
    assert.notEqual(all.sha256, all.sha512_256);
  });

  it('parses algorithm tokens case-insensitively; absent means MD5; unknown is undefined', () => {
    assert.equal(parseAlgorithm(undefined), 'MD5');
    assert.equal(parseAlgorithm('sha-256'), 'SHA-256');
    assert.equal(parseAlgorithm('SHA-512-256-SESS'), 'SHA-512-256-sess');
    assert.equal(parseAlgorithm('SHA-1'), undefined);
    assert.equal(parseAlgorithm(''), undefined);
    for (const a of DIGEST_ALGORITHMS) assert.equal(parseAlgorithm(a), a);
    assert.equal(hashOf('SHA-512-256-sess'), 'sha512_256');
  });
});

describe('buildChallenges', () => {
  const algs = (values: string[]) =>
    values.map((v) => {
      const p = parseAuthParams(v);
      assert.ok(p.ok);
      return p.value.params.get('algorithm')?.value;
    });

  it('offers SHA-512-256 then SHA-256, and no MD5 by default', () => {
    const c = buildChallenges({ realm: 'palisade', nonce: 'n1', opaque: 'o' });
    assert.deepEqual(algs(c), ['SHA-512-256', 'SHA-256']);
    assert.equal(c[0], 'Digest realm="palisade", nonce="n1", algorithm=SHA-512-256, qop="auth", opaque="o"');
  });

  it('adds MD5 last only when allowed', () => {
    assert.deepEqual(algs(buildChallenges({ realm: 'r', nonce: 'n', allowMd5: true })), ['SHA-512-256', 'SHA-256', 'MD5']);
    assert.deepEqual(algs(buildChallenges({ realm: 'r', nonce: 'n', allowMd5: true, algorithms: ['MD5', 'SHA-256'] })), ['SHA-256', 'MD5']);
    assert.deepEqual(algs(buildChallenges({ realm: 'r', nonce: 'n', allowMd5: false, algorithms: ['MD5', 'MD5-sess'] })), []);
  });

  it('carries stale=true and the qop list in every challenge', () => {
    const c = buildChallenges({ realm: 'r', nonce: 'n', stale: true, qop: ['auth', 'auth-int'] });
    assert.equal(c.length, 2);
    for (const v of c) {
      assert.match(v, /, stale=true$/);
      assert.match(v, /qop="auth,auth-int"/);
    }
  });
});
