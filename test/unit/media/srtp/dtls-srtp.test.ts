import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DTLS_SRTP_EXPORTER_LABEL,
  dtlsSrtpKeyMaterialLength,
  splitDtlsSrtpKeyMaterial,
  srtpProfileFromDtlsId,
} from '../../../../src/media/srtp/index.ts';

test('RFC 5764 §4.2 layout: client key | server key | client salt | server salt', () => {
  // Bytes numbered so each field is recognisable: AES-CM 16+16+14+14 = 60.
  const m = Buffer.from(Array.from({ length: 60 }, (_, i) => i));
  assert.equal(dtlsSrtpKeyMaterialLength('AES_CM_128_HMAC_SHA1_80'), 60);
  const c = splitDtlsSrtpKeyMaterial(m, 'AES_CM_128_HMAC_SHA1_80', 'client');
  assert.ok(c.ok);
  assert.deepEqual(c.value.local.masterKey, m.subarray(0, 16));
  assert.deepEqual(c.value.remote.masterKey, m.subarray(16, 32));
  assert.deepEqual(c.value.local.masterSalt, m.subarray(32, 46));
  assert.deepEqual(c.value.remote.masterSalt, m.subarray(46, 60));
  const s = splitDtlsSrtpKeyMaterial(m, 'AES_CM_128_HMAC_SHA1_80', 'server');
  assert.ok(s.ok);
  assert.deepEqual(s.value.local, c.value.remote);
  assert.deepEqual(s.value.remote, c.value.local);
  // Copies, not views: zeroing the exporter output keeps the keys.
  m.fill(0);
  assert.equal(c.value.remote.masterKey[0], 16);
});

test('GCM: 16+16+12+12 = 56 bytes', () => {
  const m = Buffer.from(Array.from({ length: 56 }, (_, i) => i));
  assert.equal(dtlsSrtpKeyMaterialLength('AEAD_AES_128_GCM'), 56);
  const c = splitDtlsSrtpKeyMaterial(m, 'AEAD_AES_128_GCM', 'client');
  assert.ok(c.ok);
  assert.deepEqual(c.value.local.masterSalt, m.subarray(32, 44));
  assert.deepEqual(c.value.remote.masterSalt, m.subarray(44, 56));
});

test('wrong length is an error result', () => {
  const r = splitDtlsSrtpKeyMaterial(Buffer.alloc(59), 'AES_CM_128_HMAC_SHA1_32', 'client');
  assert.equal(r.ok, false);
  if (!r.ok) assert.deepEqual(r.error, { code: 'DTLS_SRTP_BAD_LENGTH', expected: 60, actual: 59 });
});

test('profile ids and exporter label', () => {
  assert.equal(DTLS_SRTP_EXPORTER_LABEL, 'EXTRACTOR-dtls_srtp');
  assert.equal(srtpProfileFromDtlsId(0x0001), 'AES_CM_128_HMAC_SHA1_80');
  assert.equal(srtpProfileFromDtlsId(0x0002), 'AES_CM_128_HMAC_SHA1_32');
  assert.equal(srtpProfileFromDtlsId(0x0007), 'AEAD_AES_128_GCM');
  assert.equal(srtpProfileFromDtlsId(0x0008), undefined);
});
