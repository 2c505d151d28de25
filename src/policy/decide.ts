/**
 * The call-authorization decision: one pure function of (policy snapshot, facts, counters read, now).
 *
 * Order (cheapest and most absolute first): emergency numbers are always allowed; a blocked caller is refused; an
 * unroutable number is refused; internal extensions need only the `internal` class; external numbers go through
 * the destination rules (anyone), the caller's rights (class, country, source country, hours) and the limits.
 * Alerts (destination rules with action alert) ride along with an allowed call.
 */
import { assertNever } from '../core/assert-never.ts';
import { type DestinationTable, matchDestination } from './destinations.ts';
import { checkLimits, effectiveLimits, type FraudCounterReader, type LimitRule, type LimitsPolicy, readLimitSnapshot } from './limits.ts';
import { type Classification, classifyDialled, type DialledType, type NumberPlan } from './number.ts';
import { checkRights, type RightsDenial, type RightsPolicy, resolveRights, type Subject } from './rights.ts';

/** Which part of the policy a reason text is chosen for. */
export type ReasonKey = 'destination' | 'class' | 'country' | 'hours' | 'source' | 'limit' | 'blocked' | 'invalid' | 'anomaly';

export interface CompiledFraudPolicy {
  readonly enabled: boolean;
  readonly defaultRegion: string | undefined;
  readonly internal: RegExp;
  readonly emergency: Readonly<Record<string, readonly string[]>>;
  readonly premiumTypes: ReadonlySet<DialledType>;
  readonly destinations: DestinationTable;
  readonly rights: RightsPolicy;
  readonly limits: LimitsPolicy;
  /** Numbers that do not parse (or are impossible in their region). */
  readonly invalidNumbers: 'deny' | 'allow';
  /** Header carrying the reason on a 403; `Reason` is written as RFC 3326 (`SIP;cause=403;text="…"`). */
  readonly reasonHeader: string;
  readonly reasons: Readonly<Record<ReasonKey, string>>;
}

export interface CallFacts {
  readonly user?: string | undefined;
  readonly groups?: readonly string[] | undefined;
  readonly trunk?: string | undefined;
  /** The Request-URI (or To) as received, or just its user part. */
  readonly dialled: string;
  /** ISO country of the source address (geo), when known. */
  readonly sourceCountry?: string | undefined;
  /** Wall ms until which the caller is blocked (anomaly block_user), when blocked. */
  readonly blockedUntil?: number | undefined;
}

export type DecisionRule =
  | 'disabled'
  | 'emergency'
  | 'internal'
  | 'allowed'
  | 'blocked'
  | 'invalid_number'
  | 'destination'
  | RightsDenial
  | LimitRule;

export interface Alert {
  readonly rule: string;
  readonly subject: string;
  readonly detail: string;
  readonly e164?: string;
}

export interface CallDecision {
  readonly action: 'allow' | 'deny';
  readonly status?: 403;
  /** Text for the reason header (deny) or a short word (allow). */
  readonly reason: string;
  readonly rule: DecisionRule;
  /** Destination rule name when one matched ("builtin:+882", "type:PREMIUM_RATE"). */
  readonly destinationRule?: string;
  readonly alerts: readonly Alert[];
  readonly classification: Classification;
  readonly subject: Subject;
  /** Longest the call may last before a per-day minute budget runs out. */
  readonly maxDurationMs?: number;
}

export function reasonKeyOf(rule: DecisionRule): ReasonKey | undefined {
  switch (rule) {
    case 'disabled':
    case 'emergency':
    case 'internal':
    case 'allowed':
      return undefined;
    case 'blocked':
      return 'blocked';
    case 'invalid_number':
      return 'invalid';
    case 'destination':
      return 'destination';
    case 'class_not_allowed':
      return 'class';
    case 'country_not_allowed':
      return 'country';
    case 'outside_hours':
      return 'hours';
    case 'source_country':
      return 'source';
    case 'concurrent':
    case 'concurrent_global':
    case 'call_rate':
    case 'minutes_per_day':
    case 'minutes_per_day_global':
      return 'limit';
    default:
      return assertNever(rule, 'decision rule');
  }
}

function subjectLabel(s: Subject): string {
  return s.kind === 'anonymous' ? 'anonymous' : `${s.kind}:${s.id}`;
}

export function decideCall(policy: CompiledFraudPolicy, facts: CallFacts, counters: FraudCounterReader, now: number): CallDecision {
  const rights = resolveRights(policy.rights, facts);
  const subject = rights.subject;
  const plan: NumberPlan = {
    defaultRegion: rights.defaultRegion ?? policy.defaultRegion,
    internal: policy.internal,
    emergency: policy.emergency,
    premiumTypes: policy.premiumTypes,
  };
  const classification = classifyDialled(facts.dialled, plan);
  const alerts: Alert[] = [];
  const deny = (rule: DecisionRule, extra: { destinationRule?: string } = {}): CallDecision => ({
    action: 'deny',
    status: 403,
    reason: policy.reasons[reasonKeyOf(rule) ?? 'destination'],
    rule,
    ...extra,
    alerts,
    classification,
    subject,
  });
  const allow = (rule: DecisionRule, extra: { destinationRule?: string; maxDurationMs?: number } = {}): CallDecision => ({
    action: 'allow',
    reason: rule,
    rule,
    ...extra,
    alerts,
    classification,
    subject,
  });

  if (!policy.enabled) return allow('disabled');
  const cls = classification.callClass;
  // Emergency calls are never refused, whatever the caller's state (Ofcom General Condition A3, FCC 47 CFR Part 9: access to 999/112/911).
  if (cls === 'emergency') return allow('emergency');
  if (facts.blockedUntil !== undefined && facts.blockedUntil > now) return deny('blocked');
  if (cls === 'invalid') {
    if (policy.invalidNumbers === 'deny') return deny('invalid_number');
    return allow('allowed');
  }
  if (cls === 'internal') {
    const r = checkRights(rights, classification, now, facts.sourceCountry);
    return r === undefined ? allow('internal') : deny(r);
  }
  let destinationRule: string | undefined;
  const dest = matchDestination(policy.destinations, classification);
  if (dest !== undefined) {
    destinationRule = dest.name;
    switch (dest.action) {
      case 'deny':
        return deny('destination', { destinationRule });
      case 'alert':
        alerts.push({
          rule: dest.name,
          subject: subjectLabel(subject),
          detail: dest.why === '' ? 'destination rule' : dest.why,
          ...(classification.e164 !== undefined && { e164: classification.e164 }),
        });
        break;
      case 'allow':
        break;
      default:
        assertNever(dest.action, 'destination action');
    }
  }
  const withRule = destinationRule === undefined ? {} : { destinationRule };
  const r = checkRights(rights, classification, now, facts.sourceCountry);
  if (r !== undefined) return deny(r, withRule);
  const limits = checkLimits(
    effectiveLimits(policy.limits, subject, facts.groups ?? []),
    policy.limits.global,
    cls,
    readLimitSnapshot(counters, subject, cls, now),
  );
  if (limits.exceeded !== undefined) return deny(limits.exceeded, withRule);
  return allow('allowed', limits.maxDurationMs === undefined ? withRule : { ...withRule, maxDurationMs: limits.maxDurationMs });
}
