/** Shared helpers for the transport tests (real sockets on loopback, port 0). Not a test file itself. */
import net from 'node:net';
import { systemClock } from '../../../src/core/clock.ts';
import { silentLogger } from '../../../src/core/log.ts';
import type { SipTransport } from '../../../src/core/net.ts';
import {
  createTransportManager,
  type ResolvedListener,
  type TransportLimits,
  type TransportManagerDetail,
} from '../../../src/transport/manager.ts';
import { generateSelfSignedCert } from '../../../src/transport/self-signed.ts';
import type { Source, TransportEvents } from '../../../src/transport/types.ts';

export const serverCert = generateSelfSignedCert('palisade.test', ['localhost', '127.0.0.1', '::1']);
export const clientCert = generateSelfSignedCert('client-7', ['client.test']);

export const DEFAULT_LIMITS: TransportLimits = {
  maxMessageBytes: 8192,
  perSource: 32,
  total: 1000,
  idleTimeoutMs: 30_000,
  firstMessageTimeoutMs: 5_000,
};

export interface Received {
  text: string;
  bytes: Buffer;
  source: Source;
}

export interface Harness {
  mgr: TransportManagerDetail;
  received: Received[];
  closedIds: number[];
  /** Port of the listener with this id (or of the first listener of that transport). */
  port(idOrTransport: string): number;
  close(): Promise<void>;
}

export type ListenerSpec = Partial<ResolvedListener> & { transport: SipTransport };

export async function startHarness(
  specs: ListenerSpec[],
  limits: Partial<TransportLimits> = {},
  events: Partial<TransportEvents> = {},
): Promise<Harness> {
  const received: Received[] = [];
  const closedIds: number[] = [];
  const listeners: ResolvedListener[] = specs.map((s, i) => {
    const l: ResolvedListener = {
      ...s,
      id: s.id ?? `${s.transport}-${i}`,
      role: s.role ?? 'public',
      address: s.address ?? '127.0.0.1',
      port: s.port ?? 0,
    };
    if ((l.transport === 'tls' || l.transport === 'wss') && l.tls === undefined) {
      l.tls = { certPem: serverCert.certPem, keyPem: serverCert.keyPem, minVersion: 'TLSv1.3', clientCert: 'none' };
    }
    return l;
  });
  const mgr = await createTransportManager({
    listeners,
    limits: { ...DEFAULT_LIMITS, ...limits },
    clock: systemClock,
    logger: silentLogger,
    events: {
      onMessage: (bytes, source) => {
        received.push({ text: bytes.toString('latin1'), bytes, source });
      },
      onConnectionClosed: (id) => {
        closedIds.push(id);
      },
      ...events,
    },
  });
  return {
    mgr,
    received,
    closedIds,
    port(key: string): number {
      const l = mgr.listeners().find((x) => x.id === key) ?? mgr.listeners().find((x) => x.transport === key);
      if (l === undefined) throw new Error(`no listener ${key}`);
      return l.port;
    },
    close: () => mgr.close(),
  };
}

export function sipRequest(method = 'OPTIONS', body: string | Buffer = '', extra = ''): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const head =
    `${method} sip:pbx@palisade.test SIP/2.0\r\n` +
    'Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-test\r\n' +
    'From: <sip:a@palisade.test>;tag=1\r\nTo: <sip:pbx@palisade.test>\r\n' +
    `Call-ID: test-${method}\r\nCSeq: 1 ${method}\r\nMax-Forwards: 70\r\n${extra}` +
    `Content-Length: ${b.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), b]);
}

/** Polls until `pred` holds; rejects after `timeoutMs`. */
export async function waitFor(pred: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!pred()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A TCP client that records what it receives and whether the server closed it. */
export interface RawClient {
  socket: net.Socket;
  data: () => string;
  closed: () => boolean;
}

export async function connectTcp(port: number, host = '127.0.0.1'): Promise<RawClient> {
  const socket = net.connect({ port, host });
  let data = '';
  let closed = false;
  socket.on('data', (d: Buffer) => {
    data += d.toString('latin1');
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, data: () => data, closed: () => closed };
}

/** Resolves when the socket closes; rejects after `timeoutMs`. */
export function closedWithin(socket: net.Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed && socket.closed) {
      resolve();
      return;
    }
    const t = setTimeout(() => reject(new Error('socket still open')), timeoutMs);
    socket.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}
