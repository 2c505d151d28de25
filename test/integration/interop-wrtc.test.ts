/**
 * WebRTC interop (issue 4): a browser-class client — libwebrtc through @roamhq/wrtc, its own offer untouched
 * except for keeping only the loopback candidate — sends INVITE over SIP/WSS through Palisade (a child process)
 * to SIPp acting as a PBX that only speaks plain RTP and echoes it. Palisade answers the browser with DTLS-SRTP,
 * ICE-lite and rtcp-mux, and offers the PBX plain RTP/AVP. Audio flows both ways: the browser hears its own tone
 * back through the PBX echo, and its inbound-rtp shows packets received with none lost.
 *
 *   wrtc ─SIP/WSS─► Palisade 127.0.0.1 │ 127.0.0.2 ─SIP/UDP─► SIPp 127.0.0.3
 *        ◄─ ICE + DTLS-SRTP ─► relay     relay ◄── RTP ──► echo 127.0.0.3
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { interopPolicy, listenerPort, type PalisadeHandle, startPalisade } from './harness/daemon.ts';
import { type EchoPbx, startEchoPbx } from './harness/rtp-echo.ts';
import { selectMessages } from './harness/sipp.ts';
import { createWrtcCall, exitWhenDone, openSipWsUa, type SipWsUa, type WrtcCall } from './harness/wrtc-client.ts';

const PUBLIC = '127.0.0.1';
const INSIDE = '127.0.0.2';
const PBX = '127.0.0.3';
const T = { timeout: 30_000 };
const MEDIA_BASE = 10000 + 2 * Math.floor(Math.random() * 4500);
const TONE_HZ = 440;

let pbx: EchoPbx;
let palisade: PalisadeHandle;
let wssPort = 0;
const cleanups: Array<() => unknown> = [];

before(async () => {
  pbx = await startEchoPbx({ transport: 'u1', host: PBX });
  palisade = await startPalisade({ policy: interopPolicy({ transports: ['wss'], pbxPort: pbx.port, mediaBase: MEDIA_BASE }) });
  await palisade.waitReady();
  wssPort = await listenerPort(palisade, 'wss');
  assert.ok(wssPort > 0);
});

after(async () => {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {
      // keep cleaning up
    }
  }
  await palisade?.stop();
  await pbx?.stop();
  exitWhenDone();
});

describe('wrtc over WSS → Palisade → plain-RTP PBX (echo)', T, () => {
  test('DTLS-SRTP + ICE toward the browser, plain RTP toward the PBX, audio both ways, nothing lost', T, async () => {
    const call: WrtcCall = createWrtcCall({ toneHz: TONE_HZ });
    cleanups.push(() => call.close());
    const offer = await call.createOffer();
    const ua: SipWsUa = await openSipWsUa({ url: `wss://${PUBLIC}:${wssPort}/` });
    cleanups.push(() => ua.close());

    const r = await ua.invite(`sip:100@${PUBLIC}`, offer);
    assert.equal(r.status, 200, `${r.response}\n--- palisade ---\n${palisade.output().slice(-2000)}`);
    const answer = r.answerSdp ?? '';
    assert.match(answer, /^m=audio \d+ UDP\/TLS\/RTP\/SAVPF 0\b/m, `the browser gets DTLS-SRTP with PCMU:\n${answer}`);
    assert.match(answer, /^a=fingerprint:sha-256 /m);
    assert.match(answer, /^a=ice-lite$/m);
    assert.match(answer, /^a=rtcp-mux$/m);
    assert.ok(!answer.includes(PBX) && !answer.includes(INSIDE), `no inside address in the answer:\n${answer}`);

    const invite = selectMessages(await pbx.uas.messages(), 'received', /^INVITE /).at(-1)?.text ?? '';
    assert.match(invite, /^m=audio \d+ RTP\/AVP /m, `the PBX is offered plain RTP:\n${invite}`);
    assert.ok(!/^a=(crypto|fingerprint|ice-ufrag|setup):/m.test(invite), `no SRTP/DTLS/ICE toward the PBX:\n${invite}`);

    await call.applyAnswer(answer);
    await call.waitConnected(10_000);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && ((await call.stats()).inbound?.packetsReceived ?? 0) < 150) {
      await new Promise((res) => setTimeout(res, 100));
    }
    const s = await call.stats();
    assert.ok(s.inbound && s.inbound.packetsReceived >= 150, JSON.stringify(s));
    assert.equal(s.inbound.packetsLost, 0, 'no packet lost on loopback');
    assert.equal(s.inbound.codec, 'audio/PCMU');
    assert.ok(s.outbound && s.outbound.packetsSent >= s.inbound.packetsReceived, JSON.stringify(s));
    assert.match(s.selectedPair?.remote ?? '', /^127\.0\.0\.1:\d+$/, 'media goes to Palisade on loopback');

    const echo = pbx.echo.stats();
    assert.ok(echo.rtpReceived >= 150, `the PBX got ${echo.rtpReceived} RTP packets`);
    assert.deepEqual(echo.payloadTypes, [0], 'plain PCMU at the PBX');
    assert.ok(
      echo.sources.every((x) => x.startsWith(`${INSIDE}:`)),
      `RTP reaches the PBX only from Palisade: ${echo.sources.join(' ')}`,
    );
    // The browser hears its own tone back through the PBX echo (PCMU both ways, SRTP on the browser leg).
    const heard = call.received();
    assert.ok(heard.peak > 1000, JSON.stringify(heard));
    assert.ok(Math.abs(heard.frequencyHz - TONE_HZ) < TONE_HZ * 0.15, `heard ${heard.frequencyHz} Hz`);

    assert.equal(await ua.bye(), 200);
    let byes = 0;
    for (let i = 0; i < 20 && byes === 0; i++) {
      await new Promise((res) => setTimeout(res, 100));
      byes = selectMessages(await pbx.uas.messages(), 'received', /^BYE /).length;
    }
    assert.equal(byes, 1, 'the BYE reached the PBX');
  });
});
