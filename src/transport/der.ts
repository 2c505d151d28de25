/**
 * Minimal DER (ITU-T X.690 §10) encoder: just what an X.509 v3 certificate needs. Encoding only; nothing here
 * reads untrusted bytes.
 *
 *   ┌─ tag (1 byte) ─┬─ length ───────────────────────────────┬─ content ─┐
 *   │ class|P/C|num  │ < 0x80: 1 byte; else 0x80|n, n bytes BE │  length   │
 *   └────────────────┴────────────────────────────────────────┴───────────┘
 */

const TAG_BOOLEAN = 0x01;
const TAG_INTEGER = 0x02;
const TAG_BIT_STRING = 0x03;
const TAG_OCTET_STRING = 0x04;
const TAG_NULL = 0x05;
const TAG_OID = 0x06;
const TAG_UTF8_STRING = 0x0c;
const TAG_IA5_STRING = 0x16;
const TAG_UTC_TIME = 0x17;
const TAG_GENERALIZED_TIME = 0x18;
const TAG_SEQUENCE = 0x30;
const TAG_SET = 0x31;

function encodeLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  let v = n;
  while (v > 0) {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export function sequence(...items: Buffer[]): Buffer {
  return tlv(TAG_SEQUENCE, Buffer.concat(items));
}

/** SET OF: DER sorts the encoded elements (X.690 §11.6). */
export function set(...items: Buffer[]): Buffer {
  return tlv(TAG_SET, Buffer.concat([...items].sort(Buffer.compare)));
}

/** INTEGER from unsigned big-endian bytes (a leading 0x00 is added when the top bit is set). */
export function integerFromBytes(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  let body = unsigned.subarray(start);
  if (body.length === 0) body = Buffer.from([0]);
  if ((body[0] as number) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return tlv(TAG_INTEGER, body);
}

export function integer(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('integer: non-negative safe integers only');
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  return integerFromBytes(Buffer.from(bytes));
}

export function boolean(v: boolean): Buffer {
  return tlv(TAG_BOOLEAN, Buffer.from([v ? 0xff : 0x00]));
}

export function nullValue(): Buffer {
  return tlv(TAG_NULL, Buffer.alloc(0));
}

/** OBJECT IDENTIFIER from dotted form: first two arcs packed as 40*a+b, then base-128 arcs (X.690 §8.19). */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((s) => Number(s));
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) throw new RangeError(`bad OID ${dotted}`);
  const out: number[] = [];
  const pushArc = (a: number): void => {
    const tmp: number[] = [a & 0x7f];
    let v = Math.floor(a / 128);
    while (v > 0) {
      tmp.unshift((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(...tmp);
  };
  pushArc((arcs[0] as number) * 40 + (arcs[1] as number));
  for (const a of arcs.slice(2)) pushArc(a);
  return tlv(TAG_OID, Buffer.from(out));
}

export function utf8String(s: string): Buffer {
  return tlv(TAG_UTF8_STRING, Buffer.from(s, 'utf8'));
}

export function ia5String(s: string): Buffer {
  return tlv(TAG_IA5_STRING, Buffer.from(s, 'latin1'));
}

export function octetString(b: Buffer): Buffer {
  return tlv(TAG_OCTET_STRING, b);
}

/** BIT STRING with `unusedBits` padding bits in the last byte. */
export function bitString(b: Buffer, unusedBits = 0): Buffer {
  return tlv(TAG_BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), b]));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, both in Z with seconds. */
export function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const rest = `${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}${p2(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(TAG_UTC_TIME, Buffer.from(`${p2(y % 100)}${rest}`, 'latin1'));
  return tlv(TAG_GENERALIZED_TIME, Buffer.from(`${String(y).padStart(4, '0')}${rest}`, 'latin1'));
}

/** [n] EXPLICIT: constructed context-specific tag wrapping a whole encoding. */
export function explicit(n: number, inner: Buffer): Buffer {
  return tlv(0xa0 | n, inner);
}

/** [n] IMPLICIT over a primitive type: context-specific primitive tag with the raw content. */
export function implicitPrimitive(n: number, content: Buffer): Buffer {
  return tlv(0x80 | n, content);
}
