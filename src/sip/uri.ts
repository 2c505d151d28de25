/**
 * URI parser: SIP and SIPS URIs per RFC 3261 §19.1 / §25.1 (with IPv6 references, RFC 5118), tel: URIs
 * (RFC 3966, number and parameters), and any other absoluteURI kept opaque.
 */
import { isIPv6 } from 'node:net';
import type { Result } from '../core/result.ts';
import {
  allOfClass as allOfClass_,
  HNVCHAR as HNVCHAR_,
  HOSTCHAR as HOSTCHAR_,
  isDigit as isDigit_,
  PARAMCHAR as PARAMCHAR_,
  PASSWORD as PASSWORD_,
  SCHEME as SCHEME_,
  scanClass as scanClass_,
  URIC as URIC_,
  USER as USER_,
  unescapePct as unescapePct_,
} from './chars.ts';
import { fail as fail_ } from './errors.ts';
import { ParamMap as ParamMap_ } from './param-map.ts';
import type { SipParseError, SipUri } from './types.ts';

// Local copies of imported bindings: under the tsx loader an imported binding is read through a getter
// on every access, which costs about a quarter of the parse time on the hot path.
const ParamMap = ParamMap_;
const HNVCHAR = HNVCHAR_;
const HOSTCHAR = HOSTCHAR_;
const PARAMCHAR = PARAMCHAR_;
const PASSWORD = PASSWORD_;
const SCHEME = SCHEME_;
const URIC = URIC_;
const USER = USER_;
const allOfClass = allOfClass_;
const isDigit = isDigit_;
const scanClass = scanClass_;
const unescapePct = unescapePct_;
const fail = fail_;

export const EMPTY_PARAMS: ReadonlyMap<string, string | null> = new ParamMap<string | null>();
export const EMPTY_HEADERS: ReadonlyMap<string, string> = new ParamMap<string>();

const BAD = 'SIP_BAD_URI' as const;

/** Parses a URI as written (no surrounding whitespace, no angle brackets). Never throws. */
export function parseUri(s: string, maxLen: number): Result<SipUri, SipParseError> {
  if (s.length > maxLen) return fail('SIP_URI_TOO_LONG', `URI longer than ${maxLen} bytes`);
  const colon = s.indexOf(':');
  if (colon <= 0) return fail(BAD, 'URI has no scheme');
  const c0 = s.charCodeAt(0) | 0x20;
  if (c0 < 0x61 || c0 > 0x7a || !allOfClass(s, 0, colon, SCHEME)) return fail(BAD, 'bad URI scheme');
  const scheme = s.slice(0, colon).toLowerCase();
  if (scheme === 'sip' || scheme === 'sips') return parseSipUri(s, scheme, colon + 1);
  if (scheme === 'tel') return parseTelUri(s, colon + 1);
  if (colon + 1 >= s.length || !allOfClass(s, colon + 1, s.length, URIC)) return fail(BAD, 'bad absolute URI');
  return {
    ok: true,
    value: {
      scheme,
      user: undefined,
      password: undefined,
      host: '',
      port: undefined,
      params: EMPTY_PARAMS,
      headers: EMPTY_HEADERS,
      raw: s,
    },
  };
}

function parseSipUri(s: string, scheme: string, start: number): Result<SipUri, SipParseError> {
  const end = s.length;
  let user: string | undefined;
  let password: string | undefined;
  let i = start;
  // userinfo ends at the only unescaped "@": no later part of a SIP URI may contain one.
  const at = s.indexOf('@', start);
  if (at >= 0) {
    let userEnd = at;
    for (let k = start; k < at; k++) {
      if (s.charCodeAt(k) === 0x3a) {
        userEnd = k;
        break;
      }
    }
    if (!allOfClass(s, start, userEnd, USER)) return fail(BAD, 'bad user part');
    const u = unescapePct(s.slice(start, userEnd));
    if (u === undefined) return fail(BAD, 'bad escape in user part');
    user = u;
    if (userEnd < at) {
      if (scanClass(s, userEnd + 1, at, PASSWORD) !== at) return fail(BAD, 'bad password');
      const p = unescapePct(s.slice(userEnd + 1, at));
      if (p === undefined) return fail(BAD, 'bad escape in password');
      password = p;
    }
    i = at + 1;
  }
  // host
  let host: string;
  if (s.charCodeAt(i) === 0x5b) {
    const close = s.indexOf(']', i);
    if (close < 0) return fail(BAD, 'unterminated IPv6 reference');
    host = s.slice(i + 1, close);
    if (!isIPv6(host) || host.indexOf('%') >= 0) return fail(BAD, 'bad IPv6 reference');
    i = close + 1;
  } else {
    const h = scanClass(s, i, end, HOSTCHAR);
    if (h === i) return fail(BAD, 'missing host');
    host = s.slice(i, h);
    i = h;
  }
  let port: number | undefined;
  if (i < end && s.charCodeAt(i) === 0x3a) {
    const p0 = i + 1;
    let p = p0;
    let v = 0;
    while (p < end && isDigit(s.charCodeAt(p))) {
      v = v * 10 + (s.charCodeAt(p) - 0x30);
      p++;
      if (v > 65535) return fail(BAD, 'port out of range');
    }
    if (p === p0) return fail(BAD, 'bad port');
    port = v;
    i = p;
  }
  let params = EMPTY_PARAMS;
  if (i < end && s.charCodeAt(i) === 0x3b) {
    const m = new ParamMap<string | null>();
    while (i < end && s.charCodeAt(i) === 0x3b) {
      const n0 = i + 1;
      const n1 = scanClass(s, n0, end, PARAMCHAR);
      if (n1 === n0) return fail(BAD, 'empty URI parameter');
      const name = unescapePct(s.slice(n0, n1));
      if (name === undefined) return fail(BAD, 'bad escape in parameter');
      let value: string | null = null;
      i = n1;
      if (i < end && s.charCodeAt(i) === 0x3d) {
        const v0 = i + 1;
        const v1 = scanClass(s, v0, end, PARAMCHAR);
        if (v1 === v0) return fail(BAD, 'empty URI parameter value');
        const v = unescapePct(s.slice(v0, v1));
        if (v === undefined) return fail(BAD, 'bad escape in parameter');
        value = v;
        i = v1;
      }
      const lname = name.toLowerCase();
      m.add(lname, value);
    }
    params = m;
  }
  let headers = EMPTY_HEADERS;
  if (i < end && s.charCodeAt(i) === 0x3f) {
    const m = new ParamMap<string>();
    do {
      const n0 = i + 1;
      const n1 = scanClass(s, n0, end, HNVCHAR);
      if (n1 === n0 || n1 >= end || s.charCodeAt(n1) !== 0x3d) return fail(BAD, 'bad URI header');
      const v0 = n1 + 1;
      const v1 = scanClass(s, v0, end, HNVCHAR);
      const name = unescapePct(s.slice(n0, n1));
      const value = unescapePct(s.slice(v0, v1));
      if (name === undefined || value === undefined) return fail(BAD, 'bad escape in URI header');
      m.add(name, value);
      i = v1;
    } while (i < end && s.charCodeAt(i) === 0x26);
    headers = m;
  }
  if (i !== end) return fail(BAD, 'unexpected character in URI');
  return { ok: true, value: { scheme, user, password, host, port, params, headers, raw: s } };
}

/** tel: URIs (RFC 3966): the number is the user; parameters are kept, host is empty. */
function parseTelUri(s: string, start: number): Result<SipUri, SipParseError> {
  const semi = s.indexOf(';', start);
  const numEnd = semi < 0 ? s.length : semi;
  if (numEnd === start || !allOfClass(s, start, numEnd, PARAMCHAR)) return fail(BAD, 'bad telephone number');
  const number = unescapePct(s.slice(start, numEnd));
  if (number === undefined) return fail(BAD, 'bad escape in telephone number');
  let params = EMPTY_PARAMS;
  if (semi >= 0) {
    const m = new ParamMap<string | null>();
    for (const part of s.slice(semi + 1).split(';')) {
      const eq = part.indexOf('=');
      const name = eq < 0 ? part : part.slice(0, eq);
      if (name.length === 0 || !allOfClass(part, 0, part.length, PARAMCHAR)) {
        if (!(eq > 0 && allOfClass(name, 0, name.length, PARAMCHAR) && allOfClass(part, eq + 1, part.length, PARAMCHAR))) {
          return fail(BAD, 'bad tel parameter');
        }
      }
      const lname = name.toLowerCase();
      m.add(lname, eq < 0 ? null : part.slice(eq + 1));
    }
    params = m;
  }
  return {
    ok: true,
    value: { scheme: 'tel', user: number, password: undefined, host: '', port: undefined, params, headers: EMPTY_HEADERS, raw: s },
  };
}
