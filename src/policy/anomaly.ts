/**
 * Anomaly rules: patterns no single call reveals.
 *
 *  - sequential: many distinct numbers sharing all but their last digits within a window — a fraudster walking a
 *    rented IRSF range (+4490…001, …002, …) or testing which numbers of a range connect.
 *  - short_calls: a burst of calls that end within seconds — test calls, wangiri callbacks, SIM-box probing.
 *  - baseline: far more call attempts in the current hour than the caller's own history for that hour of the week.
 *    Traffic is weekly-periodic (Monday 10:00 is not Sunday 03:00), so each of the 168 hour-of-week slots keeps an
 *    EWMA of the attempts seen in that hour: ewma ← α·count + (1-α)·ewma, folded when the hour is over (hours with no
 *    call fold a 0). With α = 0.3 a week's weight halves in about two weeks, so a new normal is learnt quickly while
 *    one quiet week does not make a normal Monday look like an attack. A slot judges only after `warmupWeeks` folds.
 *  - unusual_hours: an international call at a local hour in which the caller almost never calls abroad (share of
 *    the caller's international calls at that hour ±1 below `minShare`), after `minHistory` international calls.
 *
 * Deterministic: no clock and no I/O. The detector keeps per-caller state (bounded, LRU) and answers each event
 * with the findings it triggers; the stage decides what to do with them. Blocks (block_user) are the one piece of
 * state the daemon persists: `onBlocksChanged` tells it when to write them, `restoreBlock` puts them back at start.
 */
import { BoundedMap } from '../core/bounded-map.ts';
import type { CallClass } from './number.ts';
import { localTime } from './time-window.ts';

export type AnomalyAction =
  | { readonly kind: 'alert' }
  | { readonly kind: 'reject' }
  | { readonly kind: 'block_user'; readonly forMs: number }
  | { readonly kind: 'ban_source'; readonly forMs: number };

export type AnomalyRuleName = 'sequential' | 'short_calls' | 'baseline' | 'unusual_hours';

export interface AnomalyRules {
  readonly sequential?: {
    readonly windowMs: number;
    readonly minNumbers: number;
    readonly varyingDigits: number;
    readonly action: AnomalyAction;
  };
  readonly shortCalls?: { readonly windowMs: number; readonly shortMs: number; readonly minCalls: number; readonly action: AnomalyAction };
  readonly baseline?: {
    readonly factor: number;
    readonly minCalls: number;
    readonly alpha: number;
    readonly warmupWeeks: number;
    readonly tz: string;
    readonly action: AnomalyAction;
  };
  readonly unusualHours?: { readonly minHistory: number; readonly minShare: number; readonly tz: string; readonly action: AnomalyAction };
}

export type AnomalyEvent =
  | {
      readonly kind: 'attempt';
      /** "user:alice" or "trunk:carrier1" — one state per caller. */
      readonly subject: string;
      /** Wall-clock ms. */
      readonly at: number;
      readonly callClass: CallClass;
      readonly e164?: string;
      readonly source?: string;
    }
  | { readonly kind: 'end'; readonly subject: string; readonly at: number; readonly durationMs: number; readonly source?: string };

export interface AnomalyFinding {
  readonly rule: AnomalyRuleName;
  readonly subject: string;
  readonly action: AnomalyAction;
  readonly source?: string;
  /** Short, for the audit log and alert text. */
  readonly detail: string;
}

const HOURS_PER_WEEK = 168;
const HOUR_MS = 3_600_000;
/** Per caller: recent dialled numbers and short-call ends kept (the windows prune them first). */
export const MAX_RECENT_PER_SUBJECT = 256;
/** International history is halved past this total, so "usual" follows the caller over months. */
const INTL_HISTORY_CAP = 2000;

interface SubjectState {
  recent: { n: string; at: number }[];
  shortEnds: number[];
  ewma: Float64Array;
  folds: Uint16Array;
  hour: number | undefined;
  hourCount: number;
  baselineFiredHour: number;
  intl: Float64Array;
  intlTotal: number;
  lastFired: Partial<Record<AnomalyRuleName, number>>;
}

function newState(): SubjectState {
  return {
    recent: [],
    shortEnds: [],
    ewma: new Float64Array(HOURS_PER_WEEK),
    folds: new Uint16Array(HOURS_PER_WEEK),
    hour: undefined,
    hourCount: 0,
    baselineFiredHour: -1,
    intl: new Float64Array(24),
    intlTotal: 0,
    lastFired: {},
  };
}

export interface AnomalyDetector {
  observe(ev: AnomalyEvent): AnomalyFinding[];
  /** Wall ms until which the caller is blocked by a block_user finding, if still in force at `now`. */
  blockedUntil(subject: string, now: number): number | undefined;
  /** Lifts a block (admin action). */
  unblock(subject: string): boolean;
  /** Blocks still in force at `now` (expired ones are dropped), soonest to expire first. At most `maxSubjects`. */
  blocks(now: number): Array<{ subject: string; until: number }>;
  /**
   * Puts back a block that was in force before a restart (src/daemon/fraud-block-store.ts). Keeps the later expiry
   * when the subject is blocked already; false (and nothing kept) when `until` is not a finite time. Does not call
   * onBlocksChanged: what was restored is what the file holds.
   */
  restoreBlock(subject: string, until: number): boolean;
  readonly subjects: number;
  readonly evictions: number;
}

export interface AnomalyDetectorOptions {
  readonly maxSubjects?: number;
  /** The set of blocks changed: one added or extended, lifted, or expired ones dropped. For persistence. */
  readonly onBlocksChanged?: () => void;
}

/** `rules` may be a getter, so a policy reload changes the thresholds without losing what was learned. */
export function createAnomalyDetector(rules: AnomalyRules | (() => AnomalyRules), o: AnomalyDetectorOptions = {}): AnomalyDetector {
  const current = typeof rules === 'function' ? rules : (): AnomalyRules => rules;
  const states = new BoundedMap<string, SubjectState>(o.maxSubjects ?? 10_000);
  const blocks = new BoundedMap<string, number>(o.maxSubjects ?? 10_000);
  const changed = (): void => {
    try {
      o.onBlocksChanged?.();
    } catch {
      /* a listener error must not change a decision */
    }
  };

  const slotOf = (epochHour: number, tz: string): number => {
    const t = localTime(epochHour * HOUR_MS, tz);
    return t === undefined ? epochHour % HOURS_PER_WEEK : t.weekday * 24 + Math.floor(t.minuteOfDay / 60);
  };

  const fold = (s: SubjectState, slot: number, count: number, alpha: number): void => {
    const seen = s.folds[slot] as number;
    s.ewma[slot] = seen === 0 ? count : alpha * count + (1 - alpha) * (s.ewma[slot] as number);
    if (seen < 0xffff) s.folds[slot] = seen + 1;
  };

  const finding = (
    s: SubjectState,
    rule: AnomalyRuleName,
    subject: string,
    action: AnomalyAction,
    at: number,
    detail: string,
    source?: string,
  ): AnomalyFinding => {
    s.lastFired[rule] = at;
    if (action.kind === 'block_user') {
      const until = at + action.forMs;
      if ((blocks.get(subject) ?? 0) < until) {
        blocks.set(subject, until);
        changed();
      }
    }
    return source === undefined ? { rule, subject, action, detail } : { rule, subject, action, detail, source };
  };

  const onAttempt = (s: SubjectState, ev: Extract<AnomalyEvent, { kind: 'attempt' }>, out: AnomalyFinding[]): void => {
    const seq = current().sequential;
    if (seq !== undefined && ev.e164 !== undefined) {
      const since = ev.at - seq.windowMs;
      while (s.recent.length > 0 && (s.recent[0] as { at: number }).at <= since) s.recent.shift();
      if (s.recent.length >= MAX_RECENT_PER_SUBJECT) s.recent.shift();
      s.recent.push({ n: ev.e164, at: ev.at });
      const stem = ev.e164.slice(0, Math.max(1, ev.e164.length - seq.varyingDigits));
      const distinct = new Set<string>();
      for (const r of s.recent) if (r.n.startsWith(stem) && r.n.length === ev.e164.length) distinct.add(r.n);
      const last = s.lastFired.sequential;
      if (distinct.size >= seq.minNumbers && (last === undefined || ev.at - last >= seq.windowMs)) {
        out.push(
          finding(
            s,
            'sequential',
            ev.subject,
            seq.action,
            ev.at,
            `${distinct.size} numbers ${stem}… within ${seq.windowMs / 1000}s`,
            ev.source,
          ),
        );
      }
    }
    const bl = current().baseline;
    if (bl !== undefined) {
      const h = Math.floor(ev.at / HOUR_MS);
      if (s.hour === undefined) s.hour = h;
      else if (h > s.hour) {
        fold(s, slotOf(s.hour, bl.tz), s.hourCount, bl.alpha);
        // Hours without a call fold a zero; more than a week of silence folds each slot once.
        const gap = Math.min(h - s.hour - 1, HOURS_PER_WEEK);
        for (let i = 1; i <= gap; i++) fold(s, slotOf(h - i, bl.tz), 0, bl.alpha);
        s.hour = h;
        s.hourCount = 0;
      }
      if (h === s.hour) {
        s.hourCount++;
        const slot = slotOf(h, bl.tz);
        const warm = (s.folds[slot] as number) >= bl.warmupWeeks;
        const expected = Math.max(1, s.ewma[slot] as number);
        if (warm && s.baselineFiredHour !== h && s.hourCount >= bl.minCalls && s.hourCount > bl.factor * expected) {
          s.baselineFiredHour = h;
          out.push(
            finding(s, 'baseline', ev.subject, bl.action, ev.at, `${s.hourCount} calls this hour, usual ${expected.toFixed(1)}`, ev.source),
          );
        }
      }
    }
    const uh = current().unusualHours;
    if (uh !== undefined && ev.callClass === 'international') {
      const t = localTime(ev.at, uh.tz);
      if (t !== undefined) {
        const hr = Math.floor(t.minuteOfDay / 60);
        const near = (s.intl[(hr + 23) % 24] as number) + (s.intl[hr] as number) + (s.intl[(hr + 1) % 24] as number);
        if (s.intlTotal >= uh.minHistory && near / s.intlTotal < uh.minShare) {
          out.push(
            finding(
              s,
              'unusual_hours',
              ev.subject,
              uh.action,
              ev.at,
              `international call at ${hr}h, usually ${((100 * near) / s.intlTotal).toFixed(1)}%`,
              ev.source,
            ),
          );
        }
        s.intl[hr] = (s.intl[hr] as number) + 1;
        s.intlTotal++;
        if (s.intlTotal > INTL_HISTORY_CAP) {
          for (let i = 0; i < 24; i++) s.intl[i] = (s.intl[i] as number) / 2;
          s.intlTotal /= 2;
        }
      }
    }
  };

  const onEnd = (s: SubjectState, ev: Extract<AnomalyEvent, { kind: 'end' }>, out: AnomalyFinding[]): void => {
    const sc = current().shortCalls;
    // 0 means not answered: failed attempts are the rate rules' business, not "short calls".
    if (sc === undefined || ev.durationMs <= 0 || ev.durationMs >= sc.shortMs) return;
    const since = ev.at - sc.windowMs;
    while (s.shortEnds.length > 0 && (s.shortEnds[0] as number) <= since) s.shortEnds.shift();
    if (s.shortEnds.length >= MAX_RECENT_PER_SUBJECT) s.shortEnds.shift();
    s.shortEnds.push(ev.at);
    const last = s.lastFired.short_calls;
    if (s.shortEnds.length >= sc.minCalls && (last === undefined || ev.at - last >= sc.windowMs)) {
      out.push(
        finding(s, 'short_calls', ev.subject, sc.action, ev.at, `${s.shortEnds.length} calls under ${sc.shortMs / 1000}s`, ev.source),
      );
    }
  };

  return {
    observe(ev: AnomalyEvent): AnomalyFinding[] {
      const out: AnomalyFinding[] = [];
      if (!Number.isFinite(ev.at)) return out;
      let s = states.get(ev.subject);
      if (s === undefined) {
        s = newState();
        states.set(ev.subject, s);
      } else {
        states.touch(ev.subject);
      }
      if (ev.kind === 'attempt') onAttempt(s, ev, out);
      else onEnd(s, ev, out);
      return out;
    },
    blockedUntil(subject: string, now: number): number | undefined {
      const until = blocks.get(subject);
      if (until === undefined) return undefined;
      if (until <= now) {
        blocks.delete(subject);
        changed();
        return undefined;
      }
      return until;
    },
    unblock(subject: string): boolean {
      const removed = blocks.delete(subject);
      if (removed) changed();
      return removed;
    },
    blocks(now: number): Array<{ subject: string; until: number }> {
      const out: Array<{ subject: string; until: number }> = [];
      const expired: string[] = [];
      for (const [subject, until] of blocks.entries()) {
        if (until <= now) expired.push(subject);
        else out.push({ subject, until });
      }
      for (const k of expired) blocks.delete(k);
      if (expired.length > 0) changed();
      out.sort((x, y) => x.until - y.until || (x.subject < y.subject ? -1 : 1));
      return out;
    },
    restoreBlock(subject: string, until: number): boolean {
      if (!Number.isFinite(until)) return false;
      if ((blocks.get(subject) ?? 0) < until) blocks.set(subject, until);
      return true;
    },
    get subjects(): number {
      return states.size;
    },
    get evictions(): number {
      return states.evictions;
    },
  };
}
