/** Unprotect of untrusted bytes never throws and never accepts a forgery (fast-check). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createSrtpContext, SrtpError } from '../../../../src/media/srtp/index.ts';
import { flipBits, keysFor, makeRtcp, makeRtp, PROFILES } from './helpers.ts';

const OUT = Buffer.alloc(4096);

for (const profile of PROFILES) {
  test(`${profile}: random bytes are rejected with a code`, () => {
    const rx = createSrtpContext({ profile, ...keysFor(profile) });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, rtcp) => {
        const b = Buffer.from(bytes);
        const b0 = b[0];
        if (rtcp && b0 !== undefined) b[0] = 0x80 | (b0 & 0x3f);
        const r = rtcp ? rx.unprotectRtcp(b, OUT) : rx.unprotect(b, OUT);
        assert.ok(r < 0 && r >= SrtpError.KEY_EXHAUSTED, `got ${r}`);
      }),
      { numRuns: 400 },
    );
  });

  test(`${profile}: any single mutation of a valid packet is rejected`, () => {
    const tx = createSrtpContext({ profile, ...keysFor(profile) });
    const rtp = makeRtp(9, { csrcs: 1, payloadLength: 40 });
    const n = tx.protect(rtp, OUT);
    const srtp = Buffer.from(OUT.subarray(0, n));
    const k = tx.protectRtcp(makeRtcp(), OUT);
    const srtcp = Buffer.from(OUT.subarray(0, k));
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), (at, x, rtcp) => {
        const rx = createSrtpContext({ profile, ...keysFor(profile) });
        const p = Buffer.from(rtcp ? srtcp : srtp);
        flipBits(p, at % p.length, x);
        const r = rtcp ? rx.unprotectRtcp(p, OUT) : rx.unprotect(p, OUT);
        assert.ok(r < 0, `accepted a forgery at ${at % p.length}`);
      }),
      { numRuns: 300 },
    );
  });
}
