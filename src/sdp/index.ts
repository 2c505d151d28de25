/** SDP codec and rewrite functions (pure; imports only core). */
export * from './attributes.ts';
export { type FilterResult, filterCodecs, rejectedMedia } from './filter.ts';
export { parseSdp } from './parse.ts';
export { type RelayTarget, type RewriteOptions, rewriteForRelay } from './rewrite.ts';
export {
  answerDtlsRole,
  applyPlainParams,
  applySecureParams,
  applySessionIce,
  isFeedbackProfile,
  isOnHold,
  type MediaSecurityKind,
  mediaSecurityOf,
  offerDtlsRole,
  type SecureMediaParams,
  sha256FingerprintOf,
} from './secure.ts';
export { formatMediaLine, serializeSdp } from './serialize.ts';
export * from './types.ts';
