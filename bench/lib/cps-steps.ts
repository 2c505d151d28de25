/**
 * The stepping logic of the calls-per-second benchmark, kept pure so it can be checked without SIPp:
 * which rates to try, how many calls a step gets, when to stop, and what the result is.
 */

export const DEFAULT_CPS_RATES: readonly number[] = [200, 400, 800, 1200, 1600, 2000, 2500, 3000];

/** A step "holds" its rate when SIPp completed the calls at no less than this share of the target rate. */
export const SUSTAINED_SHARE = 0.9;

export interface CpsStepResult {
  rate: number;
  calls: number;
  successful: number;
  failed: number;
  /** Wall time of the step, ms. */
  durationMs: number;
  /** CPU ms the measured process used during the step (NaN when not measured). */
  cpuMs: number;
  /** Retransmissions the UAC made (UDP: a sign of loss or slow answers). */
  retransmissions: number;
  /** Why calls failed, from SIPp's Failed* counters, e.g. "TimeoutOnRecv:60 UnexpectedMessage:5". */
  failureReasons: string;
}

export interface CpsStepRow extends CpsStepResult {
  /** Completed calls per second of wall time. */
  achievedCps: number;
  cpuMsPerCall: number;
  sustained: boolean;
  clean: boolean;
}

/** Calls per step: `seconds` worth at `rate`, at least `min`. */
export function callsForStep(rate: number, seconds: number, min = 100): number {
  return Math.max(min, Math.round(rate * seconds));
}

export function describeStep(s: CpsStepResult): CpsStepRow {
  const achievedCps = s.durationMs > 0 ? (s.successful * 1000) / s.durationMs : 0;
  const sustained = achievedCps >= s.rate * SUSTAINED_SHARE;
  return {
    ...s,
    achievedCps,
    cpuMsPerCall: s.calls > 0 ? s.cpuMs / s.calls : Number.NaN,
    sustained,
    clean: s.failed === 0 && s.successful === s.calls,
  };
}

/** Stop stepping once a step had failures (or lost calls). */
export function shouldStop(row: CpsStepRow): boolean {
  return !row.clean;
}

/** Highest rate with zero failures, and highest rate that was also sustained; null when none. */
export function summarise(rows: readonly CpsStepRow[]): { highestClean: number | null; highestSustained: number | null } {
  let highestClean: number | null = null;
  let highestSustained: number | null = null;
  for (const r of rows) {
    if (!r.clean) continue;
    if (highestClean === null || r.rate > highestClean) highestClean = r.rate;
    if (r.sustained && (highestSustained === null || r.rate > highestSustained)) highestSustained = r.rate;
  }
  return { highestClean, highestSustained };
}

/** Whether a step of `calls` at `rate` (plus `overheadMs`) still fits in the remaining budget. */
export function fitsBudget(calls: number, rate: number, remainingMs: number, overheadMs = 3000): boolean {
  return (calls / rate) * 1000 + overheadMs <= remainingMs;
}

/** "TimeoutOnRecv:60 MaxUDPRetrans:5" from SIPp cumulative counters (Failed* except the FailedCall total). */
export function failureReasons(counters: Readonly<Record<string, number>>): string {
  return Object.entries(counters)
    .filter(([k, v]) => k.startsWith('Failed') && k !== 'FailedCall' && v > 0)
    .map(([k, v]) => `${k.slice('Failed'.length)}:${v}`)
    .join(' ');
}
