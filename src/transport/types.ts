/**
 * Contract of the listeners (src/transport). The proxy sees only bytes plus a Source, and sends bytes
 * to a Target. Framing, TLS, WebSocket, connection caps and idle timeouts live here.
 */
import type { SipTransport } from '../core/net.ts';

export interface TlsPeerInfo {
  readonly protocol: string | undefined;
  readonly cipher: string | undefined;
  readonly authorized: boolean;
  /** Subject CN of a verified client certificate, if any. */
  readonly peerCommonName: string | undefined;
  /** SHA-256 fingerprint (upper-case hex with colons) of the peer certificate, if any. */
  readonly peerFingerprint256: string | undefined;
}

/** Where a message came from. Immutable; safe to keep in dialogs and bindings. */
export interface Source {
  readonly transport: SipTransport;
  /** Peer address, IPv4-mapped IPv6 already unmapped. */
  readonly address: string;
  readonly port: number;
  /** The listener that received it. */
  readonly listenerId: string;
  readonly localAddress: string;
  readonly localPort: number;
  /** Stream transports: the connection, so replies and later requests reuse the same flow. */
  readonly connectionId: number | undefined;
  readonly tls: TlsPeerInfo | undefined;
  /** Milliseconds (Clock.now) at receipt. */
  readonly receivedAt: number;
}

export interface Target {
  readonly transport: SipTransport;
  readonly address: string;
  readonly port: number;
  /** Preferred: send over this existing connection when it is still open. */
  readonly connectionId?: number | undefined;
  /** Which listener to send from (UDP source socket / client connection origin). Defaults to the first of that transport. */
  readonly listenerId?: string | undefined;
  /** For outgoing TLS connections: server name to verify, and whether to verify at all. */
  readonly tlsServerName?: string | undefined;
}

export type SendResult = 'sent' | 'queued' | 'no-connection' | 'error';

export interface ListenerInfo {
  readonly id: string;
  readonly transport: SipTransport;
  /** Bound address and port (port resolved when configured as 0). */
  readonly address: string;
  readonly port: number;
  /** Address/port to put in Via, Contact and Record-Route (advertised public address, or the bound one). */
  readonly advertiseHost: string;
  readonly advertisePort: number;
}

export interface TransportEvents {
  /**
   * One complete SIP message (datagram, framed stream message or WebSocket frame). Called synchronously
   * from the socket callback; the handler must not throw (errors are caught and counted).
   */
  onMessage(bytes: Buffer, source: Source): void;
  /** A stream connection closed (so bindings using it can be dropped). */
  onConnectionClosed?(connectionId: number, source: Source): void;
  /**
   * Gate hook before any parsing: return false to drop a datagram silently or refuse/close a connection.
   * Called per datagram/frame and per new connection.
   */
  accept?(transport: SipTransport, address: string, port: number): boolean;
}

export interface TransportStats {
  datagramsIn: number;
  datagramsOut: number;
  connectionsOpen: number;
  connectionsRefused: number;
  framingErrors: number;
  oversize: number;
  idleClosed: number;
  sendErrors: number;
}

export interface TransportManager {
  listeners(): readonly ListenerInfo[];
  send(target: Target, bytes: Buffer): SendResult;
  /** Closes one connection (for example a banned source). */
  closeConnection(connectionId: number): void;
  isConnectionOpen(connectionId: number): boolean;
  stats(): Readonly<TransportStats>;
  close(): Promise<void>;
}
