/**
 * AES in counter mode as SRTP uses it (RFC 3711 §4.1.1):
 *
 *   IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)
 *
 *    0               4               8               12      14  16
 *   +---------------+---------------+---------------+-------+---+
 *   |                      session salt (14 bytes)          | 0 |
 *   +---------------+---------------+---------------+-------+---+
 *   XOR             |     SSRC      |  index i (48 bits)    |   |
 *   block j of the keystream = AES_k(IV + j)  (j in the last 16 bits)
 *
 * One AES-128-ECB cipher lives as long as the session key; per packet the counter blocks are written into a
 * scratch buffer and encrypted with one update() call, instead of creating an AES-CTR cipher per packet.
 * The SRTCP index (31 bits) takes the place of i (§4.1, §3.4).
 */
import { type Cipher, createCipheriv } from 'node:crypto';
import { endianness } from 'node:os';

const MAX_BLOCKS_DEFAULT = 128;
/** Counter blocks are replicated as 32-bit words, which is 5x faster than per-byte copies (bench/srtp.ts). */
const LITTLE_ENDIAN = endianness() === 'LE';

export class AesCmKeystream {
  private readonly ecb: Cipher;
  private readonly salt: Uint8Array;
  private counters: Buffer;
  private words: Uint32Array;
  /** Views of `counters` by block count, so a packet does not allocate a subarray. */
  private views: Buffer[] = [];

  constructor(sessionKey: Uint8Array, sessionSalt: Uint8Array) {
    this.ecb = createCipheriv('aes-128-ecb', sessionKey, null);
    this.ecb.setAutoPadding(false);
    this.salt = Uint8Array.from(sessionSalt.subarray(0, 14));
    const ab = new ArrayBuffer(MAX_BLOCKS_DEFAULT * 16);
    this.counters = Buffer.from(ab);
    this.words = new Uint32Array(ab);
  }

  /**
   * XORs the keystream for (ssrc, indexHigh * 2^16 + indexLow) onto `src[start..end)` and writes the result
   * at `dst[dstStart..]`. `dst` may be `src` with the same offsets (in place).
   */
  xor(
    src: Uint8Array,
    start: number,
    end: number,
    dst: Uint8Array,
    dstStart: number,
    ssrc: number,
    indexHigh: number,
    indexLow: number,
  ): void {
    const len = end - start;
    if (len <= 0) return;
    const blocks = (len + 15) >>> 4;
    if (blocks > this.counters.length >>> 4) this.grow(blocks);
    const c = this.counters;
    const s = this.salt;
    // First block: salt XOR ssrc XOR index, block counter 0.
    c[0] = s[0]!;
    c[1] = s[1]!;
    c[2] = s[2]!;
    c[3] = s[3]!;
    c[4] = s[4]! ^ (ssrc >>> 24);
    c[5] = s[5]! ^ ((ssrc >>> 16) & 0xff);
    c[6] = s[6]! ^ ((ssrc >>> 8) & 0xff);
    c[7] = s[7]! ^ (ssrc & 0xff);
    c[8] = s[8]! ^ (indexHigh >>> 24);
    c[9] = s[9]! ^ ((indexHigh >>> 16) & 0xff);
    c[10] = s[10]! ^ ((indexHigh >>> 8) & 0xff);
    c[11] = s[11]! ^ (indexHigh & 0xff);
    c[12] = s[12]! ^ ((indexLow >>> 8) & 0xff);
    c[13] = s[13]! ^ (indexLow & 0xff);
    c[14] = 0;
    c[15] = 0;
    if (LITTLE_ENDIAN) {
      const w = this.words;
      const w0 = w[0]!;
      const w1 = w[1]!;
      const w2 = w[2]!;
      const w3 = w[3]!; // bytes 12, 13 and a zero counter
      // Block j: the same 14 bytes, then j big-endian in bytes 14-15 (bits 16-31 of a little-endian word).
      for (let j = 1; j < blocks; j++) {
        const o = j << 2;
        w[o] = w0;
        w[o + 1] = w1;
        w[o + 2] = w2;
        w[o + 3] = w3 | ((j >>> 8) << 16) | ((j & 0xff) << 24);
      }
    } else {
      for (let j = 1; j < blocks; j++) {
        const o = j << 4;
        c.copyWithin(o, 0, 14);
        c[o + 14] = j >>> 8;
        c[o + 15] = j & 0xff;
      }
    }
    const ks = this.ecb.update(this.view(blocks));
    for (let i = 0; i < len; i++) dst[dstStart + i] = src[start + i]! ^ ks[i]!;
  }

  private view(blocks: number): Buffer {
    let v = this.views[blocks];
    if (v === undefined) {
      v = this.counters.subarray(0, blocks << 4);
      this.views[blocks] = v;
    }
    return v;
  }

  private grow(blocks: number): void {
    // Counter j is 16 bits: a payload is at most 2^16 blocks (1 MiB), far beyond any datagram.
    const ab = new ArrayBuffer(Math.min(blocks, 0x10000) * 16);
    this.counters = Buffer.from(ab);
    this.words = new Uint32Array(ab);
    this.views = [];
  }
}
