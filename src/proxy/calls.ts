/**
 * Call records: the two legs of everything Palisade relays (dialogs, and single transactions such as
 * REGISTER or out-of-dialog MESSAGE). The public leg is what the client sees; the pbx leg what the PBX sees.
 * Tags are the same on both legs; Call-ID, Via, Contact, Route and CSeq space are per leg.
 */
import { BoundedMap } from '../core/bounded-map.ts';
import type { Target } from '../transport/types.ts';

export type Side = 'public' | 'pbx';

export function otherSide(s: Side): Side {
  return s === 'public' ? 'pbx' : 'public';
}

export interface Leg {
  readonly side: Side;
  readonly callId: string;
  /** Where requests toward this side go (the phone's flow, or the chosen PBX target). */
  flow: Target;
  /** Request-URI for in-dialog requests toward this side: the peer's Contact URI. */
  remoteTarget: string | undefined;
  /** Route set toward this side (§12.1.2), as header values. */
  routeSet: string[];
  /** Added to CSeq numbers forwarded into this leg; grows when Palisade itself sends a request into it. */
  cseqOffset: number;
  /** Highest CSeq number sent into this leg. */
  lastCseq: number;
}

export type CallState = 'early' | 'confirmed' | 'terminated';

export interface Call {
  readonly id: string;
  readonly createdAt: number;
  /** Which side sent the request that created it. */
  readonly caller: Side;
  /** INVITE/SUBSCRIBE/REFER create dialogs; everything else is a transaction-long record. */
  readonly dialog: boolean;
  readonly method: string;
  readonly fromTag: string | undefined;
  toTag: string | undefined;
  state: CallState;
  readonly legs: { public: Leg; pbx: Leg };
  pbxName: string | undefined;
  lastActivityAt: number;
  confirmedAt: number | undefined;
  /** Set by the media layer (opaque here). */
  media: unknown;
  /** The user that authenticated the request creating this call (public side). */
  identity: string | undefined;
  /** The trusted peer it came from, when it skipped digest authentication. */
  trustedPeer: string | undefined;
  /** Longest the answered call may last (call authorization); undefined = no bound. */
  maxDurationMs?: number | undefined;
  /** From/To header values as each leg sees them, kept from the answer so Palisade can hang up both sides itself. */
  ends?: Record<Side, { from: string; to: string }> | undefined;
  /** Why Palisade ended the call itself (duration limit, media timeout), once it has. */
  endedBy?: string | undefined;
  /** The duration-limit timer of an answered call. */
  limitTimer?: { cancel(): void } | undefined;
}

export class CallTable {
  private readonly byKey: BoundedMap<string, Call>;
  private dialogsActive = 0;
  onEvict: ((c: Call) => void) | undefined;

  constructor(max: number) {
    this.byKey = new BoundedMap(max * 2, (key, c) => {
      // Each call is indexed twice; evicting one index drops the call entirely.
      const otherKey = key.startsWith('public:') ? `pbx:${c.legs.pbx.callId}` : `public:${c.legs.public.callId}`;
      this.byKey.delete(otherKey);
      if (c.state !== 'terminated') {
        c.state = 'terminated';
        if (c.dialog) this.dialogsActive--;
        this.onEvict?.(c);
      }
    });
  }

  add(c: Call): void {
    this.byKey.set(`public:${c.legs.public.callId}`, c);
    this.byKey.set(`pbx:${c.legs.pbx.callId}`, c);
    if (c.dialog) this.dialogsActive++;
  }

  find(side: Side, callId: string): Call | undefined {
    return this.byKey.get(`${side}:${callId}`);
  }

  /** Marks terminated and removes both indexes. */
  remove(c: Call): void {
    if (c.state !== 'terminated' && c.dialog) this.dialogsActive--;
    c.state = 'terminated';
    if (this.byKey.get(`public:${c.legs.public.callId}`) === c) this.byKey.delete(`public:${c.legs.public.callId}`);
    if (this.byKey.get(`pbx:${c.legs.pbx.callId}`) === c) this.byKey.delete(`pbx:${c.legs.pbx.callId}`);
  }

  get activeDialogs(): number {
    return this.dialogsActive;
  }

  get evictions(): number {
    return this.byKey.evictions;
  }

  /** Distinct calls (each is indexed twice). */
  list(): Call[] {
    const seen = new Set<Call>();
    for (const c of this.byKey.values()) seen.add(c);
    return [...seen];
  }
}
