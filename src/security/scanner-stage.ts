/**
 * Scanner stage: the first request that looks like SIPVicious and friends (User-Agent, or the structural
 * fingerprints that survive a changed User-Agent) is dropped without an answer and bans its source, so a scan
 * learns nothing — not even that something listens here.
 */
import { CONTINUE, type Stage, type StageContext, type Verdict } from '../pipeline/stage.ts';
import type { OffenceKind } from './offences.ts';
import { detectScanner, type ScannerRule } from './scanner.ts';

export interface ScannerStageOptions {
  /** Our hosts and domains, lower-case; the Request-URI rule is off when `checkRequestUriHost` is false. */
  readonly ourHosts: () => ReadonlySet<string>;
  readonly checkRequestUriHost: boolean;
  readonly offence: (address: string, kind: OffenceKind) => void;
  readonly counters: Record<ScannerRule, number>;
}

export function createScannerCounters(): Record<ScannerRule, number> {
  return { user_agent: 0, branch: 0, from_tag: 0, call_id: 0, ruri_host: 0 };
}

const EMPTY: ReadonlySet<string> = new Set();

export function createScannerStage(o: ScannerStageOptions): Stage {
  return {
    name: 'scanner',
    run(ctx: StageContext): Verdict {
      if (ctx.side !== 'public') return CONTINUE;
      const msg = ctx.msg;
      const via = msg.topVia();
      const from = msg.from();
      const uri = msg.uri();
      const match = detectScanner({
        userAgent: msg.get('user-agent'),
        topViaBranch: via.ok ? via.value.branch : undefined,
        fromTag: from.ok ? from.value.tag : undefined,
        callId: msg.callId(),
        requestUriHost: uri.ok ? uri.value.host.toLowerCase() : undefined,
        ourHosts: o.checkRequestUriHost ? o.ourHosts() : EMPTY,
      });
      if (!match) return CONTINUE;
      o.counters[match.kind]++;
      o.offence(ctx.source.address, 'scanner');
      return { kind: 'drop', reason: `scanner:${match.kind}` };
    },
  };
}
