/**
 * Digest algorithms and computations (RFC 7616 §3.4.1–§3.4.3, RFC 8760 §2, RFC 3261 §22.4), and the set of
 * challenges one 401/407 carries.
 *
 *   HA1      = H(username ":" realm ":" password)                (stored, never the password)
 *   HA1-sess = H(HA1 ":" nonce ":" cnonce)                       (-sess algorithms)
 *   HA2      = H(method ":" uri)                                 (qop=auth or no qop)
 *            = H(method ":" uri ":" H(body))                     (qop=auth-int)
 *   response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)  (qop present)
 *            = H(HA1 ":" nonce ":" HA2)                         (no qop, RFC 2069 legacy)
 * H is lower-case hex of MD5, SHA-256 or SHA-512/256 (node:crypto `sha512-256`, FIPS 180-4 with its own IVs,
 * not a truncated SHA-512). Strings are hashed as UTF-8.
 */
import { createHash } from 'node:crypto';
import { formatDigestChallenge } from './digest-header.ts';

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess' | 'SHA-512-256' | 'SHA-512-256-sess';
/** The hash under an algorithm; also the key of an HA1 in the users file. */
export type DigestHash = 'md5' | 'sha256' | 'sha512_256';
export type DigestQop = 'auth' | 'auth-int';

export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = [
  'MD5',
  'MD5-sess',
  'SHA-256',
  'SHA-256-sess',
  'SHA-512-256',
  'SHA-512-256-sess',
];
export const DIGEST_HASHES: readonly DigestHash[] = ['md5', 'sha256', 'sha512_256'];

/** Hex digest length per hash. */
export const DIGEST_HEX_LENGTH: Readonly<Record<DigestHash, number>> = { md5: 32, sha256: 64, sha512_256: 64 };

const NODE_HASH: Readonly<Record<DigestHash, string>> = { md5: 'md5', sha256: 'sha256', sha512_256: 'sha512-256' };

/**
 * The algorithm token of a challenge or response (case-insensitive, RFC 7616 §3.3). Absent means MD5
 * (RFC 3261 §22.4, RFC 7616 §3.3). Unknown → undefined.
 */
export function parseAlgorithm(token: string | undefined): DigestAlgorithm | undefined {
  if (token === undefined) return 'MD5';
  switch (token.toUpperCase()) {
    case 'MD5':
      return 'MD5';
    case 'MD5-SESS':
      return 'MD5-sess';
    case 'SHA-256':
      return 'SHA-256';
    case 'SHA-256-SESS':
      return 'SHA-256-sess';
    case 'SHA-512-256':
      return 'SHA-512-256';
    case 'SHA-512-256-SESS':
      return 'SHA-512-256-sess';
    default:
      return undefined;
  }
}

export function hashOf(alg: DigestAlgorithm): DigestHash {
  switch (alg) {
    case 'MD5':
    case 'MD5-sess':
      return 'md5';
    case 'SHA-256':
    case 'SHA-256-sess':
      return 'sha256';
    case 'SHA-512-256':
    case 'SHA-512-256-sess':
      return 'sha512_256';
  }
}

export function isSessAlgorithm(alg: DigestAlgorithm): boolean {
  return alg.endsWith('-sess');
}

export function hexDigest(hash: DigestHash, data: string | Uint8Array): string {
  return createHash(NODE_HASH[hash]).update(data).digest('hex');
}

/** HA1 = H(username:realm:password). For the CLI: the daemon only ever sees stored HA1 values. */
export function computeHa1(hash: DigestHash, username: string, realm: string, password: string): string {
  return hexDigest(hash, `${username}:${realm}:${password}`);
}

/** All three HA1 values a user entry stores. */
export function computeAllHa1(username: string, realm: string, password: string): Record<DigestHash, string> {
  return {
    md5: computeHa1('md5', username, realm, password),
    sha256: computeHa1('sha256', username, realm, password),
    sha512_256: computeHa1('sha512_256', username, realm, password),
  };
}

export interface ResponseInput {
  readonly algorithm: DigestAlgorithm;
  /** Stored HA1 of the algorithm's hash (lower-case hex). */
  readonly ha1: string;
  readonly nonce: string;
  readonly method: string;
  /** The `uri` parameter of the credentials (digest-uri), not necessarily the Request-URI. */
  readonly uri: string;
  /** Absent: RFC 2069 legacy response (no nc, no cnonce). */
  readonly qop?: DigestQop;
  /** 8 hex digits as written by the client. */
  readonly nc?: string;
  readonly cnonce?: string;
  /** Message body for qop=auth-int; absent means empty. */
  readonly body?: Uint8Array | string;
}

/** The expected `response` value (lower-case hex). */
export function computeResponse(input: ResponseInput): string {
  const h = hashOf(input.algorithm);
  const cnonce = input.cnonce ?? '';
  // RFC 7616 §3.4.2: for -sess, HA1 is re-keyed per client nonce.
  const ha1 = isSessAlgorithm(input.algorithm) ? hexDigest(h, `${input.ha1}:${input.nonce}:${cnonce}`) : input.ha1;
  const ha2 =
    input.qop === 'auth-int'
      ? hexDigest(h, `${input.method}:${input.uri}:${hexDigest(h, input.body ?? '')}`)
      : hexDigest(h, `${input.method}:${input.uri}`);
  if (input.qop === undefined) return hexDigest(h, `${ha1}:${input.nonce}:${ha2}`);
  return hexDigest(h, `${ha1}:${input.nonce}:${input.nc ?? ''}:${cnonce}:${input.qop}:${ha2}`);
}

export interface ChallengeOptions {
  readonly realm: string;
  readonly nonce: string;
  readonly opaque?: string;
  readonly stale?: boolean;
  /** MD5 is offered only when the policy allows it for this user or group. Default false. */
  readonly allowMd5?: boolean;
  /** Default ['auth']. */
  readonly qop?: readonly DigestQop[];
  /** Override of the offered algorithms; still filtered by allowMd5 and sorted strongest first. */
  readonly algorithms?: readonly DigestAlgorithm[];
}

const STRENGTH: Readonly<Record<DigestHash, number>> = { sha512_256: 3, sha256: 2, md5: 1 };

/**
 * One challenge value per offered algorithm, strongest first (RFC 8760 §2: the UAS lists challenges in its
 * order of preference and the UAC uses the topmost one it supports; RFC 7616 §3.7 shows SHA-256 before MD5). Each becomes its own
 * WWW-Authenticate (401) or Proxy-Authenticate (407) header field.
 */
export function buildChallenges(opts: ChallengeOptions): string[] {
  const wanted = opts.algorithms ?? (['SHA-512-256', 'SHA-256', 'MD5'] as const);
  const algs = wanted
    .filter((a) => opts.allowMd5 === true || hashOf(a) !== 'md5')
    .map((a, i) => ({ a, i }))
    .sort((x, y) => STRENGTH[hashOf(y.a)] - STRENGTH[hashOf(x.a)] || x.i - y.i)
    .map((x) => x.a);
  const qop = opts.qop ?? ['auth'];
  return algs.map((algorithm) =>
    formatDigestChallenge({
      realm: opts.realm,
      nonce: opts.nonce,
      algorithm,
      qop,
      ...(opts.opaque !== undefined ? { opaque: opts.opaque } : {}),
      ...(opts.stale === true ? { stale: true } : {}),
    }),
  );
}
