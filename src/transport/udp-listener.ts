/** UDP listener: one datagram is one SIP message (RFC 3261 §18.3). */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { PalisadeError } from '../core/errors.ts';
import { unmapIPv4 } from '../core/net.ts';
import type { ConnectionTable } from './connection-table.ts';
import type { ResolvedListener, TransportOptions, TransportStatsDetail } from './options.ts';
import type { ListenerInfo, SendResult } from './types.ts';

/** Largest UDP payload over IPv4 (65535 − 8 UDP − 20 IP). */
const MAX_UDP_PAYLOAD = 65507;
const UDP_RECV_BUFFER_BYTES = 4 << 20;
const CR = 0x0d;
const LF = 0x0a;

function isOnlyCrlf(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== CR && b[i] !== LF) return false;
  return true;
}

export class UdpListener {
  readonly config: ResolvedListener;
  readonly family: 4 | 6;
  /** Bound to :: without ipv6Only: also reaches IPv4 peers as ::ffff:a.b.c.d. */
  readonly dualStack: boolean;
  info!: ListenerInfo;
  private readonly socket: dgram.Socket;
  private readonly opts: TransportOptions;
  private readonly stats: TransportStatsDetail;
  private readonly table: ConnectionTable;
  private closed = false;

  constructor(config: ResolvedListener, opts: TransportOptions, stats: TransportStatsDetail, table: ConnectionTable) {
    this.config = config;
    this.opts = opts;
    this.stats = stats;
    this.table = table;
    this.family = isIP(config.address) === 6 ? 6 : 4;
    this.dualStack = config.address === '::';
    this.socket = dgram.createSocket({ type: this.family === 6 ? 'udp6' : 'udp4', ipv6Only: false });
  }

  async open(): Promise<void> {
    const socket = this.socket;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        reject(
          new PalisadeError('TRANSPORT_LISTEN', {
            listener: this.config.id,
            address: this.config.address,
            port: this.config.port,
            cause: e.code,
          }),
        );
      };
      socket.once('error', onError);
      socket.bind({ address: this.config.address, port: this.config.port, exclusive: true }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    // After bind, errors (ICMP unreachable reports, send failures) are counted, never thrown.
    socket.on('error', () => {
      this.stats.socketErrors++;
    });
    socket.on('message', this.onDatagram);
    // A deeper receive queue rides out bursts while the event loop is busy; the kernel caps it at rmem_max.
    try {
      socket.setRecvBufferSize(UDP_RECV_BUFFER_BYTES);
    } catch {
      // not permitted: keep the default
    }
    const a = socket.address();
    this.info = {
      id: this.config.id,
      transport: 'udp',
      address: a.address,
      port: a.port,
      advertiseHost: this.config.advertiseHost ?? a.address,
      advertisePort: this.config.advertisePort ?? a.port,
    };
  }

  private readonly onDatagram = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    const stats = this.stats;
    stats.datagramsIn++;
    if (msg.length > this.opts.limits.maxMessageBytes) {
      stats.oversize++;
      return;
    }
    // Empty datagrams and CRLF keep-alives (common from phones behind NAT) carry nothing to parse.
    if (msg.length === 0 || isOnlyCrlf(msg)) return;
    const address = unmapIPv4(rinfo.address);
    if (!this.table.gate('udp', address, rinfo.port)) {
      stats.gateDropped++;
      return;
    }
    try {
      this.opts.events.onMessage(msg, {
        transport: 'udp',
        address,
        port: rinfo.port,
        listenerId: this.config.id,
        localAddress: this.info.address,
        localPort: this.info.port,
        connectionId: undefined,
        tls: undefined,
        receivedAt: this.opts.clock.now(),
      });
    } catch {
      stats.handlerErrors++;
    }
  };

  /** Whether this socket can reach an address of that family. */
  canReach(address: string): boolean {
    const fam = isIP(address);
    if (fam === 6) return this.family === 6;
    if (fam === 4) return this.family === 4 || this.dualStack;
    return false;
  }

  send(address: string, port: number, bytes: Buffer): SendResult {
    if (this.closed) return 'no-connection';
    if (bytes.length > MAX_UDP_PAYLOAD || !Number.isInteger(port) || port < 1 || port > 65535) {
      this.stats.sendErrors++;
      return 'error';
    }
    const to = this.family === 6 && isIP(address) === 4 ? `::ffff:${address}` : address;
    try {
      this.socket.send(bytes, port, to, this.onSent);
    } catch {
      this.stats.sendErrors++;
      return 'error';
    }
    this.stats.datagramsOut++;
    return 'sent';
  }

  private readonly onSent = (err: Error | null): void => {
    if (err !== null) this.stats.sendErrors++;
  };

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}
