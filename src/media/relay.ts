/**
 * What every relay flavour shares (plain RTP now; SRTP/DTLS/ICE-lite later): the sides, the signalled
 * endpoint, drop reasons, per-side counters and the RTP/RTCP packet check. Imports only core, so the relay can
 * move into a worker thread without dragging the proxy along.
 */

/** Side A faces the internet (phones, browsers, trunks); side B faces the PBX. */
export type MediaSide = 'public' | 'pbx';

/** Where a side said (in its SDP) that it receives media for one m= section. */
export interface MediaEndpoint {
  address: string;
  port: number;
  /** RTCP port (a=rtcp, RFC 3605); default port + 1. Ignored with rtcpMux. */
  rtcpPort?: number;
  /** a=rtcp-mux (RFC 5761): RTCP shares the RTP port. */
  rtcpMux?: boolean;
  /**
   * RTP payload types this side may send (the m= formats negotiated); others are dropped as 'payload_type'
   * (DESIGN: "RTP with a payload type not negotiated is dropped"). Undefined: any payload type.
   */
  payloadTypes?: readonly number[];
}

/**
 * unexpected_source: not from the signalled (PBX side) or latched (secure public side) address; auth_failed: SRTP/SRTCP
 * tag or replay check failed, or an ICE check without valid credentials; rate_limited: above media.maxPacketRate.
 */
export const MEDIA_DROP_REASONS = [
  'unexpected_source',
  'no_remote',
  'malformed',
  'payload_type',
  'send_error',
  'auth_failed',
  'rate_limited',
] as const;
export type MediaDropReason = (typeof MEDIA_DROP_REASONS)[number];

/**
 * Counters of packets received from one side (and relayed toward the other). Plain numbers, bumped on the hot
 * path, read by stats() and the metrics collector.
 */
export class RelayCounters {
  packetsIn = 0;
  bytesIn = 0;
  /** Relayed to the other side (handed to the kernel). */
  packetsOut = 0;
  bytesOut = 0;
  dropUnexpectedSource = 0;
  dropNoRemote = 0;
  dropMalformed = 0;
  dropPayloadType = 0;
  dropSendError = 0;
  dropAuthFailed = 0;
  dropRateLimited = 0;
  /** Asynchronous socket errors (ICMP unreachable on a connected socket, ...). */
  socketErrors = 0;

  /** Back to zero (a pooled relay starting a new session; the old counts were added to the totals first). */
  reset(): void {
    this.packetsIn = 0;
    this.bytesIn = 0;
    this.packetsOut = 0;
    this.bytesOut = 0;
    this.dropUnexpectedSource = 0;
    this.dropNoRemote = 0;
    this.dropMalformed = 0;
    this.dropPayloadType = 0;
    this.dropSendError = 0;
    this.dropAuthFailed = 0;
    this.dropRateLimited = 0;
    this.socketErrors = 0;
  }

  addTo(t: MediaTrafficStats): void {
    t.packetsIn += this.packetsIn;
    t.bytesIn += this.bytesIn;
    t.packetsOut += this.packetsOut;
    t.bytesOut += this.bytesOut;
    t.dropped.unexpected_source += this.dropUnexpectedSource;
    t.dropped.no_remote += this.dropNoRemote;
    t.dropped.malformed += this.dropMalformed;
    t.dropped.payload_type += this.dropPayloadType;
    t.dropped.send_error += this.dropSendError;
    t.dropped.auth_failed += this.dropAuthFailed;
    t.dropped.rate_limited += this.dropRateLimited;
    t.socketErrors += this.socketErrors;
  }
}

export interface MediaTrafficStats {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  dropped: Record<MediaDropReason, number>;
  socketErrors: number;
}

export function emptyTrafficStats(): MediaTrafficStats {
  return {
    packetsIn: 0,
    bytesIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    dropped: { unexpected_source: 0, no_remote: 0, malformed: 0, payload_type: 0, send_error: 0, auth_failed: 0, rate_limited: 0 },
    socketErrors: 0,
  };
}

export const PACKET_RTP = 0;
export const PACKET_RTCP = 1;
export const PACKET_MALFORMED = 2;

export const RTP_HEADER_BYTES = 12;
export const RTCP_HEADER_BYTES = 8;

/**
 * Classifies a datagram as RTP, RTCP or malformed by its header, without allocating.
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |V=2|P|X|  CC   |M|     PT      |       sequence number         |   RTP (RFC 3550 §5.1)
 *  |V=2|P|   RC    |   PT=192..223 |             length            |   RTCP (RFC 3550 §6.4, RFC 5761 §4)
 *
 * Version must be 2 (RFC 3550 §5.1). RTCP is told from RTP by the second byte in 192..223 (RFC 5761 §4),
 * which is how rtcp-mux demultiplexes. RTP must hold its 12-byte header plus CC CSRC entries.
 */
export function classifyPacket(buf: Uint8Array): number {
  const len = buf.length;
  if (len < RTCP_HEADER_BYTES) return PACKET_MALFORMED;
  const b0 = buf[0] as number;
  if ((b0 & 0xc0) !== 0x80) return PACKET_MALFORMED;
  const b1 = buf[1] as number;
  if (b1 >= 192 && b1 <= 223) return PACKET_RTCP;
  if (len < RTP_HEADER_BYTES + (b0 & 0x0f) * 4) return PACKET_MALFORMED;
  return PACKET_RTP;
}

/** One relay leg: one m= section anchored between the two sides. */
export interface MediaRelay {
  /** RTP port on each side's local address (RTCP on the next odd port). */
  readonly publicPort: number;
  readonly pbxPort: number;
  /** Sets or clears (null) where a side receives. Only packets from that endpoint are accepted from it. */
  setRemote(side: MediaSide, remote: MediaEndpoint | null): void;
  /** Counters of traffic received from a side. */
  counters(side: MediaSide): RelayCounters;
  /** Closes every socket; resolves once they are closed. Idempotent. */
  close(): Promise<void>;
}

/** Default per-stream cap (media.maxPacketRate): 20 ms audio is 50 packets/s, video a few hundred. */
export const DEFAULT_MAX_PACKET_RATE = 1000;

/**
 * Token bucket for one stream direction (media.maxPacketRate). The clock is read only when the tokens run out
 * (once per `burst` packets at an ordinary rate), not per packet. Burst: a fifth of a second at the rate.
 * A rate of 0 (or less) means no cap.
 */
export class PacketRateLimiter {
  private rate = 0;
  private burst = 0;
  private tokens = 0;
  private last = 0;

  constructor(ratePerSecond: number) {
    this.setRate(ratePerSecond);
  }

  setRate(ratePerSecond: number): void {
    this.rate = Math.max(0, ratePerSecond);
    this.burst = this.rate > 0 ? Math.max(8, Math.ceil(this.rate / 5)) : 0;
    this.refill();
  }

  /** Full again (a new session). */
  refill(): void {
    this.tokens = this.burst;
    this.last = performance.now();
  }

  /** True when one more packet may pass. */
  take(): boolean {
    if (this.rate === 0) return true;
    if (this.tokens >= 1) {
      this.tokens--;
      return true;
    }
    const now = performance.now();
    const t = this.tokens + ((now - this.last) * this.rate) / 1000;
    this.last = now;
    this.tokens = Math.min(this.burst, t);
    if (this.tokens >= 1) {
      this.tokens--;
      return true;
    }
    return false;
  }
}
