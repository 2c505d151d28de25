/**
 * WebSocket upgrade and framing for SIP over WS/WSS (RFC 7118): the `sip` subprotocol is required (§4), each
 * WebSocket message carries exactly one SIP message, text or binary (§5.1). Compression is off (no
 * decompression bombs); frames above maxPayload close the socket (1009).
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { Connection } from './connection.ts';
import type { ResolvedListener, TransportOptions, TransportStatsDetail } from './options.ts';

const SEND_TEXT = { binary: false } as const;
const SEND_BINARY = { binary: true } as const;

export type UpgradeRefusal = 'path' | 'subprotocol' | 'origin';

/** Pure check of the upgrade request against RFC 7118 and the listener's policy. */
export function checkUpgrade(
  req: Pick<IncomingMessage, 'url' | 'headers'>,
  ws: { origins: readonly string[]; path: string },
): UpgradeRefusal | undefined {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const path = q >= 0 ? url.slice(0, q) : url;
  if (path !== ws.path) return 'path';
  const proto = req.headers['sec-websocket-protocol'];
  if (typeof proto !== 'string' || !proto.split(',').some((p) => p.trim() === 'sip')) return 'subprotocol';
  if (ws.origins.length > 0) {
    const origin = req.headers.origin;
    if (typeof origin !== 'string' || !ws.origins.includes(origin)) return 'origin';
  }
  return undefined;
}

const REFUSAL_RESPONSE: Record<UpgradeRefusal, string> = {
  path: 'HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
  subprotocol: 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
  origin: 'HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
};

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function isOnlyCrlf(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0x0d && b[i] !== 0x0a) return false;
  return true;
}

export class WsUpgrader {
  private readonly wss: WebSocketServer;
  private readonly origins: readonly string[];
  private readonly path: string;
  private readonly stats: TransportStatsDetail;

  constructor(config: ResolvedListener, opts: TransportOptions, stats: TransportStatsDetail) {
    this.stats = stats;
    this.origins = config.ws?.origins ?? [];
    this.path = config.ws?.path ?? '/';
    const maxPayload = Math.min(config.ws?.maxPayload ?? opts.limits.maxMessageBytes, opts.limits.maxMessageBytes);
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: () => 'sip',
    });
    this.wss.on('error', () => {
      this.stats.socketErrors++;
    });
  }

  /** `socket` is the raw TCP socket (ws) or the TLS socket (wss) of `conn`. */
  handle(conn: Connection, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refusal = checkUpgrade(req, { origins: this.origins, path: this.path });
    if (refusal !== undefined) {
      this.stats.wsUpgradesRefused++;
      this.stats.connectionsRefused++;
      socket.end(REFUSAL_RESPONSE[refusal], () => conn.close());
      return;
    }
    try {
      this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(conn, ws));
    } catch {
      this.stats.wsUpgradesRefused++;
      conn.close();
    }
  }

  private attach(conn: Connection, ws: WebSocket): void {
    const stats = this.stats;
    if (conn.state === 'closed') {
      ws.terminate();
      return;
    }
    ws.on('error', (e: Error & { code?: string }) => {
      stats.framingErrors++;
      if (e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') stats.oversize++;
      conn.close();
    });
    ws.on('close', () => conn.close());
    ws.on('ping', () => conn.markActivity());
    ws.on('message', (data: RawData) => {
      const bytes = toBuffer(data);
      if (bytes.length === 0 || isOnlyCrlf(bytes)) {
        conn.markActivity();
        return;
      }
      conn.onFrame(bytes);
    });
    conn.ready({
      write: (b) => ws.send(b, isUtf8(b) ? SEND_TEXT : SEND_BINARY),
      pendingBytes: () => ws.bufferedAmount,
      destroy: () => ws.terminate(),
    });
  }

  close(): void {
    this.wss.close();
  }
}
