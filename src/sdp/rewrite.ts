/**
 * Rewrites an SDP so that the receiving side sends its media to Palisade's relay ports (media anchoring),
 * and so that nothing of the other side's topology (addresses, candidates) leaks through. Pure: returns a
 * new Sdp, the input is not touched.
 */
import { isIP } from 'node:net';
import { effectiveConnection, isHoldAddress, withoutAttributes } from './attributes.ts';
import type { Sdp, SdpAttribute, SdpConnection, SdpMedia } from './types.ts';

/** Where the receiver of this SDP must send media section i: one of Palisade's relay legs. */
export interface RelayTarget {
  address: string;
  port: number;
  /** RTCP port to advertise with a=rtcp (RFC 3605); when undefined any a=rtcp line is removed. */
  rtcpPort?: number;
  /** Replace the m= transport protocol (e.g. RTP/SAVP → RTP/AVP when the relay terminates SRTP). */
  proto?: string;
}

export interface RewriteOptions {
  /** Drop ICE credentials and options (candidates are always dropped: they name the other side's addresses). */
  removeIce?: boolean;
  /** Drop a=crypto (SDES keys of the other side: the relay terminates SRTP). */
  removeCrypto?: boolean;
  /** Drop a=fingerprint, a=setup and a=tls-id (the other side's DTLS identity). */
  removeFingerprint?: boolean;
  /** Address for o=; the origin must name Palisade, not the other side. */
  originAddress: string;
  /** Increment o= sess-version (RFC 3264 §8: a changed offer carries a higher version). */
  sessionVersionBump: boolean;
}

const CANDIDATE_ATTRS = ['candidate', 'remote-candidates', 'end-of-candidates'];
const ICE_ATTRS = ['ice-ufrag', 'ice-pwd', 'ice-options', 'ice-lite', 'ice-pacing', 'ice-mismatch'];
const DTLS_ATTRS = ['fingerprint', 'setup', 'tls-id'];

function addrTypeOf(address: string): string {
  return isIP(address) === 6 ? 'IP6' : 'IP4';
}

function connectionFor(address: string): SdpConnection {
  return { netType: 'IN', addrType: addrTypeOf(address), address };
}

function sameConnection(a: SdpConnection | undefined, b: SdpConnection | undefined): boolean {
  return !!a && !!b && a.netType === b.netType && a.addrType === b.addrType && a.address === b.address;
}

function cleanAttributes(attrs: readonly SdpAttribute[], opts: RewriteOptions, mediaLevel: boolean): SdpAttribute[] {
  const drop = [...CANDIDATE_ATTRS];
  if (opts.removeIce) drop.push(...ICE_ATTRS);
  if (opts.removeFingerprint) drop.push(...DTLS_ATTRS);
  if (opts.removeCrypto) drop.push('crypto');
  if (mediaLevel) drop.push('rtcp');
  return withoutAttributes(attrs, drop);
}

function bumpVersion(v: string): string {
  // The parser guarantees digits; BigInt because versions are often NTP-sized.
  return /^[0-9]+$/.test(v) ? (BigInt(v) + 1n).toString() : v;
}

/**
 * Replaces c=, m= ports, o= address and a=rtcp with relay values; removes candidates and, on request, ICE,
 * SDES and DTLS attributes. Media sections with no target (undefined or null) are disabled (port 0,
 * RFC 3264 §8.2). A section already at port 0 stays at port 0. An RFC 2543 hold address (c=0.0.0.0) is
 * kept so the receiver still sees the hold.
 */
export function rewriteForRelay(sdp: Sdp, targets: ReadonlyArray<RelayTarget | null | undefined>, opts: RewriteOptions): Sdp {
  const media: SdpMedia[] = sdp.media.map((m, i) => {
    const t = targets[i];
    const original = effectiveConnection(sdp, m);
    const attributes = cleanAttributes(m.attributes, opts, true);
    const out: SdpMedia = {
      ...m,
      formats: [...m.formats],
      bandwidths: m.bandwidths.map((b) => ({ ...b })),
      attributes,
      otherLines: m.otherLines.map((l) => ({ ...l })),
    };
    if (!t || m.port === 0) {
      out.port = 0;
      out.portCount = undefined;
      out.connection = undefined;
      return out;
    }
    out.port = t.port;
    out.portCount = undefined;
    if (t.proto !== undefined) out.proto = t.proto;
    const hold = original !== undefined && isHoldAddress(original.address.split('/')[0] as string);
    out.connection = hold ? { ...(original as SdpConnection) } : connectionFor(t.address);
    if (t.rtcpPort !== undefined) {
      attributes.push({ name: 'rtcp', value: `${t.rtcpPort} IN ${addrTypeOf(t.address)} ${t.address}` });
    }
    return out;
  });

  // One session-level c= when every active section agrees (the usual shape); otherwise per-section c= lines
  // with the session one set to the first.
  const active = media.filter((m) => m.connection !== undefined);
  let sessionConnection: SdpConnection | undefined;
  const first = active[0]?.connection;
  if (first) {
    sessionConnection = { ...first };
    if (active.every((m) => sameConnection(m.connection, first))) {
      for (const m of active) m.connection = undefined;
    }
  } else if (sdp.connection) {
    sessionConnection = connectionFor(opts.originAddress);
  }
  if (!sessionConnection) {
    // Sections at port 0 still need a connection address somewhere (RFC 8866 §5.7).
    sessionConnection = connectionFor(opts.originAddress);
  }

  return {
    ...sdp,
    origin: {
      ...sdp.origin,
      addrType: addrTypeOf(opts.originAddress),
      address: opts.originAddress,
      sessionVersion: opts.sessionVersionBump ? bumpVersion(sdp.origin.sessionVersion) : sdp.origin.sessionVersion,
    },
    emails: [...sdp.emails],
    phones: [...sdp.phones],
    connection: sessionConnection,
    bandwidths: sdp.bandwidths.map((b) => ({ ...b })),
    timing: sdp.timing.map((t) => ({ ...t, repeats: [...t.repeats] })),
    attributes: cleanAttributes(sdp.attributes, opts, false),
    otherLines: sdp.otherLines.map((l) => ({ ...l })),
    media,
  };
}
