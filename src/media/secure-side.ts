/**
 * State of one secure public side (see secure-relay.ts; secure-dtls.ts and secure-ice.ts run parts of it): SRTP
 * contexts and the keys they were made from, ICE-lite responder, the latched peer, the DTLS endpoint; plus the shared
 * ring of buffers protected packets are sent from.
 */
import type { IceLiteResponder } from './ice-lite.ts';
import { PacketRateLimiter } from './relay.ts';
import type { DtlsEndpointLike, SrtpKeyPair } from './secure-types.ts';
import { SecureCounters } from './secure-types.ts';
import { createSrtpContext, type SrtpContext, type SrtpProfileName } from './srtp/index.ts';
import { STUN_MAX_RESPONSE_BYTES } from './stun.ts';

/** Protected packets wait in these until the kernel has them; shared by every relay of the process (one thread). */
const TX_RING_SIZE = 256;
const TX_BUFFER_BYTES = 1500 + 64;
const txRing: Buffer[] = [];
let txNext = 0;
export function nextTxBuffer(): Buffer {
  if (txRing.length < TX_RING_SIZE) {
    const b = Buffer.allocUnsafeSlow(TX_BUFFER_BYTES);
    txRing.push(b);
    return b;
  }
  const b = txRing[txNext] as Buffer;
  txNext = (txNext + 1) % TX_RING_SIZE;
  return b;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a !== undefined && b !== undefined && Buffer.compare(a, b) === 0;
}

export function sameKey(a: SrtpKeyPair | undefined, b: SrtpKeyPair | undefined): boolean {
  return a !== undefined && b !== undefined && sameBytes(a.masterKey, b.masterKey) && sameBytes(a.masterSalt, b.masterSalt);
}

export function contextFor(profile: SrtpProfileName, k: SrtpKeyPair): SrtpContext {
  return createSrtpContext({
    profile,
    masterKey: k.masterKey,
    masterSalt: k.masterSalt,
    ...(k.lifetime !== undefined ? { keyLifetime: k.lifetime } : {}),
  });
}

/** Secure state of the public side; `active` false means the leg is plain. */
export class SecureSide {
  active = false;
  rx: SrtpContext | null = null;
  tx: SrtpContext | null = null;
  sdesProfile: SrtpProfileName | undefined;
  rxKey: SrtpKeyPair | undefined;
  txKey: SrtpKeyPair | undefined;
  ice: IceLiteResponder | null = null;
  iceUfrag = '';
  icePwd = '';
  /** The authenticated peer (RTP, and RTCP with rtcp-mux). */
  latched = false;
  latchAddress = '';
  latchPort = 0;
  /** RTCP peer without rtcp-mux (from authenticated SRTCP on the RTCP socket). */
  rtcpLatched = false;
  rtcpAddress = '';
  rtcpPort = 0;
  dtls: DtlsEndpointLike | null = null;
  dtlsRole: 'client' | 'server' | undefined;
  dtlsFingerprint = '';
  dtlsStarted = false;
  dtlsPeerAddress = '';
  dtlsPeerPort = 0;
  /** The handshake with the current DTLS peer failed; fresh endpoints opened for a new peer (dtls-peer.ts). */
  dtlsPeerFailed = false;
  dtlsRestarts = 0;
  /** The peer's a=fingerprint as given (the RTCP component's handshake checks the same one). */
  dtlsRemoteFingerprint: { algorithm: string; value: string } | undefined;
  /**
   * DTLS-SRTP without rtcp-mux: the RTCP port is a component of its own with its own handshake and its own SRTCP
   * keys (RFC 5764 §4.1). While `dtls` is set, the RTCP socket uses only these keys, never the RTP component's.
   */
  rtcpDtls: DtlsEndpointLike | null = null;
  rtcpDtlsStarted = false;
  rtcpDtlsPeerAddress = '';
  rtcpDtlsPeerPort = 0;
  rtcpDtlsPeerFailed = false;
  rtcpDtlsRestarts = 0;
  rtcpRx: SrtpContext | null = null;
  rtcpTx: SrtpContext | null = null;
  /** Packets from addresses other than the latched one are tried (authenticated) at this rate at most. */
  readonly foreignLimiter = new PacketRateLimiter(0);
  readonly counters = new SecureCounters();
  readonly stunOut = Buffer.allocUnsafeSlow(STUN_MAX_RESPONSE_BYTES);
}
