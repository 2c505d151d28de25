/**
 * DTLS-SRTP key export (RFC 5764 §4.2). The DTLS layer exports
 * `2 * (keyLength + saltLength)` bytes with the label below, laid out as
 *
 *   client_write_SRTP_master_key | server_write_SRTP_master_key |
 *   client_write_SRTP_master_salt | server_write_SRTP_master_salt
 *
 * The client protects with the client_write pair and unprotects with the server_write pair; the server the
 * other way round.
 */
import { err, ok, type Result } from '../../core/result.ts';
import { type SrtpProfileName, srtpProfileInfo } from './profiles.ts';
import type { SrtpKeyMaterial } from './sdes.ts';

/** Exporter label (RFC 5764 §4.2). */
export const DTLS_SRTP_EXPORTER_LABEL = 'EXTRACTOR-dtls_srtp';

export type DtlsRole = 'client' | 'server';

export interface DtlsSrtpKeys {
  /** Keys for `protect` / `protectRtcp` (what this side sends). */
  readonly local: SrtpKeyMaterial;
  /** Keys for `unprotect` / `unprotectRtcp` (what the peer sends). */
  readonly remote: SrtpKeyMaterial;
}

export interface DtlsSrtpKeyError {
  readonly code: 'DTLS_SRTP_BAD_LENGTH';
  readonly expected: number;
  readonly actual: number;
}

/** Bytes to request from the DTLS exporter for `profile`. */
export function dtlsSrtpKeyMaterialLength(profile: SrtpProfileName): number {
  const info = srtpProfileInfo(profile);
  return 2 * (info.keyLength + info.saltLength);
}

export function splitDtlsSrtpKeyMaterial(
  material: Uint8Array,
  profile: SrtpProfileName,
  role: DtlsRole,
): Result<DtlsSrtpKeys, DtlsSrtpKeyError> {
  const { keyLength: k, saltLength: s } = srtpProfileInfo(profile);
  const expected = 2 * (k + s);
  if (material.length !== expected) return err({ code: 'DTLS_SRTP_BAD_LENGTH', expected, actual: material.length });
  const m = Buffer.from(material.buffer, material.byteOffset, material.length);
  const client: SrtpKeyMaterial = {
    masterKey: Buffer.from(m.subarray(0, k)),
    masterSalt: Buffer.from(m.subarray(2 * k, 2 * k + s)),
  };
  const server: SrtpKeyMaterial = {
    masterKey: Buffer.from(m.subarray(k, 2 * k)),
    masterSalt: Buffer.from(m.subarray(2 * k + s, 2 * k + 2 * s)),
  };
  return ok(role === 'client' ? { local: client, remote: server } : { local: server, remote: client });
}
