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
 * Hot path: unprotect works in place in the received buffer; protect writes into a ring of preallocated
 * buffers (an unconnected send completes on the next tick, so a single scratch buffer could be overwritten
 * before the kernel copied it). No closures, no logging per packet; counters are plain numbers.
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import { err, ok, type Result } from '../core/result.ts';
import { DEMUX_DTLS, DEMUX_RTCP, DEMUX_RTP, DEMUX_STUN, demuxPacket } from './demux.ts';
import { takesOverDtlsPeer } from './dtls-peer.ts';
import { createIceLiteResponder, isValidIcePwd, isValidIceUfrag } from './ice-lite.ts';
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
import { contextFor, nextTxBuffer, SecureSide, sameKey } from './secure-side.ts';
import type { DtlsProvider, PublicSecurity, SecureCounters, SecurityErrorCode } from './secure-types.ts';
import { createSrtpContext, type SrtpContext, SrtpError } from './srtp/index.ts';

export type { DtlsEndpointLike, DtlsProvider, PublicSecurity, SecurityErrorCode, SrtpKeyPair } from './secure-types.ts';
export { SecureCounters } from './secure-types.ts';

export class SecureRelay extends PlainRelay {
  private readonly sec = new SecureSide();
  private readonly dtlsProvider: DtlsProvider | undefined;
  /** The public endpoint the client signalled (not trusted for acceptance; a DTLS client's first destination). */
  private signalledAddress = '';
  private signalledPort = 0;

  private readonly dtlsSend = (datagram: Buffer): void => {
    const s = this.sec;
    if (s.dtlsPeerPort === 0) return;
    try {
      this.pub.rtp.sock.send(datagram, s.dtlsPeerPort, s.dtlsPeerAddress);
    } catch {
      this.pub.counters.dropSendError++;
    }
  };

  /** The RTCP component's records leave from the public RTCP socket. */
  private readonly rtcpDtlsSend = (datagram: Buffer): void => {
    const s = this.sec;
    if (s.rtcpDtlsPeerPort === 0) return;
    try {
      this.pub.rtcp.sock.send(datagram, s.rtcpDtlsPeerPort, s.rtcpDtlsPeerAddress);
    } catch {
      this.pub.counters.dropSendError++;
    }
  };

  constructor(
    publicPort: number,
    pbxPort: number,
    sockets: [Socket, Socket, Socket, Socket],
    idleDrops?: IdleDropCounter,
    maxPacketRate = 0,
    dtls?: DtlsProvider,
  ) {
    super(publicPort, pbxPort, sockets, idleDrops, maxPacketRate);
    this.dtlsProvider = dtls;
    this.sec.foreignLimiter.setRate(maxPacketRate);
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
    if (p.dtls && !this.dtlsProvider) return err({ code: 'MEDIA_BAD_SECURITY', reason: 'DTLS-SRTP is not available' });
    if (p.dtls && p.sdes) return err({ code: 'MEDIA_BAD_SECURITY', reason: 'SDES and DTLS on one stream' });
    if (p.ice && (!isValidIceUfrag(p.ice.localUfrag) || !isValidIcePwd(p.ice.localPwd))) {
      return err({ code: 'MEDIA_BAD_SECURITY', reason: 'bad ICE credentials' });
    }
    if (p.ice?.remoteUfrag !== undefined && !isValidIceUfrag(p.ice.remoteUfrag)) {
      return err({ code: 'MEDIA_BAD_SECURITY', reason: 'bad remote ICE ufrag' });
    }
    let rx: SrtpContext | null = s.rx;
    let tx: SrtpContext | null = s.tx;
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
      this.closeDtls();
      s.sdesProfile = p.sdes.profile;
      s.txKey = p.sdes.tx;
      s.rxKey = p.sdes.rx;
      s.tx = tx;
      s.rx = rx;
    }
    if (p.ice) {
      if (s.ice === null || s.iceUfrag !== p.ice.localUfrag || s.icePwd !== p.ice.localPwd) {
        s.ice = createIceLiteResponder({
          localUfrag: p.ice.localUfrag,
          localPwd: p.ice.localPwd,
          ...(p.ice.remoteUfrag !== undefined ? { remoteUfrag: p.ice.remoteUfrag } : {}),
        });
        s.iceUfrag = p.ice.localUfrag;
        s.icePwd = p.ice.localPwd;
      } else if (p.ice.remoteUfrag !== undefined) {
        s.ice.setRemoteUfrag(p.ice.remoteUfrag);
      }
    } else {
      s.ice = null;
      s.iceUfrag = '';
      s.icePwd = '';
    }
    if (p.dtls) {
      const fp = `${p.dtls.remoteFingerprint.algorithm.toLowerCase()} ${p.dtls.remoteFingerprint.value.toUpperCase()}`;
      if (s.dtls === null || s.dtlsRole !== p.dtls.role || s.dtlsFingerprint !== fp) {
        this.closeDtls();
        s.sdesProfile = undefined;
        s.txKey = undefined;
        s.rxKey = undefined;
        s.tx = null;
        s.rx = null;
        s.dtlsRole = p.dtls.role;
        s.dtlsFingerprint = fp;
        s.dtlsRemoteFingerprint = { algorithm: p.dtls.remoteFingerprint.algorithm, value: p.dtls.remoteFingerprint.value };
        this.openDtls(p.dtls.role, p.dtls.remoteFingerprint);
      }
    }
    this.syncRtcpDtls();
    return ok(undefined);
  }

  private openDtls(role: 'client' | 'server', remoteFingerprint: { algorithm: string; value: string }): void {
    const provider = this.dtlsProvider;
    if (!provider) return;
    const s = this.sec;
    const ep = provider.createEndpoint({ role, remoteFingerprint, send: this.dtlsSend });
    s.dtls = ep;
    s.dtlsStarted = false;
    ep.onConnected((r) => {
      if (s.dtls !== ep) return;
      try {
        s.rx = createSrtpContext({ profile: r.profile, ...r.keys.remote });
        s.tx = createSrtpContext({ profile: r.profile, ...r.keys.local });
        s.counters.dtlsConnected++;
      } catch {
        s.counters.dtlsFailed++;
      }
    });
    ep.onFailed(() => {
      if (s.dtls !== ep) return;
      s.counters.dtlsFailed++;
      s.dtlsPeerFailed = true;
    });
    this.maybeStartDtls();
  }

  /**
   * A DTLS client sends its first flight to the ICE-latched peer, or without ICE to the signalled endpoint; a
   * server answers whoever the records came from (the peer is set when the first record is accepted).
   */
  private maybeStartDtls(): void {
    const s = this.sec;
    if (!s.dtls || s.dtlsStarted) return;
    if (s.dtlsRole === 'client') {
      if (s.ice !== null) {
        if (!s.latched) return;
        s.dtlsPeerAddress = s.latchAddress;
        s.dtlsPeerPort = s.latchPort;
      } else {
        if (this.signalledPort === 0) return;
        s.dtlsPeerAddress = this.signalledAddress;
        s.dtlsPeerPort = this.signalledPort;
      }
    }
    s.dtlsStarted = true;
    try {
      s.dtls.start();
    } catch {
      s.counters.dtlsFailed++;
    }
  }

  /**
   * The RTCP component's handshake exists while the leg runs DTLS and the client signalled a port pair (no
   * rtcp-mux); it goes away when the client moves to rtcp-mux. Called whenever either may have changed.
   */
  private syncRtcpDtls(): void {
    const s = this.sec;
    if (s.dtls !== null && s.dtlsRole !== undefined && s.dtlsRemoteFingerprint && this.pub.hasRemote && !this.pub.mux) {
      if (s.rtcpDtls === null) this.openRtcpDtls(s.dtlsRole, s.dtlsRemoteFingerprint);
      this.maybeStartRtcpDtls();
    } else if (s.rtcpDtls !== null && this.pub.hasRemote && this.pub.mux) {
      this.closeRtcpDtls();
    }
  }

  private openRtcpDtls(role: 'client' | 'server', remoteFingerprint: { algorithm: string; value: string }): void {
    const provider = this.dtlsProvider;
    if (!provider) return;
    const s = this.sec;
    const ep = provider.createEndpoint({ role, remoteFingerprint, send: this.rtcpDtlsSend });
    s.rtcpDtls = ep;
    s.rtcpDtlsStarted = false;
    ep.onConnected((r) => {
      if (s.rtcpDtls !== ep) return;
      try {
        s.rtcpRx = createSrtpContext({ profile: r.profile, ...r.keys.remote });
        s.rtcpTx = createSrtpContext({ profile: r.profile, ...r.keys.local });
        s.counters.dtlsConnected++;
        s.counters.rtcpDtlsConnected++;
      } catch {
        s.counters.dtlsFailed++;
        s.counters.rtcpDtlsFailed++;
      }
    });
    ep.onFailed(() => {
      if (s.rtcpDtls !== ep) return;
      s.counters.dtlsFailed++;
      s.counters.rtcpDtlsFailed++;
      s.rtcpDtlsPeerFailed = true;
    });
  }

  /**
   * As maybeStartDtls, for the RTCP component: a client sends its first flight to the signalled RTCP port (with
   * ICE, on the ICE-latched host); a server arms its time bound now and answers the first source.
   */
  private maybeStartRtcpDtls(): void {
    const s = this.sec;
    const ep = s.rtcpDtls;
    if (ep === null || s.rtcpDtlsStarted) return;
    if (s.dtlsRole === 'client') {
      if (!this.pub.hasRemote || this.pub.mux) return;
      if (s.ice !== null) {
        if (!s.latched) return;
        s.rtcpDtlsPeerAddress = s.latchAddress;
      } else {
        s.rtcpDtlsPeerAddress = this.pub.remoteAddress;
      }
      s.rtcpDtlsPeerPort = this.pub.remoteRtcpPort;
    }
    s.rtcpDtlsStarted = true;
    try {
      ep.start();
    } catch {
      s.counters.dtlsFailed++;
      s.counters.rtcpDtlsFailed++;
    }
  }

  private closeRtcpDtls(): void {
    const s = this.sec;
    if (s.rtcpDtls) {
      try {
        s.rtcpDtls.close();
      } catch {
        // closing a failed endpoint: nothing more to release
      }
    }
    s.rtcpDtls = null;
    s.rtcpDtlsStarted = false;
    s.rtcpDtlsPeerAddress = '';
    s.rtcpDtlsPeerPort = 0;
    s.rtcpDtlsPeerFailed = false;
    s.rtcpDtlsRestarts = 0;
    s.rtcpRx = null;
    s.rtcpTx = null;
  }

  private closeDtls(): void {
    const s = this.sec;
    this.closeRtcpDtls();
    s.dtlsRemoteFingerprint = undefined;
    if (s.dtls) {
      try {
        s.dtls.close();
      } catch {
        // closing a failed endpoint: nothing more to release
      }
    }
    s.dtls = null;
    s.dtlsRole = undefined;
    s.dtlsFingerprint = '';
    s.dtlsStarted = false;
    s.dtlsPeerAddress = '';
    s.dtlsPeerPort = 0;
    s.dtlsPeerFailed = false;
    s.dtlsRestarts = 0;
  }

  private clearSecurity(): void {
    const s = this.sec;
    const wasActive = s.active;
    this.closeDtls();
    s.active = false;
    s.rx = null;
    s.tx = null;
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
      if (side === 'public') this.noteSignalled(remote);
      super.setRemote(side, remote);
      return;
    }
    this.noteSignalled(remote);
    this.applyRemote(this.pub, remote, false);
    this.maybeStartDtls();
    this.syncRtcpDtls();
  }

  private noteSignalled(remote: MediaEndpoint | null): void {
    this.signalledAddress = remote && remote.port !== 0 ? remote.address : '';
    this.signalledPort = remote && remote.port !== 0 ? remote.port : 0;
  }

  override reset(): boolean {
    // The remotes go first (sockets stay unconnected), then the security: nothing reconnects on the way to idle.
    if (!super.reset()) return false;
    this.clearSecurity();
    this.sec.counters.reset();
    this.signalledAddress = '';
    this.signalledPort = 0;
    return true;
  }

  override activate(): void {
    super.activate();
    this.sec.counters.reset();
    this.sec.foreignLimiter.refill();
  }

  override close(): Promise<void> {
    this.closeDtls();
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
      this.onStun(onRtcpSocket, msg, rinfo);
      return;
    }
    if (kind === DEMUX_DTLS) {
      if (onRtcpSocket) this.onRtcpDtls(msg, rinfo);
      else this.onDtls(msg, rinfo);
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
    const rx = onRtcpSocket && s.dtls !== null ? s.rtcpRx : s.rx;
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

  private onStun(onRtcpSocket: boolean, msg: Buffer, rinfo: RemoteInfo): void {
    const s = this.sec;
    const c = this.pub.counters;
    const ice = s.ice;
    if (ice === null || onRtcpSocket) {
      c.dropMalformed++;
      return;
    }
    const r = ice.handle(msg, rinfo.address, rinfo.port, s.stunOut);
    if (r.kind === 'drop') {
      c.dropMalformed++;
      return;
    }
    try {
      this.pub.rtp.sock.send(s.stunOut, 0, r.length, rinfo.port, rinfo.address);
    } catch {
      c.dropSendError++;
    }
    if (r.kind === 'error') {
      s.counters.iceRejected++;
      c.dropAuthFailed++;
      return;
    }
    s.counters.iceAnswered++;
    // RFC 8445 §7.3.1.5: a lite agent uses the nominated pair; before a nomination, the first valid check.
    if (!s.latched || (r.useCandidate && (rinfo.port !== s.latchPort || rinfo.address !== s.latchAddress))) {
      s.latched = true;
      s.latchAddress = rinfo.address;
      s.latchPort = rinfo.port;
      s.counters.latches++;
      this.maybeStartDtls();
      this.maybeStartRtcpDtls();
    }
  }

  private onDtls(msg: Buffer, rinfo: RemoteInfo): void {
    const s = this.sec;
    const c = this.pub.counters;
    if (s.dtls === null) {
      c.dropMalformed++;
      return;
    }
    let restart = false;
    if (s.ice !== null) {
      if (!s.latched || rinfo.port !== s.latchPort || rinfo.address !== s.latchAddress) {
        c.dropUnexpectedSource++;
        return;
      }
      s.dtlsPeerAddress = rinfo.address;
      s.dtlsPeerPort = rinfo.port;
    } else if (s.dtlsPeerPort === 0) {
      s.dtlsPeerAddress = rinfo.address;
      s.dtlsPeerPort = rinfo.port;
    } else if (rinfo.port !== s.dtlsPeerPort || rinfo.address !== s.dtlsPeerAddress || s.dtlsPeerFailed) {
      const slot = {
        address: s.dtlsPeerAddress,
        port: s.dtlsPeerPort,
        connected: s.rx !== null,
        failed: s.dtlsPeerFailed,
        restarts: s.dtlsRestarts,
      };
      if (
        s.dtlsRole !== 'server' ||
        !takesOverDtlsPeer(slot, msg, rinfo.address, rinfo.port, this.pub.remoteAddress, this.pub.remoteRtpPort)
      ) {
        c.dropUnexpectedSource++;
        return;
      }
      restart = true;
    }
    if (!this.pub.limiter.take()) {
      c.dropRateLimited++;
      return;
    }
    if (restart) this.restartDtls(rinfo.address, rinfo.port);
    const ep = s.dtls;
    if (ep === null) return;
    if (!s.dtlsStarted) this.maybeStartDtls();
    try {
      ep.handle(msg);
    } catch {
      s.counters.dtlsFailed++;
    }
  }

  /** A fresh RTP-component endpoint (same role and fingerprint) for a new DTLS peer; see dtls-peer.ts. */
  private restartDtls(address: string, port: number): void {
    const s = this.sec;
    const role = s.dtlsRole;
    const fingerprint = s.dtlsRemoteFingerprint;
    if (role === undefined || fingerprint === undefined) return;
    try {
      s.dtls?.close();
    } catch {
      // closing a failed endpoint: nothing more to release
    }
    s.dtls = null;
    s.dtlsPeerAddress = address;
    s.dtlsPeerPort = port;
    s.dtlsPeerFailed = false;
    s.dtlsRestarts++;
    s.counters.dtlsPeerRestarts++;
    this.openDtls(role, fingerprint);
  }

  /** As restartDtls, for the RTCP component (its own endpoint, peer and keys). */
  private restartRtcpDtls(address: string, port: number): void {
    const s = this.sec;
    const role = s.dtlsRole;
    const fingerprint = s.dtlsRemoteFingerprint;
    if (role === undefined || fingerprint === undefined) return;
    const restarts = s.rtcpDtlsRestarts;
    this.closeRtcpDtls();
    this.openRtcpDtls(role, fingerprint);
    s.rtcpDtlsPeerAddress = address;
    s.rtcpDtlsPeerPort = port;
    s.rtcpDtlsRestarts = restarts + 1;
    s.counters.dtlsPeerRestarts++;
  }

  /**
   * A DTLS record on the public RTCP socket: the RTCP component's handshake (no rtcp-mux). Its peer is chosen as
   * the RTP component's is, and kept apart from it: this never touches the RTP latch or the RTP DTLS peer.
   */
  private onRtcpDtls(msg: Buffer, rinfo: RemoteInfo): void {
    const s = this.sec;
    const c = this.pub.counters;
    if (s.rtcpDtls === null) {
      c.dropMalformed++;
      return;
    }
    if (s.ice !== null && (!s.latched || rinfo.address !== s.latchAddress)) {
      c.dropUnexpectedSource++;
      return;
    }
    let restart = false;
    if (s.rtcpDtlsPeerPort === 0) {
      s.rtcpDtlsPeerAddress = rinfo.address;
      s.rtcpDtlsPeerPort = rinfo.port;
    } else if (rinfo.port !== s.rtcpDtlsPeerPort || rinfo.address !== s.rtcpDtlsPeerAddress || s.rtcpDtlsPeerFailed) {
      const slot = {
        address: s.rtcpDtlsPeerAddress,
        port: s.rtcpDtlsPeerPort,
        connected: s.rtcpRx !== null,
        failed: s.rtcpDtlsPeerFailed,
        restarts: s.rtcpDtlsRestarts,
      };
      const signalledRtcpPort = this.pub.hasRemote && !this.pub.mux ? this.pub.remoteRtcpPort : 0;
      if (s.dtlsRole !== 'server' || !takesOverDtlsPeer(slot, msg, rinfo.address, rinfo.port, this.pub.remoteAddress, signalledRtcpPort)) {
        c.dropUnexpectedSource++;
        return;
      }
      restart = true;
    }
    if (!this.pub.limiter.take()) {
      c.dropRateLimited++;
      return;
    }
    if (restart) this.restartRtcpDtls(rinfo.address, rinfo.port);
    const ep = s.rtcpDtls;
    if (ep === null) return;
    if (!s.rtcpDtlsStarted) this.maybeStartRtcpDtls();
    try {
      ep.handle(msg);
    } catch {
      s.counters.dtlsFailed++;
      s.counters.rtcpDtlsFailed++;
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
    let tx = s.tx;
    let latched = s.latched;
    let sock: Socket = this.pub.rtp.sock;
    let port = s.latchPort;
    let address = s.latchAddress;
    if (isRtcp && !this.pub.mux) {
      // To the client's RTCP port; under DTLS-SRTP with the RTCP component's keys only (RFC 5764 §4.1).
      if (s.dtls !== null) tx = s.rtcpTx;
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
