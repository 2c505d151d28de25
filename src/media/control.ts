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
 */
import { isIP } from 'node:net';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import { err, ok, type Result } from '../core/result.ts';
import { normalizeAddress, openPlainRelay } from './plain-relay.ts';
import { DEFAULT_PORT_QUARANTINE_MS, PortPool, type PortPoolStats } from './port-pool.ts';
import { emptyTrafficStats, type MediaEndpoint, type MediaRelay, type MediaSide, type MediaTrafficStats } from './relay.ts';

export type { MediaDropReason, MediaEndpoint, MediaSide, MediaTrafficStats } from './relay.ts';
export { MEDIA_DROP_REASONS } from './relay.ts';

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
  | 'MEDIA_UNKNOWN_SESSION';

export interface MediaError {
  readonly code: MediaErrorCode;
  readonly reason: string;
}

export interface MediaStats {
  /** Live sessions (for a handle: 1 while it is live, 0 after release). */
  sessions: number;
  /** Traffic received from the public side (and relayed toward the PBX). */
  fromPublic: MediaTrafficStats;
  /** Traffic received from the PBX side (and relayed toward the public side). */
  fromPbx: MediaTrafficStats;
  /** Port pool state; whole-control stats only. */
  ports: PortPoolStats | undefined;
  /** Allocations refused, by reason; whole-control stats only. */
  allocationFailures: { noPorts: number; sessionLimit: number; bind: number };
}

export interface MediaControl {
  /** Binds relay ports for `mediaCount` m= sections (1..maxMediaPerSession). 'MEDIA_NO_PORTS' when the pool is exhausted. */
  allocate(callRef: string, mediaCount: number): Promise<Result<MediaSessionHandle, MediaError>>;
  /** Where `side` receives media section `mediaIndex`; null for port 0, removed stream or RFC 2543 hold. */
  update(handle: MediaSessionHandle, side: MediaSide, mediaIndex: number, remote: MediaEndpoint | null): Result<void, MediaError>;
  /** What to put in the SDP sent to `side` for `mediaIndex` (same as handle.legs[mediaIndex][side]). */
  localFor(handle: MediaSessionHandle, side: MediaSide, mediaIndex: number): MediaLegInfo | undefined;
  /** Closes the session's sockets; its ports return to the pool after the quarantine. Idempotent. */
  release(handle: MediaSessionHandle): void;
  /** Counters for one session, or for the whole control (monotonic: released sessions stay counted). */
  stats(handle?: MediaSessionHandle): MediaStats;
  /** Releases everything and resolves when every socket is closed. */
  close(): Promise<void>;
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
}

interface LiveSession {
  handle: MediaSessionHandle;
  relays: MediaRelay[];
}

const BIND_ATTEMPTS = 4;

function invalid(code: MediaErrorCode, reason: string): Result<never, MediaError> {
  return err({ code, reason });
}

class DefaultMediaControl implements MediaControl {
  private readonly pool: PortPool;
  private readonly sessions = new Map<string, LiveSession>();
  private readonly pendingCloses = new Set<Promise<void>>();
  private readonly pendingAllocations = new Set<Promise<unknown>>();
  private readonly retiredPublic = emptyTrafficStats();
  private readonly retiredPbx = emptyTrafficStats();
  private readonly failures = { noPorts: 0, sessionLimit: 0, bind: 0 };
  private readonly maxMedia: number;
  private readonly publicFamily: number;
  private readonly pbxFamily: number;
  private pending = 0;
  private seq = 0;
  private closed = false;

  constructor(private readonly opts: MediaControlOptions) {
    this.publicFamily = isIP(opts.publicAddress);
    this.pbxFamily = isIP(opts.pbxAddress);
    if (this.publicFamily === 0 || this.pbxFamily === 0) throw new RangeError('media addresses must be IP addresses');
    if (!Number.isInteger(opts.maxSessions) || opts.maxSessions < 1) throw new RangeError('maxSessions must be >= 1');
    this.maxMedia = opts.maxMediaPerSession ?? 8;
    this.pool = new PortPool({
      portMin: opts.portMin,
      portMax: opts.portMax,
      clock: opts.clock,
      quarantineMs: opts.quarantineMs ?? DEFAULT_PORT_QUARANTINE_MS,
    });
  }

  allocate(callRef: string, mediaCount: number): Promise<Result<MediaSessionHandle, MediaError>> {
    const p = this.doAllocate(callRef, mediaCount);
    this.pendingAllocations.add(p);
    return p.finally(() => this.pendingAllocations.delete(p));
  }

  private async doAllocate(callRef: string, mediaCount: number): Promise<Result<MediaSessionHandle, MediaError>> {
    if (this.closed) return invalid('MEDIA_CLOSED', 'media control is closed');
    if (!Number.isInteger(mediaCount) || mediaCount < 1 || mediaCount > this.maxMedia) {
      return invalid('MEDIA_BAD_ARGUMENT', `mediaCount must be 1..${this.maxMedia}`);
    }
    if (this.sessions.size + this.pending >= this.opts.maxSessions) {
      this.failures.sessionLimit++;
      return invalid('MEDIA_SESSION_LIMIT', 'too many media sessions');
    }
    // Two pairs (public + pbx) per section; check up front so no session is half-built.
    if (this.pool.available() < mediaCount * 2) {
      this.failures.noPorts++;
      return invalid('MEDIA_NO_PORTS', 'relay port range exhausted');
    }
    this.pending++;
    const relays: MediaRelay[] = [];
    try {
      for (let i = 0; i < mediaCount; i++) {
        const r = await this.openLeg();
        if (r.ok) relays.push(r.value);
        if (!r.ok || this.closed) {
          await Promise.all(relays.map((x) => this.closeRelay(x)));
          return r.ok ? invalid('MEDIA_CLOSED', 'media control is closed') : err(r.error);
        }
      }
    } finally {
      this.pending--;
    }
    const publicAdvertise = this.opts.publicAdvertiseAddress ?? this.opts.publicAddress;
    const handle: MediaSessionHandle = Object.freeze({
      id: `ms-${(++this.seq).toString(36)}`,
      callRef,
      mediaCount,
      legs: Object.freeze(
        relays.map((r) =>
          Object.freeze({
            public: Object.freeze({ localAddress: publicAdvertise, localPort: r.publicPort, localRtcpPort: r.publicPort + 1 }),
            pbx: Object.freeze({ localAddress: this.opts.pbxAddress, localPort: r.pbxPort, localRtcpPort: r.pbxPort + 1 }),
          }),
        ),
      ),
    });
    this.sessions.set(handle.id, { handle, relays });
    this.opts.logger.debug({ session: handle.id, callRef, mediaCount }, 'media session allocated');
    return ok(handle);
  }

  /** One leg: a pair per side, retrying with fresh pairs when a bind fails (port taken by another process). */
  private async openLeg(): Promise<Result<MediaRelay, MediaError>> {
    for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
      const publicPort = this.pool.acquire();
      const pbxPort = publicPort < 0 ? -1 : this.pool.acquire();
      if (publicPort < 0 || pbxPort < 0) {
        if (publicPort >= 0) this.pool.release(publicPort);
        this.failures.noPorts++;
        return invalid('MEDIA_NO_PORTS', 'relay port range exhausted');
      }
      const r = await openPlainRelay({
        publicAddress: this.opts.publicAddress,
        publicPort,
        pbxAddress: this.opts.pbxAddress,
        pbxPort,
      });
      if (r.ok) return r;
      // Both pairs go to quarantine; the one that failed is likely held by someone else for a while.
      this.pool.release(publicPort);
      this.pool.release(pbxPort);
      this.opts.logger.warn({ side: r.error.side, port: r.error.port, reason: r.error.reason }, 'media port bind failed');
    }
    this.failures.bind++;
    return invalid('MEDIA_BIND', 'could not bind relay ports');
  }

  private closeRelay(relay: MediaRelay): Promise<void> {
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
    const relay = Number.isInteger(mediaIndex) ? s.relays[mediaIndex] : undefined;
    if (!relay) return invalid('MEDIA_BAD_ARGUMENT', 'mediaIndex out of range');
    if (remote === null || remote.port === 0) {
      relay.setRemote(side, null);
      return ok(undefined);
    }
    const address = normalizeAddress(remote.address);
    const family = isIP(address);
    if (family === 0) return invalid('MEDIA_BAD_REMOTE', 'remote address is not an IP address');
    if (address === '0.0.0.0' || address === '::') {
      relay.setRemote(side, null); // RFC 2543 hold: nothing to send to
      return ok(undefined);
    }
    if (family !== (side === 'public' ? this.publicFamily : this.pbxFamily)) {
      return invalid('MEDIA_BAD_REMOTE', 'remote address family differs from the local one');
    }
    const validPort = (p: number | undefined): boolean => p === undefined || (Number.isInteger(p) && p >= 1 && p <= 65535);
    if (!validPort(remote.port) || !validPort(remote.rtcpPort)) return invalid('MEDIA_BAD_REMOTE', 'bad remote port');
    const ep: MediaEndpoint = { address, port: remote.port };
    if (remote.rtcpPort !== undefined) ep.rtcpPort = remote.rtcpPort;
    if (remote.rtcpMux === true) ep.rtcpMux = true;
    if (remote.payloadTypes !== undefined) {
      if (remote.payloadTypes.length > 128 || !remote.payloadTypes.every((pt) => Number.isInteger(pt) && pt >= 0 && pt <= 127)) {
        return invalid('MEDIA_BAD_REMOTE', 'payload types must be 0..127');
      }
      ep.payloadTypes = [...remote.payloadTypes];
    }
    if (!ep.rtcpMux && ep.rtcpPort === undefined && remote.port === 65535) {
      return invalid('MEDIA_BAD_REMOTE', 'no RTCP port after 65535');
    }
    relay.setRemote(side, ep);
    return ok(undefined);
  }

  localFor(handle: MediaSessionHandle, side: MediaSide, mediaIndex: number): MediaLegInfo | undefined {
    return handle.legs[mediaIndex]?.[side];
  }

  release(handle: MediaSessionHandle): void {
    const s = this.sessions.get(handle.id);
    if (!s || s.handle !== handle) return;
    this.sessions.delete(handle.id);
    for (const r of s.relays) {
      r.counters('public').addTo(this.retiredPublic);
      r.counters('pbx').addTo(this.retiredPbx);
      void this.closeRelay(r);
    }
    this.opts.logger.debug({ session: handle.id }, 'media session released');
  }

  stats(handle?: MediaSessionHandle): MediaStats {
    const fromPublic = emptyTrafficStats();
    const fromPbx = emptyTrafficStats();
    if (handle) {
      const s = this.sessions.get(handle.id);
      if (s && s.handle === handle) {
        for (const r of s.relays) {
          r.counters('public').addTo(fromPublic);
          r.counters('pbx').addTo(fromPbx);
        }
      }
      return { sessions: s ? 1 : 0, fromPublic, fromPbx, ports: undefined, allocationFailures: { noPorts: 0, sessionLimit: 0, bind: 0 } };
    }
    addTraffic(fromPublic, this.retiredPublic);
    addTraffic(fromPbx, this.retiredPbx);
    for (const s of this.sessions.values()) {
      for (const r of s.relays) {
        r.counters('public').addTo(fromPublic);
        r.counters('pbx').addTo(fromPbx);
      }
    }
    return { sessions: this.sessions.size, fromPublic, fromPbx, ports: this.pool.stats(), allocationFailures: { ...this.failures } };
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.pendingAllocations.size > 0) await Promise.all([...this.pendingAllocations]);
    for (const s of [...this.sessions.values()]) this.release(s.handle);
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
  into.socketErrors += from.socketErrors;
}

export function createMediaControl(opts: MediaControlOptions): MediaControl {
  return new DefaultMediaControl(opts);
}
