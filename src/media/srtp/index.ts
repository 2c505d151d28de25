/** SRTP/SRTCP (RFC 3711, RFC 7714) on node:crypto: the public surface of src/media/srtp. */
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
