/**
 * SipMessage implementation. Two representations of the header section:
 *  - pristine: `ix`, a flat array of small integers indexing `src` (the latin1 text of the head), built once
 *    by the parser;
 *    no per-header objects exist until a caller asks for them;
 *  - edited: after the first edit, `entries`, one small immutable object per field; untouched fields keep
 *    their line offsets so the serializer copies them byte for byte.
 * Structured reads are memoised; every edit clears the memo, so the next read sees the edit (unlike
 * Kamailio's deferred lumps).
 */
import { PalisadeError } from '../core/errors.ts';
import type { Result } from '../core/result.ts';
import { allOfClass as allOfClass_, parseDigits as parseDigits_, TOKEN as TOKEN_ } from './chars.ts';
import { fail as fail_ } from './errors.ts';
import {
  canonicalName as canonicalName_,
  H_CALL_ID as H_CALL_ID_,
  H_CONTACT as H_CONTACT_,
  H_CONTENT_LENGTH as H_CONTENT_LENGTH_,
  H_CSEQ as H_CSEQ_,
  H_EXPIRES as H_EXPIRES_,
  H_FROM as H_FROM_,
  H_MAX_FORWARDS as H_MAX_FORWARDS_,
  H_OTHER as H_OTHER_,
  H_RECORD_ROUTE as H_RECORD_ROUTE_,
  H_ROUTE as H_ROUTE_,
  H_TO as H_TO_,
  H_VIA as H_VIA_,
  ID_LNAME as ID_LNAME_,
  idOfLname as idOfLname_,
  NOT_A_LIST as NOT_A_LIST_,
} from './header-names.ts';
import {
  parseCSeq as parseCSeq_,
  parseDeltaSeconds as parseDeltaSeconds_,
  parseNameAddr as parseNameAddr_,
  parseNameAddrList as parseNameAddrList_,
  parseViaValue as parseViaValue_,
  skipQuoted as skipQuoted_,
  splitList as splitList_,
} from './headers.ts';
import { serializeMessage as serializeMessage_ } from './serializer.ts';
import type { Contact, CSeq, HeaderField, NameAddr, SipLimits, SipMessage, SipParseError, SipUri, Via } from './types.ts';
import { parseUri as parseUri_ } from './uri.ts';

// Local copies of imported bindings: under the tsx loader an imported binding is read through a getter
// on every access, which costs about a quarter of the parse time on the hot path.
const TOKEN = TOKEN_;
const allOfClass = allOfClass_;
const parseDigits = parseDigits_;
const fail = fail_;
const H_CALL_ID = H_CALL_ID_;
const H_CONTACT = H_CONTACT_;
const H_CONTENT_LENGTH = H_CONTENT_LENGTH_;
const H_CSEQ = H_CSEQ_;
const H_EXPIRES = H_EXPIRES_;
const H_FROM = H_FROM_;
const H_MAX_FORWARDS = H_MAX_FORWARDS_;
const H_OTHER = H_OTHER_;
const H_RECORD_ROUTE = H_RECORD_ROUTE_;
const H_ROUTE = H_ROUTE_;
const H_TO = H_TO_;
const H_VIA = H_VIA_;
const ID_LNAME = ID_LNAME_;
const NOT_A_LIST = NOT_A_LIST_;
const canonicalName = canonicalName_;
const idOfLname = idOfLname_;
const parseCSeq = parseCSeq_;
const parseDeltaSeconds = parseDeltaSeconds_;
const parseNameAddr = parseNameAddr_;
const parseNameAddrList = parseNameAddrList_;
const parseViaValue = parseViaValue_;
const skipQuoted = skipQuoted_;
const splitList = splitList_;
const serializeMessage = serializeMessage_;
const parseUri = parseUri_;

/** Fields per header in the pristine index. */
export const STRIDE = 7;
export const F_LINE_START = 0;
export const F_NAME_END = 1;
export const F_VALUE_START = 2;
export const F_VALUE_END = 3;
export const F_LINE_END = 4;
export const F_ID = 5;
export const F_FLAGS = 6;
/** The value spans folded lines. */
export const FLAG_FOLDED = 1;
/** The value holds bytes >= 0x80 (decoded as UTF-8 when read). */
export const FLAG_HIGH = 2;

/** One header field in the edited representation. lineStart < 0 for a field written by an edit. */
export interface Entry {
  readonly name: string;
  readonly lname: string;
  readonly id: number;
  readonly value: string;
  readonly lineStart: number;
  readonly lineEnd: number;
}

/** What the parser hands to the message. */
export interface WireMessage {
  readonly src: string;
  /** Index of the CRLF ending the start line. */
  readonly startLineEnd: number;
  readonly ix: readonly number[];
  readonly count: number;
  readonly isRequest: boolean;
  readonly method: string | undefined;
  readonly requestUri: string | undefined;
  readonly status: number | undefined;
  readonly reason: string | undefined;
  readonly body: Buffer;
  readonly limits: SipLimits;
}

const FOLD_RE = /[ \t]*\r\n[ \t]+/g;
const EMPTY_BODY = Buffer.alloc(0);
const LNAME_CACHE = new Map<string, string>();
const LNAME_CACHE_MAX = 512;

function lnameOf(name: string): string {
  let l = LNAME_CACHE.get(name);
  if (l === undefined) {
    l = canonicalName(name);
    if (LNAME_CACHE.size >= LNAME_CACHE_MAX) LNAME_CACHE.clear();
    LNAME_CACHE.set(name, l);
  }
  return l;
}

function checkName(name: string): void {
  if (!allOfClass(name, 0, name.length, TOKEN))
    throw new PalisadeError('SIP_BAD_HEADER', { name: name.slice(0, 40) }, 'header name is not a token');
}

function checkValue(value: string): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0) throw new PalisadeError('SIP_BAD_VALUE', {}, 'header value contains CR, LF or NUL');
  }
}

export class SipMessageImpl implements SipMessage {
  readonly isRequest: boolean;
  private _method: string | undefined;
  private _requestUri: string | undefined;
  private _status: number | undefined;
  private _reason: string | undefined;
  private _body: Buffer;
  private readonly limits: SipLimits;

  private src: string;
  private startLineEnd: number;
  /** Start line rewritten by setRequestUri / setStatus. */
  private startEdited: boolean;
  private ix: readonly number[];
  private count: number;
  private entries: Entry[] | null;
  /** Lower-case names of pristine fields with id 0, computed on demand. */
  private otherNames: (string | undefined)[] | null;

  // memo (undefined = not computed)
  private mVias: Result<readonly Via[], SipParseError> | undefined;
  private mFrom: Result<NameAddr, SipParseError> | undefined;
  private mTo: Result<NameAddr, SipParseError> | undefined;
  private mCseq: Result<CSeq, SipParseError> | undefined;
  private mContacts: Result<readonly Contact[], SipParseError> | undefined;
  private mRoutes: Result<readonly NameAddr[], SipParseError> | undefined;
  private mRecordRoutes: Result<readonly NameAddr[], SipParseError> | undefined;
  private mUri: Result<SipUri, SipParseError> | undefined;
  private mHeaders: readonly HeaderField[] | undefined;

  constructor(w: WireMessage) {
    this.isRequest = w.isRequest;
    this._method = w.method;
    this._requestUri = w.requestUri;
    this._status = w.status;
    this._reason = w.reason;
    this._body = w.body;
    this.limits = w.limits;
    this.src = w.src;
    this.startLineEnd = w.startLineEnd;
    this.startEdited = false;
    this.ix = w.ix;
    this.count = w.count;
    this.entries = null;
    this.otherNames = null;
    this.mVias = undefined;
    this.mFrom = undefined;
    this.mTo = undefined;
    this.mCseq = undefined;
    this.mContacts = undefined;
    this.mRoutes = undefined;
    this.mRecordRoutes = undefined;
    this.mUri = undefined;
    this.mHeaders = undefined;
  }

  get method(): string | undefined {
    return this._method;
  }
  get requestUri(): string | undefined {
    return this._requestUri;
  }
  get status(): number | undefined {
    return this._status;
  }
  get reason(): string | undefined {
    return this._reason;
  }
  get body(): Buffer {
    return this._body;
  }

  // ---- field access, both representations -------------------------------------------------------------

  /** Number of header fields. */
  fieldCount(): number {
    return this.entries === null ? this.count : this.entries.length;
  }

  fieldId(i: number): number {
    return this.entries === null ? (this.ix[i * STRIDE + F_ID] as number) : (this.entries[i] as Entry).id;
  }

  fieldLname(i: number): string {
    if (this.entries !== null) return (this.entries[i] as Entry).lname;
    const id = this.ix[i * STRIDE + F_ID] as number;
    if (id !== H_OTHER) return ID_LNAME[id] as string;
    if (this.otherNames === null) this.otherNames = new Array<string | undefined>(this.count);
    let l = this.otherNames[i];
    if (l === undefined) {
      const b = i * STRIDE;
      l = canonicalName(this.src.slice(this.ix[b + F_LINE_START], this.ix[b + F_NAME_END]));
      this.otherNames[i] = l;
    }
    return l;
  }

  fieldName(i: number): string {
    if (this.entries !== null) return (this.entries[i] as Entry).name;
    const b = i * STRIDE;
    return this.src.slice(this.ix[b + F_LINE_START], this.ix[b + F_NAME_END]);
  }

  fieldValue(i: number): string {
    if (this.entries !== null) return (this.entries[i] as Entry).value;
    const b = i * STRIDE;
    const flags = this.ix[b + F_FLAGS] as number;
    let v = this.src.slice(this.ix[b + F_VALUE_START], this.ix[b + F_VALUE_END]);
    if (flags === 0) return v;
    if ((flags & FLAG_FOLDED) !== 0) v = v.replace(FOLD_RE, ' ');
    if ((flags & FLAG_HIGH) !== 0) v = Buffer.from(v, 'latin1').toString('utf8');
    return v;
  }

  /** [lineStart, lineEnd) of an untouched field in src, or undefined for a field written by an edit. */
  fieldLine(i: number): readonly [number, number] | undefined {
    if (this.entries !== null) {
      const e = this.entries[i] as Entry;
      return e.lineStart < 0 ? undefined : [e.lineStart, e.lineEnd];
    }
    const b = i * STRIDE;
    return [this.ix[b + F_LINE_START] as number, this.ix[b + F_LINE_END] as number];
  }

  private matches(i: number, id: number, lname: string): boolean {
    const fid = this.fieldId(i);
    if (id !== H_OTHER) return fid === id;
    return fid === H_OTHER && this.fieldLname(i) === lname;
  }

  private firstIndex(id: number, lname: string): number {
    const n = this.fieldCount();
    if (this.entries === null && id !== H_OTHER) {
      const ix = this.ix;
      for (let i = 0; i < n; i++) if (ix[i * STRIDE + F_ID] === id) return i;
      return -1;
    }
    for (let i = 0; i < n; i++) if (this.matches(i, id, lname)) return i;
    return -1;
  }

  private firstValueById(id: number): string | undefined {
    const i = this.firstIndex(id, ID_LNAME[id] as string);
    return i < 0 ? undefined : this.fieldValue(i);
  }

  private valuesById(id: number): string[] {
    const out: string[] = [];
    const n = this.fieldCount();
    for (let i = 0; i < n; i++) if (this.fieldId(i) === id) out.push(this.fieldValue(i));
    return out;
  }

  // ---- SipMessage: generic header API -------------------------------------------------------------------

  headers(): readonly HeaderField[] {
    if (this.mHeaders !== undefined) return this.mHeaders;
    const n = this.fieldCount();
    const out: HeaderField[] = new Array<HeaderField>(n);
    for (let i = 0; i < n; i++) out[i] = { name: this.fieldName(i), lname: this.fieldLname(i), value: this.fieldValue(i) };
    this.mHeaders = out;
    return out;
  }

  get(name: string): string | undefined {
    const lname = lnameOf(name);
    const i = this.firstIndex(idOfLname(lname), lname);
    return i < 0 ? undefined : this.fieldValue(i);
  }

  getAll(name: string): string[] {
    const lname = lnameOf(name);
    const id = idOfLname(lname);
    const whole = NOT_A_LIST.has(lname);
    const out: string[] = [];
    const n = this.fieldCount();
    for (let i = 0; i < n; i++) {
      if (!this.matches(i, id, lname)) continue;
      const v = this.fieldValue(i);
      if (whole) out.push(v);
      else for (const item of splitList(v)) out.push(item);
    }
    return out;
  }

  has(name: string): boolean {
    const lname = lnameOf(name);
    return this.firstIndex(idOfLname(lname), lname) >= 0;
  }

  /** Switches to the edited representation and clears every memo. */
  private edit(): Entry[] {
    this.invalidate();
    if (this.entries !== null) return this.entries;
    const n = this.count;
    const entries: Entry[] = new Array<Entry>(n);
    for (let i = 0; i < n; i++) {
      const b = i * STRIDE;
      entries[i] = {
        name: this.fieldName(i),
        lname: this.fieldLname(i),
        id: this.ix[b + F_ID] as number,
        value: this.fieldValue(i),
        lineStart: this.ix[b + F_LINE_START] as number,
        lineEnd: this.ix[b + F_LINE_END] as number,
      };
    }
    this.entries = entries;
    this.otherNames = null;
    return entries;
  }

  private invalidate(): void {
    this.mVias = undefined;
    this.mFrom = undefined;
    this.mTo = undefined;
    this.mCseq = undefined;
    this.mContacts = undefined;
    this.mRoutes = undefined;
    this.mRecordRoutes = undefined;
    this.mHeaders = undefined;
  }

  private newEntry(name: string, value: string): Entry {
    checkName(name);
    checkValue(value);
    const lname = canonicalName(name);
    return { name, lname, id: idOfLname(lname), value, lineStart: -1, lineEnd: -1 };
  }

  set(name: string, value: string | readonly string[]): void {
    const values: readonly string[] = typeof value === 'string' ? [value] : value;
    const fresh = values.map((v) => this.newEntry(name, v));
    const entries = this.edit();
    const lname = fresh[0]?.lname ?? canonicalName(name);
    const id = idOfLname(lname);
    let at = -1;
    const kept: Entry[] = [];
    for (const e of entries) {
      if (id !== H_OTHER ? e.id === id : e.lname === lname) {
        if (at < 0) at = kept.length;
      } else kept.push(e);
    }
    if (at < 0) at = kept.length;
    kept.splice(at, 0, ...fresh);
    this.entries = kept;
  }

  prepend(name: string, value: string): void {
    const e = this.newEntry(name, value);
    const entries = this.edit();
    let at = entries.findIndex((x) => (e.id !== H_OTHER ? x.id === e.id : x.lname === e.lname));
    if (at < 0) at = 0;
    entries.splice(at, 0, e);
  }

  append(name: string, value: string): void {
    const e = this.newEntry(name, value);
    this.edit().push(e);
  }

  remove(name: string): number {
    const lname = canonicalName(name);
    const id = idOfLname(lname);
    if (this.firstIndex(id, lname) < 0) return 0;
    const entries = this.edit();
    const kept = entries.filter((e) => !(id !== H_OTHER ? e.id === id : e.lname === lname));
    this.entries = kept;
    return entries.length - kept.length;
  }

  removeFirstValue(name: string): boolean {
    const lname = canonicalName(name);
    const id = idOfLname(lname);
    const i = this.firstIndex(id, lname);
    if (i < 0) return false;
    const value = this.fieldValue(i);
    const comma = NOT_A_LIST.has(lname) ? -1 : topLevelComma(value);
    const entries = this.edit();
    const rest = comma < 0 ? '' : value.slice(comma + 1).trim();
    if (rest.length === 0) entries.splice(i, 1);
    else {
      const old = entries[i] as Entry;
      entries[i] = { name: old.name, lname: old.lname, id: old.id, value: rest, lineStart: -1, lineEnd: -1 };
    }
    return true;
  }

  setRequestUri(uri: string): void {
    if (!this.isRequest) throw new PalisadeError('SIP_BAD_START_LINE', {}, 'setRequestUri on a response');
    if (uri.length === 0 || /[\s\0]/.test(uri))
      throw new PalisadeError('SIP_BAD_URI', {}, 'Request-URI must be non-empty without whitespace');
    this._requestUri = uri;
    this.startEdited = true;
    this.mUri = undefined;
  }

  setStatus(status: number, reason: string): void {
    if (this.isRequest) throw new PalisadeError('SIP_BAD_START_LINE', {}, 'setStatus on a request');
    if (!Number.isInteger(status) || status < 100 || status > 699) throw new PalisadeError('SIP_BAD_STATUS', { status });
    checkValue(reason);
    this._status = status;
    this._reason = reason;
    this.startEdited = true;
  }

  setBody(body: Buffer, contentType?: string): void {
    this._body = body.length === 0 ? EMPTY_BODY : Buffer.from(body);
    if (contentType !== undefined) this.set('Content-Type', contentType);
    else if (body.length === 0) this.remove('Content-Type');
    this.set('Content-Length', String(body.length));
  }

  // ---- structured accessors -----------------------------------------------------------------------------

  uri(): Result<SipUri, SipParseError> {
    if (this.mUri !== undefined) return this.mUri;
    if (this._requestUri === undefined) return fail('SIP_BAD_URI', 'a response has no Request-URI');
    const r = parseUri(this._requestUri, this.limits.maxUriBytes);
    this.mUri = r;
    return r;
  }

  /** Lets the parser store the Request-URI it already validated. */
  seedUri(r: Result<SipUri, SipParseError>): void {
    this.mUri = r;
  }

  vias(): Result<readonly Via[], SipParseError> {
    if (this.mVias !== undefined) return this.mVias;
    const out: Via[] = [];
    let r: Result<readonly Via[], SipParseError> = { ok: true, value: out };
    const n = this.fieldCount();
    for (let i = 0; i < n; i++) {
      if (this.fieldId(i) !== H_VIA) continue;
      const p = parseViaValue(this.fieldValue(i), out);
      if (!p.ok) {
        r = p;
        break;
      }
    }
    this.mVias = r;
    return r;
  }

  topVia(): Result<Via, SipParseError> {
    const r = this.vias();
    if (!r.ok) return r;
    const top = r.value[0];
    return top === undefined ? fail('SIP_MISSING_HEADER', 'no Via') : { ok: true, value: top };
  }

  from(): Result<NameAddr, SipParseError> {
    if (this.mFrom === undefined) this.mFrom = this.nameAddrOf(H_FROM, 'From');
    return this.mFrom;
  }

  to(): Result<NameAddr, SipParseError> {
    if (this.mTo === undefined) this.mTo = this.nameAddrOf(H_TO, 'To');
    return this.mTo;
  }

  private nameAddrOf(id: number, label: string): Result<NameAddr, SipParseError> {
    const v = this.firstValueById(id);
    if (v === undefined) return fail('SIP_MISSING_HEADER', `no ${label}`);
    return parseNameAddr(v, this.limits.maxUriBytes);
  }

  callId(): string | undefined {
    return this.firstValueById(H_CALL_ID);
  }

  cseq(): Result<CSeq, SipParseError> {
    if (this.mCseq !== undefined) return this.mCseq;
    const v = this.firstValueById(H_CSEQ);
    const r = v === undefined ? fail('SIP_MISSING_HEADER', 'no CSeq') : parseCSeq(v);
    this.mCseq = r;
    return r;
  }

  contacts(): Result<readonly Contact[], SipParseError> {
    if (this.mContacts === undefined) this.mContacts = this.listOf(H_CONTACT, true);
    return this.mContacts;
  }

  recordRoutes(): Result<readonly NameAddr[], SipParseError> {
    if (this.mRecordRoutes === undefined) this.mRecordRoutes = this.listOf(H_RECORD_ROUTE, false);
    return this.mRecordRoutes;
  }

  routes(): Result<readonly NameAddr[], SipParseError> {
    if (this.mRoutes === undefined) this.mRoutes = this.listOf(H_ROUTE, false);
    return this.mRoutes;
  }

  private listOf(id: number, allowStar: boolean): Result<readonly Contact[], SipParseError> {
    const out: Contact[] = [];
    for (const v of this.valuesById(id)) {
      const r = parseNameAddrList(v, this.limits.maxUriBytes, allowStar, out);
      if (!r.ok) return r;
    }
    if (allowStar && out.length > 1 && out.some((c) => c.star)) return fail('SIP_BAD_NAME_ADDR', '"*" must be the only Contact');
    return { ok: true, value: out };
  }

  maxForwards(): Result<number | undefined, SipParseError> {
    const v = this.firstValueById(H_MAX_FORWARDS);
    if (v === undefined) return { ok: true, value: undefined };
    const n = parseDigits(v, 0, v.length, 255);
    return n < 0 ? fail('SIP_BAD_MAX_FORWARDS', 'Max-Forwards is not 0..255') : { ok: true, value: n };
  }

  expires(): number | undefined {
    const v = this.firstValueById(H_EXPIRES);
    return v === undefined ? undefined : parseDeltaSeconds(v);
  }

  // ---- output ---------------------------------------------------------------------------------------------

  serialize(): Buffer {
    return serializeMessage(this);
  }

  /** Internals for the serializer (same module family; not part of SipMessage). */
  wire(): { src: string; startLineEnd: number; startEdited: boolean; pristine: boolean } {
    return { src: this.src, startLineEnd: this.startLineEnd, startEdited: this.startEdited, pristine: this.entries === null };
  }

  /** Content-Length value of field i when it is a well-formed number, else -1. */
  contentLengthAt(i: number): number {
    const v = this.fieldValue(i);
    return parseDigits(v, 0, v.length, 0x7fffffff);
  }

  clone(): SipMessage {
    const c = new SipMessageImpl({
      src: this.src,
      startLineEnd: this.startLineEnd,
      ix: this.ix,
      count: this.count,
      isRequest: this.isRequest,
      method: this._method,
      requestUri: this._requestUri,
      status: this._status,
      reason: this._reason,
      body: this._body.length === 0 ? EMPTY_BODY : Buffer.from(this._body),
      limits: this.limits,
    });
    c.startEdited = this.startEdited;
    if (this.entries !== null) c.entries = this.entries.slice();
    c.mVias = this.mVias;
    c.mFrom = this.mFrom;
    c.mTo = this.mTo;
    c.mCseq = this.mCseq;
    c.mUri = this.mUri;
    return c;
  }

  /**
   * A message built in code (src/sip/build.ts): the edited representation from the start, every field
   * written as "Name: value". Names and values are checked (token names, no CR/LF/NUL in values).
   */
  static built(
    start: { isRequest: boolean; method?: string; requestUri?: string; status?: number; reason?: string },
    headers: ReadonlyArray<readonly [string, string]>,
    body: Buffer | undefined,
    limits: SipLimits,
  ): SipMessageImpl {
    const m = new SipMessageImpl({
      src: '',
      startLineEnd: 0,
      ix: [],
      count: 0,
      isRequest: start.isRequest,
      method: start.method,
      requestUri: start.requestUri,
      status: start.status,
      reason: start.reason,
      body: body === undefined || body.length === 0 ? EMPTY_BODY : Buffer.from(body),
      limits,
    });
    m.startEdited = true;
    const entries: Entry[] = [];
    for (const [name, value] of headers) {
      const e = m.newEntry(name, value);
      if (e.id !== H_CONTENT_LENGTH) entries.push(e);
    }
    m.entries = entries;
    return m;
  }

  /** Parser hook: memoise results it computed while validating. */
  seed(
    vias: Result<readonly Via[], SipParseError>,
    from: Result<NameAddr, SipParseError>,
    to: Result<NameAddr, SipParseError>,
    cseq: Result<CSeq, SipParseError>,
  ): void {
    this.mVias = vias;
    this.mFrom = from;
    this.mTo = to;
    this.mCseq = cseq;
  }
}

/** Index of the first comma outside quotes and <>, or -1. */
function topLevelComma(v: string): number {
  let angle = false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x22 && !angle) {
      const q = skipQuoted(v, i, v.length);
      if (q < 0) return -1;
      i = q - 1;
    } else if (c === 0x3c) angle = true;
    else if (c === 0x3e) angle = false;
    else if (c === 0x2c && !angle) return i;
  }
  return -1;
}

export { EMPTY_BODY };
