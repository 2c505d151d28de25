import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  parseCertificateVerify,
  parseClientKeyExchange,
  parseFirstCertificate,
  parseHello,
  parseServerKeyExchange,
  transcriptBytes,
} from '../../../../src/media/dtls/handshake-messages.ts';

const random = Buffer.alloc(32, 0xaa);

function clientHello(cookie: Buffer, extensions?: Buffer): Buffer {
  const parts = [Buffer.from([0xfe, 0xfd]), random, Buffer.from([0]), Buffer.from([cookie.length]), cookie];
  parts.push(Buffer.from([0, 4, 0xc0, 0x2b, 0xc0, 0x2f]), Buffer.from([1, 0]));
  if (extensions) parts.push(Buffer.from([extensions.length >> 8, extensions.length & 0xff]), extensions);
  return Buffer.concat(parts);
}

/** use_srtp (type 14): profiles list + empty MKI */
function useSrtp(...ids: number[]): Buffer {
  const list = Buffer.alloc(2 + 2 * ids.length + 1);
  list.writeUInt16BE(2 * ids.length, 0);
  for (const [i, id] of ids.entries()) list.writeUInt16BE(id, 2 + 2 * i);
  return Buffer.concat([Buffer.from([0, 14, 0, list.length]), list]);
}

test('ClientHello: random, cookie and the offered SRTP profiles', () => {
  const ext = Buffer.concat([Buffer.from([0xff, 0x01, 0, 1, 0]), useSrtp(1, 7)]);
  const h = parseHello(clientHello(Buffer.from('cookie'), ext), true);
  assert.ok(h);
  assert.deepEqual(h.random, random);
  assert.equal(h.cookie.toString(), 'cookie');
  assert.deepEqual(h.srtpProfiles, [1, 7]);
  assert.equal(parseHello(clientHello(Buffer.alloc(0)), true)?.srtpProfiles, undefined);
});

test('ServerHello: chosen suite and profile', () => {
  const ext = useSrtp(7);
  const body = Buffer.concat([Buffer.from([0xfe, 0xfd]), random, Buffer.from([0, 0xc0, 0x2b, 0]), Buffer.from([0, ext.length]), ext]);
  const h = parseHello(body, false);
  assert.equal(h?.cipherSuite, 0xc02b);
  assert.deepEqual(h?.srtpProfiles, [7]);
});

test('truncated and inconsistent hellos are refused, not misread', () => {
  const ext = useSrtp(1);
  const full = clientHello(Buffer.from('c'), ext);
  for (let n = 0; n < full.length; n++) {
    const r = parseHello(full.subarray(0, n), true);
    // a cut exactly before the extensions block is a valid hello without extensions
    if (r !== undefined) assert.equal(r.srtpProfiles, undefined, `cut at ${n}`);
  }
  const badExtLen = Buffer.from(full);
  badExtLen.writeUInt16BE(ext.length + 1, full.length - ext.length - 2);
  assert.equal(parseHello(badExtLen, true), undefined);
  const oddSrtp = clientHello(Buffer.alloc(0), Buffer.from([0, 14, 0, 4, 0, 1, 0, 1]));
  assert.equal(parseHello(oddSrtp, true), undefined);
});

test('Certificate: the first DER, null for an empty list, undefined when lengths disagree', () => {
  const der = Buffer.from([0x30, 0x03, 1, 2, 3]);
  const entry = Buffer.concat([Buffer.from([0, 0, der.length]), der]);
  const body = Buffer.concat([Buffer.from([0, 0, entry.length]), entry]);
  assert.deepEqual(parseFirstCertificate(body), der);
  assert.equal(parseFirstCertificate(Buffer.from([0, 0, 0])), null);
  assert.equal(parseFirstCertificate(body.subarray(0, body.length - 1)), undefined);
  assert.equal(parseFirstCertificate(Buffer.from([0, 0, 3, 0, 0, 0])), undefined);
});

test('ServerKeyExchange, CertificateVerify, ClientKeyExchange layouts', () => {
  const pub = Buffer.alloc(65, 4);
  const sig = Buffer.alloc(70, 9);
  const ske = Buffer.concat([Buffer.from([3, 0, 23, pub.length]), pub, Buffer.from([4, 3, 0, sig.length]), sig]);
  const k = parseServerKeyExchange(ske);
  assert.deepEqual(k?.publicKey, pub);
  assert.deepEqual(k?.params, ske.subarray(0, 4 + 65));
  assert.deepEqual([k?.signed.hash, k?.signed.signature], [4, 3]);
  assert.deepEqual(k?.signed.value, sig);
  assert.equal(parseServerKeyExchange(Buffer.concat([ske, Buffer.from([0])])), undefined, 'trailing byte');
  assert.equal(parseServerKeyExchange(Buffer.from([1, 0, 23, 0])), undefined, 'explicit curves refused');
  const cv = parseCertificateVerify(Buffer.concat([Buffer.from([4, 1, 0, 3]), Buffer.from([1, 2, 3])]));
  assert.deepEqual(cv, { hash: 4, signature: 1, value: Buffer.from([1, 2, 3]) });
  assert.deepEqual(parseClientKeyExchange(Buffer.concat([Buffer.from([65]), pub])), pub);
  assert.equal(parseClientKeyExchange(Buffer.concat([Buffer.from([66]), pub])), undefined);
});

test('transcript entries carry the DTLS header of an unfragmented message (RFC 6347 §4.2.6)', () => {
  const t = transcriptBytes(15, 5, Buffer.from([0xaa, 0xbb]));
  assert.deepEqual(t, Buffer.from([15, 0, 0, 2, 0, 5, 0, 0, 0, 0, 0, 2, 0xaa, 0xbb]));
});

test('no parser throws on arbitrary bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (u) => {
      const b = Buffer.from(u);
      parseHello(b, true);
      parseHello(b, false);
      parseFirstCertificate(b);
      parseServerKeyExchange(b);
      parseCertificateVerify(b);
      parseClientKeyExchange(b);
    }),
    { numRuns: 3000 },
  );
});
