import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createSrtpContext,
  formatCryptoAttribute,
  generateKeyMaterial,
  MAX_CRYPTO_ATTRIBUTE_LENGTH,
  parseCryptoAttribute,
  type SdesErrorCode,
  SRTP_PROFILE_NAMES,
  srtpProfileInfo,
} from '../../../../src/media/srtp/index.ts';
import { makeRtp } from './helpers.ts';

// RFC 4568 §4 example key ("WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz" = 30 bytes).
const KEY80 = 'WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz';

test('parses the RFC 4568 §4 style attribute with lifetime', () => {
  const r = parseCryptoAttribute(`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80}|2^20`);
  assert.ok(r.ok);
  assert.equal(r.value.tag, 1);
  assert.equal(r.value.profile, 'AES_CM_128_HMAC_SHA1_80');
  assert.equal(r.value.masterKey.length, 16);
  assert.equal(r.value.masterSalt.length, 14);
  assert.deepEqual(Buffer.concat([r.value.masterKey, r.value.masterSalt]), Buffer.from(KEY80, 'base64'));
  assert.equal(r.value.lifetime, 2 ** 20);
  assert.equal(r.value.windowSizeHint, null);
});

test('accepts the a=crypto: prefix, decimal lifetime, WSH, KDR=0 and FEC_ORDER=FEC_SRTP', () => {
  const r = parseCryptoAttribute(`a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:${KEY80}|1048576 WSH=128 KDR=0 FEC_ORDER=FEC_SRTP`);
  assert.ok(r.ok);
  assert.equal(r.value.tag, 7);
  assert.equal(r.value.profile, 'AES_CM_128_HMAC_SHA1_32');
  assert.equal(r.value.lifetime, 1048576);
  assert.equal(r.value.windowSizeHint, 128);
});

test('AEAD_AES_128_GCM takes 28 bytes of key||salt (RFC 7714 §12)', () => {
  const ks = Buffer.alloc(28, 7).toString('base64');
  const r = parseCryptoAttribute(`2 AEAD_AES_128_GCM inline:${ks}`);
  assert.ok(r.ok);
  assert.equal(r.value.masterSalt.length, 12);
  assert.equal(r.value.lifetime, null);
});

test('errors carry stable codes', () => {
  const long = `1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80}${' '.repeat(MAX_CRYPTO_ATTRIBUTE_LENGTH)}`;
  const cases: [string, SdesErrorCode][] = [
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80}|2^31|1:1`, 'SDES_MKI_UNSUPPORTED'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80}|1:4`, 'SDES_MKI_UNSUPPORTED'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80}|2^31|x:1`, 'SDES_SYNTAX'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80}|2^49`, 'SDES_BAD_LIFETIME'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80}|0`, 'SDES_BAD_LIFETIME'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80}|abc`, 'SDES_BAD_LIFETIME'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80}|2^20|1:1|x`, 'SDES_SYNTAX'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80};inline:${KEY80}`, 'SDES_MULTIPLE_KEYS_UNSUPPORTED'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80} UNENCRYPTED_SRTP`, 'SDES_UNSUPPORTED_PARAM'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80} UNAUTHENTICATED_SRTP`, 'SDES_UNSUPPORTED_PARAM'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80} KDR=10`, 'SDES_UNSUPPORTED_PARAM'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80} WSH=10`, 'SDES_SYNTAX'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80.slice(0, 36)}`, 'SDES_BAD_KEY'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80}AAAA`, 'SDES_BAD_KEY'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80.slice(0, 39)}!`, 'SDES_BAD_KEY'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:`, 'SDES_BAD_KEY'],
    [`1 AEAD_AES_128_GCM inline:${KEY80}`, 'SDES_BAD_KEY'],
    [`1 F8_128_HMAC_SHA1_80 inline:${KEY80}`, 'SDES_UNKNOWN_SUITE'],
    [`1 AES_256_CM_HMAC_SHA1_80 inline:${KEY80}`, 'SDES_UNKNOWN_SUITE'],
    [`x AES_CM_128_HMAC_SHA1_80 inline:${KEY80}`, 'SDES_BAD_TAG'],
    [`1234567890 AES_CM_128_HMAC_SHA1_80 inline:${KEY80}`, 'SDES_BAD_TAG'],
    [`1 AES_CM_128_HMAC_SHA1_80 uri:${KEY80}`, 'SDES_SYNTAX'],
    ['1 AES_CM_128_HMAC_SHA1_80', 'SDES_SYNTAX'],
    ['', 'SDES_SYNTAX'],
    [long, 'SDES_TOO_LONG'],
  ];
  for (const [input, code] of cases) {
    const r = parseCryptoAttribute(input);
    assert.equal(r.ok, false, input.slice(0, 80));
    if (!r.ok) assert.equal(r.error.code, code, input.slice(0, 80));
  }
});

test('the MKI is parsed and named in the error', () => {
  const r = parseCryptoAttribute(`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80}|2^31|1:1`);
  assert.equal(r.ok, false);
  if (!r.ok) assert.deepEqual(r.error, { code: 'SDES_MKI_UNSUPPORTED', detail: 'MKI 1:1' });
});

test('never throws on arbitrary input', () => {
  const alphabet = 'aA0 |:;^=+/\t_-inline:AES_CM_128_HMAC_SHA1_80\u0000\u00ff';
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let i = 0; i < 3000; i++) {
    let s = rnd(2) === 0 ? `1 AES_CM_128_HMAC_SHA1_80 inline:${KEY80}` : '';
    const n = rnd(60);
    for (let k = 0; k < n; k++) {
      const at = rnd(s.length + 1);
      s = s.slice(0, at) + alphabet[rnd(alphabet.length)] + s.slice(at);
    }
    const r = parseCryptoAttribute(s);
    assert.equal(typeof r.ok, 'boolean');
  }
  assert.equal(parseCryptoAttribute(42 as unknown as string).ok, false);
});

test('format → parse round trip, and the keys work in a context', () => {
  for (const profile of SRTP_PROFILE_NAMES) {
    const km = generateKeyMaterial(profile);
    const info = srtpProfileInfo(profile);
    assert.equal(km.masterKey.length, info.keyLength);
    assert.equal(km.masterSalt.length, info.saltLength);
    const line = formatCryptoAttribute(3, profile, km.masterKey, km.masterSalt);
    assert.match(line, new RegExp(`^3 ${profile} inline:[A-Za-z0-9+/=]{40}$`));
    const r = parseCryptoAttribute(line);
    assert.ok(r.ok);
    assert.deepEqual(r.value.masterKey, km.masterKey);
    assert.deepEqual(r.value.masterSalt, km.masterSalt);
    const tx = createSrtpContext({ profile, ...km });
    const rx = createSrtpContext({ profile, masterKey: r.value.masterKey, masterSalt: r.value.masterSalt });
    const out = Buffer.alloc(300);
    const n = tx.protect(makeRtp(1), out);
    assert.equal(rx.unprotect(out.subarray(0, n), out), 172);
  }
  assert.notDeepEqual(generateKeyMaterial('AEAD_AES_128_GCM').masterKey, generateKeyMaterial('AEAD_AES_128_GCM').masterKey);
  assert.throws(() => formatCryptoAttribute(1, 'AEAD_AES_128_GCM', Buffer.alloc(16), Buffer.alloc(14)), RangeError);
  assert.throws(() => formatCryptoAttribute(-1, 'AES_CM_128_HMAC_SHA1_80', Buffer.alloc(16), Buffer.alloc(14)), RangeError);
});
