/** Shared types of the proxy core: its settings, dependencies, counters and the media hook it calls. */
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import type { Pipeline } from '../pipeline/stage.ts';
import type { SipMessage } from '../sip/types.ts';
import type { ListenerInfo, Source, Target } from '../transport/types.ts';
import type { Call, Side } from './calls.ts';
import type { PbxPool } from './pbx-pool.ts';
import type { TimerConfig } from './transaction.ts';

/** Media anchoring, as the proxy sees it. Returns the body to send on, or a status to refuse the offer with. */
export interface MediaHook {
  /** Allocates relay ports for a call's first SDP; a Promise when that needs I/O, undefined when nothing to do. */
  prepare(call: Call, body: Buffer, contentType: string | undefined): Promise<boolean> | undefined;
  rewrite(
    call: Call,
    from: Side,
    body: Buffer,
    contentType: string | undefined,
  ): { ok: true; body: Buffer } | { ok: false; status: number; reason: string };
  release(call: Call): void;
  /**
   * Called once by the proxy at construction: `end(call, reason)` tears an established call down with BYE to
   * both sides, e.g. when its media has been silent for too long (a call that is not established is left alone).
   */
  bindTerminate?(end: (call: Call, reason: string) => void): void;
}

export const passthroughMedia: MediaHook = {
  prepare: () => undefined,
  rewrite: (_c, _f, body) => ({ ok: true, body }),
  release: () => {},
};

export interface ProxySettings {
  readonly timers: TimerConfig;
  readonly maxTransactions: number;
  readonly maxDialogs: number;
  readonly maxRegistrations: number;
  readonly minExpires: number;
  readonly maxExpires: number;
  readonly sourceHeader: string;
  readonly retryAfterSeconds: number;
  readonly stripHeaders: readonly string[];
  /** Hosts and domains that are Palisade itself (OPTIONS to these are answered here). */
  readonly localHosts: ReadonlySet<string>;
  /** Probe timeout: a PBX that has not answered a request by then is failed over. */
  readonly pbxResponseTimeoutMs: number;
  readonly serverHeader: string;
  /** palisade: Palisade authenticated the public side (credentials stop here, identity asserted); pbx: pass through. */
  readonly authMode: 'palisade' | 'pbx';
  /** Host part of asserted identities. */
  readonly identityDomain: string;
}

export interface ProxyCounters {
  requestsIn: number;
  responsesIn: number;
  repliesLocal: number;
  dropped: number;
  noPbx503: number;
  failovers: number;
  unknownPbxSource: number;
  staleResponses: number;
  /** Calls Palisade hung up itself (duration limit, media timeout). */
  terminated: number;
}

export interface ProxyDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly send: (target: Target, bytes: Buffer) => boolean;
  readonly listeners: () => readonly ListenerInfo[];
  readonly pool: PbxPool;
  readonly media: MediaHook;
  readonly secret: Buffer;
  readonly isConnectionOpen: (connectionId: number) => boolean;
  readonly pipeline: Pipeline;
  /** The PBX refused credentials a public-side client sent (auth.mode pbx): a failed attempt, for bans. */
  readonly onCredentialsRefusedByPbx?: (source: Source, user: string | undefined) => void;
  /**
   * A public-side INVITE call ended (answered and hung up, failed, cancelled, evicted, refused after the pipeline
   * let it through, or ended by Palisade): call authorization releases what it counted. Once per call.
   */
  readonly onCallEnded?: (e: CallEnd) => void;
  /** Palisade ended an established call itself (BYE both ways): `reason` is duration-limit, media-timeout, … */
  readonly onCallTerminated?: (call: Call, reason: string) => void;
}

export interface CallEnd {
  /** The Call-ID the caller used (what the pipeline saw). */
  readonly publicCallId: string;
  readonly caller: Side;
  /** Time from the 2xx to the end; 0 when never answered. */
  readonly answeredMs: number;
  /** Set when Palisade ended it (terminate). */
  readonly reason: string | undefined;
}

/** A request Palisade will not pass on, and what to answer instead. */
export interface Refusal {
  readonly status: number;
  readonly reason: string;
}

export function isRefusal(x: SipMessage | Refusal): x is Refusal {
  return !('serialize' in x);
}
