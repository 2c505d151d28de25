/**
 * RFC 7983 §7 demultiplexing of one client-side media port by the first byte of each datagram:
 *
 *                 +----------------+
 *                 |        [0..3] -+--> STUN
 *                 |      [16..19] -+--> ZRTP        (not spoken: dropped)
 *   packet -->    |      [20..63] -+--> DTLS
 *                 |      [64..79] -+--> TURN Channel (not spoken: dropped)
 *                 |    [128..191] -+--> RTP/RTCP     (RTCP when the second byte is 192..223, RFC 5761 §4)
 *                 +----------------+    anything else: dropped
 *
 * Pure, allocation-free; the result is a small integer so the relay can `switch` on it per packet.
 */

export const DEMUX_DROP = 0;
export const DEMUX_STUN = 1;
export const DEMUX_DTLS = 2;
export const DEMUX_RTP = 3;
export const DEMUX_RTCP = 4;

export type DemuxClass = typeof DEMUX_DROP | typeof DEMUX_STUN | typeof DEMUX_DTLS | typeof DEMUX_RTP | typeof DEMUX_RTCP;

/** Names for counters and logs, indexed by DemuxClass. */
export const DEMUX_CLASS_NAMES = ['drop', 'stun', 'dtls', 'rtp', 'rtcp'] as const;

/**
 * Classifies a datagram. Lengths are checked only as far as the classification needs (STUN needs its 20-byte
 * header, RTP/RTCP a second byte); the protocol's own parser checks the rest.
 */
export function demuxPacket(buf: Uint8Array): DemuxClass {
  const len = buf.length;
  if (len === 0) return DEMUX_DROP;
  const b0 = buf[0] as number;
  if (b0 <= 3) return len >= 20 ? DEMUX_STUN : DEMUX_DROP;
  if (b0 >= 20 && b0 <= 63) return DEMUX_DTLS;
  if (b0 >= 128 && b0 <= 191) {
    if (len < 2) return DEMUX_DROP;
    const b1 = buf[1] as number;
    return b1 >= 192 && b1 <= 223 ? DEMUX_RTCP : DEMUX_RTP;
  }
  return DEMUX_DROP;
}
