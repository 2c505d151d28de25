/**
 * The open connections: ids, caps (per source IP and total), the endpoint index used to reuse flows, the
 * gate hook, and delivery to onMessage. Every map here holds only open connections, so the total cap bounds
 * them all.
 */
import type { Socket } from 'node:net';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import { type SipTransport, unmapIPv4 } from '../core/net.ts';
import { Connection, type ConnectionOwner } from './connection.ts';
import type { TransportLimits, TransportOptions, TransportStatsDetail } from './options.ts';
import type { TransportEvents } from './types.ts';

function endpointKey(transport: SipTransport, address: string, port: number): string {
  return `${transport}|${address}|${port}`;
}

export class ConnectionTable implements ConnectionOwner {
  readonly stats: TransportStatsDetail;
  readonly clock: Clock;
  readonly limits: TransportLimits;
  private readonly events: TransportEvents;
  private readonly logger: Logger;
  private nextId = 1;
  private readonly byId = new Map<number, Connection>();
  private readonly byEndpoint = new Map<string, Connection>();
  private readonly perSource = new Map<string, number>();
  private closing = false;

  constructor(opts: TransportOptions, stats: TransportStatsDetail) {
    this.stats = stats;
    this.clock = opts.clock;
    this.limits = opts.limits;
    this.events = opts.events;
    this.logger = opts.logger;
  }

  get size(): number {
    return this.byId.size;
  }

  /** The gate hook; a throwing hook refuses (fail closed) and is counted. */
  gate(transport: SipTransport, address: string, port: number): boolean {
    const accept = this.events.accept;
    if (accept === undefined) return true;
    try {
      return accept.call(this.events, transport, address, port) === true;
    } catch {
      this.stats.handlerErrors++;
      return false;
    }
  }

  /**
   * A new inbound TCP connection on a stream listener: gate, then caps. Refused → the socket is destroyed
   * at once and undefined is returned.
   */
  admitInbound(listenerId: string, transport: SipTransport, raw: Socket): Connection | undefined {
    const remoteAddress = raw.remoteAddress;
    const remotePort = raw.remotePort;
    if (this.closing || remoteAddress === undefined || remotePort === undefined) {
      raw.destroy();
      return undefined;
    }
    const address = unmapIPv4(remoteAddress);
    const fromSource = this.perSource.get(address) ?? 0;
    if (!this.gate(transport, address, remotePort) || fromSource >= this.limits.perSource || this.byId.size >= this.limits.total) {
      this.stats.connectionsRefused++;
      raw.destroy();
      return undefined;
    }
    this.perSource.set(address, fromSource + 1);
    this.stats.connectionsAccepted++;
    return this.register(listenerId, transport, true, address, remotePort, raw);
  }

  /** Whether one more outgoing connection fits under the total cap. */
  canOpenOutgoing(): boolean {
    return !this.closing && this.byId.size < this.limits.total;
  }

  registerOutgoing(listenerId: string, transport: SipTransport, address: string, port: number, raw: Socket): Connection {
    this.stats.connectionsOutgoing++;
    return this.register(listenerId, transport, false, unmapIPv4(address), port, raw);
  }

  private register(
    listenerId: string,
    transport: SipTransport,
    inbound: boolean,
    remoteAddress: string,
    remotePort: number,
    raw: Socket,
  ): Connection {
    const id = this.nextId++;
    const conn = new Connection(this, {
      id,
      transport,
      listenerId,
      inbound,
      remoteAddress,
      remotePort,
      localAddress: unmapIPv4(raw.localAddress ?? ''),
      localPort: raw.localPort ?? 0,
      raw,
    });
    this.byId.set(id, conn);
    this.byEndpoint.set(endpointKey(transport, remoteAddress, remotePort), conn);
    this.stats.connectionsOpen = this.byId.size;
    // A connection ends when its TCP socket does, whatever wraps it (TLS, HTTP, WebSocket).
    raw.once('close', () => conn.close());
    return conn;
  }

  get(id: number): Connection | undefined {
    return this.byId.get(id);
  }

  findEndpoint(transport: SipTransport, address: string, port: number): Connection | undefined {
    const c = this.byEndpoint.get(endpointKey(transport, unmapIPv4(address), port));
    return c !== undefined && c.state !== 'closed' ? c : undefined;
  }

  deliver(conn: Connection, message: Buffer): void {
    if (!this.gate(conn.transport, conn.remoteAddress, conn.remotePort)) {
      this.stats.gateDropped++;
      return;
    }
    this.stats.framesIn++;
    try {
      this.events.onMessage(message, conn.source(this.clock.now()));
    } catch (e) {
      this.stats.handlerErrors++;
      this.logger.debug({ err: e instanceof Error ? e.message : String(e) }, 'onMessage threw');
    }
  }

  released(conn: Connection): void {
    if (this.byId.get(conn.id) !== conn) return;
    this.byId.delete(conn.id);
    const key = endpointKey(conn.transport, conn.remoteAddress, conn.remotePort);
    if (this.byEndpoint.get(key) === conn) this.byEndpoint.delete(key);
    if (conn.inbound) {
      const n = (this.perSource.get(conn.remoteAddress) ?? 1) - 1;
      if (n <= 0) this.perSource.delete(conn.remoteAddress);
      else this.perSource.set(conn.remoteAddress, n);
    }
    this.stats.connectionsOpen = this.byId.size;
    this.stats.connectionsClosed++;
    const onClosed = this.events.onConnectionClosed;
    if (onClosed === undefined) return;
    try {
      onClosed.call(this.events, conn.id, conn.source(this.clock.now()));
    } catch {
      this.stats.handlerErrors++;
    }
  }

  /** Closes every connection and refuses new ones (shutdown). */
  closeAll(): void {
    this.closing = true;
    for (const c of [...this.byId.values()]) c.close();
  }
}
