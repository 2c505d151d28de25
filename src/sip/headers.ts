/**
 * Structured header values (RFC 3261 §20, ABNF of §25.1): Via, name-addr / addr-spec (From, To, Contact,
 * Route, Record-Route), CSeq, and comma-list splitting that respects quoted strings and <>.
 * Inputs are header values after unfolding; SWS/LWS around separators is allowed wherever the ABNF allows it.
 */

import { isIPv6 } from 'node:net';
import type { ErrorCode } from '../core/errors.ts';
import type { Err, Result } from '../core/result.ts';
import {
  BSLASH as BSLASH_,
  DQUOTE as DQUOTE_,
  GENVALUE as GENVALUE_,
  HOSTCHAR as HOSTCHAR_,
  isDigit as isDigit_,
  isWs as isWs_,
  scanClass as scanClass_,
  skipWs as skipWs_,
  TOKEN as TOKEN_,
} from './chars.ts';
import { fail as fail_ } from './errors.ts';
import { ParamMap as ParamMap_ } from './param-map.ts';
import type { Contact, CSeq, NameAddr, SipParseError, SipUri, Via } from './types.ts';
import { EMPTY_HEADERS as EMPTY_HEADERS_, EMPTY_PARAMS as EMPTY_PARAMS_, parseUri as parseUri_ } from './uri.ts';

// Local copies of imported bindings: under the tsx loader an imported binding is read through a getter
// on every access, which costs about a quarter of the parse time on the hot path.
const ParamMap = ParamMap_;
const BSLASH = BSLASH_;
const DQUOTE = DQUOTE_;
const GENVALUE = GENVALUE_;
const HOSTCHAR = HOSTCHAR_;
const TOKEN = TOKEN_;
const isDigit = isDigit_;
const isWs = isWs_;
const scanClass = scanClass_;
const skipWs = skipWs_;
const fail = fail_;
const EMPTY_HEADERS = EMPTY_HEADERS_;
const EMPTY_PARAMS = EMPTY_PARAMS_;
const parseUri = parseUri_;

/** Largest CSeq sequence number: RFC 3261 §8.1.1.5 requires it to be less than 2**31. */
export const MAX_CSEQ = 0x7fffffff;
const MAX_DELTA_SECONDS = 0xffffffff;

/** Position after a quoted-string starting at i (s[i] === '"'), or -1 when unterminated or invalid. */
export function skipQuoted(s: string, i: number, end: number): number {
  i++;
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c === DQUOTE) return i + 1;
    if (c === BSLASH) {
      // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
      const n = s.charCodeAt(i + 1);
      if (i + 1 >= end || n === 0x0a || n === 0x0d || n > 0x7f) return -1;
      i += 2;
      continue;
    }
    // qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
    if (c < 0x20 && c !== 0x09) return -1;
    if (c === 0x7f) return -1;
    i++;
  }
  return -1;
}

function unquote(s: string, start: number, end: number): string {
  let out = '';
  for (let i = start + 1; i < end - 1; i++) {
    const c = s.charCodeAt(i);
    if (c === BSLASH) i++;
    out += s[i];
  }
  return out;
}

/**
 * Splits a comma-separated header value into its elements, respecting quoted strings and <...>, and trims
 * each element. Empty elements are dropped.
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  const end = value.length;
  let start = 0;
  let i = 0;
  let angle = false;
  while (i < end) {
    const c = value.charCodeAt(i);
    if (c === DQUOTE && !angle) {
      const q = skipQuoted(value, i, end);
      i = q < 0 ? end : q;
      continue;
    }
    if (c === 0x3c) angle = true;
    else if (c === 0x3e) angle = false;
    else if (c === 0x2c && !angle) {
      const item = value.slice(start, i).trim();
      if (item.length > 0) out.push(item);
      start = i + 1;
    }
    i++;
  }
  const last = value.slice(start).trim();
  if (last.length > 0) out.push(last);
  return out;
}

/**
 * The element parsers below return their value (or ERR) and leave the index after it in `cursor`; on ERR the
 * error is in `lastError`. Module state instead of a {value, next} object per step keeps the parse path free of
 * short-lived allocations; none of these functions re-enters another parse.
 */
const ERR: unique symbol = Symbol('sip-parse-error');
type Step<T> = T | typeof ERR;
let cursor = 0;
let hostPortPort: number | undefined;
let lastError: Err<SipParseError> = fail('SIP_BAD_VALUE', 'no error');

function bad(code: ErrorCode, reason: string): typeof ERR {
  lastError = fail(code, reason);
  return ERR;
}

/**
 * generic-param list: *( SEMI token [ EQUAL ( token / host / quoted-string ) ] ), starting at i (which may be
 * whitespace). Stops at end or at a comma (the caller decides what a comma means).
 */
function parseParams(
  s: string,
  i: number,
  end: number,
  code: 'SIP_BAD_VIA' | 'SIP_BAD_NAME_ADDR',
): Step<ParamMap_<string | null> | undefined> {
  let params: ParamMap_<string | null> | undefined;
  for (;;) {
    i = skipWs(s, i, end);
    if (i >= end || s.charCodeAt(i) !== 0x3b) {
      cursor = i;
      return params;
    }
    i = skipWs(s, i + 1, end);
    const n1 = scanClass(s, i, end, TOKEN);
    if (n1 === i) return bad(code, 'empty parameter');
    const name = s.slice(i, n1).toLowerCase();
    i = skipWs(s, n1, end);
    let value: string | null = null;
    if (i < end && s.charCodeAt(i) === 0x3d) {
      i = skipWs(s, i + 1, end);
      if (i < end && s.charCodeAt(i) === DQUOTE) {
        const q = skipQuoted(s, i, end);
        if (q < 0) return bad(code, 'unterminated quoted parameter');
        value = s.slice(i, q);
        i = q;
      } else {
        const v1 = scanClass(s, i, end, GENVALUE);
        if (v1 === i) return bad(code, 'empty parameter value');
        value = s.slice(i, v1);
        i = v1;
      }
    }
    if (params === undefined) params = new ParamMap<string | null>();
    params.add(name, value);
  }
}

/** host [":" port] with IPv6 references; returns host without brackets. */
function parseHostPort(s: string, i: number, end: number): Step<string> {
  let host: string;
  if (s.charCodeAt(i) === 0x5b) {
    const close = s.indexOf(']', i);
    if (close < 0 || close >= end) return bad('SIP_BAD_VIA', 'unterminated IPv6 reference');
    host = s.slice(i + 1, close);
    if (!isIPv6(host) || host.indexOf('%') >= 0) return bad('SIP_BAD_VIA', 'bad IPv6 reference');
    i = close + 1;
  } else {
    const h = scanClass(s, i, end, HOSTCHAR);
    if (h === i) return bad('SIP_BAD_VIA', 'missing sent-by host');
    host = s.slice(i, h);
    i = h;
  }
  let port: number | undefined;
  const j = skipWs(s, i, end);
  if (j < end && s.charCodeAt(j) === 0x3a) {
    let p = skipWs(s, j + 1, end);
    const p0 = p;
    let v = 0;
    while (p < end && isDigit(s.charCodeAt(p))) {
      v = v * 10 + (s.charCodeAt(p) - 0x30);
      if (v > 65535) return bad('SIP_BAD_VIA', 'port out of range');
      p++;
    }
    if (p === p0) return bad('SIP_BAD_VIA', 'bad port');
    port = v;
    i = p;
  }
  cursor = i;
  hostPortPort = port;
  return host;
}

/** One via-parm starting at i. */
function parseViaParm(s: string, i: number, end: number): Step<Via> {
  const start = i;
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport; SLASH = SWS "/" SWS
  const a1 = scanClass(s, i, end, TOKEN);
  if (a1 === i) return bad('SIP_BAD_VIA', 'missing protocol name');
  let j = skipWs(s, a1, end);
  if (s.charCodeAt(j) !== 0x2f) return bad('SIP_BAD_VIA', 'bad sent-protocol');
  j = skipWs(s, j + 1, end);
  const b1 = scanClass(s, j, end, TOKEN);
  if (b1 === j) return bad('SIP_BAD_VIA', 'missing protocol version');
  const name = s.slice(i, a1);
  const version = s.slice(j, b1);
  j = skipWs(s, b1, end);
  if (s.charCodeAt(j) !== 0x2f) return bad('SIP_BAD_VIA', 'bad sent-protocol');
  j = skipWs(s, j + 1, end);
  const t1 = scanClass(s, j, end, TOKEN);
  if (t1 === j) return bad('SIP_BAD_VIA', 'missing transport');
  if (name.toUpperCase() !== 'SIP' || version !== '2.0') return bad('SIP_BAD_VIA', 'Via protocol is not SIP/2.0');
  const transport = s.slice(j, t1).toUpperCase();
  // LWS sent-by
  const h0 = skipWs(s, t1, end);
  if (h0 === t1) return bad('SIP_BAD_VIA', 'missing sent-by');
  const host = parseHostPort(s, h0, end);
  if (host === ERR) return ERR;
  const port = hostPortPort;
  const pr = parseParams(s, cursor, end, 'SIP_BAD_VIA');
  if (pr === ERR) return ERR;
  const params = pr ?? EMPTY_PARAMS;
  const b = params.get('branch');
  if (b === null) return bad('SIP_BAD_VIA', 'branch without value');
  const via: Via = {
    protocol: 'SIP/2.0',
    transport,
    host,
    port,
    params,
    branch: b,
    raw: s.slice(start, cursor),
  };
  return via;
}

/** All via-parms of one Via header value, appended to out. */
export function parseViaValue(s: string, out: Via[]): Result<void, SipParseError> {
  const end = s.length;
  let i = skipWs(s, 0, end);
  for (;;) {
    const r = parseViaParm(s, i, end);
    if (r === ERR) return lastError;
    out.push(r);
    i = skipWs(s, cursor, end);
    if (i >= end) return { ok: true, value: undefined };
    if (s.charCodeAt(i) !== 0x2c) return fail('SIP_BAD_VIA', 'unexpected character in Via');
    i = skipWs(s, i + 1, end);
  }
}

/** Parses a single Via element (for callers that build one). */
export function parseVia(s: string): Result<Via, SipParseError> {
  const out: Via[] = [];
  const r = parseViaValue(s, out);
  if (!r.ok) return r;
  if (out.length !== 1) return fail('SIP_BAD_VIA', 'expected exactly one Via value');
  return { ok: true, value: out[0] as Via };
}

/**
 * One ( name-addr / addr-spec ) *( SEMI generic-param ) element at i; stops at end or before a comma.
 * In addr-spec form the URI ends at the first ";", "," or whitespace, and may not contain "?" or ","
 * (RFC 3261 §20.10: such URIs must be enclosed in <>).
 */
function parseNameAddrAt(s: string, i: number, end: number, maxUri: number, allowStar: boolean): Step<Contact> {
  const start = i;
  const BADNA = 'SIP_BAD_NAME_ADDR' as const;
  if (allowStar && s.charCodeAt(i) === 0x2a) {
    const j = skipWs(s, i + 1, end);
    if (j === end) {
      const star: Contact = {
        displayName: undefined,
        uri: STAR_URI,
        params: EMPTY_PARAMS,
        tag: undefined,
        raw: '*',
        star: true,
        expires: undefined,
      };
      cursor = j;
      return star;
    }
  }
  let displayName: string | undefined;
  let uriStart: number;
  let uriEnd: number;
  let j = i;
  const c = s.charCodeAt(i);
  if (c === DQUOTE) {
    const q = skipQuoted(s, i, end);
    if (q < 0) return bad(BADNA, 'unterminated quoted display name');
    displayName = unquote(s, i, q);
    j = skipWs(s, q, end);
    if (s.charCodeAt(j) !== 0x3c) return bad(BADNA, 'expected < after display name');
  } else if (c !== 0x3c) {
    // Either *(token LWS) "<" or an addr-spec. Look for "<" after a run of tokens and whitespace.
    let k = i;
    let lastTokEnd = i;
    while (k < end) {
      const t = scanClass(s, k, end, TOKEN);
      if (t === k) break;
      lastTokEnd = t;
      k = skipWs(s, t, end);
    }
    if (k < end && s.charCodeAt(k) === 0x3c && lastTokEnd > i) {
      displayName = s.slice(i, lastTokEnd);
      j = k;
    } else {
      // addr-spec
      uriStart = i;
      let e = i;
      while (e < end) {
        const ch = s.charCodeAt(e);
        if (ch === 0x3b || ch === 0x2c || isWs(ch)) break;
        if (ch === 0x3f || ch === 0x3c || ch === 0x3e || ch === DQUOTE) return bad(BADNA, 'URI with "?" or <> must be enclosed in <>');
        e++;
      }
      uriEnd = e;
      return finishNameAddr(s, start, uriStart, uriEnd, e, end, undefined, maxUri);
    }
  }
  // at "<"
  uriStart = j + 1;
  const close = s.indexOf('>', uriStart);
  if (close < 0 || close >= end) return bad(BADNA, 'missing >');
  uriEnd = close;
  for (let k = uriStart; k < uriEnd; k++) {
    const ch = s.charCodeAt(k);
    if (ch <= 0x20 || ch === 0x3c || ch === DQUOTE) return bad(BADNA, 'whitespace or < inside <URI>');
  }
  return finishNameAddr(s, start, uriStart, uriEnd, close + 1, end, displayName, maxUri);
}

const STAR_URI: SipUri = {
  scheme: '*',
  user: undefined,
  password: undefined,
  host: '',
  port: undefined,
  params: EMPTY_PARAMS,
  headers: EMPTY_HEADERS,
  raw: '*',
};

function finishNameAddr(
  s: string,
  start: number,
  uriStart: number,
  uriEnd: number,
  after: number,
  end: number,
  displayName: string | undefined,
  maxUri: number,
): Step<Contact> {
  const u = parseUri(s.slice(uriStart, uriEnd), maxUri);
  if (!u.ok) return bad(u.error.code === 'SIP_URI_TOO_LONG' ? 'SIP_URI_TOO_LONG' : 'SIP_BAD_NAME_ADDR', u.error.reason);
  const pr = parseParams(s, after, end, 'SIP_BAD_NAME_ADDR');
  if (pr === ERR) return ERR;
  const params = pr ?? EMPTY_PARAMS;
  const tag = params.get('tag');
  if (tag === null) return bad('SIP_BAD_NAME_ADDR', 'tag without value');
  let expires: number | undefined;
  const ex = params.get('expires');
  if (ex !== undefined && ex !== null) expires = parseDeltaSeconds(ex);
  const na: Contact = {
    displayName,
    uri: u.value,
    params,
    tag,
    raw: s.slice(start, cursor),
    star: false,
    expires,
  };
  return na;
}

/** delta-seconds: 1*DIGIT; values above 2**32-1 are clamped (RFC 3261 §20.19); undefined when not digits. */
export function parseDeltaSeconds(v: string): number | undefined {
  if (v.length === 0) return undefined;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
    n = n * 10 + (c - 0x30);
    if (n > MAX_DELTA_SECONDS) n = MAX_DELTA_SECONDS;
  }
  return n;
}

/** A header that holds exactly one name-addr or addr-spec (From, To). */
export function parseNameAddr(value: string, maxUri: number): Result<NameAddr, SipParseError> {
  const end = value.length;
  const i = skipWs(value, 0, end);
  if (i >= end) return fail('SIP_BAD_NAME_ADDR', 'empty value');
  const r = parseNameAddrAt(value, i, end, maxUri, false);
  if (r === ERR) return lastError;
  if (skipWs(value, cursor, end) !== end) return fail('SIP_BAD_NAME_ADDR', 'trailing characters after name-addr');
  // The element object also carries Contact's star/expires fields; NameAddr readers ignore them.
  return { ok: true, value: r };
}

/** A comma-separated list of name-addr elements (Contact, Route, Record-Route), appended to out. */
export function parseNameAddrList(value: string, maxUri: number, allowStar: boolean, out: Contact[]): Result<void, SipParseError> {
  const end = value.length;
  let i = skipWs(value, 0, end);
  if (i >= end) return fail('SIP_BAD_NAME_ADDR', 'empty value');
  for (;;) {
    const r = parseNameAddrAt(value, i, end, maxUri, allowStar);
    if (r === ERR) return lastError;
    out.push(r);
    i = skipWs(value, cursor, end);
    if (i >= end) return { ok: true, value: undefined };
    if (value.charCodeAt(i) !== 0x2c) return fail('SIP_BAD_NAME_ADDR', 'unexpected character after name-addr');
    i = skipWs(value, i + 1, end);
    if (r.star) return fail('SIP_BAD_NAME_ADDR', '"*" must be the only Contact');
  }
}

/** CSeq = 1*DIGIT LWS Method (RFC 3261 §20.16); the number must be below 2**31. */
export function parseCSeq(value: string): Result<CSeq, SipParseError> {
  const end = value.length;
  let i = skipWs(value, 0, end);
  const d0 = i;
  let seq = 0;
  while (i < end && isDigit(value.charCodeAt(i))) {
    seq = seq * 10 + (value.charCodeAt(i) - 0x30);
    if (seq > MAX_CSEQ) return fail('SIP_BAD_CSEQ', 'CSeq number too large');
    i++;
  }
  if (i === d0) return fail('SIP_BAD_CSEQ', 'CSeq without number');
  const m0 = skipWs(value, i, end);
  if (m0 === i) return fail('SIP_BAD_CSEQ', 'CSeq without method');
  const m1 = scanClass(value, m0, end, TOKEN);
  if (m1 === m0 || skipWs(value, m1, end) !== end) return fail('SIP_BAD_CSEQ', 'bad CSeq method');
  return { ok: true, value: { seq, method: value.slice(m0, m1) } };
}
