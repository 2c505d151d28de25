/**
 * Call authorization as the daemon runs it: the fraud stage (src/policy) with its counters, anomaly detector,
 * audit events, alerts and ban requests, plus what the proxy reports back (calls ending, calls Palisade hung up).
 * Kept out of main.ts so the composition root stays a list of parts.
 *
 *   pipeline: scanner → sanity → geo (before auth) → auth → fraud
 *   proxy:    onCallEnded → stage.callEnded (concurrency and minutes come back down, short-call rules see it)
 *             onCallTerminated → audit `call.terminate`
 */

import type { Policy } from '../config/schema.ts';
import type { Logger } from '../core/log.ts';
import type { AuditLog } from '../observability/audit.ts';
import type { StageContext } from '../pipeline/stage.ts';
import type { AnomalyFinding } from '../policy/anomaly.ts';
import { createAnomalyDetector } from '../policy/anomaly.ts';
import type { Alert, CompiledFraudPolicy } from '../policy/decide.ts';
import { MemoryFraudCounters } from '../policy/limits.ts';
import { compileAnomalyRules, compileFraudPolicy } from '../policy/schema.ts';
import { createFraudStage, createFraudStageStats, type FraudStage, type FraudStageStats } from '../policy/stage.ts';
import type { Call } from '../proxy/calls.ts';
import type { CallEnd } from '../proxy/types.ts';

/** Where alerts go besides the audit log (the webhook alerter). */
export interface AlertSink {
  alert(a: {
    rule: string;
    subject: string;
    action: string;
    severity: 'info' | 'warning' | 'critical';
    details?: Record<string, unknown>;
  }): void;
}

export interface CallAuthorizationDeps {
  readonly logger: Logger;
  readonly audit: AuditLog;
  /** Wall-clock ms (time windows, per-day counters). */
  readonly wallNow: () => number;
  /** Country of a source address (GeoIP), for per-user `sourceCountries`. */
  readonly sourceCountry?: (address: string) => string | undefined;
  readonly banSource: (address: string, forMs: number, why: string) => void;
  readonly alerts: () => AlertSink | undefined;
}

export interface CallAuthorization {
  readonly stage: FraudStage;
  readonly stats: FraudStageStats;
  /** Decisions by rule (allowed, destination, class, limit, …): the metric. */
  readonly decisions: Record<string, number>;
  readonly terminations: Record<string, number>;
  onCallEnded(e: CallEnd): void;
  onCallTerminated(call: Call, reason: string): void;
  reconfigure(p: Policy): void;
}

function isFinding(a: Alert | AnomalyFinding): a is AnomalyFinding {
  return 'action' in a && typeof (a as AnomalyFinding).action === 'object';
}

/** What Palisade did about a finding, in words for the alert. */
function actionText(f: AnomalyFinding): string {
  switch (f.action.kind) {
    case 'alert':
      return 'alerted';
    case 'reject':
      return 'rejected the call';
    case 'block_user':
      return `blocked the caller for ${Math.round(f.action.forMs / 1000)} s`;
    case 'ban_source':
      return `banned the source for ${Math.round(f.action.forMs / 1000)} s`;
    default:
      return 'alerted';
  }
}

export function createCallAuthorization(policy: Policy, deps: CallAuthorizationDeps): CallAuthorization {
  let compiled: CompiledFraudPolicy = compileFraudPolicy(policy.fraud);
  let rules = compileAnomalyRules(policy.fraud);
  const detector = createAnomalyDetector(() => rules, { maxSubjects: policy.fraud.anomaly.maxSubjects });
  const stats = createFraudStageStats();
  const decisions: Record<string, number> = {};
  const terminations: Record<string, number> = {};

  const onAlert = (a: Alert | AnomalyFinding): void => {
    const sink = deps.alerts();
    if (isFinding(a)) {
      const did = actionText(a);
      deps.audit.record({
        actor: 'system',
        action: 'fraud.anomaly',
        target: a.subject,
        reason: a.rule,
        outcome: a.action.kind === 'alert' ? 'ok' : 'refused',
        details: { detail: a.detail, action: a.action.kind },
      });
      sink?.alert({
        rule: a.rule,
        subject: a.subject,
        action: did,
        severity: a.action.kind === 'alert' ? 'warning' : 'critical',
        details: { detail: a.detail },
      });
      return;
    }
    deps.audit.record({
      actor: 'system',
      action: 'fraud.alert',
      target: a.subject,
      reason: a.rule,
      outcome: 'ok',
      details: { detail: a.detail, ...(a.e164 !== undefined && { number: a.e164 }) },
    });
    sink?.alert({
      rule: a.rule,
      subject: a.subject,
      action: 'allowed the call and alerted',
      severity: 'warning',
      details: { detail: a.detail, ...(a.e164 !== undefined && { number: a.e164 }) },
    });
  };

  const stage = createFraudStage({
    policy: () => compiled,
    counters: new MemoryFraudCounters(),
    detector,
    wallNow: deps.wallNow,
    ...(deps.sourceCountry && { sourceCountry: (ctx: StageContext) => deps.sourceCountry?.(ctx.source.address) }),
    onAlert,
    banSource: deps.banSource,
    onDecision: (d, ctx) => {
      decisions[d.rule] = (decisions[d.rule] ?? 0) + 1;
      const subject = d.subject.kind === 'anonymous' ? 'anonymous' : `${d.subject.kind}:${d.subject.id}`;
      deps.audit.record({
        actor: 'system',
        action: d.action === 'allow' ? 'fraud.allow' : 'fraud.deny',
        target: subject,
        reason: d.rule,
        outcome: d.action === 'allow' ? 'ok' : 'refused',
        details: {
          class: d.classification.callClass,
          ...(d.classification.e164 !== undefined && { number: d.classification.e164 }),
          ...(d.destinationRule !== undefined && { destinationRule: d.destinationRule }),
          ...(d.maxDurationMs !== undefined && { maxDurationMs: d.maxDurationMs }),
          source: ctx.source.address,
        },
      });
    },
    stats,
  });

  return {
    stage,
    stats,
    decisions,
    terminations,
    onCallEnded(e: CallEnd): void {
      stage.callEnded(e.publicCallId, e.answeredMs);
    },
    onCallTerminated(call: Call, reason: string): void {
      terminations[reason] = (terminations[reason] ?? 0) + 1;
      deps.audit.record({
        actor: 'system',
        action: 'call.terminate',
        target: call.identity ?? call.trustedPeer ?? 'anonymous',
        reason,
        outcome: 'ok',
        details: { call: call.id },
      });
      deps.logger.info({ call: call.id, reason }, 'call ended by Palisade');
    },
    reconfigure(p: Policy): void {
      compiled = compileFraudPolicy(p.fraud);
      rules = compileAnomalyRules(p.fraud);
    },
  };
}
