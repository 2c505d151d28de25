/**
 * Raw sockets for hostile-peer tests: TCP/TLS connections that send arbitrary bytes and report when the
 * server closes them, a captured TLS ClientHello (to stop a handshake halfway), a hand-made WebSocket
 * upgrade (to write invalid frames after it), and a Prometheus scrape.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { get } from 'node:http';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';

export interface RawConn {
  readonly socket: Socket | TLSSocket;
  /** Bytes the server sent (bounded). */
  received: Buffer;
  /** Resolves with the ms from `open` to the close, whoever closed. */
  readonly closed: Promise<number>;
  isClosed(): boolean;
  write(b: Buffer | string): void;
  destroy(): void;
}

function wrap(socket: Socket | TLSSocket, openedAt: number): RawConn {
  let closed = false;
  const conn: RawConn = {
    socket,
    received: Buffer.alloc(0),
    closed: new Promise<number>((r) =>
      socket.once('close', () => {
        closed = true;
        r(Date.now() - openedAt);
      }),
    ),
    isClosed: () => closed,
    write(b) {
      if (!closed && !socket.destroyed) socket.write(typeof b === 'string' ? Buffer.from(b, 'latin1') : b);
    },
    destroy() {
      socket.destroy();
    },
  };
  socket.on('error', () => {});
  socket.on('data', (c: Buffer) => {
    if (conn.received.length < 65536) conn.received = Buffer.concat([conn.received, c]);
  });
  return conn;
}

export async function rawTcp(host: string, port: number): Promise<RawConn> {
  const s = netConnect({ host, port, localAddress: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('error', reject);
  });
  return wrap(s, Date.now());
}

export async function rawTls(host: string, port: number): Promise<RawConn> {
  const s = tlsConnect({ socket: netConnect({ host, port, localAddress: '127.0.0.1' }), rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    s.once('secureConnect', () => resolve());
    s.once('error', reject);
  });
  return wrap(s, Date.now());
}

/** The first flight of a node TLS client (a ClientHello record), captured against a local plain TCP server. */
export async function captureClientHello(): Promise<Buffer> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const addr = srv.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  const got = new Promise<Buffer>((resolve) => {
    srv.once('connection', (s) => {
      s.once('data', (b: Buffer) => {
        resolve(b);
        s.destroy();
      });
    });
  });
  const c = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  await new Promise<void>((r) => srv.close(() => r()));
  return hello;
}

/** TLS connection + HTTP/1.1 upgrade to WebSocket with subprotocol `sip`; resolves once 101 arrived. */
export async function rawWssUpgrade(host: string, port: number): Promise<RawConn> {
  const conn = await rawTls(host, port);
  const key = randomBytes(16).toString('base64');
  conn.write(
    `GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n`,
  );
  const deadline = Date.now() + 3000;
  while (!conn.received.includes('\r\n\r\n') && Date.now() < deadline && !conn.isClosed()) await new Promise((r) => setTimeout(r, 10));
  const head = conn.received.toString('latin1');
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  if (!head.startsWith('HTTP/1.1 101') || !head.includes(accept)) throw new Error(`upgrade refused: ${head.split('\r\n')[0]}`);
  conn.received = Buffer.alloc(0);
  return conn;
}

/** One client→server WebSocket frame (RFC 6455 §5.2), masked unless `mask` is false. */
export function wsFrame(payload: Buffer, opts: { opcode?: number; fin?: boolean; mask?: boolean } = {}): Buffer {
  const opcode = opts.opcode ?? 0x2;
  const fin = opts.fin ?? true;
  const mask = opts.mask ?? true;
  const len = payload.length;
  const head: number[] = [(fin ? 0x80 : 0) | opcode];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 0xff);
  else head.push(m | 127, 0, 0, 0, 0, (len >>> 24) & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff);
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = (payload[i] ?? 0) ^ (key[i % 4] ?? 0);
  return Buffer.concat([Buffer.from(head), key, body]);
}

/** Fire-and-forget datagrams from an ephemeral 127.0.0.1 socket. */
export async function sendDatagrams(host: string, port: number, datagrams: readonly Buffer[]): Promise<void> {
  const s = createSocket('udp4');
  s.on('error', () => {});
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  for (const d of datagrams) {
    await new Promise<void>((r) => s.send(d, port, host, () => r()));
  }
  await new Promise<void>((r) => s.close(() => r()));
}

/** Sum of every sample of a metric family in a /metrics scrape. */
export function scrapeSum(port: number, family: string, path = '/metrics'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, timeout: 3000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`scrape HTTP ${res.statusCode}`));
        let sum = 0;
        for (const line of text.split('\n')) {
          if (!line.startsWith(`${family}{`) && !line.startsWith(`${family} `)) continue;
          const v = Number(line.slice(line.lastIndexOf(' ') + 1));
          if (Number.isFinite(v)) sum += v;
        }
        resolve(sum);
      });
    });
    req.on('timeout', () => req.destroy(new Error('scrape timeout')));
    req.on('error', reject);
  });
}
