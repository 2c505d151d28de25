/**
 * The cryptographic checks werift-dtls 0.5.8 leaves out, on node:crypto alone:
 *  - the peer's handshake signature (ServerKeyExchange, RFC 8422 §5.4; CertificateVerify, RFC 5246 §7.4.8) with the
 *    public key of the certificate the peer presented — ECDSA P-256 or RSA PKCS#1 v1.5 (≥ 2048 bits), SHA-256 only;
 *  - the peer's Finished verify_data (RFC 5246 §7.4.9) from the TLS 1.2 PRF (§5);
 *  - the RFC 5705 exporter Palisade derives the SRTP keys from (RFC 5764 §4.2).
 */
import { constants, createHash, createHmac, type KeyObject, timingSafeEqual, verify, X509Certificate } from 'node:crypto';

/** SignatureAndHashAlgorithm code points (RFC 5246 §7.4.1.4.1). */
const HASH_SHA256 = 4;
const SIG_RSA = 1;
const SIG_ECDSA = 3;
const MIN_RSA_BITS = 2048;

/**
 * True when `signature` over `data` verifies with the key of `certDer` under (hash, sig). Anything but
 * sha256+ecdsa on a P-256 key or sha256+rsa (PKCS#1 v1.5) on an RSA key of at least 2048 bits is refused, so a
 * peer cannot steer verification to a weaker scheme. Never throws.
 */
export function verifyPeerSignature(certDer: Buffer, hash: number, sig: number, data: Buffer, signature: Buffer): boolean {
  if (hash !== HASH_SHA256) return false;
  let key: KeyObject;
  try {
    key = new X509Certificate(certDer).publicKey;
  } catch {
    return false;
  }
  const details = key.asymmetricKeyDetails;
  try {
    if (sig === SIG_ECDSA) {
      if (key.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') return false;
      // TLS carries ECDSA signatures as DER ECDSA-Sig-Value (RFC 8422 §5.4).
      return verify('sha256', data, { key, dsaEncoding: 'der' }, signature);
    }
    if (sig === SIG_RSA) {
      if (key.asymmetricKeyType !== 'rsa' || (details?.modulusLength ?? 0) < MIN_RSA_BITS) return false;
      return verify('sha256', data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
    }
  } catch {
    return false;
  }
  return false;
}

/** TLS 1.2 PRF with P_SHA256 (RFC 5246 §5): PRF(secret, label, seed) truncated to `length` bytes. */
export function prfSha256(secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  const labelSeed = Buffer.concat([Buffer.from(label, 'ascii'), seed]);
  const out: Buffer[] = [];
  let have = 0;
  let a = labelSeed; // A(0)
  while (have < length) {
    a = createHmac('sha256', secret).update(a).digest();
    const block = createHmac('sha256', secret).update(a).update(labelSeed).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

/** verify_data = PRF(master_secret, finished_label, SHA-256(handshake_messages))[0..11] (RFC 5246 §7.4.9). */
export function expectedVerifyData(masterSecret: Buffer, sender: 'client' | 'server', transcript: readonly Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const m of transcript) h.update(m);
  return prfSha256(masterSecret, `${sender} finished`, h.digest(), 12);
}

/** Constant-time comparison of the received verify_data with the expected one. */
export function verifyDataMatches(received: Buffer, expected: Buffer): boolean {
  return received.length === expected.length && timingSafeEqual(received, expected);
}

/** RFC 5705 §4 exporter without context: PRF(master_secret, label, client_random + server_random)[length]. */
export function exportKeyingMaterial(
  masterSecret: Buffer,
  label: string,
  clientRandom: Buffer,
  serverRandom: Buffer,
  length: number,
): Buffer {
  return prfSha256(masterSecret, label, Buffer.concat([clientRandom, serverRandom]), length);
}
