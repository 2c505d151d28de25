import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isPalisadeError } from '../../../../src/core/errors.ts';
import { createSrtpContext, type SrtpContext, SrtpError, srtpErrorName, srtpProfileInfo } from '../../../../src/media/srtp/index.ts';
import { flipBits, keysFor, makeRtcp, makeRtp, nth, PROFILES } from './helpers.ts';

const OUT = Buffer.alloc(2048);
const BACK = Buffer.alloc(2048);

function protect(ctx: SrtpContext, rtp: Buffer): Buffer {
  const n = ctx.protect(rtp, OUT);
  assert.ok(n > 0, `protect failed: ${srtpErrorName(n)}`);
  return Buffer.from(OUT.subarray(0, n));
}

function unprotect(ctx: SrtpContext, srtp: Buffer): Buffer | number {
  const n = ctx.unprotect(srtp, BACK);
  return n < 0 ? n : Buffer.from(BACK.subarray(0, n));
}

for (const profile of PROFILES) {
  const info = srtpProfileInfo(profile);
  const pair = (opts: { replayWindow?: number } = {}): { tx: SrtpContext; rx: SrtpContext } => ({
    tx: createSrtpContext({ profile, ...keysFor(profile), ...opts }),
    rx: createSrtpContext({ profile, ...keysFor(profile), ...opts }),
  });

  describe(profile, () => {
    test('round trip with CSRCs and a header extension; header in clear, payload encrypted', () => {
      const { tx, rx } = pair();
      let seq = 10;
      for (const o of [{}, { csrcs: 2 }, { extWords: 3 }, { csrcs: 1, extWords: 1, payloadLength: 1 }, { payloadLength: 0 }]) {
        for (let i = 0; i < 4; i++) {
          const rtp = makeRtp(seq++, o);
          const srtp = protect(tx, rtp);
          assert.equal(srtp.length, rtp.length + info.srtpTagLength);
          const hdr = rtp.length - (o.payloadLength ?? 160);
          assert.deepEqual(srtp.subarray(0, hdr), rtp.subarray(0, hdr));
          if (rtp.length > hdr) assert.notDeepEqual(srtp.subarray(hdr, rtp.length), rtp.subarray(hdr));
          assert.deepEqual(unprotect(rx, srtp), rtp);
        }
      }
      assert.equal(tx.rtpOverhead, info.srtpTagLength);
      assert.equal(rx.counters.unprotectedRtp, 20);
    });

    test('flipping any bit is rejected (AUTH_FAIL outside the version/CC/X bits); state survives forgeries', () => {
      const { tx, rx } = pair();
      const rtp = makeRtp(500, { payloadLength: 20, csrcs: 1 });
      const srtp = protect(tx, rtp);
      for (let bit = 0; bit < srtp.length * 8; bit++) {
        const bad = Buffer.from(srtp);
        flipBits(bad, bit >> 3, 0x80 >> (bit & 7));
        const r = rx.unprotect(bad, BACK);
        if (bit < 2) assert.equal(r, SrtpError.BAD_VERSION, `bit ${bit}`);
        else if (bit === 3 || (bit >= 4 && bit < 8)) assert.ok(r === SrtpError.AUTH_FAIL || r === SrtpError.BAD_HEADER, `bit ${bit}`);
        else assert.equal(r, SrtpError.AUTH_FAIL, `bit ${bit}`);
      }
      assert.ok(rx.counters.authFailures > srtp.length * 8 - 10);
      assert.deepEqual(unprotect(rx, srtp), rtp);
    });

    test('replay: the same packet twice, and a packet older than the window', () => {
      const { tx, rx } = pair();
      const early = protect(tx, makeRtp(100));
      const packets: Buffer[] = [];
      for (let seq = 101; seq <= 300; seq++) packets.push(protect(tx, makeRtp(seq)));
      for (const p of packets) assert.ok(Buffer.isBuffer(unprotect(rx, p)));
      assert.equal(unprotect(rx, nth(packets, 150)), SrtpError.REPLAY);
      assert.equal(unprotect(rx, nth(packets, 199)), SrtpError.REPLAY);
      // seq 100 was never received, but 300 - 100 >= 64.
      assert.equal(unprotect(rx, early), SrtpError.REPLAY);
      assert.equal(srtpErrorName(SrtpError.REPLAY), 'REPLAY');
      assert.equal(rx.counters.replays, 3);
    });

    test('out of order inside the window is accepted once', () => {
      const { tx, rx } = pair();
      const p = Array.from({ length: 70 }, (_, i) => protect(tx, makeRtp(1000 + i)));
      assert.ok(Buffer.isBuffer(unprotect(rx, nth(p, 69))));
      assert.ok(Buffer.isBuffer(unprotect(rx, nth(p, 6))), '63 behind: inside a 64 window');
      assert.equal(unprotect(rx, nth(p, 5)), SrtpError.REPLAY, '64 behind: outside');
      assert.equal(unprotect(rx, nth(p, 6)), SrtpError.REPLAY);
    });

    test('a configurable window (128) keeps older packets', () => {
      const { tx, rx } = pair({ replayWindow: 128 });
      const p = Array.from({ length: 200 }, (_, i) => protect(tx, makeRtp(2000 + i)));
      assert.ok(Buffer.isBuffer(unprotect(rx, nth(p, 199))));
      assert.ok(Buffer.isBuffer(unprotect(rx, nth(p, 100))));
      assert.equal(unprotect(rx, nth(p, 71)), SrtpError.REPLAY);
    });

    test('sequence wrap 65535 → 0 increments the ROC on both sides, also when reordered', () => {
      const { tx, rx } = pair();
      const seqs = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 4, 5];
      const p = seqs.map((s) => protect(tx, makeRtp(s)));
      // Delivered out of order across the wrap.
      for (const i of [0, 1, 2, 3, 4, 6, 5, 8, 7, 9, 11, 10]) {
        assert.deepEqual(unprotect(rx, nth(p, i)), makeRtp(nth(seqs, i)), `seq ${seqs[i]}`);
      }
      // A packet after the wrap was protected with ROC 1: a receiver that never saw the wrap guesses ROC 0.
      const fresh = createSrtpContext({ profile, ...keysFor(profile) });
      assert.equal(unprotect(fresh, nth(p, 7)), SrtpError.AUTH_FAIL);
      // Replays across the wrap are still caught.
      assert.equal(unprotect(rx, nth(p, 5)), SrtpError.REPLAY);
      assert.equal(unprotect(rx, nth(p, 6)), SrtpError.REPLAY);
    });

    test('several wraps in steps of 1000 (ROC reaches 3)', () => {
      const { tx, rx } = pair({ replayWindow: 1024 });
      for (let i = 0; i < 220; i++) {
        const rtp = makeRtp((i * 1000) & 0xffff);
        assert.deepEqual(unprotect(rx, protect(tx, rtp)), rtp, `step ${i}`);
      }
    });

    test('SRTCP round trip, E flag and index, replay and tamper', () => {
      const { tx, rx } = pair();
      const rtcp = makeRtcp();
      const out: Buffer[] = [];
      for (let i = 0; i < 3; i++) {
        const n = tx.protectRtcp(rtcp, OUT);
        assert.equal(n, rtcp.length + 4 + info.srtcpTagLength);
        const p = Buffer.from(OUT.subarray(0, n));
        const trailer = info.aead ? n - 4 : n - info.srtcpTagLength - 4;
        assert.equal(p.readUInt32BE(trailer), (0x80000000 | i) >>> 0, 'E = 1, index counts from 0');
        assert.notDeepEqual(p.subarray(8, rtcp.length), rtcp.subarray(8));
        out.push(p);
      }
      assert.equal(tx.rtcpOverhead, 4 + info.srtcpTagLength);
      for (const p of out) {
        const m = rx.unprotectRtcp(p, BACK);
        assert.deepEqual(BACK.subarray(0, m), rtcp);
      }
      assert.equal(rx.unprotectRtcp(nth(out, 1), BACK), SrtpError.REPLAY);
      for (let bit = 0; bit < nth(out, 0).length * 8; bit += 7) {
        const bad = Buffer.from(nth(out, 2));
        flipBits(bad, bit >> 3, 0x80 >> (bit & 7));
        const r = rx.unprotectRtcp(bad, BACK);
        assert.ok(r < 0, `bit ${bit}`);
        if (bit >= 2) assert.ok(r === SrtpError.AUTH_FAIL || r === SrtpError.REPLAY, `bit ${bit}: ${r}`);
      }
    });

    test('SRTCP index older than the window is a replay', () => {
      const { tx, rx } = pair();
      const rtcp = makeRtcp();
      const p = Array.from({ length: 80 }, () => {
        const n = tx.protectRtcp(rtcp, OUT);
        return Buffer.from(OUT.subarray(0, n));
      });
      assert.ok(rx.unprotectRtcp(nth(p, 79), BACK) > 0);
      assert.ok(rx.unprotectRtcp(nth(p, 20), BACK) > 0);
      assert.equal(rx.unprotectRtcp(nth(p, 10), BACK), SrtpError.REPLAY);
    });

    test('in place: output into the packet buffer itself', () => {
      const { tx, rx } = pair();
      const rtp = makeRtp(7, { csrcs: 1 });
      const buf = Buffer.alloc(rtp.length + 16);
      rtp.copy(buf);
      const n = tx.protect(buf.subarray(0, rtp.length), buf);
      const m = rx.unprotect(buf.subarray(0, n), buf);
      assert.deepEqual(buf.subarray(0, m), rtp);
      const rtcp = makeRtcp();
      rtcp.copy(buf);
      const k = tx.protectRtcp(buf.subarray(0, rtcp.length), buf);
      const j = rx.unprotectRtcp(buf.subarray(0, k), buf);
      assert.deepEqual(buf.subarray(0, j), rtcp);
    });

    test('malformed input returns codes, never throws', () => {
      const { tx, rx } = pair();
      assert.equal(tx.protect(Buffer.alloc(11, 0x80), OUT), SrtpError.TOO_SHORT);
      assert.equal(tx.protect(Buffer.alloc(20, 0x40), OUT), SrtpError.BAD_VERSION);
      const cc = makeRtp(1, { payloadLength: 4 });
      cc[0] = 0x8f;
      assert.equal(tx.protect(cc, OUT), SrtpError.BAD_HEADER);
      const ext = makeRtp(1, { extWords: 1, payloadLength: 0 });
      ext.writeUInt16BE(50, 14);
      assert.equal(tx.protect(ext, OUT), SrtpError.BAD_HEADER);
      assert.equal(tx.protect(makeRtp(1), Buffer.alloc(100)), SrtpError.OUT_TOO_SMALL);
      assert.equal(rx.unprotect(Buffer.alloc(12 + info.srtpTagLength - 1, 0x80), OUT), SrtpError.TOO_SHORT);
      assert.equal(rx.unprotect(Buffer.alloc(0), OUT), SrtpError.TOO_SHORT);
      const srtp = protect(tx, makeRtp(2));
      assert.equal(rx.unprotect(srtp, Buffer.alloc(10)), SrtpError.OUT_TOO_SMALL);
      assert.equal(tx.protectRtcp(Buffer.alloc(7, 0x80), OUT), SrtpError.TOO_SHORT);
      assert.equal(tx.protectRtcp(Buffer.alloc(8, 0x00), OUT), SrtpError.BAD_VERSION);
      assert.equal(rx.unprotectRtcp(Buffer.alloc(8 + tx.rtcpOverhead - 1, 0x80), OUT), SrtpError.TOO_SHORT);
      assert.equal(rx.unprotectRtcp(Buffer.alloc(40, 0x80), OUT), SrtpError.AUTH_FAIL);
      assert.equal(rx.counters.unprotectedRtp, 0);
    });
  });
}

test('different keys do not verify', () => {
  const tx = createSrtpContext({ profile: 'AES_CM_128_HMAC_SHA1_80', ...keysFor('AES_CM_128_HMAC_SHA1_80', 1) });
  const rx = createSrtpContext({ profile: 'AES_CM_128_HMAC_SHA1_80', ...keysFor('AES_CM_128_HMAC_SHA1_80', 2) });
  assert.equal(unprotect(rx, protect(tx, makeRtp(1))), SrtpError.AUTH_FAIL);
});

test('SRTP streams per SSRC are bounded, evictions counted', () => {
  const k = keysFor('AES_CM_128_HMAC_SHA1_80');
  const tx = createSrtpContext({ profile: 'AES_CM_128_HMAC_SHA1_80', ...k });
  const rx = createSrtpContext({ profile: 'AES_CM_128_HMAC_SHA1_80', ...k, maxStreams: 2 });
  for (const ssrc of [1, 2, 3]) assert.ok(Buffer.isBuffer(unprotect(rx, protect(tx, makeRtp(5, { ssrc })))));
  assert.equal(rx.counters.streamEvictions, 1);
});

test('an active stream is kept when the stream bound evicts', () => {
  const k = keysFor('AES_CM_128_HMAC_SHA1_80');
  const tx = createSrtpContext({ profile: 'AES_CM_128_HMAC_SHA1_80', ...k });
  const rx = createSrtpContext({ profile: 'AES_CM_128_HMAC_SHA1_80', ...k, maxStreams: 2 });
  const a = [254, 255, 256].map((seq) => protect(tx, makeRtp(seq, { ssrc: 0xa })));
  const b = protect(tx, makeRtp(1, { ssrc: 0xb }));
  const c = protect(tx, makeRtp(1, { ssrc: 0xc }));
  assert.ok(Buffer.isBuffer(unprotect(rx, nth(a, 0))));
  assert.ok(Buffer.isBuffer(unprotect(rx, b)));
  assert.ok(Buffer.isBuffer(unprotect(rx, nth(a, 1))));
  assert.ok(Buffer.isBuffer(unprotect(rx, nth(a, 2)))); // seq 256: A becomes the youngest
  assert.ok(Buffer.isBuffer(unprotect(rx, c))); // evicts B, not A
  assert.equal(unprotect(rx, nth(a, 2)), SrtpError.REPLAY, 'A kept its replay state');
  assert.ok(Buffer.isBuffer(unprotect(rx, b)), 'B was forgotten');
});

test('keyLifetime (SDES lifetime) ends the key on both sides', () => {
  const k = keysFor('AES_CM_128_HMAC_SHA1_80');
  const tx = createSrtpContext({ profile: 'AES_CM_128_HMAC_SHA1_80', ...k, keyLifetime: 3 });
  const rx = createSrtpContext({ profile: 'AES_CM_128_HMAC_SHA1_80', ...k, keyLifetime: 2 });
  const p = [1, 2, 3].map((seq) => protect(tx, makeRtp(seq)));
  assert.equal(tx.protect(makeRtp(4), OUT), SrtpError.KEY_EXHAUSTED);
  assert.ok(Buffer.isBuffer(unprotect(rx, nth(p, 0))));
  assert.ok(Buffer.isBuffer(unprotect(rx, nth(p, 1))));
  assert.equal(unprotect(rx, nth(p, 2)), SrtpError.KEY_EXHAUSTED);
  for (let i = 0; i < 3; i++) assert.ok(tx.protectRtcp(makeRtcp(), OUT) > 0);
  assert.equal(tx.protectRtcp(makeRtcp(), OUT), SrtpError.KEY_EXHAUSTED);
});

test('invalid options throw CONFIG_INVALID naming the field', () => {
  const k = keysFor('AES_CM_128_HMAC_SHA1_80');
  const cases: [Parameters<typeof createSrtpContext>[0], string][] = [
    [{ profile: 'AES_CM_128_HMAC_SHA1_80', masterKey: Buffer.alloc(15), masterSalt: k.masterSalt }, 'masterKey'],
    [{ profile: 'AES_CM_128_HMAC_SHA1_80', masterKey: k.masterKey, masterSalt: Buffer.alloc(12) }, 'masterSalt'],
    [{ profile: 'AEAD_AES_128_GCM', masterKey: k.masterKey, masterSalt: k.masterSalt }, 'masterSalt'],
    [{ profile: 'AES_CM_128_HMAC_SHA1_80', ...k, replayWindow: 32 }, 'replayWindow'],
    [{ profile: 'AES_CM_128_HMAC_SHA1_80', ...k, replayWindow: 40000 }, 'replayWindow'],
    [{ profile: 'AES_CM_128_HMAC_SHA1_80', ...k, maxStreams: 0 }, 'maxStreams'],
    [{ profile: 'AES_CM_128_HMAC_SHA1_80', ...k, keyLifetime: 0 }, 'keyLifetime'],
    [{ profile: 'NULL_HMAC_SHA1_80' as 'AEAD_AES_128_GCM', ...k }, 'profile'],
  ];
  for (const [opts, field] of cases) {
    assert.throws(
      () => createSrtpContext(opts),
      (e: unknown) => isPalisadeError(e) && e.code === 'CONFIG_INVALID' && e.details.field === field,
      field,
    );
  }
});

test('srtpErrorName covers every code and nothing else', () => {
  for (const [name, code] of Object.entries(SrtpError)) assert.equal(srtpErrorName(code), name);
  assert.equal(srtpErrorName(0), undefined);
  assert.equal(srtpErrorName(172), undefined);
  assert.equal(srtpErrorName(-99), undefined);
});
