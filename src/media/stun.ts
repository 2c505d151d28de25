/**
 * STUN message codec (RFC 5389, RFC 8489) for the ICE-lite responder: a bounded parser that never throws and
 * never allocates, and writers that encode into a caller-owned buffer (dns-packet style: `write*(out, pos)`
 * returns the next position).
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |0 0|     STUN Message Type     |         Message Length        |   RFC 5389 §6
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                   Magic Cookie = 0x2112A442                   |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                Transaction ID (96 bits, 12 bytes)             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |         Type                  |            Length             |   RFC 5389 §15, repeated; value padded
 *  |                         Value (variable)                ....      to a multiple of 4 bytes
 *
 * MESSAGE-INTEGRITY is HMAC-SHA1 computed here in JavaScript from precomputed ipad/opad states (RFC 2104 §4),
 * so a check costs no native call and no allocation; MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6) is rare and
 * uses node:crypto. FINGERPRINT is CRC-32 from a table built once.
 */
import { createHash, createHmac } from 'node:crypto';

export const STUN_HEADER_BYTES = 20;
export const STUN_MAGIC_COOKIE = 0x2112a442;
/** Messages longer than this are not parsed (a media port's STUN is small; RFC 8489 §6.2.1 path MTU). */
export const STUN_MAX_MESSAGE_BYTES = 1500;
/** Attributes read from one message before giving up. */
export const STUN_MAX_ATTRIBUTES = 32;
/** Unknown comprehension-required attribute types remembered for a 420 answer (RFC 5389 §7.3.1). */
export const STUN_MAX_UNKNOWN_ATTRIBUTES = 8;
/** RFC 8489 §14.3: USERNAME is < 513 bytes. */
export const STUN_MAX_USERNAME_BYTES = 512;

export const STUN_BINDING = 0x001;
export const STUN_CLASS_REQUEST = 0;
export const STUN_CLASS_INDICATION = 1;
export const STUN_CLASS_SUCCESS = 2;
export const STUN_CLASS_ERROR = 3;
export const STUN_BINDING_REQUEST = 0x0001;
export const STUN_BINDING_INDICATION = 0x0011;
export const STUN_BINDING_SUCCESS = 0x0101;
export const STUN_BINDING_ERROR = 0x0111;

export const ATTR_MAPPED_ADDRESS = 0x0001;
export const ATTR_USERNAME = 0x0006;
export const ATTR_MESSAGE_INTEGRITY = 0x0008;
export const ATTR_ERROR_CODE = 0x0009;
export const ATTR_UNKNOWN_ATTRIBUTES = 0x000a;
export const ATTR_REALM = 0x0014;
export const ATTR_NONCE = 0x0015;
export const ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001c;
export const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
export const ATTR_PRIORITY = 0x0024;
export const ATTR_USE_CANDIDATE = 0x0025;
export const ATTR_SOFTWARE = 0x8022;
export const ATTR_FINGERPRINT = 0x8028;
export const ATTR_ICE_CONTROLLED = 0x8029;
export const ATTR_ICE_CONTROLLING = 0x802a;

/** RFC 5389 §15.5: the CRC-32 is XORed with this so STUN is told from other CRC-carrying protocols. */
export const STUN_FINGERPRINT_XOR = 0x5354554e;
const HMAC_SHA1_BYTES = 20;

export type StunParseStatus =
  | 'ok'
  | 'stun_too_short'
  | 'stun_too_long'
  | 'stun_not_stun'
  | 'stun_bad_cookie'
  | 'stun_bad_length'
  | 'stun_attr_truncated'
  | 'stun_bad_attr_length'
  | 'stun_too_many_attributes'
  | 'stun_after_fingerprint';

/**
 * What one parse found, as offsets into the parsed buffer (−1: absent). One view is owned by its caller and
 * reused for every packet; it is valid only together with the buffer it was filled from.
 */
export class StunMessageView {
  messageType = 0;
  method = 0;
  messageClass = 0;
  /** Header length field: bytes after the 20-byte header. */
  bodyLength = 0;
  attributeCount = 0;
  usernameOffset = -1;
  usernameLength = 0;
  /** Offset of the MESSAGE-INTEGRITY attribute header. */
  integrityOffset = -1;
  integritySha256Offset = -1;
  integritySha256Length = 0;
  /** Offset of the FINGERPRINT attribute header (always the last attribute). */
  fingerprintOffset = -1;
  hasPriority = false;
  priority = 0;
  useCandidate = false;
  iceControlling = false;
  iceControlled = false;
  /** ICE tie-breaker (RFC 8445 §7.1.3), as two unsigned 32-bit halves. */
  tieBreakerHigh = 0;
  tieBreakerLow = 0;
  /** ERROR-CODE as a number (class × 100 + number); 0 when absent. */
  errorCode = 0;
  errorReasonOffset = -1;
  errorReasonLength = 0;
  /** XOR-MAPPED-ADDRESS: 0 absent, 4 or 6; the port is already un-XORed; the address is read by readXorMappedAddress. */
  xorMappedFamily = 0;
  xorMappedPort = 0;
  xorMappedAddressOffset = -1;
  /** Unknown comprehension-required types (first STUN_MAX_UNKNOWN_ATTRIBUTES), for a 420 answer. */
  readonly unknownRequired = new Uint16Array(STUN_MAX_UNKNOWN_ATTRIBUTES);
  unknownRequiredCount = 0;

  reset(): void {
    this.messageType = 0;
    this.method = 0;
    this.messageClass = 0;
    this.bodyLength = 0;
    this.attributeCount = 0;
    this.usernameOffset = -1;
    this.usernameLength = 0;
    this.integrityOffset = -1;
    this.integritySha256Offset = -1;
    this.integritySha256Length = 0;
    this.fingerprintOffset = -1;
    this.hasPriority = false;
    this.priority = 0;
    this.useCandidate = false;
    this.iceControlling = false;
    this.iceControlled = false;
    this.tieBreakerHigh = 0;
    this.tieBreakerLow = 0;
    this.errorCode = 0;
    this.errorReasonOffset = -1;
    this.errorReasonLength = 0;
    this.xorMappedFamily = 0;
    this.xorMappedPort = 0;
    this.xorMappedAddressOffset = -1;
    this.unknownRequiredCount = 0;
  }
}

function u16(b: Uint8Array, o: number): number {
  return ((b[o] as number) << 8) | (b[o + 1] as number);
}

function u32(b: Uint8Array, o: number): number {
  return (((b[o] as number) << 24) | ((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number)) >>> 0;
}

/** Big-endian 32 bits as a signed integer (never boxed, see crc32Int). */
function i32(b: Uint8Array, o: number): number {
  return ((b[o] as number) << 24) | ((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number);
}

function putU16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** True when the first bytes look like a STUN message (top bits 00 and the magic cookie; RFC 5389 §6). */
export function isStunMessage(buf: Uint8Array): boolean {
  return buf.length >= STUN_HEADER_BYTES && ((buf[0] as number) & 0xc0) === 0 && u32(buf, 4) === STUN_MAGIC_COOKIE;
}

/** Attributes a Binding agent understands or may safely ignore; other types below 0x8000 earn a 420. */
function isKnownRequired(type: number): boolean {
  switch (type) {
    case ATTR_MAPPED_ADDRESS:
    case ATTR_USERNAME:
    case ATTR_MESSAGE_INTEGRITY:
    case ATTR_ERROR_CODE:
    case ATTR_UNKNOWN_ATTRIBUTES:
    case ATTR_REALM:
    case ATTR_NONCE:
    case ATTR_MESSAGE_INTEGRITY_SHA256:
    case ATTR_XOR_MAPPED_ADDRESS:
    case ATTR_PRIORITY:
    case ATTR_USE_CANDIDATE:
      return true;
    default:
      return false;
  }
}

/**
 * Parses `buf` (one whole datagram) into `view`. Never throws, never allocates. Checks (RFC 5389 §6, §15,
 * RFC 8489 §5, §14): top two bits zero, magic cookie, length a multiple of 4 and equal to the datagram, every
 * attribute inside the message, fixed-size attributes of their size, nothing after FINGERPRINT. Attributes
 * after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are ignored (RFC 8489 §14.5).
 * The first occurrence of a repeated attribute wins.
 */
export function parseStun(buf: Uint8Array, view: StunMessageView): StunParseStatus {
  view.reset();
  const len = buf.length;
  if (len < STUN_HEADER_BYTES) return 'stun_too_short';
  if (len > STUN_MAX_MESSAGE_BYTES) return 'stun_too_long';
  const type = u16(buf, 0);
  if ((type & 0xc000) !== 0) return 'stun_not_stun';
  if (u32(buf, 4) !== STUN_MAGIC_COOKIE) return 'stun_bad_cookie';
  const bodyLength = u16(buf, 2);
  if ((bodyLength & 3) !== 0 || STUN_HEADER_BYTES + bodyLength !== len) return 'stun_bad_length';
  view.messageType = type;
  view.method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  view.messageClass = ((type >> 4) & 1) | ((type >> 7) & 2);
  view.bodyLength = bodyLength;

  let pos = STUN_HEADER_BYTES;
  let count = 0;
  while (pos < len) {
    if (view.fingerprintOffset >= 0) return 'stun_after_fingerprint';
    if (len - pos < 4) return 'stun_attr_truncated';
    const at = u16(buf, pos);
    const alen = u16(buf, pos + 2);
    const v = pos + 4;
    const next = v + ((alen + 3) & ~3);
    if (next > len) return 'stun_attr_truncated';
    if (++count > STUN_MAX_ATTRIBUTES) return 'stun_too_many_attributes';
    const protectedPart = view.integrityOffset < 0 && view.integritySha256Offset < 0;
    if (at === ATTR_FINGERPRINT) {
      if (alen !== 4) return 'stun_bad_attr_length';
      view.fingerprintOffset = pos;
    } else if (at === ATTR_MESSAGE_INTEGRITY_SHA256) {
      // RFC 8489 §14.6: 16..32 bytes, a multiple of 4. It may follow MESSAGE-INTEGRITY, nothing else may.
      if (alen < 16 || alen > 32 || (alen & 3) !== 0) return 'stun_bad_attr_length';
      if (view.integritySha256Offset < 0) {
        view.integritySha256Offset = pos;
        view.integritySha256Length = alen;
      }
    } else if (!protectedPart) {
      // RFC 8489 §14.5: ignored after the integrity attribute.
    } else {
      switch (at) {
        case ATTR_MESSAGE_INTEGRITY:
          if (alen !== HMAC_SHA1_BYTES) return 'stun_bad_attr_length';
          view.integrityOffset = pos;
          break;
        case ATTR_USERNAME:
          if (alen > STUN_MAX_USERNAME_BYTES) return 'stun_bad_attr_length';
          if (view.usernameOffset < 0) {
            view.usernameOffset = v;
            view.usernameLength = alen;
          }
          break;
        case ATTR_PRIORITY:
          if (alen !== 4) return 'stun_bad_attr_length';
          if (!view.hasPriority) {
            view.hasPriority = true;
            view.priority = u32(buf, v);
          }
          break;
        case ATTR_USE_CANDIDATE:
          if (alen !== 0) return 'stun_bad_attr_length';
          view.useCandidate = true;
          break;
        case ATTR_ICE_CONTROLLING:
        case ATTR_ICE_CONTROLLED:
          if (alen !== 8) return 'stun_bad_attr_length';
          if (!view.iceControlling && !view.iceControlled) {
            if (at === ATTR_ICE_CONTROLLING) view.iceControlling = true;
            else view.iceControlled = true;
            view.tieBreakerHigh = u32(buf, v);
            view.tieBreakerLow = u32(buf, v + 4);
          }
          break;
        case ATTR_ERROR_CODE:
          // RFC 5389 §15.6: 21 reserved bits, class (3 bits, 3..6), number (8 bits, 0..99), reason.
          if (alen < 4) return 'stun_bad_attr_length';
          if (view.errorCode === 0) {
            view.errorCode = ((buf[v + 2] as number) & 7) * 100 + (buf[v + 3] as number);
            view.errorReasonOffset = v + 4;
            view.errorReasonLength = alen - 4;
          }
          break;
        case ATTR_XOR_MAPPED_ADDRESS: {
          // RFC 5389 §15.2: reserved byte, family (1 IPv4, 2 IPv6), X-Port, X-Address.
          if (alen < 4) return 'stun_bad_attr_length';
          const family = buf[v + 1] as number;
          if (!((family === 1 && alen === 8) || (family === 2 && alen === 20))) return 'stun_bad_attr_length';
          if (view.xorMappedFamily === 0) {
            view.xorMappedFamily = family === 1 ? 4 : 6;
            view.xorMappedPort = u16(buf, v + 2) ^ (STUN_MAGIC_COOKIE >>> 16);
            view.xorMappedAddressOffset = v + 4;
          }
          break;
        }
        default:
          if (at < 0x8000 && !isKnownRequired(at) && view.unknownRequiredCount < STUN_MAX_UNKNOWN_ATTRIBUTES) {
            view.unknownRequired[view.unknownRequiredCount++] = at;
          }
      }
    }
    pos = next;
  }
  view.attributeCount = count;
  return 'ok';
}

/** Un-XORs the XOR-MAPPED-ADDRESS into `out` (4 or 16 bytes used); returns the family (4, 6) or 0. */
export function readXorMappedAddress(buf: Uint8Array, view: StunMessageView, out: Uint8Array): number {
  const o = view.xorMappedAddressOffset;
  if (o < 0) return 0;
  // RFC 5389 §15.2: XOR with the magic cookie (IPv4) or magic cookie ‖ transaction ID (IPv6): bytes 4..20.
  const n = view.xorMappedFamily === 4 ? 4 : 16;
  if (out.length < n) return 0;
  for (let i = 0; i < n; i++) out[i] = (buf[o + i] as number) ^ (buf[4 + i] as number);
  return view.xorMappedFamily;
}

// ---------------------------------------------------------------------------------------------------------
// CRC-32 (ISO-HDLC, reflected 0xEDB88320) for FINGERPRINT, RFC 5389 §15.5.

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/**
 * CRC-32 as a signed 32-bit integer. Hot-path values stay int32 on purpose: a uint32 above 2^31 returned from
 * a call V8 does not inline is boxed into a heap number.
 */
function crc32Int(buf: Uint8Array, start: number, end: number): number {
  let c = -1;
  for (let i = start; i < end; i++) c = (CRC_TABLE[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return c ^ -1;
}

/** CRC-32 of `buf[start..end)` as an unsigned number. */
export function crc32(buf: Uint8Array, start: number, end: number): number {
  return crc32Int(buf, start, end) >>> 0;
}

/** True when FINGERPRINT is present and matches (it is the last attribute, so the length field covers it). */
export function verifyFingerprint(buf: Uint8Array, view: StunMessageView): boolean {
  const o = view.fingerprintOffset;
  if (o < 0) return false;
  return (crc32Int(buf, 0, o) ^ STUN_FINGERPRINT_XOR) === i32(buf, o + 4);
}

// ---------------------------------------------------------------------------------------------------------
// SHA-1 (FIPS 180-4 §6.1) and HMAC-SHA1 (RFC 2104) over reused state: no allocation per message.

const SHA1_IV = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0] as const;
const shaW = new Int32Array(80);
const shaBlock = new Uint8Array(64);
const shaState = new Int32Array(5);
let shaBlockLen = 0;
let shaTotal = 0;
const innerDigest = new Uint8Array(HMAC_SHA1_BYTES);
const macScratch = new Uint8Array(HMAC_SHA1_BYTES);

function sha1Compress(st: Int32Array, m: Uint8Array): void {
  const w = shaW;
  for (let t = 0; t < 16; t++) {
    const o = t * 4;
    w[t] = ((m[o] as number) << 24) | ((m[o + 1] as number) << 16) | ((m[o + 2] as number) << 8) | (m[o + 3] as number);
  }
  for (let t = 16; t < 80; t++) {
    const x = (w[t - 3] as number) ^ (w[t - 8] as number) ^ (w[t - 14] as number) ^ (w[t - 16] as number);
    w[t] = (x << 1) | (x >>> 31);
  }
  let a = st[0] as number;
  let b = st[1] as number;
  let c = st[2] as number;
  let d = st[3] as number;
  let e = st[4] as number;
  for (let t = 0; t < 80; t++) {
    let f: number;
    let k: number;
    if (t < 20) {
      f = (b & c) | (~b & d);
      k = 0x5a827999;
    } else if (t < 40) {
      f = b ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (t < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8f1bbcdc;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6;
    }
    const tmp = (((a << 5) | (a >>> 27)) + f + e + k + (w[t] as number)) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = tmp;
  }
  st[0] = ((st[0] as number) + a) | 0;
  st[1] = ((st[1] as number) + b) | 0;
  st[2] = ((st[2] as number) + c) | 0;
  st[3] = ((st[3] as number) + d) | 0;
  st[4] = ((st[4] as number) + e) | 0;
}

/** Starts a hash from a saved state that has already absorbed `absorbed` bytes (a multiple of 64). */
function shaStart(from: Int32Array, absorbed: number): void {
  shaState.set(from);
  shaBlockLen = 0;
  shaTotal = absorbed;
}

function shaByte(x: number): void {
  shaBlock[shaBlockLen++] = x;
  shaTotal++;
  if (shaBlockLen === 64) {
    sha1Compress(shaState, shaBlock);
    shaBlockLen = 0;
  }
}

function shaBytes(src: Uint8Array, start: number, end: number): void {
  for (let i = start; i < end; i++) shaByte(src[i] as number);
}

function shaFinish(out: Uint8Array): void {
  const bits = shaTotal * 8;
  shaByte(0x80);
  while (shaBlockLen !== 56) shaByte(0);
  const hi = Math.floor(bits / 0x100000000);
  shaByte((hi >>> 24) & 0xff);
  shaByte((hi >>> 16) & 0xff);
  shaByte((hi >>> 8) & 0xff);
  shaByte(hi & 0xff);
  shaByte((bits >>> 24) & 0xff);
  shaByte((bits >>> 16) & 0xff);
  shaByte((bits >>> 8) & 0xff);
  shaByte(bits & 0xff);
  for (let i = 0; i < 5; i++) putU32(out, i * 4, shaState[i] as number);
}

/**
 * A short-term credential key (RFC 8489 §9.1.1: key = OpaqueString(password); ICE passwords are ASCII
 * ice-chars, RFC 8445 §5.3, so the UTF-8 bytes are the key). Built once per password, on the control path.
 */
export class StunIntegrityKey {
  /** SHA-1 state after the ipad and opad blocks (RFC 2104 §4). */
  readonly inner = new Int32Array(5);
  readonly outer = new Int32Array(5);
  /** The raw key, for MESSAGE-INTEGRITY-SHA256 (node:crypto). */
  readonly raw: Buffer;

  constructor(password: string | Uint8Array) {
    this.raw = typeof password === 'string' ? Buffer.from(password, 'utf8') : Buffer.from(password);
    const k = this.raw.length > 64 ? createHash('sha1').update(this.raw).digest() : this.raw;
    const pad = new Uint8Array(64);
    for (const [state, fill] of [
      [this.inner, 0x36],
      [this.outer, 0x5c],
    ] as const) {
      for (let i = 0; i < 64; i++) pad[i] = (i < k.length ? (k[i] as number) : 0) ^ fill;
      state.set(SHA1_IV);
      sha1Compress(state, pad);
    }
  }
}

/** HMAC-SHA1 of `msg[start..end)` into `out[0..20)` (exported for tests against node:crypto). */
export function hmacSha1Into(key: StunIntegrityKey, msg: Uint8Array, start: number, end: number, out: Uint8Array): void {
  shaStart(key.inner, 64);
  shaBytes(msg, start, end);
  finishHmac(key, out);
}

function finishHmac(key: StunIntegrityKey, out: Uint8Array): void {
  shaFinish(innerDigest);
  shaStart(key.outer, 64);
  shaBytes(innerDigest, 0, HMAC_SHA1_BYTES);
  shaFinish(out);
}

/**
 * HMAC-SHA1 over the message up to the integrity attribute at `miOffset`, with the header length field taken
 * as if the message ended right after that attribute (RFC 5389 §15.4), without modifying `buf`.
 */
function integrityMac(key: StunIntegrityKey, buf: Uint8Array, miOffset: number, out: Uint8Array): void {
  const adjusted = miOffset - STUN_HEADER_BYTES + 4 + HMAC_SHA1_BYTES;
  shaStart(key.inner, 64);
  shaByte(buf[0] as number);
  shaByte(buf[1] as number);
  shaByte((adjusted >>> 8) & 0xff);
  shaByte(adjusted & 0xff);
  shaBytes(buf, 4, miOffset);
  finishHmac(key, out);
}

/** True when MESSAGE-INTEGRITY is present and verifies with `key` (RFC 5389 §15.4). Compares in constant time. */
export function verifyMessageIntegrity(buf: Uint8Array, view: StunMessageView, key: StunIntegrityKey): boolean {
  const o = view.integrityOffset;
  if (o < 0) return false;
  integrityMac(key, buf, o, macScratch);
  let diff = 0;
  for (let i = 0; i < HMAC_SHA1_BYTES; i++) diff |= (macScratch[i] as number) ^ (buf[o + 4 + i] as number);
  return diff === 0;
}

function integritySha256(key: StunIntegrityKey, buf: Uint8Array, o: number, macLength: number): Buffer {
  const header = Buffer.from(buf.subarray(0, STUN_HEADER_BYTES));
  putU16(header, 2, o - STUN_HEADER_BYTES + 4 + macLength);
  return createHmac('sha256', key.raw).update(header).update(buf.subarray(STUN_HEADER_BYTES, o)).digest();
}

/**
 * True when MESSAGE-INTEGRITY-SHA256 is present and verifies (RFC 8489 §14.6; possibly truncated to 16..32
 * bytes). Uses node:crypto and allocates: browsers do not send it, so it is off the hot path.
 */
export function verifyMessageIntegritySha256(buf: Uint8Array, view: StunMessageView, key: StunIntegrityKey): boolean {
  const o = view.integritySha256Offset;
  if (o < 0) return false;
  const n = view.integritySha256Length;
  const mac = integritySha256(key, buf, o, n);
  let diff = 0;
  for (let i = 0; i < n; i++) diff |= (mac[i] as number) ^ (buf[o + 4 + i] as number);
  return diff === 0;
}

// ---------------------------------------------------------------------------------------------------------
// Writers: each writes at `pos` in `out` and returns the next position. The caller sizes `out`
// (STUN_MAX_RESPONSE_BYTES covers every answer the responder builds).

export const STUN_MAX_RESPONSE_BYTES = 256;

/** Writes the header with a zero length; the transaction ID is copied from `tx[txOffset..+12)`. */
export function writeStunHeader(out: Uint8Array, messageType: number, tx: Uint8Array, txOffset: number): number {
  putU16(out, 0, messageType);
  putU16(out, 2, 0);
  putU32(out, 4, STUN_MAGIC_COOKIE);
  for (let i = 0; i < 12; i++) out[8 + i] = tx[txOffset + i] as number;
  return STUN_HEADER_BYTES;
}

/** Sets the header length for a message ending at `end` (call once the last attribute is written). */
export function finishStun(out: Uint8Array, end: number): number {
  putU16(out, 2, end - STUN_HEADER_BYTES);
  return end;
}

/** A generic attribute with `value[start..end)`, zero-padded to 4 bytes. */
export function writeAttribute(out: Uint8Array, pos: number, type: number, value: Uint8Array, start = 0, end = value.length): number {
  const n = end - start;
  putU16(out, pos, type);
  putU16(out, pos + 2, n);
  let p = pos + 4;
  for (let i = start; i < end; i++) out[p++] = value[i] as number;
  while ((p & 3) !== 0) out[p++] = 0;
  return p;
}

export function writeU32Attribute(out: Uint8Array, pos: number, type: number, value: number): number {
  putU16(out, pos, type);
  putU16(out, pos + 2, 4);
  putU32(out, pos + 4, value);
  return pos + 8;
}

/** ICE-CONTROLLING / ICE-CONTROLLED with a tie-breaker given as two 32-bit halves. */
export function writeU64Attribute(out: Uint8Array, pos: number, type: number, high: number, low: number): number {
  putU16(out, pos, type);
  putU16(out, pos + 2, 8);
  putU32(out, pos + 4, high);
  putU32(out, pos + 8, low);
  return pos + 12;
}

export function writeFlagAttribute(out: Uint8Array, pos: number, type: number): number {
  putU16(out, pos, type);
  putU16(out, pos + 2, 0);
  return pos + 4;
}

/** XOR-MAPPED-ADDRESS (RFC 5389 §15.2); `address` holds 4 (family 4) or 16 (family 6) bytes. Needs the header written. */
export function writeXorMappedAddress(out: Uint8Array, pos: number, family: 4 | 6, port: number, address: Uint8Array): number {
  const n = family === 4 ? 4 : 16;
  putU16(out, pos, ATTR_XOR_MAPPED_ADDRESS);
  putU16(out, pos + 2, 4 + n);
  out[pos + 4] = 0;
  out[pos + 5] = family === 4 ? 1 : 2;
  putU16(out, pos + 6, (port ^ (STUN_MAGIC_COOKIE >>> 16)) & 0xffff);
  for (let i = 0; i < n; i++) out[pos + 8 + i] = (address[i] as number) ^ (out[4 + i] as number);
  return pos + 8 + n;
}

/** ERROR-CODE (RFC 5389 §15.6) with an ASCII reason phrase given as bytes. */
export function writeErrorCode(out: Uint8Array, pos: number, code: number, reason: Uint8Array): number {
  putU16(out, pos, ATTR_ERROR_CODE);
  putU16(out, pos + 2, 4 + reason.length);
  out[pos + 4] = 0;
  out[pos + 5] = 0;
  out[pos + 6] = Math.floor(code / 100) & 7;
  out[pos + 7] = code % 100;
  let p = pos + 8;
  for (let i = 0; i < reason.length; i++) out[p++] = reason[i] as number;
  while ((p & 3) !== 0) out[p++] = 0;
  return p;
}

/** UNKNOWN-ATTRIBUTES (RFC 5389 §15.9): the 16-bit types, padded. */
export function writeUnknownAttributes(out: Uint8Array, pos: number, types: Uint16Array, count: number): number {
  putU16(out, pos, ATTR_UNKNOWN_ATTRIBUTES);
  putU16(out, pos + 2, count * 2);
  let p = pos + 4;
  for (let i = 0; i < count; i++) {
    putU16(out, p, types[i] as number);
    p += 2;
  }
  while ((p & 3) !== 0) out[p++] = 0;
  return p;
}

/** MESSAGE-INTEGRITY over everything before `pos`, with the length field covering it (RFC 5389 §15.4). */
export function writeMessageIntegrity(out: Uint8Array, pos: number, key: StunIntegrityKey): number {
  finishStun(out, pos + 4 + HMAC_SHA1_BYTES);
  putU16(out, pos, ATTR_MESSAGE_INTEGRITY);
  putU16(out, pos + 2, HMAC_SHA1_BYTES);
  integrityMac(key, out, pos, macScratch);
  out.set(macScratch, pos + 4);
  return pos + 4 + HMAC_SHA1_BYTES;
}

/** MESSAGE-INTEGRITY-SHA256, full 32 bytes (RFC 8489 §14.6). Allocates (node:crypto). */
export function writeMessageIntegritySha256(out: Uint8Array, pos: number, key: StunIntegrityKey): number {
  finishStun(out, pos + 4 + 32);
  putU16(out, pos, ATTR_MESSAGE_INTEGRITY_SHA256);
  putU16(out, pos + 2, 32);
  out.set(integritySha256(key, out, pos, 32), pos + 4);
  return pos + 36;
}

/** FINGERPRINT, the last attribute (RFC 5389 §15.5): sets the final length, then the CRC over all before it. */
export function writeFingerprint(out: Uint8Array, pos: number): number {
  finishStun(out, pos + 8);
  putU16(out, pos, ATTR_FINGERPRINT);
  putU16(out, pos + 2, 4);
  putU32(out, pos + 4, crc32Int(out, 0, pos) ^ STUN_FINGERPRINT_XOR);
  return pos + 8;
}

// ---------------------------------------------------------------------------------------------------------
// Control-path encoder (allocates): builds a request as an ICE peer would, for tests and tools.

export interface StunEncodeOptions {
  /** Default: Binding request. */
  messageType?: number;
  /** 12 bytes. */
  transactionId: Uint8Array;
  username?: string;
  priority?: number;
  useCandidate?: boolean;
  /** Tie-breaker halves [high, low]. */
  iceControlling?: readonly [number, number];
  iceControlled?: readonly [number, number];
  /** Further attributes, written before the integrity attributes in this order. */
  extra?: readonly { type: number; value: Uint8Array }[];
  /** MESSAGE-INTEGRITY with this key. */
  integrity?: StunIntegrityKey;
  /** MESSAGE-INTEGRITY-SHA256 with this key (after MESSAGE-INTEGRITY when both). */
  integritySha256?: StunIntegrityKey;
  /** Default true. */
  fingerprint?: boolean;
}

export function encodeStunMessage(o: StunEncodeOptions): Buffer {
  const out = Buffer.alloc(STUN_MAX_MESSAGE_BYTES);
  let p = writeStunHeader(out, o.messageType ?? STUN_BINDING_REQUEST, o.transactionId, 0);
  if (o.username !== undefined) p = writeAttribute(out, p, ATTR_USERNAME, Buffer.from(o.username, 'utf8'));
  if (o.priority !== undefined) p = writeU32Attribute(out, p, ATTR_PRIORITY, o.priority);
  if (o.useCandidate === true) p = writeFlagAttribute(out, p, ATTR_USE_CANDIDATE);
  if (o.iceControlling) p = writeU64Attribute(out, p, ATTR_ICE_CONTROLLING, o.iceControlling[0], o.iceControlling[1]);
  if (o.iceControlled) p = writeU64Attribute(out, p, ATTR_ICE_CONTROLLED, o.iceControlled[0], o.iceControlled[1]);
  for (const a of o.extra ?? []) p = writeAttribute(out, p, a.type, a.value);
  if (o.integrity) p = writeMessageIntegrity(out, p, o.integrity);
  if (o.integritySha256) p = writeMessageIntegritySha256(out, p, o.integritySha256);
  if (o.fingerprint !== false) p = writeFingerprint(out, p);
  else finishStun(out, p);
  return Buffer.from(out.subarray(0, p));
}
