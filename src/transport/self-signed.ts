/**
 * Self-signed X.509 v3 certificate (RFC 5280) with an ECDSA P-256 key and ecdsa-with-SHA256, built from
 * node:crypto alone, for listeners configured without a certificate.
 *
 * Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }   (§4.1)
 * TBSCertificate ::= SEQUENCE { [0] version v3, serial, signature, issuer, validity, subject, spki, [3] extensions }
 */
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';
import { PalisadeError } from '../core/errors.ts';
import {
  bitString,
  boolean,
  explicit,
  ia5String,
  implicitPrimitive,
  integer,
  integerFromBytes,
  octetString,
  oid,
  sequence,
  set,
  time,
  utf8String,
} from './der.ts';

const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_COMMON_NAME = '2.5.4.3';
const OID_SUBJECT_KEY_ID = '2.5.29.14';
const OID_KEY_USAGE = '2.5.29.15';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_KP_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const OID_KP_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

const DEFAULT_VALID_DAYS = 825;
const DAY_MS = 86_400_000;
/** Backdate notBefore so peers with a slightly slow clock accept the certificate. */
const BACKDATE_MS = 3_600_000;

export interface SelfSignedCert {
  certPem: string;
  keyPem: string;
  /** SHA-256 over the DER certificate, upper-case hex with colons (as X509Certificate.fingerprint256). */
  fingerprint256: string;
}

export interface SelfSignedOptions {
  validDays?: number;
  /** Wall-clock time the validity starts from (tests); defaults to now. */
  now?: Date;
}

/**
 * Generates a key and a certificate for `commonName` with subjectAltName entries: each of `altNames` that is an
 * IPv4/IPv6 address becomes an iPAddress entry, anything else a dNSName. Throws CONFIG_INVALID on a name that
 * cannot be encoded (non-ASCII DNS name, empty).
 */
export function generateSelfSignedCert(commonName: string, altNames: string[], options: SelfSignedOptions = {}): SelfSignedCert {
  if (commonName.length === 0 || commonName.length > 64) {
    throw new PalisadeError('CONFIG_INVALID', { field: 'commonName' }, 'common name must be 1..64 characters');
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const now = options.now ?? new Date();
  const validDays = options.validDays ?? DEFAULT_VALID_DAYS;
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(now.getTime() + validDays * DAY_MS);
  const serial = randomBytes(16);
  serial[0] = ((serial[0] as number) & 0x7f) | 0x01; // positive and 16 bytes long (RFC 5280 §4.1.2.2)
  const algorithm = sequence(oid(OID_ECDSA_WITH_SHA256)); // parameters absent (RFC 5758 §3.2)
  const name = sequence(set(sequence(oid(OID_COMMON_NAME), utf8String(commonName))));

  const tbs = sequence(
    explicit(0, integer(2)),
    integerFromBytes(serial),
    algorithm,
    name,
    sequence(time(notBefore), time(notAfter)),
    name,
    spki,
    explicit(3, sequence(...extensions(spki, altNames))),
  );
  const signature = sign('sha256', tbs, privateKey); // DER ECDSA-Sig-Value
  const der = sequence(tbs, algorithm, bitString(signature));

  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  // Round-trip the key so a broken export fails here, not in the first TLS handshake.
  createPrivateKey(keyPem);
  return { certPem: toPem(der), keyPem, fingerprint256: fingerprint(der) };
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

function extensions(spki: Buffer, altNames: string[]): Buffer[] {
  // subjectKeyIdentifier: SHA-1 of the whole SPKI is one of RFC 7093's accepted methods.
  const ski = createHash('sha1').update(spki).digest();
  const out = [
    // basicConstraints: cA FALSE (empty SEQUENCE), critical (RFC 5280 §4.2.1.9).
    extension(OID_BASIC_CONSTRAINTS, true, sequence()),
    // keyUsage: digitalSignature only, the bit an ECDHE_ECDSA server needs (§4.2.1.3). 7 unused bits.
    extension(OID_KEY_USAGE, true, bitString(Buffer.from([0x80]), 7)),
    extension(OID_EXT_KEY_USAGE, false, sequence(oid(OID_KP_SERVER_AUTH), oid(OID_KP_CLIENT_AUTH))),
    extension(OID_SUBJECT_KEY_ID, false, octetString(ski)),
  ];
  if (altNames.length > 0) out.push(extension(OID_SUBJECT_ALT_NAME, false, sequence(...altNames.map(generalName))));
  return out;
}

/** GeneralName: dNSName [2] IA5String, iPAddress [7] OCTET STRING (RFC 5280 §4.2.1.6). */
function generalName(n: string): Buffer {
  const family = isIP(n);
  if (family === 4) return implicitPrimitive(7, Buffer.from(n.split('.').map((x) => Number(x))));
  if (family === 6) return implicitPrimitive(7, ipv6Bytes(n));
  if (n.length === 0 || n.length > 253 || !/^[\x21-\x7e]+$/.test(n)) {
    throw new PalisadeError('CONFIG_INVALID', { field: 'altNames' }, 'DNS names must be printable ASCII');
  }
  return implicitPrimitive(2, ia5String(n).subarray(2));
}

/** 16 bytes of an IPv6 address (with `::` and an optional dotted IPv4 tail). The caller checked isIP === 6. */
export function ipv6Bytes(addr: string): Buffer {
  let a = addr.replace(/%.*$/, '');
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4?.[1] !== undefined) {
    const [b0, b1, b2, b3] = v4[1].split('.').map((x) => Number(x)) as [number, number, number, number];
    a = `${a.slice(0, -v4[1].length)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head, tail] = a.split('::') as [string, string | undefined];
  const hs = head === '' ? [] : head.split(':');
  const ts = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? hs : [...hs, ...Array<string>(8 - hs.length - ts.length).fill('0'), ...ts];
  const out = Buffer.alloc(16);
  for (let i = 0; i < groups.length; i++) out.writeUInt16BE(Number.parseInt(groups[i] as string, 16), i * 2);
  return out;
}

function toPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`;
}

function fingerprint(der: Buffer): string {
  const hex = createHash('sha256').update(der).digest('hex').toUpperCase();
  return hex.replace(/(..)(?!$)/g, '$1:');
}
