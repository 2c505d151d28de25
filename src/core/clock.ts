/**
 * Injected time. Transactions, limiters and timers take a Clock so tests can advance a ManualClock
 * instead of sleeping.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds, monotonic within the process (not wall time). */
  now(): number;
  /** Wall-clock milliseconds since the epoch (for audit records and expiries that survive restarts). */
  wallNow(): number;
  setTimer(ms: number, fn: () => void): TimerHandle;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};

interface PendingTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Deterministic clock for tests: time moves only when `advance` is called. */
export class ManualClock implements Clock {
  private t: number;
  private readonly wallBase: number;
  private seq = 0;
  private timers: PendingTimer[] = [];

  constructor(startMs = 0, wallBase = 1_700_000_000_000) {
    this.t = startMs;
    this.wallBase = wallBase;
  }

  now(): number {
    return this.t;
  }

  wallNow(): number {
    return this.wallBase + this.t;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer: PendingTimer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Advances time, firing due timers in order (timers scheduled by timers fire too if due). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: PendingTimer | undefined;
      for (const tm of this.timers) {
        if (tm.cancelled || tm.at > end) continue;
        if (!next || tm.at < next.at || (tm.at === next.at && tm.seq < next.seq)) next = tm;
      }
      if (!next) break;
      this.t = next.at;
      next.cancelled = true;
      this.timers = this.timers.filter((x) => !x.cancelled);
      next.fn();
    }
    this.t = end;
  }

  pendingTimers(): number {
    return this.timers.filter((x) => !x.cancelled).length;
  }
}
