/**
 * Self-test of the browser side of the media interop harness: two libwebrtc peers (@roamhq/wrtc) connected to
 * each other in-process over loopback candidates with audio both ways, the SDP restrictions the harness applies,
 * and the SIP-over-WSS UA (REGISTER and INVITE with digest, ACK, BYE) through Palisade to a scripted PBX.
 * libwebrtc crashes at natural exit once audio ran: exitWhenDone() in after() ends the process cleanly.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { writeUsersFile } from '../../src/auth/credentials.ts';
import { computeAllHa1 } from '../../src/auth/digest.ts';
import { type PalisadeHandle, startPalisade } from './harness/daemon.ts';
import {
  connectPeers,
  createWrtcCall,
  exitWhenDone,
  openSipWsUa,
  restrictCandidates,
  restrictCodecs,
  type WrtcCall,
} from './harness/wrtc-client.ts';
import { mediaRangeYaml } from './helpers/daemon.ts';
import { type ScriptedPbx, scriptedPbx } from './helpers/pbx.ts';
import { header, sdp } from './helpers/sip-text.ts';

const T = { timeout: 30_000 };
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {
      // keep cleaning up
    }
  }
  exitWhenDone();
});

const OFFER = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'm=audio 52181 UDP/TLS/RTP/SAVPF 111 0 8 126',
  'c=IN IP4 192.0.2.2',
  'a=candidate:1 1 udp 2122265343 fd00::2 39902 typ host generation 0',
  'a=candidate:2 1 udp 2122194687 192.0.2.2 52181 typ host generation 0',
  'a=candidate:3 1 udp 2122063615 127.0.0.1 53387 typ host generation 0',
  'a=candidate:4 1 tcp 1518083839 127.0.0.1 34119 typ host tcptype passive generation 0',
  'a=ice-ufrag:rMdT',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:126 telephone-event/8000',
  '',
].join('\r\n');

describe('SDP restrictions applied to what wrtc gives out', () => {
  test('only the UDP 127.0.0.1 candidate stays; c= and the m= port follow it', () => {
    const s = restrictCandidates(OFFER);
    const cands = s.split('\r\n').filter((l) => l.startsWith('a=candidate:'));
    assert.deepEqual(cands, ['a=candidate:3 1 udp 2122063615 127.0.0.1 53387 typ host generation 0']);
    assert.match(s, /^m=audio 53387 UDP\/TLS\/RTP\/SAVPF 111 0 8 126$/m);
    assert.match(s, /^c=IN IP4 127\.0\.0\.1$/m);
    assert.ok(!s.includes('192.0.2.2') && !s.includes('fd00::2'));
  });

  test('codecs outside the list disappear with their attributes', () => {
    const s = restrictCodecs(OFFER, ['PCMU', 'telephone-event']);
    assert.match(s, /^m=audio 52181 UDP\/TLS\/RTP\/SAVPF 0 126$/m);
    assert.ok(!/opus|PCMA|a=fmtp:111|a=rtcp-fb:111/.test(s), s);
    assert.match(s, /^a=rtpmap:0 PCMU\/8000$/m);
  });
});

describe('two libwebrtc peers in-process', T, () => {
  test('DTLS-SRTP over loopback ICE: PCMU both ways, nothing lost, each hears the other tone', T, async () => {
    const a: WrtcCall = createWrtcCall({ toneHz: 440, codecs: ['PCMU'] });
    const b: WrtcCall = createWrtcCall({ toneHz: 1000, codecs: ['PCMU'] });
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const offer = await a.createOffer();
    assert.match(offer, /^m=audio \d+ UDP\/TLS\/RTP\/SAVPF 0$/m);
    assert.match(offer, /^a=fingerprint:sha-256 /m);
    await connectPeers(a, b);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && ((await a.stats()).inbound?.packetsReceived ?? 0) < 100) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const [sa, sb] = [await a.stats(), await b.stats()];
    assert.ok(sa.inbound && sa.inbound.packetsReceived >= 100, JSON.stringify(sa));
    assert.ok(sb.inbound && sb.inbound.packetsReceived >= 90, JSON.stringify(sb));
    assert.equal(sa.inbound.packetsLost, 0);
    assert.equal(sb.inbound.packetsLost, 0);
    assert.equal(sa.inbound.codec, 'audio/PCMU');
    assert.ok(sa.outbound && sa.outbound.packetsSent > 0);
    assert.match(sa.selectedPair?.remote ?? '', /^127\.0\.0\.1:\d+$/, 'media addressed to loopback');
    const ra = a.received();
    const rb = b.received();
    assert.ok(ra.frames > 50 && ra.peak > 1000, JSON.stringify(ra));
    // Zero-crossing estimate over the last second: within 15 % of the far end's tone.
    assert.ok(Math.abs(ra.frequencyHz - 1000) < 150, `a hears ${ra.frequencyHz} Hz`);
    assert.ok(Math.abs(rb.frequencyHz - 440) < 66, `b hears ${rb.frequencyHz} Hz`);
  });
});

describe('SIP over WSS UA through Palisade (digest, scripted PBX)', T, () => {
  test('REGISTER 401 → 200, INVITE 407 → 200 + ACK, BYE → 200', T, async () => {
    const pbx: ScriptedPbx = await scriptedPbx('127.0.0.3');
    cleanups.push(() => pbx.close());
    const dir = mkdtempSync(join(tmpdir(), 'palisade-wrtc-ua-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'data'), { mode: 0o700 });
    writeUsersFile(join(dir, 'data', 'users.yaml'), [
      {
        user: 'alice',
        realm: 'palisade',
        ha1: computeAllHa1('alice', 'palisade', 'wss-Secret-7'),
        groups: [],
        aliases: [],
        disabled: false,
        allowMd5: false,
      },
    ]);
    const d: PalisadeHandle = await startPalisade({
      dir,
      policy: `
listeners:
  - { id: wss, transport: wss, address: 127.0.0.1, port: 0 }
pbx:
  listen: { transport: udp, address: 127.0.0.2, port: 0 }
  targets: [{ name: pbx1, host: 127.0.0.3, port: ${pbx.port}, transport: udp }]
${mediaRangeYaml()}
auth: { mode: palisade, realm: palisade }
logging: { level: warn }
`,
    });
    cleanups.push(() => d.stop());
    await d.waitReady();
    const wss = (await d.listeners()).find((l) => l.id === 'wss');
    assert.ok(wss);
    const ua = await openSipWsUa({ url: `wss://127.0.0.1:${wss.port}/`, user: 'alice', password: 'wss-Secret-7' });
    cleanups.push(() => ua.close());

    const reg = await ua.register(120);
    assert.equal(reg.status, 200, reg.response);
    assert.ok(
      ua.frames.some((f) => f.startsWith('SIP/2.0 401 ')),
      'the first REGISTER was challenged',
    );
    assert.equal(pbx.registers.length, 1, 'only the authenticated REGISTER reached the PBX');

    pbx.peer.inbox.clear();
    const r = await ua.invite('sip:100@127.0.0.1', sdp('127.0.0.1', 30000));
    assert.equal(r.status, 200, r.response);
    assert.ok(
      ua.frames.some((f) => f.startsWith('SIP/2.0 407 ')),
      'the first INVITE was challenged',
    );
    const answer = r.answerSdp ?? '';
    assert.ok(answer.startsWith('v=0'), 'the 200 carries the SDP answer');
    assert.ok(!answer.includes('127.0.0.3'), 'the answer points at Palisade, not the PBX');
    const inv = await pbx.peer.inbox.next((m) => m.startsWith('INVITE '), 3000, 'INVITE at the PBX');
    const insideId = header(inv, 'Call-ID');
    const ack = await pbx.peer.inbox.next((m) => m.startsWith('ACK '), 3000, 'ACK at the PBX');
    assert.equal(header(ack, 'Call-ID'), insideId);
    assert.equal(await ua.bye(), 200);
    const bye = await pbx.peer.inbox.next((m) => m.startsWith('BYE '), 3000, 'BYE at the PBX');
    assert.equal(header(bye, 'Call-ID'), insideId);
  });
});
