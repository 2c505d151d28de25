/**
 * What a secure relay leg is told (plain data from the control) and what it counts. The DTLS endpoint is described
 * structurally so the relay does not depend on src/media/dtls; createDtlsProvider (dtls-provider.ts) adapts it.
 */
import type { DtlsSrtpKeys, SrtpProfileName } from './srtp/index.ts';

/** Master key and salt for one direction (SDES a=crypto, or DTLS-SRTP export). A secret: never logged. */
export interface SrtpKeyPair {
  readonly masterKey: Uint8Array;
  readonly masterSalt: Uint8Array;
  /** Key lifetime in packets (SDES `|2^31`), when the peer set one. */
  readonly lifetime?: number;
}

/** A DTLS endpoint as src/media/dtls provides it (structural, so this file does not depend on that module). */
export interface DtlsEndpointLike {
  start(): void;
  handle(datagram: Buffer): void;
  onConnected(cb: (r: { profile: SrtpProfileName; keys: DtlsSrtpKeys }) => void): void;
  onFailed(cb: (reason: string) => void): void;
  close(): void;
}

/** What the control needs to run DTLS-SRTP toward clients: our certificate's fingerprint and an endpoint factory. */
export interface DtlsProvider {
  /** SHA-256 fingerprint of the process-wide certificate, 'AB:CD:...' (for a=fingerprint). */
  readonly fingerprint: string;
  createEndpoint(opts: {
    role: 'client' | 'server';
    remoteFingerprint: { algorithm: string; value: string };
    send: (datagram: Buffer) => void;
  }): DtlsEndpointLike;
}

/** How the public side of one leg is secured. Plain data, set by the control from what the SDP negotiated. */
export interface PublicSecurity {
  /** ICE-lite: answer checks with these credentials; media latches only on an authenticated check. */
  readonly ice?: { readonly localUfrag: string; readonly localPwd: string; readonly remoteUfrag?: string };
  /** SDES: keys from the SDP. `rx` (the client's key) is unknown until its SDP arrives. */
  readonly sdes?: { readonly profile: SrtpProfileName; readonly tx: SrtpKeyPair; readonly rx?: SrtpKeyPair };
  /** DTLS-SRTP: our role and the client's a=fingerprint. A change of either starts a new handshake. */
  readonly dtls?: { readonly role: 'client' | 'server'; readonly remoteFingerprint: { algorithm: string; value: string } };
}

export type SecurityErrorCode = 'MEDIA_BAD_SECURITY';

/**
 * Counters of the secure public side (plain numbers, read by stats()). dtlsConnected / dtlsFailed count every
 * handshake of the leg: the RTP component's, and without rtcp-mux also the RTCP component's (RFC 5764 §4.1), which
 * is counted again on its own in rtcpDtlsConnected / rtcpDtlsFailed.
 */
export class SecureCounters {
  latches = 0;
  iceAnswered = 0;
  iceRejected = 0;
  dtlsConnected = 0;
  dtlsFailed = 0;
  rtcpDtlsConnected = 0;
  rtcpDtlsFailed = 0;
  /** A new source's ClientHello took the DTLS peer slot without ICE (dtls-peer.ts), either component. */
  dtlsPeerRestarts = 0;
  reset(): void {
    this.latches = 0;
    this.iceAnswered = 0;
    this.iceRejected = 0;
    this.dtlsConnected = 0;
    this.dtlsFailed = 0;
    this.rtcpDtlsConnected = 0;
    this.rtcpDtlsFailed = 0;
    this.dtlsPeerRestarts = 0;
  }
}
