/**
 * Plain RTP/RTCP relay for one media leg (one m= section).
 *
 *   public peer ──► [public RTP :p]  ──────────────► [pbx RTP :q]  ──► pbx peer
 *               ◄──                  ◄──────────────               ◄──
 *               ──► [public RTCP :p+1] ─► (pbx RTCP :q+1, or pbx RTP :q when the pbx side muxes)
 *
 * Each side has its own RTP socket and RTCP socket (port pair from the pool). A side's sockets both receive
 * from that side and send to it (symmetric RTP, RFC 4961), so they are `connect()`ed to the endpoint the side
 * signalled: the kernel then filters other sources, and `send(buf)` needs no address.
 *
 * Security: a packet is accepted on a side's socket only from that side's signalled address:port
 * (else 'unexpected_source'; before anything is signalled, 'no_remote'); it must be RTP/RTCP version 2 with a
 * whole header ('malformed'); RTP must carry a negotiated payload type when the side's were given
 * ('payload_type'). With rtcp-mux on a side, its RTCP socket accepts nothing.
 *
 * Reuse: sockets outlive sessions. reset() ends a session without closing (sockets disconnected, state and
 * counters cleared, every packet dropped and counted as idle); activate() starts the next one on the same sockets.
 * The control keeps reset relays in its idle pool for the quarantine (see socket-pool.ts).
 *
 * Hot path (onPacket): no allocation of ours, no closures, no template strings, no logging; counters are
 * plain numbers. Every socket has an 'error' listener: an ICMP unreachable on a connected socket surfaces as
 * an 'error' event and would otherwise kill the process.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { err, ok, type Result } from '../core/result.ts';
import {
  classifyPacket,
  type MediaEndpoint,
  type MediaRelay,
  type MediaSide,
  PACKET_MALFORMED,
  PACKET_RTCP,
  PacketRateLimiter,
  RelayCounters,
} from './relay.ts';

export interface PlainRelayOptions {
  publicAddress: string;
  /** RTP port on publicAddress; RTCP binds publicPort + 1. */
  publicPort: number;
  pbxAddress: string;
  pbxPort: number;
}

export interface RelayBindError {
  code: 'MEDIA_BIND';
  side: MediaSide;
  /** The RTP port of the pair that failed to bind (to be quarantined by the caller). */
  port: number;
  reason: string;
}

/** Normalizes an address to the form Node reports in rinfo.address (IPv6 lower-case, compressed). */
export function normalizeAddress(address: string): string {
  if (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) return address.slice(7);
  if (isIP(address) !== 6) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address.toLowerCase();
  }
}

/**
 * Keeps one socket connected to a wanted remote. Connect/disconnect are control-path work and may overlap
 * with later updates, so the wanted target is recorded and `pump` converges toward it.
 */
export class SocketTarget {
  /** True while the socket is connected to the wanted remote: the hot path may send. */
  ready = false;
  closed = false;
  private busy = false;
  private connected = false;
  private wantAddress = '';
  private wantPort = 0;
  private curAddress = '';
  private curPort = 0;
  /** The connect() in flight (busy). */
  private pendingAddress = '';
  private pendingPort = 0;
  /**
   * A remote connect() refused (EINVAL for an address the bound interface cannot reach, EACCES for broadcast).
   * It is not retried until the remote changes: retrying at once looped forever and froze the daemon on one
   * INVITE whose SDP named such an address (found by the daemon garbage test).
   */
  private failedAddress = '';
  private failedPort = 0;
  connectFailures = 0;

  constructor(readonly sock: Socket) {}

  // Made once per socket (sockets outlive sessions), not once per connect().
  private readonly onConnect = (e?: Error): void => {
    this.busy = false;
    if (this.closed) return;
    if (!e) {
      this.connected = true;
      this.curAddress = this.pendingAddress;
      this.curPort = this.pendingPort;
    } else {
      this.connectFailures++;
      this.failedAddress = this.pendingAddress;
      this.failedPort = this.pendingPort;
    }
    this.pump();
  };

  /** port 0 means "no remote". */
  set(address: string, port: number): void {
    if (address !== this.wantAddress || port !== this.wantPort) {
      this.failedAddress = '';
      this.failedPort = 0;
    }
    this.wantAddress = address;
    this.wantPort = port;
    this.pump();
  }

  private pump(): void {
    if (this.closed || this.busy) return;
    if (this.connected && this.curAddress === this.wantAddress && this.curPort === this.wantPort) {
      this.ready = true;
      return;
    }
    this.ready = false;
    if (this.connected) {
      this.connected = false;
      this.curAddress = '';
      this.curPort = 0;
      try {
        this.sock.disconnect();
      } catch {
        // already disconnected (socket closing); nothing to undo
      }
    }
    if (this.wantPort === 0) return;
    if (this.wantAddress === this.failedAddress && this.wantPort === this.failedPort) return; // refused: media toward it is dropped
    this.pendingAddress = this.wantAddress;
    this.pendingPort = this.wantPort;
    this.busy = true;
    try {
      this.sock.connect(this.pendingPort, this.pendingAddress, this.onConnect);
    } catch {
      this.busy = false;
    }
  }
}

export class RelaySideState {
  readonly counters = new RelayCounters();
  /** media.maxPacketRate for packets from this side (set by the relay; no cap until then). */
  readonly limiter = new PacketRateLimiter(0);
  hasRemote = false;
  remoteAddress = '';
  remoteRtpPort = 0;
  remoteRtcpPort = 0;
  mux = false;
  /** 1 = payload type accepted from this side. Indexed by the 7-bit PT. */
  readonly payloadTypeAllowed = new Uint8Array(128).fill(1);
  readonly rtp: SocketTarget;
  readonly rtcp: SocketTarget;

  constructor(rtp: Socket, rtcp: Socket) {
    this.rtp = new SocketTarget(rtp);
    this.rtcp = new SocketTarget(rtcp);
  }
}

/** Packets that reached a relay while it sat idle in the pool (between sessions): dropped, counted here. */
export interface IdleDropCounter {
  idleDropped: number;
}

export class PlainRelay implements MediaRelay {
  readonly publicPort: number;
  readonly pbxPort: number;
  protected readonly pub: RelaySideState;
  protected readonly pbx: RelaySideState;
  protected closing: Promise<void> | undefined;
  /** Between sessions (pooled): every packet is dropped and counted in `idleDrops`. */
  protected idle = false;
  protected readonly idleDrops: IdleDropCounter;

  // Bound once per relay; the hot path itself creates nothing.
  private readonly onPublicRtp = (msg: Buffer, rinfo: RemoteInfo): void => {
    this.onPacket(this.pub, this.pbx, false, msg, rinfo);
  };
  private readonly onPublicRtcp = (msg: Buffer, rinfo: RemoteInfo): void => {
    this.onPacket(this.pub, this.pbx, true, msg, rinfo);
  };
  private readonly onPbxRtp = (msg: Buffer, rinfo: RemoteInfo): void => {
    this.onPacket(this.pbx, this.pub, false, msg, rinfo);
  };
  private readonly onPbxRtcp = (msg: Buffer, rinfo: RemoteInfo): void => {
    this.onPacket(this.pbx, this.pub, true, msg, rinfo);
  };

  /** Use openPlainRelay(). */
  constructor(
    publicPort: number,
    pbxPort: number,
    sockets: [Socket, Socket, Socket, Socket],
    idleDrops?: IdleDropCounter,
    maxPacketRate = 0,
  ) {
    this.publicPort = publicPort;
    this.pbxPort = pbxPort;
    this.idleDrops = idleDrops ?? { idleDropped: 0 };
    const [pubRtp, pubRtcp, pbxRtp, pbxRtcp] = sockets;
    this.pub = new RelaySideState(pubRtp, pubRtcp);
    this.pbx = new RelaySideState(pbxRtp, pbxRtcp);
    this.pub.limiter.setRate(maxPacketRate);
    this.pbx.limiter.setRate(maxPacketRate);
    pubRtp.on('message', this.onPublicRtp);
    pubRtcp.on('message', this.onPublicRtcp);
    pbxRtp.on('message', this.onPbxRtp);
    pbxRtcp.on('message', this.onPbxRtcp);
    this.pub.rtp.sock.on('error', () => this.pub.counters.socketErrors++);
    this.pub.rtcp.sock.on('error', () => this.pub.counters.socketErrors++);
    this.pbx.rtp.sock.on('error', () => this.pbx.counters.socketErrors++);
    this.pbx.rtcp.sock.on('error', () => this.pbx.counters.socketErrors++);
  }

  /**
   * Ends the current session without closing anything: both sides forget their remote (connected sockets are
   * disconnected), counters return to zero, and until activate() every packet is dropped and counted as idle.
   * The sockets stop holding the process open meanwhile. False when the relay is closed (not reusable).
   */
  reset(): boolean {
    if (this.closing) return false;
    this.idle = true;
    this.setRemote('public', null);
    this.setRemote('pbx', null);
    this.pub.counters.reset();
    this.pbx.counters.reset();
    this.pub.rtp.sock.unref();
    this.pub.rtcp.sock.unref();
    this.pbx.rtp.sock.unref();
    this.pbx.rtcp.sock.unref();
    return true;
  }

  /** Starts a session on a reset relay: packets are handled again (dropped as 'no_remote' until signalled). */
  activate(): void {
    if (this.closing || !this.idle) return;
    this.idle = false;
    this.pub.counters.reset(); // socket errors seen while idle belong to no session
    this.pbx.counters.reset();
    this.pub.limiter.refill();
    this.pbx.limiter.refill();
    this.pub.rtp.sock.ref();
    this.pub.rtcp.sock.ref();
    this.pbx.rtp.sock.ref();
    this.pbx.rtcp.sock.ref();
  }

  /** media.maxPacketRate (packets/s per direction, 0 = no cap): applied at once, and to every later session. */
  setMaxPacketRate(rate: number): void {
    this.pub.limiter.setRate(rate);
    this.pbx.limiter.setRate(rate);
  }

  counters(side: MediaSide): RelayCounters {
    return side === 'public' ? this.pub.counters : this.pbx.counters;
  }

  setRemote(side: MediaSide, remote: MediaEndpoint | null): void {
    this.applyRemote(side === 'public' ? this.pub : this.pbx, remote, true);
  }

  /**
   * Records where a side receives; `connect` false leaves its sockets unconnected (a secure public side learns its
   * peer by authentication instead, see secure-relay.ts).
   */
  protected applyRemote(s: RelaySideState, remote: MediaEndpoint | null, connect: boolean): void {
    if (this.closing) return;
    if (!remote || remote.port === 0) {
      s.hasRemote = false;
      s.remoteAddress = '';
      s.remoteRtpPort = 0;
      s.remoteRtcpPort = 0;
      s.mux = false;
      s.payloadTypeAllowed.fill(1);
      s.rtp.set('', 0);
      s.rtcp.set('', 0);
      return;
    }
    const address = normalizeAddress(remote.address);
    const mux = remote.rtcpMux === true;
    const pts = remote.payloadTypes;
    s.payloadTypeAllowed.fill(pts === undefined ? 1 : 0);
    if (pts !== undefined) for (const pt of pts) if (pt >= 0 && pt <= 127) s.payloadTypeAllowed[pt] = 1;
    const rtcpPort = mux ? remote.port : (remote.rtcpPort ?? remote.port + 1);
    // Order matters for the hot path: mark unknown while the fields change.
    s.hasRemote = false;
    s.remoteAddress = address;
    s.remoteRtpPort = remote.port;
    s.remoteRtcpPort = rtcpPort;
    s.mux = mux;
    s.hasRemote = true;
    s.rtp.set(connect ? address : '', connect ? remote.port : 0);
    s.rtcp.set(connect && !mux ? address : '', connect && !mux ? rtcpPort : 0);
  }

  /**
   * The checks every packet from a side with a signalled endpoint passes (the PBX side of every relay, both sides of
   * a plain one): counted in, from that endpoint only, a whole RTP/RTCP header (RTCP only on an RTCP socket), a
   * negotiated payload type. Returns the packet kind, or -1 when it was dropped (and counted).
   */
  protected admit(from: RelaySideState, onRtcpSocket: boolean, msg: Buffer, rinfo: RemoteInfo): number {
    const c = from.counters;
    c.packetsIn++;
    c.bytesIn += msg.length;
    if (!from.hasRemote) {
      c.dropNoRemote++;
      return -1;
    }
    if (onRtcpSocket) {
      if (from.mux || rinfo.port !== from.remoteRtcpPort || rinfo.address !== from.remoteAddress) {
        c.dropUnexpectedSource++;
        return -1;
      }
    } else if (rinfo.port !== from.remoteRtpPort || rinfo.address !== from.remoteAddress) {
      c.dropUnexpectedSource++;
      return -1;
    }
    const kind = classifyPacket(msg);
    if (kind === PACKET_MALFORMED || (onRtcpSocket && kind !== PACKET_RTCP)) {
      c.dropMalformed++;
      return -1;
    }
    if (kind !== PACKET_RTCP && from.payloadTypeAllowed[(msg[1] as number) & 0x7f] === 0) {
      c.dropPayloadType++;
      return -1;
    }
    return kind;
  }

  /** The hot path. `from` is the side the packet came from, `to` the side it goes to. */
  protected onPacket(from: RelaySideState, to: RelaySideState, onRtcpSocket: boolean, msg: Buffer, rinfo: RemoteInfo): void {
    if (this.idle) {
      this.idleDrops.idleDropped++;
      return;
    }
    const c = from.counters;
    const kind = this.admit(from, onRtcpSocket, msg, rinfo);
    if (kind < 0) return;
    if (!from.limiter.take()) {
      c.dropRateLimited++;
      return;
    }
    // RTCP goes to the other side's RTCP destination: its RTP port when it muxes (RFC 5761), else its RTCP port.
    const target = kind === PACKET_RTCP && !to.mux ? to.rtcp : to.rtp;
    if (!target.ready) {
      c.dropNoRemote++;
      return;
    }
    try {
      target.sock.send(msg);
      c.packetsOut++;
      c.bytesOut += msg.length;
    } catch {
      c.dropSendError++;
    }
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    const targets = [this.pub.rtp, this.pub.rtcp, this.pbx.rtp, this.pbx.rtcp];
    this.pub.hasRemote = false;
    this.pbx.hasRemote = false;
    this.closing = Promise.all(targets.map((t) => closeTarget(t))).then(() => undefined);
    return this.closing;
  }
}

function closeTarget(t: SocketTarget): Promise<void> {
  t.closed = true;
  t.ready = false;
  return closeSocket(t.sock);
}

function closeSocket(sock: Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    sock.removeAllListeners('message');
    try {
      sock.close(() => resolve());
    } catch {
      resolve(); // not running (never bound, or already closed)
    }
  });
}

function ignoreError(): void {}

function bindSocket(family: 'udp4' | 'udp6', address: string, port: number): Promise<Result<Socket, string>> {
  return new Promise((resolve) => {
    // The relay sends only to IP literals (normalized, validated by the control). Node's default lookup answers
    // those through dns.lookup on the next tick — a closure and a tick per unconnected send; once bound this one
    // answers at once. (bind() keeps the asynchronous answer: its errors must not surface inside bind itself.)
    let bound = false;
    const lookup = (host: string, _f: unknown, cb: (e: NodeJS.ErrnoException | null, a: string, f: number) => void): void => {
      const fam = host.includes(':') ? 6 : 4;
      if (bound) cb(null, host, fam);
      else process.nextTick(cb, null, host, fam);
    };
    const sock = createSocket({ type: family, reuseAddr: false, lookup });
    const onError = (e: Error): void => {
      sock.removeListener('error', onError);
      sock.on('error', ignoreError);
      closeSocket(sock).then(() => resolve(err((e as NodeJS.ErrnoException).code ?? 'bind failed')));
    };
    sock.on('error', onError);
    sock.bind({ port, address, exclusive: true }, () => {
      bound = true;
      sock.removeListener('error', onError);
      // Never without an 'error' listener, even while the other sockets of the leg are still binding.
      sock.on('error', ignoreError);
      resolve(ok(sock));
    });
  });
}

function familyOf(address: string): 'udp4' | 'udp6' | undefined {
  const v = isIP(address);
  return v === 4 ? 'udp4' : v === 6 ? 'udp6' : undefined;
}

/**
 * Binds the four sockets of one leg. On failure every socket bound so far is closed, and the error names the
 * side and port pair that failed so the caller can set it aside and try another.
 */
export async function openPlainRelay(opts: PlainRelayOptions, idleDrops?: IdleDropCounter): Promise<Result<PlainRelay, RelayBindError>> {
  const r = await bindRelaySockets(opts);
  return r.ok ? ok(new PlainRelay(opts.publicPort, opts.pbxPort, r.value, idleDrops)) : r;
}

/** The four sockets of one leg (public RTP, public RTCP, PBX RTP, PBX RTCP), bound; see openPlainRelay. */
export async function bindRelaySockets(opts: PlainRelayOptions): Promise<Result<[Socket, Socket, Socket, Socket], RelayBindError>> {
  const plan: [MediaSide, string, number][] = [
    ['public', opts.publicAddress, opts.publicPort],
    ['public', opts.publicAddress, opts.publicPort + 1],
    ['pbx', opts.pbxAddress, opts.pbxPort],
    ['pbx', opts.pbxAddress, opts.pbxPort + 1],
  ];
  const bound: Socket[] = [];
  for (const [side, address, port] of plan) {
    const family = familyOf(address);
    const r = family ? await bindSocket(family, address, port) : err('local address is not an IP address');
    if (!r.ok) {
      await Promise.all(bound.map((s) => closeSocket(s)));
      return err({ code: 'MEDIA_BIND', side, port: port % 2 === 0 ? port : port - 1, reason: r.error });
    }
    bound.push(r.value);
  }
  return ok(bound as [Socket, Socket, Socket, Socket]);
}
