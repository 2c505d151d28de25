/**
 * Codec allow-list applied to SDP (DESIGN "Codec allow-list applied to SDP"). Pure: returns a new Sdp.
 */
import { encodingNameOf, fmtps, leadingPayloadType, rtpmaps } from './attributes.ts';
import type { Sdp, SdpAttribute, SdpMedia } from './types.ts';

export interface FilterResult {
  sdp: Sdp;
  /** True when no RTP media section keeps any allowed codec (there is nothing left to negotiate). */
  removedAll: boolean;
  /** Indexes of RTP sections that lost every format and were disabled (port 0). */
  disabledMedia: number[];
}

/** Attributes whose value starts with the payload type they describe. */
const PT_ATTRS = ['rtpmap', 'fmtp', 'rtcp-fb'];

/** Formats that only make sense beside a real codec (RFC 4733, RFC 3389, RFC 4588, RFC 2198, RFC 5109, RFC 8627). */
const AUXILIARY_ENCODINGS = ['telephone-event', 'cn', 'rtx', 'red', 'ulpfec', 'flexfec'];

function isRtpProto(proto: string): boolean {
  return proto.split('/').includes('RTP');
}

/** rtx/red/ulpfec reference other payload types in their fmtp ("apt=96", "111/111"). */
function referencedPayloadTypes(fmtp: string | undefined): number[] {
  if (fmtp === undefined) return [];
  const apt = /(?:^|;)\s*apt=([0-9]{1,3})/.exec(fmtp);
  if (apt) return [Number(apt[1])];
  if (/^[0-9]{1,3}(\/[0-9]{1,3})+$/.test(fmtp.trim())) return fmtp.trim().split('/').map(Number);
  return [];
}

/** A stream rejected as RFC 3264 §6 says: the m= line stays with port 0 and one format, without payload-type attributes. */
export function rejectedMedia(m: SdpMedia): SdpMedia {
  return {
    ...m,
    port: 0,
    portCount: undefined,
    formats: m.formats.slice(0, 1),
    attributes: m.attributes.filter((a) => !PT_ATTRS.includes(a.name.toLowerCase())),
  };
}

function filterMedia(m: SdpMedia, allowed: ReadonlySet<string>): { media: SdpMedia; empty: boolean } {
  const maps = rtpmaps(m);
  const fmtpOf = fmtps(m);
  const keep = new Set<number>();
  for (const f of m.formats) {
    const pt = Number(f);
    const name = encodingNameOf(m, pt, maps);
    if (name !== undefined && allowed.has(name.toLowerCase())) keep.add(pt);
  }
  // Associated formats (rtx, red, fec) only survive with every format they point at.
  for (const pt of [...keep]) {
    const refs = referencedPayloadTypes(fmtpOf.get(pt));
    if (refs.length > 0 && refs.some((r) => r !== pt && !keep.has(r))) keep.delete(pt);
  }
  // DTMF, comfort noise, retransmission and FEC alone carry no media: such a section is as good as empty.
  let primaries = 0;
  for (const pt of keep) {
    const name = encodingNameOf(m, pt, maps)?.toLowerCase();
    if (name !== undefined && !AUXILIARY_ENCODINGS.includes(name)) primaries++;
  }
  const empty = primaries === 0;
  if (empty) return { media: rejectedMedia(m), empty: true };
  const attributes: SdpAttribute[] = m.attributes.filter((a) => {
    if (!PT_ATTRS.includes(a.name.toLowerCase()) || a.value === undefined) return true;
    const pt = leadingPayloadType(a.value);
    return pt < 0 || keep.has(pt); // "a=rtcp-fb:* nack" has no payload type and stays
  });
  return { media: { ...m, formats: m.formats.filter((f) => keep.has(Number(f))), attributes }, empty: false };
}

/**
 * Removes payload types whose encoding name is not in `allowed` (case-insensitive, e.g. PCMU, PCMA, opus,
 * telephone-event) from RTP media sections, with their rtpmap, fmtp and rtcp-fb lines. Static payload types
 * are known without rtpmap; a dynamic one without rtpmap is unknown and removed. A section left with no
 * codec is disabled (port 0). Non-RTP sections (e.g. data channels) and sections already at port 0 are kept.
 */
export function filterCodecs(sdp: Sdp, allowed: readonly string[]): FilterResult {
  const allow = new Set(allowed.map((a) => a.toLowerCase()));
  let rtpSections = 0;
  let rtpKept = 0;
  const disabledMedia: number[] = [];
  const media = sdp.media.map((m, i) => {
    if (!isRtpProto(m.proto) || m.port === 0) return m;
    rtpSections++;
    const r = filterMedia(m, allow);
    if (r.empty) disabledMedia.push(i);
    else rtpKept++;
    return r.media;
  });
  return { sdp: { ...sdp, media }, removedAll: rtpSections > 0 && rtpKept === 0, disabledMedia };
}
