import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { demuxPacket } from '../../src/media/demux.ts';
import { createIceLiteResponder, parseIpAddressInto } from '../../src/media/ice-lite.ts';
import {
  encodeStunMessage,
  parseStun,
  readXorMappedAddress,
  STUN_MAGIC_COOKIE,
  STUN_MAX_RESPONSE_BYTES,
  StunIntegrityKey,
  StunMessageView,
  verifyFingerprint,
  verifyMessageIntegrity,
  verifyMessageIntegritySha256,
} from '../../src/media/stun.ts';

const LOCAL_UFRAG = 'Lite';
const LOCAL_PWD = 'asd88fgpdd777uzjYhagZg+x';
const key = new StunIntegrityKey(LOCAL_PWD);
const out = Buffer.alloc(STUN_MAX_RESPONSE_BYTES);
const view = new StunMessageView();

/** Every read a caller may do on untrusted bytes; none may throw. */
function readEverything(bytes: Uint8Array): string {
  demuxPacket(bytes);
  const st = parseStun(bytes, view);
  verifyFingerprint(bytes, view);
  verifyMessageIntegrity(bytes, view, key);
  verifyMessageIntegritySha256(bytes, view, key);
  readXorMappedAddress(bytes, view, new Uint8Array(16));
  return st;
}

/** A STUN header with a consistent length and cookie, then arbitrary attribute bytes. */
const stunShaped = fc
  .tuple(fc.integer({ min: 0, max: 0x3fff }), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.uint8Array({ maxLength: 160 }))
  .map(([type, tx, body]) => {
    const b = Buffer.alloc(20 + (body.length & ~3));
    b.writeUInt16BE(type, 0);
    b.writeUInt16BE(b.length - 20, 2);
    b.writeUInt32BE(STUN_MAGIC_COOKIE, 4);
    b.set(tx, 8);
    b.set(body.subarray(0, b.length - 20), 20);
    return b;
  });

/** Well-formed TLVs of any type (including the ones we parse, with wrong sizes). */
const tlvShaped = fc
  .array(
    fc.record({
      type: fc.oneof(
        fc.constantFrom(0x0006, 0x0008, 0x0009, 0x001c, 0x0020, 0x0024, 0x0025, 0x8028, 0x8029, 0x802a),
        fc.integer({ min: 0, max: 0xffff }),
      ),
      value: fc.uint8Array({ maxLength: 40 }),
    }),
    { maxLength: 12 },
  )
  .map((extra) => encodeStunMessage({ transactionId: new Uint8Array(12), extra, fingerprint: false }));

const iceChars = fc.stringMatching(/^[A-Za-z0-9+/]{4,32}$/);

const requestParams = fc.record({
  tx: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  remoteUfrag: iceChars,
  priority: fc.integer({ min: 0, max: 0xffffffff }),
  tie: fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff })),
  useCandidate: fc.boolean(),
});

function makeRequest(p: { tx: Uint8Array; remoteUfrag: string; priority: number; tie: [number, number]; useCandidate: boolean }): Buffer {
  return encodeStunMessage({
    transactionId: p.tx,
    username: `${LOCAL_UFRAG}:${p.remoteUfrag}`,
    priority: p.priority,
    useCandidate: p.useCandidate,
    iceControlling: p.tie,
    integrity: key,
  });
}

describe('STUN codec properties', () => {
  it('arbitrary bytes never throw, and never authenticate', () => {
    const ice = createIceLiteResponder({ localUfrag: LOCAL_UFRAG, localPwd: LOCAL_PWD });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), stunShaped, tlvShaped), (bytes) => {
        assert.equal(typeof readEverything(bytes), 'string');
        const r = ice.handle(bytes, '127.0.0.1', 5000, out);
        assert.notEqual(r.kind, 'response');
      }),
      { numRuns: 3000 },
    );
  });

  it('encode ∘ parse round-trips a check and its integrity', () => {
    fc.assert(
      fc.property(requestParams, (p) => {
        const m = makeRequest(p);
        assert.equal(parseStun(m, view), 'ok');
        assert.equal(
          m.toString('ascii', view.usernameOffset, view.usernameOffset + view.usernameLength),
          `${LOCAL_UFRAG}:${p.remoteUfrag}`,
        );
        assert.equal(view.priority, p.priority);
        assert.equal(view.useCandidate, p.useCandidate);
        assert.deepEqual([view.tieBreakerHigh, view.tieBreakerLow], p.tie);
        assert.ok(verifyMessageIntegrity(m, view, key) && verifyFingerprint(m, view));
      }),
      { numRuns: 300 },
    );
  });

  it('any single-bit flip of a valid check is refused', () => {
    const ice = createIceLiteResponder({ localUfrag: LOCAL_UFRAG, localPwd: LOCAL_PWD });
    fc.assert(
      fc.property(requestParams, fc.nat(), (p, bit) => {
        const m = makeRequest(p);
        assert.equal(ice.handle(m, '127.0.0.1', 1, out).kind, 'response');
        const i = bit % (m.length * 8);
        m[i >> 3] = (m[i >> 3] as number) ^ (1 << (i & 7));
        assert.notEqual(ice.handle(m, '127.0.0.1', 1, out).kind, 'response');
      }),
      { numRuns: 500 },
    );
  });

  it('the success response maps the source address and port, and verifies', () => {
    const ice = createIceLiteResponder({ localUfrag: LOCAL_UFRAG, localPwd: LOCAL_PWD });
    const addr = new Uint8Array(16);
    const want = new Uint8Array(16);
    fc.assert(
      fc.property(requestParams, fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 0, max: 65535 }), (p, ip, port) => {
        const m = makeRequest(p);
        const r = ice.handle(m, ip, port, out);
        assert.equal(r.kind, 'response');
        if (r.kind !== 'response') return;
        assert.equal(r.useCandidate, p.useCandidate);
        const res = out.subarray(0, r.length);
        assert.equal(parseStun(res, view), 'ok');
        assert.ok(verifyMessageIntegrity(res, view, key) && verifyFingerprint(res, view));
        assert.deepEqual(res.subarray(8, 20), m.subarray(8, 20));
        const fam = readXorMappedAddress(res, view, addr);
        assert.equal(fam, parseIpAddressInto(ip, want));
        assert.deepEqual(addr.subarray(0, fam === 4 ? 4 : 16), want.subarray(0, fam === 4 ? 4 : 16));
        assert.equal(view.xorMappedPort, port);
      }),
      { numRuns: 300 },
    );
  });
});
