/**
 * Sanity stage: structural checks a proxy makes before anything else (RFC 3261 §16.3).
 *  - Max-Forwards present and valid; 0 → 483 (OPTIONS addressed to us is still answered, §11).
 *  - Loop detection: a request carrying one of our own Via branches has come back → 482 (§16.3 item 4).
 *  - From, To, Call-ID and CSeq must parse (the parser already checked presence) → 400.
 *  - Request-URI scheme sip, sips or tel → 416 otherwise (§8.2.2.1).
 */
import type { SipMessage } from '../sip/types.ts';
import { CONTINUE, type Stage, type StageContext, type Verdict } from './stage.ts';

export interface SanityOptions {
  /** Prefix of every branch Palisade generates (loop detection). */
  readonly ownBranchPrefix: string;
  /** Whether a request is addressed to Palisade itself (OPTIONS keep-alives from monitors). */
  readonly isForUs: (msg: SipMessage) => boolean;
}

const reply = (status: number, reason: string): Verdict => ({ kind: 'reply', status, reason });

export function createSanityStage(opts: SanityOptions): Stage {
  return {
    name: 'sanity',
    run(ctx: StageContext): Verdict {
      const msg = ctx.msg;
      const method = msg.method ?? '';
      if (method === 'ACK' || method === 'CANCEL') return CONTINUE;
      const mf = msg.maxForwards();
      if (!mf.ok) return reply(400, 'Bad Max-Forwards');
      if (mf.value !== undefined && mf.value <= 0 && !(method === 'OPTIONS' && opts.isForUs(msg))) return reply(483, 'Too Many Hops');
      const vias = msg.vias();
      if (!vias.ok) return reply(400, 'Bad Via');
      for (const v of vias.value) if (v.branch?.startsWith(opts.ownBranchPrefix)) return reply(482, 'Loop Detected');
      if (!msg.from().ok) return reply(400, 'Bad From');
      if (!msg.to().ok) return reply(400, 'Bad To');
      if (!msg.cseq().ok) return reply(400, 'Bad CSeq');
      const uri = msg.uri();
      if (!uri.ok) return reply(400, 'Bad Request-URI');
      const scheme = uri.value.scheme.toLowerCase();
      if (scheme !== 'sip' && scheme !== 'sips' && scheme !== 'tel') return reply(416, 'Unsupported URI Scheme');
      return CONTINUE;
    },
  };
}
