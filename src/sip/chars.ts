/**
 * Character classes of RFC 3261 §25.1, as 256-entry lookup tables indexed by a latin1 char code.
 * Lookups replace regular expressions on the hot path: one array read per character, no backtracking.
 */

function table(chars: string, alnum: boolean): Uint8Array {
  const t = new Uint8Array(256);
  if (alnum) {
    for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
    for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
    for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  }
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
export const TOKEN = table("-.!%*_+`'~", true);
/** word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" / "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}") */
export const WORD = table('-.!%*_+`\'~()<>:\\"/[]?{}', true);
/** unreserved = alphanum / mark; mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")" */
const MARK = "-_.!~*'()";
/** user = 1*( unreserved / escaped / user-unreserved ); user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/" */
export const USER = table(`${MARK}%&=+$,;?/`, true);
/** password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," ) */
export const PASSWORD = table(`${MARK}%&=+$,`, true);
/** paramchar = param-unreserved / unreserved / escaped; param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$" */
export const PARAMCHAR = table(`${MARK}%[]/:&+$`, true);
/** hname / hvalue chars: hnv-unreserved = "[" / "]" / "/" / "?" / ":" / "+" / "$" */
export const HNVCHAR = table(`${MARK}%[]/?:+$`, true);
/** hostname characters (alphanum, "-", "."), which also covers IPv4 dotted quads. */
export const HOSTCHAR = table('-.', true);
/** uric (RFC 2396) for absoluteURI of other schemes: reserved / unreserved / escaped. */
export const URIC = table(`${MARK}%;/?:@&=+$,[]#`, true);
/** scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
export const SCHEME = table('+-.', true);
/** Via / generic-param value: token, host (with IPv6 reference) or a bare IPv6 address (RFC 5118 §4.5). */
export const GENVALUE = table("-.!%*_+`'~:[]", true);

export const SP = 0x20;
export const HTAB = 0x09;
export const CR = 0x0d;
export const LF = 0x0a;
export const DQUOTE = 0x22;
export const BSLASH = 0x5c;

export function isWs(c: number): boolean {
  return c === SP || c === HTAB;
}

export function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Index of the first non-SP/HTAB char at or after i. */
export function skipWs(s: string, i: number, end: number): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c !== SP && c !== HTAB) break;
    i++;
  }
  return i;
}

/** End of a run of chars of a class starting at i. */
export function scanClass(s: string, i: number, end: number, cls: Uint8Array): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c > 255 || cls[c] !== 1) break;
    i++;
  }
  return i;
}

/** True when the whole of s[start,end) is of a class and non-empty. */
export function allOfClass(s: string, start: number, end: number, cls: Uint8Array): boolean {
  return end > start && scanClass(s, start, end, cls) === end;
}

/** Unescapes %XX sequences; returns undefined on a malformed escape. Non-ASCII results are UTF-8 decoded. */
export function unescapePct(s: string): string | undefined {
  if (s.indexOf('%') < 0) return s;
  const bytes: number[] = [];
  let high = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const h = hexVal(s.charCodeAt(i + 1));
      const l = hexVal(s.charCodeAt(i + 2));
      if (h < 0 || l < 0) return undefined;
      const b = (h << 4) | l;
      if (b >= 0x80) high = true;
      bytes.push(b);
      i += 2;
    } else {
      if (c >= 0x80) high = true;
      bytes.push(c & 0xff);
    }
  }
  const buf = Buffer.from(bytes);
  return high ? buf.toString('utf8') : buf.toString('latin1');
}

export function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Parses 1*DIGIT in s[start,end); returns -1 when empty, not all digits, or above max. */
export function parseDigits(s: string, start: number, end: number, max: number): number {
  if (end <= start) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
    if (v > max) return -1;
  }
  return v;
}
