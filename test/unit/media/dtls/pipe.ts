/**
 * In-process datagram wiring for the DTLS tests: Palisade endpoints, bare werift-dtls sockets (to show what werift
 * alone accepts, and to build peers that misbehave), record inspection, bounded waits.
 */
import type { DtlsSocket } from 'werift-dtls/lib/dtls/src/index.js';
import { DtlsClient, DtlsServer, HashAlgorithm, SignatureAlgorithm } from 'werift-dtls/lib/dtls/src/index.js';
import type { Options as WeriftOptions } from 'werift-dtls/lib/dtls/src/socket.js';
import type { DtlsConnected, DtlsEndpoint, DtlsFailure } from '../../../../src/media/dtls/index.ts';

export type Outcome = { kind: 'connected'; value: DtlsConnected } | { kind: 'failed'; reason: DtlsFailure };

/** Resolves with the first of connected / failed, or rejects after `ms` (tests stay bounded). */
export function outcome(ep: DtlsEndpoint, ms = 8000): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no DTLS outcome within ${ms} ms (state ${ep.state})`)), ms);
    ep.onConnected((value) => {
      clearTimeout(t);
      resolve({ kind: 'connected', value });
    });
    ep.onFailed((reason) => {
      clearTimeout(t);
      resolve({ kind: 'failed', reason });
    });
  });
}

export interface Peer {
  handle(d: Buffer): void;
}

/**
 * Two-way pipe. `send(side)` is what an endpoint on that side is given as its send callback; datagrams are
 * delivered on a later tick (like a socket), logged per side, and may be rewritten or dropped by `tamper`.
 */
export class Wire {
  readonly sent: Record<'a' | 'b', Buffer[]> = { a: [], b: [] };
  private peers: Partial<Record<'a' | 'b', Peer>> = {};
  private open = true;
  constructor(private readonly tamper: Partial<Record<'a' | 'b', (d: Buffer, n: number) => Buffer | undefined>> = {}) {}

  send(from: 'a' | 'b'): (d: Buffer) => void {
    const to = from === 'a' ? 'b' : 'a';
    return (d: Buffer) => {
      const copy = Buffer.from(d);
      const n = this.sent[from].push(copy) - 1;
      setImmediate(() => {
        if (!this.open) return;
        const t = this.tamper[from];
        const out = t ? t(copy, n) : copy;
        if (out !== undefined) this.peers[to]?.handle(out);
      });
    };
  }

  attach(a: Peer, b: Peer): void {
    this.peers = { a, b };
  }

  close(): void {
    this.open = false;
  }
}

/** Record content types in a datagram (DTLSPlaintext headers, RFC 6347 §4.1). */
export function recordTypes(d: Buffer): number[] {
  const out: number[] = [];
  for (let o = 0; o + 13 <= d.length; o += 13 + d.readUInt16BE(o + 11)) out.push(d[o] as number);
  return out;
}

/** Handshake msg_type of the first record when it is a plaintext (epoch 0) handshake record. */
export function plainHandshakeType(d: Buffer): number | undefined {
  if (d.length < 14 || d[0] !== 22 || d.readUInt16BE(3) !== 0) return undefined;
  return d[13];
}

export const CCS = 20;

export interface Bare {
  readonly socket: DtlsSocket;
  readonly connected: Promise<void>;
  handle(d: Buffer): void;
  close(): void;
}

/** A werift-dtls socket with no Palisade checks, fed through an in-memory transport. */
export function bareWerift(
  role: 'client' | 'server',
  o: { certPem?: string; keyPem?: string; send: (d: Buffer) => void; srtpProfiles?: number[] },
): Bare {
  let live = true;
  const transport = {
    type: 'test',
    address: { address: '0.0.0.0', family: 'IPv4', port: 0 },
    closed: false,
    onData: (_d: Buffer): void => {},
    send: async (d: Buffer): Promise<void> => {
      if (live) o.send(d);
    },
    close: async (): Promise<void> => {},
  };
  const options: WeriftOptions = {
    transport,
    ...(o.certPem !== undefined ? { cert: o.certPem } : {}),
    ...(o.keyPem !== undefined ? { key: o.keyPem } : {}),
    signatureHash: { hash: HashAlgorithm.sha256_4, signature: SignatureAlgorithm.ecdsa_3 },
    srtpProfiles: (o.srtpProfiles ?? [1]) as NonNullable<WeriftOptions['srtpProfiles']>,
    certificateRequest: role === 'server',
    extendedMasterSecret: true,
  };
  const socket: DtlsSocket = role === 'client' ? new DtlsClient(options) : new DtlsServer(options);
  const deliver = transport.onData;
  const connected = new Promise<void>((resolve) => socket.onConnect.subscribe(() => resolve()));
  return {
    socket,
    connected,
    handle: (d) => {
      try {
        deliver(d);
      } catch {
        // werift's parser throws on some input; irrelevant here
      }
    },
    close: () => {
      live = false;
      socket.dtls.flight = Number.MAX_SAFE_INTEGER; // ends werift's retransmission loops
    },
  };
}

/** Resolves true if `p` settles within `ms`, false otherwise. */
export function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.then(() => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
