/**
 * Self-test of the softphone side of the media interop harness, without Palisade in the path: baresip (a real
 * SRTP softphone) against SIPp as the plain-RTP PBX with an RTP echo, over UDP and over TLS (stunnel in front of
 * SIPp), SDES SRTP against a PBX that mirrors the caller's key, DTLS-SRTP between two baresips, and a 488 seen
 * as such. If this file fails, the interop tests through Palisade cannot be trusted either.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  type BaresipHandle,
  type BaresipResult,
  baresipAccountLine,
  parseBaresipLine,
  parseBaresipRtpStats,
  runBaresip,
  startBaresip,
} from './harness/baresip.ts';
import { getFreePort } from './harness/proc.ts';
import { classifyPacket, type EchoPbx, parseRtpHeader, startEchoPbx } from './harness/rtp-echo.ts';
import { selectMessages, startSippUas } from './harness/sipp.ts';
import { type StunnelHandle, startStunnel } from './harness/stunnel.ts';
import { parseWav, tone, wavBytes } from './harness/wav.ts';

const T = { timeout: 30_000 };
/** baresip hangs up after this long: 50 packets/s of 20 ms PCMU each way. */
const CALL_S = 3;

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

function explain(r: BaresipResult): string {
  return `events=${JSON.stringify(r.events)}\nrtp=${JSON.stringify(r.rtp)}\n${r.output.replace(/\[\d:\d\d:\d\d\] audio=[^\n]*/g, '').slice(-2500)}`;
}

describe('harness parsers', () => {
  test('the tone WAV is 8 kHz, 16-bit, mono PCM with the requested length', () => {
    const samples = tone({ seconds: 0.5, frequency: 1000 });
    const info = parseWav(wavBytes(samples));
    assert.deepEqual(info, { format: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16, samples: 4000 });
    // 1 kHz at 8 kHz: the wave repeats every 8 samples and is not silence.
    assert.equal(samples[2], samples[10]);
    assert.ok(Math.max(...samples) > 16000);
    assert.equal(parseWav(Buffer.from('RIFF....WAVEjunk')), null);
  });

  test('RTP classification (RFC 7983 / RFC 5761) and header parsing', () => {
    const rtp = Buffer.alloc(172);
    rtp[0] = 0x80;
    rtp[1] = 0x80; // marker + PT 0
    rtp.writeUInt16BE(65535, 2);
    rtp.writeUInt32BE(0xdeadbeef, 8);
    assert.equal(classifyPacket(rtp), 'rtp');
    assert.deepEqual(parseRtpHeader(rtp), { payloadType: 0, marker: true, sequence: 65535, timestamp: 0, ssrc: 0xdeadbeef });
    const rtcp = Buffer.from(rtp);
    rtcp[1] = 200;
    assert.equal(classifyPacket(rtcp), 'rtcp');
    assert.equal(classifyPacket(Buffer.from([0x00, 0x01, 0, 0])), 'stun');
    assert.equal(classifyPacket(Buffer.from([22, 0xfe, 0xfd])), 'dtls');
    assert.equal(parseRtpHeader(Buffer.from([0x80, 0])), null);
  });

  test('baresip output lines become events', () => {
    assert.deepEqual(parseBaresipLine('\x1b[32malice@127.0.0.1: Call established: sip:100@127.0.0.1:5\x1b[;m'), {
      type: 'established',
      peer: 'sip:100@127.0.0.1:5',
    });
    assert.deepEqual(parseBaresipLine('sip:bob@127.0.0.1:34437;transport=udp: session closed: 488 Not Acceptable Here'), {
      type: 'closed',
      reason: '488 Not Acceptable Here',
    });
    assert.deepEqual(parseBaresipLine('srtp: audio: SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)'), {
      type: 'srtp',
      suite: 'AES_CM_128_HMAC_SHA1_80',
    });
    assert.deepEqual(parseBaresipLine('dtls_srtp: ---> DTLS-SRTP complete (audio/RTP) Profile=AES_CM_128_HMAC_SHA1_80'), {
      type: 'dtls-complete',
      component: 'RTP',
      profile: 'AES_CM_128_HMAC_SHA1_80',
    });
    assert.deepEqual(parseBaresipLine('dtls_srtp: verified sha-256 fingerprint OK'), { type: 'fingerprint-verified' });
    assert.equal(parseBaresipLine('mediaenc: srtp-mand'), null);
    assert.deepEqual(parseBaresipLine('alice@127.0.0.1: {0/UDP/v4} 200 OK () [1 binding]'), { type: 'registered', status: 200 });
    assert.deepEqual(parseBaresipLine('alice@127.0.0.1: {0/TLS/v4} 403 Forbidden () [0 bindings]'), {
      type: 'register-failed',
      reason: '403 Forbidden () [0 bindings]',
    });
    assert.deepEqual(parseBaresipRtpStats('audio  Transmit: Receive:\npackets:            201          200\nerrors:    0   3\n'), {
      txPackets: 201,
      rxPackets: 200,
      txErrors: 0,
      rxErrors: 3,
    });
    assert.equal(
      baresipAccountLine({ sipTransport: 'tls', mediaenc: 'srtp-mand', proxy: '127.0.0.1:5061', quitAfterS: 1, password: 'pw' }),
      '<sip:alice@127.0.0.1;transport=tls>;outbound="sip:127.0.0.1:5061;transport=tls";regint=0;audio_codecs=pcmu,pcma;answermode=manual;mediaenc=srtp-mand;auth_user=alice;auth_pass=pw',
    );
  });
});

describe('baresip against SIPp as the plain-RTP echo PBX (no Palisade)', T, () => {
  test('UDP, plain RTP: the call is established and audio flows both ways', T, async () => {
    const pbx: EchoPbx = await startEchoPbx({ transport: 'u1' });
    cleanups.push(() => pbx.stop());
    const r = await runBaresip({ sipTransport: 'udp', mediaenc: 'none', proxy: pbx.address, dial: '100', quitAfterS: CALL_S });
    assert.ok(r.established, explain(r));
    assert.ok(r.rtp, explain(r));
    const echo = pbx.echo.stats();
    // ~50 packets/s for CALL_S seconds; loopback loses nothing but the start can be late by a few frames.
    assert.ok(echo.rtpReceived >= 40 * CALL_S, `echo received ${echo.rtpReceived}`);
    assert.deepEqual(echo.payloadTypes, [0], 'PCMU');
    assert.equal(echo.maxSequenceGap, 1, 'no packet lost on loopback');
    // Loopback loses nothing; the margin covers packets in flight when baresip hangs up on a loaded machine.
    assert.ok(echo.rtpReceived >= r.rtp.txPackets - 2, `sent ${r.rtp.txPackets}, the PBX got ${echo.rtpReceived}`);
    assert.ok(r.rtp.rxPackets >= echo.rtpEchoed - 10 && r.rtp.rxPackets >= 30 * CALL_S, explain(r));
    assert.equal(r.rtp.rxErrors, 0);
    assert.ok(r.events.some((e) => e.type === 'rtp-established'));
    assert.ok(
      r.events.some((e) => e.type === 'terminated'),
      'baresip hung up at -t',
    );
    // SIPp logs each message as it handles it: the BYE shows up within moments of baresip's exit.
    let msgs = await pbx.uas.messages();
    for (let i = 0; i < 20 && selectMessages(msgs, 'received', /^BYE /).length === 0; i++) {
      await new Promise((res) => setTimeout(res, 100));
      msgs = await pbx.uas.messages();
    }
    assert.equal(selectMessages(msgs, 'received', /^INVITE /).length, 1);
    assert.equal(selectMessages(msgs, 'received', /^BYE /).length, 1);
  });

  test('REGISTER: baresip reports the 200 from the registrar', T, async () => {
    const workDir = await mkdtemp(join(tmpdir(), 'palisade-baresip-registrar-'));
    cleanups.push(() => rm(workDir, { recursive: true, force: true }));
    const registrar = await startSippUas({ scenario: 'uas-register.xml', transport: 'u1', workDir });
    cleanups.push(() => registrar.stop());
    const phone = await startBaresip({
      sipTransport: 'udp',
      mediaenc: 'none',
      proxy: `127.0.0.1:${registrar.port}`,
      registerIntervalS: 60,
      quitAfterS: 10,
    });
    cleanups.push(() => phone.stop());
    const reg = await phone.waitFor('registered', 5000);
    assert.equal(reg.status, 200);
    await phone.stop();
    const got = selectMessages(await registrar.messages(), 'received', /^REGISTER /)[0];
    assert.ok(got, 'the registrar got a REGISTER');
    assert.match(got.text, /^Contact: <sip:alice[^>]*@127\.0\.0\.1:\d+>/m, 'baresip advertises loopback');
  });

  test('TLS (self-signed server certificate), SDES srtp-mand: SRTP both ways', T, async () => {
    const pbx = await startEchoPbx({ transport: 't1', media: 'sdes-mirror' });
    cleanups.push(() => pbx.stop());
    const tlsDir = await mkdtemp(join(tmpdir(), 'palisade-baresip-stunnel-'));
    cleanups.push(() => rm(tlsDir, { recursive: true, force: true }));
    const tls: StunnelHandle = await startStunnel({ mode: 'server', connect: pbx.address, workDir: tlsDir });
    cleanups.push(() => tls.stop());
    const r = await runBaresip({ sipTransport: 'tls', mediaenc: 'srtp-mand', proxy: tls.acceptAddress, dial: '100', quitAfterS: CALL_S });
    assert.ok(r.established, explain(r));
    assert.equal(r.srtpSuite, 'AES_CM_128_HMAC_SHA1_80', explain(r));
    const echo = pbx.echo.stats();
    assert.ok(echo.rtpReceived >= 40 * CALL_S, `echo received ${echo.rtpReceived}`);
    // SRTP: 12 header + 160 PCMU + 10 authentication tag bytes per packet.
    assert.equal(echo.bytesReceived, echo.rtpReceived * 182, 'packets carry an 80-bit auth tag');
    assert.ok(r.rtp && r.rtp.rxPackets > 0, explain(r));
    assert.equal(r.rtp.rxErrors, 0, 'every echoed packet authenticated');
    assert.equal(r.srtpErrors, 0, explain(r));
    const invite = selectMessages(await pbx.uas.messages(), 'received', /^INVITE /)[0];
    assert.ok(invite, 'the PBX got the INVITE over TLS');
    assert.match(invite.text, /^m=audio \d+ RTP\/SAVP /m);
    assert.match(invite.text, /^a=crypto:\d+ AES_CM_128_HMAC_SHA1_80 inline:/m);
  });

  test('DTLS-SRTP between two baresips: fingerprints verified, SRTP both ways', T, async () => {
    const port = await getFreePort('both');
    const callee: BaresipHandle = await startBaresip({
      sipTransport: 'udp',
      mediaenc: 'dtls_srtp',
      proxy: `127.0.0.1:${port}`,
      listenPort: port,
      user: 'bob',
      autoAnswer: true,
      quitAfterS: 15,
    });
    cleanups.push(() => callee.stop());
    await callee.waitFor('ready', 5000);
    const r = await runBaresip({ sipTransport: 'udp', mediaenc: 'dtls_srtp', proxy: `127.0.0.1:${port}`, dial: 'bob', quitAfterS: CALL_S });
    const c = await callee.stop();
    assert.ok(r.established, explain(r));
    assert.equal(r.dtlsProfile, 'AES_CM_128_HMAC_SHA1_80', explain(r));
    assert.ok(r.events.some((e) => e.type === 'fingerprint-verified'));
    assert.equal(c.dtlsProfile, 'AES_CM_128_HMAC_SHA1_80', explain(c));
    assert.ok(r.rtp && r.rtp.rxPackets >= 40 * (CALL_S - 1), explain(r));
    assert.ok(c.rtp && c.rtp.rxPackets >= 40 * (CALL_S - 1), explain(c));
    assert.equal(r.rtp.rxErrors + c.rtp.rxErrors, 0);
  });

  test('a plain offer to a callee that requires SRTP ends with 488, seen as such', T, async () => {
    const port = await getFreePort('both');
    const callee = await startBaresip({
      sipTransport: 'udp',
      mediaenc: 'srtp-mand',
      proxy: `127.0.0.1:${port}`,
      listenPort: port,
      user: 'bob',
      autoAnswer: true,
      quitAfterS: 15,
    });
    cleanups.push(() => callee.stop());
    await callee.waitFor('ready', 5000);
    const caller = await startBaresip({ sipTransport: 'udp', mediaenc: 'none', proxy: `127.0.0.1:${port}`, dial: 'bob', quitAfterS: 10 });
    cleanups.push(() => caller.stop());
    const closed = await caller.waitFor('closed', 8000);
    assert.equal(closed.reason, '488 Not Acceptable Here');
    const r = await caller.stop();
    assert.equal(r.closedStatus, 488);
    assert.equal(r.established, false);
    assert.equal(r.rtp, null, 'no media');
    await callee.stop();
  });
});
