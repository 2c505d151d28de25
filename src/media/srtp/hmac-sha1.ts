/**
 * HMAC-SHA1 (RFC 2104) with the key's inner and outer padded blocks compressed once, at construction.
 * Per message only the message blocks and one outer block are compressed, with no allocation and no
 * native call. SRTP authenticates `packet || ROC` (RFC 3711 §4.2), so a 32-bit big-endian suffix can be
 * appended without copying the packet.
 */
import { SHA1_IV, sha1Compress } from './sha1.ts';

const BLOCK = 64;

export class HmacSha1 {
  private readonly inner = new Int32Array(5);
  private readonly outer = new Int32Array(5);
  /** Working state; after `compute` it holds the 20-byte MAC as five big-endian words. */
  private readonly st = new Int32Array(5);
  private readonly tail = new Uint8Array(2 * BLOCK);
  private readonly outerBlock = new Uint8Array(BLOCK);

  constructor(key: Uint8Array) {
    // RFC 2104 §2: keys longer than the block are hashed first; SRTP keys are 20 bytes, never longer.
    if (key.length > BLOCK) throw new RangeError('HMAC key longer than one block is not supported');
    const pad = new Uint8Array(BLOCK);
    for (let i = 0; i < BLOCK; i++) pad[i] = (key[i] ?? 0) ^ 0x36;
    this.inner.set(SHA1_IV);
    sha1Compress(this.inner, pad, 0);
    for (let i = 0; i < BLOCK; i++) pad[i] = (key[i] ?? 0) ^ 0x5c;
    this.outer.set(SHA1_IV);
    sha1Compress(this.outer, pad, 0);
    // The outer message is always the 20-byte inner digest: its padding never changes.
    this.outerBlock[20] = 0x80;
    writeU32(this.outerBlock, BLOCK - 4, (BLOCK + 20) * 8);
  }

  /**
   * MAC of `data[start..end)`, followed by `suffix` as 4 big-endian bytes when `withSuffix` is true.
   * Read the result with `writeTag` or `tagEquals` before the next call.
   */
  compute(data: Uint8Array, start: number, end: number, suffix: number, withSuffix: boolean): void {
    const st = this.st;
    const tail = this.tail;
    st.set(this.inner);
    const len = end - start;
    const full = end - (len & (BLOCK - 1));
    let o = start;
    for (; o < full; o += BLOCK) sha1Compress(st, data, o);
    let r = end - o;
    for (let i = 0; i < r; i++) tail[i] = data[o + i] as number;
    if (withSuffix) {
      writeU32(tail, r, suffix);
      r += 4;
    }
    tail[r] = 0x80;
    // Length field: 8 bytes of bit count; messages here are far below 2^32 bits.
    const tailLen = r + 9 <= BLOCK ? BLOCK : 2 * BLOCK;
    tail.fill(0, r + 1, tailLen - 4);
    writeU32(tail, tailLen - 4, (BLOCK + len + (withSuffix ? 4 : 0)) * 8);
    sha1Compress(st, tail, 0);
    if (tailLen > BLOCK) sha1Compress(st, tail, BLOCK);
    const ob = this.outerBlock;
    for (let i = 0; i < 5; i++) writeU32(ob, i * 4, st[i] as number);
    st.set(this.outer);
    sha1Compress(st, ob, 0);
  }

  /** Writes the first `tagLen` (≤ 20) bytes of the last MAC at `out[offset..]`. */
  writeTag(out: Uint8Array, offset: number, tagLen: number): void {
    const st = this.st;
    for (let i = 0; i < tagLen; i++) out[offset + i] = (st[i >> 2] as number) >>> (24 - 8 * (i & 3));
  }

  /** Compares the first `tagLen` bytes of the last MAC with `buf[offset..]` in time independent of the data. */
  tagEquals(buf: Uint8Array, offset: number, tagLen: number): boolean {
    const st = this.st;
    let diff = 0;
    for (let i = 0; i < tagLen; i++) diff |= ((buf[offset + i] as number) ^ ((st[i >> 2] as number) >>> (24 - 8 * (i & 3)))) & 0xff;
    return diff === 0;
  }
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}
