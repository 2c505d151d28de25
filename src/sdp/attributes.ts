/**
 * Typed views over the SDP attributes Palisade acts on. All parsers here are total (undefined on bad input)
 * and never mutate; functions that "change" attributes return new arrays.
 */
import type { Sdp, SdpAttribute, SdpConnection, SdpMedia } from './types.ts';

/** Attribute names compared case-insensitively: peers are not consistent and nothing is lost by it. */
function sameName(a: string, b: string): boolean {
  return a.length === b.length && a.toLowerCase() === b.toLowerCase();
}

export function findAttribute(attrs: readonly SdpAttribute[], name: string): SdpAttribute | undefined {
  for (const a of attrs) if (sameName(a.name, name)) return a;
  return undefined;
}

export function attributeValues(attrs: readonly SdpAttribute[], name: string): string[] {
  const out: string[] = [];
  for (const a of attrs) if (sameName(a.name, name) && a.value !== undefined) out.push(a.value);
  return out;
}

export function hasAttribute(attrs: readonly SdpAttribute[], name: string): boolean {
  return findAttribute(attrs, name) !== undefined;
}

export function withoutAttributes(attrs: readonly SdpAttribute[], names: readonly string[]): SdpAttribute[] {
  const lower = names.map((n) => n.toLowerCase());
  return attrs.filter((a) => !lower.includes(a.name.toLowerCase()));
}

// ---------------------------------------------------------------------------------------------------------
// rtpmap / fmtp (RFC 8866 §6.6, §6.15)

export interface Rtpmap {
  payloadType: number;
  encodingName: string;
  clockRate: number;
  /** Encoding parameters (channel count for audio), as written. */
  encodingParams: string | undefined;
}

/** "<payload type> <encoding name>/<clock rate>[/<encoding parameters>]" */
export function parseRtpmap(value: string): Rtpmap | undefined {
  const m = /^([0-9]{1,3}) ([^/ ]+)\/([0-9]{1,10})(?:\/([^ ]+))?$/.exec(value.trim());
  if (!m) return undefined;
  const payloadType = Number(m[1]);
  if (payloadType > 127) return undefined;
  return {
    payloadType,
    encodingName: m[2] as string,
    clockRate: Number(m[3]),
    encodingParams: m[4],
  };
}

export function rtpmaps(media: SdpMedia): Map<number, Rtpmap> {
  const out = new Map<number, Rtpmap>();
  for (const v of attributeValues(media.attributes, 'rtpmap')) {
    const r = parseRtpmap(v);
    if (r && !out.has(r.payloadType)) out.set(r.payloadType, r);
  }
  return out;
}

/** Payload type of an attribute value that starts with one ("96 ...", as in fmtp and rtcp-fb); -1 if none. */
export function leadingPayloadType(value: string): number {
  const m = /^([0-9]{1,3})(?: |$)/.exec(value);
  if (!m) return -1;
  const pt = Number(m[1]);
  return pt <= 127 ? pt : -1;
}

/** fmtp parameters by payload type ("a=fmtp:101 0-16" → 101 → "0-16"). */
export function fmtps(media: SdpMedia): Map<number, string> {
  const out = new Map<number, string>();
  for (const v of attributeValues(media.attributes, 'fmtp')) {
    const pt = leadingPayloadType(v);
    if (pt < 0 || out.has(pt)) continue;
    const sp = v.indexOf(' ');
    out.set(pt, sp < 0 ? '' : v.slice(sp + 1));
  }
  return out;
}

/** RFC 3551 §6 table 4/5: static payload types usable without a=rtpmap. */
export const STATIC_PAYLOAD_TYPES: ReadonlyMap<number, { encodingName: string; clockRate: number }> = new Map([
  [0, { encodingName: 'PCMU', clockRate: 8000 }],
  [3, { encodingName: 'GSM', clockRate: 8000 }],
  [4, { encodingName: 'G723', clockRate: 8000 }],
  [5, { encodingName: 'DVI4', clockRate: 8000 }],
  [6, { encodingName: 'DVI4', clockRate: 16000 }],
  [7, { encodingName: 'LPC', clockRate: 8000 }],
  [8, { encodingName: 'PCMA', clockRate: 8000 }],
  [9, { encodingName: 'G722', clockRate: 8000 }],
  [10, { encodingName: 'L16', clockRate: 44100 }],
  [11, { encodingName: 'L16', clockRate: 44100 }],
  [12, { encodingName: 'QCELP', clockRate: 8000 }],
  [13, { encodingName: 'CN', clockRate: 8000 }],
  [14, { encodingName: 'MPA', clockRate: 90000 }],
  [15, { encodingName: 'G728', clockRate: 8000 }],
  [16, { encodingName: 'DVI4', clockRate: 11025 }],
  [17, { encodingName: 'DVI4', clockRate: 22050 }],
  [18, { encodingName: 'G729', clockRate: 8000 }],
  [25, { encodingName: 'CelB', clockRate: 90000 }],
  [26, { encodingName: 'JPEG', clockRate: 90000 }],
  [28, { encodingName: 'nv', clockRate: 90000 }],
  [31, { encodingName: 'H261', clockRate: 90000 }],
  [32, { encodingName: 'MPV', clockRate: 90000 }],
  [33, { encodingName: 'MP2T', clockRate: 90000 }],
  [34, { encodingName: 'H263', clockRate: 90000 }],
]);

/** Encoding name of a payload type in a media section: its rtpmap, else the static table, else undefined. */
export function encodingNameOf(media: SdpMedia, payloadType: number, maps = rtpmaps(media)): string | undefined {
  return maps.get(payloadType)?.encodingName ?? STATIC_PAYLOAD_TYPES.get(payloadType)?.encodingName;
}

// ---------------------------------------------------------------------------------------------------------
// crypto (RFC 4568 §9.1): a=crypto:<tag> <crypto-suite> <key-params> [<session-param>]*

export interface CryptoKeyParam {
  method: string;
  /** base64 key||salt. A secret: never log it. */
  keySalt: string;
  lifetime: string | undefined;
  mki: string | undefined;
}

export interface SdpCrypto {
  tag: number;
  suite: string;
  keyParams: CryptoKeyParam[];
  sessionParams: string[];
}

export function parseCrypto(value: string): SdpCrypto | undefined {
  const f = value.split(' ').filter((x) => x.length > 0);
  if (f.length < 3) return undefined;
  const [tagS, suite, keyParamsS] = f as [string, string, string];
  if (!/^[0-9]{1,9}$/.test(tagS) || !/^[A-Za-z0-9_]+$/.test(suite)) return undefined;
  const keyParams: CryptoKeyParam[] = [];
  for (const kp of keyParamsS.split(';')) {
    const c = kp.indexOf(':');
    if (c <= 0) return undefined;
    const method = kp.slice(0, c);
    const [keySalt, ...rest] = kp.slice(c + 1).split('|');
    if (!keySalt || !/^[A-Za-z0-9+/=]+$/.test(keySalt) || rest.length > 2) return undefined;
    let lifetime: string | undefined;
    let mki: string | undefined;
    for (const r of rest) {
      if (r.includes(':')) mki = r;
      else lifetime = r;
    }
    keyParams.push({ method, keySalt, lifetime, mki });
  }
  return { tag: Number(tagS), suite, keyParams, sessionParams: f.slice(3) };
}

export function cryptos(media: SdpMedia): SdpCrypto[] {
  const out: SdpCrypto[] = [];
  for (const v of attributeValues(media.attributes, 'crypto')) {
    const c = parseCrypto(v);
    if (c) out.push(c);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// DTLS: fingerprint (RFC 8122 §5), setup (RFC 4145 §4)

export interface SdpFingerprint {
  /** Lower-cased hash function name, e.g. "sha-256". */
  hashFunction: string;
  /** Upper-case hex pairs separated by colons, as on the wire. */
  value: string;
}

export function parseFingerprint(value: string): SdpFingerprint | undefined {
  const m = /^([A-Za-z0-9-]+) ((?:[0-9A-Fa-f]{2}:)*[0-9A-Fa-f]{2})$/.exec(value.trim());
  if (!m) return undefined;
  return { hashFunction: (m[1] as string).toLowerCase(), value: (m[2] as string).toUpperCase() };
}

/** Media-level fingerprints, else session-level ones (RFC 8122 §5). */
export function fingerprints(sdp: Sdp, media: SdpMedia): SdpFingerprint[] {
  let vals = attributeValues(media.attributes, 'fingerprint');
  if (vals.length === 0) vals = attributeValues(sdp.attributes, 'fingerprint');
  const out: SdpFingerprint[] = [];
  for (const v of vals) {
    const f = parseFingerprint(v);
    if (f) out.push(f);
  }
  return out;
}

export type SdpSetup = 'active' | 'passive' | 'actpass' | 'holdconn';

export function setupOf(sdp: Sdp, media: SdpMedia): SdpSetup | undefined {
  const v = (findAttribute(media.attributes, 'setup') ?? findAttribute(sdp.attributes, 'setup'))?.value;
  switch (v?.trim().toLowerCase()) {
    case 'active':
      return 'active';
    case 'passive':
      return 'passive';
    case 'actpass':
      return 'actpass';
    case 'holdconn':
      return 'holdconn';
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// ICE (RFC 8839)

export interface IceCredentials {
  ufrag: string;
  /** A secret: never log it. */
  pwd: string;
}

/** Media-level ice-ufrag/ice-pwd, else session-level (RFC 8839 §5.4). */
export function iceCredentials(sdp: Sdp, media: SdpMedia): IceCredentials | undefined {
  const ufrag = (findAttribute(media.attributes, 'ice-ufrag') ?? findAttribute(sdp.attributes, 'ice-ufrag'))?.value;
  const pwd = (findAttribute(media.attributes, 'ice-pwd') ?? findAttribute(sdp.attributes, 'ice-pwd'))?.value;
  if (!ufrag || !pwd) return undefined;
  return { ufrag, pwd };
}

export interface SdpCandidate {
  foundation: string;
  component: number;
  transport: string;
  priority: number;
  address: string;
  port: number;
  type: string;
  relatedAddress: string | undefined;
  relatedPort: number | undefined;
  /** Extension name/value pairs after the standard fields, in order. */
  extensions: [string, string][];
}

/** "<foundation> <component-id> <transport> <priority> <address> <port> typ <type> [raddr x] [rport y] *(ext val)" */
export function parseCandidate(value: string): SdpCandidate | undefined {
  const f = value.split(' ').filter((x) => x.length > 0);
  if (f.length < 8 || f[6] !== 'typ' || f.length % 2 !== 0) return undefined;
  const component = Number(f[1]);
  const priority = Number(f[3]);
  const port = Number(f[5]);
  if (!/^[0-9]{1,3}$/.test(f[1] as string) || !/^[0-9]{1,10}$/.test(f[3] as string)) return undefined;
  if (!/^[0-9]{1,5}$/.test(f[5] as string) || port > 65535) return undefined;
  let relatedAddress: string | undefined;
  let relatedPort: number | undefined;
  const extensions: [string, string][] = [];
  for (let i = 8; i + 1 < f.length; i += 2) {
    const k = f[i] as string;
    const v = f[i + 1] as string;
    if (k === 'raddr') relatedAddress = v;
    else if (k === 'rport' && /^[0-9]{1,5}$/.test(v)) relatedPort = Number(v);
    else extensions.push([k, v]);
  }
  return {
    foundation: f[0] as string,
    component,
    transport: f[2] as string,
    priority,
    address: f[4] as string,
    port,
    type: f[7] as string,
    relatedAddress,
    relatedPort,
    extensions,
  };
}

export function candidates(media: SdpMedia): SdpCandidate[] {
  const out: SdpCandidate[] = [];
  for (const v of attributeValues(media.attributes, 'candidate')) {
    const c = parseCandidate(v);
    if (c) out.push(c);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// RTCP (RFC 3605) and rtcp-mux (RFC 5761)

export interface SdpRtcp {
  port: number;
  connection: SdpConnection | undefined;
}

export function parseRtcp(value: string): SdpRtcp | undefined {
  const f = value.split(' ').filter((x) => x.length > 0);
  if (f.length !== 1 && f.length !== 4) return undefined;
  if (!/^[0-9]{1,5}$/.test(f[0] as string)) return undefined;
  const port = Number(f[0]);
  if (port > 65535) return undefined;
  if (f.length === 1) return { port, connection: undefined };
  return { port, connection: { netType: f[1] as string, addrType: f[2] as string, address: f[3] as string } };
}

export function rtcpOf(media: SdpMedia): SdpRtcp | undefined {
  const a = findAttribute(media.attributes, 'rtcp');
  return a?.value === undefined ? undefined : parseRtcp(a.value);
}

export function hasRtcpMux(media: SdpMedia): boolean {
  return hasAttribute(media.attributes, 'rtcp-mux');
}

// ---------------------------------------------------------------------------------------------------------
// Direction (RFC 3264 §5.1, §8.4) and hold

export type SdpDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export const SDP_DIRECTIONS: readonly SdpDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

function directionIn(attrs: readonly SdpAttribute[]): SdpDirection | undefined {
  for (const a of attrs) {
    if (a.value !== undefined) continue;
    const n = a.name.toLowerCase();
    if ((SDP_DIRECTIONS as readonly string[]).includes(n)) return n as SdpDirection;
  }
  return undefined;
}

/** Session-level direction attribute, undefined when absent. */
export function sessionDirection(sdp: Sdp): SdpDirection | undefined {
  return directionIn(sdp.attributes);
}

/** Media-level direction, else session-level, else sendrecv (RFC 3264 §5.1). */
export function mediaDirection(sdp: Sdp, media: SdpMedia): SdpDirection {
  return directionIn(media.attributes) ?? directionIn(sdp.attributes) ?? 'sendrecv';
}

/** Attributes with any direction attribute replaced by `dir` (appended when there was none). */
export function withDirection(attrs: readonly SdpAttribute[], dir: SdpDirection): SdpAttribute[] {
  const out = attrs.filter((a) => !(a.value === undefined && SDP_DIRECTIONS.includes(a.name.toLowerCase() as SdpDirection)));
  out.push({ name: dir, value: undefined });
  return out;
}

/** RFC 2543 style hold: connection address 0.0.0.0 (or :: for IPv6). */
export function isHoldAddress(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** Media-level c= else session-level c=. */
export function effectiveConnection(sdp: Sdp, media: SdpMedia): SdpConnection | undefined {
  return media.connection ?? sdp.connection;
}

/** Where a side says it receives media for one m= section (structurally a media/control MediaEndpoint). */
export interface SdpMediaEndpoint {
  address: string;
  port: number;
  rtcpPort?: number;
  rtcpMux?: boolean;
  /** RTP profiles: the m= formats as numbers (the payload types this side may use). */
  payloadTypes?: number[];
}

/**
 * The receive endpoint a side signalled for media section `index`, or null when it receives nothing there:
 * section absent, port 0 (rejected/removed, RFC 3264 §8.2), no usable connection address, or an RFC 2543
 * hold address. The proxy hands this straight to MediaControl.update.
 */
export function mediaEndpointOf(sdp: Sdp, index: number): SdpMediaEndpoint | null {
  const media = sdp.media[index];
  if (!media || media.port === 0) return null;
  const c = effectiveConnection(sdp, media);
  if (!c) return null;
  const slash = c.address.indexOf('/');
  const address = slash < 0 ? c.address : c.address.slice(0, slash);
  if (isHoldAddress(address)) return null;
  const ep: SdpMediaEndpoint = { address, port: media.port };
  if (hasRtcpMux(media)) ep.rtcpMux = true;
  const rtcp = rtcpOf(media);
  if (rtcp && !ep.rtcpMux) ep.rtcpPort = rtcp.port;
  if (media.proto.split('/').includes('RTP')) ep.payloadTypes = media.formats.map(Number);
  return ep;
}
