import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ChallengeFormatError,
  formatDigestChallenge,
  MAX_AUTH_HEADER_LENGTH,
  MAX_AUTH_PARAMS,
  parseAuthParams,
  parseDigestCredentials,
} from '../../../src/auth/digest-header.ts';

// RFC 7616 §3.9.1 (SHA-256 variant of the Authorization header).
const RFC7616_AUTH =
  'Digest username="Mufasa",\r\n realm="http-auth@example.org",\r\n uri="/dir/index.html",\r\n algorithm=SHA-256,\r\n' +
  ' nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",\r\n nc=00000001,\r\n cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",\r\n' +
  ' qop=auth,\r\n response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",\r\n opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';

const MIN = 'Digest username="u", realm="r", nonce="n", uri="sip:a@b", response="0123456789abcdef0123456789ABCDEF"';

function code(input: unknown): string {
  const r = parseDigestCredentials(input);
  return r.ok ? 'ok' : r.error.code;
}

describe('parseDigestCredentials', () => {
  it('parses the RFC 7616 §3.9.1 header (folded lines, quoted and token values)', () => {
    const r = parseDigestCredentials(RFC7616_AUTH);
    assert.ok(r.ok);
    assert.equal(r.value.username, 'Mufasa');
    assert.equal(r.value.realm, 'http-auth@example.org');
    assert.equal(r.value.uri, '/dir/index.html');
    assert.equal(r.value.algorithm, 'SHA-256');
    assert.equal(r.value.qop, 'auth');
    assert.equal(r.value.nc, '00000001');
    assert.equal(r.value.ncValue, 1);
    assert.equal(r.value.cnonce, 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ');
    assert.equal(r.value.opaque, 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS');
  });

  it('scheme and parameter names are case-insensitive; response is lower-cased', () => {
    const r = parseDigestCredentials('dIgEsT USERNAME="u", Realm="r", NONCE="n", Uri="x", Response="ABCDEF"');
    assert.ok(r.ok);
    assert.equal(r.value.username, 'u');
    assert.equal(r.value.response, 'abcdef');
  });

  it('unescapes quoted-pairs and keeps commas and equals signs inside quotes', () => {
    const r = parseDigestCredentials('Digest username="a\\"b\\\\c,d=e", realm="r", nonce="n", uri="sip:x;a=b,c", response="00"');
    assert.ok(r.ok);
    assert.equal(r.value.username, 'a"b\\c,d=e');
    assert.equal(r.value.uri, 'sip:x;a=b,c');
  });

  it('accepts UTF-8 user names and extra auth-params', () => {
    const r = parseDigestCredentials(`${MIN.replace('"u"', '"jöhn"')}, foo=bar, baz="q"`);
    assert.ok(r.ok);
    assert.equal(r.value.username, 'jöhn');
    assert.equal(r.value.params.get('foo')?.value, 'bar');
    assert.equal(r.value.params.get('baz')?.quoted, true);
  });

  it('refuses every missing required parameter', () => {
    const all: Record<string, string> = { username: '"u"', realm: '"r"', nonce: '"n"', uri: '"sip:a@b"', response: '"00"' };
    for (const p of Object.keys(all)) {
      const without = `Digest ${Object.entries(all)
        .filter(([k]) => k !== p)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`;
      const r = parseDigestCredentials(without);
      assert.ok(!r.ok, p);
      assert.equal(r.error.code, 'AUTH_MISSING_PARAM', p);
      assert.equal(r.error.param, p);
    }
  });

  it('qop requires cnonce and nc; nc must be 8 hex digits and non-zero', () => {
    assert.equal(code(`${MIN}, qop=auth, nc=00000001`), 'AUTH_MISSING_PARAM');
    assert.equal(code(`${MIN}, qop=auth, cnonce="c"`), 'AUTH_MISSING_PARAM');
    assert.equal(code(`${MIN}, qop=auth, cnonce="c", nc=00000001`), 'ok');
    assert.equal(code(`${MIN}, qop="auth", cnonce="c", nc=0000000a`), 'ok');
    assert.equal(code(`${MIN}, qop=auth, cnonce="c", nc=1`), 'AUTH_BAD_VALUE');
    assert.equal(code(`${MIN}, qop=auth, cnonce="c", nc=0000000g`), 'AUTH_BAD_VALUE');
    assert.equal(code(`${MIN}, qop=auth, cnonce="c", nc=00000000`), 'AUTH_BAD_VALUE');
    assert.equal(code(`${MIN}, qop=auth, cnonce="c", nc=000000001`), 'AUTH_BAD_VALUE');
  });

  it('refuses a non-hex or absurdly long response, an empty username, a bad userhash', () => {
    assert.equal(code(MIN.replace('0123456789abcdef0123456789ABCDEF', 'xyz')), 'AUTH_BAD_VALUE');
    assert.equal(code(MIN.replace('0123456789abcdef0123456789ABCDEF', 'a'.repeat(130))), 'AUTH_BAD_VALUE');
    assert.equal(code(MIN.replace('"u"', '""')), 'AUTH_BAD_VALUE');
    assert.equal(code(`${MIN}, userhash=maybe`), 'AUTH_BAD_VALUE');
    const r = parseDigestCredentials(`${MIN}, userhash=TRUE`);
    assert.ok(r.ok);
    assert.equal(r.value.userhash, true);
  });

  it('refuses duplicate parameters, whatever their case', () => {
    const r = parseDigestCredentials(`${MIN}, Realm="other"`);
    assert.ok(!r.ok);
    assert.equal(r.error.code, 'AUTH_DUPLICATE_PARAM');
    assert.equal(r.error.param, 'realm');
  });

  it('refuses other schemes and empty input', () => {
    assert.equal(code('Basic dXNlcjpwYXNz'), 'AUTH_BAD_SYNTAX');
    assert.equal(code('Basic realm="x"'), 'AUTH_NOT_DIGEST');
    assert.equal(code(''), 'AUTH_EMPTY');
    assert.equal(code('   '), 'AUTH_EMPTY');
    assert.equal(code(undefined), 'AUTH_EMPTY');
    assert.equal(code(42), 'AUTH_EMPTY');
    assert.equal(code('Digest'), 'AUTH_MISSING_PARAM');
  });

  it('refuses syntax errors: unterminated quotes, dangling escapes, missing =, stray commas, controls', () => {
    for (const bad of [
      'Digest username="u',
      'Digest username="u\\',
      'Digest username="a\\\nb", realm="r", nonce="n", uri="x", response="00"',
      'Digest username',
      'Digest username=',
      'Digest username=,realm="r"',
      `${MIN},`,
      `${MIN},,x=y`,
      `, ${MIN}`,
      `${MIN} x=y`,
      'Digest username="a\u0000b", realm="r", nonce="n", uri="x", response="00"',
      'Digest username="a\u007fb", realm="r", nonce="n", uri="x", response="00"',
      'Digest =x',
      'Digest username=a b',
      'Digest username=@bad',
      'Digestusername="u"',
      '"Digest" username="u"',
    ]) {
      assert.equal(code(bad), 'AUTH_BAD_SYNTAX', JSON.stringify(bad));
    }
  });

  it('bounds the length and the number of parameters', () => {
    const long = `${MIN}, x="${'a'.repeat(MAX_AUTH_HEADER_LENGTH)}"`;
    assert.equal(code(long), 'AUTH_TOO_LONG');
    const many = `${MIN}${Array.from({ length: MAX_AUTH_PARAMS }, (_, i) => `, p${i}=v`).join('')}`;
    assert.equal(code(many), 'AUTH_TOO_MANY_PARAMS');
  });

  it('never throws on arbitrary strings (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 600, unit: 'binary' }), (s) => {
        const r = parseDigestCredentials(s);
        assert.equal(typeof r.ok, 'boolean');
        const p = parseAuthParams(s);
        assert.equal(typeof p.ok, 'boolean');
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on mutations of a valid header (property)', () => {
    const alphabet = ['"', '\\', ',', '=', ' ', '\r', '\n', 'a', '0', '\u0000', 'é'];
    fc.assert(
      fc.property(fc.nat({ max: RFC7616_AUTH.length }), fc.constantFrom(...alphabet), fc.nat({ max: 3 }), (pos, ch, del) => {
        const s = RFC7616_AUTH.slice(0, pos) + ch + RFC7616_AUTH.slice(pos + del);
        const r = parseDigestCredentials(s);
        assert.equal(typeof r.ok, 'boolean');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('formatDigestChallenge', () => {
  it('formats quoted and token parameters in the documented order', () => {
    assert.equal(
      formatDigestChallenge({ realm: 'palisade', nonce: 'abc', algorithm: 'SHA-256', qop: ['auth'], opaque: 'op', stale: true }),
      'Digest realm="palisade", nonce="abc", algorithm=SHA-256, qop="auth", opaque="op", stale=true',
    );
    assert.equal(
      formatDigestChallenge({ realm: 'r', nonce: 'n', algorithm: 'MD5', stale: false }),
      'Digest realm="r", nonce="n", algorithm=MD5',
    );
  });

  it('escapes quotes and backslashes so the parser reads back the same value', () => {
    const realm = 'we "quote" \\ things';
    const v = formatDigestChallenge({ realm, nonce: 'n', algorithm: 'SHA-512-256', qop: ['auth', 'auth-int'], domain: ['sip:a', 'sip:b'] });
    const p = parseAuthParams(v);
    assert.ok(p.ok);
    assert.equal(p.value.params.get('realm')?.value, realm);
    assert.equal(p.value.params.get('qop')?.value, 'auth,auth-int');
    assert.equal(p.value.params.get('domain')?.value, 'sip:a sip:b');
  });

  it('refuses values that cannot be represented (controls, non-token algorithm)', () => {
    assert.throws(() => formatDigestChallenge({ realm: 'a\r\nInjected: x', nonce: 'n', algorithm: 'MD5' }), ChallengeFormatError);
    assert.throws(() => formatDigestChallenge({ realm: 'r', nonce: 'n', algorithm: 'SHA 256' }), ChallengeFormatError);
  });
});
