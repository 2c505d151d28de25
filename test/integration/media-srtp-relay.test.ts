/**
 * SRTP toward clients through the real relay (MediaControl + the proxy's media anchor, real UDP sockets):
 * a client protecting with werift-rtp's independent SRTP implementation talks to a plain-RTP fake PBX; an
 * attacker on another loopback address (127.0.0.9) injects RTP, forged SRTP and replays into the live call's
 * ports and gets nothing delivered to either side; ICE-lite latches only on an authenticated check; the
 * per-stream rate cap; media inactivity ends the call; plain offers get 488.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RtpPacket, SrtpSession } from 'werift-rtp';
import { ManualClock } from '../../src/core/clock.ts';
import type { MediaControl } from '../../src/media/control.ts';
import { generateIceCredentials } from '../../src/media/ice-lite.ts';
import { generateKeyMaterial, parseCryptoAttribute } from '../../src/media/srtp/index.ts';
import { encodeStunMessage, STUN_BINDING_SUCCESS, StunIntegrityKey } from '../../src/media/stun.ts';
import type { Call } from '../../src/proxy/calls.ts';
import type { MediaAnchor } from '../../src/proxy/media-anchor.ts';
import { attributeValues, parseSdp, type Sdp } from '../../src/sdp/index.ts';
import { bindPeer, type Peer, rtpPacket, sleep, until } from '../unit/media/helpers.ts';
import { fakeCall } from './helpers/fake-call.ts';
import { loopbackAnchor, loopbackControl } from './helpers/loopback-media.ts';

const ATTACKER = '127.0.0.9';
const CT = 'application/sdp';

function sdesOffer(port: number, key: Buffer, salt: Buffer, extra = ''): Buffer {
  const inline = Buffer.concat([key, salt]).toString('base64');
  return Buffer.from(
    `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/SAVP 0\r\n` +
      `a=rtpmap:0 PCMU/8000\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${inline}\r\n${extra}`,
  );
}

function plainSdp(port: number, version = 1, extra = ''): Buffer {
  return Buffer.from(
    `v=0\r\no=- 7 ${version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n${extra}`,
  );
}

function parsed(body: Buffer): Sdp {
  const r = parseSdp(body);
  assert.ok(r.ok, 'SDP parses');
  return r.value;
}

function rewriteOk(anchor: MediaAnchor, call: Call, from: 'public' | 'pbx', body: Buffer): Sdp {
  const r = anchor.rewrite(call, from, body, CT);
  assert.ok(r.ok, `rewrite from ${from}: ${r.ok ? '' : `${r.status} ${r.reason}`}`);
  return parsed(r.body);
}

interface SdesCall {
  call: Call;
  client: Peer;
  pbx: Peer;
  publicPort: number;
  pbxPort: number;
  /** werift session: encrypts with the client's key, decrypts with Palisade's. */
  session: SrtpSession;
}

/** Client (TLS signalling) offers SDES; the fake PBX answers plain RTP; returns the live call. */
async function setUpSdesCall(anchor: MediaAnchor, peers: Peer[]): Promise<SdesCall> {
  const client = await bindPeer('127.0.0.1');
  const pbx = await bindPeer('127.0.0.1');
  peers.push(client, pbx);
  const call = fakeCall('tls');
  const mine = generateKeyMaterial('AES_CM_128_HMAC_SHA1_80');
  const offer = sdesOffer(client.port, mine.masterKey, mine.masterSalt);
  assert.equal(await anchor.prepare(call, offer, CT), true);
  const toPbx = rewriteOk(anchor, call, 'public', offer);
  const pm = toPbx.media[0];
  assert.ok(pm);
  assert.equal(pm.proto, 'RTP/AVP', 'the PBX sees plain RTP');
  assert.deepEqual(attributeValues(pm.attributes, 'crypto'), [], 'no key crosses to the PBX');
  const toClient = rewriteOk(anchor, call, 'pbx', plainSdp(pbx.port));
  const cm = toClient.media[0];
  assert.ok(cm);
  assert.equal(cm.proto, 'RTP/SAVP');
  const cryptoLines = attributeValues(cm.attributes, 'crypto');
  assert.equal(cryptoLines.length, 1);
  const theirs = parseCryptoAttribute(cryptoLines[0] as string);
  assert.ok(theirs.ok);
  assert.equal(theirs.value.tag, 1);
  assert.notDeepEqual(theirs.value.masterKey, mine.masterKey, 'Palisade uses its own key');
  call.state = 'confirmed';
  const session = new SrtpSession({
    keys: {
      localMasterKey: mine.masterKey,
      localMasterSalt: mine.masterSalt,
      remoteMasterKey: theirs.value.masterKey,
      remoteMasterSalt: theirs.value.masterSalt,
    },
    profile: 1,
  });
  return { call, client, pbx, publicPort: cm.port, pbxPort: pm.port, session };
}

function protect(session: SrtpSession, rtp: Buffer): Buffer {
  const p = RtpPacket.deSerialize(rtp);
  return Buffer.from(session.encrypt(p.payload, p.header));
}

describe('SRTP toward clients through the relay', { timeout: 30_000 }, () => {
  let control: MediaControl;
  let anchor: MediaAnchor;
  const peers: Peer[] = [];

  before(() => {
    control = loopbackControl({ maxSessions: 16 });
    anchor = loopbackAnchor(control, { plainAllowedFrom: { has: (a) => a === '192.0.2.7' } });
  });
  after(async () => {
    anchor.close();
    for (const p of peers) await p.close();
    await control.close();
  });

  it('relays SRTP (werift) from the client as RTP to the PBX, and the PBX RTP back encrypted', async () => {
    const c = await setUpSdesCall(anchor, peers);
    const sent: Buffer[] = [];
    for (let seq = 1; seq <= 20; seq++) {
      const rtp = rtpPacket(seq);
      sent.push(rtp);
      await c.client.send(protect(c.session, rtp), c.publicPort);
    }
    await until(() => c.pbx.received.length === 20, 2000, 'PBX receives 20 RTP packets');
    for (let i = 0; i < 20; i++) assert.deepEqual(c.pbx.received[i]?.data, sent[i], `packet ${i} decrypted`);
    assert.equal(c.pbx.received[0]?.from.port, c.pbxPort, 'from the PBX-side relay port');

    for (let seq = 100; seq < 110; seq++) await c.pbx.send(rtpPacket(seq, 160, 0), c.pbxPort);
    await until(() => c.client.received.length === 10, 2000, 'client receives 10 SRTP packets');
    for (let i = 0; i < 10; i++) {
      const srtp = c.client.received[i]?.data as Buffer;
      assert.notDeepEqual(srtp.subarray(12, 172), rtpPacket(100 + i).subarray(12), 'payload is encrypted');
      assert.deepEqual(Buffer.from(c.session.decrypt(srtp)), rtpPacket(100 + i), `werift decrypts packet ${i}`);
    }
    anchor.release(c.call);
  });

  it('RTP injection: an attacker on 127.0.0.9 gets zero packets delivered either way, drops are counted', async () => {
    const c = await setUpSdesCall(anchor, peers);
    const attacker = await bindPeer(ATTACKER);
    peers.push(attacker);
    const handle = (c.call.media as { handle: Parameters<MediaControl['stats']>[0] }).handle;
    assert.ok(handle);
    const forger = new SrtpSession({
      keys: {
        localMasterKey: randomBytes(16),
        localMasterSalt: randomBytes(14),
        remoteMasterKey: randomBytes(16),
        remoteMasterSalt: randomBytes(14),
      },
      profile: 1,
    });

    // Before the client sends anything: nothing is latched, attacker traffic latches nothing.
    for (let seq = 1; seq <= 10; seq++) {
      await attacker.send(rtpPacket(seq), c.publicPort, '127.0.0.1'); // plain RTP into the SRTP port
      await attacker.send(protect(forger, rtpPacket(seq)), c.publicPort, '127.0.0.1'); // SRTP with the wrong key
      await attacker.send(rtpPacket(seq), c.publicPort + 1, '127.0.0.1'); // the RTCP port
      await attacker.send(rtpPacket(seq), c.pbxPort, '127.0.0.1'); // the PBX-side port
    }
    for (let seq = 1; seq <= 5; seq++) await c.pbx.send(rtpPacket(seq), c.pbxPort); // PBX media with no latched client
    await sleep(100);
    assert.equal(control.latchedPeer(handle, 0), null, 'no latch from unauthenticated packets');
    assert.equal(c.pbx.received.length, 0, 'nothing reached the PBX');
    assert.equal(attacker.received.length, 0, 'nothing reached the attacker');
    assert.equal(c.client.received.length, 0);

    // The client's authenticated packet latches it.
    const legit: Buffer[] = [];
    for (let seq = 1; seq <= 5; seq++) {
      const p = protect(c.session, rtpPacket(seq));
      legit.push(p);
      await c.client.send(p, c.publicPort);
    }
    await until(() => c.pbx.received.length === 5, 2000, 'legit media reaches the PBX');
    assert.deepEqual(control.latchedPeer(handle, 0), { address: '127.0.0.1', port: c.client.port });

    // During the call: replays of captured packets, forgeries, and plain RTP into both ports.
    for (const p of legit) await attacker.send(p, c.publicPort, '127.0.0.1');
    for (let seq = 6; seq <= 15; seq++) {
      await attacker.send(protect(forger, rtpPacket(seq)), c.publicPort, '127.0.0.1');
      await attacker.send(rtpPacket(seq), c.pbxPort, '127.0.0.1');
    }
    for (let seq = 10; seq < 15; seq++) await c.pbx.send(rtpPacket(seq), c.pbxPort);
    await until(() => c.client.received.length === 5, 2000, 'PBX media reaches the latched client');
    await sleep(100);
    assert.equal(c.pbx.received.length, 5, 'the PBX got only the 5 legit packets');
    assert.equal(attacker.received.length, 0, 'the attacker got nothing');
    assert.deepEqual(control.latchedPeer(handle, 0), { address: '127.0.0.1', port: c.client.port }, 'latch unmoved');
    const s = control.stats(handle);
    assert.ok(s.fromPublic.dropped.auth_failed >= 35, `auth_failed ${s.fromPublic.dropped.auth_failed}`);
    assert.ok(s.fromPublic.dropped.malformed + s.fromPublic.dropped.auth_failed >= 45, JSON.stringify(s.fromPublic.dropped));
    // The PBX-side socket is connected to the PBX's signalled address: the kernel discards the attacker's 20.
    assert.equal(s.fromPbx.packetsIn, 10, 'only the PBX packets reach the PBX-side socket');
    assert.equal(s.fromPbx.dropped.no_remote, 5, 'PBX media before the latch');
    assert.equal(s.security.latches, 1, 'latched once, never moved by the attacker');
    anchor.release(c.call);
  });

  it('plain RTP from a client gets 488 unless its source is in plainAllowedFrom; SDES needs TLS/WSS', async () => {
    const denied = fakeCall('udp');
    const body = plainSdp(40000);
    assert.equal(await anchor.prepare(denied, body, CT), true);
    const r = anchor.rewrite(denied, 'public', body, CT);
    assert.deepEqual(r, { ok: false, status: 488, reason: 'Not Acceptable Here' });
    anchor.release(denied);

    const allowed = fakeCall('udp', '192.0.2.7');
    assert.equal(await anchor.prepare(allowed, body, CT), true);
    assert.equal(rewriteOk(anchor, allowed, 'public', body).media[0]?.proto, 'RTP/AVP');
    anchor.release(allowed);

    const k = generateKeyMaterial('AES_CM_128_HMAC_SHA1_80');
    const sdesOverUdp = fakeCall('udp');
    const offer = sdesOffer(40000, k.masterKey, k.masterSalt);
    assert.equal(await anchor.prepare(sdesOverUdp, offer, CT), true);
    const r2 = anchor.rewrite(sdesOverUdp, 'public', offer, CT);
    assert.equal(r2.ok, false);
    assert.equal(r2.ok ? 0 : r2.status, 488);
    anchor.release(sdesOverUdp);
  });

  it('re-INVITE with a new client key: new receive context, Palisade keeps its key; hold is exempt from inactivity', async () => {
    const c = await setUpSdesCall(anchor, peers);
    await c.client.send(protect(c.session, rtpPacket(1)), c.publicPort);
    await until(() => c.pbx.received.length === 1, 2000, 'first packet');
    const next = generateKeyMaterial('AES_CM_128_HMAC_SHA1_80');
    const reoffer = sdesOffer(c.client.port, next.masterKey, next.masterSalt, 'a=sendonly\r\n');
    const toPbx = rewriteOk(anchor, c.call, 'public', reoffer);
    assert.ok(attributeValues(toPbx.media[0]?.attributes ?? [], 'sendonly') !== undefined);
    const toClient = rewriteOk(anchor, c.call, 'pbx', plainSdp(c.pbx.port, 2, 'a=recvonly\r\n'));
    const line = attributeValues(toClient.media[0]?.attributes ?? [], 'crypto')[0] as string;
    const theirs = parseCryptoAttribute(line);
    assert.ok(theirs.ok);
    const session2 = new SrtpSession({
      keys: {
        localMasterKey: next.masterKey,
        localMasterSalt: next.masterSalt,
        remoteMasterKey: theirs.value.masterKey,
        remoteMasterSalt: theirs.value.masterSalt,
      },
      profile: 1,
    });
    await c.client.send(protect(c.session, rtpPacket(2)), c.publicPort); // old key: refused now
    await c.client.send(protect(session2, rtpPacket(3)), c.publicPort);
    await until(() => c.pbx.received.length === 2, 2000, 'packet under the new key');
    assert.deepEqual(c.pbx.received[1]?.data, rtpPacket(3));
    // Palisade's key did not change, so the client's original receive session still decrypts.
    await c.pbx.send(rtpPacket(50), c.pbxPort);
    await until(() => c.client.received.length === 1, 2000, 'PBX packet');
    assert.deepEqual(Buffer.from(c.session.decrypt(c.client.received[0]?.data as Buffer)), rtpPacket(50));
    anchor.release(c.call);
  });
});

describe('ICE-lite latch and the packet-rate cap on a secure leg', { timeout: 30_000 }, () => {
  let control: MediaControl;
  const peers: Peer[] = [];
  before(() => {
    control = loopbackControl({ maxSessions: 4, maxPacketRate: 50 });
  });
  after(async () => {
    for (const p of peers) await p.close();
    await control.close();
  });

  it('with ICE, authentic SRTP from an unchecked address is dropped; an authenticated Binding request latches', async () => {
    const client = await bindPeer('127.0.0.1');
    const pbx = await bindPeer('127.0.0.1');
    const attacker = await bindPeer(ATTACKER);
    peers.push(client, pbx, attacker);
    const h = await control.allocate('ice', 1);
    assert.ok(h.ok);
    const leg = h.value.legs[0];
    assert.ok(leg);
    const rx = generateKeyMaterial('AES_CM_128_HMAC_SHA1_80');
    const tx = generateKeyMaterial('AES_CM_128_HMAC_SHA1_80');
    const ice = generateIceCredentials();
    assert.ok(
      control.secure(h.value, 0, {
        sdes: { profile: 'AES_CM_128_HMAC_SHA1_80', rx, tx },
        ice: { localUfrag: ice.ufrag, localPwd: ice.pwd, remoteUfrag: 'Clnt' },
      }).ok,
    );
    assert.ok(control.update(h.value, 'public', 0, { address: '127.0.0.1', port: client.port, rtcpMux: true }).ok);
    assert.ok(control.update(h.value, 'pbx', 0, { address: '127.0.0.1', port: pbx.port }).ok);
    const session = new SrtpSession({
      keys: {
        localMasterKey: rx.masterKey,
        localMasterSalt: rx.masterSalt,
        remoteMasterKey: tx.masterKey,
        remoteMasterSalt: tx.masterSalt,
      },
      profile: 1,
    });
    const port = leg.public.localPort;
    await client.send(protect(session, rtpPacket(1)), port);
    await sleep(50);
    assert.equal(pbx.received.length, 0, 'no SRTP before an ICE check, even authentic');

    const check = (pwd: string) =>
      encodeStunMessage({
        transactionId: randomBytes(12),
        username: `${ice.ufrag}:Clnt`,
        priority: 0x6e0001ff,
        useCandidate: true,
        iceControlling: [1, 2],
        integrity: new StunIntegrityKey(pwd),
      });
    await attacker.send(check('x'.repeat(24)), port, '127.0.0.1');
    await until(() => attacker.received.length === 1, 2000, '401 to the attacker');
    assert.equal(control.latchedPeer(h.value, 0), null, 'a check with the wrong password latches nothing');

    await client.send(check(ice.pwd), port);
    await until(() => client.received.length === 1, 2000, 'Binding success');
    assert.equal(client.received[0]?.data.readUInt16BE(0), STUN_BINDING_SUCCESS);
    assert.deepEqual(control.latchedPeer(h.value, 0), { address: '127.0.0.1', port: client.port });
    await client.send(protect(session, rtpPacket(2)), port);
    await until(() => pbx.received.length === 1, 2000, 'SRTP after the check');
    assert.deepEqual(pbx.received[0]?.data, rtpPacket(2));
    const sec = control.stats(h.value).security;
    assert.deepEqual([sec.iceAnswered, sec.iceRejected, sec.latches], [1, 1, 1]);
    control.release(h.value);
  });

  it('caps each direction at media.maxPacketRate (burst then drop, counted)', async () => {
    const client = await bindPeer('127.0.0.1');
    const pbx = await bindPeer('127.0.0.1');
    peers.push(client, pbx);
    const h = await control.allocate('rate', 1);
    assert.ok(h.ok);
    const port = h.value.legs[0]?.public.localPort as number;
    const rx = generateKeyMaterial('AES_CM_128_HMAC_SHA1_80');
    const tx = generateKeyMaterial('AES_CM_128_HMAC_SHA1_80');
    assert.ok(control.secure(h.value, 0, { sdes: { profile: 'AES_CM_128_HMAC_SHA1_80', rx, tx } }).ok);
    control.update(h.value, 'public', 0, { address: '127.0.0.1', port: client.port });
    control.update(h.value, 'pbx', 0, { address: '127.0.0.1', port: pbx.port });
    const session = new SrtpSession({
      keys: {
        localMasterKey: rx.masterKey,
        localMasterSalt: rx.masterSalt,
        remoteMasterKey: tx.masterKey,
        remoteMasterSalt: tx.masterSalt,
      },
      profile: 1,
    });
    const burst: Buffer[] = [];
    for (let seq = 1; seq <= 200; seq++) burst.push(protect(session, rtpPacket(seq)));
    for (const p of burst) client.sock.send(p, port, '127.0.0.1');
    await until(() => control.stats(h.value).fromPublic.packetsIn === 200, 3000, 'all 200 seen');
    await sleep(50);
    const s = control.stats(h.value).fromPublic;
    // 50 packets/s: a burst of 10 plus what refills in the few ms of sending.
    assert.ok(pbx.received.length >= 10 && pbx.received.length <= 30, `relayed ${pbx.received.length}`);
    assert.equal(s.dropped.rate_limited, 200 - pbx.received.length);
    control.release(h.value);
  });

  it('a reload of media.maxPacketRate applies to a live leg at once and to a pooled leg when a session takes it', async () => {
    const client = await bindPeer('127.0.0.1');
    const pbx = await bindPeer('127.0.0.1');
    peers.push(client, pbx);
    const h = await control.allocate('reload', 1);
    assert.ok(h.ok);
    const port = h.value.legs[0]?.public.localPort as number;
    const send200 = async (from: number): Promise<void> => {
      for (let seq = from; seq < from + 200; seq++) client.sock.send(rtpPacket(seq), port, '127.0.0.1');
      await until(() => control.stats(h.value).fromPublic.packetsIn === from + 199, 3000, 'all 200 seen');
      await sleep(50);
    };
    try {
      control.update(h.value, 'public', 0, { address: '127.0.0.1', port: client.port });
      control.update(h.value, 'pbx', 0, { address: '127.0.0.1', port: pbx.port });
      await send200(1);
      const capped = pbx.received.length;
      assert.ok(capped >= 10 && capped <= 30, `capped at 50/s: relayed ${capped}`);

      control.setMaxPacketRate(0); // reload: no cap
      await send200(201);
      assert.equal(pbx.received.length, capped + 200, 'the live leg relays everything at once');
      control.setMaxPacketRate(20);
      await send200(401);
      const after20 = pbx.received.length - capped - 200;
      assert.ok(after20 >= 8 && after20 <= 16, `capped at 20/s: relayed ${after20}`);
    } finally {
      control.release(h.value);
    }

    // Released while the cap was 20, raised to 0 (none) while pooled: the next session on the same ports has none.
    control.setMaxPacketRate(0);
    const h2 = await control.allocate('reload-2', 1);
    assert.ok(h2.ok);
    try {
      assert.equal(h2.value.legs[0]?.public.localPort, port, 'the pooled leg was reused');
      control.update(h2.value, 'public', 0, { address: '127.0.0.1', port: client.port });
      control.update(h2.value, 'pbx', 0, { address: '127.0.0.1', port: pbx.port });
      const before = pbx.received.length;
      for (let seq = 1; seq <= 200; seq++) client.sock.send(rtpPacket(seq), port, '127.0.0.1');
      await until(() => pbx.received.length === before + 200, 3000, 'all 200 relayed on the reused leg');
      assert.equal(control.stats(h2.value).fromPublic.dropped.rate_limited, 0);
    } finally {
      control.release(h2.value);
      control.setMaxPacketRate(50);
    }
  });
});

describe('media inactivity', () => {
  /** A control and anchor on a ManualClock, and calls established through them with real relay sockets. */
  async function inactivityRig(inactivityTimeoutMs?: number) {
    const clock = new ManualClock(0);
    const control = loopbackControl({ maxSessions: 4, clock });
    const anchor = loopbackAnchor(control, { ...(inactivityTimeoutMs !== undefined ? { inactivityTimeoutMs } : {}), clock });
    const ended: Array<[string, string]> = [];
    anchor.bindTerminate?.((call, reason) => ended.push([call.id, reason]));
    const peers: Peer[] = [];
    return {
      clock,
      anchor,
      ended,
      /** A confirmed call; `hold` puts it on hold (sendonly/recvonly) from the start. */
      async establish(hold = false): Promise<Call> {
        const call = fakeCall('udp');
        const pbx = await bindPeer('127.0.0.1');
        const client = await bindPeer('127.0.0.1');
        peers.push(pbx, client);
        const offer = plainSdp(client.port, 1, hold ? 'a=sendonly\r\n' : '');
        assert.equal(await anchor.prepare(call, offer, CT), true);
        rewriteOk(anchor, call, 'public', offer);
        rewriteOk(anchor, call, 'pbx', plainSdp(pbx.port, 1, hold ? 'a=recvonly\r\n' : ''));
        call.state = 'confirmed';
        return call;
      },
      /** Moves the clock and runs the check (the timer, when armed, runs it too). */
      tick(ms: number): void {
        clock.advance(ms);
        anchor.checkInactivity();
      },
      async close(): Promise<void> {
        anchor.close();
        for (const p of peers) await p.close();
        await control.close();
      },
    };
  }

  it('ends an established call whose media stopped both ways; a call on hold is exempt', async () => {
    const rig = await inactivityRig(1000);
    try {
      const active = await rig.establish();
      await rig.establish(true);
      rig.tick(0);
      rig.tick(600);
      assert.deepEqual(rig.ended, [], 'not yet');
      rig.tick(600);
      assert.deepEqual(rig.ended, [[active.id, 'media-timeout']]);
      rig.tick(5000);
      assert.equal(rig.ended.length, 1, 'the held call stays');
    } finally {
      await rig.close();
    }
  });

  it('a reload of media.inactivityTimeout turns the check on and off; quiet time counts from the reload', async () => {
    const rig = await inactivityRig();
    try {
      const call = await rig.establish();
      rig.tick(0);
      rig.tick(60_000);
      assert.deepEqual(rig.ended, [], 'no timeout configured: a silent call stays');

      rig.anchor.setInactivityTimeout(1000);
      rig.tick(600);
      assert.deepEqual(rig.ended, [], 'a minute of silence before the reload does not count');
      rig.tick(600);
      assert.deepEqual(rig.ended, [[call.id, 'media-timeout']]);

      await rig.establish();
      rig.anchor.setInactivityTimeout(0);
      rig.tick(60_000);
      assert.equal(rig.ended.length, 1, 'turned off again');
    } finally {
      await rig.close();
    }
  });
});
