/**
 * Call authorization as the daemon runs it: the fraud stage (src/policy) with its counters, anomaly detector,
 * audit events, alerts and ban requests, plus what the proxy reports back (calls ending, calls Palisade hung up).
 * Kept out of main.ts so the composition root stays a list of parts.
 *
 *   pipeline: scanner → sanity → geo (before auth) → auth → fraud
 *   proxy:    onCallEnded → stage.callEnded (concurrency and minutes come back down, short-call rules see it)
 *             onCallTerminated → audit `call.terminate`
 */

import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { resolveSecret } from '../config/load.ts';
import type { Policy } from '../config/schema.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import type { AuditLog } from '../observability/audit.ts';
import { createWebhookAlerter, type WebhookAlerter } from '../observability/webhook.ts';
import type { StageContext } from '../pipeline/stage.ts';
import { CONTINUE, type Stage, type Verdict } from '../pipeline/stage.ts';
import type { AnomalyFinding } from '../policy/anomaly.ts';
import { createAnomalyDetector } from '../policy/anomaly.ts';
import type { Alert, CompiledFraudPolicy } from '../policy/decide.ts';
import { type GeoIp, geoDecision, openGeoIp } from '../policy/geo.ts';
import { MemoryFraudCounters } from '../policy/limits.ts';
import { compileAnomalyRules, compileFraudPolicy } from '../policy/schema.ts';
import { createFraudStage, createFraudStageStats, type FraudStage, type FraudStageStats, reasonHeaderValue } from '../policy/stage.ts';
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
  /** The blocks changed (added, lifted, expired ones dropped): the fraud block store writes them (fraud-block-store.ts). */
  readonly onBlocksChanged?: () => void;
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
  /** Callers blocked by an anomaly rule (block_user) right now; `until` is wall-clock ms. */
  blocks(): Array<{ subject: string; until: number }>;
  /** Lifts a block (`user:alice`, `trunk:sbc1`); false when the subject was not blocked. The caller audits. */
  unblock(subject: string): boolean;
  /** Puts back a block persisted before a restart; false when `until` is not a finite time. Not audited. */
  restoreBlock(subject: string, until: number): boolean;
  /** A snapshot for the admin API (`GET /v1/fraud`). */
  summary(): CallAuthorizationSummary;
}

export interface CallAuthorizationSummary {
  readonly enabled: boolean;
  readonly stats: FraudStageStats;
  readonly decisions: Record<string, number>;
  readonly terminations: Record<string, number>;
  readonly callsInProgress: number;
  /** Blocks in force. */
  readonly blocked: number;
  /** Callers the anomaly detector keeps state for, and how many it forgot (LRU bound). */
  readonly anomalySubjects: number;
  readonly anomalyEvictions: number;
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
  const detector = createAnomalyDetector(() => rules, {
    maxSubjects: policy.fraud.anomaly.maxSubjects,
    ...(deps.onBlocksChanged !== undefined && { onBlocksChanged: deps.onBlocksChanged }),
  });
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
        rule: `fraud.${a.rule}`,
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
      rule: `fraud.${a.rule}`,
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
    blocks(): Array<{ subject: string; until: number }> {
      return detector.blocks(deps.wallNow());
    },
    unblock(subject: string): boolean {
      // An expired block is gone already (blockedUntil drops it): lifting it is a 404, not a success.
      if (detector.blockedUntil(subject, deps.wallNow()) === undefined) return false;
      return detector.unblock(subject);
    },
    restoreBlock(subject: string, until: number): boolean {
      return detector.restoreBlock(subject, until);
    },
    summary(): CallAuthorizationSummary {
      return {
        enabled: compiled.enabled,
        stats: { ...stats },
        decisions: { ...decisions },
        terminations: { ...terminations },
        callsInProgress: stage.callsInProgress,
        blocked: detector.blocks(deps.wallNow()).length,
        anomalySubjects: detector.subjects,
        anomalyEvictions: detector.evictions,
      };
    },
  };
}

// ---------------------------------------------------------------- source geography

export interface GeoGate {
  /** Runs before authentication: out-of-dialog requests from a refused country get 403 and no challenge. */
  readonly stage: Stage;
  /** Country of a source (undefined without a database or when unknown). */
  countryOf(address: string): string | undefined;
  readonly counters: { allowed: number; refused: number; unknown: number; lookupErrors: number };
  /** Re-reads the database when its path changed (or it failed before). Keeps the old reader when the new one fails. */
  reconfigure(p: Policy, dataDir: string): Promise<void>;
  close(): void;
}

function mtimeOf(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

export async function createGeoGate(policy: Policy, dataDir: string, logger: Logger): Promise<GeoGate> {
  let p = policy;
  let reader: GeoIp | undefined;
  let readerPath: string | undefined;
  /** Modification time of the file in use: geoipupdate replaces the file at the same path, and a reload picks it up. */
  let readerMtime = 0;
  const counters = { allowed: 0, refused: 0, unknown: 0, lookupErrors: 0 };
  /** Bumped by every reload and by close: an open that finishes after a later one started (or after close) is dropped. */
  let generation = 0;

  const open = async (next: Policy): Promise<void> => {
    const gen = ++generation;
    const db = next.fraud.geo.database;
    if (db === undefined) {
      reader?.close();
      reader = undefined;
      readerPath = undefined;
      return;
    }
    const path = isAbsolute(db) ? db : resolve(dataDir, db);
    const mtime = mtimeOf(path);
    if (path === readerPath && reader !== undefined && mtime === readerMtime) return;
    const r = await openGeoIp(path);
    if (gen !== generation) {
      if (r.ok) r.value.close();
      return;
    }
    if (!r.ok) {
      counters.lookupErrors++;
      logger.error(
        { path, reason: r.error.reason },
        reader ? 'GeoIP database unreadable: keeping the previous one' : 'GeoIP database unreadable: every source is unknown',
      );
      return;
    }
    const old = reader;
    reader = r.value;
    readerPath = path;
    readerMtime = mtime;
    old?.close();
    logger.info({ path, type: r.value.info.databaseType }, 'GeoIP database loaded');
  };
  await open(policy);

  const countryOf = (address: string): string | undefined => reader?.countryOf(address);
  /** Whether any geo rule is set: decided once per policy, not per request. */
  const rulesIn = (q: Policy): boolean => {
    const g = q.fraud.geo;
    return g.allow !== undefined || g.deny.length > 0 || Object.keys(g.listeners).length > 0;
  };
  let active = rulesIn(policy);

  const stage: Stage = {
    name: 'geo',
    run(ctx: StageContext): Verdict {
      if (ctx.side !== 'public' || !active) return CONTINUE;
      const m = ctx.msg.method;
      if (m === 'ACK' || m === 'CANCEL') return CONTINUE;
      const to = ctx.msg.to();
      if (to.ok && to.value.tag !== undefined && m !== 'REGISTER') return CONTINUE; // in-dialog: the dialog was admitted
      const g = p.fraud.geo;
      const country = countryOf(ctx.source.address);
      if (country === undefined) counters.unknown++;
      const onUnknown = g.onLookupFailure;
      let verdict = geoDecision(country, { allow: g.allow, deny: g.deny, onUnknown });
      const perListener = Object.hasOwn(g.listeners, ctx.source.listenerId) ? g.listeners[ctx.source.listenerId] : undefined;
      if (verdict === 'allow' && perListener)
        verdict = geoDecision(country, { allow: perListener.allow, deny: perListener.deny, onUnknown });
      if (verdict === 'allow') {
        counters.allowed++;
        return CONTINUE;
      }
      counters.refused++;
      const header = p.fraud.reasonHeader;
      return { kind: 'reply', status: 403, reason: 'Forbidden', headers: [[header, reasonHeaderValue(header, p.fraud.reasons.source)]] };
    },
  };

  return {
    stage,
    countryOf,
    counters,
    async reconfigure(next: Policy): Promise<void> {
      p = next;
      active = rulesIn(next);
      await open(next);
    },
    close(): void {
      generation++;
      reader?.close();
      reader = undefined;
      readerPath = undefined;
    },
  };
}

// ---------------------------------------------------------------- alerts

export interface AlertChannel extends AlertSink {
  stats(): ReturnType<WebhookAlerter['stats']> | undefined;
  reconfigure(p: Policy): void;
  close(): Promise<void>;
}

/** The webhook alerter per `alerts.webhook`, rebuilt when that section changes. Header secrets resolve against configDir. */
export function createAlertChannel(policy: Policy, deps: { configDir: string; clock: Clock; logger: Logger; node: string }): AlertChannel {
  let current: WebhookAlerter | undefined;
  let key = '';
  const closing = new Set<Promise<void>>();

  const retire = (): void => {
    const old = current;
    current = undefined;
    if (old) {
      const c = old.close().finally(() => closing.delete(c));
      closing.add(c);
    }
  };

  const build = (p: Policy): void => {
    const w = p.alerts.webhook;
    // Secrets are resolved on every reload and are part of the key: a token file that appeared or was rotated
    // takes effect on reload even when the policy text is unchanged (the key is a digest, not the secrets).
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(w?.headers ?? {})) {
      const r = resolveSecret(value, deps.configDir, { at: { path: `alerts.webhook.headers.${name}` } });
      if (!r.ok) {
        deps.logger.error({ header: name, reason: r.error.message }, 'alert webhook header unavailable: webhook disabled');
        retire();
        key = ''; // the next reload tries again
        return;
      }
      headers[name] = r.value;
    }
    const nextKey = createHash('sha256')
      .update(JSON.stringify([w ?? null, headers]))
      .digest('hex');
    if (nextKey === key) return;
    key = nextKey;
    retire();
    if (!w) return;
    try {
      current = createWebhookAlerter({
        url: w.url,
        headers,
        timeoutMs: w.timeout,
        retries: w.retries,
        backoffMs: w.backoff,
        dedupWindowMs: w.dedupWindow,
        ratePerMinute: w.ratePerMinute,
        maxQueue: w.maxQueue,
        clock: deps.clock,
        logger: deps.logger,
        node: deps.node,
      });
    } catch (e) {
      deps.logger.error({ reason: e instanceof Error ? e.message : String(e) }, 'alert webhook refused: disabled');
    }
  };
  build(policy);

  return {
    alert(a) {
      current?.alert(a);
    },
    stats: () => current?.stats(),
    reconfigure: build,
    async close(): Promise<void> {
      const c = current;
      current = undefined;
      await Promise.all([c?.close(), ...closing]);
    },
  };
}
