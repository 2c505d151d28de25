/** TLS details of a peer, read once after the handshake. */
import type { TLSSocket } from 'node:tls';
import type { TlsPeerInfo } from './types.ts';

/**
 * `peerCommonName` is set only for a certificate that verified against the configured CA (`authorized`), so
 * that nobody can claim an identity with a certificate they made themselves; the fingerprint is reported for
 * any presented certificate (useful for pinning and audit).
 */
export function readTlsPeerInfo(socket: TLSSocket): TlsPeerInfo {
  let peerCommonName: string | undefined;
  let peerFingerprint256: string | undefined;
  try {
    const cert = socket.getPeerCertificate(false);
    if (cert !== null && typeof cert === 'object' && typeof cert.fingerprint256 === 'string' && cert.fingerprint256 !== '') {
      peerFingerprint256 = cert.fingerprint256;
      const cn: unknown = cert.subject?.CN;
      const first: unknown = Array.isArray(cn) ? cn[0] : cn;
      if (socket.authorized && typeof first === 'string') peerCommonName = first;
    }
  } catch {
    // A socket torn down mid-read has no certificate to report.
  }
  return {
    protocol: socket.getProtocol() ?? undefined,
    cipher: socket.getCipher()?.name,
    authorized: socket.authorized,
    peerCommonName,
    peerFingerprint256,
  };
}
