/**
 * Scanner fingerprints: cheap checks on a parsed request that recognise SIP attack tools even when
 * they change their User-Agent.
 *
 * The structural rules come from reading how SIPVicious (EnableSecurity/sipvicious, sipvicious/
 * libs/svhelper.py `makeRequest` and `createTag`, svmap.py, svwar.py, svcrack.py, v0.3.x) builds its
 * requests; the older trunk/helper.py builds the same shapes:
 *   - Via:     `SIP/2.0/UDP host:port;branch=z9hG4bK-<branchunique>;rport`, with
 *              branchunique = str(random.getrandbits(32)) — the magic cookie, a dash, 1–10 decimal digits.
 *   - From:    `;tag=<createTag(data)>` where createTag = b2a_hex(data + b'\x01' + str(getrandbits(32))):
 *              the hex of printable ASCII (svmap: the target ip/port as hex text; svwar: the extension;
 *              svcrack: "user:password"), a 0x01 byte, and 1–10 decimal digits (we require ≥ 6, see below).
 *   - Call-ID: str(getrandbits(80)) in svmap, str(getrandbits(32)) in svwar/svcrack — decimal digits
 *              with no `@host` part.
 *   - User-Agent: 'friendly-scanner' unless changed.
 * Legitimate stacks do not produce these shapes (see test/unit/security/scanner.test.ts): SIPp's
 * branch is `z9hG4bK-<pid>-<call>-<n>`, Linphone/belle-sip's `z9hG4bK.<alnum>`, Yealink's
 * `z9hG4bK<digits>` (no dash), baresip's `z9hG4bK<hex>`, Zoiper's `z9hG4bK-524287-1---<hex>`; their
 * tags are decimal, hex or alphanumeric random strings and their Call-IDs carry letters or `@host`.
 *
 * The Call-ID rule is the weakest (RFC 3261 §8.1.1.4 allows a Call-ID without a host, and a stack
 * could pick digits only), so it is evaluated last among the SIPVicious rules; callers may weigh it lower.
 */

export type ScannerRule = 'user_agent' | 'branch' | 'from_tag' | 'call_id' | 'ruri_host';

export interface ScannerFacts {
  readonly userAgent?: string | undefined;
  readonly topViaBranch?: string | undefined;
  readonly fromTag?: string | undefined;
  readonly callId?: string | undefined;
  readonly requestUriHost?: string | undefined;
  /** Our hosts and domains, lower-case, IPv6 without brackets. Empty: the Request-URI rule is off. */
  readonly ourHosts: ReadonlySet<string>;
}

export interface ScannerMatch {
  readonly kind: ScannerRule;
  readonly detail: string;
}

/**
 * User-Agent substrings of known attack tools (case-insensitive). Needles shorter than 6 characters must
 * stand as a word (no letter or digit before, no letter after) so that e.g. `smap` does not match inside
 * an unrelated product name.
 *
 * Deliberately absent: `sipsak`. It is the "SIP swiss army knife" that monitoring (Nagios/Icinga
 * check_sip, keepalive scripts) uses for OPTIONS pings; banning it would cut the operator's own
 * health checks. Its abusive use is caught by the rate limiter and the auth failure count instead.
 */
export const SCANNER_USER_AGENTS: readonly string[] = Object.freeze([
  'friendly-scanner', // SIPVicious default (svhelper.makeRequest useragent=)
  'sipvicious', // SIPVicious builds that name themselves
  'sipcli', // sipcli brute-forcer
  'vaxsipuseragent', // VaxSIP SDK default, seen in mass REGISTER brute force
  'pplsip', // brute-force bot UA
  'sundayddr', // scanner UA seen in honeypot logs
  'iwar', // iWar war-dialler
  'sip-scan', // generic scanner
  'sivus', // SiVuS vulnerability scanner
  'gulp', // scanner UA seen in honeypot logs
  'smap', // smap SIP device mapper
]);

const MAX_UA_CHARS = 512;
const MAX_TAG_CHARS = 1024;
const MAX_CALL_ID_DIGITS = 25; // getrandbits(80) < 1.21e24: at most 25 decimal digits
const U32_MAX = 4_294_967_295;
const MIN_TAG_COUNTER_DIGITS = 6;
const BRANCH_PREFIX = 'z9hG4bK-'; // RFC 3261 §8.1.1.7 magic cookie, then SIPVicious's dash

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isAlnum(c: number): boolean {
  return isDigit(c) || (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

/** Decimal digits only, 1–10 of them, value ≤ 2^32−1 (what str(getrandbits(32)) yields). */
function isU32Decimal(s: string, from: number, to: number): boolean {
  const n = to - from;
  if (n < 1 || n > 10) return false;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!isDigit(c)) return false;
    v = v * 10 + (c - 48);
  }
  return v <= U32_MAX;
}

export function matchScannerUserAgent(userAgent: string): string | undefined {
  const ua = (userAgent.length > MAX_UA_CHARS ? userAgent.slice(0, MAX_UA_CHARS) : userAgent).toLowerCase();
  for (const needle of SCANNER_USER_AGENTS) {
    let at = ua.indexOf(needle);
    while (at !== -1) {
      if (needle.length >= 6) return needle;
      const before = at === 0 ? 32 : ua.charCodeAt(at - 1);
      const end = at + needle.length;
      const after = end >= ua.length ? 32 : ua.charCodeAt(end);
      if (!isAlnum(before) && !(after >= 97 && after <= 122)) return needle;
      at = ua.indexOf(needle, at + 1);
    }
  }
  return undefined;
}

/** `z9hG4bK-` + str(getrandbits(32)), nothing else (svhelper.makeRequest). */
export function isSipviciousBranch(branch: string): boolean {
  return branch.startsWith(BRANCH_PREFIX) && isU32Decimal(branch, BRANCH_PREFIX.length, branch.length);
}

function hexNibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * b2a_hex(printable ASCII + 0x01 + str(getrandbits(32))) (svhelper.createTag). Decodes in place.
 * The counter must have at least 6 digits: getrandbits(32) is below 10^5 with probability 2.3e-5, while a
 * shorter counter would let ordinary decimal tags match by chance (Yealink sends 10-digit decimal tags,
 * which are valid hex; "3132330131" decodes to "123\x011" — with ≥ 6 counter digits no 10-digit tag can match).
 */
export function isSipviciousTag(tag: string): boolean {
  const n = tag.length;
  if (n < 6 || n > MAX_TAG_CHARS || n % 2 !== 0) return false;
  let sep = -1; // byte index of the 0x01 separator
  let counter = 0;
  let counterDigits = 0;
  for (let i = 0; i < n; i += 2) {
    const hi = hexNibble(tag.charCodeAt(i));
    const lo = hexNibble(tag.charCodeAt(i + 1));
    if (hi < 0 || lo < 0) return false;
    const byte = hi * 16 + lo;
    if (sep === -1) {
      if (byte === 1) {
        if (i === 0) return false; // createTag always has data before the separator
        sep = i / 2;
      } else if (byte < 0x20 || byte > 0x7e) return false;
    } else {
      if (!isDigit(byte) || ++counterDigits > 10) return false;
      counter = counter * 10 + (byte - 48);
    }
  }
  return sep !== -1 && counterDigits >= MIN_TAG_COUNTER_DIGITS && counter <= U32_MAX;
}

/** str(getrandbits(k)) as the whole Call-ID: digits, no `@host` (svmap/svwar/svcrack). */
export function isSipviciousCallId(callId: string): boolean {
  const n = callId.length;
  if (n < 1 || n > MAX_CALL_ID_DIGITS) return false;
  for (let i = 0; i < n; i++) if (!isDigit(callId.charCodeAt(i))) return false;
  return true;
}

function normaliseHost(host: string): string {
  let h = host;
  if (h.length > 1 && h.charCodeAt(0) === 91 && h.charCodeAt(h.length - 1) === 93) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h.toLowerCase();
}

/** First matching rule, cheapest and most specific first; undefined for ordinary traffic. Never throws. */
export function detectScanner(facts: ScannerFacts): ScannerMatch | undefined {
  if (facts.userAgent !== undefined && facts.userAgent !== '') {
    const needle = matchScannerUserAgent(facts.userAgent);
    if (needle !== undefined) return { kind: 'user_agent', detail: needle };
  }
  if (facts.topViaBranch !== undefined && isSipviciousBranch(facts.topViaBranch))
    return { kind: 'branch', detail: 'z9hG4bK-<u32 decimal>' };
  if (facts.fromTag !== undefined && isSipviciousTag(facts.fromTag)) return { kind: 'from_tag', detail: 'hex(ascii 0x01 <u32 decimal>)' };
  if (facts.callId !== undefined && isSipviciousCallId(facts.callId)) return { kind: 'call_id', detail: 'decimal without @host' };
  if (facts.requestUriHost !== undefined && facts.ourHosts.size > 0) {
    const raw = facts.requestUriHost;
    if (!facts.ourHosts.has(raw)) {
      const h = normaliseHost(raw);
      if (!facts.ourHosts.has(h)) return { kind: 'ruri_host', detail: h.length > 255 ? h.slice(0, 255) : h };
    }
  }
  return undefined;
}
