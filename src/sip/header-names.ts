/**
 * Header names: compact forms (RFC 3261 §7.3.3 and the extensions that registered one), canonical lower-case long
 * names, and small integer ids for the headers the codec reads itself. Id 0 means "any other header".
 */

export const H_OTHER = 0;
export const H_VIA = 1;
export const H_FROM = 2;
export const H_TO = 3;
export const H_CALL_ID = 4;
export const H_CSEQ = 5;
export const H_CONTACT = 6;
export const H_CONTENT_LENGTH = 7;
export const H_CONTENT_TYPE = 8;
export const H_MAX_FORWARDS = 9;
export const H_ROUTE = 10;
export const H_RECORD_ROUTE = 11;
export const H_EXPIRES = 12;
export const H_COUNT = 13;

/** Canonical lower-case name of each id (index = id). */
export const ID_LNAME: readonly string[] = [
  '',
  'via',
  'from',
  'to',
  'call-id',
  'cseq',
  'contact',
  'content-length',
  'content-type',
  'max-forwards',
  'route',
  'record-route',
  'expires',
];

/** Compact form → canonical lower-case long name (IANA SIP header registry). */
const COMPACT: Readonly<Record<string, string>> = {
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
};

const LNAME_ID = new Map<string, number>();
for (let id = 1; id < H_COUNT; id++) LNAME_ID.set(ID_LNAME[id] as string, id);

/** Canonical lower-case long name of any spelling ("V", "Via", "call-ID" …). */
export function canonicalName(name: string): string {
  const l = name.toLowerCase();
  if (l.length === 1) return COMPACT[l] ?? l;
  return l;
}

/** Id of a canonical lower-case name (0 when not one the codec reads). */
export function idOfLname(lname: string): number {
  return LNAME_ID.get(lname) ?? H_OTHER;
}

/** Case-insensitive comparison of s[start, start+lit.length) with a lower-case literal. */
function eqLower(s: string, start: number, lit: string): boolean {
  for (let k = 0; k < lit.length; k++) {
    if ((s.charCodeAt(start + k) | 0x20) !== lit.charCodeAt(k)) return false;
  }
  return true;
}

/**
 * Id of the header name s[start,end) without allocating: a switch on length and first letter, then one
 * case-insensitive compare. Names of other headers return H_OTHER.
 */
export function idOfName(s: string, start: number, end: number): number {
  const len = end - start;
  const c0 = s.charCodeAt(start) | 0x20;
  switch (len) {
    case 1:
      switch (c0) {
        case 0x76:
          return H_VIA; // v
        case 0x66:
          return H_FROM; // f
        case 0x74:
          return H_TO; // t
        case 0x69:
          return H_CALL_ID; // i
        case 0x6d:
          return H_CONTACT; // m
        case 0x6c:
          return H_CONTENT_LENGTH; // l
        case 0x63:
          return H_CONTENT_TYPE; // c
        default:
          return H_OTHER;
      }
    case 2:
      return c0 === 0x74 && eqLower(s, start, 'to') ? H_TO : H_OTHER;
    case 3:
      return c0 === 0x76 && eqLower(s, start, 'via') ? H_VIA : H_OTHER;
    case 4:
      if (c0 === 0x66) return eqLower(s, start, 'from') ? H_FROM : H_OTHER;
      if (c0 === 0x63) return eqLower(s, start, 'cseq') ? H_CSEQ : H_OTHER;
      return H_OTHER;
    case 5:
      return c0 === 0x72 && eqLower(s, start, 'route') ? H_ROUTE : H_OTHER;
    case 7:
      if (c0 === 0x63) {
        if (eqLower(s, start, 'call-id')) return H_CALL_ID;
        if (eqLower(s, start, 'contact')) return H_CONTACT;
        return H_OTHER;
      }
      if (c0 === 0x65) return eqLower(s, start, 'expires') ? H_EXPIRES : H_OTHER;
      return H_OTHER;
    case 12:
      if (c0 === 0x63) return eqLower(s, start, 'content-type') ? H_CONTENT_TYPE : H_OTHER;
      if (c0 === 0x6d) return eqLower(s, start, 'max-forwards') ? H_MAX_FORWARDS : H_OTHER;
      if (c0 === 0x72) return eqLower(s, start, 'record-route') ? H_RECORD_ROUTE : H_OTHER;
      return H_OTHER;
    case 14:
      return c0 === 0x63 && eqLower(s, start, 'content-length') ? H_CONTENT_LENGTH : H_OTHER;
    default:
      return H_OTHER;
  }
}

/**
 * Headers whose value is not a comma-separated list even though it may contain commas (dates, credentials,
 * free text); getAll() returns their values whole.
 */
export const NOT_A_LIST: ReadonlySet<string> = new Set([
  'date',
  'authorization',
  'proxy-authorization',
  'www-authenticate',
  'proxy-authenticate',
  'authentication-info',
  'call-id',
  'cseq',
  'from',
  'to',
  'max-forwards',
  'content-length',
  'content-type',
  'subject',
  'user-agent',
  'server',
  'organization',
  'retry-after',
  'timestamp',
  'identity',
  'refer-to',
  'referred-by',
  'reply-to',
  'expires',
  'min-expires',
  'content-disposition',
  'mime-version',
  'priority',
]);
