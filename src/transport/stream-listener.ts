/**
 * Stream listeners: TCP, TLS, WS and WSS all accept on a plain net.Server, so the gate and the connection caps
 * run on the raw socket before any TLS handshake or HTTP parsing costs CPU. Admitted sockets are then handed
 * to an unlistened tls.Server / http(s).Server with `emit('connection')` (the documented way to inject
 * connections), which keeps Node's own TLS verification and HTTP parsing.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { PalisadeError } from '../core/errors.ts';
import type { Connection } from './connection.ts';
import type { ConnectionTable } from './connection-table.ts';
import type { ResolvedListener, ResolvedTls, TransportOptions, TransportStatsDetail } from './options.ts';
import { readTlsPeerInfo } from './tls-peer.ts';
import type { ListenerInfo } from './types.ts';
import { WsUpgrader } from './ws-upgrade.ts';

/** Server-side TLS options: TLS ≥ minVersion, client certificates as configured. */
export function serverTlsOptions(t: ResolvedTls, handshakeTimeoutMs: number): tls.TlsOptions {
  const o: tls.TlsOptions = {
    cert: t.certPem,
    key: t.keyPem,
    minVersion: t.minVersion,
    requestCert: t.clientCert !== 'none',
    rejectUnauthorized: t.clientCert === 'require',
    handshakeTimeout: handshakeTimeoutMs,
  };
  if (t.passphrase !== undefined) o.passphrase = t.passphrase;
  if (t.caPem !== undefined) o.ca = t.caPem;
  return o;
}

function remoteKey(s: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  return `${s.remoteAddress ?? ''}|${s.remotePort ?? 0}`;
}

export class StreamListener {
  readonly config: ResolvedListener;
  info!: ListenerInfo;
  private readonly server: net.Server;
  private readonly stats: TransportStatsDetail;
  private readonly table: ConnectionTable;
  private readonly tlsServer: tls.Server | undefined;
  private readonly httpServer: http.Server | undefined;
  private readonly upgrader: WsUpgrader | undefined;
  /** Connections between TCP accept and TLS handshake / WebSocket upgrade, by raw remote endpoint. */
  private readonly pending = new Map<string, Connection>();

  constructor(config: ResolvedListener, opts: TransportOptions, stats: TransportStatsDetail, table: ConnectionTable) {
    this.config = config;
    this.stats = stats;
    this.table = table;
    this.server = net.createServer({ noDelay: true, allowHalfOpen: false }, this.onConnection);
    this.server.on('error', () => {
      stats.socketErrors++;
    });
    const t = config.transport;
    const needsTls = t === 'tls' || t === 'wss';
    if (needsTls && config.tls === undefined) {
      throw new PalisadeError('TRANSPORT_LISTEN', { listener: config.id, reason: 'tls settings missing' });
    }
    const tlsOpts = needsTls ? serverTlsOptions(config.tls as ResolvedTls, opts.limits.firstMessageTimeoutMs) : undefined;
    try {
      if (t === 'tls') this.tlsServer = tls.createServer(tlsOpts ?? {});
      if (t === 'ws') this.httpServer = http.createServer();
      if (t === 'wss') this.httpServer = https.createServer(tlsOpts as https.ServerOptions);
    } catch (e) {
      throw new PalisadeError('TRANSPORT_LISTEN', {
        listener: config.id,
        reason: 'bad certificate or key',
        cause: (e as NodeJS.ErrnoException).code,
      });
    }
    if (this.tlsServer !== undefined) {
      this.tlsServer.on('secureConnection', this.onSecure);
      this.tlsServer.on('tlsClientError', this.onTlsClientError);
    }
    if (this.httpServer !== undefined) {
      this.upgrader = new WsUpgrader(config, opts, stats);
      this.httpServer.on('upgrade', this.onUpgrade);
      this.httpServer.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
        res.writeHead(426, { Connection: 'close', Upgrade: 'websocket', 'Content-Length': '0' });
        res.end();
      });
      this.httpServer.on('clientError', (_e: Error, socket: Duplex) => {
        this.stats.framingErrors++;
        socket.destroy();
      });
      if (t === 'wss') this.httpServer.on('tlsClientError', this.onTlsClientError);
    }
  }

  async open(): Promise<void> {
    const server = this.server;
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
      server.once('error', onError);
      server.listen({ host: this.config.address, port: this.config.port, exclusive: true }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    const a = server.address() as net.AddressInfo;
    this.info = {
      id: this.config.id,
      transport: this.config.transport,
      address: a.address,
      port: a.port,
      advertiseHost: this.config.advertiseHost ?? a.address,
      advertisePort: this.config.advertisePort ?? a.port,
    };
  }

  private readonly onConnection = (raw: net.Socket): void => {
    raw.on('error', () => {
      this.stats.socketErrors++;
    });
    const t = this.config.transport;
    const conn = this.table.admitInbound(this.config.id, t, raw);
    if (conn === undefined) return;
    if (t === 'tcp') {
      raw.on('data', (chunk: Buffer) => conn.feed(chunk));
      conn.ready({
        write: (b) => raw.write(b),
        pendingBytes: () => raw.writableLength,
        destroy: () => raw.destroy(),
      });
      return;
    }
    const key = remoteKey(raw);
    this.pending.set(key, conn);
    raw.once('close', () => {
      if (this.pending.get(key) === conn) this.pending.delete(key);
    });
    if (this.tlsServer !== undefined) this.tlsServer.emit('connection', raw);
    else this.httpServer?.emit('connection', raw);
  };

  private takePending(s: { remoteAddress?: string | undefined; remotePort?: number | undefined }): Connection | undefined {
    const key = remoteKey(s);
    const conn = this.pending.get(key);
    if (conn !== undefined) this.pending.delete(key);
    return conn !== undefined && conn.state !== 'closed' ? conn : undefined;
  }

  private readonly onSecure = (s: tls.TLSSocket): void => {
    s.on('error', () => {
      this.stats.socketErrors++;
    });
    const conn = this.takePending(s);
    if (conn === undefined) {
      s.destroy();
      return;
    }
    conn.tls = readTlsPeerInfo(s);
    s.on('data', (chunk: Buffer) => conn.feed(chunk));
    conn.ready({
      write: (b) => s.write(b),
      pendingBytes: () => s.writableLength,
      destroy: () => s.destroy(),
    });
  };

  private readonly onTlsClientError = (_e: Error, s: tls.TLSSocket): void => {
    this.stats.tlsHandshakeErrors++;
    s.destroy();
  };

  private readonly onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => {
      this.stats.socketErrors++;
    });
    const conn = this.takePending(req.socket);
    if (conn === undefined || this.upgrader === undefined) {
      socket.destroy();
      return;
    }
    if (this.config.transport === 'wss') conn.tls = readTlsPeerInfo(req.socket as tls.TLSSocket);
    this.upgrader.handle(conn, req, socket, head);
  };

  close(): Promise<void> {
    this.upgrader?.close();
    this.pending.clear();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
    });
  }
}
