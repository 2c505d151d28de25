/**
 * Peer authentication that werift-dtls 0.5.8 lacks. An attacker knows the victim's certificate (it is public, and
 * its fingerprint is what the SDP carries) but not the victim's private key. werift takes the certificate and the
 * key separately and never checks that they belong together, so an attacker endpoint is simply one configured
 * with the victim's certificate and its own key: every signature it makes is with the wrong key.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  createDtlsCertificate,
  createDtlsEndpoint,
  type DtlsCertificate,
  type DtlsFailure,
  sha256Fingerprint,
} from '../../../../src/media/dtls/index.ts';
import { type Bare, bareWerift, CCS, type Outcome, outcome, recordTypes, Wire, within } from './pipe.ts';

let victim: DtlsCertificate;
let ours: DtlsCertificate;
let impostor: DtlsCertificate;
before(async () => {
  const [v, o, other] = await Promise.all([createDtlsCertificate(), createDtlsCertificate(), createDtlsCertificate()]);
  victim = v;
  ours = o;
  // the victim's certificate (and so its fingerprint) with a private key that is not the victim's
  impostor = { ...v, keyPem: other.keyPem };
});

const reasonOf = (r: Outcome): DtlsFailure | 'connected' => (r.kind === 'failed' ? r.reason : 'connected');

/** Makes werift send a Finished whose verify_data is off by one bit. */
function tamperFinished(bare: Bare): void {
  const cipher = bare.socket.cipher;
  const original = cipher.verifyData.bind(cipher);
  cipher.verifyData = (buf: Buffer) => {
    const v = Buffer.from(original(buf));
    v[0] = (v[0] as number) ^ 1;
    return v;
  };
}

test('control: werift alone completes a handshake with an impostor client holding the victim certificate', async () => {
  const wire = new Wire();
  const server = bareWerift('server', { certPem: ours.certPem, keyPem: ours.keyPem, send: wire.send('b') });
  const attacker = createDtlsEndpoint({
    role: 'client',
    certificate: impostor,
    remoteFingerprint: { algorithm: 'sha-256', value: ours.fingerprint },
    send: wire.send('a'),
  });
  wire.attach(attacker, server);
  attacker.start();
  const connected = await within(server.connected, 5000);
  wire.close();
  attacker.close();
  server.close();
  assert.equal(connected, true, 'bare werift accepted the impostor');
  const presented = server.socket.remoteCertificate;
  assert.ok(presented);
  assert.equal(sha256Fingerprint(presented), victim.fingerprint, 'and its peer certificate passes an SDP fingerprint check');
});

test('control: werift alone completes a handshake with an impostor server holding the victim certificate', async () => {
  const wire = new Wire();
  const client = bareWerift('client', { certPem: ours.certPem, keyPem: ours.keyPem, send: wire.send('a') });
  const attacker = createDtlsEndpoint({
    role: 'server',
    certificate: impostor,
    remoteFingerprint: { algorithm: 'sha-256', value: ours.fingerprint },
    send: wire.send('b'),
  });
  wire.attach(client, attacker);
  attacker.start();
  void (client.socket as unknown as { connect(): Promise<void> }).connect().catch(() => {});
  const connected = await within(client.connected, 5000);
  wire.close();
  attacker.close();
  client.close();
  assert.equal(connected, true, 'bare werift accepted the impostor');
});

test('(a) impostor client: our server fails with bad_signature (CertificateVerify) and never sends flight 6', async () => {
  const wire = new Wire();
  const server = createDtlsEndpoint({
    role: 'server',
    certificate: ours,
    remoteFingerprint: { algorithm: 'sha-256', value: victim.fingerprint },
    send: wire.send('b'),
  });
  const attacker = createDtlsEndpoint({
    role: 'client',
    certificate: impostor,
    remoteFingerprint: { algorithm: 'sha-256', value: ours.fingerprint },
    send: wire.send('a'),
    handshakeTimeoutMs: 1500,
  });
  wire.attach(attacker, server);
  const rs = outcome(server, 5000);
  server.start();
  attacker.start();
  const r = await rs;
  wire.close();
  attacker.close();
  assert.equal(reasonOf(r), 'bad_signature');
  assert.equal(server.state, 'failed');
  assert.ok(
    wire.sent.a.some((d) => recordTypes(d).includes(CCS)),
    'the impostor did send its whole flight 5',
  );
  assert.ok(!wire.sent.b.some((d) => recordTypes(d).includes(CCS)), 'our server never sent ChangeCipherSpec/Finished');
});

test('(b) impostor server: our client fails with bad_signature (ServerKeyExchange) and never sends flight 5', async () => {
  const wire = new Wire();
  const client = createDtlsEndpoint({
    role: 'client',
    certificate: ours,
    remoteFingerprint: { algorithm: 'sha-256', value: victim.fingerprint },
    send: wire.send('a'),
  });
  const attacker = createDtlsEndpoint({
    role: 'server',
    certificate: impostor,
    remoteFingerprint: { algorithm: 'sha-256', value: ours.fingerprint },
    send: wire.send('b'),
    handshakeTimeoutMs: 1500,
  });
  wire.attach(client, attacker);
  const rc = outcome(client, 5000);
  attacker.start();
  client.start();
  const r = await rc;
  wire.close();
  attacker.close();
  assert.equal(reasonOf(r), 'bad_signature');
  assert.ok(!wire.sent.a.some((d) => recordTypes(d).includes(CCS)), 'our client never sent ChangeCipherSpec/Finished');
  assert.ok(
    wire.sent.a.every((d) => d[13] === 1),
    'only ClientHellos left our client',
  );
});

test('the genuine victim (same certificate, its own key) is accepted in both roles', async () => {
  const wire = new Wire();
  const server = createDtlsEndpoint({
    role: 'server',
    certificate: ours,
    remoteFingerprint: { algorithm: 'sha-256', value: victim.fingerprint },
    send: wire.send('b'),
  });
  const client = createDtlsEndpoint({
    role: 'client',
    certificate: victim,
    remoteFingerprint: { algorithm: 'sha-256', value: ours.fingerprint },
    send: wire.send('a'),
  });
  wire.attach(client, server);
  const r = Promise.all([outcome(server, 5000), outcome(client, 5000)]);
  server.start();
  client.start();
  const [rs, rc] = await r;
  wire.close();
  server.close();
  client.close();
  assert.equal(reasonOf(rs), 'connected');
  assert.equal(reasonOf(rc), 'connected');
});

test('a client Finished with wrong verify_data: our server fails with bad_finished and never sends flight 6', async () => {
  const wire = new Wire();
  const server = createDtlsEndpoint({
    role: 'server',
    certificate: ours,
    remoteFingerprint: { algorithm: 'sha-256', value: victim.fingerprint },
    send: wire.send('b'),
  });
  // the real victim (right key, CertificateVerify valid) whose Finished is corrupted before encryption
  const peer = bareWerift('client', { certPem: victim.certPem, keyPem: victim.keyPem, send: wire.send('a') });
  tamperFinished(peer);
  wire.attach(peer, server);
  const rs = outcome(server, 5000);
  server.start();
  void (peer.socket as unknown as { connect(): Promise<void> }).connect().catch(() => {});
  const r = await rs;
  wire.close();
  peer.close();
  assert.equal(reasonOf(r), 'bad_finished');
  assert.ok(!wire.sent.b.some((d) => recordTypes(d).includes(CCS)), 'our server never sent ChangeCipherSpec/Finished');
});

test('a server Finished with wrong verify_data: our client fails with bad_finished', async () => {
  const wire = new Wire();
  const client = createDtlsEndpoint({
    role: 'client',
    certificate: ours,
    remoteFingerprint: { algorithm: 'sha-256', value: victim.fingerprint },
    send: wire.send('a'),
  });
  const peer = bareWerift('server', { certPem: victim.certPem, keyPem: victim.keyPem, send: wire.send('b') });
  tamperFinished(peer);
  wire.attach(client, peer);
  const rc = outcome(client, 5000);
  const connectedPeer = peer.connected;
  client.start();
  const r = await rc;
  wire.close();
  peer.close();
  assert.equal(reasonOf(r), 'bad_finished');
  assert.equal(await within(connectedPeer, 1), true, 'werift on the other side did consider itself connected');
});

test('a client that ignores the CertificateRequest fails with no_certificate', async () => {
  const wire = new Wire();
  const server = createDtlsEndpoint({
    role: 'server',
    certificate: ours,
    remoteFingerprint: { algorithm: 'sha-256', value: victim.fingerprint },
    send: wire.send('b'),
    handshakeTimeoutMs: 1200,
  });
  const peer = bareWerift('client', { send: wire.send('a') }); // no certificate at all
  // werift sends a Certificate only when requestedCertificateTypes is non-empty: keep it empty
  Object.defineProperty(peer.socket.dtls, 'requestedCertificateTypes', { get: () => [], set: () => {} });
  wire.attach(peer, server);
  const rs = outcome(server, 5000);
  server.start();
  void (peer.socket as unknown as { connect(): Promise<void> }).connect().catch(() => {});
  const r = await rs;
  wire.close();
  peer.close();
  assert.equal(reasonOf(r), 'no_certificate');
  assert.ok(
    wire.sent.a.some((d) => recordTypes(d).includes(CCS)),
    'the client did finish its side',
  );
  assert.ok(!wire.sent.b.some((d) => recordTypes(d).includes(CCS)), 'our server never sent ChangeCipherSpec/Finished');
});
