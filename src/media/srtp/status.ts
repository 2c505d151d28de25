/**
 * Stable failure codes of protect/unprotect. The hot path returns a byte count (≥ 0) or one of these
 * negative numbers, so a failure costs no allocation; `srtpErrorName` turns one into a label for metrics.
 */
export const SrtpError = {
  /** Shorter than a header (plus trailer and tag) of this kind of packet. */
  TOO_SHORT: -1,
  /** RTP/RTCP version field is not 2. */
  BAD_VERSION: -2,
  /** CSRC list or header extension runs past the end of the packet. */
  BAD_HEADER: -3,
  /** Authentication tag (HMAC or AEAD) did not verify. */
  AUTH_FAIL: -4,
  /** Index already seen, or older than the replay window (RFC 3711 §3.3.2). */
  REPLAY: -5,
  /** The caller's output buffer cannot hold the result. */
  OUT_TOO_SMALL: -6,
  /** The index space of this master key is used up (2^48 SRTP, 2^31 SRTCP packets, RFC 3711 §9.2): rekey. */
  KEY_EXHAUSTED: -7,
} as const;

export type SrtpErrorName = keyof typeof SrtpError;
export type SrtpErrorCode = (typeof SrtpError)[SrtpErrorName];

const NAMES: readonly SrtpErrorName[] = ['TOO_SHORT', 'BAD_VERSION', 'BAD_HEADER', 'AUTH_FAIL', 'REPLAY', 'OUT_TOO_SMALL', 'KEY_EXHAUSTED'];

/** Name of a negative result code, or undefined for a byte count or an unknown value. */
export function srtpErrorName(code: number): SrtpErrorName | undefined {
  return code < 0 ? NAMES[-code - 1] : undefined;
}
