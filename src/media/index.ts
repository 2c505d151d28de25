/** Media plane entry points. The proxy uses MediaControl only; the rest is exported for tests and benches. */
export {
  createMediaControl,
  DEFAULT_PREBIND_LEGS,
  MEDIA_DROP_REASONS,
  type MediaControl,
  type MediaControlOptions,
  type MediaDropReason,
  type MediaEndpoint,
  type MediaError,
  type MediaErrorCode,
  type MediaLegInfo,
  type MediaPortStats,
  type MediaSecurityStats,
  type MediaSessionHandle,
  type MediaSide,
  type MediaStats,
  type MediaTrafficStats,
} from './control.ts';
export { createDtlsProvider, type DtlsProviderOptions } from './dtls-provider.ts';
export { type IdleDropCounter, openPlainRelay, PlainRelay, type PlainRelayOptions, type RelayBindError } from './plain-relay.ts';
export { DEFAULT_PORT_QUARANTINE_MS, type PortPair, PortPool, type PortPoolOptions, type PortPoolStats } from './port-pool.ts';
export {
  classifyPacket,
  DEFAULT_MAX_PACKET_RATE,
  type MediaRelay,
  PACKET_MALFORMED,
  PACKET_RTCP,
  PACKET_RTP,
  PacketRateLimiter,
  RelayCounters,
} from './relay.ts';
export {
  type DtlsEndpointLike,
  type DtlsProvider,
  openSecureRelay,
  type PublicSecurity,
  SecureCounters,
  SecureRelay,
  type SecureRelayOptions,
  type SrtpKeyPair,
} from './secure-relay.ts';
export { IdleSocketPool, type IdleSocketPoolOptions } from './socket-pool.ts';
