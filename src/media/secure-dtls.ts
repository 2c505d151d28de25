/**
 * The DTLS-SRTP handshakes of a secure leg's public side (see secure-relay.ts): the RTP component's, and without
 * rtcp-mux the RTCP component's (RFC 5764 §4.1). Owns the endpoints' lifecycle (open, start, restart for a new
 * peer, close) and the choice of each component's DTLS peer; the state itself lives in SecureSide, which the relay's
 * hot path reads (the exported SRTP contexts, the peers).
 *
 * A DTLS client sends its first flight to the ICE-latched peer, or without ICE to the endpoint the client
 * signalled; a server answers whoever the records came from. Without ICE a later ClientHello can replace the first
 * source only while no handshake completed (dtls-peer.ts).
 */
import type { RemoteInfo } from 'node:dgram';
import { takesOverDtlsPeer } from './dtls-peer.ts';
import type { RelaySideState } from './plain-relay.ts';
import type { MediaEndpoint } from './relay.ts';
import type { SecureSide } from './secure-side.ts';
import type { DtlsProvider } from './secure-types.ts';
import { createSrtpContext } from './srtp/index.ts';

export class SecureDtls {
  private readonly sec: SecureSide;
  /** The public side: its sockets carry the records, its counters and limiter judge them. */
  private readonly pub: RelaySideState;
  private readonly provider: DtlsProvider | undefined;
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

  constructor(sec: SecureSide, pub: RelaySideState, provider: DtlsProvider | undefined) {
    this.sec = sec;
    this.pub = pub;
    this.provider = provider;
  }

  /** Whether DTLS-SRTP can run at all (the process has a certificate). */
  get available(): boolean {
    return this.provider !== undefined;
  }

  /** Notes where the client said (in its SDP) it receives; null or port 0 forgets it. */
  noteSignalled(remote: MediaEndpoint | null): void {
    this.signalledAddress = remote && remote.port !== 0 ? remote.address : '';
    this.signalledPort = remote && remote.port !== 0 ? remote.port : 0;
  }

  open(role: 'client' | 'server', remoteFingerprint: { algorithm: string; value: string }): void {
    const provider = this.provider;
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
    this.maybeStart();
  }

  /**
   * A DTLS client sends its first flight to the ICE-latched peer, or without ICE to the signalled endpoint; a
   * server answers whoever the records came from (the peer is set when the first record is accepted).
   */
  maybeStart(): void {
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
  syncRtcp(): void {
    const s = this.sec;
    if (s.dtls !== null && s.dtlsRole !== undefined && s.dtlsRemoteFingerprint && this.pub.hasRemote && !this.pub.mux) {
      if (s.rtcpDtls === null) this.openRtcp(s.dtlsRole, s.dtlsRemoteFingerprint);
      this.maybeStartRtcp();
    } else if (s.rtcpDtls !== null && this.pub.hasRemote && this.pub.mux) {
      this.closeRtcp();
    }
  }

  private openRtcp(role: 'client' | 'server', remoteFingerprint: { algorithm: string; value: string }): void {
    const provider = this.provider;
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
   * As maybeStart, for the RTCP component: a client sends its first flight to the signalled RTCP port (with
   * ICE, on the ICE-latched host); a server arms its time bound now and answers the first source.
   */
  maybeStartRtcp(): void {
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

  private closeRtcp(): void {
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

  /** Closes both components' handshakes and forgets role, fingerprint and peers (the signalled endpoint stays). */
  close(): void {
    const s = this.sec;
    this.closeRtcp();
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

  /** A DTLS record on the public RTP socket: the RTP component's handshake. */
  onRecord(msg: Buffer, rinfo: RemoteInfo): void {
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
    if (restart) this.restart(rinfo.address, rinfo.port);
    const ep = s.dtls;
    if (ep === null) return;
    if (!s.dtlsStarted) this.maybeStart();
    try {
      ep.handle(msg);
    } catch {
      s.counters.dtlsFailed++;
    }
  }

  /** A fresh RTP-component endpoint (same role and fingerprint) for a new DTLS peer; see dtls-peer.ts. */
  private restart(address: string, port: number): void {
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
    this.open(role, fingerprint);
  }

  /** As restart, for the RTCP component (its own endpoint, peer and keys). */
  private restartRtcp(address: string, port: number): void {
    const s = this.sec;
    const role = s.dtlsRole;
    const fingerprint = s.dtlsRemoteFingerprint;
    if (role === undefined || fingerprint === undefined) return;
    const restarts = s.rtcpDtlsRestarts;
    this.closeRtcp();
    this.openRtcp(role, fingerprint);
    s.rtcpDtlsPeerAddress = address;
    s.rtcpDtlsPeerPort = port;
    s.rtcpDtlsRestarts = restarts + 1;
    s.counters.dtlsPeerRestarts++;
  }

  /**
   * A DTLS record on the public RTCP socket: the RTCP component's handshake (no rtcp-mux). Its peer is chosen as
   * the RTP component's is, and kept apart from it: this never touches the RTP latch or the RTP DTLS peer.
   */
  onRtcpRecord(msg: Buffer, rinfo: RemoteInfo): void {
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
    if (restart) this.restartRtcp(rinfo.address, rinfo.port);
    const ep = s.rtcpDtls;
    if (ep === null) return;
    if (!s.rtcpDtlsStarted) this.maybeStartRtcp();
    try {
      ep.handle(msg);
    } catch {
      s.counters.dtlsFailed++;
      s.counters.rtcpDtlsFailed++;
    }
  }
}
