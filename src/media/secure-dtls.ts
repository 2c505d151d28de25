/**
 * The DTLS-SRTP handshakes of a secure leg's public side (see secure-relay.ts): the RTP component's, and without
 * rtcp-mux the RTCP component's (RFC 5764 §4.1). Decides when each component (dtls-component.ts, held by
 * SecureSide, whose contexts the relay's hot path reads) opens, starts, restarts for a new peer and closes, and who
 * its DTLS peer is.
 *
 * A DTLS client sends its first flight to the ICE-latched peer, or without ICE to the endpoint the client
 * signalled; a server answers whoever the records came from. Without ICE a later ClientHello can replace the first
 * source only while no handshake completed (dtls-peer.ts). ICE checks run on the RTP port only, so with ICE the RTP
 * component's peer is the ICE-latched address:port itself, and the RTCP component accepts only the ICE-latched host
 * and chooses the port there as it would without ICE. The RTCP component never touches the RTP latch or the RTP
 * component.
 */
import type { RemoteInfo } from 'node:dgram';
import type { DtlsComponent } from './dtls-component.ts';
import { takesOverDtlsPeer } from './dtls-peer.ts';
import type { RelaySideState } from './plain-relay.ts';
import type { SecureSide } from './secure-side.ts';
import type { DtlsProvider } from './secure-types.ts';

export class SecureDtls {
  private readonly sec: SecureSide;
  /** The public side: its counters and limiter judge the records, its remote is what the client signalled. */
  private readonly pub: RelaySideState;
  private readonly provider: DtlsProvider | undefined;

  constructor(sec: SecureSide, pub: RelaySideState, provider: DtlsProvider | undefined) {
    this.sec = sec;
    this.pub = pub;
    this.provider = provider;
  }

  /** Whether DTLS-SRTP can run at all (the process has a certificate). */
  get available(): boolean {
    return this.provider !== undefined;
  }

  /** Opens the RTP component's handshake, and starts it when its peer is known (a server's at once). */
  open(role: 'client' | 'server', remoteFingerprint: { algorithm: string; value: string }): void {
    if (!this.provider) return;
    this.sec.rtp.open(this.provider, role, remoteFingerprint);
    this.maybeStart(this.sec.rtp);
  }

  /**
   * The RTCP component's handshake exists while the leg runs DTLS and the client signalled a port pair (no
   * rtcp-mux); it goes away when the client moves to rtcp-mux. Called whenever either may have changed.
   */
  syncRtcp(): void {
    const s = this.sec;
    const pub = this.pub;
    if (s.rtp.endpoint !== null && s.dtlsRole !== undefined && s.dtlsRemoteFingerprint && pub.hasRemote && !pub.mux) {
      if (s.rtcp.endpoint === null && this.provider) s.rtcp.open(this.provider, s.dtlsRole, s.dtlsRemoteFingerprint);
      this.maybeStart(s.rtcp);
    } else if (s.rtcp.endpoint !== null && pub.hasRemote && pub.mux) {
      s.rtcp.close();
    }
  }

  /**
   * Starts a component's handshake once a DTLS client knows where to send its first flight (see aimClient); a
   * server starts at once (arms its time bound) and answers the first source (the peer is set when the first record
   * is accepted).
   */
  maybeStart(c: DtlsComponent): void {
    if (c.endpoint === null || c.started) return;
    if (this.sec.dtlsRole === 'client' && !this.aimClient(c)) return;
    c.start();
  }

  /**
   * Sets a DTLS client's peer; false while it is not known. The RTP component: the ICE-latched peer, or without ICE
   * the endpoint the client signalled. The RTCP component: the signalled RTCP port (none with rtcp-mux) on the
   * ICE-latched host, or without ICE on the signalled address.
   */
  private aimClient(c: DtlsComponent): boolean {
    const s = this.sec;
    const pub = this.pub;
    if (s.ice !== null && !s.latched) return false;
    if (c.isRtcp) {
      if (!pub.hasRemote || pub.mux) return false;
      c.setPeer(s.ice !== null ? s.latchAddress : pub.remoteAddress, pub.remoteRtcpPort);
    } else if (s.ice !== null) {
      c.setPeer(s.latchAddress, s.latchPort);
    } else {
      // The signalled endpoint, normalized as the relay compares sources (IPv4-mapped and IPv6 spellings).
      if (!pub.hasRemote) return false;
      c.setPeer(pub.remoteAddress, pub.remoteRtpPort);
    }
    return true;
  }

  /** Closes both components' handshakes and forgets role, fingerprint, peers and their keys. */
  close(): void {
    const s = this.sec;
    s.rtcp.close();
    s.dtlsRemoteFingerprint = undefined;
    s.rtp.close();
    s.dtlsRole = undefined;
    s.dtlsFingerprint = '';
  }

  /**
   * A DTLS record on the public socket of component `c` (the RTP socket: the RTP component; the RTCP socket: the
   * RTCP component). Each component's peer is chosen on its own (see the module comment).
   */
  onRecord(c: DtlsComponent, msg: Buffer, rinfo: RemoteInfo): void {
    const s = this.sec;
    const drops = this.pub.counters;
    if (c.endpoint === null) {
      drops.dropMalformed++;
      return;
    }
    if (s.ice !== null && (!s.latched || rinfo.address !== s.latchAddress || (!c.isRtcp && rinfo.port !== s.latchPort))) {
      drops.dropUnexpectedSource++;
      return;
    }
    let takeover = false;
    if ((s.ice !== null && !c.isRtcp) || c.peerPort === 0) {
      c.setPeer(rinfo.address, rinfo.port);
    } else if (rinfo.port !== c.peerPort || rinfo.address !== c.peerAddress || c.peerFailed) {
      if (s.dtlsRole !== 'server' || !this.takesOver(c, msg, rinfo)) {
        drops.dropUnexpectedSource++;
        return;
      }
      takeover = true;
    }
    if (!this.pub.limiter.take()) {
      drops.dropRateLimited++;
      return;
    }
    if (takeover) this.restart(c, rinfo.address, rinfo.port);
    if (!c.started) this.maybeStart(c);
    c.handle(msg);
  }

  /** Whether a ClientHello from a new source takes component `c`'s peer slot (dtls-peer.ts). */
  private takesOver(c: DtlsComponent, msg: Buffer, rinfo: RemoteInfo): boolean {
    const pub = this.pub;
    const slot = { address: c.peerAddress, port: c.peerPort, connected: c.connected, failed: c.peerFailed, restarts: c.restarts };
    // The endpoint the client signalled for this component: its RTP port, or (no rtcp-mux) its RTCP port.
    const signalledPort = !c.isRtcp ? pub.remoteRtpPort : pub.hasRemote && !pub.mux ? pub.remoteRtcpPort : 0;
    return takesOverDtlsPeer(slot, msg, rinfo.address, rinfo.port, pub.remoteAddress, signalledPort);
  }

  /** A fresh endpoint for component `c` (same role and fingerprint) for a new DTLS peer; see dtls-peer.ts. */
  private restart(c: DtlsComponent, address: string, port: number): void {
    const s = this.sec;
    const role = s.dtlsRole;
    const fingerprint = s.dtlsRemoteFingerprint;
    if (!this.provider || role === undefined || fingerprint === undefined) return;
    c.restart(this.provider, role, fingerprint, address, port);
  }
}
