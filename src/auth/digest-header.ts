/**
 * Digest `Authorization` / `Proxy-Authorization` values: a bounded parser that never throws, and the
 * formatter of `WWW-Authenticate` / `Proxy-Authenticate` challenges.
 *
 * Grammar (RFC 3261 §25.1, RFC 7616 §3.4, RFC 8760 §2):
 *   credentials    = "Digest" LWS dig-resp *(COMMA dig-resp)
 *   dig-resp       = auth-param-name EQUAL ( token / quoted-string )
 *   COMMA          = SWS "," SWS           EQUAL = SWS "=" SWS
 *   quoted-string  = DQUOTE *(qdtext / quoted-pair) DQUOTE
 *   quoted-pair    = "\" (%x00-09 / %x0B-0C / %x0E-7F)
 * Parameter names are case-insensitive; a parameter given twice is refused (an attacker's way to make two
 * components of a chain see different values).
 */
import { err, ok, type Result } from '../core/result.ts';

/** A credentials header is a few hundred bytes; anything past this is an attack on the parser. */
export const MAX_AUTH_HEADER_LENGTH = 4096;
/** Digest defines 10 parameters; a few extensions on top. */
export const MAX_AUTH_PARAMS = 24;

export type DigestHeaderErrorCode =
  | 'AUTH_EMPTY'
  | 'AUTH_TOO_LONG'
  | 'AUTH_NOT_DIGEST'
  | 'AUTH_BAD_SYNTAX'
  | 'AUTH_DUPLICATE_PARAM'
  | 'AUTH_TOO_MANY_PARAMS'
  | 'AUTH_MISSING_PARAM'
  | 'AUTH_BAD_VALUE';

export interface DigestHeaderError {
  readonly code: DigestHeaderErrorCode;
  /** Offending parameter name (lower case), when there is one. Never the value: it may be a secret. */
  readonly param?: string;
  /** Character offset of a syntax error. */
  readonly offset?: number;
}

export interface AuthParam {
  /** Unescaped value. */
  readonly value: string;
  readonly quoted: boolean;
}

export interface ParsedAuthParams {
  /** Scheme as written (`Digest`). */
  readonly scheme: string;
  /** Lower-case name → value, in header order. */
  readonly params: ReadonlyMap<string, AuthParam>;
}

/** The fields of a digest response this module uses; values unescaped, `algorithm` and `qop` as written. */
export interface DigestCredentials {
  readonly username: string;
  readonly realm: string;
  readonly nonce: string;
  readonly uri: string;
  /** Lower-cased hex. */
  readonly response: string;
  readonly algorithm?: string;
  readonly cnonce?: string;
  readonly opaque?: string;
  readonly qop?: string;
  /** The 8 hex digits as written. */
  readonly nc?: string;
  /** nc as a number (1 … 2^32−1). */
  readonly ncValue?: number;
  readonly userhash?: boolean;
  readonly params: ReadonlyMap<string, AuthParam>;
}

// Character codes used by the scanner.
const Ch = {
  Tab: 0x09,
  Lf: 0x0a,
  Cr: 0x0d,
  Space: 0x20,
  Quote: 0x22,
  Comma: 0x2c,
  Equal: 0x3d,
  Backslash: 0x5c,
} as const;

/** RFC 3261 §25.1 token characters. */
function isTokenChar(c: number): boolean {
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) return true;
  // - . ! % * _ + ` ' ~
  return (
    c === 0x2d || c === 0x2e || c === 0x21 || c === 0x25 || c === 0x2a || c === 0x5f || c === 0x2b || c === 0x60 || c === 0x27 || c === 0x7e
  );
}

function isWs(c: number): boolean {
  // LWS after unfolding may still hold CR LF if the caller did not unfold; both are accepted as SWS.
  return c === Ch.Space || c === Ch.Tab || c === Ch.Cr || c === Ch.Lf;
}

function skipWs(s: string, i: number): number {
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  return i;
}

function readToken(s: string, i: number): number {
  while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
  return i;
}

/** Parses `Scheme name=value, name="value", …`. Never throws. */
export function parseAuthParams(input: unknown): Result<ParsedAuthParams, DigestHeaderError> {
  if (typeof input !== 'string') return err({ code: 'AUTH_EMPTY' });
  const s = input;
  if (s.length > MAX_AUTH_HEADER_LENGTH) return err({ code: 'AUTH_TOO_LONG' });
  let i = skipWs(s, 0);
  if (i >= s.length) return err({ code: 'AUTH_EMPTY' });
  const schemeEnd = readToken(s, i);
  if (schemeEnd === i) return err({ code: 'AUTH_BAD_SYNTAX', offset: i });
  const scheme = s.slice(i, schemeEnd);
  i = schemeEnd;
  const params = new Map<string, AuthParam>();
  if (skipWs(s, i) >= s.length) return ok({ scheme, params });
  if (!isWs(s.charCodeAt(i))) return err({ code: 'AUTH_BAD_SYNTAX', offset: i });
  i = skipWs(s, i);
  for (;;) {
    const nameStart = i;
    const nameEnd = readToken(s, i);
    if (nameEnd === nameStart) return err({ code: 'AUTH_BAD_SYNTAX', offset: i });
    const name = s.slice(nameStart, nameEnd).toLowerCase();
    i = skipWs(s, nameEnd);
    if (s.charCodeAt(i) !== Ch.Equal) return err({ code: 'AUTH_BAD_SYNTAX', offset: i, param: name });
    i = skipWs(s, i + 1);
    let value: string;
    let quoted = false;
    if (s.charCodeAt(i) === Ch.Quote) {
      quoted = true;
      i++;
      // Copy runs of plain characters with one slice; only quoted-pairs break a run.
      let out = '';
      let runStart = i;
      let closed = false;
      while (i < s.length) {
        const c = s.charCodeAt(i);
        if (c === Ch.Quote) {
          out += s.slice(runStart, i);
          closed = true;
          i++;
          break;
        }
        if (c === Ch.Backslash) {
          const n = s.charCodeAt(i + 1);
          // quoted-pair excludes CR and LF; a dangling backslash at the end is unterminated.
          if (Number.isNaN(n) || n === Ch.Cr || n === Ch.Lf || n > 0x7f) return err({ code: 'AUTH_BAD_SYNTAX', offset: i, param: name });
          out += s.slice(runStart, i) + s[i + 1];
          i += 2;
          runStart = i;
          continue;
        }
        // qdtext: LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII; other controls are refused.
        if ((c < 0x20 && c !== Ch.Tab && c !== Ch.Cr && c !== Ch.Lf) || c === 0x7f)
          return err({ code: 'AUTH_BAD_SYNTAX', offset: i, param: name });
        i++;
      }
      if (!closed) return err({ code: 'AUTH_BAD_SYNTAX', offset: i, param: name });
      value = out;
    } else {
      const end = readToken(s, i);
      if (end === i) return err({ code: 'AUTH_BAD_SYNTAX', offset: i, param: name });
      value = s.slice(i, end);
      i = end;
    }
    if (params.has(name)) return err({ code: 'AUTH_DUPLICATE_PARAM', param: name });
    if (params.size >= MAX_AUTH_PARAMS) return err({ code: 'AUTH_TOO_MANY_PARAMS' });
    params.set(name, { value, quoted });
    i = skipWs(s, i);
    if (i >= s.length) break;
    if (s.charCodeAt(i) !== Ch.Comma) return err({ code: 'AUTH_BAD_SYNTAX', offset: i });
    i = skipWs(s, i + 1);
    if (i >= s.length) return err({ code: 'AUTH_BAD_SYNTAX', offset: i });
  }
  return ok({ scheme, params });
}

const HEX_RE = /^[0-9a-fA-F]+$/;
const NC_RE = /^[0-9a-fA-F]{8}$/;
const REQUIRED = ['username', 'realm', 'nonce', 'uri', 'response'] as const;

/**
 * Parses a `Digest` credentials value (RFC 3261 §22.4, RFC 7616 §3.4). Checks shape only: that the
 * required parameters are there (username, realm, nonce, uri, response), that `nc` is 8 hex digits, that
 * `response` is hex, and that `qop` comes with `cnonce` and `nc` (RFC 7616 §3.4). Never throws.
 */
export function parseDigestCredentials(input: unknown): Result<DigestCredentials, DigestHeaderError> {
  const r = parseAuthParams(input);
  if (!r.ok) return r;
  const { scheme, params } = r.value;
  if (scheme.toLowerCase() !== 'digest') return err({ code: 'AUTH_NOT_DIGEST' });
  for (const name of REQUIRED) {
    if (!params.has(name)) return err({ code: 'AUTH_MISSING_PARAM', param: name });
  }
  const get = (n: string): string | undefined => params.get(n)?.value;
  const response = get('response') ?? '';
  // MD5 → 32 hex digits, SHA-256 and SHA-512/256 → 64; the verifier checks the length for the algorithm.
  if (!HEX_RE.test(response) || response.length > 128) return err({ code: 'AUTH_BAD_VALUE', param: 'response' });
  const qop = get('qop');
  const nc = get('nc');
  const cnonce = get('cnonce');
  let ncValue: number | undefined;
  if (nc !== undefined) {
    if (!NC_RE.test(nc)) return err({ code: 'AUTH_BAD_VALUE', param: 'nc' });
    ncValue = Number.parseInt(nc, 16);
    if (ncValue === 0) return err({ code: 'AUTH_BAD_VALUE', param: 'nc' });
  }
  if (qop !== undefined) {
    if (qop === '') return err({ code: 'AUTH_BAD_VALUE', param: 'qop' });
    if (cnonce === undefined) return err({ code: 'AUTH_MISSING_PARAM', param: 'cnonce' });
    if (nc === undefined) return err({ code: 'AUTH_MISSING_PARAM', param: 'nc' });
  }
  let userhash: boolean | undefined;
  const uh = get('userhash');
  if (uh !== undefined) {
    const l = uh.toLowerCase();
    if (l !== 'true' && l !== 'false') return err({ code: 'AUTH_BAD_VALUE', param: 'userhash' });
    userhash = l === 'true';
  }
  const username = get('username') ?? '';
  if (username === '') return err({ code: 'AUTH_BAD_VALUE', param: 'username' });
  const algorithm = get('algorithm');
  const opaque = get('opaque');
  return ok({
    username,
    realm: get('realm') ?? '',
    nonce: get('nonce') ?? '',
    uri: get('uri') ?? '',
    response: response.toLowerCase(),
    ...(algorithm !== undefined ? { algorithm } : {}),
    ...(cnonce !== undefined ? { cnonce } : {}),
    ...(opaque !== undefined ? { opaque } : {}),
    ...(qop !== undefined ? { qop } : {}),
    ...(nc !== undefined ? { nc } : {}),
    ...(ncValue !== undefined ? { ncValue } : {}),
    ...(userhash !== undefined ? { userhash } : {}),
    params,
  });
}

export interface DigestChallenge {
  readonly realm: string;
  readonly nonce: string;
  /** Written as a token (RFC 3261 §25.1 `algorithm = "algorithm" EQUAL ( "MD5" / "MD5-sess" / token )`). */
  readonly algorithm: string;
  /** qop-options, written as one quoted list (`qop="auth,auth-int"`); omitted when empty. */
  readonly qop?: readonly string[];
  readonly opaque?: string;
  readonly stale?: boolean;
  /** Space-separated URIs (RFC 3261 §25.1 `domain`). */
  readonly domain?: readonly string[];
}

/** Thrown by the formatter only: a challenge value is built from our own configuration, never from the wire. */
export class ChallengeFormatError extends Error {
  readonly code = 'AUTH_BAD_CHALLENGE';
}

/** quoted-string with `"` and `\` escaped; control characters cannot be represented and are refused. */
export function quoteString(value: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== Ch.Tab) || c === 0x7f) throw new ChallengeFormatError('control character in a challenge value');
    if (c === Ch.Quote || c === Ch.Backslash) out += '\\';
    out += value[i];
  }
  return `${out}"`;
}

function assertToken(value: string): string {
  if (value === '' || readToken(value, 0) !== value.length) throw new ChallengeFormatError('challenge token is not a token');
  return value;
}

/**
 * `Digest realm="…", nonce="…", algorithm=SHA-256, qop="auth", opaque="…"[, stale=true]` — one
 * WWW-Authenticate / Proxy-Authenticate value (RFC 3261 §22.1, RFC 7616 §3.3).
 */
export function formatDigestChallenge(ch: DigestChallenge): string {
  const parts = [`realm=${quoteString(ch.realm)}`];
  if (ch.domain !== undefined && ch.domain.length > 0) parts.push(`domain=${quoteString(ch.domain.join(' '))}`);
  parts.push(`nonce=${quoteString(ch.nonce)}`);
  parts.push(`algorithm=${assertToken(ch.algorithm)}`);
  if (ch.qop !== undefined && ch.qop.length > 0) parts.push(`qop=${quoteString(ch.qop.map(assertToken).join(','))}`);
  if (ch.opaque !== undefined) parts.push(`opaque=${quoteString(ch.opaque)}`);
  if (ch.stale === true) parts.push('stale=true');
  return `Digest ${parts.join(', ')}`;
}
