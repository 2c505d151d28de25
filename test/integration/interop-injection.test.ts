/**
 * RTP bleed and injection against a live call between real peers (issue 4, "done when"): baresip (SDES over
 * TLS) calls through Palisade to SIPp as a plain-RTP echo PBX. While media flows, an attacker on another loopback
 * address (127.0.0.9) sends plain RTP and forged SRTP into the call's public relay port (and its RTCP neighbour),
 * and plain RTP into its PBX-side relay port. Nothing it sends may reach either side, nothing may come back to
 * it, and the call's own media keeps flowing. (Replays of the phone's own SRTP need a capture point between the
 * phone and Palisade; test/integration/media-srtp-relay.test.ts covers them with a scripted client.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { type BaresipEvent, startBaresip } from './harness/baresip.ts';
import { interopPolicy, listenerPort, type PalisadeHandle, startPalisade } from './harness/daemon.ts';
import { type EchoPbx, startEchoPbx } from './harness/rtp-echo.ts';

const PUBLIC = '127.0.0.1';
const INSIDE = '127.0.0.2';
const PBX = '127.0.0.3';
const ATTACKER = '127.0.0.9';
const ATTACK_SSRC = 0xbad0bad0;
const T = { timeout: 30_000 };
const MEDIA_BASE = 10000 + 2 * Math.floor(Math.random() * 4500);

let pbx: EchoPbx;
let palisade: PalisadeHandle;
let tlsPort = 0;
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  pbx = await startEchoPbx({ transport: 'u1', host: PBX });
  palisade = await startPalisade({ policy: interopPolicy({ transports: ['tls'], pbxPort: pbx.port, mediaBase: MEDIA_BASE }) });
  await palisade.waitReady();
  tlsPort = await listenerPort(palisade, 'tls');
  assert.ok(tlsPort > 0);
});

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await palisade?.stop();
  await pbx?.stop();
});

function rtp(seq: number, payloadBytes: number): Buffer {
  const b = Buffer.alloc(12 + payloadBytes);
  b[0] = 0x80;
  b[1] = 0; // PCMU
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE((seq * 160) >>> 0, 4);
  b.writeUInt32BE(ATTACK_SSRC, 8);
  b.fill(0x7f, 12);
  return b;
}

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

describe('an attacker on another loopback address against a live SRTP call', T, () => {
  test('injected RTP and forged SRTP reach neither side, nothing comes back; the call media is untouched', T, async () => {
    const attacker: Socket = createSocket('udp4');
    let attackerReceived = 0;
    attacker.on('message', () => {
      attackerReceived++;
    });
    attacker.on('error', () => {});
    await new Promise<void>((res) => attacker.bind(0, ATTACKER, () => res()));
    cleanups.push(() => new Promise<void>((res) => attacker.close(() => res())));

    const echoBefore = pbx.echo.stats();
    const phone = await startBaresip({
      sipTransport: 'tls',
      mediaenc: 'srtp-mand',
      proxy: `${PUBLIC}:${tlsPort}`,
      dial: '100',
      quitAfterS: 4,
    });
    cleanups.push(() => phone.stop());
    const established = (await phone.waitFor('rtp-established', 10_000)) as Extract<BaresipEvent, { type: 'rtp-established' }>;
    const publicRelay = hostPort(established.from);
    assert.equal(publicRelay.host, PUBLIC, 'the phone hears Palisade');
    // The PBX-side relay port: where the echo sees the call's RTP come from.
    let insideRelay: { host: string; port: number } | undefined;
    for (let i = 0; i < 50 && insideRelay === undefined; i++) {
      const src = pbx.echo.stats().sources.find((s) => s.startsWith(`${INSIDE}:`));
      if (src !== undefined) insideRelay = hostPort(src);
      else await new Promise((res) => setTimeout(res, 20));
    }
    assert.ok(insideRelay, 'the call media reaches the PBX from Palisade');

    // One second of attack at 100 packets/s per kind (below the per-stream rate cap, so only authentication and
    // address checks can stop it): plain RTP and forged SRTP (valid header, random tag) into the public port and
    // its RTCP neighbour, plain RTP into the PBX-side port.
    let sent = 0;
    for (let i = 0; i < 100; i++) {
      const forged = Buffer.concat([rtp(1000 + i, 160), randomBytes(10)]);
      attacker.send(rtp(i, 160), publicRelay.port, publicRelay.host);
      attacker.send(forged, publicRelay.port, publicRelay.host);
      attacker.send(rtp(2000 + i, 160), publicRelay.port + 1, publicRelay.host);
      attacker.send(rtp(3000 + i, 160), insideRelay.port, insideRelay.host);
      sent += 4;
      await new Promise((res) => setTimeout(res, 10));
    }

    const r = await phone.exited;
    const after = pbx.echo.stats();
    assert.ok(r.established && r.rtp, 'the call ran');
    assert.ok(!after.ssrcs.includes(ATTACK_SSRC), 'no injected packet reached the PBX');
    assert.ok(
      after.sources.every((s) => s.startsWith(`${INSIDE}:`)),
      `the PBX receives media only from Palisade: ${after.sources.join(' ')}`,
    );
    const echoed = after.rtpEchoed - echoBefore.rtpEchoed;
    // Every packet the phone received is one the echo sent back; injected packets would push the count above it.
    assert.ok(r.rtp.rxPackets <= echoed, `the phone got ${r.rtp.rxPackets} packets, the PBX echoed ${echoed}`);
    assert.ok(r.rtp.rxPackets >= 150, `the call media kept flowing: ${r.rtp.rxPackets}`);
    assert.equal(r.rtp.rxErrors, 0);
    assert.equal(r.srtpErrors, 0, 'nothing unauthenticated was forwarded to the phone');
    assert.equal(attackerReceived, 0, `the attacker got ${attackerReceived} packets back after sending ${sent}`);
  });
});
