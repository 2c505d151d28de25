/**
 * The request pipeline: ordered stages with one interface, cheapest checks first (DESIGN "Signalling path").
 * A stage looks at one request and returns a verdict; it does no I/O of its own, so its decision is a pure
 * function of the policy snapshot it was built with, the facts in the context and `now`. The runner alone
 * counts verdicts; the proxy carries them out (reply through the server transaction, drop silently, …).
 */
import type { SipMessage } from '../sip/types.ts';
import type { Source } from '../transport/types.ts';

export type Side = 'public' | 'pbx';

export type Verdict =
  | { readonly kind: 'continue' }
  | {
      readonly kind: 'reply';
      readonly status: number;
      readonly reason: string;
      readonly headers?: ReadonlyArray<readonly [string, string]>;
    }
  | { readonly kind: 'drop'; readonly reason: string }
  /** 401 (REGISTER) or 407 (everything else) with the WWW-/Proxy-Authenticate headers to send. */
  | { readonly kind: 'challenge'; readonly proxy: boolean; readonly headers: ReadonlyArray<readonly [string, string]> };

/** What stages learn about a request, for the stages after them and for the proxy (mutable, per request). */
export interface RequestFacts {
  /** The authenticated user (digest) — asserted toward the PBX. */
  user?: string;
  /** Name of the trusted peer the request came from (skipped digest). */
  trustedPeer?: string;
  /** Groups of the authenticated user (users file or credential backend). */
  groups?: readonly string[];
  /** Call authorization allowed this INVITE for at most this long once answered (BYE to both sides at the limit). */
  maxDurationMs?: number;
}

export const CONTINUE: Verdict = Object.freeze({ kind: 'continue' });

export interface StageContext {
  readonly msg: SipMessage;
  readonly source: Source;
  readonly side: Side;
  /** Clock.now() at receipt. */
  readonly now: number;
  readonly facts: RequestFacts;
}

export interface Stage {
  /** Short, fixed name: used as a metric label. */
  readonly name: string;
  /**
   * Synchronous for checks that need no I/O (the common, cheap case). A stage that must wait (a credential
   * lookup over HTTP) returns a Promise; the runner then finishes the remaining stages asynchronously.
   */
  run(ctx: StageContext): Verdict | Promise<Verdict>;
}

export interface PipelineResult {
  readonly verdict: Verdict;
  /** The stage that decided (undefined when every stage said continue). */
  readonly stage: string | undefined;
}

export type VerdictObserver = (stage: string, verdict: Verdict) => void;

export class Pipeline {
  private readonly stages: readonly Stage[];
  private readonly observe: VerdictObserver | undefined;

  constructor(stages: readonly Stage[], observe?: VerdictObserver) {
    this.stages = stages;
    this.observe = observe;
  }

  get names(): string[] {
    return this.stages.map((s) => s.name);
  }

  /** Runs the stages in order; stays synchronous unless a stage returns a Promise. */
  run(ctx: StageContext): PipelineResult | Promise<PipelineResult> {
    return this.runFrom(0, ctx);
  }

  private runFrom(start: number, ctx: StageContext): PipelineResult | Promise<PipelineResult> {
    for (let i = start; i < this.stages.length; i++) {
      const stage = this.stages[i] as Stage;
      const v = stage.run(ctx);
      if (v instanceof Promise) {
        return v.then(
          (resolved) => this.after(i, stage, resolved, ctx),
          () => this.after(i, stage, { kind: 'reply', status: 500, reason: 'Server Internal Error' }, ctx),
        );
      }
      this.observe?.(stage.name, v);
      if (v.kind !== 'continue') return { verdict: v, stage: stage.name };
    }
    return { verdict: CONTINUE, stage: undefined };
  }

  private after(i: number, stage: Stage, v: Verdict, ctx: StageContext): PipelineResult | Promise<PipelineResult> {
    this.observe?.(stage.name, v);
    if (v.kind !== 'continue') return { verdict: v, stage: stage.name };
    return this.runFrom(i + 1, ctx);
  }
}
