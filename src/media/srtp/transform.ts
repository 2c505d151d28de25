/**
 * The cryptographic transforms of one profile, below stream state: given the index, protect or
 * unprotect one packet. The context does header checks, index estimation and replay; the transforms do
 * cipher and tag. Split out so the RFC test vectors can drive them with explicit indices.
 *
 * SRTP packet (RFC 3711 §3.1):          SRTCP packet, AES-CM (§3.4):      SRTCP packet, GCM (RFC 7714 §9.2):
 *   RTP header | payload* | tag           header(8) | payload* |            header(8) | payload* | tag(16) |
 *                                         E+index(4) | tag(10)              E+index(4)
 *   (* encrypted; the HMAC tag covers everything before it, plus the ROC for SRTP, §4.2)
 */
import { AesCmKeystream } from './aes-cm.ts';
import { AesGcmSealer, GCM_TAG_LENGTH } from './aes-gcm.ts';
import { HmacSha1 } from './hmac-sha1.ts';
import type { DerivedKeys } from './kdf.ts';
import type { SrtpProfileInfo } from './profiles.ts';
import { SrtpError } from './status.ts';

export interface SrtpTransform {
  readonly rtpTagLength: number;
  readonly rtcpTagLength: number;
  /** `src[0..len)` is an RTP packet with a `hdrLen`-byte header; writes SRTP to `out`, returns its length. */
  protectRtp(src: Buffer, hdrLen: number, len: number, out: Buffer, ssrc: number, roc: number, seq: number): number;
  /** `src[0..len)` is the SRTP packet without its tag (which follows at `len`). Returns RTP length or AUTH_FAIL. */
  unprotectRtp(src: Buffer, hdrLen: number, len: number, out: Buffer, ssrc: number, roc: number, seq: number): number;
  /** Encrypts RTCP `src[0..len)` under `index` (E = 1); returns SRTCP length. */
  protectRtcp(src: Buffer, len: number, out: Buffer, ssrc: number, index: number): number;
  /** Offset of the E+index word in an SRTCP packet of `len` bytes. */
  rtcpTrailerOffset(len: number): number;
  /** Verifies and decrypts SRTCP `src[0..len)`; returns RTCP length or AUTH_FAIL. */
  unprotectRtcp(src: Buffer, len: number, out: Buffer, ssrc: number, index: number, encrypted: boolean): number;
}

export function createTransform(info: SrtpProfileInfo, keys: DerivedKeys): SrtpTransform {
  return info.aead ? new GcmTransform(keys) : new AesCmHmacTransform(info, keys);
}

/** AES_CM_128_HMAC_SHA1_80 / _32 (RFC 3711 §4.1.1, §4.2.1). */
export class AesCmHmacTransform implements SrtpTransform {
  readonly rtpTagLength: number;
  readonly rtcpTagLength: number;
  private readonly rtpCipher: AesCmKeystream;
  private readonly rtpMac: HmacSha1;
  private readonly rtcpCipher: AesCmKeystream;
  private readonly rtcpMac: HmacSha1;

  constructor(info: SrtpProfileInfo, keys: DerivedKeys) {
    this.rtpTagLength = info.srtpTagLength;
    this.rtcpTagLength = info.srtcpTagLength;
    this.rtpCipher = new AesCmKeystream(keys.rtp.encKey, keys.rtp.salt);
    this.rtpMac = new HmacSha1(keys.rtp.authKey);
    this.rtcpCipher = new AesCmKeystream(keys.rtcp.encKey, keys.rtcp.salt);
    this.rtcpMac = new HmacSha1(keys.rtcp.authKey);
  }

  protectRtp(src: Buffer, hdrLen: number, len: number, out: Buffer, ssrc: number, roc: number, seq: number): number {
    if (out !== src) src.copy(out, 0, 0, hdrLen);
    this.rtpCipher.xor(src, hdrLen, len, out, hdrLen, ssrc, roc, seq);
    // §4.2: authenticated portion || ROC.
    this.rtpMac.compute(out, 0, len, roc, true);
    this.rtpMac.writeTag(out, len, this.rtpTagLength);
    return len + this.rtpTagLength;
  }

  unprotectRtp(src: Buffer, hdrLen: number, len: number, out: Buffer, ssrc: number, roc: number, seq: number): number {
    this.rtpMac.compute(src, 0, len, roc, true);
    if (!this.rtpMac.tagEquals(src, len, this.rtpTagLength)) return SrtpError.AUTH_FAIL;
    if (out !== src) src.copy(out, 0, 0, hdrLen);
    this.rtpCipher.xor(src, hdrLen, len, out, hdrLen, ssrc, roc, seq);
    return len;
  }

  protectRtcp(src: Buffer, len: number, out: Buffer, ssrc: number, index: number): number {
    if (out !== src) src.copy(out, 0, 0, 8);
    // §3.4 / §4.1: the SRTCP index takes the place of the 48-bit packet index.
    this.rtcpCipher.xor(src, 8, len, out, 8, ssrc, index >>> 16, index & 0xffff);
    out.writeUInt32BE((index | 0x80000000) >>> 0, len);
    this.rtcpMac.compute(out, 0, len + 4, 0, false);
    this.rtcpMac.writeTag(out, len + 4, this.rtcpTagLength);
    return len + 4 + this.rtcpTagLength;
  }

  rtcpTrailerOffset(len: number): number {
    return len - this.rtcpTagLength - 4;
  }

  unprotectRtcp(src: Buffer, len: number, out: Buffer, ssrc: number, index: number, encrypted: boolean): number {
    const tagAt = len - this.rtcpTagLength;
    const rtcpLen = tagAt - 4;
    this.rtcpMac.compute(src, 0, tagAt, 0, false);
    if (!this.rtcpMac.tagEquals(src, tagAt, this.rtcpTagLength)) return SrtpError.AUTH_FAIL;
    if (encrypted) {
      if (out !== src) src.copy(out, 0, 0, 8);
      this.rtcpCipher.xor(src, 8, rtcpLen, out, 8, ssrc, index >>> 16, index & 0xffff);
    } else if (out !== src) {
      src.copy(out, 0, 0, rtcpLen);
    }
    return rtcpLen;
  }
}

/** AEAD_AES_128_GCM (RFC 7714). */
export class GcmTransform implements SrtpTransform {
  readonly rtpTagLength = GCM_TAG_LENGTH;
  readonly rtcpTagLength = GCM_TAG_LENGTH;
  private readonly rtp: AesGcmSealer;
  private readonly rtcp: AesGcmSealer;

  constructor(keys: DerivedKeys) {
    this.rtp = new AesGcmSealer(keys.rtp.encKey, keys.rtp.salt);
    this.rtcp = new AesGcmSealer(keys.rtcp.encKey, keys.rtcp.salt);
  }

  protectRtp(src: Buffer, hdrLen: number, len: number, out: Buffer, ssrc: number, roc: number, seq: number): number {
    return this.rtp.sealRtp(src, hdrLen, len, out, ssrc, roc, seq);
  }

  unprotectRtp(src: Buffer, hdrLen: number, len: number, out: Buffer, ssrc: number, roc: number, seq: number): number {
    return this.rtp.openRtp(src, hdrLen, len + GCM_TAG_LENGTH, out, ssrc, roc, seq) ? len : SrtpError.AUTH_FAIL;
  }

  protectRtcp(src: Buffer, len: number, out: Buffer, ssrc: number, index: number): number {
    return this.rtcp.sealRtcp(src, len, out, ssrc, index);
  }

  rtcpTrailerOffset(len: number): number {
    return len - 4;
  }

  unprotectRtcp(src: Buffer, len: number, out: Buffer, ssrc: number, index: number, encrypted: boolean): number {
    const n = this.rtcp.openRtcp(src, len, out, ssrc, index, encrypted);
    return n < 0 ? SrtpError.AUTH_FAIL : n;
  }
}
