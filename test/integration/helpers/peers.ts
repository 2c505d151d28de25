/**
 * Scripted SIP peers for integration tests: a UDP socket, a TCP or TLS client with Content-Length framing,
 * and a SIP-over-WebSocket client (RFC 7118). Each records every message it receives in an Inbox.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import { Inbox } from './inbox.ts';

export interface UdpPeer {
  readonly sock: UdpSocket;
  readonly ip: string;
  readonly port: number;
  readonly inbox: Inbox;
  send(text: string, port: number, host: string): void;
  close(): Promise<void>;
}

export async function udpPeer(ip: string, port = 0): Promise<UdpPeer> {
  const sock = createSocket('udp4');
  const inbox = new Inbox();
  sock.on('message', (b) => inbox.push(b.toString('latin1')));
  sock.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, ip, () => resolve());
  });
  return {
    sock,
    ip,
    port: sock.address().port,
    inbox,
    send(text, p, host) {
      sock.send(Buffer.from(text, 'latin1'), p, host);
    },
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

/**
 * Splits a SIP byte stream into messages by Content-Length (RFC 3261 §18.3); CRLF keep-alives between
 * messages are skipped. Text is handled as latin1 so byte offsets and string offsets agree.
 */
export class StreamSplitter {
  private buf = '';
  constructor(private readonly onMessage: (m: string) => void) {}

  push(chunk: Buffer): void {
    this.buf += chunk.toString('latin1');
    for (;;) {
      this.buf = this.buf.replace(/^(\r\n)+/, '');
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.slice(0, end);
      const m = /^(?:content-length|l)[ \t]*:[ \t]*(\d+)/im.exec(head);
      const len = m ? Number(m[1]) : 0;
      const total = end + 4 + len;
      if (this.buf.length < total) return;
      this.onMessage(this.buf.slice(0, total));
      this.buf = this.buf.slice(total);
    }
  }
}

export interface StreamPeer {
  readonly socket: Socket | TLSSocket;
  readonly inbox: Inbox;
  /** Local port of the connection (the phone's "sent-by"). */
  readonly localPort: number;
  readonly closed: Promise<void>;
  send(text: string): void;
  close(): Promise<void>;
}

/** A TCP or TLS client connected to host:port (TLS: self-signed server certificates accepted). */
export async function streamPeer(kind: 'tcp' | 'tls', host: string, port: number, localAddress = '127.0.0.1'): Promise<StreamPeer> {
  const inbox = new Inbox();
  const splitter = new StreamSplitter((m) => inbox.push(m));
  const socket: Socket | TLSSocket =
    kind === 'tcp'
      ? netConnect({ host, port, localAddress })
      : tlsConnect({ socket: netConnect({ host, port, localAddress }), rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${kind} connect to ${host}:${port} timed out`)), 5000);
    socket.once(kind === 'tcp' ? 'connect' : 'secureConnect', () => {
      clearTimeout(t);
      resolve();
    });
    socket.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
  socket.on('error', () => {});
  socket.on('data', (c: Buffer) => splitter.push(c));
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return {
    socket,
    inbox,
    localPort: socket.localPort ?? 0,
    closed,
    send(text) {
      socket.write(Buffer.from(text, 'latin1'));
    },
    async close() {
      socket.end();
      const t = setTimeout(() => socket.destroy(), 500);
      await closed;
      clearTimeout(t);
    },
  };
}

export interface WsPeer {
  readonly ws: WebSocket;
  readonly inbox: Inbox;
  /** Every frame received, raw (text or binary) as latin1 text. */
  readonly frames: string[];
  /** Count of frames that arrived as binary (RFC 7118 allows both; SIP text should come as text). */
  binaryFrames: number;
  readonly closed: Promise<void>;
  send(text: string): void;
  close(): Promise<void>;
}

/** A SIP-over-WebSocket client: subprotocol `sip`, one SIP message per frame, text frames. */
export async function wsPeer(url: string, opts: { protocol?: string; localAddress?: string } = {}): Promise<WsPeer> {
  const inbox = new Inbox();
  const frames: string[] = [];
  const ws = new WebSocket(url, opts.protocol ?? 'sip', {
    rejectUnauthorized: false,
    localAddress: opts.localAddress ?? '127.0.0.1',
    perMessageDeflate: false,
    handshakeTimeout: 5000,
  });
  const peer: WsPeer = {
    ws,
    inbox,
    frames,
    binaryFrames: 0,
    closed: new Promise<void>((r) => ws.once('close', () => r())),
    send(text) {
      ws.send(text);
    },
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close(1000);
      const t = setTimeout(() => ws.terminate(), 500);
      await peer.closed;
      clearTimeout(t);
    },
  };
  ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
    const b = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (isBinary) peer.binaryFrames++;
    const text = b.toString('latin1');
    frames.push(text);
    inbox.push(text);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => {});
  return peer;
}
