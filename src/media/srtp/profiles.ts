/**
 * SRTP protection profiles Palisade speaks: the SDES crypto-suite names (RFC 4568 §6.2, RFC 7714 §12) and
 * the DTLS-SRTP protection profile ids (RFC 5764 §4.1.2, RFC 7714 §14.2).
 */

export type SrtpProfileName = 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32' | 'AEAD_AES_128_GCM';

export const SRTP_PROFILE_NAMES: readonly SrtpProfileName[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32', 'AEAD_AES_128_GCM'];

export interface SrtpProfileInfo {
  readonly name: SrtpProfileName;
  /** Master (and session) encryption key length in bytes. */
  readonly keyLength: number;
  /** Master (and session) salt length in bytes: 14 for AES-CM (RFC 3711 §8.2), 12 for GCM (RFC 7714 §11). */
  readonly saltLength: number;
  /** Authentication tag appended to SRTP packets. */
  readonly srtpTagLength: number;
  /** Authentication tag appended to SRTCP packets: 80 bits even for _32 (RFC 3711 §5.2, RFC 4568 §6.2.1). */
  readonly srtcpTagLength: number;
  /** AEAD profile: no separate auth key, tag produced by the cipher (RFC 7714). */
  readonly aead: boolean;
  /** DTLS-SRTP protection profile id (use_srtp extension). */
  readonly dtlsId: number;
}

const PROFILES: Readonly<Record<SrtpProfileName, SrtpProfileInfo>> = {
  AES_CM_128_HMAC_SHA1_80: {
    name: 'AES_CM_128_HMAC_SHA1_80',
    keyLength: 16,
    saltLength: 14,
    srtpTagLength: 10,
    srtcpTagLength: 10,
    aead: false,
    dtlsId: 0x0001,
  },
  AES_CM_128_HMAC_SHA1_32: {
    name: 'AES_CM_128_HMAC_SHA1_32',
    keyLength: 16,
    saltLength: 14,
    srtpTagLength: 4,
    srtcpTagLength: 10,
    aead: false,
    dtlsId: 0x0002,
  },
  AEAD_AES_128_GCM: {
    name: 'AEAD_AES_128_GCM',
    keyLength: 16,
    saltLength: 12,
    srtpTagLength: 16,
    srtcpTagLength: 16,
    aead: true,
    dtlsId: 0x0007,
  },
};

export function srtpProfileInfo(name: SrtpProfileName): SrtpProfileInfo {
  return PROFILES[name];
}

export function isSrtpProfileName(s: string): s is SrtpProfileName {
  return (SRTP_PROFILE_NAMES as readonly string[]).includes(s);
}

/** DTLS-SRTP protection profile id → profile, or undefined for ids Palisade does not offer. */
export function srtpProfileFromDtlsId(id: number): SrtpProfileName | undefined {
  for (const name of SRTP_PROFILE_NAMES) if (PROFILES[name].dtlsId === id) return name;
  return undefined;
}
