/**
 * An SRTP/SRTCP crypto context (RFC 3711 §3.2) for one master key, covering every SSRC protected with it
 * (as DTLS-SRTP and SDES keys do). Outbound and inbound stream state are kept apart, so one context can
 * protect and unprotect its own packets (useful in tests); in a call each direction has its own key and
 * so its own context.
 *
 * Hot path: protect/unprotect read the packet in place and write into the caller's buffer; they return
 * the number of bytes written or a negative `SrtpError` code, and never throw on packet contents.
 * `out` may be the packet's own memory (in place) when it is large enough for the result.
 */
import { BoundedMap } from '../../core/bounded-map.ts';
import { PalisadeError } from '../../core/errors.ts';
import { deriveKeys } from './kdf.ts';
import { isSrtpProfileName, type SrtpProfileName, srtpProfileInfo } from './profiles.ts';
import { guessRoc, MAX_REPLAY_WINDOW, MIN_REPLAY_WINDOW, ReplayWindow } from './replay.ts';
import { SrtpError } from './status.ts';
import { createTransform, type SrtpTransform } from './transform.ts';

/** Sender side of one SSRC: rollover counter and highest sequence number sent. */
interface RtpTxStream {
  roc: number;
  sl: number;
}
/** Receiver side of one SSRC (RFC 3711 §3.3.1): ROC, highest authenticated SEQ s_l, replay list. */
interface RtpRxStream {
  roc: number;
  sl: number;
  readonly window: ReplayWindow;
}
interface RtcpTxStream {
  next: number;
}
interface RtcpRxStream {
  readonly window: ReplayWindow;
}

export const DEFAULT_REPLAY_WINDOW = 64;
/** SSRCs tracked per direction; the oldest is evicted past this (a call has a handful). */
export const DEFAULT_MAX_STREAMS = 64;

export interface SrtpContextOptions {
  readonly profile: SrtpProfileName;
  readonly masterKey: Uint8Array;
  readonly masterSalt: Uint8Array;
  /** Replay window in packets, 64..32768 (RFC 3711 §3.3.2); default 64. Applies to SRTP and SRTCP. */
  readonly replayWindow?: number;
  /**
   * SSRCs remembered per direction and packet kind; default 64. Past it the least recently active stream
   * (touched every 256 packets) is forgotten and counted in `streamEvictions`.
   */
  readonly maxStreams?: number;
  /**
   * Master key lifetime in packets (SDES `|2^31` lifetime, RFC 4568 §6.1), counted separately for SRTP
   * and SRTCP in each direction; past it protect/unprotect return KEY_EXHAUSTED. Default: the index
   * space (2^48 SRTP, 2^31 SRTCP).
   */
  readonly keyLifetime?: number;
}

/** Plain counters, read by the metrics collector. */
export interface SrtpCounters {
  protectedRtp: number;
  unprotectedRtp: number;
  protectedRtcp: number;
  unprotectedRtcp: number;
  authFailures: number;
  replays: number;
  streamEvictions: number;
}

export interface SrtpContext {
  readonly profile: SrtpProfileName;
  /** RTP → SRTP. Returns bytes written to `out` (packet length + tag) or a negative SrtpError code. */
  protect(rtp: Buffer, out: Buffer): number;
  /** SRTP → RTP. Returns bytes written to `out` or a negative SrtpError code (AUTH_FAIL, REPLAY, ...). */
  unprotect(srtp: Buffer, out: Buffer): number;
  /** RTCP (compound) → SRTCP, encrypted (E = 1). */
  protectRtcp(rtcp: Buffer, out: Buffer): number;
  /** SRTCP → RTCP. */
  unprotectRtcp(srtcp: Buffer, out: Buffer): number;
  /** Bytes `protect` adds to an RTP packet. */
  readonly rtpOverhead: number;
  /** Bytes `protectRtcp` adds to an RTCP packet (index word + tag). */
  readonly rtcpOverhead: number;
  readonly counters: Readonly<SrtpCounters>;
}

/** Largest ROC: the SRTP index is 48 bits (RFC 3711 §3.2.1). */
const MAX_ROC = 0xffffffff;
/** The SRTCP index is 31 bits (RFC 3711 §3.4). */
const MAX_SRTCP_INDEX = 0x7fffffff;

function invalid(field: string, expected: string): PalisadeError {
  return new PalisadeError('CONFIG_INVALID', { field, expected });
}

/** Creates a context; throws PalisadeError CONFIG_INVALID (naming the field, never the key) on bad options. */
export function createSrtpContext(opts: SrtpContextOptions): SrtpContext {
  if (typeof opts.profile !== 'string' || !isSrtpProfileName(opts.profile)) throw invalid('profile', 'SRTP profile');
  const info = srtpProfileInfo(opts.profile);
  if (!(opts.masterKey instanceof Uint8Array) || opts.masterKey.length !== info.keyLength) {
    throw invalid('masterKey', `${info.keyLength} bytes`);
  }
  if (!(opts.masterSalt instanceof Uint8Array) || opts.masterSalt.length !== info.saltLength) {
    throw invalid('masterSalt', `${info.saltLength} bytes`);
  }
  const replayWindow = opts.replayWindow ?? DEFAULT_REPLAY_WINDOW;
  if (!Number.isInteger(replayWindow) || replayWindow < MIN_REPLAY_WINDOW || replayWindow > MAX_REPLAY_WINDOW) {
    throw invalid('replayWindow', `integer ${MIN_REPLAY_WINDOW}..${MAX_REPLAY_WINDOW}`);
  }
  const maxStreams = opts.maxStreams ?? DEFAULT_MAX_STREAMS;
  if (!Number.isInteger(maxStreams) || maxStreams < 1) throw invalid('maxStreams', 'positive integer');
  const keys = deriveKeys(opts.profile, opts.masterKey, opts.masterSalt);
  const transform = createTransform(info, keys);
  const keyLifetime = opts.keyLifetime ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isInteger(keyLifetime) || keyLifetime < 1) throw invalid('keyLifetime', 'positive integer');
  const ctx = new SrtpContextImpl(opts.profile, transform, replayWindow, maxStreams, keyLifetime);
  keys.rtp.encKey.fill(0);
  keys.rtp.authKey.fill(0);
  keys.rtcp.encKey.fill(0);
  keys.rtcp.authKey.fill(0);
  return ctx;
}

/** RTP header length (fixed part, CSRCs, extension; RFC 3550 §5.1, §5.3.1), or a negative SrtpError. */
export function rtpHeaderLength(b: Buffer, len: number): number {
  if (len < 12) return SrtpError.TOO_SHORT;
  const b0 = b[0] as number;
  if (b0 >>> 6 !== 2) return SrtpError.BAD_VERSION;
  let h = 12 + (b0 & 0x0f) * 4;
  if ((b0 & 0x10) !== 0) {
    if (h + 4 > len) return SrtpError.BAD_HEADER;
    h += 4 + (((b[h + 2] as number) << 8) | (b[h + 3] as number)) * 4;
  }
  return h > len ? SrtpError.BAD_HEADER : h;
}

class SrtpContextImpl implements SrtpContext {
  readonly counters: SrtpCounters = {
    protectedRtp: 0,
    unprotectedRtp: 0,
    protectedRtcp: 0,
    unprotectedRtcp: 0,
    authFailures: 0,
    replays: 0,
    streamEvictions: 0,
  };
  readonly rtpOverhead: number;
  readonly rtcpOverhead: number;
  private readonly onEvict = (): void => {
    this.counters.streamEvictions++;
  };
  private readonly txRtp: BoundedMap<number, RtpTxStream>;
  private readonly rxRtp: BoundedMap<number, RtpRxStream>;
  private readonly txRtcp: BoundedMap<number, RtcpTxStream>;
  private readonly rxRtcp: BoundedMap<number, RtcpRxStream>;

  constructor(
    readonly profile: SrtpProfileName,
    private readonly t: SrtpTransform,
    private readonly replayWindow: number,
    maxStreams: number,
    private readonly keyLifetime: number,
  ) {
    this.rtpOverhead = t.rtpTagLength;
    this.rtcpOverhead = t.rtcpTagLength + 4;
    this.txRtp = new BoundedMap(maxStreams, this.onEvict);
    this.rxRtp = new BoundedMap(maxStreams, this.onEvict);
    this.txRtcp = new BoundedMap(maxStreams, this.onEvict);
    this.rxRtcp = new BoundedMap(maxStreams, this.onEvict);
  }

  protect(rtp: Buffer, out: Buffer): number {
    const len = rtp.length;
    const hdr = rtpHeaderLength(rtp, len);
    if (hdr < 0) return hdr;
    if (out.length < len + this.t.rtpTagLength) return SrtpError.OUT_TOO_SMALL;
    if (this.counters.protectedRtp >= this.keyLifetime) return SrtpError.KEY_EXHAUSTED;
    const seq = ((rtp[2] as number) << 8) | (rtp[3] as number);
    const ssrc = rtp.readUInt32BE(8);
    let s = this.txRtp.get(ssrc);
    let roc: number;
    if (s === undefined) {
      // §3.3.1: the sender starts the stream with ROC 0.
      s = { roc: 0, sl: seq };
      this.txRtp.set(ssrc, s);
      roc = 0;
    } else {
      // The sender estimates too, so packets relayed slightly out of order keep the right ROC.
      // A packet from before the stream's first one (guess -1 at ROC 0) is sent with ROC 0.
      const v = Math.max(0, guessRoc(s.roc, s.sl, seq));
      if (v > MAX_ROC) return SrtpError.KEY_EXHAUSTED;
      if (v > s.roc) {
        s.roc = v;
        s.sl = seq;
      } else if (v === s.roc && seq > s.sl) {
        s.sl = seq;
      }
      roc = v;
      // Keep busy streams young in the bounded map, at 1/256 of the cost of touching every packet.
      if ((seq & 0xff) === 0) this.txRtp.touch(ssrc);
    }
    this.counters.protectedRtp++;
    return this.t.protectRtp(rtp, hdr, len, out, ssrc, roc, seq);
  }

  unprotect(srtp: Buffer, out: Buffer): number {
    const tagLen = this.t.rtpTagLength;
    const len = srtp.length - tagLen;
    if (len < 12) return SrtpError.TOO_SHORT;
    const hdr = rtpHeaderLength(srtp, len);
    if (hdr < 0) return hdr;
    if (out.length < len) return SrtpError.OUT_TOO_SMALL;
    if (this.counters.unprotectedRtp >= this.keyLifetime) return SrtpError.KEY_EXHAUSTED;
    const seq = ((srtp[2] as number) << 8) | (srtp[3] as number);
    const ssrc = srtp.readUInt32BE(8);
    const s = this.rxRtp.get(ssrc);
    // §3.3.1: a new stream starts at ROC 0 with s_l = the first sequence number seen.
    const v = s === undefined ? 0 : guessRoc(s.roc, s.sl, seq);
    // A guess of -1 at ROC 0 means "before the stream's first packet": no such index exists.
    if (v < 0 || v > MAX_ROC) {
      this.counters.replays++;
      return SrtpError.REPLAY;
    }
    const index = v * 65536 + seq;
    if (s !== undefined && !s.window.check(index)) {
      this.counters.replays++;
      return SrtpError.REPLAY;
    }
    const n = this.t.unprotectRtp(srtp, hdr, len, out, ssrc, v, seq);
    if (n < 0) {
      this.counters.authFailures++;
      return n;
    }
    // §3.3.1: update ROC and s_l only after the packet authenticated.
    if (s === undefined) {
      const w = new ReplayWindow(this.replayWindow);
      w.accept(index);
      this.rxRtp.set(ssrc, { roc: v, sl: seq, window: w });
    } else {
      if (v > s.roc) {
        s.roc = v;
        s.sl = seq;
      } else if (v === s.roc && seq > s.sl) {
        s.sl = seq;
      }
      s.window.accept(index);
      if ((seq & 0xff) === 0) this.rxRtp.touch(ssrc);
    }
    this.counters.unprotectedRtp++;
    return n;
  }

  protectRtcp(rtcp: Buffer, out: Buffer): number {
    const len = rtcp.length;
    if (len < 8) return SrtpError.TOO_SHORT;
    if ((rtcp[0] as number) >>> 6 !== 2) return SrtpError.BAD_VERSION;
    if (out.length < len + this.rtcpOverhead) return SrtpError.OUT_TOO_SMALL;
    if (this.counters.protectedRtcp >= this.keyLifetime) return SrtpError.KEY_EXHAUSTED;
    const ssrc = rtcp.readUInt32BE(4);
    let s = this.txRtcp.get(ssrc);
    if (s === undefined) {
      s = { next: 0 };
      this.txRtcp.set(ssrc, s);
    } else {
      this.txRtcp.touch(ssrc);
    }
    // §3.4: the index starts at 0 and MUST NOT wrap under one master key.
    if (s.next > MAX_SRTCP_INDEX) return SrtpError.KEY_EXHAUSTED;
    const index = s.next++;
    this.counters.protectedRtcp++;
    return this.t.protectRtcp(rtcp, len, out, ssrc, index);
  }

  unprotectRtcp(srtcp: Buffer, out: Buffer): number {
    const len = srtcp.length;
    if (len < 8 + this.rtcpOverhead) return SrtpError.TOO_SHORT;
    if ((srtcp[0] as number) >>> 6 !== 2) return SrtpError.BAD_VERSION;
    if (out.length < len - this.rtcpOverhead) return SrtpError.OUT_TOO_SMALL;
    if (this.counters.unprotectedRtcp >= this.keyLifetime) return SrtpError.KEY_EXHAUSTED;
    const ssrc = srtcp.readUInt32BE(4);
    const word = srtcp.readUInt32BE(this.t.rtcpTrailerOffset(len));
    const index = word & MAX_SRTCP_INDEX;
    const encrypted = word >>> 31 === 1;
    const s = this.rxRtcp.get(ssrc);
    if (s !== undefined && !s.window.check(index)) {
      this.counters.replays++;
      return SrtpError.REPLAY;
    }
    const n = this.t.unprotectRtcp(srtcp, len, out, ssrc, index, encrypted);
    if (n < 0) {
      this.counters.authFailures++;
      return n;
    }
    if (s === undefined) {
      const w = new ReplayWindow(this.replayWindow);
      w.accept(index);
      this.rxRtcp.set(ssrc, { window: w });
    } else {
      s.window.accept(index);
      this.rxRtcp.touch(ssrc);
    }
    this.counters.unprotectedRtcp++;
    return n;
  }
}
