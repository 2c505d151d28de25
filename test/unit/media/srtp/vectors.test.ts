/**
 * Published test vectors: RFC 3711 Appendix B.2 (AES-CM keystream) and B.3 (key derivation), RFC 7714
 * §16.1.1 (SRTP AEAD_AES_128_GCM), §17.1 and §17.3 (SRTCP, encrypted and tag-only).
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { AesCmKeystream } from '../../../../src/media/srtp/aes-cm.ts';
import { createSrtpContext } from '../../../../src/media/srtp/index.ts';
import { deriveKeys, deriveSessionKey, KDF_LABEL } from '../../../../src/media/srtp/kdf.ts';
import { SrtpError } from '../../../../src/media/srtp/status.ts';
import { GcmTransform } from '../../../../src/media/srtp/transform.ts';
import { flipBits } from './helpers.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('RFC 3711 B.2: AES-CM keystream segments', () => {
  const ks = new AesCmKeystream(hex('2B7E151628AED2A6ABF7158809CF4F3C'), hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD'));
  const zeros = Buffer.alloc(0xff02 * 16);
  // ROC 0, SEQ 0, SSRC 0: the keystream itself.
  ks.xor(zeros, 0, zeros.length, zeros, 0, 0, 0, 0);
  const block = (j: number): string =>
    zeros
      .subarray(j * 16, j * 16 + 16)
      .toString('hex')
      .toUpperCase();
  assert.equal(block(0x0000), 'E03EAD0935C95E80E166B16DD92B4EB4');
  assert.equal(block(0x0001), 'D23513162B02D0F72A43A2FE4A5F97AB');
  assert.equal(block(0x0002), '41E95B3BB0A2E8DD477901E4FCA894C0');
  assert.equal(block(0xfeff), 'EC8CDF7398607CB0F2D21675EA9EA1E4');
  assert.equal(block(0xff00), '362B7C3C6773516318A077D7FC5073AE');
  assert.equal(block(0xff01), '6A2CC3787889374FBEB4C81B17BA6C44');
});

test('RFC 3711 B.3: key derivation of cipher key, salt and auth key', () => {
  const masterKey = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
  const masterSalt = hex('0EC675AD498AFEEBB6960B3AABE6');
  assert.equal(
    deriveSessionKey(masterKey, masterSalt, KDF_LABEL.SRTP_ENCRYPTION, 16).toString('hex').toUpperCase(),
    'C61E7A93744F39EE10734AFE3FF7A087',
  );
  assert.equal(
    deriveSessionKey(masterKey, masterSalt, KDF_LABEL.SRTP_SALT, 14).toString('hex').toUpperCase(),
    '30CBBC08863D8C85D49DB34A9AE1',
  );
  assert.equal(
    deriveSessionKey(masterKey, masterSalt, KDF_LABEL.SRTP_AUTH, 20).toString('hex').toUpperCase(),
    'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4',
  );
  const keys = deriveKeys('AES_CM_128_HMAC_SHA1_80', masterKey, masterSalt);
  assert.equal(keys.rtp.encKey.toString('hex').toUpperCase(), 'C61E7A93744F39EE10734AFE3FF7A087');
  assert.equal(keys.rtp.authKey.length, 20);
  // SRTCP labels 3..5 must give different keys.
  assert.notDeepEqual(keys.rtcp.encKey, keys.rtp.encKey);
  assert.notDeepEqual(keys.rtcp.authKey, keys.rtp.authKey);
  assert.notDeepEqual(keys.rtcp.salt, keys.rtp.salt);
});

// RFC 7714 §16/§17 state their vectors with the session key and salt (below the KDF).
const GCM_KEY = hex('000102030405060708090a0b0c0d0e0f');
const GCM_SALT = hex('517569642070726f2071756f');
const gcm = (): GcmTransform =>
  new GcmTransform({
    rtp: { encKey: GCM_KEY, authKey: Buffer.alloc(0), salt: GCM_SALT },
    rtcp: { encKey: GCM_KEY, authKey: Buffer.alloc(0), salt: GCM_SALT },
  });

// §16: "Gallia est omnis divisa in partes tres", SEQ 0xf17b, SSRC 0x5501a0b2, ROC 0.
const RTP = hex(`8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e697320646976
  69736120696e207061727465732074726573`);
const SRTP_GCM = hex(`8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd5
  0d294e6f42a5f47a51c7d19b36de3adf8833899d7f27beb16a9152cf765ee4390cce`);

test('RFC 7714 §16.1.1: SRTP AEAD_AES_128_GCM encryption and decryption', () => {
  const out = Buffer.alloc(200);
  const n = gcm().protectRtp(RTP, 12, RTP.length, out, 0x5501a0b2, 0, 0xf17b);
  assert.equal(out.subarray(0, n).toString('hex'), SRTP_GCM.toString('hex'));
  const back = Buffer.alloc(200);
  const m = gcm().unprotectRtp(SRTP_GCM, 12, SRTP_GCM.length - 16, back, 0x5501a0b2, 0, 0xf17b);
  assert.equal(back.subarray(0, m).toString('hex'), RTP.toString('hex'));
  // Wrong ROC: the IV differs and the tag fails.
  assert.equal(gcm().unprotectRtp(SRTP_GCM, 12, SRTP_GCM.length - 16, back, 0x5501a0b2, 1, 0xf17b), SrtpError.AUTH_FAIL);
});

// §17: SSRC "Mars", SRTCP index 0x5d4.
const RTCP = hex(`81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61
  deadbeefdeadbeefdeadbeefdeadbeefdeadbeef`);
const SRTCP_GCM = hex(`81c8000d4d61727363e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32d
  c676a5f1730d6fda4ce09b4686303ded0bb9275bc84aa45896cf4d2fc5abf87245d9eade800005d4`);
const SRTCP_GCM_TAG_ONLY = hex(`81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61
  deadbeefdeadbeefdeadbeefdeadbeefdeadbeef841dd9683dd78ec92ae58790125f62b3000005d4`);

test('RFC 7714 §17.1: SRTCP AEAD_AES_128_GCM encryption and decryption', () => {
  const out = Buffer.alloc(200);
  const n = gcm().protectRtcp(RTCP, RTCP.length, out, 0x4d617273, 0x5d4);
  assert.equal(out.subarray(0, n).toString('hex'), SRTCP_GCM.toString('hex'));
  const t = gcm();
  const back = Buffer.alloc(200);
  const m = t.unprotectRtcp(SRTCP_GCM, SRTCP_GCM.length, back, 0x4d617273, 0x5d4, true);
  assert.equal(back.subarray(0, m).toString('hex'), RTCP.toString('hex'));
  assert.equal(t.rtcpTrailerOffset(SRTCP_GCM.length), SRTCP_GCM.length - 4);
});

test('RFC 7714 §17.3: SRTCP tag-only (E = 0) verifies and is passed through', () => {
  const back = Buffer.alloc(200);
  const m = gcm().unprotectRtcp(SRTCP_GCM_TAG_ONLY, SRTCP_GCM_TAG_ONLY.length, back, 0x4d617273, 0x5d4, false);
  assert.equal(back.subarray(0, m).toString('hex'), RTCP.toString('hex'));
  const bad = Buffer.from(SRTCP_GCM_TAG_ONLY);
  flipBits(bad, 20, 1);
  assert.equal(gcm().unprotectRtcp(bad, bad.length, back, 0x4d617273, 0x5d4, false), SrtpError.AUTH_FAIL);
});

test('RFC 3711 §3.4: SRTCP with E = 0 (authenticated, not encrypted) from an independent HMAC', () => {
  const masterKey = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
  const masterSalt = hex('0EC675AD498AFEEBB6960B3AABE6');
  const keys = deriveKeys('AES_CM_128_HMAC_SHA1_80', masterKey, masterSalt);
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32BE(0x2a); // E = 0, index 42
  const body = Buffer.concat([RTCP, trailer]);
  const tag = createHmac('sha1', keys.rtcp.authKey).update(body).digest().subarray(0, 10);
  const srtcp = Buffer.concat([body, tag]);
  const rx = createSrtpContext({ profile: 'AES_CM_128_HMAC_SHA1_80', masterKey, masterSalt });
  const out = Buffer.alloc(200);
  const n = rx.unprotectRtcp(srtcp, out);
  assert.equal(out.subarray(0, n).toString('hex'), RTCP.toString('hex'));
  assert.equal(rx.unprotectRtcp(srtcp, out), SrtpError.REPLAY);
  // And an SRTP packet whose tag is computed independently over header || ciphertext || ROC.
  const rtp = hex('800000018041f8d35501a0b2aabbccdd');
  const tx = createSrtpContext({ profile: 'AES_CM_128_HMAC_SHA1_80', masterKey, masterSalt });
  const m = tx.protect(rtp, out);
  const roc = Buffer.alloc(4);
  const expected = createHmac('sha1', keys.rtp.authKey)
    .update(out.subarray(0, m - 10))
    .update(roc)
    .digest();
  assert.deepEqual(out.subarray(m - 10, m), expected.subarray(0, 10));
});
