import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import {
  createDtlsCertificate,
  parseSha256Fingerprint,
  selfSignedCertificateDer,
  sha256Fingerprint,
} from '../../../../src/media/dtls/certificate.ts';
import { expectedVerifyData, exportKeyingMaterial, prfSha256, verifyPeerSignature } from '../../../../src/media/dtls/peer-auth.ts';

const SHA256 = 4;
const SHA1 = 2;
const RSA = 1;
const ECDSA = 3;

function certFor(type: 'ec' | 'rsa', opt: { namedCurve?: string; modulusLength?: number }) {
  const keys =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: opt.namedCurve ?? 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: opt.modulusLength ?? 2048 });
  return { der: selfSignedCertificateDer(keys.privateKey, keys.publicKey), key: keys.privateKey };
}

const data = Buffer.from('client_random|server_random|ServerECDHParams');

test('TLS 1.2 PRF (P_SHA256) matches the published test vector', () => {
  // IETF TLS WG test vector for the TLS 1.2 PRF with SHA-256 (100 bytes of output).
  const out = prfSha256(
    Buffer.from('9bbe436ba940f017b17652849a71db35', 'hex'),
    'test label',
    Buffer.from('a0ba9f936cda311827a6f796ffd5198c', 'hex'),
    100,
  );
  assert.equal(
    out.toString('hex'),
    'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66',
  );
});

test('verify_data depends on the sender label, the master secret and every transcript byte', () => {
  const master = Buffer.alloc(48, 7);
  const t = [Buffer.from('hello'), Buffer.from('world')];
  const v = expectedVerifyData(master, 'client', t);
  assert.equal(v.length, 12);
  assert.notDeepEqual(expectedVerifyData(master, 'server', t), v);
  assert.notDeepEqual(expectedVerifyData(Buffer.alloc(48, 8), 'client', t), v);
  assert.notDeepEqual(expectedVerifyData(master, 'client', [Buffer.from('hello'), Buffer.from('worle')]), v);
  // the hash is over the concatenation, whatever the split
  assert.deepEqual(expectedVerifyData(master, 'client', [Buffer.from('hellowor'), Buffer.from('ld')]), v);
});

test('the exporter orders client random before server random', () => {
  const master = Buffer.alloc(48, 1);
  const c = Buffer.alloc(32, 2);
  const s = Buffer.alloc(32, 3);
  const k = exportKeyingMaterial(master, 'EXTRACTOR-dtls_srtp', c, s, 60);
  assert.equal(k.length, 60);
  assert.deepEqual(k, prfSha256(master, 'EXTRACTOR-dtls_srtp', Buffer.concat([c, s]), 60));
  assert.notDeepEqual(k, exportKeyingMaterial(master, 'EXTRACTOR-dtls_srtp', s, c, 60));
});

test('ECDSA P-256 / SHA-256 signatures verify with the certificate key, and only with it', () => {
  const a = certFor('ec', {});
  const b = certFor('ec', {});
  const sig = sign('sha256', data, { key: a.key, dsaEncoding: 'der' });
  assert.equal(verifyPeerSignature(a.der, SHA256, ECDSA, data, sig), true);
  assert.equal(verifyPeerSignature(b.der, SHA256, ECDSA, data, sig), false, 'another certificate');
  assert.equal(verifyPeerSignature(a.der, SHA256, ECDSA, Buffer.concat([data, Buffer.from([0])]), sig), false);
  assert.equal(verifyPeerSignature(a.der, SHA1, ECDSA, data, sig), false, 'hash other than SHA-256');
  assert.equal(verifyPeerSignature(a.der, SHA256, RSA, data, sig), false, 'RSA claimed for an EC key');
  assert.equal(verifyPeerSignature(a.der, SHA256, 7, data, sig), false, 'ed25519 and others refused');
  const raw = sign('sha256', data, { key: a.key, dsaEncoding: 'ieee-p1363' });
  assert.equal(verifyPeerSignature(a.der, SHA256, ECDSA, data, raw), false, 'TLS carries DER signatures');
});

test('ECDSA on a curve other than P-256 is refused even with a valid signature', () => {
  const p384 = certFor('ec', { namedCurve: 'P-384' });
  const sig = sign('sha256', data, { key: p384.key, dsaEncoding: 'der' });
  assert.equal(verifyPeerSignature(p384.der, SHA256, ECDSA, data, sig), false);
});

test('RSA PKCS#1 v1.5 / SHA-256 verifies; PSS, short keys and ECDSA claims are refused', () => {
  const r = certFor('rsa', {});
  const sig = sign('sha256', data, r.key);
  assert.equal(verifyPeerSignature(r.der, SHA256, RSA, data, sig), true);
  assert.equal(verifyPeerSignature(r.der, SHA256, ECDSA, data, sig), false);
  const flipped = Buffer.from(sig);
  flipped[10] = (flipped[10] as number) ^ 1;
  assert.equal(verifyPeerSignature(r.der, SHA256, RSA, data, flipped), false);
  const pss = sign('sha256', data, { key: r.key, padding: 6 /* RSA_PKCS1_PSS_PADDING */ });
  assert.equal(verifyPeerSignature(r.der, SHA256, RSA, data, pss), false);
  const short = certFor('rsa', { modulusLength: 1024 });
  assert.equal(verifyPeerSignature(short.der, SHA256, RSA, data, sign('sha256', data, short.key)), false);
});

test('an unparsable certificate never throws and never verifies', () => {
  assert.equal(verifyPeerSignature(Buffer.from([0x30, 0x03, 0x02, 0x01]), SHA256, ECDSA, data, Buffer.alloc(70)), false);
  assert.equal(verifyPeerSignature(Buffer.alloc(0), SHA256, RSA, data, Buffer.alloc(256)), false);
});

test('createDtlsCertificate: a P-256 self-signed certificate whose fingerprint is the SHA-256 of its DER', async () => {
  const c = await createDtlsCertificate();
  const x = new X509Certificate(c.certPem);
  assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(x.verify(x.publicKey), true);
  assert.deepEqual(x.raw, c.certDer);
  assert.equal(c.fingerprint, x.fingerprint256);
  assert.equal(sha256Fingerprint(c.certDer), x.fingerprint256);
  assert.match(c.keyPem, /BEGIN PRIVATE KEY/);
  const other = await createDtlsCertificate();
  assert.notEqual(other.fingerprint, c.fingerprint);
});

test('parseSha256Fingerprint accepts sha-256 in any case and refuses other hashes and malformed values', () => {
  const fp = 'AB:'.repeat(31) + 'CD';
  assert.deepEqual(parseSha256Fingerprint({ algorithm: 'sha-256', value: fp }), Buffer.from('ab'.repeat(31) + 'cd', 'hex'));
  assert.deepEqual(parseSha256Fingerprint({ algorithm: 'SHA-256', value: fp.toLowerCase() })?.length, 32);
  assert.equal(parseSha256Fingerprint({ algorithm: 'sha-1', value: 'AB:'.repeat(19) + 'CD' }), undefined);
  assert.equal(parseSha256Fingerprint({ algorithm: 'sha-256', value: 'AB:'.repeat(30) + 'CD' }), undefined);
  assert.equal(parseSha256Fingerprint({ algorithm: 'sha-256', value: fp.replace(/:/g, '') }), undefined);
  assert.equal(parseSha256Fingerprint({ algorithm: 'sha-256', value: `${fp}:00` }), undefined);
});
