/**
 * The plain-RTP PBX for media interop tests.
 *
 *   startRtpEcho()  a UDP media endpoint on loopback that counts what arrives and sends every RTP packet back to
 *                   its source (RTCP and anything else is counted, never echoed). By default the echoed stream gets
 *                   its own SSRC (a real PBX sends its own stream; a WebRTC peer may treat its own SSRC coming back
 *                   as a loop). `keepSsrc` echoes bytes unchanged — needed when the packets are SRTP and the
 *                   sender decrypts its own stream (an SDES "mirror" answer, see below).
 *   startEchoPbx()  SIPp as the PBX's signalling (UAS: INVITE → 180 → 200 with SDP → ACK → BYE → 200) whose SDP
 *                   answer points at an RTP echo: `m=audio <echo port> RTP/AVP 0` (PCMU). With media 'sdes-mirror'
 *                   it answers `RTP/SAVP` with the caller's own a=crypto line: the caller's SRTP packets echoed
 *                   unchanged decrypt with that key, which proves an SDES client without a relay in the middle.
 *
 * Everything binds loopback; SIPp's own statistics and message log are available through `uas`.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { delay } from './proc.ts';
import { type SippTransport, type SippUasHandle, startSippUas } from './sipp.ts';

export type PacketKind = 'rtp' | 'rtcp' | 'stun' | 'dtls' | 'other';

/** RFC 7983 first-byte demultiplexing plus RFC 5761 RTP/RTCP separation (payload type byte 192..223 = RTCP). */
export function classifyPacket(b: Buffer): PacketKind {
  const first = b[0];
  if (first === undefined) return 'other';
  if (first <= 3) return 'stun';
  if (first >= 20 && first <= 63) return 'dtls';
  if (first >= 128 && first <= 191 && b.length >= 12) {
    const second = b[1] ?? 0;
    return second >= 192 && second <= 223 ? 'rtcp' : 'rtp';
  }
  return 'other';
}

export interface RtpHeader {
  payloadType: number;
  marker: boolean;
  sequence: number;
  timestamp: number;
  ssrc: number;
}

/** The fixed RTP header (RFC 3550 §5.1); null when the packet is not RTP version 2 or is too short. Never throws. */
export function parseRtpHeader(b: Buffer): RtpHeader | null {
  if (b.length < 12 || (b[0] ?? 0) >> 6 !== 2) return null;
  const second = b[1] ?? 0;
  return {
    payloadType: second & 0x7f,
    marker: (second & 0x80) !== 0,
    sequence: b.readUInt16BE(2),
    timestamp: b.readUInt32BE(4),
    ssrc: b.readUInt32BE(8),
  };
}

export interface RtpEchoOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Echo RTP back to its source (default true). False: a sink that only counts. */
  echo?: boolean;
  /** Keep the sender's SSRC in echoed packets (default false: XORed with 0x5a5a5a5a). */
  keepSsrc?: boolean;
}

export interface RtpEchoStats {
  rtpReceived: number;
  rtcpReceived: number;
  otherReceived: number;
  rtpEchoed: number;
  bytesReceived: number;
  /** "ip:port" of every source seen (at most 16 kept). */
  sources: string[];
  /** Payload types seen in RTP. */
  payloadTypes: number[];
  /** SSRCs seen in RTP (at most 16 kept). */
  ssrcs: number[];
  /** Largest gap in sequence numbers seen on one SSRC (1 = contiguous). */
  maxSequenceGap: number;
}

export interface RtpEcho {
  readonly host: string;
  readonly port: number;
  readonly socket: Socket;
  stats(): RtpEchoStats;
  /** Resolves true once at least `n` RTP packets arrived; false after `timeoutMs`. */
  waitForRtp(n: number, timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

const MAX_TRACKED = 16;

export async function startRtpEcho(opts: RtpEchoOptions = {}): Promise<RtpEcho> {
  const host = opts.host ?? '127.0.0.1';
  const echo = opts.echo ?? true;
  const keepSsrc = opts.keepSsrc ?? false;
  const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const s = { rtpReceived: 0, rtcpReceived: 0, otherReceived: 0, rtpEchoed: 0, bytesReceived: 0, maxSequenceGap: 0 };
  const sources = new Set<string>();
  const payloadTypes = new Set<number>();
  const lastSeq = new Map<number, number>();
  sock.on('error', () => {});
  sock.on('message', (b: Buffer, rinfo: RemoteInfo) => {
    s.bytesReceived += b.length;
    if (sources.size < MAX_TRACKED)
      sources.add(rinfo.family === 'IPv6' ? `[${rinfo.address}]:${rinfo.port}` : `${rinfo.address}:${rinfo.port}`);
    const kind = classifyPacket(b);
    if (kind === 'rtcp') {
      s.rtcpReceived++;
      return;
    }
    const h = kind === 'rtp' ? parseRtpHeader(b) : null;
    if (h === null) {
      s.otherReceived++;
      return;
    }
    s.rtpReceived++;
    if (payloadTypes.size < 128) payloadTypes.add(h.payloadType);
    const prev = lastSeq.get(h.ssrc);
    if (prev !== undefined) {
      const gap = (h.sequence - prev + 0x10000) % 0x10000;
      if (gap < 0x8000 && gap > s.maxSequenceGap) s.maxSequenceGap = gap;
    }
    if (prev !== undefined || lastSeq.size < MAX_TRACKED) lastSeq.set(h.ssrc, h.sequence);
    if (!echo) return;
    const out = Buffer.from(b);
    if (!keepSsrc) out.writeUInt32BE((h.ssrc ^ 0x5a5a5a5a) >>> 0, 8);
    sock.send(out, rinfo.port, rinfo.address, (err) => {
      if (err === null) s.rtpEchoed++;
    });
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address: host, port: opts.port ?? 0, exclusive: true }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  let closed: Promise<void> | null = null;
  const stats = (): RtpEchoStats => ({
    ...s,
    sources: [...sources],
    payloadTypes: [...payloadTypes],
    ssrcs: [...lastSeq.keys()],
  });
  return {
    host,
    port: sock.address().port,
    socket: sock,
    stats,
    async waitForRtp(n, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (s.rtpReceived < n) {
        if (Date.now() > deadline) return false;
        await delay(20);
      }
      return true;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        try {
          sock.close(() => resolve());
        } catch {
          resolve();
        }
      });
      return closed;
    },
  };
}

export type EchoPbxMedia = 'plain' | 'sdes-mirror';

/** The UAS scenario text: answers with SDP pointing at [rtp_ip]:[rtp_port] (SIPp -key values). */
export function echoPbxScenario(media: EchoPbxMedia): string {
  const sdes = media === 'sdes-mirror';
  const capture = sdes
    ? `
    <action>
      <ereg regexp="a=crypto:([0-9]+) ([A-Za-z0-9_]+) inline:([A-Za-z0-9+/=]+)" search_in="body" check_it="true" assign_to="crypto,ctag,csuite,ckey"/>
    </action>`
    : '';
  const mline = sdes ? 'm=audio [rtp_port] RTP/SAVP 0' : 'm=audio [rtp_port] RTP/AVP 0';
  const crypto = sdes ? '\n      a=crypto:[$ctag] [$csuite] inline:[$ckey]' : '';
  const reply = (status: string, tag: string, extra: string, body: string) => `
  <send${status.startsWith('200') && body !== '' ? ' retrans="500"' : ''}>
    <![CDATA[
      SIP/2.0 ${status}
      [last_Via:]
      [last_From:]
      [last_To:]${tag}
      [last_Call-ID:]
      [last_CSeq:]${extra}
      ${body === '' ? 'Content-Length: 0' : `Content-Type: application/sdp\n      Content-Length: [len]\n\n${body}`}
    ]]>
  </send>`;
  const contact = '\n      Contact: <sip:pbx@[local_ip]:[local_port];transport=[transport]>';
  const sdp = `      v=0
      o=pbx 53655765 2353687637 IN IP4 [rtp_ip]
      s=-
      c=IN IP4 [rtp_ip]
      t=0 0
      ${mline}
      a=rtpmap:0 PCMU/8000${crypto}
      a=ptime:20
      a=sendrecv`;
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- generated by test/integration/harness/rtp-echo.ts: the plain-RTP PBX (${media}) -->
<scenario name="palisade echo pbx ${media}">
  <recv request="OPTIONS" optional="true" next="options"/>
  <recv request="INVITE" crlf="true">${capture}
  </recv>
${reply('180 Ringing', ';tag=[pid]EchoPbx[call_number]', contact, '')}
${reply('200 OK', ';tag=[pid]EchoPbx[call_number]', contact, sdp)}
  <recv request="ACK" optional="true" rtd="true" crlf="true"/>
  <recv request="BYE"/>
${reply('200 OK', '', '', '').replace('<send>', '<send next="done">')}
  <label id="options"/>
${reply('200 OK', ';tag=[pid]EchoPbxO[call_number]', '\n      Allow: INVITE, ACK, BYE, CANCEL, OPTIONS', '').replace('<send>', '<send next="done">')}
  <label id="done"/>${sdes ? '\n  <Reference variables="crypto"/>' : ''}
</scenario>
`;
}

export interface EchoPbxOptions {
  /** SIPp transport toward whoever calls the PBX. Default u1. */
  transport?: SippTransport;
  media?: EchoPbxMedia;
  /** Address for SIP and media. Default 127.0.0.1. */
  host?: string;
  /** Wall-clock bound of the SIPp UAS (ms). Default 60000. */
  wallTimeoutMs?: number;
  /** Directory for the scenario and SIPp's logs; default a fresh temp directory, removed by stop(). */
  workDir?: string;
}

export interface EchoPbx {
  readonly host: string;
  /** SIP port of the SIPp UAS. */
  readonly port: number;
  readonly transport: SippTransport;
  readonly echo: RtpEcho;
  readonly uas: SippUasHandle;
  /** "host:port" of the SIP side. */
  readonly address: string;
  stop(): Promise<void>;
}

export async function startEchoPbx(opts: EchoPbxOptions = {}): Promise<EchoPbx> {
  const host = opts.host ?? '127.0.0.1';
  const media = opts.media ?? 'plain';
  const ownDir = opts.workDir === undefined;
  const workDir = opts.workDir ?? (await mkdtemp(join(tmpdir(), 'palisade-echo-pbx-')));
  const scenario = join(workDir, `uas-echo-${media}.xml`);
  await writeFile(scenario, echoPbxScenario(media));
  const echo = await startRtpEcho({ host, keepSsrc: media === 'sdes-mirror' });
  let uas: SippUasHandle;
  try {
    uas = await startSippUas({
      scenario,
      transport: opts.transport ?? 'u1',
      localIp: host,
      keys: { rtp_ip: host, rtp_port: String(echo.port) },
      wallTimeoutMs: opts.wallTimeoutMs ?? 60_000,
      workDir,
    });
  } catch (e) {
    await echo.close();
    if (ownDir) await rm(workDir, { recursive: true, force: true });
    throw e;
  }
  let stopping: Promise<void> | null = null;
  return {
    host,
    port: uas.port,
    transport: uas.transport,
    echo,
    uas,
    address: `${host}:${uas.port}`,
    stop() {
      stopping ??= (async () => {
        await uas.stop();
        await echo.close();
        if (ownDir) await rm(workDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
