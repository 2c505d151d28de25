/**
 * Bounded readers for the DTLS 1.2 handshake message bodies Palisade checks itself (RFC 5246 §7.4, RFC 6347 §4.2,
 * RFC 8422 §5.4). They never throw: a malformed body gives undefined. Offsets are into the body that follows the
 * 12-byte DTLS handshake header.
 */

/** HandshakeType (RFC 5246 §7.4, RFC 6347 §4.2.2). */
export const HS = {
  clientHello: 1,
  serverHello: 2,
  helloVerifyRequest: 3,
  certificate: 11,
  serverKeyExchange: 12,
  certificateRequest: 13,
  serverHelloDone: 14,
  certificateVerify: 15,
  clientKeyExchange: 16,
  finished: 20,
} as const;

export type Sender = 'client' | 'server';

/** Handshake messages in the order they enter the hash (RFC 5246 §7.3 Figure 1, without HelloVerifyRequest). */
export const TRANSCRIPT_ORDER: ReadonlyArray<readonly [Sender, number]> = [
  ['client', HS.clientHello],
  ['server', HS.serverHello],
  ['server', HS.certificate],
  ['server', HS.serverKeyExchange],
  ['server', HS.certificateRequest],
  ['server', HS.serverHelloDone],
  ['client', HS.certificate],
  ['client', HS.clientKeyExchange],
  ['client', HS.certificateVerify],
  ['client', HS.finished],
  ['server', HS.finished],
];

/** use_srtp extension type (RFC 5764 §4.1.2). */
const EXT_USE_SRTP = 14;

/**
 * One handshake message as it enters the Finished / CertificateVerify hash: the DTLS header rewritten as a single
 * unfragmented message (RFC 6347 §4.2.6):
 *
 *   msg_type(1) | length(3) | message_seq(2) | fragment_offset(3)=0 | fragment_length(3)=length | body
 */
export function transcriptBytes(msgType: number, messageSeq: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(12 + body.length);
  out[0] = msgType;
  out.writeUIntBE(body.length, 1, 3);
  out.writeUInt16BE(messageSeq & 0xffff, 4);
  out.writeUIntBE(0, 6, 3);
  out.writeUIntBE(body.length, 9, 3);
  body.copy(out, 12);
  return out;
}

export interface HelloFields {
  readonly random: Buffer;
  /** ClientHello only; empty for a ServerHello. */
  readonly cookie: Buffer;
  /** ServerHello only: the chosen cipher suite. */
  readonly cipherSuite: number;
  /** use_srtp profile ids: offered (ClientHello) or chosen (ServerHello); undefined without the extension. */
  readonly srtpProfiles: readonly number[] | undefined;
}

/**
 * ClientHello: version(2) random(32) session_id<0..32> cookie<0..255> cipher_suites<2..> compression<1..>
 *              [extensions<0..2^16-1>]
 * ServerHello: version(2) random(32) session_id<0..32> cipher_suite(2) compression(1) [extensions]
 */
export function parseHello(body: Buffer, client: boolean): HelloFields | undefined {
  let o = 34;
  if (body.length < o + 1) return undefined;
  o += 1 + (body[o] as number); // session_id
  let cookie: Buffer = Buffer.alloc(0);
  let cipherSuite = -1;
  if (client) {
    if (body.length < o + 1) return undefined;
    const n = body[o] as number;
    if (body.length < o + 1 + n) return undefined;
    cookie = body.subarray(o + 1, o + 1 + n);
    o += 1 + n;
    if (body.length < o + 2) return undefined;
    o += 2 + body.readUInt16BE(o); // cipher_suites
    if (body.length < o + 1) return undefined;
    o += 1 + (body[o] as number); // compression_methods
  } else {
    if (body.length < o + 3) return undefined;
    cipherSuite = body.readUInt16BE(o);
    o += 3;
  }
  if (o > body.length) return undefined;
  let srtpProfiles: number[] | undefined;
  if (o < body.length) {
    if (body.length < o + 2) return undefined;
    const end = o + 2 + body.readUInt16BE(o);
    if (end > body.length) return undefined;
    o += 2;
    while (o < end) {
      if (end < o + 4) return undefined;
      const type = body.readUInt16BE(o);
      const len = body.readUInt16BE(o + 2);
      if (end < o + 4 + len) return undefined;
      if (type === EXT_USE_SRTP) {
        const ids = parseUseSrtp(body.subarray(o + 4, o + 4 + len));
        if (ids === undefined) return undefined;
        srtpProfiles = ids;
      }
      o += 4 + len;
    }
  }
  return { random: body.subarray(2, 34), cookie, cipherSuite, srtpProfiles };
}

/** UseSRTPData: SRTPProtectionProfiles<2..2^16-1> (2 bytes each) srtp_mki<0..255> (RFC 5764 §4.1.1). */
function parseUseSrtp(data: Buffer): number[] | undefined {
  if (data.length < 2) return undefined;
  const n = data.readUInt16BE(0);
  if (n % 2 !== 0 || data.length < 2 + n + 1) return undefined;
  const ids: number[] = [];
  for (let i = 0; i < n; i += 2) ids.push(data.readUInt16BE(2 + i));
  return ids;
}

/** Certificate: certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>; the first entry, or null for an empty list. */
export function parseFirstCertificate(body: Buffer): Buffer | null | undefined {
  if (body.length < 3) return undefined;
  const total = body.readUIntBE(0, 3);
  if (total !== body.length - 3) return undefined;
  if (total === 0) return null;
  if (total < 3) return undefined;
  const n = body.readUIntBE(3, 3);
  if (n === 0 || 6 + n > body.length) return undefined;
  return body.subarray(6, 6 + n);
}

export interface DigitallySigned {
  readonly hash: number;
  readonly signature: number;
  readonly value: Buffer;
}

/** digitally-signed struct: SignatureAndHashAlgorithm(2) opaque signature<0..2^16-1> (RFC 5246 §4.7). */
function parseSigned(body: Buffer, o: number): DigitallySigned | undefined {
  if (body.length < o + 4) return undefined;
  const n = body.readUInt16BE(o + 2);
  if (body.length !== o + 4 + n) return undefined;
  return { hash: body[o] as number, signature: body[o + 1] as number, value: body.subarray(o + 4) };
}

/** CertificateVerify (RFC 5246 §7.4.8): just the digitally-signed struct. */
export function parseCertificateVerify(body: Buffer): DigitallySigned | undefined {
  return parseSigned(body, 0);
}

export interface ServerKeyExchangeFields {
  /** ServerECDHParams as signed: curve_type(1)=named_curve(3) namedcurve(2) public<1..255> (RFC 8422 §5.4). */
  readonly params: Buffer;
  readonly publicKey: Buffer;
  readonly signed: DigitallySigned;
}

export function parseServerKeyExchange(body: Buffer): ServerKeyExchangeFields | undefined {
  if (body.length < 4 || body[0] !== 3) return undefined;
  const n = body[3] as number;
  if (n === 0 || body.length < 4 + n) return undefined;
  const signed = parseSigned(body, 4 + n);
  if (signed === undefined) return undefined;
  return { params: body.subarray(0, 4 + n), publicKey: body.subarray(4, 4 + n), signed };
}

/** ClientKeyExchange for ECDHE: ClientECDiffieHellmanPublic ecdh_Yc<1..255> (RFC 8422 §5.7). */
export function parseClientKeyExchange(body: Buffer): Buffer | undefined {
  if (body.length < 2 || body[0] !== body.length - 1) return undefined;
  return body.subarray(1);
}

const CONTENT_ALERT = 21;

/**
 * True when the datagram holds an unencrypted (epoch 0) alert record. DTLSPlaintext header (RFC 6347 §4.1):
 *   type(1) version(2) epoch(2) sequence_number(6) length(2) fragment
 */
export function hasPlaintextAlert(d: Buffer): boolean {
  let o = 0;
  while (o + 13 <= d.length) {
    const len = d.readUInt16BE(o + 11);
    if (d[o] === CONTENT_ALERT && d.readUInt16BE(o + 3) === 0) return true;
    o += 13 + len;
  }
  return false;
}
