/**
 * AEAD_AES_128_GCM for SRTP and SRTCP (RFC 7714). node:crypto cannot re-key a GCM cipher with a new IV,
 * so one cipher object is created per packet; the key is imported once as a KeyObject.
 *
 * SRTP IV (§8.1), 12 bytes:          SRTCP IV (§9.1):
 *   00 00 | SSRC | ROC | SEQ           00 00 | SSRC | 00 00 | 0 + SRTCP index (31 bits)
 *   ... XOR session salt (12 bytes)    ... XOR session salt
 *
 * SRTP: AAD = RTP header (with CSRCs and extension), ciphertext || 16-byte tag follow it (§8.2).
 * SRTCP: AAD = first 8 octets || E-flag + index; the packet is header | ciphertext | tag | E+index (§9.2,
 * §17). With E = 0 nothing is encrypted and the whole RTCP packet is AAD (§9.3).
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';

export const GCM_TAG_LENGTH = 16;

export class AesGcmSealer {
  private readonly key: KeyObject;
  private readonly salt: Uint8Array;
  private readonly iv = Buffer.alloc(12);
  private readonly aad = Buffer.alloc(12);

  constructor(sessionKey: Uint8Array, sessionSalt: Uint8Array) {
    this.key = createSecretKey(sessionKey);
    this.salt = Uint8Array.from(sessionSalt.subarray(0, 12));
  }

  private setIv(ssrc: number, hi: number, lo: number, rtcp: boolean): void {
    const iv = this.iv;
    const s = this.salt;
    iv[0] = s[0] as number;
    iv[1] = s[1] as number;
    iv[2] = (s[2] as number) ^ (ssrc >>> 24);
    iv[3] = (s[3] as number) ^ ((ssrc >>> 16) & 0xff);
    iv[4] = (s[4] as number) ^ ((ssrc >>> 8) & 0xff);
    iv[5] = (s[5] as number) ^ (ssrc & 0xff);
    if (rtcp) {
      // 00 00 | index (32 bits, top bit 0)
      iv[6] = s[6] as number;
      iv[7] = s[7] as number;
      iv[8] = (s[8] as number) ^ (lo >>> 24);
      iv[9] = (s[9] as number) ^ ((lo >>> 16) & 0xff);
      iv[10] = (s[10] as number) ^ ((lo >>> 8) & 0xff);
      iv[11] = (s[11] as number) ^ (lo & 0xff);
    } else {
      // ROC (32 bits) | SEQ (16 bits)
      iv[6] = (s[6] as number) ^ (hi >>> 24);
      iv[7] = (s[7] as number) ^ ((hi >>> 16) & 0xff);
      iv[8] = (s[8] as number) ^ ((hi >>> 8) & 0xff);
      iv[9] = (s[9] as number) ^ (hi & 0xff);
      iv[10] = (s[10] as number) ^ ((lo >>> 8) & 0xff);
      iv[11] = (s[11] as number) ^ (lo & 0xff);
    }
  }

  /** Encrypts `src[hdrLen..len)` with AAD `src[0..hdrLen)`; writes header | ciphertext | tag to `out`. */
  sealRtp(src: Buffer, hdrLen: number, len: number, out: Buffer, ssrc: number, roc: number, seq: number): number {
    this.setIv(ssrc, roc, seq, false);
    const c = createCipheriv('aes-128-gcm', this.key, this.iv, { authTagLength: GCM_TAG_LENGTH });
    c.setAAD(src.subarray(0, hdrLen));
    const enc = c.update(src.subarray(hdrLen, len));
    c.final();
    if (out !== src) src.copy(out, 0, 0, hdrLen);
    enc.copy(out, hdrLen);
    c.getAuthTag().copy(out, len);
    return len + GCM_TAG_LENGTH;
  }

  /** Verifies and decrypts `src[0..len)` (tag included); on success writes the RTP packet to `out`. */
  openRtp(src: Buffer, hdrLen: number, len: number, out: Buffer, ssrc: number, roc: number, seq: number): boolean {
    this.setIv(ssrc, roc, seq, false);
    const tagAt = len - GCM_TAG_LENGTH;
    const d = createDecipheriv('aes-128-gcm', this.key, this.iv, { authTagLength: GCM_TAG_LENGTH });
    d.setAuthTag(src.subarray(tagAt, len));
    d.setAAD(src.subarray(0, hdrLen));
    const plain = d.update(src.subarray(hdrLen, tagAt));
    try {
      d.final();
    } catch {
      return false;
    }
    if (out !== src) src.copy(out, 0, 0, hdrLen);
    plain.copy(out, hdrLen);
    return true;
  }

  /**
   * Encrypts RTCP `src[0..len)` (E = 1) under `index`; writes header | ciphertext | tag | E+index to `out`.
   */
  sealRtcp(src: Buffer, len: number, out: Buffer, ssrc: number, index: number): number {
    this.setIv(ssrc, 0, index, true);
    const aad = this.aad;
    src.copy(aad, 0, 0, 8);
    aad.writeUInt32BE((index | 0x80000000) >>> 0, 8);
    const c = createCipheriv('aes-128-gcm', this.key, this.iv, { authTagLength: GCM_TAG_LENGTH });
    c.setAAD(aad);
    const enc = c.update(src.subarray(8, len));
    c.final();
    if (out !== src) src.copy(out, 0, 0, 8);
    enc.copy(out, 8);
    c.getAuthTag().copy(out, len);
    aad.copy(out, len + GCM_TAG_LENGTH, 8, 12);
    return len + GCM_TAG_LENGTH + 4;
  }

  /**
   * Verifies (and, when E = 1, decrypts) SRTCP `src[0..len)`. Returns the RTCP length written to `out`, or
   * -1 when the tag does not verify.
   */
  openRtcp(src: Buffer, len: number, out: Buffer, ssrc: number, index: number, encrypted: boolean): number {
    this.setIv(ssrc, 0, index, true);
    const trailerAt = len - 4;
    const tagAt = trailerAt - GCM_TAG_LENGTH;
    const d = createDecipheriv('aes-128-gcm', this.key, this.iv, { authTagLength: GCM_TAG_LENGTH });
    d.setAuthTag(src.subarray(tagAt, trailerAt));
    if (encrypted) {
      const aad = this.aad;
      src.copy(aad, 0, 0, 8);
      src.copy(aad, 8, trailerAt, len);
      d.setAAD(aad);
      const plain = d.update(src.subarray(8, tagAt));
      try {
        d.final();
      } catch {
        return -1;
      }
      if (out !== src) src.copy(out, 0, 0, 8);
      plain.copy(out, 8);
      return tagAt;
    }
    // §9.3: the whole packet and the trailer are AAD; GCM over an empty plaintext.
    d.setAAD(src.subarray(0, tagAt));
    d.setAAD(src.subarray(trailerAt, len));
    try {
      d.final();
    } catch {
      return -1;
    }
    if (out !== src) src.copy(out, 0, 0, tagAt);
    return tagAt;
  }
}
