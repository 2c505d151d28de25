/**
 * One component of a secure leg's public side (RFC 5764 §4.1): the RTP component, and without rtcp-mux the RTCP
 * component, each with a DTLS-SRTP handshake of its own (on its own public socket, with its own DTLS peer) and the
 * SRTP contexts that protect its packets. The RTP component's contexts are also where SDES keys go (no handshake
 * runs then); the RTCP component's come only from its own handshake, never from the RTP component's.
 *
 * The component holds the mechanism (endpoint lifecycle, sending, counting); secure-dtls.ts decides when it opens,
 * starts and restarts and who its peer is. The relay's hot path reads `rx` / `tx` (plain fields).
 */
import type { SocketTarget } from './plain-relay.ts';
import type { RelayCounters } from './relay.ts';
import type { DtlsEndpointLike, DtlsProvider, SecureCounters } from './secure-types.ts';
import { createSrtpContext, type SrtpContext } from './srtp/index.ts';

export class DtlsComponent {
  /** RTCP (component 2): counted again in rtcpDtlsConnected / rtcpDtlsFailed. */
  readonly isRtcp: boolean;
  /** The handshake; null while the component runs none. */
  endpoint: DtlsEndpointLike | null = null;
  started = false;
  /** The DTLS peer (port 0: none yet): where records go, and the only source accepted once chosen. */
  peerAddress = '';
  peerPort = 0;
  /** The handshake with the current DTLS peer failed; a fresh endpoint may be opened for a new peer (dtls-peer.ts). */
  peerFailed = false;
  /** Fresh endpoints opened for new peers since the component last closed (dtls-peer.ts bounds them). */
  restarts = 0;
  /** SRTP contexts (unprotect what arrives, protect what leaves); null until keyed. */
  rx: SrtpContext | null = null;
  tx: SrtpContext | null = null;
  /** The public socket the component's records leave from. */
  private readonly target: SocketTarget;
  /** The public side's counters (a failed send). */
  private readonly drops: RelayCounters;
  private readonly counters: SecureCounters;

  /** Bound once: the endpoint sends its records through this. */
  private readonly send = (datagram: Buffer): void => {
    if (this.peerPort === 0) return;
    try {
      this.target.sock.send(datagram, this.peerPort, this.peerAddress);
    } catch {
      this.drops.dropSendError++;
    }
  };

  constructor(isRtcp: boolean, target: SocketTarget, drops: RelayCounters, counters: SecureCounters) {
    this.isRtcp = isRtcp;
    this.target = target;
    this.drops = drops;
    this.counters = counters;
  }

  /**
   * While a handshake runs only it sets the contexts, so this says it completed: the peer is proven and never
   * replaced (dtls-peer.ts).
   */
  get connected(): boolean {
    return this.rx !== null;
  }

  /** A new endpoint, not started yet; its keys become this component's contexts once it connects. */
  open(provider: DtlsProvider, role: 'client' | 'server', remoteFingerprint: { algorithm: string; value: string }): void {
    const ep = provider.createEndpoint({ role, remoteFingerprint, send: this.send });
    this.endpoint = ep;
    this.started = false;
    ep.onConnected((r) => {
      if (this.endpoint !== ep) return;
      try {
        this.rx = createSrtpContext({ profile: r.profile, ...r.keys.remote });
        this.tx = createSrtpContext({ profile: r.profile, ...r.keys.local });
        this.counters.dtlsConnected++;
        if (this.isRtcp) this.counters.rtcpDtlsConnected++;
      } catch {
        this.countFailure();
      }
    });
    ep.onFailed(() => {
      if (this.endpoint !== ep) return;
      this.countFailure();
      this.peerFailed = true;
    });
  }

  setPeer(address: string, port: number): void {
    this.peerAddress = address;
    this.peerPort = port;
  }

  /** Starts the handshake (a client sends its first flight to the peer; a server arms its time bound). */
  start(): void {
    const ep = this.endpoint;
    if (ep === null) return;
    this.started = true;
    try {
      ep.start();
    } catch {
      this.countFailure();
    }
  }

  /** A record from the peer. */
  handle(msg: Buffer): void {
    const ep = this.endpoint;
    if (ep === null) return;
    try {
      ep.handle(msg);
    } catch {
      this.countFailure();
    }
  }

  /**
   * A fresh endpoint (same role and fingerprint, not started yet) for a new DTLS peer; see dtls-peer.ts. Counts
   * toward this component's restarts and the leg's dtlsPeerRestarts.
   */
  restart(
    provider: DtlsProvider,
    role: 'client' | 'server',
    remoteFingerprint: { algorithm: string; value: string },
    address: string,
    port: number,
  ): void {
    const restarts = this.restarts;
    this.close();
    this.open(provider, role, remoteFingerprint);
    this.setPeer(address, port);
    this.restarts = restarts + 1;
    this.counters.dtlsPeerRestarts++;
  }

  /** Closes the handshake and forgets the peer, the restarts and the contexts. */
  close(): void {
    if (this.endpoint) {
      try {
        this.endpoint.close();
      } catch {
        // closing a failed endpoint: nothing more to release
      }
    }
    this.endpoint = null;
    this.started = false;
    this.peerAddress = '';
    this.peerPort = 0;
    this.peerFailed = false;
    this.restarts = 0;
    this.rx = null;
    this.tx = null;
  }

  private countFailure(): void {
    this.counters.dtlsFailed++;
    if (this.isRtcp) this.counters.rtcpDtlsFailed++;
  }
}
