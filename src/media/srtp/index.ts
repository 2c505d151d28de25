/**
 * SRTP/SRTCP (RFC 3711, RFC 7714) on node:crypto: the public surface of src/media/srtp.
 *
 *   const keys = splitDtlsSrtpKeyMaterial(exported, profile, 'server');   // or parseCryptoAttribute(...)
 *   if (!keys.ok) ...
 *   const send = createSrtpContext({ profile, ...keys.value.local });
 *   const recv = createSrtpContext({ profile, ...keys.value.remote });
 *   const n = recv.unprotect(datagram, scratch);      // n < 0: SrtpError code, drop and count
 *   const m = send.protect(scratch.subarray(0, n), out);
 */
export {
  createSrtpContext,
  DEFAULT_MAX_STREAMS,
  DEFAULT_REPLAY_WINDOW,
  rtpHeaderLength,
  type SrtpContext,
  type SrtpContextOptions,
  type SrtpCounters,
} from './context.ts';
export {
  DTLS_SRTP_EXPORTER_LABEL,
  type DtlsRole,
  type DtlsSrtpKeyError,
  type DtlsSrtpKeys,
  dtlsSrtpKeyMaterialLength,
  splitDtlsSrtpKeyMaterial,
} from './dtls-srtp.ts';
export {
  isSrtpProfileName,
  SRTP_PROFILE_NAMES,
  type SrtpProfileInfo,
  type SrtpProfileName,
  srtpProfileFromDtlsId,
  srtpProfileInfo,
} from './profiles.ts';
export {
  formatCryptoAttribute,
  generateKeyMaterial,
  MAX_CRYPTO_ATTRIBUTE_LENGTH,
  parseCryptoAttribute,
  type SdesCrypto,
  type SdesError,
  type SdesErrorCode,
  type SrtpKeyMaterial,
} from './sdes.ts';
export { SrtpError, type SrtpErrorCode, type SrtpErrorName, srtpErrorName } from './status.ts';
