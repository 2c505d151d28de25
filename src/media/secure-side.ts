/**
 * State of one secure public side (see secure-relay.ts; secure-dtls.ts and secure-ice.ts run parts of it): the SDES
 * keys, ICE-lite responder, the latched peer, the DTLS role, and the two components (dtls-component.ts) with their
 * handshakes and SRTP contexts; plus the shared ring of buffers protected packets are sent from.
 */
import { DtlsComponent } from './dtls-component.ts';
import type { IceLiteResponder } from './ice-lite.ts';
import type { RelaySideState } from './plain-relay.ts';
import { PacketRateLimiter } from './relay.ts';
import type { SrtpKeyPair } from './secure-types.ts';
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
  /** DTLS-SRTP role and the peer's a=fingerprint (normalized, to notice a change); both components share them. */
  dtlsRole: 'client' | 'server' | undefined;
  dtlsFingerprint = '';
  /** The peer's a=fingerprint as given (the RTCP component's handshake checks the same one). */
  dtlsRemoteFingerprint: { algorithm: string; value: string } | undefined;
  /** Packets from addresses other than the latched one are tried (authenticated) at this rate at most. */
  readonly foreignLimiter = new PacketRateLimiter(0);
  readonly counters = new SecureCounters();
  readonly stunOut = Buffer.allocUnsafeSlow(STUN_MAX_RESPONSE_BYTES);
  /**
   * The RTP component: its DTLS handshake (the leg runs DTLS-SRTP while `rtp.endpoint` is set) and the SRTP contexts
   * for RTP, and for RTCP too unless DTLS-SRTP runs without rtcp-mux; with SDES they hold the a=crypto keys.
   */
  readonly rtp: DtlsComponent;
  /**
   * DTLS-SRTP without rtcp-mux: the RTCP port is a component of its own with its own handshake and its own SRTCP
   * keys (RFC 5764 §4.1). While `rtp.endpoint` is set, the RTCP socket uses only these keys, never the RTP component's.
   */
  readonly rtcp: DtlsComponent;

  /** `pub`: the public side, whose RTP and RTCP sockets carry the two components' records. */
  constructor(pub: RelaySideState) {
    this.rtp = new DtlsComponent(false, pub.rtp, pub.counters, this.counters);
    this.rtcp = new DtlsComponent(true, pub.rtcp, pub.counters, this.counters);
  }
}
