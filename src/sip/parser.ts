/**
 * Strict RFC 3261 message parser (§7, §18.3, §20, §25). One pass over the head locates every header field
 * into a flat array of small integers (7 per field; a packed-SMI array is cheaper to slice than a typed array).
 * Values are parsed lazily by SipMessageImpl, except those every proxy reads on every
 * message (start line, Request-URI, Via, From, To, CSeq, Call-ID, Max-Forwards, Content-Length), which are
 * validated here and memoised. Never throws: every outcome is a Result with a stable code.
 *
 *   start-line CRLF *( field-name HCOLON field-value CRLF ) CRLF [ message-body ]
 *   field-value may be folded: CRLF followed by SP/HTAB continues the value (LWS, §7.3.1).
 */

import type { Result } from '../core/result.ts';
import { allOfClass as allOfClass_, parseDigits as parseDigits_, TOKEN as TOKEN_ } from './chars.ts';
import { excerpt as excerpt_, fail as fail_ } from './errors.ts';
import {
  H_CALL_ID as H_CALL_ID_,
  H_CONTENT_LENGTH as H_CONTENT_LENGTH_,
  H_CONTENT_TYPE as H_CONTENT_TYPE_,
  H_COUNT as H_COUNT_,
  H_CSEQ as H_CSEQ_,
  H_FROM as H_FROM_,
  H_MAX_FORWARDS as H_MAX_FORWARDS_,
  H_TO as H_TO_,
  H_VIA as H_VIA_,
  idOfName as idOfName_,
} from './header-names.ts';
import { parseCSeq as parseCSeq_, parseNameAddr as parseNameAddr_, parseViaValue as parseViaValue_ } from './headers.ts';
import {
  EMPTY_BODY as EMPTY_BODY_,
  F_FLAGS as F_FLAGS_,
  F_ID as F_ID_,
  F_LINE_END as F_LINE_END_,
  F_LINE_START as F_LINE_START_,
  F_NAME_END as F_NAME_END_,
  F_VALUE_END as F_VALUE_END_,
  F_VALUE_START as F_VALUE_START_,
  FLAG_FOLDED as FLAG_FOLDED_,
  FLAG_HIGH as FLAG_HIGH_,
  SipMessageImpl as SipMessageImpl_,
  STRIDE as STRIDE_,
} from './message.ts';
import type { ParseOptions, SipLimits, SipMessage, SipParseError, Via } from './types.ts';
import { DEFAULT_SIP_LIMITS as DEFAULT_SIP_LIMITS_ } from './types.ts';
import { parseUri as parseUri_ } from './uri.ts';

// Local copies of imported bindings: under the tsx loader an imported binding is read through a getter
// on every access, which costs about a quarter of the parse time on the hot path.
const TOKEN = TOKEN_;
const allOfClass = allOfClass_;
const parseDigits = parseDigits_;
const excerpt = excerpt_;
const fail = fail_;
const H_CALL_ID = H_CALL_ID_;
const H_CONTENT_LENGTH = H_CONTENT_LENGTH_;
const H_CONTENT_TYPE = H_CONTENT_TYPE_;
const H_COUNT = H_COUNT_;
const H_CSEQ = H_CSEQ_;
const H_FROM = H_FROM_;
const H_MAX_FORWARDS = H_MAX_FORWARDS_;
const H_TO = H_TO_;
const H_VIA = H_VIA_;
const idOfName = idOfName_;
const parseCSeq = parseCSeq_;
const parseNameAddr = parseNameAddr_;
const parseViaValue = parseViaValue_;
const EMPTY_BODY = EMPTY_BODY_;
const FLAG_FOLDED = FLAG_FOLDED_;
const FLAG_HIGH = FLAG_HIGH_;
const F_FLAGS = F_FLAGS_;
const F_ID = F_ID_;
const F_LINE_END = F_LINE_END_;
const F_LINE_START = F_LINE_START_;
const F_NAME_END = F_NAME_END_;
const F_VALUE_END = F_VALUE_END_;
const F_VALUE_START = F_VALUE_START_;
const STRIDE = STRIDE_;
const SipMessageImpl = SipMessageImpl_;
const DEFAULT_SIP_LIMITS = DEFAULT_SIP_LIMITS_;
const parseUri = parseUri_;

/** Single-valued headers: a second occurrence is rejected (RFC 4475 §3.3.8, §3.3.9). */
const SINGLE: readonly number[] = [H_FROM, H_TO, H_CALL_ID, H_CSEQ, H_MAX_FORWARDS, H_CONTENT_LENGTH, H_CONTENT_TYPE];
const REQUIRED: readonly (readonly [number, string])[] = [
  [H_TO, 'To'],
  [H_FROM, 'From'],
  [H_CSEQ, 'CSeq'],
  [H_CALL_ID, 'Call-ID'],
  [H_VIA, 'Via'],
];

/** Any byte that needs the careful scan: controls other than HTAB/CR/LF, DEL, non-ASCII. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control bytes is the point of this pattern
const UNPLAIN_RE = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\xff]/;

function isWsCode(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

let scratch: number[] = new Array<number>(DEFAULT_SIP_LIMITS.maxHeaders * STRIDE).fill(0);
const firstAt = new Int32Array(H_COUNT);
const seen = new Int32Array(H_COUNT);

export function parseMessage(bytes: Buffer, options?: ParseOptions): Result<SipMessage, SipParseError> {
  try {
    return parse(bytes, options?.limits ?? DEFAULT_SIP_LIMITS, options?.stream === true);
  } catch {
    // Defensive: the code paths above are written not to throw; an exception here is a codec bug, but the
    // caller still gets a Result rather than a crash.
    return fail('SIP_BAD_VALUE', 'internal parser error');
  }
}

function parse(bytes: Buffer, limits: SipLimits, stream: boolean): Result<SipMessage, SipParseError> {
  const total = bytes.length;
  if (total > limits.maxMessageBytes) return fail('SIP_TOO_LARGE', `message larger than ${limits.maxMessageBytes} bytes`);
  // RFC 3261 §7.5: CRLFs before the start line are ignored (keep-alives).
  let start = 0;
  while (start + 1 < total && bytes[start] === 0x0d && bytes[start + 1] === 0x0a) start += 2;
  if (start >= total) return fail('SIP_EMPTY', 'empty message');
  const blank = bytes.indexOf('\r\n\r\n', start, 'latin1');
  if (blank < 0) {
    return fail(bytes.indexOf('\r\n', start, 'latin1') < 0 ? 'SIP_BAD_START_LINE' : 'SIP_BAD_HEADER', 'no empty line after the headers');
  }
  const s = bytes.toString('latin1', start, blank + 2);
  const len = s.length;

  // ---- start line --------------------------------------------------------------------------------------
  const sl = s.indexOf('\r\n');
  let isRequest: boolean;
  let method: string | undefined;
  let requestUri: string | undefined;
  let status: number | undefined;
  let reason: string | undefined;
  if (
    sl >= 4 &&
    (s.charCodeAt(0) | 0x20) === 0x73 &&
    (s.charCodeAt(1) | 0x20) === 0x69 &&
    (s.charCodeAt(2) | 0x20) === 0x70 &&
    s.charCodeAt(3) === 0x2f
  ) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF
    isRequest = false;
    const sp1 = s.indexOf(' ');
    if (sp1 < 0 || sp1 > sl) return fail('SIP_BAD_START_LINE', 'bad status line');
    const v = checkVersion(s, 0, sp1);
    if (v !== undefined) return fail(v, `bad version ${excerpt(s.slice(0, sp1))}`);
    const d = sp1 + 1;
    if (sl < d + 4 || s.charCodeAt(d + 3) !== 0x20) return fail('SIP_BAD_STATUS', 'status code is not three digits');
    const code = parseDigits(s, d, d + 3, 999);
    if (code < 100 || code > 699) return fail('SIP_BAD_STATUS', 'status code out of range');
    status = code;
    let high = false;
    for (let i = d + 4; i < sl; i++) {
      const c = s.charCodeAt(i);
      if ((c < 0x20 && c !== 0x09) || c === 0x7f) return fail('SIP_BAD_START_LINE', 'control character in reason phrase');
      if (c >= 0x80) high = true;
    }
    reason = s.slice(d + 4, sl);
    if (high) reason = Buffer.from(reason, 'latin1').toString('utf8');
  } else {
    // Request-Line = Method SP Request-URI SP SIP-Version CRLF (exactly one SP between elements)
    isRequest = true;
    const sp1 = s.indexOf(' ');
    if (sp1 < 0 || sp1 > sl) return fail('SIP_BAD_START_LINE', 'bad request line');
    if (!allOfClass(s, 0, sp1, TOKEN)) return fail('SIP_BAD_METHOD', 'method is not a token');
    method = s.slice(0, sp1);
    const sp2 = s.indexOf(' ', sp1 + 1);
    if (sp2 < 0 || sp2 > sl || sp2 === sp1 + 1) return fail('SIP_BAD_START_LINE', 'bad request line', method);
    const v = checkVersion(s, sp2 + 1, sl);
    if (v !== undefined) return fail(v, `bad version ${excerpt(s.slice(sp2 + 1, sl))}`, method);
    requestUri = s.slice(sp1 + 1, sp2);
  }

  // ---- header fields -----------------------------------------------------------------------------------
  const maxHeaders = limits.maxHeaders;
  if (scratch.length < maxHeaders * STRIDE) scratch = new Array<number>(maxHeaders * STRIDE).fill(0);
  const ix = scratch;
  firstAt.fill(-1);
  seen.fill(0);
  let n = 0;
  let p = sl + 2;
  const plain = !UNPLAIN_RE.test(s);
  const maxHeaderBytes = limits.maxHeaderBytes;
  while (p < len) {
    if (n >= maxHeaders) return fail('SIP_TOO_MANY_HEADERS', `more than ${maxHeaders} header fields`, method);
    const ls = p;
    let c = s.charCodeAt(p);
    while (c < 256 && TOKEN[c] === 1) c = s.charCodeAt(++p);
    const ne = p;
    if (ne === ls) return fail('SIP_BAD_HEADER', 'header line without a field name', method);
    while (c === 0x20 || c === 0x09) c = s.charCodeAt(++p);
    if (c !== 0x3a) return fail('SIP_BAD_HEADER', `bad header line ${excerpt(s.slice(ls, ne))}`, method);
    p++;
    let vs: number;
    let ve: number;
    let flags = 0;
    if (plain) {
      // Fast path (no control, DEL or non-ASCII byte): jump from CRLF to CRLF.
      vs = p;
      for (;;) {
        c = s.charCodeAt(vs);
        if (c === 0x20 || c === 0x09) vs++;
        else if (c === 0x0d && s.charCodeAt(vs + 1) === 0x0a && isWsCode(s.charCodeAt(vs + 2))) vs += 3;
        else break;
      }
      let q = vs;
      for (;;) {
        const cr = s.indexOf('\r', q);
        if (s.indexOf('\n', q) !== cr + 1) return fail('SIP_BAD_HEADER', 'CR without LF or LF without CR', method);
        if (isWsCode(s.charCodeAt(cr + 2))) {
          flags = FLAG_FOLDED;
          q = cr + 3;
          continue;
        }
        p = cr;
        break;
      }
      ve = p;
      while (ve > vs && isWsCode(s.charCodeAt(ve - 1))) ve--;
      if (vs > ve) vs = ve;
    } else {
      vs = -1;
      ve = p;
      let inQuote = false;
      for (;;) {
        c = s.charCodeAt(p);
        if (c === 0x0d) {
          if (s.charCodeAt(p + 1) !== 0x0a) return fail('SIP_BAD_HEADER', 'CR without LF', method);
          const nx = s.charCodeAt(p + 2);
          if (nx === 0x20 || nx === 0x09) {
            flags |= FLAG_FOLDED;
            p += 3;
            continue;
          }
          break;
        }
        if (c < 0x20) {
          if (c !== 0x09) return fail('SIP_BAD_HEADER', 'control character in header value', method);
        } else if (c === 0x22) {
          inQuote = !inQuote;
        } else if (c === 0x5c && inQuote) {
          // quoted-pair: "\" followed by any char but CR and LF (RFC 3261 §25.1)
          const nc = s.charCodeAt(p + 1);
          if (nc === 0x0d || nc === 0x0a || nc >= 0x80) return fail('SIP_BAD_HEADER', 'bad quoted-pair', method);
          if (vs < 0) vs = p;
          p += 2;
          ve = p;
          continue;
        } else if (c >= 0x7f) {
          if (c === 0x7f) return fail('SIP_BAD_HEADER', 'DEL in header value', method);
          flags |= FLAG_HIGH;
        }
        if (c !== 0x20 && c !== 0x09) {
          if (vs < 0) vs = p;
          ve = p + 1;
        }
        p++;
      }
      if (vs < 0) vs = ve = p;
    }
    const le = p + 2;
    if (le - ls > maxHeaderBytes) return fail('SIP_HEADER_TOO_LONG', `header field longer than ${maxHeaderBytes} bytes`, method);
    const id = idOfName(s, ls, ne);
    const b = n * STRIDE;
    ix[b + F_LINE_START] = ls;
    ix[b + F_NAME_END] = ne;
    ix[b + F_VALUE_START] = vs;
    ix[b + F_VALUE_END] = ve;
    ix[b + F_LINE_END] = le;
    ix[b + F_ID] = id;
    ix[b + F_FLAGS] = flags;
    if (id !== 0) {
      if (firstAt[id] === -1) firstAt[id] = n;
      seen[id] = (seen[id] as number) + 1;
    }
    n++;
    p = le;
  }

  for (let k = 0; k < SINGLE.length; k++) {
    if ((seen[SINGLE[k] as number] as number) > 1) return fail('SIP_DUPLICATE_HEADER', 'single-valued header repeated', method);
  }
  for (let k = 0; k < REQUIRED.length; k++) {
    const req = REQUIRED[k] as readonly [number, string];
    if (firstAt[req[0]] === -1) return fail('SIP_MISSING_HEADER', `missing ${req[1]}`, method);
  }

  // ---- body (RFC 3261 §18.3) ---------------------------------------------------------------------------
  const bodyStart = blank + 4;
  let bodyLen: number;
  const clAt = firstAt[H_CONTENT_LENGTH] as number;
  if (clAt >= 0) {
    const b = clAt * STRIDE;
    const v0 = ix[b + F_VALUE_START] as number;
    const v1 = ix[b + F_VALUE_END] as number;
    if ((ix[b + F_FLAGS] as number) !== 0 || v1 === v0) return fail('SIP_BAD_CONTENT_LENGTH', 'Content-Length is not a number', method);
    let cl = 0;
    for (let i = v0; i < v1; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) return fail('SIP_BAD_CONTENT_LENGTH', 'Content-Length is not a number', method);
      if (cl < 1e9) cl = cl * 10 + (c - 0x30);
    }
    if (bodyStart + cl > total) return fail('SIP_BODY_TRUNCATED', 'body shorter than Content-Length', method);
    bodyLen = cl; // bytes after the body on a datagram are discarded (§18.3)
  } else {
    if (stream) return fail('SIP_MISSING_HEADER', 'Content-Length is mandatory on stream transports', method);
    bodyLen = total - bodyStart;
  }
  let body = EMPTY_BODY;
  if (bodyLen > 0) {
    body = Buffer.allocUnsafe(bodyLen);
    bytes.copy(body, 0, bodyStart, bodyStart + bodyLen);
  }

  const msg = new SipMessageImpl({
    src: s,
    startLineEnd: sl,
    ix: ix.slice(0, n * STRIDE),
    count: n,
    isRequest,
    method,
    requestUri,
    status,
    reason,
    body,
    limits,
  });

  // ---- eager validation of what every proxy reads --------------------------------------------------------
  if (requestUri !== undefined) {
    const u = parseUri(requestUri, limits.maxUriBytes);
    if (!u.ok) return fail(u.error.code, u.error.reason, method);
    // RFC 3261 §19.1.1: headers are not allowed in a Request-URI.
    if ((u.value.scheme === 'sip' || u.value.scheme === 'sips') && u.value.headers.size > 0) {
      return fail('SIP_BAD_URI', 'headers in Request-URI', method);
    }
    msg.seedUri(u);
  }
  const viaList: Via[] = [];
  for (let i = firstAt[H_VIA] as number; i < n; i++) {
    if (ix[i * STRIDE + F_ID] !== H_VIA) continue;
    const r = parseViaValue(msg.fieldValue(i), viaList);
    if (!r.ok) return fail(r.error.code, r.error.reason, method);
  }
  const maxUri = limits.maxUriBytes;
  const from = parseNameAddr(msg.fieldValue(firstAt[H_FROM] as number), maxUri);
  if (!from.ok) return fail(from.error.code, `From: ${from.error.reason}`, method);
  const to = parseNameAddr(msg.fieldValue(firstAt[H_TO] as number), maxUri);
  if (!to.ok) return fail(to.error.code, `To: ${to.error.reason}`, method);
  const cseq = parseCSeq(msg.fieldValue(firstAt[H_CSEQ] as number));
  if (!cseq.ok) return fail(cseq.error.code, cseq.error.reason, method);
  // RFC 3261 §8.2 / RFC 4475 §3.1.2.17: the CSeq method must match the request method.
  if (method !== undefined && cseq.value.method !== method)
    return fail('SIP_METHOD_MISMATCH', 'CSeq method differs from request method', method);
  const callId = msg.fieldValue(firstAt[H_CALL_ID] as number);
  // callid = word [ "@" word ] (RFC 3261 §25.1): non-empty, no whitespace (folding was already unfolded to SP).
  if (callId.length === 0 || callId.indexOf(' ') >= 0 || callId.indexOf('\t') >= 0) return fail('SIP_BAD_VALUE', 'bad Call-ID', method);
  const mfAt = firstAt[H_MAX_FORWARDS] as number;
  if (mfAt >= 0) {
    const mf = msg.fieldValue(mfAt);
    if (parseDigits(mf, 0, mf.length, 255) < 0) return fail('SIP_BAD_MAX_FORWARDS', 'Max-Forwards is not 0..255', method);
  }
  msg.seed({ ok: true, value: viaList }, from, to, cseq);
  return { ok: true, value: msg };
}

/** undefined when s[a,b) is "SIP/2.0" (case-insensitive name), else the error code. */
function checkVersion(s: string, a: number, b: number): 'SIP_BAD_VERSION' | 'SIP_BAD_START_LINE' | undefined {
  if (
    b - a === 7 &&
    (s.charCodeAt(a) | 0x20) === 0x73 &&
    (s.charCodeAt(a + 1) | 0x20) === 0x69 &&
    (s.charCodeAt(a + 2) | 0x20) === 0x70 &&
    s.charCodeAt(a + 3) === 0x2f &&
    s.charCodeAt(a + 4) === 0x32 &&
    s.charCodeAt(a + 5) === 0x2e &&
    s.charCodeAt(a + 6) === 0x30
  ) {
    return undefined;
  }
  return /^SIP\/\d+\.\d+$/i.test(s.slice(a, b)) ? 'SIP_BAD_VERSION' : 'SIP_BAD_START_LINE';
}
