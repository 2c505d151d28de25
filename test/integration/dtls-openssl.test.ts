/**
 * DTLS-SRTP interop with OpenSSL over real UDP sockets on 127.0.0.1: Palisade's endpoint as server against
 * `openssl s_client -dtls1_2 -use_srtp`, and as client against `openssl s_server -dtls1_2 -use_srtp -verify 1`,
 * with ECDSA P-256 and RSA 2048 certificates on the OpenSSL side (the RSA runs exercise Palisade's RSA PKCS#1
 * verification of CertificateVerify and ServerKeyExchange). Equal RFC 5705 keying material on both sides proves
 * the handshake and the SRTP key export interoperate.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  createDtlsCertificate,
  createDtlsEndpoint,
  type DtlsCertificate,
  type DtlsConnected,
  type DtlsEndpoint,
  type DtlsFailure,
} from '../../src/media/dtls/index.ts';
import type { SrtpProfileName } from '../../src/media/srtp/index.ts';
import { makeOpensslCert, type OpensslPeer, type PeerCert, startSClient, startSServer, stopAllOpenssl } from './harness/openssl-dtls.ts';
import { getFreePort } from './harness/proc.ts';

const HANDSHAKE_BUDGET_MS = 8000;

let dir: string;
let ours: DtlsCertificate;
const peerCerts: Partial<Record<'ec' | 'rsa', PeerCert>> = {};
const sockets: Socket[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'palisade-dtls-'));
  const [o, ec, rsa] = await Promise.all([createDtlsCertificate(), makeOpensslCert(dir, 'ec'), makeOpensslCert(dir, 'rsa')]);
  ours = o;
  peerCerts.ec = ec;
  peerCerts.rsa = rsa;
});

after(async () => {
  await stopAllOpenssl();
  for (const s of sockets) s.close();
  await rm(dir, { recursive: true, force: true });
});

async function udpSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  s.on('error', () => {}); // an ICMP unreachable after the peer died must not kill the test process
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
  sockets.push(s);
  return s;
}

type Outcome = { kind: 'connected'; value: DtlsConnected } | { kind: 'failed'; reason: DtlsFailure };

function outcome(ep: DtlsEndpoint): Promise<Outcome> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve({ kind: 'failed', reason: 'timeout' }), HANDSHAKE_BUDGET_MS + 1000);
    ep.onConnected((value) => {
      clearTimeout(t);
      resolve({ kind: 'connected', value });
    });
    ep.onFailed((reason) => {
      clearTimeout(t);
      resolve({ kind: 'failed', reason });
    });
  });
}

/** OpenSSL prints client_key | server_key | client_salt | server_salt (RFC 5764 §4.2). */
function asExported(r: DtlsConnected, role: 'client' | 'server'): Buffer {
  const c = role === 'client' ? r.keys.local : r.keys.remote;
  const s = role === 'client' ? r.keys.remote : r.keys.local;
  return Buffer.concat([c.masterKey, s.masterKey, c.masterSalt, s.masterSalt]);
}

const EXPORT_LENGTH: Record<SrtpProfileName, number> = {
  AES_CM_128_HMAC_SHA1_80: 60,
  AES_CM_128_HMAC_SHA1_32: 60,
  AEAD_AES_128_GCM: 56,
};

/** Palisade as DTLS server (a=setup:passive) on a real UDP socket; s_client connects to it. */
async function asServer(
  cert: PeerCert,
  profile: SrtpProfileName,
  expectFingerprint = cert.fingerprint,
): Promise<{ r: Outcome; peer: OpensslPeer }> {
  const sock = await udpSocket();
  let peerPort: number | undefined;
  const ep = createDtlsEndpoint({
    role: 'server',
    certificate: ours,
    remoteFingerprint: { algorithm: 'sha-256', value: expectFingerprint },
    send: (d) => {
      if (peerPort !== undefined) sock.send(d, peerPort, '127.0.0.1');
    },
    handshakeTimeoutMs: HANDSHAKE_BUDGET_MS,
    profiles: [profile],
  });
  sock.on('message', (m, rinfo) => {
    peerPort ??= rinfo.port; // the test latches the first source; the relay latches only after ICE/SRTP auth
    if (rinfo.port === peerPort) ep.handle(m);
  });
  const r = outcome(ep);
  ep.start();
  const peer = startSClient(sock.address().port, { cert, profile, exportLength: EXPORT_LENGTH[profile] });
  const result = await r;
  ep.close();
  return { r: result, peer };
}

/** Palisade as DTLS client (a=setup:active) toward s_server. */
async function asClient(cert: PeerCert, profile: SrtpProfileName): Promise<{ r: Outcome; peer: OpensslPeer }> {
  let peer: OpensslPeer | undefined;
  let port = 0;
  for (let attempt = 0; attempt < 3 && peer === undefined; attempt++) {
    port = await getFreePort('udp');
    peer = await startSServer(port, { cert, profile, exportLength: EXPORT_LENGTH[profile] }).catch(() => undefined);
  }
  assert.ok(peer, 'openssl s_server started');
  const sock = await udpSocket();
  const ep = createDtlsEndpoint({
    role: 'client',
    certificate: ours,
    remoteFingerprint: { algorithm: 'sha-256', value: cert.fingerprint },
    send: (d) => sock.send(d, port, '127.0.0.1'),
    handshakeTimeoutMs: HANDSHAKE_BUDGET_MS,
    profiles: [profile],
  });
  sock.on('message', (m, rinfo) => {
    if (rinfo.port === port) ep.handle(m);
  });
  const r = outcome(ep);
  ep.start();
  const result = await r;
  ep.close();
  return { r: result, peer };
}

for (const kind of ['ec', 'rsa'] as const) {
  test(`Palisade server ↔ openssl s_client (${kind} client certificate): equal SRTP keying material`, async () => {
    const cert = peerCerts[kind] as PeerCert;
    const { r, peer } = await asServer(cert, 'AES_CM_128_HMAC_SHA1_80');
    const theirs = await peer.keyingMaterial(3000);
    const text = peer.output();
    await peer.stop();
    assert.equal(r.kind, 'connected', r.kind === 'failed' ? `failed: ${r.reason}\n${text.slice(-800)}` : '');
    if (r.kind !== 'connected') return;
    assert.equal(r.value.profile, 'AES_CM_128_HMAC_SHA1_80');
    assert.ok(theirs, `OpenSSL printed keying material:\n${text.slice(-800)}`);
    assert.equal(asExported(r.value, 'server').toString('hex'), theirs.toString('hex'));
    assert.match(text, /SRTP Extension negotiated, profile=SRTP_AES128_CM_SHA1_80/);
  });

  test(`Palisade client ↔ openssl s_server -verify 1 (${kind} server certificate): equal SRTP keying material`, async () => {
    const cert = peerCerts[kind] as PeerCert;
    const { r, peer } = await asClient(cert, 'AES_CM_128_HMAC_SHA1_80');
    const theirs = await peer.keyingMaterial(3000);
    const text = peer.output();
    await peer.stop();
    assert.equal(r.kind, 'connected', r.kind === 'failed' ? `failed: ${r.reason}\n${text.slice(-800)}` : '');
    if (r.kind !== 'connected') return;
    assert.ok(theirs, `OpenSSL printed keying material:\n${text.slice(-800)}`);
    assert.equal(asExported(r.value, 'client').toString('hex'), theirs.toString('hex'));
    // s_server asked for and received our certificate, and signed its key exchange with its own key type
    assert.match(text, /Client certificate/);
    assert.match(text, kind === 'rsa' ? /CIPHER is ECDHE-RSA-AES128-GCM-SHA256/ : /CIPHER is ECDHE-ECDSA-AES128-GCM-SHA256/);
  });
}

test('AEAD_AES_128_GCM with openssl s_client: equal 56-byte keying material', async () => {
  const { r, peer } = await asServer(peerCerts.ec as PeerCert, 'AEAD_AES_128_GCM');
  const theirs = await peer.keyingMaterial(3000);
  const text = peer.output();
  await peer.stop();
  assert.equal(r.kind, 'connected', r.kind === 'failed' ? `failed: ${r.reason}\n${text.slice(-800)}` : '');
  if (r.kind !== 'connected') return;
  assert.equal(r.value.profile, 'AEAD_AES_128_GCM');
  assert.equal(theirs?.length, 56);
  assert.equal(asExported(r.value, 'server').toString('hex'), theirs?.toString('hex'));
});

test('openssl s_client with a certificate other than the SDP fingerprint: bad_fingerprint', async () => {
  // the SDP names the EC certificate, OpenSSL presents the RSA one
  const { r, peer } = await asServer(peerCerts.rsa as PeerCert, 'AES_CM_128_HMAC_SHA1_80', (peerCerts.ec as PeerCert).fingerprint);
  await peer.stop();
  assert.deepEqual(r, { kind: 'failed', reason: 'bad_fingerprint' });
});
