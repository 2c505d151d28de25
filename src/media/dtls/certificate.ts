/**
 * The DTLS certificate Palisade presents toward clients, and the SDP fingerprint check (RFC 8122 §5, RFC 5763 §5).
 *
 * A self-signed X.509 v3 certificate (RFC 5280 §4.1) with an ECDSA P-256 key and ecdsa-with-SHA256, built from
 * node:crypto and the few DER encoders below (the media path is a leaf and cannot import src/transport's builder).
 * DTLS-SRTP peers authenticate the certificate by its fingerprint in SDP, never by a chain, so it needs no
 * extensions:
 *
 *   Certificate    ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
 *   TBSCertificate ::= SEQUENCE { [0] EXPLICIT version(2), serialNumber, signature, issuer, validity, subject, spki }
 */
import { createHash, generateKeyPair, type KeyObject, randomBytes, sign, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

export interface DtlsCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  readonly certDer: Buffer;
  /** 'sha-256' fingerprint, upper-case hex with colons, as in SDP a=fingerprint */
  readonly fingerprint: string;
}

const generateKeyPairAsync = promisify(generateKeyPair);

const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
const OID_COMMON_NAME = '2.5.4.3';
const VALID_DAYS = 365;
const DAY_MS = 86_400_000;

/** A fresh self-signed ECDSA P-256 certificate (CN=palisade), valid from yesterday for a year. */
export async function createDtlsCertificate(now: Date = new Date()): Promise<DtlsCertificate> {
  const { privateKey, publicKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  const certDer = selfSignedCertificateDer(privateKey, publicKey, now);
  const b64 = certDer.toString('base64').replace(/.{1,64}/g, '$&\n');
  return {
    certPem: `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certDer,
    fingerprint: sha256Fingerprint(certDer),
  };
}

/**
 * DER of a self-signed certificate for an EC key (ecdsa-with-SHA256) or an RSA key (sha256WithRSAEncryption).
 * Exported for tests that need certificates of other key types than Palisade's own.
 */
export function selfSignedCertificateDer(privateKey: KeyObject, publicKey: KeyObject, now: Date = new Date()): Buffer {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const serial = randomBytes(16);
  serial[0] = ((serial[0] as number) & 0x7f) | 0x01; // positive, 16 bytes (RFC 5280 §4.1.2.2)
  const algorithm =
    privateKey.asymmetricKeyType === 'rsa'
      ? seq(oid(OID_SHA256_WITH_RSA), tlv(0x05, Buffer.alloc(0))) // NULL parameters (RFC 4055 §5)
      : seq(oid(OID_ECDSA_WITH_SHA256)); // parameters absent (RFC 5758 §3.2)
  const name = seq(tlv(0x31, seq(oid(OID_COMMON_NAME), tlv(0x0c, Buffer.from('palisade', 'ascii')))));
  const validity = seq(utcTime(new Date(now.getTime() - DAY_MS)), utcTime(new Date(now.getTime() + VALID_DAYS * DAY_MS)));
  const tbs = seq(tlv(0xa0, tlv(0x02, Buffer.from([2]))), tlv(0x02, serial), algorithm, name, validity, name, spki);
  const signature = sign('sha256', tbs, privateKey); // DER ECDSA-Sig-Value, or the PKCS#1 v1.5 signature
  return seq(tbs, algorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
}

/** SHA-256 over DER bytes, upper-case hex with colons (RFC 8122 §5 fingerprint syntax). */
export function sha256Fingerprint(der: Uint8Array): string {
  const hex = createHash('sha256').update(der).digest('hex').toUpperCase();
  return hex.replace(/(..)(?!$)/g, '$1:');
}

/**
 * The 32 digest bytes of an SDP `a=fingerprint:sha-256 AB:CD:…` value, or undefined when the hash function is not
 * SHA-256 (the only one Palisade accepts) or the value is malformed. Hex case is ignored (RFC 8122 §5).
 */
export function parseSha256Fingerprint(fp: { algorithm: string; value: string }): Buffer | undefined {
  if (fp.algorithm.toLowerCase() !== 'sha-256') return undefined;
  const v = fp.value.trim();
  if (!/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$/.test(v)) return undefined;
  return Buffer.from(v.replace(/:/g, ''), 'hex');
}

/** True when SHA-256(der) equals the expected digest from SDP. */
export function fingerprintMatches(der: Uint8Array, expected: Buffer): boolean {
  const got = createHash('sha256').update(der).digest();
  return got.length === expected.length && timingSafeEqual(got, expected);
}

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else if (n < 0x100) len = Buffer.from([0x81, n]);
  else len = Buffer.from([0x82, n >> 8, n & 0xff]); // certificates here stay far below 64 KiB
  return Buffer.concat([Buffer.from([tag]), len, content]);
}

function seq(...items: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes: number[] = [40 * (parts[0] ?? 0) + (parts[1] ?? 0)];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = p >>> 7; v > 0; v >>>= 7) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** UTCTime YYMMDDHHMMSSZ (RFC 5280 §4.1.2.5.1: years before 2050). */
function utcTime(d: Date): Buffer {
  const p = (n: number): string => String(n).padStart(2, '0');
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s, 'ascii'));
}
