/**
 * DTLS-SRTP + ICE-lite toward a browser-class client through the real relay (MediaControl + media anchor, real
 * UDP sockets): the client (a WSS flow) offers UDP/TLS/RTP/SAVPF with a=fingerprint, a=setup:actpass and ICE;
 * Palisade answers passive with its own fingerprint, ICE-lite credentials and a host candidate. The client checks
 * with ICE, runs the DTLS handshake as client (its own certificate), and protects RTP with werift-rtp using the
 * exported keys; the plain-RTP fake PBX gets RTP and its answers come back as SRTP. DTLS records from an address
 * that did not pass ICE are dropped. When the PBX calls a WSS client, Palisade offers DTLS (actpass + ICE).
 * A client without rtcp-mux (baresip's default) runs a second handshake on its RTCP port (RFC 5764 §4.1): SRTCP
 * on that port is keyed by that handshake only, both ways.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RtpPacket, SrtcpSession, SrtpSession } from 'werift-rtp';
import type { MediaControl } from '../../src/media/control.ts';
import { createDtlsCertificate, createDtlsEndpoint, type DtlsConnected } from '../../src/media/dtls/index.ts';
import { createDtlsProvider } from '../../src/media/dtls-provider.ts';
import { openSecureRelay, type PublicSecurity } from '../../src/media/secure-relay.ts';
import { encodeStunMessage, StunIntegrityKey } from '../../src/media/stun.ts';
import type { Call } from '../../src/proxy/calls.ts';
import type { MediaAnchor } from '../../src/proxy/media-anchor.ts';
import { attributeValues, findAttribute, parseSdp, type Sdp, setupOf } from '../../src/sdp/index.ts';
import { bindPeer, type Peer, rtcpPacket, rtpPacket, sleep, testPortRange, until } from '../unit/media/helpers.ts';
import { fakeCall } from './helpers/fake-call.ts';
import { loopbackAnchor, loopbackControl } from './helpers/loopback-media.ts';

const CT = 'application/sdp';

function parsed(body: Buffer): Sdp {
  const r = parseSdp(body);
  assert.ok(r.ok);
  return r.value;
}

function rewriteOk(anchor: MediaAnchor, call: Call, from: 'public' | 'pbx', body: Buffer): Sdp {
  const r = anchor.rewrite(call, from, body, CT);
  assert.ok(r.ok, `rewrite from ${from}: ${r.ok ? '' : `${r.status} ${r.reason}`}`);
  return parsed(r.body);
}

const PROFILE_ID = { AES_CM_128_HMAC_SHA1_80: 1, AEAD_AES_128_GCM: 7 } as const;

/** The client's end of one DTLS-SRTP component: a real DTLS endpoint (client unless said) on the client's socket for it. */
async function clientHandshake(
  sock: Peer,
  cert: Awaited<ReturnType<typeof createDtlsCertificate>>,
  fingerprint: string,
  port: number,
  role: 'client' | 'server' = 'client',
): Promise<{ keys: DtlsConnected; close: () => void }> {
  const ep = createDtlsEndpoint({
    role,
    certificate: cert,
    remoteFingerprint: { algorithm: 'sha-256', value: fingerprint },
    send: (d) => sock.sock.send(d, port, '127.0.0.1'),
  });
  const connected = new Promise<DtlsConnected>((resolve, reject) => {
    ep.onConnected(resolve);
    ep.onFailed((r) => reject(new Error(`client DTLS failed: ${r}`)));
  });
  sock.sock.on('message', (m: Buffer) => {
    if (m[0] !== undefined && m[0] >= 20 && m[0] <= 63) ep.handle(m);
  });
  ep.start();
  return { keys: await connected, close: () => ep.close() };
}

function srtcpSession(k: DtlsConnected): SrtcpSession {
  return new SrtcpSession({
    keys: {
      localMasterKey: k.keys.local.masterKey,
      localMasterSalt: k.keys.local.masterSalt,
      remoteMasterKey: k.keys.remote.masterKey,
      remoteMasterSalt: k.keys.remote.masterSalt,
    },
    profile: PROFILE_ID[k.profile as keyof typeof PROFILE_ID],
  });
}

function srtpSession(k: DtlsConnected): SrtpSession {
  return new SrtpSession({
    keys: {
      localMasterKey: k.keys.local.masterKey,
      localMasterSalt: k.keys.local.masterSalt,
      remoteMasterKey: k.keys.remote.masterKey,
      remoteMasterSalt: k.keys.remote.masterSalt,
    },
    profile: PROFILE_ID[k.profile as keyof typeof PROFILE_ID],
  });
}

/** The port of an a=rtcp attribute (RFC 3605), else RTP + 1. */
function rtcpPortOf(m: Sdp['media'][number]): number {
  const v = findAttribute(m.attributes, 'rtcp')?.value;
  return v === undefined ? m.port + 1 : Number(v.split(' ')[0]);
}

/** The security of a DTLS-SRTP leg whose client presents the certificate with `fingerprint`, Palisade in `role`. */
function peerDtls(role: 'client' | 'server', fingerprint: string): PublicSecurity {
  return { dtls: { role, remoteFingerprint: { algorithm: 'sha-256', value: fingerprint } } };
}

/**
 * A secure relay on its own (no control, no anchor) at `offset` within the test port range (PBX side at offset + 2),
 * with a DTLS provider whose handshakes are bounded by `handshakeTimeoutMs`.
 */
async function standaloneRelay(offset: number, handshakeTimeoutMs: number) {
  const { portMin } = testPortRange(200);
  const provider = await createDtlsProvider({ handshakeTimeoutMs });
  const opened = await openSecureRelay({
    publicAddress: '127.0.0.1',
    publicPort: portMin + offset,
    pbxAddress: '127.0.0.1',
    pbxPort: portMin + offset + 2,
    dtls: provider,
  });
  assert.ok(opened.ok);
  return { relay: opened.value, provider };
}

describe('DTLS-SRTP and ICE-lite toward a WSS client', { timeout: 40_000 }, () => {
  let control: MediaControl;
  let anchor: MediaAnchor;
  const peers: Peer[] = [];

  before(async () => {
    control = loopbackControl({ dtls: await createDtlsProvider({ handshakeTimeoutMs: 8000 }) });
    anchor = loopbackAnchor(control, { plainAllowedFrom: { has: () => false } });
  });
  after(async () => {
    anchor.close();
    for (const p of peers) await p.close();
    await control.close();
  });

  it('answers passive with ICE-lite, handshakes after the ICE check, and relays SRTP ↔ RTP', async () => {
    const client = await bindPeer('127.0.0.1');
    const pbx = await bindPeer('127.0.0.1');
    const attacker = await bindPeer('127.0.0.9');
    peers.push(client, pbx, attacker);
    const clientCert = await createDtlsCertificate();
    const call = fakeCall('wss');
    const offer = Buffer.from(
      `v=0\r\no=- 5 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio ${client.port} UDP/TLS/RTP/SAVPF 0\r\n` +
        `c=IN IP4 127.0.0.1\r\na=mid:0\r\na=rtpmap:0 PCMU/8000\r\na=rtcp-mux\r\na=ice-ufrag:Brws\r\na=ice-pwd:${'p'.repeat(24)}\r\n` +
        `a=fingerprint:sha-256 ${clientCert.fingerprint}\r\na=setup:actpass\r\n` +
        `a=candidate:1 1 udp 2130706431 127.0.0.1 ${client.port} typ host\r\n`,
    );
    assert.equal(await anchor.prepare(call, offer, CT), true);
    const toPbx = rewriteOk(anchor, call, 'public', offer);
    const pm = toPbx.media[0];
    assert.ok(pm);
    assert.equal(pm.proto, 'RTP/AVP');
    for (const a of ['fingerprint', 'setup', 'ice-ufrag', 'ice-pwd', 'candidate', 'rtcp-mux']) {
      assert.equal(findAttribute(pm.attributes, a), undefined, `no a=${a} toward the PBX`);
    }
    const toClient = rewriteOk(
      anchor,
      call,
      'pbx',
      Buffer.from(
        `v=0\r\no=- 9 9 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${pbx.port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`,
      ),
    );
    const cm = toClient.media[0];
    assert.ok(cm);
    assert.equal(cm.proto, 'UDP/TLS/RTP/SAVPF');
    assert.equal(setupOf(toClient, cm), 'passive');
    assert.ok(findAttribute(toClient.attributes, 'ice-lite'), 'a=ice-lite');
    assert.equal(findAttribute(cm.attributes, 'mid')?.value, '0', 'the offer’s a=mid is echoed');
    assert.equal(findAttribute(toClient.attributes, 'group')?.value, 'BUNDLE 0');
    assert.ok(findAttribute(cm.attributes, 'rtcp-mux'));
    const fp = findAttribute(cm.attributes, 'fingerprint')?.value as string;
    assert.match(fp, /^sha-256 [0-9A-F:]+$/);
    const ufrag = findAttribute(cm.attributes, 'ice-ufrag')?.value as string;
    const pwd = findAttribute(cm.attributes, 'ice-pwd')?.value as string;
    assert.deepEqual(attributeValues(cm.attributes, 'candidate'), [`1 1 udp 2130706431 127.0.0.1 ${cm.port} typ host`]);
    const port = cm.port;

    // The ICE check (USE-CANDIDATE) from the client latches it.
    const check = encodeStunMessage({
      transactionId: randomBytes(12),
      username: `${ufrag}:Brws`,
      priority: 0x6e0001ff,
      useCandidate: true,
      iceControlling: [3, 4],
      integrity: new StunIntegrityKey(pwd),
    });
    await client.send(check, port);
    await until(() => client.received.length === 1, 2000, 'Binding success');
    client.received.length = 0;

    // A DTLS ClientHello-like record from an address that passed no check is dropped.
    const h = (call.media as { handle: Parameters<MediaControl['stats']>[0] }).handle;
    const before = control.stats(h).fromPublic.dropped.unexpected_source;
    await attacker.send(Buffer.from([22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), port, '127.0.0.1');
    await until(() => control.stats(h).fromPublic.dropped.unexpected_source === before + 1, 2000, 'DTLS from elsewhere dropped');

    // The DTLS handshake, client side (ours, with the client's own certificate), over the real socket.
    const ep = createDtlsEndpoint({
      role: 'client',
      certificate: clientCert,
      remoteFingerprint: { algorithm: 'sha-256', value: fp.slice('sha-256 '.length) },
      send: (d) => client.sock.send(d, port, '127.0.0.1'),
    });
    const connected = new Promise<DtlsConnected>((resolve, reject) => {
      ep.onConnected(resolve);
      ep.onFailed((r) => reject(new Error(`client DTLS failed: ${r}`)));
    });
    client.sock.on('message', (m: Buffer) => {
      if (m[0] !== undefined && m[0] >= 20 && m[0] <= 63) ep.handle(m);
    });
    ep.start();
    const keys = await connected;
    const session = new SrtpSession({
      keys: {
        localMasterKey: keys.keys.local.masterKey,
        localMasterSalt: keys.keys.local.masterSalt,
        remoteMasterKey: keys.keys.remote.masterKey,
        remoteMasterSalt: keys.keys.remote.masterSalt,
      },
      profile: PROFILE_ID[keys.profile as keyof typeof PROFILE_ID],
    });
    // The relay's side of the handshake completes when it processes the client's last flight.
    await sleep(100);
    call.state = 'confirmed';
    for (let s = 1; s <= 10; s++) {
      const p = RtpPacket.deSerialize(rtpPacket(s));
      await client.send(Buffer.from(session.encrypt(p.payload, p.header)), port);
    }
    await until(() => pbx.received.length === 10, 3000, 'PBX receives decrypted RTP');
    for (let s = 1; s <= 10; s++) assert.deepEqual(pbx.received[s - 1]?.data, rtpPacket(s));
    client.received.length = 0;
    for (let s = 20; s < 25; s++) await pbx.send(rtpPacket(s), pm.port);
    await until(() => client.received.filter((r) => (r.data[0] as number) >= 128).length === 5, 3000, 'client receives SRTP');
    const media = client.received.filter((r) => (r.data[0] as number) >= 128);
    for (let i = 0; i < 5; i++) assert.deepEqual(Buffer.from(session.decrypt(media[i]?.data as Buffer)), rtpPacket(20 + i));
    assert.equal(attacker.received.length, 0, 'the attacker got nothing');
    assert.equal(control.stats(h).security.dtlsConnected, 1, 'the relay side of the handshake completed');

    // Hold and resume (re-INVITEs with the same fingerprint): the DTLS session and its keys stay.
    for (const [v, dir] of [
      [3, 'a=sendonly'],
      [4, 'a=sendrecv'],
    ] as const) {
      const re = Buffer.from(offer.toString().replace('o=- 5 2 ', `o=- 5 ${v} `).replace('a=rtcp-mux\r\n', `a=rtcp-mux\r\n${dir}\r\n`));
      rewriteOk(anchor, call, 'public', re);
      const ans = rewriteOk(
        anchor,
        call,
        'pbx',
        Buffer.from(`v=0\r\no=- 9 ${v + 7} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${pbx.port} RTP/AVP 0\r\n`),
      );
      assert.equal(findAttribute(ans.media[0]?.attributes ?? [], 'fingerprint')?.value, fp, 'same certificate');
      assert.equal(findAttribute(ans.media[0]?.attributes ?? [], 'ice-ufrag')?.value, ufrag, 'same ICE credentials');
    }
    const p11 = RtpPacket.deSerialize(rtpPacket(11));
    await client.send(Buffer.from(session.encrypt(p11.payload, p11.header)), port);
    await until(() => pbx.received.length === 11, 3000, 'media after hold/resume under the same keys');
    assert.equal(control.stats(h).security.dtlsConnected, 1, 'no second handshake');
    ep.close();
    anchor.release(call);
  });

  it('without rtcp-mux, handshakes on the RTCP port too and keys SRTCP with that handshake only (RFC 5764 §4.1)', async () => {
    const clientRtp = await bindPeer('127.0.0.1');
    const clientRtcp = await bindPeer('127.0.0.1');
    const pbx = await bindPeer('127.0.0.1');
    const pbxRtcp = await bindPeer('127.0.0.1');
    peers.push(clientRtp, clientRtcp, pbx, pbxRtcp);
    const clientCert = await createDtlsCertificate();
    const call = fakeCall('udp');
    // baresip's default offer: DTLS-SRTP on an RTP/RTCP port pair, no ICE.
    const offer = Buffer.from(
      `v=0\r\no=- 7 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${clientRtp.port} UDP/TLS/RTP/SAVP 0\r\n` +
        `a=rtpmap:0 PCMU/8000\r\na=rtcp:${clientRtcp.port}\r\na=fingerprint:sha-256 ${clientCert.fingerprint}\r\na=setup:actpass\r\n`,
    );
    assert.equal(await anchor.prepare(call, offer, CT), true);
    const pm = rewriteOk(anchor, call, 'public', offer).media[0];
    assert.ok(pm);
    const toClient = rewriteOk(
      anchor,
      call,
      'pbx',
      Buffer.from(
        `v=0\r\no=- 9 9 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${pbx.port} RTP/AVP 0\r\n` +
          `a=rtpmap:0 PCMU/8000\r\na=rtcp:${pbxRtcp.port}\r\n`,
      ),
    );
    const cm = toClient.media[0];
    assert.ok(cm);
    assert.equal(setupOf(toClient, cm), 'passive');
    assert.equal(findAttribute(cm.attributes, 'rtcp-mux'), undefined, 'a port pair toward the client');
    const fp = (findAttribute(cm.attributes, 'fingerprint')?.value ?? '').slice('sha-256 '.length);
    const port = cm.port;
    const rtcpPort = rtcpPortOf(cm);
    const pbxSideRtcpPort = rtcpPortOf(pm);
    const h = (call.media as { handle: Parameters<MediaControl['latchedPeer']>[0] }).handle;

    // Two handshakes, as a no-mux client runs them: RTP port → our RTP port, RTCP port → our RTCP port.
    const [rtp, rtcp] = await Promise.all([
      clientHandshake(clientRtp, clientCert, fp, port),
      clientHandshake(clientRtcp, clientCert, fp, rtcpPort),
    ]);
    await until(() => control.stats(h).security.dtlsConnected === 2, 3000, 'both relay-side handshakes complete');
    assert.notDeepEqual(Buffer.from(rtcp.keys.keys.local.masterKey), Buffer.from(rtp.keys.keys.local.masterKey), 'two sessions');
    assert.equal(control.stats(h).security.dtlsFailed, 0);
    call.state = 'confirmed';

    // RTP still flows on the RTP component's keys (and latches the RTP peer).
    const srtp = srtpSession(rtp.keys);
    const p1 = RtpPacket.deSerialize(rtpPacket(1));
    await clientRtp.send(Buffer.from(srtp.encrypt(p1.payload, p1.header)), port);
    await until(() => pbx.received.length === 1, 3000, 'PBX receives decrypted RTP');
    assert.deepEqual(control.latchedPeer(h, 0), { address: '127.0.0.1', port: clientRtp.port });

    // SRTCP under the RTP component's keys on the RTCP port fails authentication: those keys are not the RTCP port's.
    const wrongKeys = srtcpSession(rtp.keys);
    const authBefore = control.stats(h).fromPublic.dropped.auth_failed;
    const rr = rtcpPacket();
    await clientRtcp.send(Buffer.from(wrongKeys.encrypt(Buffer.from(rr))), rtcpPort);
    await until(() => control.stats(h).fromPublic.dropped.auth_failed === authBefore + 1, 2000, 'RTP-keyed SRTCP dropped');
    assert.equal(pbxRtcp.received.length, 0);

    // SRTCP under the RTCP component's keys arrives as plain RTCP at the PBX's RTCP port.
    const srtcp = srtcpSession(rtcp.keys);
    await clientRtcp.send(Buffer.from(srtcp.encrypt(Buffer.from(rr))), rtcpPort);
    await until(() => pbxRtcp.received.length === 1, 2000, 'PBX receives plain RTCP');
    assert.deepEqual(pbxRtcp.received[0]?.data, rr);
    assert.deepEqual(control.latchedPeer(h, 0), { address: '127.0.0.1', port: clientRtp.port }, 'the RTP latch did not move');

    // The PBX's RTCP reaches the client's RTCP port as SRTCP under the RTCP component's keys, not the RTP one's.
    const sr = Buffer.from(rtcpPacket());
    sr.writeUInt32BE(0x0badcafe, 4);
    await pbxRtcp.send(sr, pbxSideRtcpPort);
    const isRtcp = (b: Buffer): boolean => (b[0] as number) >= 128 && (b[1] as number) >= 192 && (b[1] as number) <= 223;
    await until(() => clientRtcp.received.some((r) => isRtcp(r.data)), 2000, 'client receives SRTCP');
    const got = clientRtcp.received.find((r) => isRtcp(r.data))?.data as Buffer;
    assert.ok(got.length > sr.length, 'protected (index and tag added)');
    assert.throws(() => srtcpSession(rtp.keys).decrypt(Buffer.from(got)), 'the RTP component’s keys do not authenticate it');
    assert.deepEqual(Buffer.from(srtcp.decrypt(Buffer.from(got))), sr);
    assert.equal(control.stats(h).security.dtlsConnected, 2);
    rtp.close();
    rtcp.close();
    anchor.release(call);
  });

  it('bounds the RTCP component’s handshake in time and counts its failure; its DTLS peer is pinned apart from RTP', async () => {
    const { relay, provider } = await standaloneRelay(120, 600);
    const clientRtp = await bindPeer('127.0.0.1');
    const clientRtcp = await bindPeer('127.0.0.1');
    const attacker = await bindPeer('127.0.0.9');
    peers.push(clientRtp, clientRtcp, attacker);
    try {
      const clientCert = await createDtlsCertificate();
      const r = relay.setPublicSecurity(peerDtls('server', clientCert.fingerprint));
      assert.ok(r.ok);
      const armedAt = Date.now();
      relay.setRemote('public', { address: '127.0.0.1', port: clientRtp.port, rtcpPort: clientRtcp.port });
      // The RTCP component's first record fixes its DTLS peer; a record from elsewhere is then dropped.
      const hello = Buffer.from([22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
      await clientRtcp.send(hello, relay.publicPort + 1);
      await sleep(20);
      const unexpected = relay.counters('public').dropUnexpectedSource;
      await attacker.send(hello, relay.publicPort + 1, '127.0.0.1');
      await until(() => relay.counters('public').dropUnexpectedSource === unexpected + 1, 2000, 'RTCP DTLS from elsewhere dropped');
      // Only the RTP component shakes hands: the RTCP one fails at the time bound, counted as a DTLS failure.
      const rtp = await clientHandshake(clientRtp, clientCert, provider.fingerprint, relay.publicPort);
      await until(() => relay.secureCounters().dtlsConnected === 1, 2000, 'RTP handshake complete');
      await until(() => relay.secureCounters().rtcpDtlsFailed === 1, 3000, 'RTCP handshake timed out');
      assert.ok(Date.now() - armedAt >= 550, `failed at the 600 ms bound, not before (${Date.now() - armedAt} ms)`);
      const c = relay.secureCounters();
      assert.equal(c.dtlsFailed, 1, 'counted among the leg’s DTLS failures (stats().security)');
      assert.equal(c.rtcpDtlsConnected, 0);
      assert.equal(relay.latchedPeer(), null, 'DTLS on the RTCP port latched nothing');
      rtp.close();
    } finally {
      await relay.close();
    }
  });

  it('without ICE, a first source that stalls its handshake cannot hold the leg from the client at its signalled endpoint', async () => {
    const { relay, provider } = await standaloneRelay(130, 8000);
    const client = await bindPeer('127.0.0.1');
    const attacker = await bindPeer('127.0.0.9');
    peers.push(client, attacker);
    const clientCert = await createDtlsCertificate();
    // The attacker's real ClientHello (its own certificate), sent once; then it goes quiet.
    let hello: Buffer | undefined;
    const stalled = createDtlsEndpoint({
      role: 'client',
      certificate: await createDtlsCertificate(),
      remoteFingerprint: { algorithm: 'sha-256', value: provider.fingerprint },
      send: (d) => {
        hello ??= Buffer.from(d);
      },
    });
    try {
      assert.ok(relay.setPublicSecurity(peerDtls('server', clientCert.fingerprint)).ok);
      relay.setRemote('public', { address: '127.0.0.1', port: client.port, rtcpMux: true });
      stalled.start();
      await until(() => hello !== undefined, 2000, 'the attacker’s ClientHello');
      await attacker.send(hello as Buffer, relay.publicPort);
      await until(() => attacker.received.length > 0, 2000, 'the relay answers the first source');

      // The client at the endpoint it signalled takes the leg at once, well inside the 8 s handshake bound.
      const t0 = Date.now();
      const rtp = await clientHandshake(client, clientCert, provider.fingerprint, relay.publicPort);
      assert.ok(Date.now() - t0 < 3000, `handshake took ${Date.now() - t0} ms`);
      await until(() => relay.secureCounters().dtlsConnected === 1, 2000, 'relay-side handshake complete');
      assert.equal(relay.secureCounters().dtlsPeerRestarts, 1);

      // Once a handshake completed nobody takes the slot again: the attacker's next ClientHello is dropped.
      const dropped = relay.counters('public').dropUnexpectedSource;
      await attacker.send(hello as Buffer, relay.publicPort);
      await until(() => relay.counters('public').dropUnexpectedSource === dropped + 1, 2000, 'late ClientHello dropped');
      assert.equal(relay.secureCounters().dtlsPeerRestarts, 1);
      assert.equal(relay.secureCounters().dtlsConnected, 1);
      rtp.close();
    } finally {
      stalled.close();
      await relay.close();
    }
  });

  it('without ICE, after the first source fails its handshake, a client from another address (NAT) gets the leg', async () => {
    const { relay, provider } = await standaloneRelay(140, 8000);
    const natted = await bindPeer('127.0.0.1');
    const attacker = await bindPeer('127.0.0.9');
    peers.push(natted, attacker);
    const clientCert = await createDtlsCertificate();
    try {
      assert.ok(relay.setPublicSecurity(peerDtls('server', clientCert.fingerprint)).ok);
      // Behind NAT: the client's packets come from another port than the one in its SDP.
      relay.setRemote('public', { address: '127.0.0.1', port: natted.port === 65000 ? 65002 : 65000, rtcpMux: true });
      // The attacker completes its flights with a certificate that is not the client's: the relay refuses it.
      const refused = clientHandshake(attacker, await createDtlsCertificate(), provider.fingerprint, relay.publicPort);
      refused.catch(() => {});
      await until(() => relay.secureCounters().dtlsFailed === 1, 4000, 'the impostor’s handshake fails');
      assert.equal(relay.secureCounters().dtlsConnected, 0);

      const rtp = await clientHandshake(natted, clientCert, provider.fingerprint, relay.publicPort);
      await until(() => relay.secureCounters().dtlsConnected === 1, 2000, 'the client’s handshake completes');
      assert.equal(relay.secureCounters().dtlsPeerRestarts, 1);
      // Its keys work: authenticated SRTP from it latches the leg.
      const srtp = srtpSession(rtp.keys);
      const p1 = RtpPacket.deSerialize(rtpPacket(1));
      await natted.send(Buffer.from(srtp.encrypt(p1.payload, p1.header)), relay.publicPort);
      await until(() => relay.latchedPeer() !== null, 2000, 'latched on authenticated SRTP');
      assert.deepEqual(relay.latchedPeer(), { address: '127.0.0.1', port: natted.port });
      rtp.close();
    } finally {
      await relay.close();
    }
  });

  it('as DTLS client without rtcp-mux, starts the RTCP component’s handshake toward the signalled RTCP port', async () => {
    const { relay, provider } = await standaloneRelay(124, 3000);
    const clientRtp = await bindPeer('127.0.0.1');
    const clientRtcp = await bindPeer('127.0.0.1');
    peers.push(clientRtp, clientRtcp);
    try {
      const clientCert = await createDtlsCertificate();
      // The client answered a=setup:passive: both of its components are DTLS servers.
      const handshakes = Promise.all([
        clientHandshake(clientRtp, clientCert, provider.fingerprint, relay.publicPort, 'server'),
        clientHandshake(clientRtcp, clientCert, provider.fingerprint, relay.publicPort + 1, 'server'),
      ]);
      assert.ok(relay.setPublicSecurity(peerDtls('client', clientCert.fingerprint)).ok);
      relay.setRemote('public', { address: '127.0.0.1', port: clientRtp.port, rtcpPort: clientRtcp.port });
      const [rtp, rtcp] = await handshakes;
      await until(() => relay.secureCounters().rtcpDtlsConnected === 1, 2000, 'RTCP component connected');
      assert.equal(relay.secureCounters().dtlsConnected, 2);
      assert.notDeepEqual(Buffer.from(rtcp.keys.keys.local.masterKey), Buffer.from(rtp.keys.keys.local.masterKey));
      rtp.close();
      rtcp.close();
    } finally {
      await relay.close();
    }
  });

  it('offers DTLS (actpass, ICE-lite, rtcp-mux) to a WSS client the PBX calls, SDES to a TLS one, 488 for UDP', async () => {
    const pbxOffer = Buffer.from(
      'v=0\r\no=- 3 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n',
    );
    const wss = fakeCall('wss');
    assert.equal(await anchor.prepare(wss, pbxOffer, CT), true);
    const toWss = rewriteOk(anchor, wss, 'pbx', pbxOffer);
    const m = toWss.media[0];
    assert.ok(m);
    assert.equal(m.proto, 'UDP/TLS/RTP/SAVPF');
    assert.equal(setupOf(toWss, m), 'actpass');
    assert.ok(findAttribute(m.attributes, 'ice-ufrag') && findAttribute(m.attributes, 'rtcp-mux'));
    assert.ok(findAttribute(toWss.attributes, 'ice-lite'));
    anchor.release(wss);

    const tls = fakeCall('tls');
    assert.equal(await anchor.prepare(tls, pbxOffer, CT), true);
    const toTls = rewriteOk(anchor, tls, 'pbx', pbxOffer);
    assert.equal(toTls.media[0]?.proto, 'RTP/SAVP');
    assert.match(attributeValues(toTls.media[0]?.attributes ?? [], 'crypto')[0] ?? '', /^1 AES_CM_128_HMAC_SHA1_80 inline:/);
    anchor.release(tls);

    const udp = fakeCall('udp');
    assert.equal(await anchor.prepare(udp, pbxOffer, CT), true);
    const r = anchor.rewrite(udp, 'pbx', pbxOffer, CT);
    assert.equal(r.ok ? 0 : r.status, 488);
    anchor.release(udp);
  });
});
