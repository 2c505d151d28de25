/**
 * Bearer tokens for the HTTPS admin API: JWTs (RFC 7519) signed with HS256 (RFC 7518 §3.2) under one shared
 * secret from the policy (`admin.https.tokens.key`). Claims: `sub` (who; becomes the audit actor), `role`
 * (viewer | operator | admin), `exp` (required: no eternal tokens), `iat`, `iss`, `aud`.
 *
 * Only HS256 is accepted: `alg: none` and every other algorithm are refused before the signature is looked at
 * (the classic JWT algorithm-confusion attacks). Verification never throws; it returns a coded reason.
 * The key and the token are never logged.
 */
import { errors, jwtVerify, SignJWT } from 'jose';
import { err, ok, type Result } from '../core/result.ts';
import { type AdminRole, isAdminRole } from './router.ts';

export const TOKEN_ALG = 'HS256';
/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output. */
export const TOKEN_KEY_MIN_BYTES = 32;
export const TOKEN_CLOCK_SKEW_SEC = 30;
/** A longer Authorization value is refused unparsed. */
export const MAX_TOKEN_CHARS = 4096;
/** `sub` must be printable as is in the audit log: the characters sanitizeActor keeps, 1–64 of them. */
const SUB_PATTERN = /^[A-Za-z0-9._@+:-]{1,64}$/;
export const MAX_TOKEN_TTL_SEC = 366 * 86_400;

export type TokenErrorCode =
  | 'TOKEN_MISSING'
  | 'TOKEN_MALFORMED'
  | 'TOKEN_BAD_ALG'
  | 'TOKEN_BAD_SIGNATURE'
  | 'TOKEN_EXPIRED'
  | 'TOKEN_CLAIMS'
  | 'TOKEN_KEY_TOO_SHORT';

export interface TokenError {
  readonly code: TokenErrorCode;
  /** Safe to send to the client: names the problem, never the key or token. */
  readonly message: string;
}

export interface TokenClaims {
  readonly sub: string;
  readonly role: AdminRole;
  /** Seconds since the epoch. */
  readonly exp: number;
}

export interface TokenSettings {
  readonly issuer: string;
  readonly audience: string;
}

/** The secret as key bytes (UTF-8), refused when shorter than 32 bytes. */
export function tokenKeyBytes(secret: string): Result<Uint8Array, TokenError> {
  const bytes = new TextEncoder().encode(secret);
  if (bytes.length < TOKEN_KEY_MIN_BYTES) {
    return err({ code: 'TOKEN_KEY_TOO_SHORT', message: `token key must be at least ${TOKEN_KEY_MIN_BYTES} bytes` });
  }
  return ok(bytes);
}

export function isValidTokenSubject(s: string): boolean {
  return SUB_PATTERN.test(s);
}

/** The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), or a coded reason. */
export function parseBearer(header: string | readonly string[] | undefined): Result<string, TokenError> {
  if (header === undefined) return err({ code: 'TOKEN_MISSING', message: 'bearer token required' });
  if (typeof header !== 'string') return err({ code: 'TOKEN_MALFORMED', message: 'one Authorization header expected' });
  if (header.length > MAX_TOKEN_CHARS + 7) return err({ code: 'TOKEN_MALFORMED', message: 'Authorization header too long' });
  const m = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header);
  if (m === null) return err({ code: 'TOKEN_MALFORMED', message: 'expected Authorization: Bearer <token>' });
  return ok(m[1] as string);
}

function classify(e: unknown): TokenError {
  if (e instanceof errors.JWTExpired) return { code: 'TOKEN_EXPIRED', message: 'token expired' };
  if (e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported) {
    return { code: 'TOKEN_BAD_ALG', message: `only ${TOKEN_ALG} tokens are accepted` };
  }
  if (e instanceof errors.JWSSignatureVerificationFailed) return { code: 'TOKEN_BAD_SIGNATURE', message: 'token signature invalid' };
  if (e instanceof errors.JWTClaimValidationFailed) {
    return { code: 'TOKEN_CLAIMS', message: `token claim ${JSON.stringify(e.claim)} ${e.reason === 'missing' ? 'missing' : 'invalid'}` };
  }
  return { code: 'TOKEN_MALFORMED', message: 'token malformed' };
}

/**
 * Checks signature, algorithm, `iss`, `aud`, `exp` (30 s skew; required), `nbf`/`iat` if present, and that
 * `sub` and `role` are well-formed. `nowWallMs` is wall-clock time (tokens expire in real time).
 */
export async function verifyAdminToken(
  token: string,
  key: Uint8Array,
  settings: TokenSettings,
  nowWallMs: number,
): Promise<Result<TokenClaims, TokenError>> {
  if (token.length > MAX_TOKEN_CHARS) return err({ code: 'TOKEN_MALFORMED', message: 'token too long' });
  let payload: Record<string, unknown>;
  try {
    const r = await jwtVerify(token, key, {
      algorithms: [TOKEN_ALG],
      issuer: settings.issuer,
      audience: settings.audience,
      clockTolerance: TOKEN_CLOCK_SKEW_SEC,
      requiredClaims: ['sub', 'role', 'exp'],
      currentDate: new Date(nowWallMs),
    });
    payload = r.payload;
  } catch (e) {
    return err(classify(e));
  }
  const { sub, role, exp } = payload;
  if (typeof sub !== 'string' || !isValidTokenSubject(sub)) {
    return err({ code: 'TOKEN_CLAIMS', message: 'token claim "sub" invalid' });
  }
  if (!isAdminRole(role)) return err({ code: 'TOKEN_CLAIMS', message: 'token claim "role" invalid' });
  if (typeof exp !== 'number') return err({ code: 'TOKEN_CLAIMS', message: 'token claim "exp" invalid' });
  return ok({ sub, role, exp });
}

export interface SignTokenOptions extends TokenSettings {
  readonly sub: string;
  readonly role: AdminRole;
  /** Lifetime in seconds, 1 … MAX_TOKEN_TTL_SEC. */
  readonly ttlSec: number;
  readonly nowWallMs: number;
}

/** Signs a token; throws RangeError on a bad sub or ttl (callers validate user input first). */
export async function signAdminToken(key: Uint8Array, opts: SignTokenOptions): Promise<string> {
  if (!isValidTokenSubject(opts.sub)) throw new RangeError('sub must be 1-64 characters of [A-Za-z0-9._@+:-]');
  if (!Number.isInteger(opts.ttlSec) || opts.ttlSec < 1 || opts.ttlSec > MAX_TOKEN_TTL_SEC) {
    throw new RangeError(`ttl must be 1 s to ${MAX_TOKEN_TTL_SEC} s`);
  }
  const iat = Math.floor(opts.nowWallMs / 1000);
  return new SignJWT({ role: opts.role })
    .setProtectedHeader({ alg: TOKEN_ALG, typ: 'JWT' })
    .setSubject(opts.sub)
    .setIssuer(opts.issuer)
    .setAudience(opts.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + opts.ttlSec)
    .sign(key);
}
