/**
 * A browser-class WebRTC endpoint for interop tests: libwebrtc through `@roamhq/wrtc` 0.10.0 (test-only), plus a
 * minimal SIP-over-WebSocket UA (RFC 7118) that carries its offer through Palisade.
 *
 *   const call = createWrtcCall({ toneHz: 440 });
 *   const offer = await call.createOffer();            // ICE gathering complete, loopback candidates only
 *   const ua = await openSipWsUa({ url: `wss://127.0.0.1:${port}/` });
 *   const r = await ua.invite('sip:100@127.0.0.1', offer);
 *   await call.applyAnswer(r.answerSdp);
 *   await call.waitConnected(5000);  ... (await call.stats()).inbound?.packetsReceived
 *   await ua.bye(); call.close(); await ua.close();
 *
 * Loopback: this libwebrtc build gathers host candidates on every interface, loopback included. The SDP handed
 * to the peer keeps only the UDP 127.0.0.1 candidate (c= and the m= port follow it), so every connectivity check
 * and every media packet is addressed to 127.0.0.1.
 *
 * Loopback caveat: libwebrtc still binds its other host candidates (e.g. eth0) and may pick such a socket as the
 * source of its checks toward 127.0.0.1 (the destination is always loopback; nothing leaves the host). There is no
 * interface filter in this build's RTCConfiguration.
 *
 * IMPORTANT: libwebrtc crashes at natural process exit once audio was used. A test file using this module calls
 * `exitWhenDone()` in its top-level after() hook: the process then ends with the test runner's exit code once the
 * event loop drains. Keep wrtc tests in their own file.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { type WsPeer, wsPeer } from '../helpers/peers.ts';
import { header, headers, isRequest, isResponse, request, responseTo, uriOf } from '../helpers/sip-text.ts';
import { buildAuthorization, type DigestAlg, parseChallenges, parseResponse } from './digest-client.ts';
import { delay } from './proc.ts';

// ---------------------------------------------------------------------------------------------------------------
// The parts of the wrtc API used here (its bundled typings need the DOM lib, which this project does not load).

export interface SessionDescription {
  type: 'offer' | 'answer' | 'pranswer' | 'rollback';
  sdp: string;
}

interface WrtcTrack {
  readonly kind: string;
  stop(): void;
}

interface WrtcTrackEvent {
  readonly track: WrtcTrack;
}

interface WrtcStatsReport {
  forEach(cb: (value: Record<string, unknown>) => void): void;
}

interface WrtcPeerConnection {
  createOffer(): Promise<SessionDescription>;
  createAnswer(): Promise<SessionDescription>;
  setLocalDescription(d: SessionDescription): Promise<void>;
  setRemoteDescription(d: SessionDescription): Promise<void>;
  readonly localDescription: SessionDescription | null;
  readonly iceGatheringState: string;
  readonly iceConnectionState: string;
  readonly connectionState: string;
  addTrack(track: WrtcTrack): unknown;
  getStats(): Promise<WrtcStatsReport>;
  close(): void;
  onicegatheringstatechange: (() => void) | null;
  oniceconnectionstatechange: (() => void) | null;
  onconnectionstatechange: (() => void) | null;
  ontrack: ((e: WrtcTrackEvent) => void) | null;
}

interface AudioData {
  samples: Int16Array;
  sampleRate: number;
  bitsPerSample?: number;
  channelCount?: number;
  numberOfFrames?: number;
}

interface WrtcAudioSource {
  createTrack(): WrtcTrack;
  onData(data: AudioData): void;
}

interface WrtcAudioSink {
  stop(): void;
  ondata: ((data: AudioData) => void) | null;
}

interface WrtcModule {
  RTCPeerConnection: new (config?: { iceServers?: unknown[] }) => WrtcPeerConnection;
  nonstandard: {
    RTCAudioSource: new () => WrtcAudioSource;
    RTCAudioSink: new (track: WrtcTrack) => WrtcAudioSink;
  };
}

let wrtcModule: WrtcModule | null = null;
/** Loads the native module on first use (so importing this file costs nothing when wrtc is not needed). */
export function wrtc(): WrtcModule {
  wrtcModule ??= createRequire(import.meta.url)('@roamhq/wrtc') as WrtcModule;
  return wrtcModule;
}

let exitHookInstalled = false;
/**
 * Ends the process with process.exitCode once the event loop drains (the test runner has reported by then),
 * instead of letting libwebrtc's static destructors crash it. Call once at the top level of a wrtc test file.
 */
export function exitWhenDone(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('beforeExit', () => {
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// SDP text helpers.

function sdpLines(sdp: string): string[] {
  return sdp.split(/\r?\n/).filter((l) => l !== '');
}

function joinSdp(lines: readonly string[]): string {
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * Keeps only UDP host candidates on `address` (default 127.0.0.1) and points c= and the m= port at the first of
 * them (per media section). Sections without such a candidate are left alone.
 */
export function restrictCandidates(sdp: string, address = '127.0.0.1'): string {
  const out: string[] = [];
  const sections: string[][] = [[]];
  for (const l of sdpLines(sdp)) {
    if (l.startsWith('m=')) sections.push([]);
    sections[sections.length - 1]?.push(l);
  }
  const [session, ...media] = sections;
  out.push(...(session ?? []));
  for (const sec of media) {
    const keep = (l: string): boolean => {
      if (!l.startsWith('a=candidate:')) return true;
      const f = l.slice('a=candidate:'.length).split(' ');
      return f[2]?.toLowerCase() === 'udp' && f[4] === address;
    };
    const kept = sec.filter(keep);
    const first = kept.find((l) => l.startsWith('a=candidate:'));
    const port = first?.split(' ')[5];
    if (first === undefined || port === undefined) {
      out.push(...kept);
      continue;
    }
    const family = address.includes(':') ? 'IP6' : 'IP4';
    for (const l of kept) {
      if (l.startsWith('m=')) out.push(l.replace(/^(m=\S+ )\d+/, `$1${port}`));
      else if (l.startsWith('c=')) out.push(`c=IN ${family} ${address}`);
      else out.push(l);
    }
  }
  return joinSdp(out);
}

/**
 * Removes every payload type whose rtpmap encoding name is not in `names` (case-insensitive, e.g. ['PCMU',
 * 'telephone-event']) from the m= lines and their rtpmap/fmtp/rtcp-fb attributes. Applied to the SDP sent on the
 * wire only: libwebrtc keeps its full local description and answers fit inside it.
 */
export function restrictCodecs(sdp: string, names: readonly string[]): string {
  const want = new Set(names.map((n) => n.toLowerCase()));
  const lines = sdpLines(sdp);
  const drop = new Set<string>();
  for (const l of lines) {
    const m = /^a=rtpmap:(\d+) ([^/]+)\//.exec(l);
    if (m?.[1] !== undefined && !want.has((m[2] ?? '').toLowerCase())) drop.add(m[1]);
  }
  const out: string[] = [];
  for (const l of lines) {
    const attr = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+|\*)\s/.exec(l);
    if (attr?.[1] !== undefined && drop.has(attr[1])) continue;
    if (l.startsWith('m=')) {
      const parts = l.split(' ');
      out.push([...parts.slice(0, 3), ...parts.slice(3).filter((pt) => !drop.has(pt))].join(' '));
      continue;
    }
    out.push(l);
  }
  return joinSdp(out);
}

// ---------------------------------------------------------------------------------------------------------------
// The WebRTC call.

export interface WrtcCallOptions {
  /** Tone sent on the audio track (Hz). Default 440. */
  toneHz?: number;
  /** Sample rate of the frames fed to RTCAudioSource. Default 48000. */
  sampleRate?: number;
  /** Candidate address kept in the SDP given out (default '127.0.0.1'); null keeps every candidate. */
  candidateAddress?: string | null;
  /** Encoding names kept in the SDP given out (default: all). E.g. ['PCMU', 'telephone-event']. */
  codecs?: readonly string[];
  /** Bound for ICE gathering (ms). Default 5000. */
  gatherTimeoutMs?: number;
}

export interface InboundAudioStats {
  packetsReceived: number;
  packetsLost: number;
  bytesReceived: number;
  jitter: number;
  codec: string | null;
}

export interface OutboundAudioStats {
  packetsSent: number;
  bytesSent: number;
  codec: string | null;
}

export interface WrtcStats {
  inbound: InboundAudioStats | null;
  outbound: OutboundAudioStats | null;
  /** "ip:port" pair of the selected candidate pair, when ICE has one. */
  selectedPair: { local: string; remote: string } | null;
  iceConnectionState: string;
  connectionState: string;
}

export interface ReceivedAudio {
  /** 10 ms frames the audio sink delivered. */
  frames: number;
  /** Largest absolute sample seen since the first frame (0 = silence only). */
  peak: number;
  /** Dominant frequency estimate (Hz) from zero crossings over the last second of audio; 0 when silent. */
  frequencyHz: number;
}

export interface WrtcCall {
  readonly pc: WrtcPeerConnection;
  /** createOffer → setLocalDescription → ICE gathering complete; the SDP to send (candidates/codecs restricted). */
  createOffer(): Promise<string>;
  /** Answerer side (peer-to-peer tests): remote offer in, SDP answer out (after gathering, restricted the same way). */
  acceptOffer(offerSdp: string): Promise<string>;
  applyAnswer(answerSdp: string): Promise<void>;
  /** Resolves when ICE is connected/completed; rejects on failed/closed or after `timeoutMs`. */
  waitConnected(timeoutMs: number): Promise<void>;
  stats(): Promise<WrtcStats>;
  /** What the remote audio track delivered so far (zeros until the remote track arrives). */
  received(): ReceivedAudio;
  /** Stops the tone timer, the track, the sink and the peer connection. Idempotent. */
  close(): void;
}

function waitForState(
  pc: WrtcPeerConnection,
  key: 'onicegatheringstatechange' | 'oniceconnectionstatechange',
  done: () => boolean,
  failed: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      clearInterval(poll);
      pc[key] = null;
      if (err) reject(err);
      else resolve();
    };
    const check = (): void => {
      if (done()) finish();
      else if (failed()) finish(new Error(`${what}: failed (ice ${pc.iceConnectionState}, pc ${pc.connectionState})`));
    };
    const timer = setTimeout(
      () => finish(new Error(`${what}: not within ${timeoutMs} ms (ice ${pc.iceConnectionState}, gathering ${pc.iceGatheringState})`)),
      timeoutMs,
    );
    // The state-change callbacks are the fast path; the poll covers a state reached before the handler was set.
    const poll = setInterval(check, 50);
    pc[key] = check;
    check();
  });
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

export function createWrtcCall(opts: WrtcCallOptions = {}): WrtcCall {
  const w = wrtc();
  const rate = opts.sampleRate ?? 48000;
  const hz = opts.toneHz ?? 440;
  const candidateAddress = opts.candidateAddress === undefined ? '127.0.0.1' : opts.candidateAddress;
  const gatherTimeoutMs = opts.gatherTimeoutMs ?? 5000;
  const pc = new w.RTCPeerConnection({ iceServers: [] });
  const source = new w.nonstandard.RTCAudioSource();
  const track = source.createTrack();
  pc.addTrack(track);

  // 10 ms frames of a continuous sine; the phase carries over between frames.
  const frameLen = Math.round(rate / 100);
  let phase = 0;
  const step = (2 * Math.PI * hz) / rate;
  const feed = (): void => {
    const samples = new Int16Array(frameLen);
    for (let i = 0; i < frameLen; i++) {
      samples[i] = Math.round(12000 * Math.sin(phase));
      phase += step;
    }
    phase %= 2 * Math.PI;
    source.onData({ samples, sampleRate: rate, bitsPerSample: 16, channelCount: 1, numberOfFrames: frameLen });
  };
  const timer = setInterval(feed, 10);

  const rx = { frames: 0, peak: 0, crossings: [] as number[], window: [] as number[] };
  let sink: WrtcAudioSink | null = null;
  pc.ontrack = (e) => {
    if (e.track.kind !== 'audio' || sink !== null) return;
    sink = new w.nonstandard.RTCAudioSink(e.track);
    sink.ondata = (d) => {
      rx.frames++;
      let crossings = 0;
      let prev = 0;
      for (let i = 0; i < d.samples.length; i++) {
        const s = d.samples[i] ?? 0;
        const a = Math.abs(s);
        if (a > rx.peak) rx.peak = a;
        if ((prev < 0 && s >= 0) || (prev >= 0 && s < 0)) crossings++;
        prev = s;
      }
      const seconds = d.samples.length / (d.sampleRate * (d.channelCount ?? 1));
      rx.crossings.push(crossings);
      rx.window.push(seconds);
      if (rx.crossings.length > 100) {
        rx.crossings.shift();
        rx.window.shift();
      }
    };
  };

  const wire = (sdp: string): string => {
    let s = candidateAddress === null ? sdp : restrictCandidates(sdp, candidateAddress);
    if (opts.codecs !== undefined) s = restrictCodecs(s, opts.codecs);
    return s;
  };
  const gathered = async (): Promise<string> => {
    await waitForState(
      pc,
      'onicegatheringstatechange',
      () => pc.iceGatheringState === 'complete',
      () => false,
      gatherTimeoutMs,
      'ICE gathering',
    );
    const local = pc.localDescription;
    if (local === null) throw new Error('no local description after gathering');
    return wire(local.sdp);
  };

  let closed = false;
  return {
    pc,
    async createOffer() {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      return gathered();
    },
    async acceptOffer(offerSdp) {
      await pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      return gathered();
    },
    applyAnswer(answerSdp) {
      return pc.setRemoteDescription({ type: 'answer', sdp: answerSdp });
    },
    waitConnected(timeoutMs) {
      return waitForState(
        pc,
        'oniceconnectionstatechange',
        () => pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed',
        () => pc.iceConnectionState === 'failed' || pc.iceConnectionState === 'closed',
        timeoutMs,
        'ICE connection',
      );
    },
    async stats() {
      const report = await pc.getStats();
      const all: Record<string, unknown>[] = [];
      report.forEach((s) => {
        all.push(s);
      });
      const byId = new Map(all.map((s) => [String(s.id), s]));
      const codecOf = (s: Record<string, unknown>): string | null => {
        const c = byId.get(String(s.codecId));
        return typeof c?.mimeType === 'string' ? c.mimeType : null;
      };
      const inb = all.find((s) => s.type === 'inbound-rtp' && (s.kind ?? s.mediaType) === 'audio');
      const outb = all.find((s) => s.type === 'outbound-rtp' && (s.kind ?? s.mediaType) === 'audio');
      const transport = all.find((s) => s.type === 'transport');
      const pair =
        byId.get(String(transport?.selectedCandidatePairId)) ??
        all.find((s) => s.type === 'candidate-pair' && s.nominated === true && s.state === 'succeeded');
      const addr = (id: unknown): string => {
        const c = byId.get(String(id));
        return c === undefined ? '' : `${String(c.address ?? c.ip)}:${String(c.port)}`;
      };
      return {
        inbound:
          inb === undefined
            ? null
            : {
                packetsReceived: num(inb.packetsReceived),
                packetsLost: num(inb.packetsLost),
                bytesReceived: num(inb.bytesReceived),
                jitter: num(inb.jitter),
                codec: codecOf(inb),
              },
        outbound: outb === undefined ? null : { packetsSent: num(outb.packetsSent), bytesSent: num(outb.bytesSent), codec: codecOf(outb) },
        selectedPair: pair === undefined ? null : { local: addr(pair.localCandidateId), remote: addr(pair.remoteCandidateId) },
        iceConnectionState: pc.iceConnectionState,
        connectionState: pc.connectionState,
      };
    },
    received() {
      const seconds = rx.window.reduce((a, b) => a + b, 0);
      const crossings = rx.crossings.reduce((a, b) => a + b, 0);
      return { frames: rx.frames, peak: rx.peak, frequencyHz: seconds > 0 && rx.peak > 0 ? crossings / (2 * seconds) : 0 };
    },
    close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      const s: WrtcAudioSink | null = sink;
      if (s !== null) s.stop();
      track.stop();
      pc.close();
    },
  };
}

/** Two wrtc calls connected to each other in-process (offer/answer exchanged directly, loopback candidates). */
export async function connectPeers(a: WrtcCall, b: WrtcCall, timeoutMs = 10_000): Promise<void> {
  const offer = await a.createOffer();
  const answer = await b.acceptOffer(offer);
  await a.applyAnswer(answer);
  await Promise.all([a.waitConnected(timeoutMs), b.waitConnected(timeoutMs)]);
}

// ---------------------------------------------------------------------------------------------------------------
// A minimal SIP-over-WebSocket UA (RFC 7118): REGISTER and INVITE with digest, ACK, BYE, answers in-dialog requests.

export interface SipWsUaOptions {
  /** wss://127.0.0.1:<port>/ (or ws://). */
  url: string;
  /** Default 'alice'. */
  user?: string;
  /** AOR / From domain. Default the URL's host. */
  domain?: string;
  password?: string;
  /** Bound for each transaction (ms). Default 5000. */
  timeoutMs?: number;
}

export interface SipFinal {
  status: number;
  reason: string;
  /** The final response text. */
  response: string;
}

export interface InviteResult extends SipFinal {
  /** SDP body of the 2xx, or null. */
  answerSdp: string | null;
  /** Provisional statuses seen (100, 180, 183...). */
  provisional: number[];
}

export interface SipWsUa {
  readonly peer: WsPeer;
  /** Every frame received (raw text). */
  readonly frames: readonly string[];
  /** REGISTER (digest answered once if challenged). */
  register(expires?: number): Promise<SipFinal>;
  /** INVITE with an SDP offer; a 2xx is ACKed, a non-2xx final is ACKed per RFC 3261 §17.1.1.3. */
  invite(target: string, sdpOffer: string, opts?: { timeoutMs?: number }): Promise<InviteResult>;
  /** BYE for the established call; resolves with the final status (or 0 when there is no call). */
  bye(): Promise<number>;
  /** In-dialog requests the UA received and answered 200 (e.g. a BYE from Palisade). */
  readonly received: readonly string[];
  close(): Promise<void>;
}

interface Dialog {
  callId: string;
  from: string;
  to: string;
  remoteTarget: string;
  routes: string[];
  cseq: number;
}

function token(n = 8): string {
  return randomBytes(n).toString('hex');
}

export async function openSipWsUa(opts: SipWsUaOptions): Promise<SipWsUa> {
  const url = new URL(opts.url);
  const user = opts.user ?? 'alice';
  const domain = opts.domain ?? url.hostname;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const wsHost = `${token(4)}.invalid`;
  const viaBase = `SIP/2.0/${url.protocol === 'wss:' ? 'WSS' : 'WS'} ${wsHost}`;
  const contactUri = `sip:${token(4)}@${wsHost};transport=ws`;
  const aor = `sip:${user}@${domain}`;
  const peer = await wsPeer(opts.url);
  const received: string[] = [];
  let dialog: Dialog | null = null;
  let nc = 0;

  // Answer in-dialog requests (BYE, OPTIONS...) so the far end never retransmits into the test.
  peer.ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
    const b = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    const m = b.toString('latin1');
    if (!/^(BYE|OPTIONS|UPDATE|INFO|NOTIFY) /.test(m)) return;
    if (received.length < 100) received.push(m);
    peer.send(responseTo(m, '200 OK'));
    if (isRequest(m, 'BYE') && dialog !== null && header(m, 'Call-ID') === dialog.callId) dialog = null;
  });

  const branch = (): string => `z9hG4bK${token(8)}`;

  const authorization = (resp: string, method: string, uri: string): string | null => {
    if (opts.password === undefined) return null;
    const parsed = parseResponse(resp);
    if (parsed === null) return null;
    const challenges = parseChallenges(parsed).filter((c) => c.scheme.toLowerCase() === 'digest');
    const pick =
      challenges.find((c) => c.algorithm === 'SHA-256') ??
      challenges.find((c) => c.algorithm === 'SHA-512-256') ??
      challenges.find((c) => c.algorithm === 'MD5');
    if (pick === undefined) return null;
    nc++;
    const value = buildAuthorization({
      alg: pick.algorithm as DigestAlg,
      user,
      password: opts.password,
      realm: pick.params.realm ?? '',
      nonce: pick.params.nonce ?? '',
      method,
      uri,
      nc,
      cnonce: token(6),
      ...(pick.params.opaque === undefined ? {} : { opaque: pick.params.opaque }),
    });
    return `${pick.kind === 'www' ? 'Authorization' : 'Proxy-Authorization'}: ${value}`;
  };

  /** Sends a request and waits for its final response (provisionals are collected). */
  const transact = async (
    text: string,
    callId: string,
    method: string,
    cseq: number,
    bound: number,
    provisional: number[] = [],
  ): Promise<string> => {
    peer.send(text);
    const deadline = Date.now() + bound;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no final response to ${method} within ${bound} ms`);
      const m = await peer.inbox.next(
        (x) => isResponse(x, undefined, method) && header(x, 'Call-ID') === callId && header(x, 'CSeq')?.startsWith(`${cseq} `) === true,
        left,
        `response to ${method}`,
      );
      const status = Number(m.slice(8, 11));
      if (status >= 200) return m;
      provisional.push(status);
    }
  };

  const final = (m: string): SipFinal => ({ status: Number(m.slice(8, 11)), reason: m.slice(12, m.indexOf('\r\n')), response: m });

  return {
    peer,
    frames: peer.frames,
    received,
    async register(expires = 300) {
      const callId = `${token(8)}@${wsHost}`;
      const fromTag = token(4);
      const uri = `sip:${domain}`;
      let cseq = 1;
      const build = (auth: string | null): string =>
        request({
          method: 'REGISTER',
          uri,
          via: viaBase,
          branch: branch(),
          from: `<${aor}>;tag=${fromTag}`,
          to: `<${aor}>`,
          callId,
          cseq,
          contact: `<${contactUri}>;expires=${expires}`,
          extra: [`Expires: ${expires}`, ...(auth === null ? [] : [auth])],
        });
      let resp = await transact(build(null), callId, 'REGISTER', cseq, timeoutMs);
      if (/^SIP\/2\.0 40[17] /.test(resp)) {
        const auth = authorization(resp, 'REGISTER', uri);
        if (auth !== null) {
          cseq++;
          resp = await transact(build(auth), callId, 'REGISTER', cseq, timeoutMs);
        }
      }
      return final(resp);
    },
    async invite(target, sdpOffer, o = {}) {
      const bound = o.timeoutMs ?? timeoutMs;
      const callId = `${token(8)}@${wsHost}`;
      const from = `<${aor}>;tag=${token(4)}`;
      const to = `<${target}>`;
      const provisional: number[] = [];
      let cseq = 1;
      let br = branch();
      const build = (auth: string | null): string =>
        request({
          method: 'INVITE',
          uri: target,
          via: viaBase,
          branch: br,
          from,
          to,
          callId,
          cseq,
          contact: `<${contactUri}>`,
          extra: ['Allow: INVITE, ACK, BYE, CANCEL, OPTIONS', ...(auth === null ? [] : [auth])],
          body: sdpOffer,
        });
      const ackNon2xx = (resp: string): void => {
        // §17.1.1.3: same branch and Request-URI as the INVITE, To from the response.
        peer.send(request({ method: 'ACK', uri: target, via: viaBase, branch: br, from, to: header(resp, 'To') ?? to, callId, cseq }));
      };
      let resp = await transact(build(null), callId, 'INVITE', cseq, bound, provisional);
      if (/^SIP\/2\.0 40[17] /.test(resp)) {
        ackNon2xx(resp);
        const auth = authorization(resp, 'INVITE', target);
        if (auth !== null) {
          cseq++;
          br = branch();
          resp = await transact(build(auth), callId, 'INVITE', cseq, bound, provisional);
        }
      }
      const f = final(resp);
      if (f.status >= 300) {
        ackNon2xx(resp);
        return { ...f, answerSdp: null, provisional };
      }
      const routes = headers(resp, 'Record-Route')
        .flatMap((v) => v.split(/,(?=\s*<)/))
        .map((v) => v.trim())
        .reverse();
      const d: Dialog = {
        callId,
        from,
        to: header(resp, 'To') ?? to,
        remoteTarget: uriOf(header(resp, 'Contact') ?? target),
        routes,
        cseq,
      };
      dialog = d;
      peer.send(
        request({
          method: 'ACK',
          uri: d.remoteTarget,
          via: viaBase,
          branch: branch(),
          from: d.from,
          to: d.to,
          callId,
          cseq,
          extra: d.routes.map((r) => `Route: ${r}`),
        }),
      );
      const body = resp.indexOf('\r\n\r\n');
      const answerSdp = body >= 0 && resp.length > body + 4 ? resp.slice(body + 4) : null;
      return { ...f, answerSdp, provisional };
    },
    async bye() {
      const d = dialog;
      if (d === null) return 0;
      d.cseq++;
      const resp = await transact(
        request({
          method: 'BYE',
          uri: d.remoteTarget,
          via: viaBase,
          branch: branch(),
          from: d.from,
          to: d.to,
          callId: d.callId,
          cseq: d.cseq,
          extra: d.routes.map((r) => `Route: ${r}`),
        }),
        d.callId,
        'BYE',
        d.cseq,
        timeoutMs,
      );
      dialog = null;
      return Number(resp.slice(8, 11));
    },
    async close() {
      await peer.close();
      await delay(0);
    },
  };
}
