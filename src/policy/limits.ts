/**
 * Limits: concurrent calls (per user, per trunk, global), call attempts per minute per caller (sliding window) and
 * minutes per destination class per rolling 24 hours (per caller and global).
 *
 * The checks are pure functions over a snapshot of counters. The counters live behind `FraudCounters` so the
 * embedded memory store and a shared store (Redis, for several Palisade instances) are interchangeable; the stage
 * wrapper alone writes them (recordCallStart / recordCallEnd).
 */
import { BoundedMap } from '../core/bounded-map.ts';
import type { RightsClass } from './number.ts';
import type { Subject } from './rights.ts';

export const CALL_RATE_WINDOW_MS = 60_000;
export const DAY_MS = 86_400_000;

export interface FraudCounterReader {
  /**
   * windowMs > 0: the sum of amounts added in (now - windowMs, now]. windowMs = 0: the running total of every add
   * (a gauge such as concurrent calls, which adds +1 and -1).
   */
  get(key: string, windowMs: number, now: number): number;
}

export interface FraudCounters extends FraudCounterReader {
  add(key: string, amount: number, now: number): void;
}

export type ClassMinutes = Partial<Record<RightsClass, number>>;
/** Longest single call per class in ms; `all` applies to classes without their own entry. */
export type ClassDurations = Partial<Record<RightsClass | 'all', number>>;

export interface LimitSet {
  readonly concurrent?: number | undefined;
  readonly callsPerMinute?: number | undefined;
  /** Minutes per class over a rolling 24 h. 0 forbids the class in practice (the first call is refused). */
  readonly minutesPerDay?: ClassMinutes | undefined;
  /** Longest single call (ms) per class: at the limit the proxy hangs up both sides. */
  readonly maxDuration?: ClassDurations | undefined;
}

export interface LimitsPolicy {
  readonly user: LimitSet;
  readonly trunk: LimitSet;
  readonly global: { readonly concurrent?: number | undefined; readonly minutesPerDay?: ClassMinutes | undefined };
  readonly users: Readonly<Record<string, LimitSet>>;
  readonly trunks: Readonly<Record<string, LimitSet>>;
  /** Per group (of an authenticated user): between the user default and the user's own entry. */
  readonly groups?: Readonly<Record<string, LimitSet>> | undefined;
}

export const counterKeys = {
  concurrent: (s: Subject): string => `cc:${s.kind}:${s.id}`,
  concurrentGlobal: 'cc:global',
  attempts: (s: Subject): string => `cpm:${s.kind}:${s.id}`,
  minutes: (s: Subject, cls: RightsClass): string => `min:${cls}:${s.kind}:${s.id}`,
  minutesGlobal: (cls: RightsClass): string => `min:${cls}:global`,
} as const;

export interface LimitSnapshot {
  readonly subjectConcurrent: number;
  readonly globalConcurrent: number;
  readonly subjectAttemptsLastMinute: number;
  /** Milliseconds of calls of this class in the last 24 h. */
  readonly subjectClassMs: number;
  readonly globalClassMs: number;
}

export function readLimitSnapshot(c: FraudCounterReader, s: Subject, cls: RightsClass, now: number): LimitSnapshot {
  return {
    subjectConcurrent: c.get(counterKeys.concurrent(s), 0, now),
    globalConcurrent: c.get(counterKeys.concurrentGlobal, 0, now),
    subjectAttemptsLastMinute: c.get(counterKeys.attempts(s), CALL_RATE_WINDOW_MS, now),
    subjectClassMs: c.get(counterKeys.minutes(s, cls), DAY_MS, now),
    globalClassMs: c.get(counterKeys.minutesGlobal(cls), DAY_MS, now),
  };
}

function merge(base: LimitSet, o: LimitSet): LimitSet {
  const concurrent = o.concurrent ?? base.concurrent;
  const callsPerMinute = o.callsPerMinute ?? base.callsPerMinute;
  const minutesPerDay = o.minutesPerDay === undefined ? base.minutesPerDay : { ...base.minutesPerDay, ...o.minutesPerDay };
  const maxDuration = o.maxDuration === undefined ? base.maxDuration : { ...base.maxDuration, ...o.maxDuration };
  return {
    ...(concurrent !== undefined && { concurrent }),
    ...(callsPerMinute !== undefined && { callsPerMinute }),
    ...(minutesPerDay !== undefined && { minutesPerDay }),
    ...(maxDuration !== undefined && { maxDuration }),
  };
}

/**
 * The limits that apply to a subject: the user (or trunk) default, then each of a user's groups in the order the
 * users file lists them, then the subject's own entry; a later layer overrides the keys it sets.
 */
export function effectiveLimits(p: LimitsPolicy, s: Subject, groups: readonly string[] = []): LimitSet {
  // Nobody to attribute the call to (auth.mode pbx: the PBX authenticates): only the global limits apply.
  if (s.kind === 'anonymous') return {};
  let set = s.kind === 'user' ? p.user : p.trunk;
  if (s.kind === 'user' && p.groups !== undefined) {
    for (const g of groups) {
      const gs = Object.hasOwn(p.groups, g) ? p.groups[g] : undefined;
      if (gs !== undefined) set = merge(set, gs);
    }
  }
  const table = s.kind === 'user' ? p.users : p.trunks;
  const o = Object.hasOwn(table, s.id) ? table[s.id] : undefined;
  return o === undefined ? set : merge(set, o);
}

export type LimitRule = 'concurrent' | 'concurrent_global' | 'call_rate' | 'minutes_per_day' | 'minutes_per_day_global';

export interface LimitCheck {
  /** The first limit reached, if any. */
  readonly exceeded: LimitRule | undefined;
  /** How long this call may last: the per-day minute budget left or the class's maxDuration, whichever is less (undefined = no bound). */
  readonly maxDurationMs: number | undefined;
}

/** Pure: whether one more call of `cls` fits in the limits given the counters now. */
export function checkLimits(set: LimitSet, global: LimitsPolicy['global'], cls: RightsClass, snap: LimitSnapshot): LimitCheck {
  let exceeded: LimitRule | undefined;
  if (set.concurrent !== undefined && snap.subjectConcurrent >= set.concurrent) exceeded = 'concurrent';
  else if (global.concurrent !== undefined && snap.globalConcurrent >= global.concurrent) exceeded = 'concurrent_global';
  else if (set.callsPerMinute !== undefined && snap.subjectAttemptsLastMinute >= set.callsPerMinute) exceeded = 'call_rate';
  let maxDurationMs: number | undefined;
  const own = set.minutesPerDay?.[cls];
  if (own !== undefined) {
    const left = own * 60_000 - snap.subjectClassMs;
    if (left <= 0) exceeded ??= 'minutes_per_day';
    maxDurationMs = Math.max(0, left);
  }
  const all = global.minutesPerDay?.[cls];
  if (all !== undefined) {
    const left = all * 60_000 - snap.globalClassMs;
    if (left <= 0) exceeded ??= 'minutes_per_day_global';
    maxDurationMs = Math.max(0, Math.min(maxDurationMs ?? left, left));
  }
  const cap = set.maxDuration?.[cls] ?? set.maxDuration?.all;
  if (cap !== undefined && cap > 0) maxDurationMs = Math.min(maxDurationMs ?? cap, cap);
  return { exceeded, maxDurationMs };
}

/** An allowed call starts: one more concurrent call and one more attempt in the rate window. */
export function recordCallStart(c: FraudCounters, s: Subject, now: number): void {
  c.add(counterKeys.concurrent(s), 1, now);
  c.add(counterKeys.concurrentGlobal, 1, now);
  c.add(counterKeys.attempts(s), 1, now);
}

/** The call ended (or failed: durationMs 0). Must be called once per recordCallStart. */
export function recordCallEnd(c: FraudCounters, s: Subject, cls: RightsClass, durationMs: number, now: number): void {
  c.add(counterKeys.concurrent(s), -1, now);
  c.add(counterKeys.concurrentGlobal, -1, now);
  if (durationMs > 0) {
    c.add(counterKeys.minutes(s, cls), durationMs, now);
    c.add(counterKeys.minutesGlobal(cls), durationMs, now);
  }
}

interface Series {
  total: number;
  times: number[];
  amounts: number[];
}

export interface MemoryFraudCountersOptions {
  /** Distinct counters kept (LRU by last add). Default 100 000. */
  readonly maxKeys?: number;
  /** Events kept per counter; past it the two oldest merge (the sum is kept, so limits err on the safe side). */
  readonly maxEventsPerKey?: number;
  /** Adds within this many ms of the previous one merge into it. Default 1000. */
  readonly resolutionMs?: number;
  /** Events older than this are forgotten. Default 24 h (the longest window read). */
  readonly horizonMs?: number;
}

/** The embedded counter store: bounded in keys and in events per key, with eviction counters. */
export class MemoryFraudCounters implements FraudCounters {
  private readonly series: BoundedMap<string, Series>;
  private readonly maxEvents: number;
  private readonly resolutionMs: number;
  private readonly horizonMs: number;
  /** Events merged because a series was full. */
  merges = 0;

  constructor(o: MemoryFraudCountersOptions = {}) {
    this.series = new BoundedMap(o.maxKeys ?? 100_000);
    this.maxEvents = Math.max(2, o.maxEventsPerKey ?? 4096);
    this.resolutionMs = o.resolutionMs ?? 1000;
    this.horizonMs = o.horizonMs ?? DAY_MS;
  }

  /** Counters dropped because the key bound was reached. */
  get evictions(): number {
    return this.series.evictions;
  }

  get size(): number {
    return this.series.size;
  }

  add(key: string, amount: number, now: number): void {
    if (!Number.isFinite(amount) || !Number.isFinite(now)) return;
    let s = this.series.get(key);
    if (s === undefined) {
      s = { total: 0, times: [], amounts: [] };
      this.series.set(key, s);
    } else {
      this.series.touch(key);
    }
    s.total += amount;
    this.trim(s, now);
    const last = s.times.length - 1;
    if (last >= 0 && now - (s.times[last] as number) < this.resolutionMs && now >= (s.times[last] as number)) {
      s.amounts[last] = (s.amounts[last] as number) + amount;
      return;
    }
    if (s.times.length >= this.maxEvents) {
      // Merge the oldest into the next: the amount stays counted, with the younger timestamp (over-counts, never under).
      s.amounts[1] = (s.amounts[1] as number) + (s.amounts[0] as number);
      s.times.shift();
      s.amounts.shift();
      this.merges++;
    }
    s.times.push(now);
    s.amounts.push(amount);
  }

  get(key: string, windowMs: number, now: number): number {
    const s = this.series.get(key);
    if (s === undefined) return 0;
    if (windowMs <= 0) return s.total;
    const since = now - windowMs;
    let sum = 0;
    for (let i = s.times.length - 1; i >= 0 && (s.times[i] as number) > since; i--) sum += s.amounts[i] as number;
    return sum;
  }

  private trim(s: Series, now: number): void {
    const cutoff = now - this.horizonMs;
    let n = 0;
    while (n < s.times.length && (s.times[n] as number) <= cutoff) n++;
    if (n > 0) {
      s.times.splice(0, n);
      s.amounts.splice(0, n);
    }
  }
}
