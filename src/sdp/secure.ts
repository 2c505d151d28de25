/**
 * SDP decisions for media security at the border (pure; no keys are generated or parsed here):
 *
 *   m= proto                 with             → kind
 *   RTP/SAVP, RTP/SAVPF      a=crypto         → 'sdes'   (RFC 4568)
 *   UDP/TLS/RTP/SAVP(F)      a=fingerprint    → 'dtls'   (RFC 5763/5764, ICE when a=ice-ufrag, RFC 8839)
 *   RTP/AVP, RTP/AVPF                         → 'plain'
 *   anything else (a secure proto without its keying attribute, m=application, ...) → 'unsupported'
 *
 * and the attributes Palisade writes toward a client for a secured section (its own a=crypto, or its own
 * a=fingerprint + a=setup + ICE-lite credentials and a host candidate).
 */
import {
  attributeValues,
  effectiveConnection,
  fingerprints,
  iceCredentials,
  isHoldAddress,
  mediaDirection,
  type SdpSetup,
  withoutAttributes,
} from './attributes.ts';
import type { Sdp, SdpMedia } from './types.ts';

export type MediaSecurityKind = 'sdes' | 'dtls' | 'plain' | 'unsupported';

export function mediaSecurityOf(sdp: Sdp, media: SdpMedia): MediaSecurityKind {
  switch (media.proto.toUpperCase()) {
    case 'RTP/SAVP':
    case 'RTP/SAVPF':
      return attributeValues(media.attributes, 'crypto').length > 0 ? 'sdes' : 'unsupported';
    case 'UDP/TLS/RTP/SAVP':
    case 'UDP/TLS/RTP/SAVPF':
      return fingerprints(sdp, media).length > 0 ? 'dtls' : 'unsupported';
    case 'RTP/AVP':
    case 'RTP/AVPF':
      return 'plain';
    default:
      return 'unsupported';
  }
}

/** True for an RTP feedback profile (…/AVPF, …/SAVPF, RFC 4585): the secure proto toward the client keeps the F. */
export function isFeedbackProfile(proto: string): boolean {
  return proto.toUpperCase().endsWith('F');
}

/**
 * RFC 4145 §4.1 / RFC 5763 §5: our DTLS role when the peer's offer says `setup`. actpass (what offerers must
 * send) and active make us the server (we answer passive); passive makes us the client (we answer active).
 * An absent attribute means active (RFC 4145 §4). holdconn: no connection, undefined.
 */
export function answerDtlsRole(peerSetup: SdpSetup | undefined): 'client' | 'server' | undefined {
  switch (peerSetup) {
    case undefined:
    case 'actpass':
    case 'active':
      return 'server';
    case 'passive':
      return 'client';
    case 'holdconn':
      return undefined;
  }
}

/** Our role when we offered actpass and the peer answered `setup` (answer active → we are the server). */
export function offerDtlsRole(answerSetup: SdpSetup | undefined): 'client' | 'server' | undefined {
  switch (answerSetup) {
    case undefined:
    case 'active':
      return 'server';
    case 'passive':
      return 'client';
    default:
      return undefined; // actpass is not a valid answer; holdconn: no connection
  }
}

/** The peer's a=fingerprint with SHA-256 (the hash the DTLS endpoint verifies), when present. */
export function sha256FingerprintOf(sdp: Sdp, media: SdpMedia): string | undefined {
  return fingerprints(sdp, media).find((f) => f.hashFunction === 'sha-256')?.value;
}

/** What Palisade writes toward a client for one secured section. */
export interface SecureMediaParams {
  proto: string;
  /** a=crypto value (tag suite inline:key) — a secret: the SDP that carries it must never be logged. */
  crypto?: string;
  /** Our certificate fingerprint ('AB:CD:...', SHA-256) and a=setup. */
  fingerprint?: string;
  setup?: SdpSetup;
  /** ICE-lite credentials and the one host candidate (the advertised relay address:port). */
  ice?: { ufrag: string; pwd: string; address: string; port: number };
  rtcpMux?: boolean;
}

/** Attributes that describe the other side's transport or keys, never passed across the border. */
const TRANSPORT_ATTRS = ['crypto', 'fingerprint', 'setup', 'tls-id', 'rtcp-mux', 'rtcp-mux-only', 'candidate', 'end-of-candidates'];
const ICE_ATTRS = ['ice-ufrag', 'ice-pwd', 'ice-options', 'ice-lite', 'ice-pacing', 'ice-mismatch', 'remote-candidates'];

/** Candidate priority of our only candidate (RFC 8445 §5.1.2.1: type preference 126 host, local preference 65535, component 1). */
const HOST_PRIORITY = (126 << 24) + (65535 << 8) + (256 - 1);

/**
 * Writes Palisade's security attributes into an (already rewritten, owned) media section: proto, a=crypto or
 * a=fingerprint/a=setup, ICE credentials and candidate, a=rtcp-mux. The other side's are removed first.
 * With rtcp-mux the a=rtcp line goes too (RTCP shares the port).
 */
export function applySecureParams(media: SdpMedia, p: SecureMediaParams): void {
  const attrs = withoutAttributes(media.attributes, [...TRANSPORT_ATTRS, ...ICE_ATTRS, ...(p.rtcpMux ? ['rtcp'] : [])]);
  media.proto = p.proto;
  if (p.crypto !== undefined) attrs.push({ name: 'crypto', value: p.crypto });
  if (p.fingerprint !== undefined) attrs.push({ name: 'fingerprint', value: `sha-256 ${p.fingerprint}` });
  if (p.setup !== undefined) attrs.push({ name: 'setup', value: p.setup });
  if (p.ice) {
    attrs.push({ name: 'ice-ufrag', value: p.ice.ufrag });
    attrs.push({ name: 'ice-pwd', value: p.ice.pwd });
    attrs.push({ name: 'candidate', value: `1 1 udp ${HOST_PRIORITY} ${p.ice.address} ${p.ice.port} typ host` });
    attrs.push({ name: 'end-of-candidates', value: undefined });
  }
  if (p.rtcpMux) attrs.push({ name: 'rtcp-mux', value: undefined });
  media.attributes = attrs;
}

/** Toward a plain-RTP peer (the PBX): RTP/AVP(F), no keys, no ICE, no rtcp-mux (RTCP on the advertised a=rtcp port). */
export function applyPlainParams(media: SdpMedia): void {
  media.attributes = withoutAttributes(media.attributes, [...TRANSPORT_ATTRS, ...ICE_ATTRS]);
  media.proto = 'RTP/AVP';
}

/** Session-level: a=ice-lite when any section carries our ICE credentials (RFC 8839 §5.3); BUNDLE groups go. */
export function applySessionIce(sdp: Sdp, iceLite: boolean): void {
  const attrs = withoutAttributes(sdp.attributes, ['ice-lite', 'ice-ufrag', 'ice-pwd', 'ice-options', 'fingerprint', 'setup', 'group']);
  if (iceLite) attrs.unshift({ name: 'ice-lite', value: undefined });
  sdp.attributes = attrs;
}

/**
 * On hold (RFC 3264 §8.4): every active section is sendonly, recvonly or inactive, or sits on an RFC 2543 hold
 * address. A call whose media stopped because it is held must not be ended for inactivity.
 */
export function isOnHold(sdp: Sdp): boolean {
  let active = 0;
  for (const m of sdp.media) {
    if (m.port === 0) continue;
    active++;
    const c = effectiveConnection(sdp, m);
    // With ICE, c=0.0.0.0 means "no default candidate yet" (RFC 8839 §4.2.1), not hold.
    const held = c !== undefined && isHoldAddress(c.address.split('/')[0] as string) && iceCredentials(sdp, m) === undefined;
    if (mediaDirection(sdp, m) === 'sendrecv' && !held) return false;
  }
  return active > 0;
}
