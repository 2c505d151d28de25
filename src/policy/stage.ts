/**
 * The call-authorization stage: runs after auth on out-of-dialog INVITEs from the public side. It is the only part
 * of src/policy that touches state: it reads the counters and the anomaly detector, calls the pure decideCall, and
 * records what an allowed call uses. The proxy reports the end of every call it let through (`callEnded`), so the
 * concurrency gauges come back down and the per-day minutes and short-call rules see the duration.
 */
import { BoundedMap } from '../core/bounded-map.ts';
import { CONTINUE, type Stage, type StageContext, type Verdict } from '../pipeline/stage.ts';
import type { AnomalyAction, AnomalyDetector, AnomalyFinding } from './anomaly.ts';
import { type Alert, type CallDecision, type CompiledFraudPolicy, decideCall } from './decide.ts';
import { type FraudCounters, recordCallEnd, recordCallStart } from './limits.ts';
import { extractUserPart, type RightsClass } from './number.ts';
import type { Subject } from './rights.ts';

export interface FraudStageStats {
  allowed: number;
  denied: number;
  alerts: number;
  anomalies: number;
  /** Calls forgotten because the ledger was full (their gauges were released as if the call had ended). */
  ledgerEvictions: number;
}

export function createFraudStageStats(): FraudStageStats {
  return { allowed: 0, denied: 0, alerts: 0, anomalies: 0, ledgerEvictions: 0 };
}

export interface FraudStageOptions {
  /** The current compiled policy (swapped on reload). */
  readonly policy: () => CompiledFraudPolicy;
  readonly counters: FraudCounters;
  readonly detector: AnomalyDetector;
  /** Wall-clock ms: windows are local time and counters are shared between instances. */
  readonly wallNow: () => number;
  /** Groups of an authenticated user (from the users file or credential backend). */
  readonly groupsOf?: (user: string) => readonly string[];
  /** ISO country of the source address (geo), when known. */
  readonly sourceCountry?: (ctx: StageContext) => string | undefined;
  /** Destination alerts and anomaly findings (audit log, webhooks). Must not throw. */
  readonly onAlert?: (a: Alert | AnomalyFinding) => void;
  /** An anomaly rule with action ban_source fired: ban this address (security ban store). */
  readonly banSource?: (address: string, forMs: number, why: string) => void;
  /** Every decision, for metrics and the audit log. */
  readonly onDecision?: (d: CallDecision, ctx: StageContext) => void;
  readonly stats?: FraudStageStats;
  /** Calls in progress remembered for callEnded. Default 100 000. */
  readonly maxCalls?: number;
}

interface LedgerEntry {
  readonly subject: Subject;
  readonly subjectKey: string;
  readonly callClass: RightsClass;
  readonly source: string;
}

export interface FraudStage extends Stage {
  /** Always synchronous: no I/O in the decision. */
  run(ctx: StageContext): Verdict;
  /** The proxy reports the end of a call this stage allowed (failed or cancelled: answeredMs 0). Idempotent. */
  callEnded(callId: string, answeredMs: number): void;
  readonly callsInProgress: number;
}

function subjectKeyOf(s: Subject): string {
  return s.kind === 'anonymous' ? 'anonymous' : `${s.kind}:${s.id}`;
}

/** RFC 3326 Reason header when the policy picks `Reason`; otherwise the bare text. */
export function reasonHeaderValue(header: string, text: string): string {
  const safe = text.replace(/[^\x20-\x7e]/g, '').replace(/["\\]/g, '');
  return header.toLowerCase() === 'reason' ? `SIP;cause=403;text="${safe}"` : safe;
}

function isStopping(a: AnomalyAction): boolean {
  return a.kind !== 'alert';
}

export function createFraudStage(o: FraudStageOptions): FraudStage {
  const stats = o.stats ?? createFraudStageStats();
  const ledger = new BoundedMap<string, LedgerEntry>(o.maxCalls ?? 100_000, (_id, e) => {
    stats.ledgerEvictions++;
    recordCallEnd(o.counters, e.subject, e.callClass, 0, o.wallNow());
  });

  const alert = (a: Alert | AnomalyFinding): void => {
    try {
      o.onAlert?.(a);
    } catch {
      // a listener error never breaks call handling
    }
  };

  /** Alerts go out, bans are requested; returns whether a finding stops the call. */
  const apply = (findings: readonly AnomalyFinding[], address: string): boolean => {
    let stop = false;
    for (const f of findings) {
      stats.anomalies++;
      alert(f);
      if (f.action.kind === 'ban_source') o.banSource?.(address, f.action.forMs, `fraud:${f.rule}`);
      if (isStopping(f.action)) stop = true;
    }
    return stop;
  };

  const deny = (policy: CompiledFraudPolicy, text: string): Verdict => {
    stats.denied++;
    return {
      kind: 'reply',
      status: 403,
      reason: 'Forbidden',
      headers: [[policy.reasonHeader, reasonHeaderValue(policy.reasonHeader, text)]],
    };
  };

  return {
    name: 'fraud',
    run(ctx: StageContext): Verdict {
      if (ctx.side !== 'public' || ctx.msg.method !== 'INVITE') return CONTINUE;
      const to = ctx.msg.to();
      if (to.ok && to.value.tag !== undefined) return CONTINUE; // re-INVITE: the dialog was authorised
      const policy = o.policy();
      if (!policy.enabled) return CONTINUE;
      const now = o.wallNow();
      const user = ctx.facts.user;
      const trunk = user === undefined ? ctx.facts.trustedPeer : undefined;
      let dialled = ctx.msg.requestUri ?? '';
      if (extractUserPart(dialled) === '' && to.ok) dialled = to.value.uri.raw;
      const subjectKey = user !== undefined ? `user:${user}` : trunk !== undefined ? `trunk:${trunk}` : 'anonymous';
      const decision = decideCall(
        policy,
        {
          user,
          trunk,
          groups: user === undefined ? [] : (ctx.facts.groups ?? o.groupsOf?.(user) ?? []),
          dialled,
          sourceCountry: o.sourceCountry?.(ctx),
          blockedUntil: o.detector.blockedUntil(subjectKey, now),
        },
        o.counters,
        now,
      );
      o.onDecision?.(decision, ctx);
      for (const a of decision.alerts) {
        stats.alerts++;
        alert(a);
      }
      const c = decision.classification;
      let stop = false;
      // Denied attempts feed the detector too: a scan of a blocked range is still a scan.
      // Unattributed calls share one subject: anomaly rules over them would let one caller block everyone.
      if (subjectKey !== 'anonymous' && c.callClass !== 'internal' && c.callClass !== 'emergency' && decision.rule !== 'blocked') {
        const findings = o.detector.observe({
          kind: 'attempt',
          subject: subjectKey,
          at: now,
          callClass: c.callClass,
          source: ctx.source.address,
          ...(c.e164 !== undefined && { e164: c.e164 }),
        });
        stop = apply(findings, ctx.source.address);
      }
      if (decision.action === 'deny') return deny(policy, decision.reason);
      if (stop) return deny(policy, policy.reasons.anomaly);
      stats.allowed++;
      if (decision.maxDurationMs !== undefined) ctx.facts.maxDurationMs = decision.maxDurationMs;
      const callId = ctx.msg.callId();
      const cls = c.callClass;
      if (callId !== undefined && !ledger.has(callId) && cls !== 'invalid' && cls !== 'emergency') {
        recordCallStart(o.counters, decision.subject, now);
        ledger.set(callId, {
          subject: decision.subject,
          subjectKey: subjectKeyOf(decision.subject),
          callClass: cls,
          source: ctx.source.address,
        });
      }
      return CONTINUE;
    },
    callEnded(callId: string, answeredMs: number): void {
      const e = ledger.get(callId);
      if (e === undefined) return;
      ledger.delete(callId);
      const now = o.wallNow();
      const ms = Number.isFinite(answeredMs) && answeredMs > 0 ? answeredMs : 0;
      recordCallEnd(o.counters, e.subject, e.callClass, ms, now);
      apply(o.detector.observe({ kind: 'end', subject: e.subjectKey, at: now, durationMs: ms, source: e.source }), e.source);
    },
    get callsInProgress(): number {
      return ledger.size;
    },
  };
}
