import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../../src/core/clock.ts';
import { silentLogger } from '../../../src/core/log.ts';
import {
  classifyPacket,
  createMediaControl,
  type MediaControl,
  type MediaSessionHandle,
  PACKET_MALFORMED,
  PACKET_RTCP,
  PACKET_RTP,
} from '../../../src/media/index.ts';
import { bindPeer, type Peer, rtcpPacket, rtpPacket, sleep, testPortRange, until } from './helpers.ts';

function newControl(extra: { portMin?: number; portMax?: number; maxSessions?: number } = {}): MediaControl {
  return createMediaControl({
    publicAddress: '127.0.0.1',
    pbxAddress: '127.0.0.1',
    ...testPortRange(),
    maxSessions: 50,
    clock: systemClock,
    logger: silentLogger,
    quarantineMs: 0,
    ...extra,
  });
}

/** Tries to bind 127.0.0.1:port; the error code, or 'ok' (the socket is closed either way). */
function bindError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    sock.once('error', (e: NodeJS.ErrnoException) => {
      sock.close();
      resolve(e.code ?? 'error');
    });
    sock.bind(port, '127.0.0.1', () => sock.close(() => resolve('ok')));
  });
}

async function allocated(control: MediaControl, count = 1): Promise<MediaSessionHandle> {
  const r = await control.allocate('call-1', count);
  if (!r.ok) assert.fail(`allocate failed: ${r.error.code}`);
  return r.value;
}

function leg(h: MediaSessionHandle, i = 0) {
  const l = h.legs[i];
  assert.ok(l);
  return l;
}

describe('classifyPacket', () => {
  it('tells RTP, RTCP and malformed apart', () => {
    assert.equal(classifyPacket(rtpPacket(1)), PACKET_RTP);
    assert.equal(classifyPacket(rtpPacket(1, 0)), PACKET_RTP, '12-byte header alone is RTP');
    assert.equal(classifyPacket(rtcpPacket()), PACKET_RTCP);
    assert.equal(classifyPacket(rtpPacket(1).subarray(0, 11)), PACKET_MALFORMED, 'short');
    assert.equal(classifyPacket(Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), PACKET_MALFORMED, 'version 1');
    const csrc = rtpPacket(1, 0);
    csrc[0] = 0x82; // CC=2 needs 8 more bytes
    assert.equal(classifyPacket(csrc), PACKET_MALFORMED);
    assert.equal(classifyPacket(Buffer.alloc(0)), PACKET_MALFORMED);
  });
});

describe('plain relay over loopback', () => {
  let control: MediaControl;
  let phone: Peer; // public side peer, RTP
  let phoneRtcp: Peer;
  let pbx: Peer; // pbx side peer, RTP
  let pbxRtcp: Peer;
  const peers: Peer[] = [];

  before(async () => {
    control = newControl();
    phone = await bindPeer();
    phoneRtcp = await bindPeer();
    pbx = await bindPeer();
    pbxRtcp = await bindPeer();
    peers.push(phone, phoneRtcp, pbx, pbxRtcp);
  });
  after(async () => {
    await control.close();
    await Promise.all(peers.map((p) => p.close()));
  });

  function reset(): void {
    for (const p of peers) p.received.length = 0;
  }

  it('drops packets until the remote is known (no_remote), then relays both ways', async () => {
    reset();
    const h = await allocated(control);
    const l = leg(h);
    assert.notEqual(l.public.localPort, l.pbx.localPort);
    assert.equal(l.public.localPort % 2, 0);
    assert.equal(l.public.localRtcpPort, l.public.localPort + 1);
    assert.deepEqual(control.localFor(h, 'pbx', 0), l.pbx);

    await phone.send(rtpPacket(1), l.public.localPort);
    await until(() => control.stats(h).fromPublic.dropped.no_remote === 1, 2000, 'no_remote drop');

    assert.equal(control.update(h, 'public', 0, { address: '127.0.0.1', port: phone.port, rtcpPort: phoneRtcp.port }).ok, true);
    assert.equal(control.update(h, 'pbx', 0, { address: '127.0.0.1', port: pbx.port, rtcpPort: pbxRtcp.port }).ok, true);
    await sleep(20); // connect() of the relay sockets completes asynchronously

    for (let i = 0; i < 10; i++) await phone.send(rtpPacket(100 + i), l.public.localPort);
    for (let i = 0; i < 10; i++) await pbx.send(rtpPacket(200 + i), l.pbx.localPort);
    await until(() => pbx.received.length === 10 && phone.received.length === 10, 2000, 'packets both ways');
    assert.deepEqual(pbx.received[0]?.data, rtpPacket(100));
    assert.equal(pbx.received[0]?.from.port, l.pbx.localPort, 'PBX sees the relay, not the phone');
    assert.deepEqual(phone.received[9]?.data, rtpPacket(209));
    assert.equal(phone.received[0]?.from.port, l.public.localPort, 'symmetric: the phone hears from where it sends');

    // RTCP on the odd ports
    await phoneRtcp.send(rtcpPacket(), l.public.localRtcpPort);
    await pbxRtcp.send(rtcpPacket(), l.pbx.localRtcpPort);
    await until(() => pbxRtcp.received.length === 1 && phoneRtcp.received.length === 1, 2000, 'rtcp both ways');
    assert.equal(pbxRtcp.received[0]?.from.port, l.pbx.localRtcpPort);

    const s = control.stats(h);
    assert.equal(s.sessions, 1);
    assert.equal(s.fromPublic.packetsOut, 11);
    assert.equal(s.fromPbx.packetsOut, 11);
    assert.equal(s.fromPublic.bytesOut, 10 * 172 + 8);
    control.release(h);
  });

  it('a third party gets zero packets through, even from the signalled port on another address', async () => {
    reset();
    const h = await allocated(control);
    const l = leg(h);
    control.update(h, 'public', 0, { address: '127.0.0.1', port: phone.port, rtcpMux: true });
    control.update(h, 'pbx', 0, { address: '127.0.0.1', port: pbx.port, rtcpPort: pbxRtcp.port });
    await sleep(20);
    const sameAddr = await bindPeer('127.0.0.1');
    const samePort = await bindPeer('127.0.0.2', phone.port); // same port as the phone, other loopback address
    try {
      for (let i = 0; i < 20; i++) {
        await sameAddr.send(rtpPacket(900 + i), l.public.localPort);
        await samePort.send(rtpPacket(900 + i), l.public.localPort);
        await samePort.send(rtpPacket(900 + i), l.pbx.localPort);
        await sameAddr.send(rtcpPacket(), l.public.localRtcpPort); // public side muxes: its RTCP port takes nothing
      }
      await phone.send(rtpPacket(1), l.public.localPort);
      await until(() => pbx.received.length >= 1, 2000, 'legit packet');
      await sleep(30);
      assert.deepEqual(
        pbx.received.map((r) => r.data.readUInt16BE(2)),
        [1],
        'only the legit packet reached the PBX',
      );
      assert.equal(phone.received.length, 0, 'nothing injected toward the phone');
      assert.equal(pbxRtcp.received.length, 0);
      // The connected RTP sockets let the kernel filter strangers; the unconnected muxed RTCP port counts them.
      assert.equal(control.stats(h).fromPublic.dropped.unexpected_source, 20);

      // rtcp-mux: RTCP from the phone's RTP port goes to the PBX's separate RTCP port.
      await phone.send(rtcpPacket(), l.public.localPort);
      await until(() => pbxRtcp.received.length === 1, 2000, 'muxed rtcp');
      // and RTCP from the PBX comes back on the phone's RTP port
      await pbxRtcp.send(rtcpPacket(), l.pbx.localRtcpPort);
      await until(() => phone.received.length === 1, 2000, 'rtcp to muxed phone');
      assert.equal(phone.received[0]?.from.port, l.public.localPort);
    } finally {
      await sameAddr.close();
      await samePort.close();
      control.release(h);
    }
  });

  it('drops and counts malformed packets', async () => {
    reset();
    const h = await allocated(control);
    const l = leg(h);
    control.update(h, 'public', 0, { address: '127.0.0.1', port: phone.port, rtcpPort: phoneRtcp.port });
    control.update(h, 'pbx', 0, { address: '127.0.0.1', port: pbx.port, rtcpPort: pbxRtcp.port });
    await sleep(20);
    await phone.send(Buffer.from([0x80, 0, 1]), l.public.localPort); // too short
    await phone.send(Buffer.alloc(40, 0x40), l.public.localPort); // version 1
    await phone.send(rtpPacket(1).subarray(0, 11), l.public.localPort); // 11 bytes
    await phoneRtcp.send(rtpPacket(2), l.public.localRtcpPort); // RTP on the RTCP port
    await phone.send(rtpPacket(3), l.public.localPort);
    await until(() => pbx.received.length === 1, 2000, 'good packet');
    await sleep(20);
    assert.equal(pbx.received[0]?.data.readUInt16BE(2), 3);
    assert.equal(pbxRtcp.received.length, 0);
    const s = control.stats(h).fromPublic;
    assert.equal(s.dropped.malformed, 4);
    assert.equal(s.packetsIn, 5);
    assert.equal(s.packetsOut, 1);
    control.release(h);
  });

  it('follows re-targeting and hold (null remote)', async () => {
    reset();
    const h = await allocated(control);
    const l = leg(h);
    const phone2 = await bindPeer();
    try {
      control.update(h, 'public', 0, { address: '127.0.0.1', port: phone.port, rtcpMux: true });
      control.update(h, 'pbx', 0, { address: '127.0.0.1', port: pbx.port, rtcpMux: true });
      await sleep(20);
      await pbx.send(rtpPacket(1), l.pbx.localPort);
      await until(() => phone.received.length === 1, 2000, 'first target');
      control.update(h, 'public', 0, { address: '127.0.0.1', port: phone2.port, rtcpMux: true });
      await sleep(20);
      await pbx.send(rtpPacket(2), l.pbx.localPort);
      await until(() => phone2.received.length === 1, 2000, 'new target');
      await phone.send(rtpPacket(3), l.public.localPort); // old phone endpoint is no longer accepted
      await phone2.send(rtpPacket(4), l.public.localPort);
      await until(() => pbx.received.length === 1, 2000, 'from new phone');
      await sleep(20);
      assert.equal(pbx.received[0]?.data.readUInt16BE(2), 4);
      assert.equal(phone.received.length, 1);

      // hold: the phone's side is cleared; PBX media has nowhere to go
      assert.equal(control.update(h, 'public', 0, null).ok, true);
      await sleep(10);
      await pbx.send(rtpPacket(5), l.pbx.localPort);
      await until(() => control.stats(h).fromPbx.dropped.no_remote === 1, 2000, 'dropped during hold');
      assert.equal(phone2.received.length, 1);
    } finally {
      await phone2.close();
      control.release(h);
    }
  });

  it('drops RTP with a payload type the side did not negotiate', async () => {
    reset();
    const h = await allocated(control);
    const l = leg(h);
    control.update(h, 'public', 0, { address: '127.0.0.1', port: phone.port, rtcpMux: true, payloadTypes: [0, 101] });
    control.update(h, 'pbx', 0, { address: '127.0.0.1', port: pbx.port, rtcpMux: true });
    await sleep(20);
    await phone.send(rtpPacket(1, 160, 8), l.public.localPort); // PCMA: not negotiated
    await phone.send(rtpPacket(2, 160, 96), l.public.localPort);
    await phone.send(rtcpPacket(), l.public.localPort); // RTCP is not subject to the RTP payload type check
    await phone.send(rtpPacket(3, 4, 101), l.public.localPort);
    await phone.send(rtpPacket(4, 160, 0), l.public.localPort);
    await until(() => pbx.received.length === 3, 2000, 'allowed packets');
    await sleep(20);
    assert.deepEqual(
      pbx.received.map((r) => r.data[1]),
      [201, 101, 0],
    );
    assert.equal(control.stats(h).fromPublic.dropped.payload_type, 2);
    assert.equal(control.update(h, 'public', 0, { address: '127.0.0.1', port: phone.port, payloadTypes: [128] }).ok, false);
    control.release(h);
  });

  it('survives ICMP port unreachable from a vanished peer', async () => {
    reset();
    const h = await allocated(control);
    const l = leg(h);
    const gone = await bindPeer();
    const gonePort = gone.port;
    await gone.close();
    control.update(h, 'public', 0, { address: '127.0.0.1', port: phone.port, rtcpMux: true });
    control.update(h, 'pbx', 0, { address: '127.0.0.1', port: gonePort, rtcpMux: true });
    await sleep(20);
    for (let i = 0; i < 5; i++) {
      await phone.send(rtpPacket(i), l.public.localPort);
      await sleep(5);
    }
    await until(() => control.stats(h).fromPublic.packetsIn === 5, 2000, 'packets in');
    await sleep(20);
    const s = control.stats(h);
    // The connected socket reports the ICMP errors as 'error' events (counted) or failed sends; never a crash.
    assert.ok(s.fromPbx.socketErrors + s.fromPublic.dropped.send_error >= 1, JSON.stringify(s));
    // The call goes on once the PBX is back on that port.
    const back = await bindPeer('127.0.0.1', gonePort);
    try {
      await phone.send(rtpPacket(99), l.public.localPort);
      await until(() => back.received.length === 1, 2000, 'delivery after recovery');
    } finally {
      await back.close();
      control.release(h);
    }
  });

  it('release forgets the session and keeps its sockets bound in the idle pool', async () => {
    const h = await allocated(control, 2);
    const ports = h.legs.flatMap((l) => [l.public.localPort, l.public.localRtcpPort, l.pbx.localPort, l.pbx.localRtcpPort]);
    assert.equal(new Set(ports).size, 8, 'no port shared inside a session');
    const pooledBefore = control.stats().ports?.pooled ?? 0;
    control.release(h);
    control.release(h); // idempotent
    assert.equal(control.update(h, 'public', 0, null).ok ? 'ok' : 'MEDIA_UNKNOWN_SESSION', 'MEDIA_UNKNOWN_SESSION');
    assert.equal(control.stats(h).sessions, 0);
    // Both legs went back to the idle pool (2 pairs each), still bound: nobody else can take the ports.
    assert.equal(control.stats().ports?.pooled, pooledBefore + 4);
    assert.equal(await bindError(ports[0] as number), 'EADDRINUSE');
  });

  it('validates update arguments', async () => {
    const h = await allocated(control);
    const code = (r: { ok: boolean; error?: { code: string } }): string => (r.ok ? 'ok' : (r.error?.code ?? '?'));
    assert.equal(code(control.update(h, 'public', 1, null)), 'MEDIA_BAD_ARGUMENT');
    assert.equal(code(control.update(h, 'public', 0, { address: 'example.com', port: 4000 })), 'MEDIA_BAD_REMOTE');
    assert.equal(code(control.update(h, 'public', 0, { address: '::1', port: 4000 })), 'MEDIA_BAD_REMOTE');
    assert.equal(code(control.update(h, 'public', 0, { address: '127.0.0.1', port: 70000 })), 'MEDIA_BAD_REMOTE');
    assert.equal(code(control.update(h, 'public', 0, { address: '0.0.0.0', port: 4000 })), 'ok');
    assert.equal(code(control.update(h, 'pbx', 0, { address: '::ffff:127.0.0.1', port: 4000 })), 'ok');
    control.release(h);
  });
});

describe('plain relay over IPv6 loopback', () => {
  it('relays both ways between ::1 peers and rejects IPv4 remotes', async () => {
    const control = createMediaControl({
      publicAddress: '::1',
      pbxAddress: '::1',
      ...testPortRange(),
      maxSessions: 2,
      clock: systemClock,
      logger: silentLogger,
      quarantineMs: 0,
    });
    const phone = await bindPeer('::1');
    const pbx = await bindPeer('::1');
    try {
      const h = await allocated(control);
      const l = leg(h);
      assert.equal(l.public.localAddress, '::1');
      assert.equal(control.update(h, 'public', 0, { address: '0:0:0:0:0:0:0:1', port: phone.port, rtcpMux: true }).ok, true);
      assert.equal(control.update(h, 'pbx', 0, { address: '::1', port: pbx.port, rtcpMux: true }).ok, true);
      assert.equal(control.update(h, 'pbx', 0, { address: '127.0.0.1', port: pbx.port }).ok, false);
      await sleep(20);
      await phone.send(rtpPacket(1), l.public.localPort, '::1');
      await pbx.send(rtpPacket(2), l.pbx.localPort, '::1');
      await until(() => phone.received.length === 1 && pbx.received.length === 1, 2000, 'IPv6 both ways');
      assert.equal(pbx.received[0]?.data.readUInt16BE(2), 1);
      assert.equal(phone.received[0]?.data.readUInt16BE(2), 2);
    } finally {
      await control.close();
      await phone.close();
      await pbx.close();
    }
  });
});

describe('media control bounds', () => {
  it('refuses with MEDIA_NO_PORTS when the range is exhausted and recovers after release', async () => {
    const { portMin } = testPortRange();
    const control = newControl({ portMin: portMin + 100, portMax: portMin + 107 }); // 4 pairs = 2 legs
    try {
      const a = await allocated(control, 1);
      const b = await allocated(control, 1);
      const r = await control.allocate('call-x', 1);
      assert.equal(r.ok ? 'ok' : r.error.code, 'MEDIA_NO_PORTS');
      const big = await control.allocate('call-y', 9);
      assert.equal(big.ok ? 'ok' : big.error.code, 'MEDIA_BAD_ARGUMENT');
      assert.equal(control.stats().allocationFailures.noPorts, 1);
      const used = new Set([...a.legs, ...b.legs].flatMap((l) => [l.public.localPort, l.pbx.localPort]));
      assert.equal(used.size, 4);
      control.release(a);
      await until(() => control.stats().ports?.free === 2, 2000, 'ports back');
      const c = await allocated(control, 1);
      assert.ok(c.legs[0]);
      assert.equal(control.stats().sessions, 2);
    } finally {
      await control.close();
    }
    assert.equal(control.stats().sessions, 0);
    assert.equal(control.stats().ports?.inUse, 0);
    const after = await control.allocate('late', 1);
    assert.equal(after.ok ? 'ok' : after.error.code, 'MEDIA_CLOSED');
  });

  it('enforces maxSessions', async () => {
    const control = newControl({ maxSessions: 2 });
    try {
      await allocated(control);
      await allocated(control);
      const r = await control.allocate('third', 1);
      assert.equal(r.ok ? 'ok' : r.error.code, 'MEDIA_SESSION_LIMIT');
    } finally {
      await control.close();
    }
  });

  it('skips ports another process holds', async () => {
    const { portMin } = testPortRange();
    const lo = portMin + 120;
    const squatter = await bindPeer('127.0.0.1', lo + 1); // RTCP port of the first pair
    const control = newControl({ portMin: lo, portMax: lo + 11 });
    try {
      const h = await allocated(control);
      const ports = [leg(h).public.localPort, leg(h).pbx.localPort];
      assert.ok(!ports.includes(lo), 'the pair with a taken port is not used');
    } finally {
      await control.close();
      await squatter.close();
    }
  });
});
