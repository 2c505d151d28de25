/**
 * Media anchoring as the proxy sees it: allocate relay ports when a call's first SDP arrives, tell the relay
 * where each side receives, and rewrite every SDP so its receiver sends to Palisade (RFC 3264 offer/answer,
 * both directions, re-INVITE/UPDATE included). The relay itself sits behind MediaControl.
 *
 * Security toward clients (DESIGN "Media path"): per media section, from the client's SDP —
 *   RTP/SAVP(F) + a=crypto            → SDES, accepted only when the client's signalling came over TLS or WSS
 *   UDP/TLS/RTP/SAVP(F) + a=fingerprint → DTLS-SRTP (+ ICE-lite when the client sent a=ice-ufrag)
 *   RTP/AVP(F)                        → plain, only from sources in media.plainAllowedFrom
 * anything else is refused with 488. Palisade answers with its own key (fresh per leg) or its own certificate
 * fingerprint, ICE-lite credentials and a host candidate; the PBX always sees plain RTP/AVP. When the PBX calls a
 * client, Palisade offers SDES to a TLS client and DTLS-SRTP (+ICE) to a WSS client (browsers need DTLS).
 *
 * Offer or answer: RFC 3264 alternates, so an SDP is an answer when an offer from the other side is pending.
 * A body identical to the previous one from the same side (183 then 200, retransmissions) gets the same output.
 *
 * Inactivity (media.inactivityTimeout): a periodic check compares each established call's relayed packet count;
 * a call whose media stopped both ways for that long (and is not on hold) is ended through bindTerminate.
 * SDP bodies carry keys: they are never logged here.
 */
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { MediaControl, MediaSessionHandle, PublicSecurity, SrtpKeyPair } from '../media/control.ts';
import { generateIceCredentials } from '../media/ice-lite.ts';
import { formatCryptoAttribute, generateKeyMaterial, parseCryptoAttribute, type SrtpProfileName } from '../media/srtp/index.ts';
import {
  answerDtlsRole,
  applyPlainParams,
  applySecureParams,
  applySessionIce,
  attributeValues,
  filterCodecs,
  findAttribute,
  hasRtcpMux,
  iceCredentials,
  isFeedbackProfile,
  isOnHold,
  type MediaSecurityKind,
  mediaEndpointOf,
  mediaSecurityOf,
  offerDtlsRole,
  parseSdp,
  type RelayTarget,
  rejectedMedia,
  rewriteForRelay,
  type Sdp,
  type SecureMediaParams,
  serializeSdp,
  setupOf,
  sha256FingerprintOf,
} from '../sdp/index.ts';
import type { Call, Side } from './calls.ts';
import type { MediaHook } from './types.ts';

/** Anything that answers "is this address in the set" (security/cidr CidrSet). */
export interface AddressMatcher {
  has(address: string): boolean;
}

export interface MediaAnchorOptions {
  /** Address written into SDP sent to clients. */
  readonly publicAdvertise: string;
  /** Address written into SDP sent to the PBX. */
  readonly pbxAdvertise: string;
  /**
   * media.plainAllowedFrom: clients (by signalling source) that may use plain RTP. When given, SRTP is mandatory
   * for everyone else (488). Undefined: plain RTP is accepted from every client (SRTP is still terminated when offered).
   */
  readonly plainAllowedFrom?: AddressMatcher;
  /** media.codecs and media.video, read per offer (a reload applies to the next offer). */
  readonly offerPolicy?: () => { readonly codecs?: readonly string[] | undefined; readonly video: 'pass' | 'refuse' };
  /** media.inactivityTimeout in ms; 0 or undefined: no inactivity check. */
  readonly inactivityTimeoutMs?: number;
  /** How often the inactivity check runs; default a quarter of the timeout, at most 5 s. */
  readonly inactivityCheckMs?: number;
  readonly clock?: Clock;
}

/** The hook plus a close() that stops the inactivity timer. */
export interface MediaAnchor extends MediaHook {
  close(): void;
  /**
   * media.inactivityTimeout changed (reload; 0 turns the check off). Quiet time counts from now for every call, so
   * a shorter timeout never hangs up a batch of calls the moment it is applied.
   */
  setInactivityTimeout(ms: number): void;
  /** Runs the inactivity check now (tests; the timer calls it). */
  checkInactivity(): void;
}

type Refusal = { ok: false; status: number; reason: string };

/** One media section's security toward the client. */
interface StreamSecurity {
  kind: 'plain' | 'sdes' | 'dtls';
  /** m= proto toward the client. */
  proto: string;
  sdesProfile?: SrtpProfileName;
  sdesTag?: number;
  local?: SrtpKeyPair;
  remote?: SrtpKeyPair;
  /** DTLS: our role once known, the client's SHA-256 fingerprint once known. */
  role?: 'client' | 'server';
  remoteFingerprint?: string;
  ice?: { ufrag: string; pwd: string };
  remoteUfrag?: string;
  /** The client's side multiplexes RTCP (answers echo it; our DTLS offers ask for it). */
  rtcpMux: boolean;
  /** The client's a=mid (RFC 8843 §5.1 / JSEP: an answer echoes it; the PBX's answer has none). */
  mid?: string;
}

interface CallMedia {
  handle: MediaSessionHandle | undefined;
  pending: Promise<boolean> | undefined;
  streams: Array<StreamSecurity | undefined>;
  /** The side whose offer awaits an answer. */
  offerFrom: Side | undefined;
  /** The client's last offer grouped its sections with BUNDLE (browsers with bundlePolicy max-bundle). */
  clientBundle: boolean;
  lastIn: { public: Buffer | undefined; pbx: Buffer | undefined };
  lastOut: { public: Buffer | undefined; pbx: Buffer | undefined };
  lastWasOffer: { public: boolean; pbx: boolean };
  hold: { public: boolean; pbx: boolean };
  relayed: number;
  quietSince: number;
}

const SDES_OFFER_PROFILE: SrtpProfileName = 'AES_CM_128_HMAC_SHA1_80';
const SECURE_SIGNALLING = new Set(['tls', 'wss']);
const MAX_CHECK_INTERVAL_MS = 5000;

function isSdp(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.split(';')[0]?.trim().toLowerCase() === 'application/sdp';
}

function refuse(status: number, reason: string): Refusal {
  return { ok: false, status, reason };
}

function newCallMedia(): CallMedia {
  return {
    handle: undefined,
    pending: undefined,
    streams: [],
    offerFrom: undefined,
    clientBundle: false,
    lastIn: { public: undefined, pbx: undefined },
    lastOut: { public: undefined, pbx: undefined },
    lastWasOffer: { public: false, pbx: false },
    hold: { public: false, pbx: false },
    relayed: 0,
    quietSince: 0,
  };
}

function cryptoLine(st: StreamSecurity): string | undefined {
  if (st.kind !== 'sdes' || !st.local || st.sdesProfile === undefined || st.sdesTag === undefined) return undefined;
  return formatCryptoAttribute(st.sdesTag, st.sdesProfile, st.local.masterKey, st.local.masterSalt);
}

/** The first a=crypto line (in the offerer's preference order) we support, or, with `tag`, the one with that tag. */
function pickCrypto(values: readonly string[], tag?: number, profile?: SrtpProfileName) {
  for (const v of values) {
    const c = parseCryptoAttribute(v);
    if (!c.ok) continue;
    if (tag !== undefined && (c.value.tag !== tag || c.value.profile !== profile)) continue;
    return c.value;
  }
  return undefined;
}

export function createMediaAnchor(control: MediaControl, opts: MediaAnchorOptions): MediaAnchor {
  const advertise = (side: Side): string => (side === 'public' ? opts.publicAdvertise : opts.pbxAdvertise);
  const tracked = new Set<Call>();
  let terminate: ((call: Call, reason: string) => void) | undefined;
  let timer: TimerHandle | undefined;
  let timeoutMs = opts.inactivityTimeoutMs ?? 0;
  const clock = opts.clock;
  const checkEvery = (t: number): number => opts.inactivityCheckMs ?? Math.min(MAX_CHECK_INTERVAL_MS, Math.max(10, Math.floor(t / 4)));

  const plainAllowed = (call: Call): boolean =>
    opts.plainAllowedFrom === undefined || opts.plainAllowedFrom.has(call.legs.public.flow.address);

  const securityOf = (st: StreamSecurity): PublicSecurity | null => {
    if (st.kind === 'plain') return null;
    const ice = st.ice
      ? { localUfrag: st.ice.ufrag, localPwd: st.ice.pwd, ...(st.remoteUfrag ? { remoteUfrag: st.remoteUfrag } : {}) }
      : undefined;
    if (st.kind === 'sdes') {
      if (!st.local || st.sdesProfile === undefined) return null;
      return { sdes: { profile: st.sdesProfile, tx: st.local, ...(st.remote ? { rx: st.remote } : {}) }, ...(ice ? { ice } : {}) };
    }
    const dtls =
      st.role && st.remoteFingerprint
        ? { role: st.role, remoteFingerprint: { algorithm: 'sha-256', value: st.remoteFingerprint } }
        : undefined;
    return { ...(dtls ? { dtls } : {}), ...(ice ? { ice } : {}) };
  };

  /** The client offered (INVITE/re-INVITE from the public side): decide each section, or refuse the offer. */
  const clientOffer = (call: Call, cm: CallMedia, sdp: Sdp): Refusal | undefined => {
    const transport = call.legs.public.flow.transport;
    cm.clientBundle = sdp.attributes.some((a) => a.name === 'group' && a.value?.startsWith('BUNDLE ') === true);
    for (let i = 0; i < sdp.media.length; i++) {
      const m = sdp.media[i];
      if (!m || m.port === 0) continue;
      const kind: MediaSecurityKind = mediaSecurityOf(sdp, m);
      const prev = cm.streams[i];
      const mux = hasRtcpMux(m);
      switch (kind) {
        case 'sdes': {
          if (!SECURE_SIGNALLING.has(transport)) return refuse(488, 'SDES Requires TLS');
          const c = pickCrypto(attributeValues(m.attributes, 'crypto'));
          if (!c) return refuse(488, 'No Acceptable Crypto');
          // Our key stays across re-offers: a new context on the same key would restart its packet index.
          const kept = prev?.kind === 'sdes' && prev.sdesProfile === c.profile ? prev.local : undefined;
          cm.streams[i] = {
            kind: 'sdes',
            proto: m.proto,
            sdesProfile: c.profile,
            sdesTag: c.tag,
            local: kept ?? generateKeyMaterial(c.profile),
            remote: { masterKey: c.masterKey, masterSalt: c.masterSalt, ...(c.lifetime !== null ? { lifetime: c.lifetime } : {}) },
            rtcpMux: mux,
          };
          break;
        }
        case 'dtls': {
          if (control.dtlsFingerprint() === undefined) return refuse(488, 'DTLS-SRTP Not Available');
          const fp = sha256FingerprintOf(sdp, m);
          const role = answerDtlsRole(setupOf(sdp, m));
          if (!fp || !role) return refuse(488, 'Unusable DTLS Parameters');
          const ice = iceCredentials(sdp, m);
          cm.streams[i] = {
            kind: 'dtls',
            proto: m.proto,
            role,
            remoteFingerprint: fp,
            ...(ice ? { ice: prev?.ice ?? newIce(), remoteUfrag: ice.ufrag } : {}),
            rtcpMux: mux,
          };
          break;
        }
        case 'plain':
          if (!plainAllowed(call)) return refuse(488, 'Not Acceptable Here');
          cm.streams[i] = { kind: 'plain', proto: m.proto, rtcpMux: mux };
          break;
        case 'unsupported':
          // m=application (data channels) and the like: not relayed, the section is disabled toward the PBX.
          if (m.type === 'audio' || m.type === 'video') return refuse(488, 'Not Acceptable Here');
          cm.streams[i] = undefined;
          break;
      }
      const mid = findAttribute(m.attributes, 'mid')?.value;
      const st = cm.streams[i];
      if (st && mid !== undefined) st.mid = mid;
    }
    return undefined;
  };

  /** The client answered our offer: take its key / fingerprint / role / ICE ufrag. */
  const clientAnswer = (cm: CallMedia, sdp: Sdp): Refusal | undefined => {
    for (let i = 0; i < sdp.media.length; i++) {
      const m = sdp.media[i];
      const st = cm.streams[i];
      if (!m || !st || m.port === 0) continue;
      st.rtcpMux = hasRtcpMux(m);
      if (st.kind === 'sdes') {
        const c = pickCrypto(attributeValues(m.attributes, 'crypto'), st.sdesTag, st.sdesProfile);
        if (!c) return refuse(488, 'No Acceptable Crypto');
        st.remote = { masterKey: c.masterKey, masterSalt: c.masterSalt, ...(c.lifetime !== null ? { lifetime: c.lifetime } : {}) };
      } else if (st.kind === 'dtls') {
        const fp = sha256FingerprintOf(sdp, m);
        const role = offerDtlsRole(setupOf(sdp, m));
        if (!fp || !role) return refuse(488, 'Unusable DTLS Parameters');
        st.remoteFingerprint = fp;
        st.role = role;
        const ice = iceCredentials(sdp, m);
        if (ice) st.remoteUfrag = ice.ufrag;
      } else if (mediaSecurityOf(sdp, m) !== 'plain') {
        return refuse(488, 'Not Acceptable Here');
      }
    }
    return undefined;
  };

  /** The PBX offers toward the client: keep each section's mechanism, or choose one by the client's signalling. */
  const pbxOffer = (call: Call, cm: CallMedia, sdp: Sdp): Refusal | undefined => {
    const transport = call.legs.public.flow.transport;
    for (let i = 0; i < sdp.media.length; i++) {
      const m = sdp.media[i];
      if (!m || m.port === 0) continue;
      const prev = cm.streams[i];
      if (prev) continue; // a re-offer keeps the mechanism (same key, same DTLS session)
      const feedback = isFeedbackProfile(m.proto);
      if (transport === 'wss' && control.dtlsFingerprint() !== undefined) {
        cm.streams[i] = { kind: 'dtls', proto: 'UDP/TLS/RTP/SAVPF', ice: newIce(), rtcpMux: true };
      } else if (SECURE_SIGNALLING.has(transport)) {
        cm.streams[i] = {
          kind: 'sdes',
          proto: feedback ? 'RTP/SAVPF' : 'RTP/SAVP',
          sdesProfile: SDES_OFFER_PROFILE,
          sdesTag: 1,
          local: generateKeyMaterial(SDES_OFFER_PROFILE),
          rtcpMux: false,
        };
      } else if (plainAllowed(call)) {
        cm.streams[i] = { kind: 'plain', proto: m.proto, rtcpMux: false };
      } else {
        return refuse(488, 'Client Cannot Do SRTP');
      }
    }
    return undefined;
  };

  const paramsToward = (st: StreamSecurity, port: number, offering: boolean): SecureMediaParams => {
    const p: SecureMediaParams = { proto: st.proto, rtcpMux: st.rtcpMux };
    if (st.kind === 'sdes') {
      const line = cryptoLine(st);
      if (line !== undefined) p.crypto = line;
    } else if (st.kind === 'dtls') {
      const fp = control.dtlsFingerprint();
      if (fp !== undefined) p.fingerprint = fp;
      p.setup = offering ? 'actpass' : st.role === 'client' ? 'active' : 'passive';
      if (st.ice) p.ice = { ufrag: st.ice.ufrag, pwd: st.ice.pwd, address: opts.publicAdvertise, port };
    }
    return p;
  };

  const rewrite = (call: Call, from: Side, body: Buffer, contentType: string | undefined) => {
    if (!isSdp(contentType)) {
      // Non-SDP bodies (DTMF relay INFO, MESSAGE text, NOTIFY bodies) pass as they are.
      return { ok: true as const, body };
    }
    const cm = call.media as CallMedia | undefined;
    const handle = cm?.handle;
    const cached = cm && handle && cm.lastIn[from]?.equals(body) ? cm.lastOut[from] : undefined;
    if (cm && cached) {
      // The same SDP again (183 then 200, a retransmission, a refresh re-INVITE): same role, same output.
      if (cm.lastWasOffer[from]) cm.offerFrom = from;
      else if (cm.offerFrom !== from) cm.offerFrom = undefined;
      return { ok: true as const, body: cached };
    }
    const parsed = parseSdp(body);
    if (!parsed.ok) return refuse(400, 'Bad SDP');
    if (!cm || !handle) return refuse(503, 'No Media Ports');
    let sdp = parsed.value;
    if (sdp.media.length > handle.mediaCount) return refuse(488, 'Too Many Media Streams');
    const to: Side = from === 'public' ? 'pbx' : 'public';
    const offering = cm.offerFrom === undefined || cm.offerFrom === from;
    if (offering && opts.offerPolicy) {
      // Policy shapes offers only: an answer can hold no more than the (filtered) offer it answers (RFC 3264 §6).
      const p = opts.offerPolicy();
      if (p.video === 'refuse') sdp = withoutVideo(sdp);
      if (p.codecs !== undefined) {
        const f = filterCodecs(sdp, p.codecs);
        if (f.removedAll) return refuse(488, 'No Common Codec');
        sdp = f.sdp;
      }
    }

    const refused =
      from === 'public' ? (offering ? clientOffer(call, cm, sdp) : clientAnswer(cm, sdp)) : offering ? pbxOffer(call, cm, sdp) : undefined;
    if (refused) return refused;
    cm.offerFrom = offering ? from : undefined;
    cm.hold[from] = isOnHold(sdp);

    const targets: Array<RelayTarget | null> = [];
    for (let i = 0; i < sdp.media.length; i++) {
      const m = sdp.media[i];
      const ep = mediaEndpointOf(sdp, i);
      const st = cm.streams[i];
      if (from === 'public' && st && st.kind !== 'plain') {
        const sec = securityOf(st);
        if (sec) control.secure(handle, i, sec);
      } else if (from === 'public' && st?.kind === 'plain') {
        control.secure(handle, i, null);
      }
      control.update(handle, from, i, ep);
      if (from === 'pbx' && st && st.kind !== 'plain') {
        // Our offer toward the client: ICE and our key work before its answer arrives.
        const sec = securityOf(st);
        if (sec) control.secure(handle, i, sec);
      }
      const leg = handle.legs[i]?.[to];
      if (!leg || !m || m.port === 0 || !st) {
        targets.push(null);
        continue;
      }
      const secure = st !== undefined && st.kind !== 'plain';
      const mux = secure ? to === 'public' && st.rtcpMux : ep?.rtcpMux === true;
      targets.push(
        mux
          ? { address: advertise(to), port: leg.localPort }
          : { address: advertise(to), port: leg.localPort, rtcpPort: leg.localRtcpPort },
      );
    }
    const out = rewriteForRelay(sdp, targets, {
      originAddress: advertise(to),
      sessionVersionBump: false,
      removeIce: true,
      removeCrypto: true,
      removeFingerprint: true,
    });
    let ice = false;
    for (let i = 0; i < out.media.length; i++) {
      const m = out.media[i];
      const st = cm.streams[i];
      if (!m || m.port === 0 || !st || st.kind === 'plain') continue;
      if (to === 'pbx') applyPlainParams(m);
      else {
        const p = paramsToward(st, m.port, offering);
        if (p.ice) ice = true;
        applySecureParams(m, p);
      }
    }
    applySessionIce(out, ice);
    if (to === 'public' && !offering) echoMids(out, cm);
    const outBody = Buffer.from(serializeSdp(out), 'latin1');
    cm.lastIn[from] = body;
    cm.lastOut[from] = outBody;
    cm.lastWasOffer[from] = offering;
    return { ok: true as const, body: outBody };
  };

  const checkInactivity = (): void => {
    if (!terminate || timeoutMs <= 0 || !clock) return;
    const now = clock.now();
    for (const call of [...tracked]) {
      const cm = call.media as CallMedia | undefined;
      if (!cm?.handle || call.state === 'terminated') {
        tracked.delete(call);
        continue;
      }
      const s = control.stats(cm.handle);
      const relayed = s.fromPublic.packetsOut + s.fromPbx.packetsOut;
      if (relayed !== cm.relayed || call.state !== 'confirmed' || cm.hold.public || cm.hold.pbx) {
        cm.relayed = relayed;
        cm.quietSince = now;
        continue;
      }
      if (now - cm.quietSince >= timeoutMs) {
        tracked.delete(call);
        terminate(call, 'media-timeout');
      }
    }
  };

  if (timeoutMs > 0 && clock) timer = startTimer(clock, checkEvery(timeoutMs), checkInactivity);

  const setInactivityTimeout = (ms: number): void => {
    const next = Math.max(0, ms);
    if (next === timeoutMs) return;
    timer?.cancel();
    timer = undefined;
    timeoutMs = next;
    if (!clock) return;
    const now = clock.now();
    for (const call of tracked) {
      const cm = call.media as CallMedia | undefined;
      if (cm) cm.quietSince = now;
    }
    if (timeoutMs > 0) timer = startTimer(clock, checkEvery(timeoutMs), checkInactivity);
  };

  return {
    prepare(call: Call, body: Buffer, contentType: string | undefined): Promise<boolean> | undefined {
      if (body.length === 0 || !isSdp(contentType)) return undefined;
      const state = call.media as CallMedia | undefined;
      if (state?.handle) return undefined;
      if (state?.pending) return state.pending;
      const sdp = parseSdp(body);
      if (!sdp.ok) return undefined; // rewrite() answers 400/488 for it
      const cm = newCallMedia();
      call.media = cm;
      cm.pending = control.allocate(call.id, Math.max(1, sdp.value.media.length)).then((r) => {
        cm.pending = undefined;
        if (!r.ok) return false;
        if (call.state === 'terminated') {
          control.release(r.value);
          return false;
        }
        cm.handle = r.value;
        cm.quietSince = clock?.now() ?? 0;
        tracked.add(call);
        return true;
      });
      return cm.pending;
    },

    rewrite,

    release(call) {
      const cm = call.media as CallMedia | undefined;
      tracked.delete(call);
      if (cm?.handle) control.release(cm.handle);
      if (cm) {
        cm.handle = undefined;
        cm.streams = [];
        cm.lastIn = { public: undefined, pbx: undefined };
        cm.lastOut = { public: undefined, pbx: undefined };
      }
    },

    bindTerminate(end) {
      terminate = end;
    },

    checkInactivity,

    setInactivityTimeout,

    close() {
      timer?.cancel();
      timer = undefined;
    },
  };
}

/**
 * An answer toward a client that offered a=mid carries the same mids, and with exactly one section left, a BUNDLE
 * group of it (a max-bundle browser insists; more sections cannot be bundled: each has its own relay port).
 */
function echoMids(out: Sdp, cm: CallMedia): void {
  const active: string[] = [];
  for (let i = 0; i < out.media.length; i++) {
    const m = out.media[i];
    const mid = cm.streams[i]?.mid;
    if (!m || mid === undefined) continue;
    if (!findAttribute(m.attributes, 'mid')) m.attributes.unshift({ name: 'mid', value: mid });
    if (m.port !== 0) active.push(mid);
  }
  if (cm.clientBundle && active.length === 1) out.attributes.push({ name: 'group', value: `BUNDLE ${active[0]}` });
}

function newIce(): { ufrag: string; pwd: string } {
  return generateIceCredentials();
}

/** A repeating timer on the injected clock (one-shot timers re-armed). */
function startTimer(clock: Clock, everyMs: number, fn: () => void): TimerHandle {
  let current: TimerHandle | undefined;
  let stopped = false;
  const arm = (): void => {
    current = clock.setTimer(everyMs, () => {
      if (stopped) return;
      try {
        fn();
      } finally {
        if (!stopped) arm();
      }
    });
  };
  arm();
  return {
    cancel() {
      stopped = true;
      current?.cancel();
    },
  };
}

/** Video sections disabled as RFC 3264 §6 rejects a stream (rejectedMedia). */
function withoutVideo(sdp: Sdp): Sdp {
  if (!sdp.media.some((m) => m.type === 'video' && m.port !== 0)) return sdp;
  return { ...sdp, media: sdp.media.map((m) => (m.type === 'video' && m.port !== 0 ? rejectedMedia(m) : m)) };
}
