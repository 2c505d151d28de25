/**
 * The digest decision: Authorization header + stored credential → verdict. No I/O, no clock: `now` comes in,
 * the credential was looked up by the caller (or by `authenticate`, which only adds the lookup).
 *
 * Order of checks (cheapest and user-independent first):
 *   no header → challenge · malformed → fail · realm → fail · algorithm/qop policy → fail ·
 *   uri ≠ Request-URI → fail · opaque · nonce MAC (invalid → challenge) · response digest · user state ·
 *   stale nonce → challenge(stale) · nc replay → fail · ok
 *
 * Anti-enumeration (RFC 7616 §5, RFC 3261 §26): everything before the response digest is computed
 * the same way whether or not the user exists. For an unknown user, or a known one without an HA1 for the
 * requested hash, the response is computed against a dummy HA1 derived from the nonce secret, and compared
 * in constant time, so the work and the timing do not depend on whether the user exists. The verdicts
 * `unknown_user`, `bad_password` and `disabled` differ only for logging and metrics:
 * THE CALLER MUST ANSWER ALL THREE WITH THE IDENTICAL REPLY (same status, same headers, a fresh challenge),
 * and must not put the reason on the wire. (`algorithm_not_allowed` for a user that lacks the HA1 comes
 * after the same work; it tells only that an HA1 is missing.)
 * stale=true is given only when the response was right for the expired nonce (RFC 2617 §3.2.1: it says
 * the client knows the password), so it reveals nothing to someone who does not.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { assertNever } from '../core/assert-never.ts';
import type { Credential, CredentialSource } from './credentials.ts';
import {
  computeResponse,
  DIGEST_HEX_LENGTH,
  type DigestAlgorithm,
  type DigestHash,
  type DigestQop,
  hashOf,
  parseAlgorithm,
} from './digest.ts';
import { type DigestCredentials, parseDigestCredentials } from './digest-header.ts';
import { DEFAULT_NONCE_TTL_MS, type NonceCountTracker, nonceIssuedAt, verifyNonce } from './nonce.ts';

export type AuthFailReason =
  | 'bad_password'
  | 'unknown_user'
  | 'replay'
  | 'bad_uri'
  | 'bad_realm'
  | 'malformed'
  | 'algorithm_not_allowed'
  | 'disabled';

export type AuthVerdict =
  | { readonly kind: 'ok'; readonly user: string; readonly credential: Credential; readonly algorithm: DigestAlgorithm }
  | { readonly kind: 'challenge'; readonly stale: boolean }
  | { readonly kind: 'fail'; readonly reason: AuthFailReason; readonly user?: string };

export interface VerifyInput {
  readonly method: string;
  /** Request-URI exactly as in the request line. */
  readonly requestUri: string;
  /** Message body, for qop=auth-int. */
  readonly body?: Uint8Array | string;
  /** The Authorization / Proxy-Authorization value for our realm (raw or already parsed); undefined when absent. */
  readonly header: string | DigestCredentials | undefined;
  /** Lookup result for the header's username in `realm`; undefined when unknown. */
  readonly credential: Credential | undefined;
  readonly realm: string;
  /** Wall-clock ms (Clock.wallNow()). */
  readonly now: number;
  /** Client IP the nonce was bound to. */
  readonly source: string;
  /** Policy for this user or group; MD5 is refused unless true. */
  readonly allowMd5: boolean;
  /** Nonce secrets, current first (see nonce.ts). */
  readonly secrets: readonly Uint8Array[];
  /** Replay state; required for qop responses to be accepted. */
  readonly nonceCounts: NonceCountTracker;
  readonly nonceTtlMs?: number;
  /** The opaque value we send in challenges; when set, the credentials must echo it. */
  readonly opaque?: string;
  /** RFC 2069 responses (no qop, hence no nc and no replay protection). Default false. */
  readonly allowNoQop?: boolean;
  /** Request-URI vs digest-uri comparison; default exact string equality. */
  readonly uriMatches?: (digestUri: string, requestUri: string) => boolean;
}

const fail = (reason: AuthFailReason, user?: string): AuthVerdict =>
  user === undefined ? { kind: 'fail', reason } : { kind: 'fail', reason, user };

/** Dummy HA1 per (secret, hash): same length and cost as a real one, unknown to anyone without the secret. */
const dummyCache = new WeakMap<Uint8Array, Map<DigestHash, string>>();
function dummyHa1(secret: Uint8Array | undefined, hash: DigestHash): string {
  const key = secret ?? EMPTY_SECRET;
  let m = dummyCache.get(key);
  if (m === undefined) {
    m = new Map();
    dummyCache.set(key, m);
  }
  let v = m.get(hash);
  if (v === undefined) {
    v = createHmac('sha512', key).update(`palisade dummy HA1 ${hash}`).digest('hex').slice(0, DIGEST_HEX_LENGTH[hash]);
    m.set(hash, v);
  }
  return v;
}
const EMPTY_SECRET = new Uint8Array(32);

/** Constant-time equality of two lower-case hex strings; different lengths still cost one comparison. */
function hexEquals(expected: string, got: string): boolean {
  const a = Buffer.from(expected, 'latin1');
  const b = Buffer.alloc(a.length);
  b.write(got.slice(0, a.length), 'latin1');
  return timingSafeEqual(a, b) && got.length === expected.length;
}

export function verifyAuthorization(input: VerifyInput): AuthVerdict {
  if (input.header === undefined) return { kind: 'challenge', stale: false };
  let cred: DigestCredentials;
  if (typeof input.header === 'string') {
    const parsed = parseDigestCredentials(input.header);
    if (!parsed.ok) return fail('malformed');
    cred = parsed.value;
  } else {
    cred = input.header;
  }
  if (cred.realm !== input.realm) return fail('bad_realm');
  // RFC 7616 §3.4.4 userhash is not offered (RFC 8760 SIP use keeps the username in the clear).
  if (cred.userhash === true) return fail('malformed');
  const algorithm = parseAlgorithm(cred.algorithm);
  if (algorithm === undefined) return fail('algorithm_not_allowed');
  const hash = hashOf(algorithm);
  // Whether MD5 is allowed depends on the user looked up, so it is judged only after the digest work below:
  // returning early here made an MD5 answer for an unknown user measurably faster than for a known one.
  const md5Refused = hash === 'md5' && !input.allowMd5;
  if (cred.response.length !== DIGEST_HEX_LENGTH[hash]) return fail('malformed');
  let qop: DigestQop | undefined;
  if (cred.qop === undefined) {
    // RFC 2069: no nc, so no replay protection; refused unless the policy says otherwise.
    if (input.allowNoQop !== true) return fail('algorithm_not_allowed');
    qop = undefined;
  } else {
    const q = cred.qop.toLowerCase();
    if (q !== 'auth' && q !== 'auth-int') return fail('malformed');
    qop = q;
  }
  const uriOk = input.uriMatches ? input.uriMatches(cred.uri, input.requestUri) : cred.uri === input.requestUri;
  // RFC 7616 §3.4.6 / RFC 2617 §3.2.2.5: the digest-uri must name the resource of the request line.
  if (!uriOk) return fail('bad_uri');
  if (input.opaque !== undefined && cred.opaque !== input.opaque) return fail('malformed');

  const nonceStatus = verifyNonce(cred.nonce, {
    secrets: input.secrets,
    realm: input.realm,
    source: input.source,
    nowMs: input.now,
    ttlMs: input.nonceTtlMs ?? DEFAULT_NONCE_TTL_MS,
  });
  // Not our nonce (forged, other realm or other source): a fresh challenge, no user-dependent work done.
  if (nonceStatus === 'invalid') return { kind: 'challenge', stale: false };

  const credential =
    input.credential !== undefined && input.credential.user === cred.username && input.credential.realm === input.realm
      ? input.credential
      : undefined;
  const storedHa1 = credential?.ha1[hash];
  // Computed on both paths, so a cache miss costs known and unknown users the same.
  const dummy = dummyHa1(input.secrets[0], hash);
  const ha1 = storedHa1 ?? dummy;
  const expected = computeResponse({
    algorithm,
    ha1,
    nonce: cred.nonce,
    method: input.method,
    uri: cred.uri,
    ...(qop !== undefined ? { qop, nc: cred.nc ?? '', cnonce: cred.cnonce ?? '' } : {}),
    ...(input.body !== undefined ? { body: input.body } : {}),
  });
  const match = hexEquals(expected, cred.response);
  if (credential === undefined) return fail('unknown_user');
  if (md5Refused) return fail('algorithm_not_allowed', credential.user);
  if (storedHa1 === undefined) return fail('algorithm_not_allowed', credential.user);
  if (!match) return fail('bad_password', credential.user);
  if (credential.disabled) return fail('disabled', credential.user);
  if (nonceStatus === 'stale') return { kind: 'challenge', stale: true };
  if (qop !== undefined) {
    const issuedAt = nonceIssuedAt(cred.nonce) ?? 0;
    const nc = input.nonceCounts.check(cred.nonce, issuedAt, cred.ncValue ?? 0);
    if (nc === 'replay') return fail('replay', credential.user);
    if (nc === 'stale') return { kind: 'challenge', stale: true };
  }
  return { kind: 'ok', user: credential.user, credential, algorithm };
}

/**
 * What goes on the wire for a verdict. The identical reply for `unknown_user`, `bad_password`, `disabled`,
 * `algorithm_not_allowed`, `replay` and `bad_realm`: a fresh challenge (401 with WWW-Authenticate for
 * REGISTER, 407 with Proxy-Authenticate otherwise), stale=false — so the wire never tells which one it was.
 * Syntax problems get 400 (RFC 2617 §3.2.2.5 for a digest-uri that names another resource).
 */
export type AuthReply =
  | { readonly kind: 'accept' }
  | { readonly kind: 'challenge'; readonly stale: boolean }
  | { readonly kind: 'reject'; readonly status: 400 };

export function replyFor(v: AuthVerdict): AuthReply {
  switch (v.kind) {
    case 'ok':
      return { kind: 'accept' };
    case 'challenge':
      return { kind: 'challenge', stale: v.stale };
    case 'fail':
      switch (v.reason) {
        case 'malformed':
        case 'bad_uri':
          return { kind: 'reject', status: 400 };
        case 'unknown_user':
        case 'bad_password':
        case 'disabled':
        case 'algorithm_not_allowed':
        case 'replay':
        case 'bad_realm':
          return { kind: 'challenge', stale: false };
        default:
          return assertNever(v.reason, 'auth fail reason');
      }
    default:
      return assertNever(v, 'auth verdict');
  }
}

/** Finds the credentials for `realm` among several Authorization values (one per realm, RFC 3261 §22.3). */
export function selectCredentials(values: readonly string[], realm: string): string | DigestCredentials | undefined {
  let firstMalformed: string | undefined;
  for (const v of values) {
    const p = parseDigestCredentials(v);
    if (p.ok && p.value.realm === realm) return p.value;
    if (!p.ok && firstMalformed === undefined) firstMalformed = v;
  }
  return firstMalformed;
}

export type AuthenticateInput = Omit<VerifyInput, 'credential' | 'header'> & { readonly header: string | undefined };

/** parse → lookup → verify. The lookup runs for every well-formed header, so its cost does not reveal users. */
export async function authenticate(source: CredentialSource, input: AuthenticateInput): Promise<AuthVerdict> {
  if (input.header === undefined) return verifyAuthorization({ ...input, header: undefined, credential: undefined });
  const parsed = parseDigestCredentials(input.header);
  if (!parsed.ok) return fail('malformed');
  const algorithm = parseAlgorithm(parsed.value.algorithm);
  const credential = algorithm === undefined ? undefined : await source.lookup(parsed.value.username, input.realm, algorithm);
  return verifyAuthorization({ ...input, header: parsed.value, credential });
}
