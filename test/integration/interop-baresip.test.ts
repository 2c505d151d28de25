/**
 * SRTP softphone interop (issue 4, "WebRTC interop" / SRTP phones): baresip, a real softphone, calls through
 * Palisade (a child process, the way an operator runs it) to SIPp acting as a PBX that only speaks plain RTP and
 * echoes it. Toward the phone media is SRTP (SDES over TLS, or DTLS-SRTP); toward the PBX it is plain RTP/AVP.
 * Plain RTP from a phone is refused with 488 unless its source is in media.plainAllowedFrom, and SDES keys over
 * unencrypted signalling are refused too.
 *
 *   baresip 127.0.0.1 (or .5) ─SIP udp/tls─► Palisade 127.0.0.1 │ 127.0.0.2 ─SIP udp─► SIPp 127.0.0.3
 *           ◄──── SRTP ────► relay 127.0.0.1          relay 127.0.0.2 ◄── RTP ──► echo 127.0.0.3
 */
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { type BaresipOptions, type BaresipResult, runBaresip } from './harness/baresip.ts';
import { interopPolicy, listenerPort, type PalisadeHandle, startPalisade } from './harness/daemon.ts';
import { type EchoPbx, type RtpEchoStats, startEchoPbx } from './harness/rtp-echo.ts';
import { type SippMessage, selectMessages } from './harness/sipp.ts';

const PUBLIC = '127.0.0.1';
const INSIDE = '127.0.0.2';
const PBX = '127.0.0.3';
/**
 * media.plainAllowedFrom holds 127.0.0.1 (the phone's default address); a phone signalling from 127.0.0.5 must
 * use SRTP. (Not the other way round: baresip 1.0 binds its RTP socket to the wildcard address, so from 127.0.0.5
 * its RTP leaves from 127.0.0.1 while its SDP says 127.0.0.5, and the relay rightly ignores such plain RTP.)
 */
const PLAIN_ALLOWED = '127.0.0.1';
const SRTP_ONLY_PHONE = '127.0.0.5';
const T = { timeout: 30_000 };
/** baresip hangs up after this long; 20 ms PCMU = 50 packets/s each way. */
const CALL_S = 3;
const MIN_PACKETS = 40 * CALL_S;

/**
 * baresip's first RTCP report leaves about 5 s into the call (libre's RTCP interval): the port-pair DTLS call lasts
 * longer so that SRTCP flows both ways before hang-up.
 */
const RTCP_CALL_S = 8;

/** A random 400-port relay block below the ephemeral range (as helpers/daemon.ts mediaRangeYaml does). */
const MEDIA_BASE = 10000 + 2 * Math.floor(Math.random() * 4500);

let pbx: EchoPbx;
let pbxRtcp: RtcpResponder;
let palisade: PalisadeHandle;
let udpPort = 0;
let tlsPort = 0;

/**
 * The PBX's RTCP port (its SDP has no a=rtcp-mux, so RTP port + 1): counts the RTCP compounds Palisade relays and
 * answers each with a sender report about the echoed stream (the echo's SSRC is the caller's XOR 0x5a5a5a5a), sent
 * back to where it came from, i.e. Palisade's PBX-side RTCP socket, as a PBX with symmetric RTCP would.
 */
interface RtcpResponder {
  received: number;
  sent: number;
  close(): Promise<void>;
}

function isRtcp(b: Buffer): boolean {
  return b.length >= 8 && (b[0] as number) >> 6 === 2 && (b[1] as number) >= 200 && (b[1] as number) <= 204;
}

async function startRtcpResponder(host: string, port: number): Promise<RtcpResponder> {
  const sock: Socket = createSocket('udp4');
  const r = { received: 0, sent: 0 };
  sock.on('error', () => {});
  sock.on('message', (b: Buffer, rinfo: RemoteInfo) => {
    if (!isRtcp(b)) return;
    r.received++;
    // RFC 3550 §6.4.1 SR without report blocks: V=2 RC=0, PT=200, length 6 (32-bit words - 1).
    const sr = Buffer.alloc(28);
    sr[0] = 0x80;
    sr[1] = 200;
    sr.writeUInt16BE(6, 2);
    sr.writeUInt32BE((b.readUInt32BE(4) ^ 0x5a5a5a5a) >>> 0, 4);
    sr.writeUInt32BE(Math.floor(Date.now() / 1000) + 2208988800, 8);
    sr.writeUInt32BE(r.received * 8000, 16);
    sr.writeUInt32BE(r.received * 50, 20);
    sr.writeUInt32BE(r.received * 8000, 24);
    sock.send(sr, rinfo.port, rinfo.address, (e) => {
      if (e === null) r.sent++;
    });
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address: host, port, exclusive: true }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  return {
    get received() {
      return r.received;
    },
    get sent() {
      return r.sent;
    },
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}

before(async () => {
  pbx = await startEchoPbx({ transport: 'u1', host: PBX });
  pbxRtcp = await startRtcpResponder(PBX, pbx.echo.port + 1);
  palisade = await startPalisade({
    policy: interopPolicy({
      transports: ['udp', 'tls'],
      pbxPort: pbx.port,
      mediaBase: MEDIA_BASE,
      plainAllowedFrom: [`${PLAIN_ALLOWED}/32`],
    }),
  });
  await palisade.waitReady();
  udpPort = await listenerPort(palisade, 'udp');
  tlsPort = await listenerPort(palisade, 'tls');
  assert.ok(udpPort > 0 && tlsPort > 0, JSON.stringify(await palisade.listeners()));
});

after(async () => {
  await palisade?.stop();
  await pbxRtcp?.close();
  await pbx?.stop();
});

function explain(r: BaresipResult): string {
  const out = r.output.replace(/\[\d:\d\d:\d\d\] audio=[^\n]*/g, '').slice(-2500);
  return `events=${JSON.stringify(r.events)}\nrtp=${JSON.stringify(r.rtp)}\n${out}\n--- palisade ---\n${palisade.output().slice(-2000)}`;
}

async function pbxInvites(): Promise<SippMessage[]> {
  return selectMessages(await pbx.uas.messages(), 'received', /^INVITE /);
}

interface CallOutcome {
  r: BaresipResult;
  /** Echo counters accumulated during this call only. */
  echo: RtpEchoStats;
  /** INVITEs that reached the PBX during this call. */
  invites: SippMessage[];
}

/** One call from baresip through Palisade; the echo counters and PBX INVITEs are the ones of this call. */
async function call(o: Omit<BaresipOptions, 'proxy' | 'dial' | 'quitAfterS'>, callS = CALL_S): Promise<CallOutcome> {
  const before = pbx.echo.stats();
  const invitesBefore = (await pbxInvites()).length;
  const port = o.sipTransport === 'tls' ? tlsPort : udpPort;
  const r = await runBaresip({ ...o, proxy: `${PUBLIC}:${port}`, dial: '100', quitAfterS: callS }, 20_000);
  const after = pbx.echo.stats();
  const echo: RtpEchoStats = {
    ...after,
    rtpReceived: after.rtpReceived - before.rtpReceived,
    rtcpReceived: after.rtcpReceived - before.rtcpReceived,
    otherReceived: after.otherReceived - before.otherReceived,
    rtpEchoed: after.rtpEchoed - before.rtpEchoed,
    bytesReceived: after.bytesReceived - before.bytesReceived,
  };
  // SIPp logs what it received; give its message log a moment to be written.
  await new Promise((res) => setTimeout(res, 200));
  return { r, echo, invites: (await pbxInvites()).slice(invitesBefore) };
}

/** The PBX got exactly one INVITE whose SDP is plain RTP/AVP toward Palisade's inside address. */
function assertPlainTowardPbx(invites: readonly SippMessage[]): void {
  assert.equal(invites.length, 1, 'one INVITE reached the PBX');
  const text = invites[0]?.text ?? '';
  assert.match(text, /^m=audio \d+ RTP\/AVP /m, 'the PBX is offered plain RTP');
  assert.ok(!/^a=(crypto|fingerprint|ice-ufrag|setup):/m.test(text), `no SRTP/DTLS/ICE attributes toward the PBX:\n${text}`);
  assert.match(text, new RegExp(`^c=IN IP4 ${INSIDE.replace(/\./g, '\\.')}$`, 'm'), 'media toward the PBX comes from Palisade');
}

/** Media flowed both ways: plain RTP at the PBX from Palisade, SRTP (or RTP) at the phone from Palisade. */
function assertMediaBothWays(o: CallOutcome, packetBytes: number): void {
  const { r, echo } = o;
  assert.ok(r.established, explain(r));
  assert.ok(echo.rtpReceived >= MIN_PACKETS, `the PBX got ${echo.rtpReceived} RTP packets\n${explain(r)}`);
  assert.equal(echo.bytesReceived, echo.rtpReceived * packetBytes, 'the PBX receives plain 20 ms PCMU (12 + 160 bytes)');
  assert.ok(
    echo.sources.some((s) => s.startsWith(`${INSIDE}:`)),
    `RTP reaches the PBX from Palisade: ${echo.sources.join(' ')}`,
  );
  assert.ok(r.rtp, explain(r));
  assert.ok(r.rtp.rxPackets >= MIN_PACKETS - 10, `the phone got ${r.rtp.rxPackets} packets back\n${explain(r)}`);
  assert.equal(r.rtp.rxErrors, 0, 'every packet toward the phone authenticated / decoded');
  const from = r.events.find((e) => e.type === 'rtp-established');
  assert.ok(from && from.type === 'rtp-established' && from.from.startsWith(`${PUBLIC}:`), 'the phone hears Palisade, not the PBX');
}

describe('baresip → Palisade → plain-RTP PBX (echo)', T, () => {
  test('SDES (srtp-mand) over TLS: SRTP to the phone, plain RTP to the PBX, media both ways', T, async () => {
    const o = await call({ sipTransport: 'tls', mediaenc: 'srtp-mand' });
    assert.equal(o.r.srtpSuite, 'AES_CM_128_HMAC_SHA1_80', explain(o.r));
    assert.equal(o.r.srtpErrors, 0, explain(o.r));
    assertPlainTowardPbx(o.invites);
    assertMediaBothWays(o, 172);
  });

  test('DTLS-SRTP with rtcp-mux: fingerprint verified by the phone, plain RTP to the PBX, media both ways', T, async () => {
    const o = await call({ sipTransport: 'udp', mediaenc: 'dtls_srtp', rtcpMux: true });
    assert.equal(o.r.dtlsProfile, 'AES_CM_128_HMAC_SHA1_80', explain(o.r));
    assert.ok(
      o.r.events.some((e) => e.type === 'fingerprint-verified'),
      'baresip checked Palisade certificate against a=fingerprint',
    );
    assertPlainTowardPbx(o.invites);
    assertMediaBothWays(o, 172);
  });

  test('DTLS-SRTP on an RTP/RTCP port pair (baresip default, no rtcp-mux): a handshake per port, RTP and SRTCP both ways', T, async () => {
    const rtcpBefore = { received: pbxRtcp.received, sent: pbxRtcp.sent };
    const o = await call({ sipTransport: 'udp', mediaenc: 'dtls_srtp' }, RTCP_CALL_S);
    assert.equal(o.r.dtlsProfile, 'AES_CM_128_HMAC_SHA1_80', explain(o.r));
    // RFC 5764 §4.1: the RTCP port has a DTLS handshake of its own, which Palisade completes.
    assert.ok(
      o.r.events.some((e) => e.type === 'dtls-complete' && e.component === 'RTCP'),
      `baresip completed the RTCP component's handshake\n${explain(o.r)}`,
    );
    assertPlainTowardPbx(o.invites);
    assertMediaBothWays(o, 172);
    // Phone → PBX: baresip's SRTCP reached the PBX's RTCP port as plain RTCP (on the RTP port: none).
    const rtcpAtPbx = pbxRtcp.received - rtcpBefore.received;
    assert.ok(rtcpAtPbx >= 1, `the PBX's RTCP port got ${rtcpAtPbx} RTCP packets\n${explain(o.r)}`);
    assert.equal(o.echo.rtcpReceived, 0, 'no RTCP on the PBX RTP port (the PBX does not mux)');
    // PBX → phone: its sender reports reached baresip as SRTCP it authenticated (rtp_stats prints "pkt.report"
    // only after a sender report; any SRTCP that failed to unprotect would be an srtp error).
    assert.ok(pbxRtcp.sent - rtcpBefore.sent >= 1, 'the PBX answered with RTCP');
    assert.match(o.r.output, /^pkt\.report:\s+\d+\s+\d+/m, `baresip received the PBX's sender report\n${explain(o.r)}`);
    assert.equal(o.r.srtpErrors, 0, explain(o.r));
  });

  test('plain RTP from a phone not in media.plainAllowedFrom gets 488 and never reaches the PBX', T, async () => {
    const o = await call({ sipTransport: 'udp', mediaenc: 'none', localAddress: SRTP_ONLY_PHONE });
    assert.equal(o.r.closedStatus, 488, explain(o.r));
    assert.equal(o.r.established, false);
    assert.equal(o.invites.length, 0, 'the PBX saw no INVITE');
    assert.equal(o.echo.rtpReceived, 0, 'no media reached the PBX');
  });

  test('SDES keys over unencrypted signalling (UDP) get 488', T, async () => {
    const o = await call({ sipTransport: 'udp', mediaenc: 'srtp-mand' });
    assert.equal(o.r.closedStatus, 488, explain(o.r));
    assert.equal(o.invites.length, 0, 'the PBX saw no INVITE');
  });

  test('plain RTP from an allowed source (media.plainAllowedFrom) is relayed both ways', T, async () => {
    const o = await call({ sipTransport: 'udp', mediaenc: 'none' });
    assertPlainTowardPbx(o.invites);
    assertMediaBothWays(o, 172);
  });
});
