/**
 * MediaControl: the only interface the proxy uses to anchor media (DESIGN "Media path").
 *
 * It is narrow on purpose: plain data in (call reference, sides, signalled endpoints), plain data out (ports to
 * advertise, counters). No callbacks flow back into the proxy, so the relay behind it can move into a worker
 * thread without the proxy noticing. Typical use by the proxy:
 *
 *   const h = await media.allocate(callId, offer.media.length);          // ports for every m= section
 *   media.update(h, 'public', i, mediaEndpointOf(offer, i));              // where the caller receives
 *   rewriteForRelay(offer, h.legs.map((l) => target(l.pbx)), ...)         // what the PBX must send to
 *   ... answer from the PBX: update(h, 'pbx', i, ...), rewrite with legs[i].public toward the caller
 *   media.release(h)                                                      // BYE, CANCEL, failure
 *
 * Inactivity: poll stats(h) and compare packetsIn between polls (no per-packet clock reads on the hot path).
 *
 * Cost: sockets outlive sessions. A released leg keeps its four sockets bound (disconnected, relay reset) in an
 * idle pool; after the quarantine the next allocate() takes it instead of binding. Only when no idle leg is ready
 * are new sockets bound. The pool is bounded (idleLegsMax, at most the port range; above it a released leg is
 * closed; lowered on EMFILE) and a few legs are pre-bound at start (prebindLegs) so the first calls are cheap too.
 * Packets reaching an idle leg are dropped and counted (stats().ports.idleDropped).
 */
import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import { err, ok, type Result } from '../core/result.ts';
import { type IdleDropCounter, normalizeAddress } from './plain-relay.ts';
import { DEFAULT_PORT_QUARANTINE_MS, PortPool, type PortPoolStats } from './port-pool.ts';
import { DEFAULT_MAX_PACKET_RATE, emptyTrafficStats, type MediaEndpoint, type MediaSide, type MediaTrafficStats } from './relay.ts';
import { type DtlsProvider, openSecureRelay, type PublicSecurity, type SecureRelay } from './secure-relay.ts';
import { IdleSocketPool } from './socket-pool.ts';

export type { MediaDropReason, MediaEndpoint, MediaSide, MediaTrafficStats } from './relay.ts';
export { MEDIA_DROP_REASONS } from './relay.ts';
export type { DtlsEndpointLike, DtlsProvider, PublicSecurity, SrtpKeyPair } from './secure-relay.ts';

/** Where a side must send to Palisade for one m= section: what to put in the SDP sent to that side. */
export interface MediaLegInfo {
  localAddress: string;
  localPort: number;
  /** localPort + 1: advertise with a=rtcp when the side does not use rtcp-mux. */
  localRtcpPort: number;
}

/** An allocated media session. Immutable; its legs never change for the life of the session. */
export interface MediaSessionHandle {
  readonly id: string;
  readonly callRef: string;
  readonly mediaCount: number;
  /** Per m= section: the relay ports each side must send to. */
  readonly legs: ReadonlyArray<Readonly<Record<MediaSide, MediaLegInfo>>>;
}

export type MediaErrorCode =
  | 'MEDIA_NO_PORTS'
  | 'MEDIA_SESSION_LIMIT'
  | 'MEDIA_BAD_ARGUMENT'
  | 'MEDIA_BAD_REMOTE'
  | 'MEDIA_BIND'
  | 'MEDIA_CLOSED'
  | 'MEDIA_UNKNOWN_SESSION'
  | 'MEDIA_BAD_SECURITY';

export interface MediaError {
  readonly code: MediaErrorCode;
  readonly reason: string;
}

/** Port pool state as the control sees it: pairs held by idle pooled legs count as free once their quarantine is over. */
export interface MediaPortStats extends PortPoolStats {
  /** Pairs kept bound by idle legs waiting for reuse (included in free or quarantined). */
  pooled: number;
  /** Packets that reached an idle pooled socket (between sessions, quarantine included): dropped. */
  idleDropped: number;
}

export interface MediaStats {
  /** Live sessions (for a handle: 1 while it is live, 0 after release). */
  sessions: number;
  /** Traffic received from the public side (and relayed toward the PBX). */
  fromPublic: MediaTrafficStats;
  /** Traffic received from the PBX side (and relayed toward the public side). */
  fromPbx: MediaTrafficStats;
  /** Port pool state; whole-control stats only. */
  ports: MediaPortStats | undefined;
  /** Allocations refused, by reason; whole-control stats only. */
  allocationFailures: { noPorts: number; sessionLimit: number; bind: number };
  /** Secure public sides (SRTP toward clients): latches, ICE answers/refusals, DTLS outcomes. */
  security: MediaSecurityStats;
}

export interface MediaSecurityStats {
  /** Peers learned from an authenticated packet or ICE check (first latch and moves). */
  latches: number;
  iceAnswered: number;
  /** ICE checks answered with an error (bad credentials): never latch. */
  iceRejected: number;
  dtlsConnected: number;
  dtlsFailed: number;
  /** Without ICE, a new source's ClientHello took a DTLS peer slot (failed or stalled handshake; see dtls-peer.ts). */
  dtlsPeerRestarts: number;
}

function emptySecurityStats(): MediaSecurityStats {
  return { latches: 0, iceAnswered: 0, iceRejected: 0, dtlsConnected: 0, dtlsFailed: 0, dtlsPeerRestarts: 0 };
}

function addSecurity(into: MediaSecurityStats, from: Readonly<MediaSecurityStats>): void {
  into.latches += from.latches;
  into.iceAnswered += from.iceAnswered;
  into.iceRejected += from.iceRejected;
  into.dtlsConnected += from.dtlsConnected;
  into.dtlsFailed += from.dtlsFailed;
  into.dtlsPeerRestarts += from.dtlsPeerRestarts;
}

export interface MediaControl {
  /** Binds relay ports for `mediaCount` m= sections (1..maxMediaPerSession). 'MEDIA_NO_PORTS' when the pool is exhausted. */
  allocate(callRef: string, mediaCount: number): Promise<Result<MediaSessionHandle, MediaError>>;
  /** Where `side` receives media section `mediaIndex`; null for port 0, removed stream or RFC 2543 hold. */
  update(handle: MediaSessionHandle, side: MediaSide, mediaIndex: number, remote: MediaEndpoint | null): Result<void, MediaError>;
  /**
   * Secures the public side of media section `mediaIndex` (SDES keys, DTLS role and peer fingerprint, ICE-lite
   * credentials), or makes it plain again (null). Call it again when a re-INVITE changes keys: a context is
   * replaced only when its key changed; a DTLS session only when the role or the peer's fingerprint changed.
   * From then on the public side authenticates before it latches (see secure-relay.ts).
   */
  secure(handle: MediaSessionHandle, mediaIndex: number, security: PublicSecurity | null): Result<void, MediaError>;
  /** SHA-256 fingerprint of our DTLS certificate ('AB:CD:...'), or undefined when DTLS-SRTP is not available. */
  dtlsFingerprint(): string | undefined;
  /** The client address latched (authenticated) on a secure leg, or null. */
  latchedPeer(handle: MediaSessionHandle, mediaIndex: number): { address: string; port: number } | null;
  /** What to put in the SDP sent to `side` for `mediaIndex` (same as handle.legs[mediaIndex][side]). */
  localFor(handle: MediaSessionHandle, side: MediaSide, mediaIndex: number): MediaLegInfo | undefined;
  /**
   * Ends the session: its sockets stop relaying at once; its ports serve another session only after the
   * quarantine (kept bound in the idle pool, or closed and returned to the port pool). Idempotent.
   */
  release(handle: MediaSessionHandle): void;
  /** Counters for one session, or for the whole control (monotonic: released sessions stay counted). */
  stats(handle?: MediaSessionHandle): MediaStats;
  /** Releases everything and resolves when every socket (pooled ones included) is closed. */
  close(): Promise<void>;
  /** media.maxPacketRate changed (reload): live legs at once, pooled legs when a session takes them. */
  setMaxPacketRate(rate: number): void;
}

export interface MediaControlOptions {
  /** Local address the public-side sockets bind to. */
  publicAddress: string;
  /** Address advertised to the public side when it differs from the bound one (1:1 NAT). */
  publicAdvertiseAddress?: string;
  /** Local address the PBX-side sockets bind to. */
  pbxAddress: string;
  portMin: number;
  portMax: number;
  maxSessions: number;
  clock: Clock;
  logger: Logger;
  quarantineMs?: number;
  /** Bound on m= sections per session; default 8 (as the SDP parser). */
  maxMediaPerSession?: number;
  /**
   * Most released legs (4 sockets each) kept bound for reuse; default (and most): every leg the port range holds,
   * so Palisade never holds more sockets than the range has ports, live or idle. Above it a released leg is
   * closed. Reuse needs about calls/s × quarantine legs (400 calls/s × 4 s = 1600). When a bind fails for want
   * of file descriptors, idle legs are closed and the mark is lowered for the life of the control.
   */
  idleLegsMax?: number;
  /** Legs bound at start, before any call (capped by idleLegsMax and the port range); default 32 (64 port pairs). */
  prebindLegs?: number;
  /** media.maxPacketRate: packets/s accepted per stream per direction; default 1000, 0 = no cap. */
  maxPacketRate?: number;
  /** DTLS-SRTP toward clients (process-wide certificate + endpoint factory); without it DTLS offers are refused. */
  dtls?: DtlsProvider;
}

export const DEFAULT_PREBIND_LEGS = 32;

/** One m= section's relay with the (immutable) ports it advertises; lives as long as its sockets. */
interface Leg {
  readonly relay: SecureRelay;
  readonly info: Readonly<Record<MediaSide, MediaLegInfo>>;
}

interface LiveSession {
  handle: MediaSessionHandle;
  legs: Leg[];
}

const BIND_ATTEMPTS = 8;
/** Most free pairs jumped over after a bind failure. */
const BIND_SKIP_MAX = 64;
/** Idle legs closed (and high-water mark lowered by) when a bind fails with EMFILE/ENFILE. */
const FD_SHED_LEGS = 16;

function invalid(code: MediaErrorCode, reason: string): Result<never, MediaError> {
  return err({ code, reason });
}

/** update() succeeds often (twice per call at least): one shared immutable result. */
const OK_VOID: Result<void, MediaError> = Object.freeze(ok(undefined));

function isValidPort(p: number | undefined): boolean {
  return p === undefined || (Number.isInteger(p) && p >= 1 && p <= 65535);
}

function isValidPayloadType(pt: number): boolean {
  return Number.isInteger(pt) && pt >= 0 && pt <= 127;
}

class DefaultMediaControl implements MediaControl {
  private readonly pool: PortPool;
  private readonly idle: IdleSocketPool<Leg>;
  private readonly idleDrops: IdleDropCounter = { idleDropped: 0 };
  private readonly sessions = new Map<string, LiveSession>();
  private readonly pendingCloses = new Set<Promise<void>>();
  private readonly pendingAllocations = new Set<Promise<unknown>>();
  private readonly retiredPublic = emptyTrafficStats();
  private readonly retiredPbx = emptyTrafficStats();
  private readonly retiredSecurity = emptySecurityStats();
  private readonly failures = { noPorts: 0, sessionLimit: 0, bind: 0 };
  /** media.maxPacketRate in force (setMaxPacketRate on reload). */
  private maxPacketRate: number;
  private readonly maxMedia: number;
  private readonly publicFamily: number;
  private readonly pbxFamily: number;
  private readonly publicAdvertise: string;
  private prebinding: Promise<void> | undefined;
  private pending = 0;
  private seq = 0;
  private closed = false;

  constructor(private readonly opts: MediaControlOptions) {
    this.maxPacketRate = opts.maxPacketRate ?? DEFAULT_MAX_PACKET_RATE;
    this.publicFamily = isIP(opts.publicAddress);
    this.pbxFamily = isIP(opts.pbxAddress);
    if (this.publicFamily === 0 || this.pbxFamily === 0) throw new RangeError('media addresses must be IP addresses');
    if (!Number.isInteger(opts.maxSessions) || opts.maxSessions < 1) throw new RangeError('maxSessions must be >= 1');
    this.maxMedia = opts.maxMediaPerSession ?? 8;
    this.publicAdvertise = opts.publicAdvertiseAddress ?? opts.publicAddress;
    const quarantineMs = opts.quarantineMs ?? DEFAULT_PORT_QUARANTINE_MS;
    // A random first pair: another process using the same range (or this one before a restart) holds the bottom of it.
    const startIndex = randomInt(0, 1 << 16);
    this.pool = new PortPool({ portMin: opts.portMin, portMax: opts.portMax, clock: opts.clock, quarantineMs, startIndex });
    const rangeLegs = Math.floor(this.pool.total / 2);
    const idleMax = Math.min(opts.idleLegsMax ?? rangeLegs, rangeLegs);
    if (!Number.isInteger(idleMax) || idleMax < 0) throw new RangeError('idleLegsMax must be an integer >= 0');
    this.idle = new IdleSocketPool<Leg>({ clock: opts.clock, quarantineMs, capacity: idleMax });
    const prebind = Math.min(opts.prebindLegs ?? DEFAULT_PREBIND_LEGS, this.idle.capacity);
    if (prebind > 0) {
      const p = this.prebind(prebind);
      this.prebinding = p;
      this.pendingAllocations.add(p);
      void p.finally(() => {
        this.prebinding = undefined;
        this.pendingAllocations.delete(p);
      });
    }
  }

  private async prebind(count: number): Promise<void> {
    for (let i = 0; i < count && !this.closed; i++) {
      const r = await this.openLeg();
      if (!r.ok) {
        this.opts.logger.warn({ bound: i, wanted: count, code: r.error.code }, 'media pre-binding stopped');
        return;
      }
      this.retire(r.value, false);
    }
  }

  allocate(callRef: string, mediaCount: number): Promise<Result<MediaSessionHandle, MediaError>> {
    if (this.closed) return Promise.resolve(invalid('MEDIA_CLOSED', 'media control is closed'));
    if (!Number.isInteger(mediaCount) || mediaCount < 1 || mediaCount > this.maxMedia) {
      return Promise.resolve(invalid('MEDIA_BAD_ARGUMENT', `mediaCount must be 1..${this.maxMedia}`));
    }
    if (this.sessions.size + this.pending >= this.opts.maxSessions) {
      this.failures.sessionLimit++;
      return Promise.resolve(invalid('MEDIA_SESSION_LIMIT', 'too many media sessions'));
    }
    // Fast path: every leg from the idle pool, nothing to bind, nothing to wait for.
    if (this.idle.countReady(mediaCount) === mediaCount) {
      const legs: Leg[] = [];
      for (let i = 0; i < mediaCount; i++) legs.push(this.idle.take() as Leg);
      return Promise.resolve(ok(this.startSession(callRef, legs)));
    }
    const p = this.allocateBinding(callRef, mediaCount);
    this.pendingAllocations.add(p);
    return p.finally(() => this.pendingAllocations.delete(p));
  }

  /** Slow path: the legs the idle pool cannot give are bound now. */
  private async allocateBinding(callRef: string, mediaCount: number): Promise<Result<MediaSessionHandle, MediaError>> {
    this.pending++;
    const legs: Leg[] = [];
    try {
      // The first calls after start wait for the pre-bound legs rather than racing them for ports.
      if (this.prebinding) await this.prebinding;
      if (this.closed) return invalid('MEDIA_CLOSED', 'media control is closed');
      const ready = this.idle.countReady(mediaCount);
      // Two pairs (public + pbx) per bound leg; check up front so no session is half-built.
      if (this.pool.available() < (mediaCount - ready) * 2) {
        this.failures.noPorts++;
        return invalid('MEDIA_NO_PORTS', 'relay port range exhausted');
      }
      for (let i = 0; i < ready; i++) legs.push(this.idle.take() as Leg);
      while (legs.length < mediaCount) {
        const r = await this.openLeg();
        if (r.ok) legs.push(r.value);
        if (!r.ok || this.closed) {
          // Never used by a session: back to the pool as they are (or closed when closing / full).
          for (const l of legs) this.retire(l, false);
          legs.length = 0;
          return r.ok ? invalid('MEDIA_CLOSED', 'media control is closed') : err(r.error);
        }
      }
    } finally {
      this.pending--;
    }
    return ok(this.startSession(callRef, legs));
  }

  setMaxPacketRate(rate: number): void {
    this.maxPacketRate = Math.max(0, rate);
    for (const s of this.sessions.values()) for (const l of s.legs) l.relay.setMaxPacketRate(this.maxPacketRate);
  }

  private startSession(callRef: string, legs: Leg[]): MediaSessionHandle {
    const infos: Array<Readonly<Record<MediaSide, MediaLegInfo>>> = [];
    for (const l of legs) {
      // A pooled leg may predate a reload of media.maxPacketRate.
      l.relay.setMaxPacketRate(this.maxPacketRate);
      l.relay.activate();
      infos.push(l.info);
    }
    const handle: MediaSessionHandle = Object.freeze({
      id: `ms-${(++this.seq).toString(36)}`,
      callRef,
      mediaCount: legs.length,
      legs: Object.freeze(infos),
    });
    this.sessions.set(handle.id, { handle, legs });
    return handle;
  }

  /** One leg: a pair per side, retrying with fresh pairs when a bind fails (port taken by another process). */
  private async openLeg(): Promise<Result<Leg, MediaError>> {
    for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
      const publicPort = this.pool.acquire();
      const pbxPort = publicPort < 0 ? -1 : this.pool.acquire();
      if (publicPort < 0 || pbxPort < 0) {
        if (publicPort >= 0) this.pool.release(publicPort);
        this.failures.noPorts++;
        return invalid('MEDIA_NO_PORTS', 'relay port range exhausted');
      }
      const r = await openSecureRelay(
        {
          publicAddress: this.opts.publicAddress,
          publicPort,
          pbxAddress: this.opts.pbxAddress,
          pbxPort,
          maxPacketRate: this.maxPacketRate,
          ...(this.opts.dtls ? { dtls: this.opts.dtls } : {}),
        },
        this.idleDrops,
      );
      if (r.ok) {
        const info = Object.freeze({
          public: Object.freeze({ localAddress: this.publicAdvertise, localPort: publicPort, localRtcpPort: publicPort + 1 }),
          pbx: Object.freeze({ localAddress: this.opts.pbxAddress, localPort: pbxPort, localRtcpPort: pbxPort + 1 }),
        });
        return ok({ relay: r.value, info });
      }
      this.pool.release(publicPort);
      this.pool.release(pbxPort);
      this.opts.logger.warn({ side: r.error.side, port: r.error.port, reason: r.error.reason }, 'media port bind failed');
      if (r.error.reason === 'EMFILE' || r.error.reason === 'ENFILE') {
        // Out of file descriptors: idle sockets are the ones to give back.
        await this.shedIdle(FD_SHED_LEGS);
      } else {
        // The pair that failed is likely held by someone else for a while, and so are its neighbours.
        this.pool.rotate(randomInt(0, BIND_SKIP_MAX + 1));
      }
    }
    this.failures.bind++;
    return invalid('MEDIA_BIND', 'could not bind relay ports');
  }

  /** Closes up to `n` idle legs (oldest first) and keeps the idle pool that much smaller from now on. */
  private async shedIdle(n: number): Promise<void> {
    const before = this.idle.size;
    this.idle.setLimit(Math.min(this.idle.limit, Math.max(0, before - n)));
    const closing: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const leg = this.idle.shed();
      if (!leg) break;
      closing.push(this.closeLeg(leg));
    }
    this.opts.logger.warn({ closed: closing.length, idleLimit: this.idle.limit }, 'out of file descriptors: idle media pool shrunk');
    await Promise.all(closing);
  }

  /**
   * A leg leaves its session (or was just bound): reset and kept bound in the idle pool, after the quarantine
   * when it carried a session (`used`); closed when the control is closing or the pool is at its high-water mark.
   */
  private retire(leg: Leg, used: boolean): void {
    if (!this.closed && leg.relay.reset() && (used ? this.idle.put(leg) : this.idle.putFresh(leg))) return;
    void this.closeLeg(leg);
  }

  private closeLeg(leg: Leg): Promise<void> {
    const relay = leg.relay;
    // Ports go back only once the sockets are closed, so the pool never hands out a port still bound.
    const p = relay.close().then(() => {
      this.pool.release(relay.publicPort);
      this.pool.release(relay.pbxPort);
    });
    this.pendingCloses.add(p);
    return p.finally(() => this.pendingCloses.delete(p));
  }

  update(handle: MediaSessionHandle, side: MediaSide, mediaIndex: number, remote: MediaEndpoint | null): Result<void, MediaError> {
    const s = this.sessions.get(handle.id);
    if (!s || s.handle !== handle) return invalid('MEDIA_UNKNOWN_SESSION', 'unknown or released media session');
    if (side !== 'public' && side !== 'pbx') return invalid('MEDIA_BAD_ARGUMENT', 'side must be public or pbx');
    const relay = Number.isInteger(mediaIndex) ? s.legs[mediaIndex]?.relay : undefined;
    if (!relay) return invalid('MEDIA_BAD_ARGUMENT', 'mediaIndex out of range');
    if (remote === null || remote.port === 0) {
      relay.setRemote(side, null);
      return OK_VOID;
    }
    const address = normalizeAddress(remote.address);
    const family = isIP(address);
    if (family === 0) return invalid('MEDIA_BAD_REMOTE', 'remote address is not an IP address');
    if (address === '0.0.0.0' || address === '::') {
      relay.setRemote(side, null); // RFC 2543 hold: nothing to send to
      return OK_VOID;
    }
    if (family !== (side === 'public' ? this.publicFamily : this.pbxFamily)) {
      return invalid('MEDIA_BAD_REMOTE', 'remote address family differs from the local one');
    }
    if (!isValidPort(remote.port) || !isValidPort(remote.rtcpPort)) return invalid('MEDIA_BAD_REMOTE', 'bad remote port');
    const pts = remote.payloadTypes;
    if (pts !== undefined && (pts.length > 128 || !pts.every(isValidPayloadType))) {
      return invalid('MEDIA_BAD_REMOTE', 'payload types must be 0..127');
    }
    if (remote.rtcpMux !== true && remote.rtcpPort === undefined && remote.port === 65535) {
      return invalid('MEDIA_BAD_REMOTE', 'no RTCP port after 65535');
    }
    // The relay reads the endpoint during the call only (payload types go into its own table): no copy needed.
    relay.setRemote(side, address === remote.address ? remote : { ...remote, address });
    return OK_VOID;
  }

  secure(handle: MediaSessionHandle, mediaIndex: number, security: PublicSecurity | null): Result<void, MediaError> {
    const s = this.sessions.get(handle.id);
    if (!s || s.handle !== handle) return invalid('MEDIA_UNKNOWN_SESSION', 'unknown or released media session');
    const relay = Number.isInteger(mediaIndex) ? s.legs[mediaIndex]?.relay : undefined;
    if (!relay) return invalid('MEDIA_BAD_ARGUMENT', 'mediaIndex out of range');
    const r = relay.setPublicSecurity(security);
    return r.ok ? OK_VOID : invalid('MEDIA_BAD_SECURITY', r.error.reason);
  }

  dtlsFingerprint(): string | undefined {
    return this.opts.dtls?.fingerprint;
  }

  latchedPeer(handle: MediaSessionHandle, mediaIndex: number): { address: string; port: number } | null {
    const s = this.sessions.get(handle.id);
    if (!s || s.handle !== handle) return null;
    return s.legs[mediaIndex]?.relay.latchedPeer() ?? null;
  }

  localFor(handle: MediaSessionHandle, side: MediaSide, mediaIndex: number): MediaLegInfo | undefined {
    return handle.legs[mediaIndex]?.[side];
  }

  release(handle: MediaSessionHandle): void {
    const s = this.sessions.get(handle.id);
    if (!s || s.handle !== handle) return;
    this.sessions.delete(handle.id);
    for (const l of s.legs) {
      l.relay.counters('public').addTo(this.retiredPublic);
      l.relay.counters('pbx').addTo(this.retiredPbx);
      addSecurity(this.retiredSecurity, l.relay.secureCounters());
      this.retire(l, true);
    }
  }

  stats(handle?: MediaSessionHandle): MediaStats {
    const fromPublic = emptyTrafficStats();
    const fromPbx = emptyTrafficStats();
    const security = emptySecurityStats();
    if (handle) {
      const s = this.sessions.get(handle.id);
      if (s && s.handle === handle) {
        for (const l of s.legs) {
          l.relay.counters('public').addTo(fromPublic);
          l.relay.counters('pbx').addTo(fromPbx);
          addSecurity(security, l.relay.secureCounters());
        }
      }
      return {
        sessions: s ? 1 : 0,
        fromPublic,
        fromPbx,
        ports: undefined,
        allocationFailures: { noPorts: 0, sessionLimit: 0, bind: 0 },
        security,
      };
    }
    addTraffic(fromPublic, this.retiredPublic);
    addTraffic(fromPbx, this.retiredPbx);
    addSecurity(security, this.retiredSecurity);
    for (const s of this.sessions.values()) {
      for (const l of s.legs) {
        l.relay.counters('public').addTo(fromPublic);
        l.relay.counters('pbx').addTo(fromPbx);
        addSecurity(security, l.relay.secureCounters());
      }
    }
    return {
      sessions: this.sessions.size,
      fromPublic,
      fromPbx,
      ports: this.portStats(),
      allocationFailures: { ...this.failures },
      security,
    };
  }

  private portStats(): MediaPortStats {
    const p = this.pool.stats();
    const idlePairs = this.idle.size * 2;
    const readyPairs = this.idle.countReady(this.idle.size) * 2;
    return {
      total: p.total,
      free: p.free + readyPairs,
      inUse: p.inUse - idlePairs,
      quarantined: p.quarantined + idlePairs - readyPairs,
      badReleases: p.badReleases,
      pooled: idlePairs,
      idleDropped: this.idleDrops.idleDropped,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.pendingAllocations.size > 0) await Promise.all([...this.pendingAllocations]);
    for (const s of [...this.sessions.values()]) this.release(s.handle);
    for (const l of this.idle.drain()) void this.closeLeg(l);
    while (this.pendingCloses.size > 0) await Promise.all([...this.pendingCloses]);
  }
}

function addTraffic(into: MediaTrafficStats, from: MediaTrafficStats): void {
  into.packetsIn += from.packetsIn;
  into.bytesIn += from.bytesIn;
  into.packetsOut += from.packetsOut;
  into.bytesOut += from.bytesOut;
  into.dropped.unexpected_source += from.dropped.unexpected_source;
  into.dropped.no_remote += from.dropped.no_remote;
  into.dropped.malformed += from.dropped.malformed;
  into.dropped.payload_type += from.dropped.payload_type;
  into.dropped.send_error += from.dropped.send_error;
  into.dropped.auth_failed += from.dropped.auth_failed;
  into.dropped.rate_limited += from.dropped.rate_limited;
  into.socketErrors += from.socketErrors;
}

export function createMediaControl(opts: MediaControlOptions): MediaControl {
  return new DefaultMediaControl(opts);
}
