/**
 * Differential test against werift-rtp's SRTP/SRTCP sessions (a real WebRTC stack's implementation).
 * werift offers AES_CM_128_HMAC_SHA1_80 (profile 1) and AEAD_AES_128_GCM (profile 7); it has no replay
 * protection, so only round trips and tamper are compared here (replay is covered against libsrtp2).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RtpPacket, SrtcpSession, SrtpSession } from 'werift-rtp';
import { createSrtpContext, type SrtpContext, SrtpError, type SrtpProfileName } from '../../src/media/srtp/index.ts';
import { flipBits, keysFor, makeRtcp, makeRtp } from '../unit/media/srtp/helpers.ts';

const WERIFT_PROFILE = { AES_CM_128_HMAC_SHA1_80: 1, AEAD_AES_128_GCM: 7 } as const;
const WRAP_SEQS = [65532, 65533, 65534, 65535, 0, 1, 2, 3];

function config(profile: keyof typeof WERIFT_PROFILE) {
  // werift's "local" keys encrypt and "remote" keys decrypt; ours use the same key both ways.
  const k = keysFor(profile);
  return {
    keys: { localMasterKey: k.masterKey, localMasterSalt: k.masterSalt, remoteMasterKey: k.masterKey, remoteMasterSalt: k.masterSalt },
    profile: WERIFT_PROFILE[profile],
  };
}

function ours(profile: SrtpProfileName): SrtpContext {
  return createSrtpContext({ profile, ...keysFor(profile) });
}

function run(ctx: SrtpContext, op: 'protect' | 'unprotect' | 'protectRtcp' | 'unprotectRtcp', p: Buffer): Buffer | number {
  const out = Buffer.alloc(p.length + 64);
  const n = ctx[op](p, out);
  return n < 0 ? n : out.subarray(0, n);
}

for (const profile of ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'] as const) {
  describe(`werift-rtp ${profile}`, { timeout: 20_000 }, () => {
    test('SRTP across the wrap: identical bytes, and each side unprotects the other', () => {
      const werift = new SrtpSession(config(profile));
      const werift2 = new SrtpSession(config(profile));
      const tx = ours(profile);
      const rx = ours(profile);
      for (const seq of WRAP_SEQS) {
        const rtp = makeRtp(seq, { csrcs: 1 });
        const pkt = RtpPacket.deSerialize(rtp);
        const theirs = werift.encrypt(pkt.payload, pkt.header);
        const mine = run(tx, 'protect', rtp);
        assert.ok(Buffer.isBuffer(mine));
        assert.equal(mine.toString('hex'), theirs.toString('hex'), `seq ${seq}`);
        assert.deepEqual(Buffer.from(werift2.decrypt(mine)), rtp, `werift decrypt seq ${seq}`);
        assert.deepEqual(run(rx, 'unprotect', theirs), rtp, `our unprotect seq ${seq}`);
      }
    });

    test('tamper is rejected on both sides', () => {
      const werift = new SrtpSession(config(profile));
      const rtp = makeRtp(4000);
      const pkt = RtpPacket.deSerialize(rtp);
      const theirs = werift.encrypt(pkt.payload, pkt.header);
      const mine = run(ours(profile), 'protect', rtp) as Buffer;
      for (const at of [3, 12, 100, mine.length - 1]) {
        const badTheirs = Buffer.from(theirs);
        flipBits(badTheirs, at, 0x04);
        assert.equal(run(ours(profile), 'unprotect', badTheirs), SrtpError.AUTH_FAIL, `ours byte ${at}`);
        const badMine = Buffer.from(mine);
        flipBits(badMine, at, 0x04);
        assert.throws(() => new SrtpSession(config(profile)).decrypt(badMine), `werift byte ${at}`);
      }
    });

    test('SRTCP: each side unprotects the other', () => {
      const werift = new SrtcpSession(config(profile));
      const tx = ours(profile);
      const rx = ours(profile);
      const rtcp = makeRtcp(0x55667788, 4);
      for (let i = 0; i < 3; i++) {
        const theirs = werift.encrypt(rtcp);
        assert.deepEqual(run(rx, 'unprotectRtcp', theirs), rtcp, `ours ${i}`);
        const mine = run(tx, 'protectRtcp', rtcp) as Buffer;
        assert.deepEqual(Buffer.from(new SrtcpSession(config(profile)).decrypt(mine)), rtcp, `werift ${i}`);
        const bad = Buffer.from(theirs);
        flipBits(bad, 9, 0x10);
        assert.equal(run(ours(profile), 'unprotectRtcp', bad), SrtpError.AUTH_FAIL);
      }
    });
  });
}
