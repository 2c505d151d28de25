/**
 * DTLS-SRTP for the media relay (RFC 5763/5764): werift-dtls runs the handshake, Palisade authenticates the peer
 * (certificate against a=fingerprint, ServerKeyExchange / CertificateVerify signatures, Finished verify_data) and
 * bounds the handshake in time.
 *
 *   const cert = await createDtlsCertificate();          // our a=fingerprint is cert.fingerprint
 *   const dtls = createDtlsEndpoint({ role: 'server', certificate: cert, remoteFingerprint, send });
 *   dtls.onConnected(({ profile, keys }) => { ...createSrtpContext({ profile, ...keys.local }) });
 *   dtls.onFailed((reason) => { ...count, end the leg });
 *   dtls.start();
 *   // per datagram the demux classifies as DTLS:  dtls.handle(datagram)
 */
export {
  createDtlsCertificate,
  type DtlsCertificate,
  parseSha256Fingerprint,
  sha256Fingerprint,
} from './certificate.ts';
export { createDtlsEndpoint } from './endpoint.ts';
export {
  DEFAULT_DTLS_PROFILES,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  type DtlsConnected,
  type DtlsEndpoint,
  type DtlsEndpointOptions,
  type DtlsFailure,
  type DtlsState,
} from './types.ts';
