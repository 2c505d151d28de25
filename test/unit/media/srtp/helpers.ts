/** Packet builders shared by the SRTP tests. */
import type { SrtpProfileName } from '../../../../src/media/srtp/profiles.ts';

export const PROFILES: readonly SrtpProfileName[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32', 'AEAD_AES_128_GCM'];

export function keysFor(profile: SrtpProfileName, fill = 0x42): { masterKey: Buffer; masterSalt: Buffer } {
  return {
    masterKey: Buffer.alloc(16, fill),
    masterSalt: Buffer.alloc(profile === 'AEAD_AES_128_GCM' ? 12 : 14, fill ^ 0xff),
  };
}

export interface RtpOpts {
  ssrc?: number;
  payloadLength?: number;
  csrcs?: number;
  /** Header extension length in 32-bit words (0 = no extension). */
  extWords?: number;
  pt?: number;
}

/** An RTP packet (RFC 3550 §5.1) whose payload bytes depend on seq, so packets differ. */
export function makeRtp(seq: number, o: RtpOpts = {}): Buffer {
  const csrcs = o.csrcs ?? 0;
  const ext = o.extWords ?? 0;
  const hdr = 12 + 4 * csrcs + (ext > 0 ? 4 + 4 * ext : 0);
  const len = o.payloadLength ?? 160;
  const b = Buffer.alloc(hdr + len);
  b[0] = 0x80 | (ext > 0 ? 0x10 : 0) | csrcs;
  b[1] = o.pt ?? 0;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE((seq * 160) >>> 0, 4);
  b.writeUInt32BE(o.ssrc ?? 0x11223344, 8);
  for (let i = 0; i < csrcs; i++) b.writeUInt32BE(0xc0000000 + i, 12 + 4 * i);
  if (ext > 0) {
    const at = 12 + 4 * csrcs;
    b.writeUInt16BE(0xbede, at);
    b.writeUInt16BE(ext, at + 2);
    for (let i = 0; i < ext * 4; i++) b[at + 4 + i] = 0x10 + i;
  }
  for (let i = hdr; i < b.length; i++) b[i] = (seq + i) & 0xff;
  return b;
}

/** A sender report (RFC 3550 §6.4.1) with no report blocks plus padding words. */
export function makeRtcp(ssrc = 0x11223344, extraWords = 5): Buffer {
  const b = Buffer.alloc(28 + 4 * extraWords);
  b[0] = 0x80;
  b[1] = 200;
  b.writeUInt16BE(b.length / 4 - 1, 2);
  b.writeUInt32BE(ssrc, 4);
  for (let i = 8; i < b.length; i++) b[i] = i;
  return b;
}

/** `xs[i]`, failing loudly when the test indexes past the end (instead of a non-null assertion). */
export function nth<T>(xs: readonly T[], i: number): T {
  const x = xs[i];
  if (x === undefined) throw new RangeError(`no element ${i} in a list of ${xs.length}`);
  return x;
}

/** XORs `mask` into byte `at` of `b`: the one-bit (or one-byte) corruption a forgery test needs. */
export function flipBits(b: Uint8Array, at: number, mask: number): void {
  const v = b[at];
  if (v === undefined) throw new RangeError(`byte ${at} is outside a ${b.length}-byte packet`);
  b[at] = v ^ mask;
}
