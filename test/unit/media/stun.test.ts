import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  ATTR_ERROR_CODE,
  ATTR_FINGERPRINT,
  ATTR_MESSAGE_INTEGRITY,
  ATTR_SOFTWARE,
  ATTR_USERNAME,
  crc32,
  encodeStunMessage,
  hmacSha1Into,
  isStunMessage,
  parseStun,
  readXorMappedAddress,
  STUN_BINDING,
  STUN_BINDING_ERROR,
  STUN_BINDING_REQUEST,
  STUN_BINDING_SUCCESS,
  STUN_CLASS_ERROR,
  STUN_CLASS_REQUEST,
  STUN_CLASS_SUCCESS,
  STUN_MAX_ATTRIBUTES,
  StunIntegrityKey,
  StunMessageView,
  verifyFingerprint,
  verifyMessageIntegrity,
  verifyMessageIntegritySha256,
  writeErrorCode,
  writeFingerprint,
  writeMessageIntegrity,
  writeStunHeader,
  writeXorMappedAddress,
} from '../../../src/media/stun.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 5769 §2: all vectors use this password; §2.1's USERNAME is "evtj:h6vY".
const RFC5769_PASSWORD = 'VOkJxbRl1RmTxUk/WvJxBt';
const RFC5769_TX = hex('b7e7a701 bc34d686 fa87dfae');

/** RFC 5769 §2.1 Sample Request (SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, MESSAGE-INTEGRITY, FINGERPRINT). */
const SAMPLE_REQUEST = hex(`
  00 01 00 58  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
  80 22 00 10  53 54 55 4e  20 74 65 73  74 20 63 6c  69 65 6e 74
  00 24 00 04  6e 00 01 ff
  80 29 00 08  93 2f f9 b1  51 26 3b 36
  00 06 00 09  65 76 74 6a  3a 68 36 76  59 20 20 20
  00 08 00 14  9a ea a7 0c  bf d8 cb 56  78 1e f2 b5  b2 d3 f2 49  c1 b5 71 a2
  80 28 00 04  e5 7a 3b cf`);

/** RFC 5769 §2.2 Sample IPv4 Response (SOFTWARE "test vector", XOR-MAPPED-ADDRESS 192.0.2.1:32853). */
const SAMPLE_IPV4_RESPONSE = hex(`
  01 01 00 3c  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
  80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
  00 20 00 08  00 01 a1 47  e1 12 a6 43
  00 08 00 14  2b 91 f5 99  fd 9e 90 c3  8c 74 89 f9  2a f9 ba 53  f0 6b e7 d7
  80 28 00 04  c0 7d 4c 96`);

/** RFC 5769 §2.3 Sample IPv6 Response (XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853). */
const SAMPLE_IPV6_RESPONSE = hex(`
  01 01 00 48  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
  80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
  00 20 00 14  00 02 a1 47  01 13 a9 fa  a5 d3 f1 79  bc 25 f4 b5  be d2 b9 d9
  00 08 00 14  a3 82 95 4e  4b e6 7b f1  17 84 c9 7c  82 92 c2 75  bf e3 ed 41
  80 28 00 04  c8 fb 0b 4c`);

const key = new StunIntegrityKey(RFC5769_PASSWORD);

function parsed(buf: Uint8Array): StunMessageView {
  const v = new StunMessageView();
  assert.equal(parseStun(buf, v), 'ok');
  return v;
}

/** Re-signs a vector: its bytes before MESSAGE-INTEGRITY, then our MESSAGE-INTEGRITY and FINGERPRINT. */
function resign(vector: Buffer, k: StunIntegrityKey): Buffer {
  const v = parsed(vector);
  const out = Buffer.alloc(vector.length);
  vector.copy(out, 0, 0, v.integrityOffset);
  let p = writeMessageIntegrity(out, v.integrityOffset, k);
  p = writeFingerprint(out, p);
  return out.subarray(0, p);
}

describe('RFC 5769 test vectors', () => {
  it('§2.1 sample request: attributes, MESSAGE-INTEGRITY and FINGERPRINT verify', () => {
    const v = parsed(SAMPLE_REQUEST);
    assert.equal(v.messageType, STUN_BINDING_REQUEST);
    assert.equal(v.method, STUN_BINDING);
    assert.equal(v.messageClass, STUN_CLASS_REQUEST);
    assert.equal(SAMPLE_REQUEST.toString('utf8', v.usernameOffset, v.usernameOffset + v.usernameLength), 'evtj:h6vY');
    assert.equal(v.hasPriority, true);
    assert.equal(v.priority, 0x6e0001ff);
    assert.equal(v.iceControlled, true);
    assert.equal(v.iceControlling, false);
    assert.equal(v.tieBreakerHigh, 0x932ff9b1);
    assert.equal(v.tieBreakerLow, 0x51263b36);
    assert.equal(v.unknownRequiredCount, 0, 'SOFTWARE is comprehension-optional');
    assert.equal(verifyFingerprint(SAMPLE_REQUEST, v), true);
    assert.equal(verifyMessageIntegrity(SAMPLE_REQUEST, v, key), true);
    assert.equal(verifyMessageIntegrity(SAMPLE_REQUEST, v, new StunIntegrityKey('VOkJxbRl1RmTxUk/WvJxBu')), false);
  });

  it('§2.2 sample IPv4 response: XOR-MAPPED-ADDRESS 192.0.2.1:32853, integrity and fingerprint verify', () => {
    const v = parsed(SAMPLE_IPV4_RESPONSE);
    assert.equal(v.messageType, STUN_BINDING_SUCCESS);
    assert.equal(v.messageClass, STUN_CLASS_SUCCESS);
    const addr = new Uint8Array(16);
    assert.equal(readXorMappedAddress(SAMPLE_IPV4_RESPONSE, v, addr), 4);
    assert.deepEqual([...addr.subarray(0, 4)], [192, 0, 2, 1]);
    assert.equal(v.xorMappedPort, 32853);
    assert.equal(verifyFingerprint(SAMPLE_IPV4_RESPONSE, v), true);
    assert.equal(verifyMessageIntegrity(SAMPLE_IPV4_RESPONSE, v, key), true);
  });

  it('§2.3 sample IPv6 response: XOR-MAPPED-ADDRESS 2001:db8:1234:5678:11:2233:4455:6677 port 32853', () => {
    const v = parsed(SAMPLE_IPV6_RESPONSE);
    const addr = new Uint8Array(16);
    assert.equal(readXorMappedAddress(SAMPLE_IPV6_RESPONSE, v, addr), 6);
    assert.equal(Buffer.from(addr).toString('hex'), '20010db8123456780011223344556677');
    assert.equal(v.xorMappedPort, 32853);
    assert.equal(verifyFingerprint(SAMPLE_IPV6_RESPONSE, v), true);
    assert.equal(verifyMessageIntegrity(SAMPLE_IPV6_RESPONSE, v, key), true);
  });

  it('the writers reproduce MESSAGE-INTEGRITY and FINGERPRINT of all three vectors byte for byte', () => {
    for (const vec of [SAMPLE_REQUEST, SAMPLE_IPV4_RESPONSE, SAMPLE_IPV6_RESPONSE]) {
      assert.deepEqual(resign(vec, key), vec);
    }
  });

  it('writeXorMappedAddress reproduces the §2.2 and §2.3 attributes', () => {
    const out = Buffer.alloc(64);
    writeStunHeader(out, STUN_BINDING_SUCCESS, RFC5769_TX, 0);
    let end = writeXorMappedAddress(out, 20, 4, 32853, Uint8Array.of(192, 0, 2, 1));
    assert.deepEqual(out.subarray(20, end), SAMPLE_IPV4_RESPONSE.subarray(36, 48));
    end = writeXorMappedAddress(out, 20, 6, 32853, hex('20010db8123456780011223344556677'));
    assert.deepEqual(out.subarray(20, end), SAMPLE_IPV6_RESPONSE.subarray(36, 60));
  });

  it('a tampered vector fails FINGERPRINT; with the fingerprint recomputed it still fails MESSAGE-INTEGRITY', () => {
    const t = Buffer.from(SAMPLE_REQUEST);
    t[30] = (t[30] as number) ^ 1; // inside SOFTWARE
    const v = parsed(t);
    assert.equal(verifyFingerprint(t, v), false);
    writeFingerprint(t, v.fingerprintOffset);
    assert.equal(verifyFingerprint(t, parsed(t)), true);
    assert.equal(verifyMessageIntegrity(t, parsed(t), key), false);
  });
});

describe('HMAC-SHA1 and CRC-32', () => {
  it('hmacSha1Into equals node:crypto for keys of 0..100 bytes and messages of 0..200 bytes', () => {
    const out = new Uint8Array(20);
    for (let i = 0; i < 200; i++) {
      const k = randomBytes(i % 101);
      const m = randomBytes((i * 7) % 201);
      hmacSha1Into(new StunIntegrityKey(k), m, 0, m.length, out);
      assert.equal(Buffer.from(out).toString('hex'), createHmac('sha1', k).update(m).digest('hex'), `key ${k.length} msg ${m.length}`);
    }
  });

  it('crc32 gives the CRC-32/ISO-HDLC check value', () => {
    assert.equal(crc32(Buffer.from('123456789'), 0, 9), 0xcbf43926);
  });
});

describe('parseStun', () => {
  it('rejects every truncation of a valid message', () => {
    const v = new StunMessageView();
    for (let n = 0; n < SAMPLE_REQUEST.length; n++) assert.notEqual(parseStun(SAMPLE_REQUEST.subarray(0, n), v), 'ok', `prefix ${n}`);
  });

  it('names what is wrong with the header', () => {
    const v = new StunMessageView();
    const bad = (patch: (b: Buffer) => void): string => {
      const b = Buffer.from(SAMPLE_REQUEST);
      patch(b);
      return parseStun(b, v);
    };
    assert.equal(parseStun(Buffer.alloc(19), v), 'stun_too_short');
    assert.equal(parseStun(Buffer.alloc(1501), v), 'stun_too_long');
    assert.equal(
      bad((b) => {
        b[0] = 0x40;
      }),
      'stun_not_stun',
    );
    assert.equal(
      bad((b) => {
        b[4] = 0;
      }),
      'stun_bad_cookie',
    );
    assert.equal(
      bad((b) => b.writeUInt16BE(0x56, 2)),
      'stun_bad_length',
    );
    assert.equal(
      bad((b) => b.writeUInt16BE(0x54, 2)),
      'stun_bad_length',
    );
    assert.equal(
      bad((b) => b.writeUInt16BE(0x100, 22)),
      'stun_attr_truncated',
    );
  });

  it('checks the sizes of fixed-size attributes', () => {
    const v = new StunMessageView();
    const tx = RFC5769_TX;
    for (const [type, len] of [
      [ATTR_MESSAGE_INTEGRITY, 16],
      [ATTR_FINGERPRINT, 8],
      [0x0024, 8],
      [0x0025, 4],
      [0x802a, 4],
      [0x0020, 12],
      [ATTR_ERROR_CODE, 0],
      [0x001c, 12],
    ] as const) {
      const m = encodeStunMessage({ transactionId: tx, extra: [{ type, value: Buffer.alloc(len) }], fingerprint: false });
      assert.equal(parseStun(m, v), 'stun_bad_attr_length', `type ${type.toString(16)} length ${len}`);
    }
    const long = encodeStunMessage({ transactionId: tx, username: 'u'.repeat(513) });
    assert.equal(parseStun(long, v), 'stun_bad_attr_length');
  });

  it('refuses attributes after FINGERPRINT and too many attributes', () => {
    const v = new StunMessageView();
    const m = Buffer.concat([SAMPLE_REQUEST, hex('80 22 00 00')]);
    m.writeUInt16BE(m.length - 20, 2);
    assert.equal(parseStun(m, v), 'stun_after_fingerprint');
    const many = Array.from({ length: STUN_MAX_ATTRIBUTES + 1 }, () => ({ type: ATTR_SOFTWARE, value: Buffer.alloc(0) }));
    assert.equal(parseStun(encodeStunMessage({ transactionId: RFC5769_TX, extra: many }), v), 'stun_too_many_attributes');
  });

  it('collects unknown comprehension-required attributes (bounded), not optional ones', () => {
    const extra = [0x0002, 0x7000, 0x9000, 0x0003].map((type) => ({ type, value: Buffer.alloc(3) }));
    const v = parsed(encodeStunMessage({ transactionId: RFC5769_TX, extra }));
    assert.deepEqual([...v.unknownRequired.subarray(0, v.unknownRequiredCount)], [0x0002, 0x7000, 0x0003]);
    const lots = Array.from({ length: 20 }, (_, i) => ({ type: 0x4000 + i, value: Buffer.alloc(0) }));
    assert.equal(parsed(encodeStunMessage({ transactionId: RFC5769_TX, extra: lots })).unknownRequiredCount, 8);
  });

  it('ignores attributes after MESSAGE-INTEGRITY except FINGERPRINT (RFC 8489 §14.5)', () => {
    const base = encodeStunMessage({ transactionId: RFC5769_TX, username: 'a:b', integrity: key, fingerprint: false });
    const out = Buffer.alloc(200);
    base.copy(out);
    let p = base.length;
    out.writeUInt16BE(0x0024, p); // PRIORITY after the integrity
    out.writeUInt16BE(4, p + 2);
    out.writeUInt32BE(7, p + 4);
    p = writeFingerprint(out, p + 8);
    const m = out.subarray(0, p);
    const v = parsed(m);
    assert.equal(v.hasPriority, false);
    assert.equal(verifyMessageIntegrity(m, v, key), true, 'the integrity covers only what precedes it');
    assert.equal(verifyFingerprint(m, v), true);
  });

  it('the first of repeated attributes wins', () => {
    const v = parsed(
      encodeStunMessage({
        transactionId: RFC5769_TX,
        username: 'first:x',
        extra: [{ type: ATTR_USERNAME, value: Buffer.from('second:y') }],
      }),
    );
    assert.equal(v.usernameLength, 'first:x'.length);
  });
});

describe('writers', () => {
  it('an error response round-trips ERROR-CODE', () => {
    const out = Buffer.alloc(100);
    let p = writeStunHeader(out, STUN_BINDING_ERROR, RFC5769_TX, 0);
    p = writeErrorCode(out, p, 487, Buffer.from('Role Conflict'));
    p = writeFingerprint(out, p);
    const m = out.subarray(0, p);
    const v = parsed(m);
    assert.equal(v.messageClass, STUN_CLASS_ERROR);
    assert.equal(v.errorCode, 487);
    assert.equal(m.toString('ascii', v.errorReasonOffset, v.errorReasonOffset + v.errorReasonLength), 'Role Conflict');
    assert.equal(verifyFingerprint(m, v), true);
    assert.equal(isStunMessage(m), true);
  });

  it('MESSAGE-INTEGRITY-SHA256 alone and after MESSAGE-INTEGRITY verifies; a wrong key does not', () => {
    const other = new StunIntegrityKey('another-password-of-22+');
    const only = encodeStunMessage({ transactionId: RFC5769_TX, username: 'a:b', integritySha256: key });
    let v = parsed(only);
    assert.equal(v.integrityOffset, -1);
    assert.equal(v.integritySha256Length, 32);
    assert.equal(verifyMessageIntegritySha256(only, v, key), true);
    assert.equal(verifyMessageIntegritySha256(only, v, other), false);
    const both = encodeStunMessage({ transactionId: RFC5769_TX, username: 'a:b', integrity: key, integritySha256: key });
    v = parsed(both);
    assert.equal(verifyMessageIntegrity(both, v, key), true);
    assert.equal(verifyMessageIntegritySha256(both, v, key), true);
    assert.equal(verifyFingerprint(both, v), true);
  });
});
