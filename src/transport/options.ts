/** Options and statistics of the transport manager (re-exported by manager.ts). */
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import type { SipTransport } from '../core/net.ts';
import type { TransportEvents, TransportStats } from './types.ts';

export interface ResolvedTls {
  certPem: string;
  keyPem: string;
  passphrase?: string;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** none: no certificate asked; optional: asked, verified when given; require: handshake fails without one. */
  clientCert: 'none' | 'optional' | 'require';
  /** CA bundle for client certificates; for outgoing TLS from this listener it is also the trust store. */
  caPem?: string;
}

export interface ResolvedWs {
  /** Allowed Origin values; empty → any (non-browser clients send none). */
  origins: string[];
  maxPayload: number;
  path: string;
}

export interface ResolvedListener {
  id: string;
  role: 'public' | 'pbx';
  transport: SipTransport;
  address: string;
  /** 0 = ephemeral (tests). */
  port: number;
  advertiseHost?: string;
  advertisePort?: number;
  /** Required for tls and wss. */
  tls?: ResolvedTls;
  /** ws/wss settings; defaults: any origin, maxPayload = maxMessageBytes, path '/'. */
  ws?: ResolvedWs;
}

export interface TransportLimits {
  maxMessageBytes: number;
  /** Open inbound connections per remote IP. */
  perSource: number;
  /** Open connections in total (inbound and outgoing). */
  total: number;
  /** A connection with no complete message, keep-alive or send for this long is closed. */
  idleTimeoutMs: number;
  /** An inbound connection that has not delivered a complete message within this time is closed (slowloris). */
  firstMessageTimeoutMs: number;
}

export interface TransportOptions {
  listeners: ResolvedListener[];
  limits: TransportLimits;
  events: TransportEvents;
  clock: Clock;
  logger: Logger;
}

/** TransportStats plus detail counters (all plain numbers, read by the metrics collector). */
export interface TransportStatsDetail extends TransportStats {
  /** Complete stream/WebSocket messages handed to onMessage. */
  framesIn: number;
  /** Stream and WebSocket messages written. */
  framesOut: number;
  /** Inbound connections admitted (after the gate and the caps). */
  connectionsAccepted: number;
  /** Outgoing connections opened (tcp/tls). */
  connectionsOutgoing: number;
  connectionsClosed: number;
  /** Datagrams or frames the accept() hook refused. */
  gateDropped: number;
  /** CRLFCRLF pings answered (RFC 5626 §3.5.1). */
  keepAlivePings: number;
  /** Connections closed by the first-message (slowloris) timer; also counted in idleClosed. */
  firstMessageTimeouts: number;
  /** TLS handshakes that failed (protocol version, certificate, garbage). */
  tlsHandshakeErrors: number;
  /** WebSocket upgrades refused (no `sip` subprotocol, bad Origin or path, malformed). */
  wsUpgradesRefused: number;
  /** Exceptions thrown by onMessage/accept/onConnectionClosed, caught here. */
  handlerErrors: number;
  /** Socket errors reported by the OS (resets, unreachable). */
  socketErrors: number;
}

export function emptyStats(): TransportStatsDetail {
  return {
    datagramsIn: 0,
    datagramsOut: 0,
    connectionsOpen: 0,
    connectionsRefused: 0,
    framingErrors: 0,
    oversize: 0,
    idleClosed: 0,
    sendErrors: 0,
    framesIn: 0,
    framesOut: 0,
    connectionsAccepted: 0,
    connectionsOutgoing: 0,
    connectionsClosed: 0,
    gateDropped: 0,
    keepAlivePings: 0,
    firstMessageTimeouts: 0,
    tlsHandshakeErrors: 0,
    wsUpgradesRefused: 0,
    handlerErrors: 0,
    socketErrors: 0,
  };
}
