/**
 * One stream connection (TCP, TLS, WS, WSS; inbound or outgoing): its framer, its timers, its bounded send
 * queue and its lifecycle. `close()` is idempotent and is the single place where a connection ends, whoever
 * asks (peer, timer, framing error, gate, manager).
 */
import type { Socket } from 'node:net';
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { SipTransport } from '../core/net.ts';
import type { TransportLimits, TransportStatsDetail } from './options.ts';
import { type FrameErrorCode, type FrameSink, isFrameSizeError, StreamFramer } from './stream-framer.ts';
import type { SendResult, Source, TlsPeerInfo } from './types.ts';

export type ConnectionState = 'connecting' | 'open' | 'closed';

/** What a connection needs from the table that owns it. */
export interface ConnectionOwner {
  readonly stats: TransportStatsDetail;
  readonly clock: Clock;
  readonly limits: TransportLimits;
  /** A complete message arrived (gate, counters and onMessage live there). */
  deliver(conn: Connection, message: Buffer): void;
  /** Called exactly once when the connection ends. */
  released(conn: Connection): void;
}

/** How bytes leave: a socket or a WebSocket, installed once the connection is usable. */
export interface ConnectionWriter {
  write(bytes: Buffer): void;
  /** Bytes accepted but not yet handed to the kernel (backpressure). */
  pendingBytes(): number;
  destroy(): void;
}

export interface ConnectionInit {
  id: number;
  transport: SipTransport;
  listenerId: string;
  inbound: boolean;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  /** The TCP socket underneath everything (TLS and WebSocket wrap it). */
  raw: Socket;
}

const CRLF = Buffer.from('\r\n', 'latin1');
/** Outgoing bytes queued while connecting/handshaking: a few messages, not a buffer for a dead peer. */
const MAX_QUEUE_ITEMS = 32;

export class Connection implements FrameSink {
  readonly id: number;
  readonly transport: SipTransport;
  readonly listenerId: string;
  readonly inbound: boolean;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Set at accept; for outgoing connections updated once connected. */
  localAddress: string;
  localPort: number;
  tls: TlsPeerInfo | undefined;
  state: ConnectionState = 'connecting';
  /** True once one complete message arrived: the first-message timer is then moot. */
  gotMessage = false;
  lastActivity: number;

  private readonly owner: ConnectionOwner;
  private readonly raw: Socket;
  private readonly framer: StreamFramer | undefined;
  private writer: ConnectionWriter | undefined;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private idleTimer: TimerHandle | undefined;
  private firstTimer: TimerHandle | undefined;
  private readonly maxQueueBytes: number;
  private readonly maxPendingWriteBytes: number;

  constructor(owner: ConnectionOwner, init: ConnectionInit) {
    this.owner = owner;
    this.id = init.id;
    this.transport = init.transport;
    this.listenerId = init.listenerId;
    this.inbound = init.inbound;
    this.remoteAddress = init.remoteAddress;
    this.remotePort = init.remotePort;
    this.localAddress = init.localAddress;
    this.localPort = init.localPort;
    this.raw = init.raw;
    const max = owner.limits.maxMessageBytes;
    this.framer = init.transport === 'tcp' || init.transport === 'tls' ? new StreamFramer(max) : undefined;
    this.maxQueueBytes = 4 * max;
    // A peer that stops reading is a slow stream: it may cost its own connection, never our memory.
    this.maxPendingWriteBytes = Math.max(1 << 20, 16 * max);
    this.lastActivity = owner.clock.now();
    this.idleTimer = owner.clock.setTimer(owner.limits.idleTimeoutMs, this.onIdleTimer);
    if (init.inbound) this.firstTimer = owner.clock.setTimer(owner.limits.firstMessageTimeoutMs, this.onFirstTimer);
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** The Source handed with each message (immutable, kept by dialogs and bindings). */
  source(receivedAt: number): Source {
    return {
      transport: this.transport,
      address: this.remoteAddress,
      port: this.remotePort,
      listenerId: this.listenerId,
      localAddress: this.localAddress,
      localPort: this.localPort,
      connectionId: this.id,
      tls: this.tls,
      receivedAt,
    };
  }

  /** Stream bytes (TCP/TLS) from the socket. */
  feed(chunk: Buffer): void {
    if (this.state === 'closed' || this.framer === undefined) return;
    try {
      this.framer.push(chunk, this);
    } catch {
      // The framer is written not to throw; if it ever does, this stream alone pays for it.
      this.owner.stats.framingErrors++;
      this.close();
    }
  }

  /** A whole message: from the framer, or one WebSocket message. */
  onFrame(message: Buffer): void {
    if (this.state === 'closed') return;
    this.markMessage();
    this.owner.deliver(this, message);
  }

  /** RFC 5626 §3.5.1: answer a CRLFCRLF ping with a CRLF pong. */
  onPing(): void {
    if (this.state === 'closed') return;
    this.owner.stats.keepAlivePings++;
    // Keeps the flow alive, but is not a first message: pings alone cannot hold a slot past the slowloris timer.
    this.lastActivity = this.owner.clock.now();
    if (this.writer !== undefined) this.writer.write(CRLF);
  }

  onError(code: FrameErrorCode): void {
    this.owner.stats.framingErrors++;
    if (isFrameSizeError(code)) this.owner.stats.oversize++;
    this.close();
  }

  /** Traffic that keeps the connection alive without being a message (WebSocket pings). */
  markActivity(): void {
    this.lastActivity = this.owner.clock.now();
  }

  private markMessage(): void {
    this.lastActivity = this.owner.clock.now();
    if (!this.gotMessage) {
      this.gotMessage = true;
      this.firstTimer?.cancel();
      this.firstTimer = undefined;
    }
  }

  /** The connection can carry bytes now (TCP connected, TLS handshaken, WebSocket upgraded). */
  ready(writer: ConnectionWriter): void {
    if (this.state !== 'connecting') {
      writer.destroy();
      return;
    }
    this.writer = writer;
    this.state = 'open';
    const queued = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (const b of queued) this.send(b);
  }

  send(bytes: Buffer): SendResult {
    const stats = this.owner.stats;
    switch (this.state) {
      case 'closed':
        return 'no-connection';
      case 'connecting':
        if (this.queue.length >= MAX_QUEUE_ITEMS || this.queuedBytes + bytes.length > this.maxQueueBytes) {
          stats.sendErrors++;
          return 'error';
        }
        this.queue.push(bytes);
        this.queuedBytes += bytes.length;
        return 'queued';
      case 'open': {
        const w = this.writer as ConnectionWriter;
        if (w.pendingBytes() + bytes.length > this.maxPendingWriteBytes) {
          stats.sendErrors++;
          this.close();
          return 'error';
        }
        try {
          w.write(bytes);
        } catch {
          stats.sendErrors++;
          this.close();
          return 'error';
        }
        stats.framesOut++;
        this.lastActivity = this.owner.clock.now();
        return 'sent';
      }
    }
  }

  /** Ends the connection now. Idempotent; safe from any callback. */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.idleTimer?.cancel();
    this.firstTimer?.cancel();
    this.idleTimer = undefined;
    this.firstTimer = undefined;
    this.queue = [];
    this.queuedBytes = 0;
    try {
      this.writer?.destroy();
    } catch {
      // already torn down
    }
    this.raw.destroy();
    this.owner.released(this);
  }

  /** Idle timer re-armed lazily: activity only moves a timestamp, so busy connections cost no timer churn. */
  private readonly onIdleTimer = (): void => {
    if (this.state === 'closed') return;
    const idle = this.owner.limits.idleTimeoutMs;
    const elapsed = this.owner.clock.now() - this.lastActivity;
    if (elapsed >= idle) {
      this.owner.stats.idleClosed++;
      this.close();
      return;
    }
    this.idleTimer = this.owner.clock.setTimer(idle - elapsed, this.onIdleTimer);
  };

  private readonly onFirstTimer = (): void => {
    this.firstTimer = undefined;
    if (this.state === 'closed' || this.gotMessage) return;
    this.owner.stats.firstMessageTimeouts++;
    this.owner.stats.idleClosed++;
    this.close();
  };
}
