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
 * One AES-128-ECB cipher lives as long as the session key, instead of an AES-CTR cipher per packet. Counter
 * blocks are written into a scratch buffer and encrypted with one update() call; since a stream's packet
 * indices mostly come in order, the keystream of the next few indices is computed in the same call
 * ("batch"), which spreads the cost of the native call over several packets. The batch grows while it is
 * used up in order and shrinks when packets jump, per SSRC (a few SSRCs at a time), and is bounded in size.
 * The SRTCP index (31 bits) takes the place of i (§4.1, §3.4).
 */
import { type Cipher, createCipheriv } from 'node:crypto';
import { endianness } from 'node:os';

/** Counter blocks are replicated as 32-bit words, 5x faster than per-byte copies. */
const LITTLE_ENDIAN = endianness() === 'LE';
/** Packets of keystream computed ahead per SSRC, at most. */
const MAX_BATCH = 16;
/** Keystream blocks computed in one call when batching (16 KiB). */
const MAX_BATCH_BLOCKS = 1024;
/** Packets larger than this (2 KiB, beyond any datagram on a 1500-byte path) are never batched. */
const MAX_TRACKED_BLOCKS = 128;
/** SSRCs with their own batch at once (BUNDLE: audio, video, RTX...). */
const SLOTS = 4;

/** Keystream computed ahead for one SSRC: packets base .. base+count-1, `bpp` blocks each. */
class Slot {
  ssrc = -1;
  base = 0;
  count = 0;
  bpp = 0;
  ks: Buffer = Buffer.alloc(0);
  /** `ks` as 32-bit words when it is 4-byte aligned, for word-wise XOR. */
  ksWords: Int32Array<ArrayBufferLike> | null = null;
  batch = 1;
  used = 0;
  /** Largest packet (in blocks) seen since the last refill. */
  maxBlocks = 0;
}

export class AesCmKeystream {
  private readonly ecb: Cipher;
  /** Salt bytes 0..13 of the IV, then the block counter (0) in bytes 14..15. */
  private readonly iv = new Uint8Array(16);
  private counters: Buffer;
  private words: Uint32Array;
  /** Views of `counters` by block count, so a refill does not allocate a subarray. */
  private views: Buffer[] = [];
  private readonly slots: Slot[] = [];
  private nextSlot = 0;
  private ab1: ArrayBufferLike | null = null;
  private words1: Int32Array<ArrayBufferLike> = new Int32Array(0);
  private ab2: ArrayBufferLike | null = null;
  private words2: Int32Array<ArrayBufferLike> = new Int32Array(0);

  constructor(sessionKey: Uint8Array, sessionSalt: Uint8Array) {
    this.ecb = createCipheriv('aes-128-ecb', sessionKey, null);
    this.ecb.setAutoPadding(false);
    this.iv.set(sessionSalt.subarray(0, 14));
    const ab = new ArrayBuffer(MAX_BATCH_BLOCKS * 16);
    this.counters = Buffer.from(ab);
    this.words = new Uint32Array(ab);
    for (let i = 0; i < SLOTS; i++) this.slots.push(new Slot());
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
    const index = indexHigh * 65536 + indexLow;
    const slot = this.slotFor(ssrc);
    let k = index - slot.base;
    if (k < 0 || k >= slot.count || blocks > slot.bpp) {
      if (slot.count > 0 && blocks <= slot.bpp) {
        // Missed on the index: grow the batch if it was used up in order, shrink it if mostly wasted.
        if (slot.used >= slot.count) slot.batch = Math.min(slot.batch * 2, MAX_BATCH);
        else if (slot.used * 2 < slot.count) slot.batch = Math.max(1, slot.batch >>> 1);
      }
      this.refill(slot, index, blocks);
      k = 0;
    } else if (blocks > slot.maxBlocks) {
      slot.maxBlocks = blocks;
    }
    slot.used++;
    const ks = slot.ks;
    const ksAt = k * slot.bpp * 16;
    const kw = slot.ksWords;
    const sAbs = src.byteOffset + start;
    const dAbs = dst.byteOffset + dstStart;
    let done = 0;
    if (kw !== null && len >= 32 && ((sAbs | dAbs) & 3) === 0) {
      // Word-wise XOR: a quarter of the loads and stores of the byte loop.
      const sw = this.wordsOf(src.buffer);
      const dw = this.wordsOf(dst.buffer);
      const n = len >>> 2;
      const si = sAbs >>> 2;
      const di = dAbs >>> 2;
      const ki = (ks.byteOffset + ksAt) >>> 2;
      for (let i = 0; i < n; i++) dw[di + i] = (sw[si + i] as number) ^ (kw[ki + i] as number);
      done = n << 2;
    }
    for (let i = done; i < len; i++) dst[dstStart + i] = (src[start + i] as number) ^ (ks[ksAt + i] as number);
  }

  /** 32-bit view of a whole ArrayBuffer, cached for the last two buffers seen (caller's in and out). */
  private wordsOf(ab: ArrayBufferLike): Int32Array<ArrayBufferLike> {
    if (ab === this.ab1) return this.words1;
    if (ab === this.ab2) return this.words2;
    this.ab2 = this.ab1;
    this.words2 = this.words1;
    this.ab1 = ab;
    this.words1 = new Int32Array(ab, 0, ab.byteLength >>> 2);
    return this.words1;
  }

  private slotFor(ssrc: number): Slot {
    const slots = this.slots;
    for (let i = 0; i < SLOTS; i++) if ((slots[i] as Slot).ssrc === ssrc) return slots[i] as Slot;
    const slot = slots[this.nextSlot] as Slot;
    this.nextSlot = (this.nextSlot + 1) % SLOTS;
    slot.ssrc = ssrc;
    slot.count = 0;
    slot.bpp = 0;
    slot.batch = 1;
    slot.used = 0;
    slot.maxBlocks = 0;
    return slot;
  }

  /** Computes the keystream of `count` packets from `index` on, each `bpp` blocks long. */
  private refill(slot: Slot, index: number, blocks: number): void {
    let bpp = blocks;
    let count = 1;
    if (blocks <= MAX_TRACKED_BLOCKS) {
      bpp = Math.max(blocks, slot.maxBlocks);
      count = slot.batch;
      while (count > 1 && count * bpp > MAX_BATCH_BLOCKS) count >>>= 1;
    }
    // The 48-bit index space ends at 2^48 - 1: no keystream beyond it.
    count = Math.min(count, 0x1000000000000 - index);
    const total = count * bpp;
    if (total > this.counters.length >>> 4) this.grow(total);
    const c = this.counters;
    const w = this.words;
    const iv = this.iv;
    const s4 = iv[4] as number;
    const s5 = iv[5] as number;
    const s6 = iv[6] as number;
    const s7 = iv[7] as number;
    for (let p = 0; p < count; p++) {
      const idx = index + p;
      const hi = Math.floor(idx / 65536);
      const lo = idx - hi * 65536;
      // First block of packet p: salt XOR ssrc (bytes 4..7) XOR index (bytes 8..13), counter 0.
      const o = p * bpp * 16;
      c[o] = iv[0] as number;
      c[o + 1] = iv[1] as number;
      c[o + 2] = iv[2] as number;
      c[o + 3] = iv[3] as number;
      c[o + 4] = s4 ^ (slot.ssrc >>> 24);
      c[o + 5] = s5 ^ ((slot.ssrc >>> 16) & 0xff);
      c[o + 6] = s6 ^ ((slot.ssrc >>> 8) & 0xff);
      c[o + 7] = s7 ^ (slot.ssrc & 0xff);
      c[o + 8] = (iv[8] as number) ^ (hi >>> 24);
      c[o + 9] = (iv[9] as number) ^ ((hi >>> 16) & 0xff);
      c[o + 10] = (iv[10] as number) ^ ((hi >>> 8) & 0xff);
      c[o + 11] = (iv[11] as number) ^ (hi & 0xff);
      c[o + 12] = (iv[12] as number) ^ ((lo >>> 8) & 0xff);
      c[o + 13] = (iv[13] as number) ^ (lo & 0xff);
      c[o + 14] = 0;
      c[o + 15] = 0;
      // Blocks 1..bpp-1: the same 14 bytes, block number j big-endian in bytes 14..15.
      const wo = o >>> 2;
      const w0 = w[wo] as number;
      const w1 = w[wo + 1] as number;
      const w2 = w[wo + 2] as number;
      const w3 = w[wo + 3] as number;
      for (let j = 1; j < bpp; j++) {
        const q = wo + (j << 2);
        w[q] = w0;
        w[q + 1] = w1;
        w[q + 2] = w2;
        w[q + 3] = w3 | (LITTLE_ENDIAN ? ((j >>> 8) << 16) | ((j & 0xff) << 24) : j);
      }
    }
    const ks = this.ecb.update(this.view(total));
    slot.ks = ks;
    slot.ksWords = (ks.byteOffset & 3) === 0 ? new Int32Array(ks.buffer, 0, ks.buffer.byteLength >>> 2) : null;
    slot.base = index;
    slot.count = count;
    slot.bpp = bpp;
    slot.used = 0;
    slot.maxBlocks = blocks;
  }

  private view(blocks: number): Buffer {
    if (blocks > MAX_BATCH_BLOCKS) return this.counters.subarray(0, blocks << 4);
    let v = this.views[blocks];
    if (v === undefined) {
      v = this.counters.subarray(0, blocks << 4);
      this.views[blocks] = v;
    }
    return v;
  }

  private grow(blocks: number): void {
    // Counter j is 16 bits: one packet is at most 2^16 blocks (1 MiB), far beyond any datagram.
    const ab = new ArrayBuffer(Math.min(blocks, 0x10000) * 16);
    this.counters = Buffer.from(ab);
    this.words = new Uint32Array(ab);
    this.views = [];
  }
}
