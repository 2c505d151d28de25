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
  | { readonly kind: 'challenge'; readonly realm: string; readonly stale: boolean; readonly proxy: boolean };

export const CONTINUE: Verdict = Object.freeze({ kind: 'continue' });

export interface StageContext {
  readonly msg: SipMessage;
  readonly source: Source;
  readonly side: Side;
  /** Clock.now() at receipt. */
  readonly now: number;
}

export interface Stage {
  /** Short, fixed name: used as a metric label. */
  readonly name: string;
  run(ctx: StageContext): Verdict;
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

  run(ctx: StageContext): PipelineResult {
    for (const stage of this.stages) {
      const v = stage.run(ctx);
      this.observe?.(stage.name, v);
      if (v.kind !== 'continue') return { verdict: v, stage: stage.name };
    }
    return { verdict: CONTINUE, stage: undefined };
  }
}
