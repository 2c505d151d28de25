/**
 * Outgoing TCP/TLS connections (toward a PBX, or back to a client whose flow is gone). WebSocket is never
 * opened outward: browsers cannot be dialled (RFC 7118 §5).
 *
 * TLS verification rule: the server certificate is verified exactly when `target.tlsServerName` is present —
 * against that name (DNS name or IP address) and the trust store (the origin listener's `caPem` when it has
 * one, else Node's bundled roots). Without `tlsServerName` the channel is encrypted but the peer is not
 * authenticated (a PBX on a private network with a self-signed certificate). When the origin listener has a
 * certificate it is presented as the client certificate (mutual TLS toward the PBX).
 */
import net from 'node:net';
import tls from 'node:tls';
import { unmapIPv4 } from '../core/net.ts';
import type { Connection } from './connection.ts';
import type { ConnectionTable } from './connection-table.ts';
import type { ResolvedListener, TransportLimits, TransportStatsDetail } from './options.ts';
import { readTlsPeerInfo } from './tls-peer.ts';
import type { Target } from './types.ts';

const WILDCARDS = new Set(['0.0.0.0', '::']);

function localAddressFor(origin: ResolvedListener, remote: string): string | undefined {
  if (WILDCARDS.has(origin.address)) return undefined;
  return net.isIP(origin.address) === net.isIP(remote) ? origin.address : undefined;
}

/** tls.connect forwards net options such as localAddress; @types/node does not list it on ConnectionOptions. */
type ClientTlsOptions = tls.ConnectionOptions & { localAddress?: string };

export function clientTlsOptions(origin: ResolvedListener, target: Target, address: string): ClientTlsOptions {
  const name = target.tlsServerName;
  const verify = name !== undefined;
  const o: ClientTlsOptions = {
    host: address,
    port: target.port,
    minVersion: origin.tls?.minVersion ?? 'TLSv1.2',
    rejectUnauthorized: verify,
  };
  // SNI carries DNS names only (RFC 6066 §3).
  if (name !== undefined && net.isIP(name) === 0) o.servername = name;
  if (name !== undefined) o.checkServerIdentity = (_host, cert) => tls.checkServerIdentity(name, cert);
  const t = origin.tls;
  if (t !== undefined) {
    if (t.caPem !== undefined) o.ca = t.caPem;
    o.cert = t.certPem;
    o.key = t.keyPem;
    if (t.passphrase !== undefined) o.passphrase = t.passphrase;
  }
  const local = localAddressFor(origin, address);
  if (local !== undefined) o.localAddress = local;
  return o;
}

/**
 * Starts a connection and registers it (state 'connecting'; sends queue until it is ready). Undefined when the
 * total connection cap is reached or the socket cannot even be created.
 */
export function openOutgoing(
  table: ConnectionTable,
  stats: TransportStatsDetail,
  limits: TransportLimits,
  origin: ResolvedListener,
  target: Target,
  address: string,
): Connection | undefined {
  if (!table.canOpenOutgoing()) return undefined;
  const transport = target.transport;
  let raw: net.Socket;
  try {
    if (transport === 'tls') {
      raw = tls.connect(clientTlsOptions(origin, target, address));
    } else {
      const o: net.NetConnectOpts = { host: address, port: target.port, noDelay: true };
      const local = localAddressFor(origin, address);
      if (local !== undefined) o.localAddress = local;
      raw = net.connect(o);
    }
  } catch {
    return undefined;
  }
  raw.on('error', () => {
    stats.socketErrors++;
  });
  const conn = table.registerOutgoing(origin.id, transport, address, target.port, raw);
  // Connect + handshake must finish within the first-message budget, or queued sends fail with the connection.
  const connectTimer = table.clock.setTimer(limits.firstMessageTimeoutMs, () => {
    if (conn.state === 'connecting') {
      stats.sendErrors++;
      conn.close();
    }
  });
  const onReady = (): void => {
    connectTimer.cancel();
    conn.localAddress = unmapIPv4(raw.localAddress ?? '');
    conn.localPort = raw.localPort ?? 0;
    if (transport === 'tls') conn.tls = readTlsPeerInfo(raw as tls.TLSSocket);
    conn.ready({
      write: (b) => raw.write(b),
      pendingBytes: () => raw.writableLength,
      destroy: () => raw.destroy(),
    });
  };
  raw.once(transport === 'tls' ? 'secureConnect' : 'connect', onReady);
  raw.once('close', () => connectTimer.cancel());
  raw.on('data', (chunk: Buffer) => conn.feed(chunk));
  return conn;
}
