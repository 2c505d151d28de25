/** Small address helpers shared by transport, proxy and security. */
import { isIP } from 'node:net';

export type SipTransport = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

export const SIP_TRANSPORTS: readonly SipTransport[] = ['udp', 'tcp', 'tls', 'ws', 'wss'];

export function isSipTransport(s: string): s is SipTransport {
  return (SIP_TRANSPORTS as readonly string[]).includes(s);
}

/** True for transports with a connection (responses and in-dialog requests reuse the flow). */
export function isStreamTransport(t: SipTransport): boolean {
  return t !== 'udp';
}

/** Via transport token (RFC 3261 §18, RFC 7118 §5.2). */
export function viaTransportToken(t: SipTransport): string {
  switch (t) {
    case 'udp':
      return 'UDP';
    case 'tcp':
      return 'TCP';
    case 'tls':
      return 'TLS';
    case 'ws':
      return 'WS';
    case 'wss':
      return 'WSS';
  }
}

/** `::ffff:1.2.3.4` → `1.2.3.4`; other addresses unchanged. */
export function unmapIPv4(address: string): string {
  if (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) return address.slice(7);
  return address;
}

/** Host as it appears in a SIP URI or Via: IPv6 references are bracketed (RFC 3261 §25.1, RFC 5118). */
export function formatHost(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}

export function formatHostPort(address: string, port: number): string {
  return `${formatHost(address)}:${port}`;
}
