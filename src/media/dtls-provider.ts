/**
 * The process-wide DTLS-SRTP provider the media control hands to each secure leg: one certificate (its SHA-256
 * fingerprint goes into every a=fingerprint Palisade writes) and a factory of endpoints from src/media/dtls.
 *
 *   const dtls = await createDtlsProvider();
 *   createMediaControl({ ..., dtls });
 */
import { createDtlsCertificate, createDtlsEndpoint, type DtlsCertificate } from './dtls/index.ts';
import type { DtlsProvider } from './secure-relay.ts';

export interface DtlsProviderOptions {
  /** Default: a fresh certificate for this process. */
  certificate?: DtlsCertificate;
  /** Bound on each handshake; default the endpoint's (10 s). */
  handshakeTimeoutMs?: number;
}

export async function createDtlsProvider(opts: DtlsProviderOptions = {}): Promise<DtlsProvider> {
  const certificate = opts.certificate ?? (await createDtlsCertificate());
  const timeout = opts.handshakeTimeoutMs;
  return {
    fingerprint: certificate.fingerprint,
    createEndpoint: ({ role, remoteFingerprint, send }) =>
      createDtlsEndpoint({ role, certificate, remoteFingerprint, send, ...(timeout !== undefined ? { handshakeTimeoutMs: timeout } : {}) }),
  };
}
