/** Loopback helpers for relay tests: peers that record what they receive. */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

export interface Peer {
  sock: Socket;
  port: number;
  address: string;
  received: { data: Buffer; from: RemoteInfo }[];
  send(buf: Buffer, port: number, address?: string): Promise<void>;
  close(): Promise<void>;
}

export function bindPeer(address = '127.0.0.1', port = 0): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    const received: Peer['received'] = [];
    sock.on('message', (data, from) => {
      if (received.length < 10_000) received.push({ data, from });
    });
    sock.once('error', reject);
    sock.bind(port, address, () => {
      sock.on('error', () => {});
      resolve({
        sock,
        port: sock.address().port,
        address,
        received,
        send: (buf, p, a = '127.0.0.1') => new Promise((res) => sock.send(buf, p, a, () => res())),
        close: () => new Promise((res) => sock.close(() => res())),
      });
    });
  });
}

/** Polls `cond` every 5 ms until true; fails after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function rtpPacket(seq: number, payloadBytes = 160, pt = 0): Buffer {
  const b = Buffer.alloc(12 + payloadBytes);
  b[0] = 0x80;
  b[1] = pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(seq * 160, 4);
  b.writeUInt32BE(0x11223344, 8);
  b.fill(seq & 0xff, 12);
  return b;
}

/** A minimal RTCP receiver report (RFC 3550 §6.4.2) with no report blocks. */
export function rtcpPacket(): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 0x80;
  b[1] = 201;
  b.writeUInt16BE(1, 2);
  b.writeUInt32BE(0x55667788, 4);
  return b;
}

/** A port range unlikely to collide with other test processes running at the same time. */
export function testPortRange(size = 200): { portMin: number; portMax: number } {
  const base = 21000 + ((process.pid * 7919) % 150) * 200;
  return { portMin: base, portMax: base + size - 1 };
}
