/**
 * The public contract of a DTLS-SRTP endpoint (what the media relay builds against).
 */
import type { DtlsSrtpKeys, SrtpProfileName } from '../srtp/index.ts';
import type { DtlsCertificate } from './certificate.ts';

export interface DtlsEndpointOptions {
  /** server = we answer ClientHello (SDP a=setup:passive on our side) */
  role: 'client' | 'server';
  certificate: DtlsCertificate;
  /** from the peer's SDP; only sha-256 accepted */
  remoteFingerprint: { algorithm: string; value: string };
  /** the relay sends it to the (latched) peer address */
  send: (datagram: Buffer) => void;
  /** default 10000 */
  handshakeTimeoutMs?: number;
  /** offered (client) / accepted in preference order (server); default AES_CM_128_HMAC_SHA1_80, AEAD_AES_128_GCM */
  profiles?: readonly SrtpProfileName[];
}

/**
 * Why a handshake ended without keys: no handshake within the time bound; the peer certificate is not the one in
 * a=fingerprint; its ServerKeyExchange / CertificateVerify signature does not verify with that certificate (or uses
 * anything but ECDSA P-256 / RSA PKCS#1 v1.5 with SHA-256); its Finished verify_data is wrong; it sent no
 * certificate; no common SRTP profile; a malformed or unexpected message; the peer sent an alert.
 */
export type DtlsFailure =
  | 'timeout'
  | 'bad_fingerprint'
  | 'bad_signature'
  | 'bad_finished'
  | 'no_certificate'
  | 'no_srtp_profile'
  | 'protocol'
  | 'closed';

export type DtlsState = 'new' | 'handshaking' | 'connected' | 'failed' | 'closed';

export interface DtlsConnected {
  readonly profile: SrtpProfileName;
  readonly keys: DtlsSrtpKeys;
}

export interface DtlsEndpoint {
  readonly state: DtlsState;
  /** client: sends ClientHello; server: arms the timeout */
  start(): void;
  /** a DTLS record from the peer (demux already said DTLS); never throws. Ignored before start() and after the end. */
  handle(datagram: Buffer): void;
  onConnected(cb: (r: DtlsConnected) => void): void;
  onFailed(cb: (reason: DtlsFailure) => void): void;
  /** Stops the endpoint (werift's retransmissions too) without reporting a failure; idempotent. */
  close(): void;
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_DTLS_PROFILES: readonly SrtpProfileName[] = ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'];
