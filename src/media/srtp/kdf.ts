/**
 * SRTP key derivation (RFC 3711 §4.3) with key_derivation_rate 0: every session key is derived once from
 * the master key and salt.
 *
 *   key_id = label || r          (8 bits || 48 bits; r = 0 since KDR = 0, §4.3.1)
 *   x      = key_id XOR master_salt   (right-aligned in 112 bits)
 *   key    = AES-CM keystream with IV = x * 2^16, first n bits (PRF, §4.3.3)
 *
 * The AEAD profile's 96-bit master salt is used the same way, padded with zero bits on the right to 112
 * bits (RFC 7714 §11), and yields a 96-bit session salt.
 */
import { createCipheriv } from 'node:crypto';
import { type SrtpProfileName, srtpProfileInfo } from './profiles.ts';

/** Key derivation labels (RFC 3711 §4.3.1, §4.3.2). */
export const KDF_LABEL = {
  SRTP_ENCRYPTION: 0x00,
  SRTP_AUTH: 0x01,
  SRTP_SALT: 0x02,
  SRTCP_ENCRYPTION: 0x03,
  SRTCP_AUTH: 0x04,
  SRTCP_SALT: 0x05,
} as const;

/** HMAC-SHA1 session authentication key length, n_a = 160 bits (RFC 3711 §8.2). */
export const SESSION_AUTH_KEY_LENGTH = 20;

export interface SessionKeys {
  readonly encKey: Buffer;
  /** Empty for AEAD profiles. */
  readonly authKey: Buffer;
  readonly salt: Buffer;
}

export interface DerivedKeys {
  readonly rtp: SessionKeys;
  readonly rtcp: SessionKeys;
}

/** PRF_n(k_master, x) of §4.3.3: `length` bytes of AES-CM keystream for `label`. */
export function deriveSessionKey(masterKey: Uint8Array, masterSalt: Uint8Array, label: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.set(masterSalt.subarray(0, 14), 0);
  iv[7] = (iv[7] ?? 0) ^ label;
  const blocks = Math.ceil(length / 16);
  const input = Buffer.alloc(blocks * 16);
  for (let j = 0; j < blocks; j++) {
    iv.copy(input, j * 16);
    input.writeUInt16BE(j, j * 16 + 14);
  }
  const ecb = createCipheriv('aes-128-ecb', masterKey, null);
  ecb.setAutoPadding(false);
  const out = ecb.update(input);
  input.fill(0);
  return Buffer.from(out.subarray(0, length));
}

export function deriveKeys(profile: SrtpProfileName, masterKey: Uint8Array, masterSalt: Uint8Array): DerivedKeys {
  const info = srtpProfileInfo(profile);
  const authLen = info.aead ? 0 : SESSION_AUTH_KEY_LENGTH;
  const derive = (enc: number, auth: number, salt: number): SessionKeys => ({
    encKey: deriveSessionKey(masterKey, masterSalt, enc, info.keyLength),
    authKey: authLen > 0 ? deriveSessionKey(masterKey, masterSalt, auth, authLen) : Buffer.alloc(0),
    salt: deriveSessionKey(masterKey, masterSalt, salt, info.saltLength),
  });
  return {
    rtp: derive(KDF_LABEL.SRTP_ENCRYPTION, KDF_LABEL.SRTP_AUTH, KDF_LABEL.SRTP_SALT),
    rtcp: derive(KDF_LABEL.SRTCP_ENCRYPTION, KDF_LABEL.SRTCP_AUTH, KDF_LABEL.SRTCP_SALT),
  };
}
