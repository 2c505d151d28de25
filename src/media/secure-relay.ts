/**
 * A media leg whose public side speaks SRTP (SDES or DTLS-SRTP, with ICE-lite) while the PBX side stays plain
 * RTP. With no security set it is exactly a PlainRelay (the control uses this class for every leg, so a pooled
 * leg serves plain and secure calls alike).
 *
 *   client ──SRTP/SRTCP, STUN, DTLS──► [public :p] ──unprotect──► [pbx :q] ──RTP──► PBX
 *          ◄──────────── protect ─────                ◄──────────────────────
 *
 * Authenticate-then-latch (RTP bleed / injection): the public socket is never connected to the address the
 * client signalled. Its peer is learned ("latched") only from
 *   - an ICE Binding request that passed MESSAGE-INTEGRITY with our ice-pwd (ICE-lite, RFC 8445 §7.3), or
 *   - without ICE, an SRTP/SRTCP packet that passed authentication and the replay check (RFC 3711 §3.3).
 * With ICE, SRTP is accepted only from the ICE-latched address. Media toward the client goes only to the
 * latched address. DTLS records are handed to the endpoint only from the ICE-latched address (without ICE,
 * from the first source, which a later ClientHello can replace only while no handshake completed: see dtls-peer.ts;
 * the handshake itself proves the fingerprint, and RTP latches only on SRTP that the handshake's keys authenticate). Everything else is dropped and counted. The PBX side accepts only the
 * address:port the PBX signalled (PlainRelay). RTP with a payload type not negotiated is dropped; each
 * direction is capped at media.maxPacketRate.
 *
 * DTLS-SRTP without rtcp-mux (RFC 5764 §4.1): the RTCP port is a component of its own. The client runs a second
 * handshake from its RTCP port to ours (same roles, same certificates, same a=fingerprint); its exported keys,
 * and only those, protect SRTCP on the RTCP port. Its DTLS peer is chosen by the RTP component's rule (without
 * ICE the first source; with ICE only the ICE-latched host, as component 2 has no checks of its own here), and
 * the RTCP peer latches on SRTCP those keys authenticate. Nothing on the RTCP port ever moves the RTP latch.
 *
 * Modules: the DTLS handshakes of both components are run by secure-dtls.ts, each component (its endpoint, DTLS
 * peer and SRTP contexts) is a DtlsComponent (dtls-component.ts), ICE-lite checks are answered by secure-ice.ts; the
 * state they and this relay share is a SecureSide (secure-side.ts).
 *
 * Hot path: unprotect works in place in the received buffer; protect writes into a ring of preallocated
 * buffers (an unconnected send completes on the next tick, so a single scratch buffer could be overwritten
 * before the kernel copied it). No closures, no logging per packet; counters are plain numbers.
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import { err, ok, type Result } from '../core/result.ts';
import { DEMUX_DTLS, DEMUX_RTCP, DEMUX_RTP, DEMUX_STUN, demuxPacket } from './demux.ts';
import {
  bindRelaySockets,
  type IdleDropCounter,
  PlainRelay,
  type PlainRelayOptions,
  type RelayBindError,
  type RelaySideState,
} from './plain-relay.ts';
import type { MediaEndpoint, MediaSide } from './relay.ts';
import { PACKET_RTCP } from './relay.ts';
import { SecureDtls } from './secure-dtls.ts';
import { answerIceCheck, applyIce, iceCredentialsError } from './secure-ice.ts';
import { contextFor, nextTxBuffer, SecureSide, sameKey } from './secure-side.ts';
import type { DtlsProvider, PublicSecurity, SecureCounters, SecurityErrorCode } from './secure-types.ts';
import { type SrtpContext, SrtpError } from './srtp/index.ts';

export type { DtlsEndpointLike, DtlsProvider, PublicSecurity, SecurityErrorCode, SrtpKeyPair } from './secure-types.ts';
export { SecureCounters } from './secure-types.ts';

export class SecureRelay extends PlainRelay {
  private readonly sec: SecureSide;
  /** Runs the DTLS-SRTP handshakes of the two components (held by `sec`). */
  private readonly handshakes: SecureDtls;

  constructor(
    publicPort: number,
    pbxPort: number,
    sockets: [Socket, Socket, Socket, Socket],
    idleDrops?: IdleDropCounter,
    maxPacketRate = 0,
    dtls?: DtlsProvider,
  ) {
    super(publicPort, pbxPort, sockets, idleDrops, maxPacketRate);
    this.sec = new SecureSide(this.pub);
    this.handshakes = new SecureDtls(this.sec, this.pub, dtls);
    this.sec.foreignLimiter.setRate(maxPacketRate);
  }

  override setMaxPacketRate(rate: number): void {
    super.setMaxPacketRate(rate);
    this.sec.foreignLimiter.setRate(rate);
  }

  get secure(): boolean {
    return this.sec.active;
  }

  secureCounters(): SecureCounters {
    return this.sec.counters;
  }

  /** Whether a peer has been latched (tests, stats). */
  latchedPeer(): { address: string; port: number } | null {
    return this.sec.latched ? { address: this.sec.latchAddress, port: this.sec.latchPort } : null;
  }

  /**
   * Secures the public side (or makes it plain again with null). Contexts are replaced only when their key
   * changes: a context re-created with the same key would restart its packet index (keystream reuse).
   * The latch survives a change of keys (re-INVITE) but not a return to plain.
   */
  setPublicSecurity(p: PublicSecurity | null): Result<void, { code: SecurityErrorCode; reason: string }> {
    if (this.closing) return ok(undefined);
    const s = this.sec;
    if (p === null) {
      this.clearSecurity();
      // Back to a plain leg: the public sockets connect to the signalled endpoint again.
      return ok(undefined);
    }
    if (p.dtls && !this.handshakes.available) return err({ code: 'MEDIA_BAD_SECURITY', reason: 'DTLS-SRTP is not available' });
    if (p.dtls && p.sdes) return err({ code: 'MEDIA_BAD_SECURITY', reason: 'SDES and DTLS on one stream' });
    const iceError = iceCredentialsError(p.ice);
    if (iceError !== undefined) return err({ code: 'MEDIA_BAD_SECURITY', reason: iceError });
    let rx: SrtpContext | null = s.rtp.rx;
    let tx: SrtpContext | null = s.rtp.tx;
    try {
      if (p.sdes) {
        const profileChanged = s.sdesProfile !== p.sdes.profile;
        if (profileChanged || !sameKey(s.txKey, p.sdes.tx)) tx = contextFor(p.sdes.profile, p.sdes.tx);
        if (!p.sdes.rx) rx = null;
        else if (profileChanged || !sameKey(s.rxKey, p.sdes.rx)) rx = contextFor(p.sdes.profile, p.sdes.rx);
      }
    } catch {
      return err({ code: 'MEDIA_BAD_SECURITY', reason: 'bad SRTP key' });
    }
    if (!s.active) {
      s.active = true;
      // Secure: the public sockets are never connected; packets from anywhere reach us and are judged here.
      this.pub.rtp.set('', 0);
      this.pub.rtcp.set('', 0);
    }
    if (p.sdes) {
      // Closing the handshakes forgets the RTP component's contexts; `rx` / `tx` were taken from them above.
      this.handshakes.close();
      s.sdesProfile = p.sdes.profile;
      s.txKey = p.sdes.tx;
      s.rxKey = p.sdes.rx;
      s.rtp.tx = tx;
      s.rtp.rx = rx;
    }
    applyIce(s, p.ice);
    if (p.dtls) {
      const fp = `${p.dtls.remoteFingerprint.algorithm.toLowerCase()} ${p.dtls.remoteFingerprint.value.toUpperCase()}`;
      if (s.rtp.endpoint === null || s.dtlsRole !== p.dtls.role || s.dtlsFingerprint !== fp) {
        // Also forgets the SRTP contexts (SDES or an earlier handshake's): the new handshake's keys replace them.
        this.handshakes.close();
        s.sdesProfile = undefined;
        s.txKey = undefined;
        s.rxKey = undefined;
        s.dtlsRole = p.dtls.role;
        s.dtlsFingerprint = fp;
        s.dtlsRemoteFingerprint = { algorithm: p.dtls.remoteFingerprint.algorithm, value: p.dtls.remoteFingerprint.value };
        this.handshakes.open(p.dtls.role, p.dtls.remoteFingerprint);
      }
    }
    this.handshakes.syncRtcp();
    return ok(undefined);
  }

  private clearSecurity(): void {
    const s = this.sec;
    const wasActive = s.active;
    this.handshakes.close(); // and with it every SRTP context
    s.active = false;
    s.sdesProfile = undefined;
    s.rxKey = undefined;
    s.txKey = undefined;
    s.ice = null;
    s.iceUfrag = '';
    s.icePwd = '';
    s.latched = false;
    s.latchAddress = '';
    s.latchPort = 0;
    s.rtcpLatched = false;
    s.rtcpAddress = '';
    s.rtcpPort = 0;
    if (wasActive && this.pub.hasRemote) {
      // Plain again: connect to what the client signalled, as a PlainRelay does.
      this.pub.rtp.set(this.pub.remoteAddress, this.pub.remoteRtpPort);
      this.pub.rtcp.set(this.pub.mux ? '' : this.pub.remoteAddress, this.pub.mux ? 0 : this.pub.remoteRtcpPort);
    }
  }

  override setRemote(side: MediaSide, remote: MediaEndpoint | null): void {
    if (side === 'pbx' || !this.sec.active) {
      super.setRemote(side, remote);
      return;
    }
    this.applyRemote(this.pub, remote, false);
    this.handshakes.maybeStart(this.sec.rtp);
    this.handshakes.syncRtcp();
  }

  override reset(): boolean {
    // The remotes go first (sockets stay unconnected), then the security: nothing reconnects on the way to idle.
    if (!super.reset()) return false;
    this.clearSecurity();
    this.sec.counters.reset();
    return true;
  }

  override activate(): void {
    super.activate();
    this.sec.counters.reset();
    this.sec.foreignLimiter.refill();
  }

  override close(): Promise<void> {
    this.handshakes.close();
    return super.close();
  }

  protected override onPacket(from: RelaySideState, to: RelaySideState, onRtcpSocket: boolean, msg: Buffer, rinfo: RemoteInfo): void {
    if (!this.sec.active) {
      super.onPacket(from, to, onRtcpSocket, msg, rinfo);
      return;
    }
    if (this.idle) {
      this.idleDrops.idleDropped++;
      return;
    }
    if (from === this.pub) this.fromClient(onRtcpSocket, msg, rinfo);
    else this.fromPbx(onRtcpSocket, msg, rinfo);
  }

  /** Public socket, secure leg: demux (RFC 7983), authenticate, latch, unprotect, relay to the PBX. */
  private fromClient(onRtcpSocket: boolean, msg: Buffer, rinfo: RemoteInfo): void {
    const s = this.sec;
    const c = this.pub.counters;
    c.packetsIn++;
    c.bytesIn += msg.length;
    const kind = demuxPacket(msg);
    if (kind === DEMUX_STUN) {
      if (answerIceCheck(s, this.pub, onRtcpSocket, msg, rinfo)) {
        this.handshakes.maybeStart(s.rtp);
        this.handshakes.maybeStart(s.rtcp);
      }
      return;
    }
    if (kind === DEMUX_DTLS) {
      this.handshakes.onRecord(onRtcpSocket ? s.rtcp : s.rtp, msg, rinfo);
      return;
    }
    if (kind !== DEMUX_RTP && kind !== DEMUX_RTCP) {
      c.dropMalformed++;
      return;
    }
    const isRtcp = kind === DEMUX_RTCP;
    if (onRtcpSocket && !isRtcp) {
      c.dropMalformed++;
      return;
    }
    // DTLS-SRTP: the RTCP port has keys of its own (RFC 5764 §4.1); none yet means drop, never the RTP keys.
    const rx = onRtcpSocket && s.rtp.endpoint !== null ? s.rtcp.rx : s.rtp.rx;
    if (rx === null) {
      c.dropNoRemote++;
      return;
    }
    // Is the source the authenticated peer? (RTCP on its own socket: the RTCP peer, or the RTP peer's address.)
    let known: boolean;
    let allowed: boolean;
    if (onRtcpSocket) {
      known = s.rtcpLatched && rinfo.port === s.rtcpPort && rinfo.address === s.rtcpAddress;
      // With ICE, RTCP on its own port may come only from the ICE-latched host.
      allowed = known || s.ice === null || (s.latched && rinfo.address === s.latchAddress);
    } else {
      known = s.latched && rinfo.port === s.latchPort && rinfo.address === s.latchAddress;
      // With ICE only an authenticated check moves the latch.
      allowed = known || s.ice === null;
    }
    if (!allowed) {
      c.dropUnexpectedSource++;
      return;
    }
    if (!(known ? this.pub.limiter.take() : s.foreignLimiter.take())) {
      c.dropRateLimited++;
      return;
    }
    const n = isRtcp ? rx.unprotectRtcp(msg, msg) : rx.unprotect(msg, msg);
    if (n < 0) {
      if (n === SrtpError.AUTH_FAIL || n === SrtpError.REPLAY || n === SrtpError.KEY_EXHAUSTED) c.dropAuthFailed++;
      else c.dropMalformed++;
      return;
    }
    if (!known) {
      // Authenticated (tag and replay): latch onto this source (RFC 3711 §3.3; NAT rebinding moves it).
      if (onRtcpSocket) {
        s.rtcpLatched = true;
        s.rtcpAddress = rinfo.address;
        s.rtcpPort = rinfo.port;
      } else {
        s.latched = true;
        s.latchAddress = rinfo.address;
        s.latchPort = rinfo.port;
        s.counters.latches++;
      }
    }
    if (!isRtcp) {
      if (n < 12 || this.pub.payloadTypeAllowed[(msg[1] as number) & 0x7f] === 0) {
        c.dropPayloadType++;
        return;
      }
    }
    const to = this.pbx;
    const target = isRtcp && !to.mux ? to.rtcp : to.rtp;
    if (!target.ready) {
      c.dropNoRemote++;
      return;
    }
    try {
      target.sock.send(msg, 0, n);
      c.packetsOut++;
      c.bytesOut += n;
    } catch {
      c.dropSendError++;
    }
  }

  /** PBX socket, secure leg: from the signalled PBX address only; protect and send to the latched client. */
  private fromPbx(onRtcpSocket: boolean, msg: Buffer, rinfo: RemoteInfo): void {
    const from = this.pbx;
    const s = this.sec;
    const c = from.counters;
    const kind = this.admit(from, onRtcpSocket, msg, rinfo);
    if (kind < 0) return;
    const isRtcp = kind === PACKET_RTCP;
    if (!from.limiter.take()) {
      c.dropRateLimited++;
      return;
    }
    let tx = s.rtp.tx;
    let latched = s.latched;
    let sock: Socket = this.pub.rtp.sock;
    let port = s.latchPort;
    let address = s.latchAddress;
    if (isRtcp && !this.pub.mux) {
      // To the client's RTCP port; under DTLS-SRTP with the RTCP component's keys only (RFC 5764 §4.1).
      if (s.rtp.endpoint !== null) tx = s.rtcp.tx;
      latched = s.rtcpLatched;
      sock = this.pub.rtcp.sock;
      port = s.rtcpPort;
      address = s.rtcpAddress;
    }
    if (tx === null || !latched) {
      c.dropNoRemote++;
      return;
    }
    const out = nextTxBuffer();
    const n = isRtcp ? tx.protectRtcp(msg, out) : tx.protect(msg, out);
    if (n < 0) {
      if (n === SrtpError.OUT_TOO_SMALL || n === SrtpError.KEY_EXHAUSTED) c.dropSendError++;
      else c.dropMalformed++;
      return;
    }
    try {
      sock.send(out, 0, n, port, address);
      c.packetsOut++;
      c.bytesOut += n;
    } catch {
      c.dropSendError++;
    }
  }
}

export interface SecureRelayOptions extends PlainRelayOptions {
  maxPacketRate?: number;
  dtls?: DtlsProvider;
}

/** Binds the four sockets of one leg; see bindRelaySockets. */
export async function openSecureRelay(opts: SecureRelayOptions, idleDrops?: IdleDropCounter): Promise<Result<SecureRelay, RelayBindError>> {
  const r = await bindRelaySockets(opts);
  if (!r.ok) return r;
  return ok(new SecureRelay(opts.publicPort, opts.pbxPort, r.value, idleDrops, opts.maxPacketRate ?? 0, opts.dtls));
}
