/**
 * SDES: the SDP `a=crypto` attribute (RFC 4568 §9.1, RFC 7714 §12 for AEAD_AES_128_GCM).
 *
 *   crypto-attribute = tag 1*WSP crypto-suite 1*WSP key-params *(1*WSP session-param)
 *   key-params       = "inline:" key||salt (base64) ["|" lifetime] ["|" MKI ":" MKI-length]
 *   lifetime         = 1*DIGIT / "2^" 1*2DIGIT
 *
 * The parser is bounded and never throws. Palisade sends no MKI, so an offer that requires one is
 * reported as SDES_MKI_UNSUPPORTED; likewise several keys, KDR ≠ 0 and the UNENCRYPTED_* / UNAUTHENTICATED
 * parameters (never acceptable at a border).
 */
import { randomBytes } from 'node:crypto';
import { err, ok, type Result } from '../../core/result.ts';
import { isSrtpProfileName, type SrtpProfileName, srtpProfileInfo } from './profiles.ts';

export type SdesErrorCode =
  | 'SDES_TOO_LONG'
  | 'SDES_SYNTAX'
  | 'SDES_BAD_TAG'
  | 'SDES_UNKNOWN_SUITE'
  | 'SDES_BAD_KEY'
  | 'SDES_BAD_LIFETIME'
  | 'SDES_MKI_UNSUPPORTED'
  | 'SDES_MULTIPLE_KEYS_UNSUPPORTED'
  | 'SDES_UNSUPPORTED_PARAM';

export interface SdesError {
  readonly code: SdesErrorCode;
  /** Which part was wrong (never the key itself). */
  readonly detail: string;
}

export interface SdesCrypto {
  /** Attribute tag (RFC 4568 §4.1: 1-9 digits), echoed in the answer. */
  readonly tag: number;
  readonly profile: SrtpProfileName;
  readonly masterKey: Buffer;
  readonly masterSalt: Buffer;
  /** Master key lifetime in packets, or null when absent; pass it as `keyLifetime` to createSrtpContext. */
  readonly lifetime: number | null;
  /** WSH session parameter (replay window size hint, §6.3.7), or null. */
  readonly windowSizeHint: number | null;
}

/** Longest attribute value accepted; a real one is about 70 characters. */
export const MAX_CRYPTO_ATTRIBUTE_LENGTH = 512;
const MAX_SESSION_PARAMS = 8;
/** RFC 3711 §9.2: at most 2^48 SRTP packets per master key. */
const MAX_LIFETIME_EXP = 48;

function fail(code: SdesErrorCode, detail: string): Result<SdesCrypto, SdesError> {
  return err({ code, detail });
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parses the value of an `a=crypto:` line (the `a=crypto:` prefix is accepted and ignored). */
export function parseCryptoAttribute(input: string): Result<SdesCrypto, SdesError> {
  if (typeof input !== 'string') return fail('SDES_SYNTAX', 'not a string');
  if (input.length > MAX_CRYPTO_ATTRIBUTE_LENGTH) return fail('SDES_TOO_LONG', 'attribute');
  let s = input.trim();
  if (s.toLowerCase().startsWith('a=crypto:')) s = s.slice(9);
  const parts = s.split(/[ \t]+/);
  if (parts.length < 3) return fail('SDES_SYNTAX', 'expected tag, crypto-suite and key-params');
  if (parts.length > 3 + MAX_SESSION_PARAMS) return fail('SDES_SYNTAX', 'too many session parameters');
  const [tagText, suite, keyParams] = parts as [string, string, string];
  if (!/^[0-9]{1,9}$/.test(tagText)) return fail('SDES_BAD_TAG', 'tag');
  const tag = Number(tagText);
  if (!isSrtpProfileName(suite)) return fail('SDES_UNKNOWN_SUITE', 'crypto-suite');
  const info = srtpProfileInfo(suite);

  if (keyParams.includes(';')) return fail('SDES_MULTIPLE_KEYS_UNSUPPORTED', 'key-params');
  if (!keyParams.startsWith('inline:')) return fail('SDES_SYNTAX', 'key-method');
  const fields = keyParams.slice(7).split('|');
  if (fields.length > 3) return fail('SDES_SYNTAX', 'key-info');
  const keySalt = fields[0] ?? '';
  let lifetime: number | null = null;
  let mki: string | undefined;
  if (fields.length === 3) {
    const l = parseLifetime(fields[1] ?? '');
    if (l === undefined) return fail('SDES_BAD_LIFETIME', 'lifetime');
    lifetime = l;
    mki = fields[2];
  } else if (fields.length === 2) {
    // One optional field: an MKI has a colon, a lifetime does not (§9.1).
    const f = fields[1] ?? '';
    if (f.includes(':')) {
      mki = f;
    } else {
      const l = parseLifetime(f);
      if (l === undefined) return fail('SDES_BAD_LIFETIME', 'lifetime');
      lifetime = l;
    }
  }
  if (mki !== undefined) {
    if (!/^[0-9]{1,10}:[0-9]{1,3}$/.test(mki)) return fail('SDES_SYNTAX', 'MKI');
    return fail('SDES_MKI_UNSUPPORTED', `MKI ${mki}`);
  }

  const want = info.keyLength + info.saltLength;
  if (keySalt.length === 0 || keySalt.length > 4 * Math.ceil(want / 3) || !BASE64.test(keySalt)) {
    return fail('SDES_BAD_KEY', 'key||salt encoding');
  }
  const bytes = Buffer.from(keySalt, 'base64');
  if (bytes.length !== want) return fail('SDES_BAD_KEY', `key||salt must be ${want} bytes`);

  let windowSizeHint: number | null = null;
  for (const p of parts.slice(3)) {
    const eq = p.indexOf('=');
    const name = eq < 0 ? p : p.slice(0, eq);
    const value = eq < 0 ? '' : p.slice(eq + 1);
    if (name === 'WSH') {
      if (!/^[0-9]{1,5}$/.test(value) || Number(value) < 64) return fail('SDES_SYNTAX', 'WSH');
      windowSizeHint = Number(value);
    } else if (name === 'KDR') {
      if (!/^[0-9]{1,2}$/.test(value)) return fail('SDES_SYNTAX', 'KDR');
      if (Number(value) !== 0) return fail('SDES_UNSUPPORTED_PARAM', 'KDR');
    } else if (name === 'FEC_ORDER') {
      if (value !== 'FEC_SRTP') return fail('SDES_UNSUPPORTED_PARAM', 'FEC_ORDER');
    } else {
      // UNENCRYPTED_SRTP, UNENCRYPTED_SRTCP, UNAUTHENTICATED_SRTP, FEC_KEY and unknown parameters:
      // §6.3 says a parameter not understood makes the attribute unusable.
      return fail('SDES_UNSUPPORTED_PARAM', name.slice(0, 32));
    }
  }

  return ok({
    tag,
    profile: suite,
    masterKey: Buffer.from(bytes.subarray(0, info.keyLength)),
    masterSalt: Buffer.from(bytes.subarray(info.keyLength)),
    lifetime,
    windowSizeHint,
  });
}

function parseLifetime(s: string): number | undefined {
  if (/^2\^[0-9]{1,2}$/.test(s)) {
    const e = Number(s.slice(2));
    return e <= MAX_LIFETIME_EXP ? 2 ** e : undefined;
  }
  if (/^[0-9]{1,15}$/.test(s)) {
    const n = Number(s);
    return n > 0 && n <= 2 ** MAX_LIFETIME_EXP ? n : undefined;
  }
  return undefined;
}

/** `tag SP suite SP inline:base64(key||salt)` — the value of an `a=crypto:` line (RFC 4568 §9.1). */
export function formatCryptoAttribute(tag: number, profile: SrtpProfileName, key: Uint8Array, salt: Uint8Array): string {
  const info = srtpProfileInfo(profile);
  if (!Number.isInteger(tag) || tag < 0 || tag > 999_999_999) throw new RangeError('crypto tag must be 0..999999999');
  if (key.length !== info.keyLength || salt.length !== info.saltLength) {
    throw new RangeError(`${profile} needs a ${info.keyLength}-byte key and a ${info.saltLength}-byte salt`);
  }
  const ks = Buffer.concat([key, salt]);
  const line = `${tag} ${profile} inline:${ks.toString('base64')}`;
  ks.fill(0);
  return line;
}

export interface SrtpKeyMaterial {
  readonly masterKey: Buffer;
  readonly masterSalt: Buffer;
}

/** Fresh random master key and salt for `profile` (RFC 4568 §6.1: from a cryptographic RNG). */
export function generateKeyMaterial(profile: SrtpProfileName): SrtpKeyMaterial {
  const info = srtpProfileInfo(profile);
  return { masterKey: randomBytes(info.keyLength), masterSalt: randomBytes(info.saltLength) };
}
