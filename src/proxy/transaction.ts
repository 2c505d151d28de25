/**
 * RFC 3261 §17 transactions with an injected clock (RFC 6026 "Accepted" states included).
 *
 * Palisade is a B2BUA-lite: every hop it makes is its own transaction. Server transactions absorb request
 * retransmissions and repeat the last response; client transactions retransmit over UDP (Timers A/E),
 * time out (Timers B/F) and generate the hop-by-hop ACK for non-2xx INVITE responses (§17.1.1.3).
 * The transaction layer knows nothing of dialogs or topology; the proxy core is its transaction user.
 */

import { BoundedMap } from '../core/bounded-map.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { SipMessage } from '../sip/types.ts';
import type { Source, Target } from '../transport/types.ts';

export interface TimerConfig {
  readonly t1Ms: number;
  readonly t2Ms: number;
  readonly t4Ms: number;
}

export type SendFn = (target: Target, bytes: Buffer) => boolean;

export type ServerState = 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

/** Server transaction: keyed by the request's top Via (branch + sent-by) and method (ACK/CANCEL mapped). */
export class ServerTransaction {
  readonly key: string;
  readonly isInvite: boolean;
  readonly request: SipMessage;
  readonly source: Source;
  readonly reply: Target;
  state: ServerState = 'proceeding';
  /** Last response bytes, repeated when the request is retransmitted. */
  private lastResponse: Buffer | undefined;
  private timers: TimerHandle[] = [];
  /** Free slot for the transaction user (the proxy keeps its call here). */
  userData: unknown;
  private readonly layer: TransactionLayer;

  constructor(layer: TransactionLayer, key: string, request: SipMessage, source: Source, reply: Target) {
    this.layer = layer;
    this.key = key;
    this.request = request;
    this.isInvite = request.method === 'INVITE';
    this.source = source;
    this.reply = reply;
  }

  get reliable(): boolean {
    return this.source.transport !== 'udp';
  }

  /** Whether any response (provisional or final) has been sent. */
  get responded(): boolean {
    return this.lastResponse !== undefined;
  }

  /** Sends a response through this transaction, driving §17.2.1 / §17.2.2 state changes. */
  respond(response: SipMessage): void {
    if (this.state === 'terminated' || this.state === 'confirmed') return;
    const status = response.status ?? 500;
    const bytes = response.serialize();
    if (this.state === 'completed' && status >= 200) return; // final already sent
    this.lastResponse = bytes;
    this.layer.send(this.reply, bytes);
    if (status < 200) return;
    const { t1Ms, t2Ms, t4Ms } = this.layer.timers;
    if (this.isInvite) {
      if (status < 300) {
        // RFC 6026 §7.1: Accepted; absorb INVITE retransmissions for Timer L = 64*T1.
        this.state = 'accepted';
        this.after(64 * t1Ms, () => this.terminate());
        return;
      }
      this.state = 'completed';
      if (!this.reliable) this.retransmitG(t1Ms, t2Ms);
      this.after(64 * t1Ms, () => this.terminate()); // Timer H: no ACK came
      return;
    }
    this.state = 'completed';
    this.after(this.reliable ? 0 : 64 * t1Ms, () => this.terminate()); // Timer J
    void t4Ms;
  }

  /** The request was retransmitted: repeat the last response (§17.2.1, §17.2.2). */
  onRetransmission(): void {
    if (this.lastResponse && (this.state === 'proceeding' || this.state === 'completed' || this.state === 'accepted')) {
      this.layer.send(this.reply, this.lastResponse);
      this.layer.counters.retransmissionsAbsorbed++;
    }
  }

  /** ACK for a non-2xx final (hop-by-hop, absorbed here). */
  onAck(): void {
    if (this.state !== 'completed') return;
    this.state = 'confirmed';
    this.clearTimers();
    this.after(this.reliable ? 0 : this.layer.timers.t4Ms, () => this.terminate()); // Timer I
  }

  private retransmitG(interval: number, t2: number): void {
    this.after(interval, () => {
      if (this.state !== 'completed' || !this.lastResponse) return;
      this.layer.send(this.reply, this.lastResponse);
      this.retransmitG(Math.min(interval * 2, t2), t2);
    });
  }

  private after(ms: number, fn: () => void): void {
    this.timers.push(this.layer.clock.setTimer(ms, fn));
  }

  private clearTimers(): void {
    for (const t of this.timers) t.cancel();
    this.timers = [];
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.clearTimers();
    this.layer.removeServer(this);
  }
}

export type ClientState = 'calling' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

export interface ClientTransactionUser {
  /** Every response that the TU must see: provisional, first final, and 2xx retransmissions (RFC 6026). */
  onResponse(txn: ClientTransaction, response: SipMessage): void;
  /** Timer B/F fired, or the transport failed: the TU answers 408/503 upstream. */
  onTimeout(txn: ClientTransaction, reason: 'timeout' | 'transport'): void;
}

/** Client transaction: keyed by the branch Palisade generated for its Via. */
export class ClientTransaction {
  readonly branch: string;
  readonly isInvite: boolean;
  readonly request: SipMessage;
  readonly target: Target;
  state: ClientState = 'calling';
  private readonly bytes: Buffer;
  private timers: TimerHandle[] = [];
  private retransmitTimer: TimerHandle | undefined;
  private readonly layer: TransactionLayer;
  private readonly tu: ClientTransactionUser;
  /** Highest status seen so far (0 before any response). */
  lastStatus = 0;
  userData: unknown;

  constructor(layer: TransactionLayer, branch: string, request: SipMessage, target: Target, tu: ClientTransactionUser) {
    this.layer = layer;
    this.branch = branch;
    this.request = request;
    this.isInvite = request.method === 'INVITE';
    this.target = target;
    this.tu = tu;
    this.bytes = request.serialize();
  }

  get reliable(): boolean {
    return this.target.transport !== 'udp';
  }

  start(): void {
    if (!this.layer.send(this.target, this.bytes)) {
      // Report asynchronously so the TU is never re-entered from inside its own send call.
      this.after(0, () => this.fail('transport'));
      return;
    }
    const { t1Ms, t2Ms } = this.layer.timers;
    if (!this.reliable) this.scheduleRetransmit(t1Ms, this.isInvite ? Number.POSITIVE_INFINITY : t2Ms);
    this.after(64 * t1Ms, () => {
      // Timer B (INVITE) runs only while Calling: once a provisional arrived the call may ring for minutes
      // (§17.1.1.2); the proxy core bounds ringing itself. Timer F (non-INVITE) covers Trying and Proceeding.
      if (this.state === 'calling' || (!this.isInvite && this.state === 'proceeding')) this.fail('timeout');
    });
  }

  private scheduleRetransmit(interval: number, cap: number): void {
    this.retransmitTimer = this.layer.clock.setTimer(interval, () => {
      if (this.state !== 'calling' && !(this.state === 'proceeding' && !this.isInvite)) return;
      this.layer.send(this.target, this.bytes);
      this.layer.counters.retransmissionsSent++;
      // Timer A doubles without cap; Timer E doubles up to T2 (and stays at T2 once proceeding).
      const next = this.state === 'proceeding' ? this.layer.timers.t2Ms : Math.min(interval * 2, cap);
      this.scheduleRetransmit(next, cap);
    });
  }

  /** Called by the layer for a response whose top Via branch is ours. */
  receive(response: SipMessage): void {
    const status = response.status ?? 0;
    switch (this.state) {
      case 'calling':
      case 'proceeding': {
        if (status < 200) {
          if (this.isInvite) this.retransmitTimer?.cancel();
          this.state = 'proceeding';
          this.lastStatus = Math.max(this.lastStatus, status);
          this.tu.onResponse(this, response);
          return;
        }
        this.retransmitTimer?.cancel();
        this.lastStatus = status;
        const { t1Ms, t4Ms } = this.layer.timers;
        if (this.isInvite && status < 300) {
          this.state = 'accepted'; // RFC 6026 §7.2, Timer M
          this.clearTimers();
          this.after(64 * t1Ms, () => this.terminate());
        } else if (this.isInvite) {
          this.state = 'completed';
          this.clearTimers();
          this.sendAck(response);
          this.after(this.reliable ? 0 : 32000, () => this.terminate()); // Timer D
        } else {
          this.state = 'completed';
          this.clearTimers();
          this.after(this.reliable ? 0 : t4Ms, () => this.terminate()); // Timer K
        }
        this.tu.onResponse(this, response);
        return;
      }
      case 'accepted':
        if (status >= 200 && status < 300) this.tu.onResponse(this, response); // 2xx retransmission → TU
        return;
      case 'completed':
        if (this.isInvite && status >= 300) this.sendAck(response); // retransmitted final: repeat ACK
        return;
      case 'terminated':
        return;
    }
  }

  /** §17.1.1.3: the ACK for a non-2xx final shares the INVITE's branch and goes to the same target. */
  private sendAck(response: SipMessage): void {
    const ack = this.layer.buildAck(this.request, response);
    if (ack) this.layer.send(this.target, ack.serialize());
  }

  /** Stops retransmitting and reports failure (used for fast failover toward a silent PBX). */
  fail(reason: 'timeout' | 'transport'): void {
    if (this.state === 'terminated') return;
    this.terminate();
    this.tu.onTimeout(this, reason);
  }

  private after(ms: number, fn: () => void): void {
    this.timers.push(this.layer.clock.setTimer(ms, fn));
  }

  private clearTimers(): void {
    for (const t of this.timers) t.cancel();
    this.timers = [];
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.retransmitTimer?.cancel();
    this.clearTimers();
    this.layer.removeClient(this);
  }
}

export interface TransactionCounters {
  serverCreated: number;
  clientCreated: number;
  retransmissionsAbsorbed: number;
  retransmissionsSent: number;
  timeouts: number;
}

export interface TransactionLayerOptions {
  readonly clock: Clock;
  readonly timers: TimerConfig;
  readonly send: SendFn;
  readonly maxTransactions: number;
  /** Builds the §17.1.1.3 ACK (injected so this module stays free of message construction details). */
  readonly buildAck: (invite: SipMessage, response: SipMessage) => SipMessage | undefined;
}

export class TransactionLayer {
  readonly clock: Clock;
  timers: TimerConfig;
  readonly counters: TransactionCounters = {
    serverCreated: 0,
    clientCreated: 0,
    retransmissionsAbsorbed: 0,
    retransmissionsSent: 0,
    timeouts: 0,
  };
  private readonly sendFn: SendFn;
  readonly buildAck: (invite: SipMessage, response: SipMessage) => SipMessage | undefined;
  private readonly servers: BoundedMap<string, ServerTransaction>;
  private readonly clients: BoundedMap<string, ClientTransaction>;

  constructor(opts: TransactionLayerOptions) {
    this.clock = opts.clock;
    this.timers = opts.timers;
    this.sendFn = opts.send;
    this.buildAck = opts.buildAck;
    // Evicted transactions are terminated so their timers stop too.
    this.servers = new BoundedMap(opts.maxTransactions, (_k, t) => t.terminate());
    this.clients = new BoundedMap(opts.maxTransactions, (_k, t) => t.terminate());
  }

  send(target: Target, bytes: Buffer): boolean {
    return this.sendFn(target, bytes);
  }

  findServer(key: string): ServerTransaction | undefined {
    return this.servers.get(key);
  }

  createServer(key: string, request: SipMessage, source: Source, reply: Target): ServerTransaction {
    const t = new ServerTransaction(this, key, request, source, reply);
    this.servers.set(key, t);
    this.counters.serverCreated++;
    return t;
  }

  createClient(branch: string, request: SipMessage, target: Target, tu: ClientTransactionUser): ClientTransaction {
    const t = new ClientTransaction(this, branch, request, target, tu);
    this.clients.set(clientKey(branch, request.method ?? ''), t);
    this.counters.clientCreated++;
    return t;
  }

  /** §17.1.3: a response matches by top Via branch and CSeq method (a CANCEL shares its INVITE's branch). */
  findClient(branch: string, cseqMethod: string): ClientTransaction | undefined {
    return this.clients.get(clientKey(branch, cseqMethod));
  }

  removeServer(t: ServerTransaction): void {
    if (this.servers.get(t.key) === t) this.servers.delete(t.key);
  }

  removeClient(t: ClientTransaction): void {
    const key = clientKey(t.branch, t.request.method ?? '');
    if (this.clients.get(key) === t) this.clients.delete(key);
  }

  get activeServers(): number {
    return this.servers.size;
  }

  get activeClients(): number {
    return this.clients.size;
  }

  get evictions(): number {
    return this.servers.evictions + this.clients.evictions;
  }
}

function clientKey(branch: string, method: string): string {
  return method === 'ACK' ? `${branch}\u0000INVITE` : `${branch}\u0000${method}`;
}

/**
 * Server transaction key (§17.2.3): branch + sent-by + method, with ACK matching its INVITE.
 * CANCEL has its own transaction (same branch, method CANCEL).
 */
export function serverKey(branch: string, sentBy: string, method: string): string {
  const m = method === 'ACK' ? 'INVITE' : method;
  return `${branch}\u0000${sentBy}\u0000${m}`;
}
