/**
 * Flood limiter for the gate: token buckets per source per request class, behind one global bucket.
 *
 * Each source has a bucket per class (REGISTER, INVITE, OPTIONS, other) refilled at `ratePerSec` up to
 * `burst`. Every request that passes its source bucket also takes a token from the global bucket,
 * which bounds what the whole daemon accepts.
 *
 * Fair share: a flooder whose own buckets are generous could still drain the global bucket and starve
 * everyone else. Each source therefore also has a share bucket refilled at globalRatePerSec divided by
 * the sources active now (seen in this `fairWindowMs` window or the last, whichever saw more), holding
 * at most its part of the reserve. Once the global bucket falls below `fairShareBelow × globalBurst`
 * (the reserve), a source whose share bucket is empty — it used more than its fair share — is refused
 * first, so the reserve is left to the sources that did not. A continuous bucket rather than a per-window
 * quota, so that a flooder cannot grab a whole window's share in one burst at each window start.
 *
 * A source refused more than `floodRefusals` times within `floodWindowMs` (for its own buckets or for
 * exceeding its share — not for a global shortage it did not cause) is reported once per window
 * through `onFlood`, which the composition root turns into a 'flood' offence for the ban manager.
 *
 * Hot path: `take` allocates nothing after the first sight of a source (one object with one typed
 * array); counters are plain numbers the metrics collector reads.
 */
import { BoundedMap } from '../core/bounded-map.ts';
import type { Clock } from '../core/clock.ts';
import { PalisadeError } from '../core/errors.ts';

export type RequestClass = 'REGISTER' | 'INVITE' | 'OPTIONS' | 'other';
export const REQUEST_CLASSES: readonly RequestClass[] = Object.freeze(['REGISTER', 'INVITE', 'OPTIONS', 'other']);
export type TakeResult = 'ok' | 'limited' | 'global_limited';

export interface BucketRate {
  readonly ratePerSec: number;
  readonly burst: number;
}

export interface FloodLimiterOptions {
  readonly clock: Clock;
  readonly rates: Readonly<Record<RequestClass, BucketRate>>;
  readonly globalRatePerSec: number;
  readonly globalBurst: number;
  readonly maxSources: number;
  /** Fraction of globalBurst below which over-share sources are refused; default 0.5. */
  readonly fairShareBelow?: number;
  readonly fairWindowMs?: number;
  /** Refusals within floodWindowMs that make a flood; defaults 50 in 10 s. */
  readonly floodRefusals?: number;
  readonly floodWindowMs?: number;
  readonly onFlood?: (address: string, refusals: number) => void;
}

export interface FloodLimiterStats {
  sources: number;
  evictions: number;
  ok: number;
  limited: number;
  globalLimited: number;
  /** Part of globalLimited: refused for using more than the fair share while tokens were scarce. */
  fairShareRefusals: number;
  floods: number;
  listenerErrors: number;
}

export interface FloodLimiter {
  take(address: string, cls: RequestClass): TakeResult;
  /** Drops a source's state (e.g. after it was banned). */
  forget(address: string): void;
  /** Global tokens left now (after refill); for tests and a gauge. */
  globalTokens(): number;
  stats(): FloodLimiterStats;
}

/** RFC 3261 §7.1 method → limiter class. Methods are case-sensitive, so `register` is 'other'. */
export function classifyMethod(method: string): RequestClass {
  switch (method) {
    case 'REGISTER':
    case 'INVITE':
    case 'OPTIONS':
      return method;
    default:
      return 'other';
  }
}

function classIndex(cls: RequestClass): number {
  switch (cls) {
    case 'REGISTER':
      return 0;
    case 'INVITE':
      return 1;
    case 'OPTIONS':
      return 2;
    default:
      return 3;
  }
}

/** Per-source state: tokens [0..3] and last refill [4..7] per class, share tokens [8] and refill [9]. */
class SourceState {
  readonly b = new Float64Array(10);
  windowId = -1;
  refusals = 0;
  refusalStart = 0;
  reported = false;
}

export function createFloodLimiter(o: FloodLimiterOptions): FloodLimiter {
  const bad = (field: string): never => {
    throw new PalisadeError('CONFIG_INVALID', { path: `security/flood/${field}` });
  };
  const rate = new Float64Array(4);
  const burst = new Float64Array(4);
  for (const cls of REQUEST_CLASSES) {
    const r = o.rates[cls];
    if (!(Number.isFinite(r.ratePerSec) && r.ratePerSec >= 0)) bad(`rates/${cls}/ratePerSec`);
    if (!(Number.isFinite(r.burst) && r.burst >= 1)) bad(`rates/${cls}/burst`);
    rate[classIndex(cls)] = r.ratePerSec / 1000;
    burst[classIndex(cls)] = r.burst;
  }
  if (!(Number.isFinite(o.globalRatePerSec) && o.globalRatePerSec > 0)) bad('globalRatePerSec');
  if (!(Number.isFinite(o.globalBurst) && o.globalBurst >= 1)) bad('globalBurst');
  if (!Number.isInteger(o.maxSources) || o.maxSources < 1) bad('maxSources');
  const fairShareBelow = o.fairShareBelow ?? 0.5;
  if (!(fairShareBelow >= 0 && fairShareBelow <= 1)) bad('fairShareBelow');
  const fairWindowMs = o.fairWindowMs ?? 1_000;
  const floodRefusals = o.floodRefusals ?? 50;
  const floodWindowMs = o.floodWindowMs ?? 10_000;
  if (!(fairWindowMs > 0)) bad('fairWindowMs');
  if (!(floodWindowMs > 0)) bad('floodWindowMs');
  if (!(Number.isInteger(floodRefusals) && floodRefusals >= 1)) bad('floodRefusals');

  const { clock } = o;
  const gRate = o.globalRatePerSec / 1000;
  const gBurst = o.globalBurst;
  const scarce = fairShareBelow * gBurst;
  const sources = new BoundedMap<string, SourceState>(o.maxSources);
  const st: FloodLimiterStats = {
    sources: 0,
    evictions: 0,
    ok: 0,
    limited: 0,
    globalLimited: 0,
    fairShareRefusals: 0,
    floods: 0,
    listenerErrors: 0,
  };
  let gTokens = gBurst;
  let gStamp = clock.now();
  let windowId = Math.floor(gStamp / fairWindowMs);
  let activeNow = 0;
  let activePrev = 0;

  function refillGlobal(now: number): void {
    if (now > gStamp) {
      gTokens = Math.min(gBurst, gTokens + (now - gStamp) * gRate);
      gStamp = now;
    }
  }

  function refuse(s: SourceState, address: string, now: number): void {
    if (now - s.refusalStart >= floodWindowMs) {
      s.refusalStart = now;
      s.refusals = 0;
      s.reported = false;
    }
    if (++s.refusals > floodRefusals && !s.reported) {
      s.reported = true;
      st.floods++;
      if (o.onFlood) {
        try {
          o.onFlood(address, s.refusals);
        } catch {
          st.listenerErrors++;
        }
      }
    }
  }

  function take(address: string, cls: RequestClass): TakeResult {
    const now = clock.now();
    let s = sources.get(address);
    if (s === undefined) {
      s = new SourceState();
      for (let i = 0; i < 4; i++) {
        s.b[i] = burst[i] as number;
        s.b[i + 4] = now;
      }
      s.b[8] = Math.max(1, scarce);
      s.b[9] = now;
      s.refusalStart = now;
      sources.set(address, s);
    }
    const w = Math.floor(now / fairWindowMs);
    if (w !== windowId) {
      activePrev = w === windowId + 1 ? activeNow : 0;
      activeNow = 0;
      windowId = w;
    }
    if (s.windowId !== windowId) {
      s.windowId = windowId;
      activeNow++;
      // Refresh recency once per window, not per request: eviction then drops the longest-idle sources.
      sources.touch(address);
    }

    const i = classIndex(cls);
    const last = s.b[i + 4] as number;
    let tokens = s.b[i] as number;
    if (now > last) {
      tokens = Math.min(burst[i] as number, tokens + (now - last) * (rate[i] as number));
      s.b[i + 4] = now;
    }
    if (tokens < 1) {
      s.b[i] = tokens;
      st.limited++;
      refuse(s, address, now);
      return 'limited';
    }

    refillGlobal(now);
    const active = Math.max(activeNow, activePrev);
    const shareCap = Math.max(1, scarce / active);
    let share = s.b[8] as number;
    if (now > (s.b[9] as number)) {
      share = Math.min(shareCap, share + (now - (s.b[9] as number)) * (gRate / active));
      s.b[9] = now;
    }
    const overShare = share < 1;
    if (gTokens < 1 || (gTokens < scarce && overShare)) {
      s.b[i] = tokens;
      s.b[8] = share;
      st.globalLimited++;
      if (overShare) {
        st.fairShareRefusals += gTokens < 1 ? 0 : 1;
        refuse(s, address, now);
      }
      return 'global_limited';
    }
    s.b[i] = tokens - 1;
    s.b[8] = share > 1 ? share - 1 : 0;
    gTokens -= 1;
    st.ok++;
    return 'ok';
  }

  return {
    take,
    forget: (address) => {
      sources.delete(address);
    },
    globalTokens: () => {
      refillGlobal(clock.now());
      return gTokens;
    },
    stats: () => ({ ...st, sources: sources.size, evictions: sources.evictions }),
  };
}
