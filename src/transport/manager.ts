/**
 * The transport manager: opens every listener, owns every connection, and routes `send` to a UDP socket or a
 * stream connection. Nothing a peer does can throw out of a socket callback: every socket has an 'error'
 * listener, handler exceptions are caught and counted, and a bad stream costs only its own connection.
 */
import { assertNever } from '../core/assert-never.ts';
import { PalisadeError } from '../core/errors.ts';
import { unmapIPv4 } from '../core/net.ts';
import { ConnectionTable } from './connection-table.ts';
import { emptyStats, type ResolvedListener, type TransportOptions, type TransportStatsDetail } from './options.ts';
import { openOutgoing } from './outgoing.ts';
import { StreamListener } from './stream-listener.ts';
import type { ListenerInfo, SendResult, Target, TransportManager } from './types.ts';
import { UdpListener } from './udp-listener.ts';

export type {
  ResolvedListener,
  ResolvedTls,
  ResolvedWs,
  TransportLimits,
  TransportOptions,
  TransportStatsDetail,
} from './options.ts';

/** TransportManager whose stats carry the detail counters too. */
export interface TransportManagerDetail extends TransportManager {
  stats(): Readonly<TransportStatsDetail>;
}

type Listener = UdpListener | StreamListener;

function validate(opts: TransportOptions): void {
  const ids = new Set<string>();
  for (const l of opts.listeners) {
    if (ids.has(l.id)) throw new PalisadeError('CONFIG_INVALID', { path: 'listeners', id: l.id, reason: 'duplicate id' });
    ids.add(l.id);
  }
  const { maxMessageBytes, perSource, total, idleTimeoutMs, firstMessageTimeoutMs } = opts.limits;
  for (const [k, v] of Object.entries({ maxMessageBytes, perSource, total, idleTimeoutMs, firstMessageTimeoutMs })) {
    if (!Number.isInteger(v) || v < 1) throw new PalisadeError('CONFIG_INVALID', { path: `limits.${k}`, value: v });
  }
}

/** Opens all listeners (in order); if one fails, the ones already open are closed and TRANSPORT_LISTEN is thrown. */
export async function createTransportManager(opts: TransportOptions): Promise<TransportManagerDetail> {
  validate(opts);
  const stats = emptyStats();
  const table = new ConnectionTable(opts, stats);
  const opened: Listener[] = [];
  try {
    for (const l of opts.listeners) {
      const listener = l.transport === 'udp' ? new UdpListener(l, opts, stats, table) : new StreamListener(l, opts, stats, table);
      await listener.open();
      opened.push(listener);
      opts.logger.info({ listener: l.id, transport: l.transport, address: listener.info.address, port: listener.info.port }, 'listening');
    }
  } catch (e) {
    table.closeAll();
    await Promise.all(opened.map((x) => x.close()));
    throw e;
  }
  return new Manager(opts, stats, table, opened);
}

class Manager implements TransportManagerDetail {
  private readonly opts: TransportOptions;
  private readonly statsObj: TransportStatsDetail;
  private readonly table: ConnectionTable;
  private readonly all: Listener[];
  private readonly udp: UdpListener[];
  private readonly infos: readonly ListenerInfo[];
  private closed: Promise<void> | undefined;

  constructor(opts: TransportOptions, stats: TransportStatsDetail, table: ConnectionTable, listeners: Listener[]) {
    this.opts = opts;
    this.statsObj = stats;
    this.table = table;
    this.all = listeners;
    this.udp = listeners.filter((l): l is UdpListener => l instanceof UdpListener);
    this.infos = Object.freeze(listeners.map((l) => Object.freeze({ ...l.info })));
  }

  listeners(): readonly ListenerInfo[] {
    return this.infos;
  }

  stats(): Readonly<TransportStatsDetail> {
    return this.statsObj;
  }

  send(target: Target, bytes: Buffer): SendResult {
    if (this.closed !== undefined) return 'no-connection';
    const t = target.transport;
    switch (t) {
      case 'udp':
        return this.sendUdp(target, bytes);
      case 'tcp':
      case 'tls':
      case 'ws':
      case 'wss':
        return this.sendStream(target, bytes);
      default:
        return assertNever(t, 'transport');
    }
  }

  private configOf(id: string | undefined): ResolvedListener | undefined {
    if (id === undefined) return undefined;
    return this.opts.listeners.find((l) => l.id === id);
  }

  /**
   * From target.listenerId when it is UDP; else the first UDP listener of that listener's role reaching the
   * address family. A role is never crossed (PBX traffic must not leave from a public socket); with no
   * listenerId any UDP listener of the family will do.
   */
  private sendUdp(target: Target, bytes: Buffer): SendResult {
    const address = unmapIPv4(target.address);
    const named = this.configOf(target.listenerId);
    let from: UdpListener | undefined;
    if (named?.transport === 'udp') from = this.udp.find((u) => u.config.id === named.id);
    from ??= this.udp.find((u) => (named === undefined || u.config.role === named.role) && u.canReach(address));
    if (from === undefined) return 'no-connection';
    return from.send(address, target.port, bytes);
  }

  private sendStream(target: Target, bytes: Buffer): SendResult {
    const t = target.transport;
    let conn = target.connectionId !== undefined ? this.table.get(target.connectionId) : undefined;
    if (conn !== undefined && conn.transport !== t) conn = undefined;
    conn ??= this.table.findEndpoint(t, target.address, target.port);
    if (conn !== undefined) return conn.send(bytes);
    if (t !== 'tcp' && t !== 'tls') return 'no-connection';
    const origin = this.originFor(target);
    if (origin === undefined) return 'no-connection';
    const opened = openOutgoing(this.table, this.statsObj, this.opts.limits, origin, target, unmapIPv4(target.address));
    if (opened === undefined) {
      this.statsObj.sendErrors++;
      return 'error';
    }
    return opened.send(bytes);
  }

  /**
   * The listener an outgoing connection belongs to (its id goes into every Source from that connection, and
   * its address is the local bind): the named listener when it has that transport; else a listener of the same
   * role and transport; else the named listener itself, so a role is never crossed. Without a listenerId: the
   * first listener of that transport.
   */
  private originFor(target: Target): ResolvedListener | undefined {
    const named = this.configOf(target.listenerId);
    const sameTransport = this.opts.listeners.filter((l) => l.transport === target.transport);
    if (named === undefined) return sameTransport[0];
    if (named.transport === target.transport) return named;
    return sameTransport.find((l) => l.role === named.role) ?? named;
  }

  closeConnection(connectionId: number): void {
    this.table.get(connectionId)?.close();
  }

  /** True while the connection exists (open, or still connecting/handshaking with sends queued). */
  isConnectionOpen(connectionId: number): boolean {
    const c = this.table.get(connectionId);
    return c !== undefined && c.state !== 'closed';
  }

  close(): Promise<void> {
    if (this.closed === undefined) {
      this.table.closeAll();
      this.closed = Promise.all(this.all.map((l) => l.close())).then(() => undefined);
    }
    return this.closed;
  }
}
