/**
 * Per-client-address request limiter for the HTTPS admin API: a token bucket of `perMinute` tokens refilled
 * evenly (perMinute / 60 per second), so a client may burst up to its minute's allowance and then runs at the
 * steady rate. Time comes from an injected monotonic clock; the table of addresses is bounded (oldest
 * evicted first, counted), so a spray of source addresses cannot grow memory.
 */
import { BoundedMap } from '../core/bounded-map.ts';

export const ADMIN_RATE_MAX_ADDRESSES = 10_000;
const MS_PER_MINUTE = 60_000;

export interface RateDecision {
  readonly ok: boolean;
  /** Whole seconds until one request is allowed again (≥1); 0 when ok. For `Retry-After` (RFC 9110 §10.2.3). */
  readonly retryAfterSec: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export interface AdminRateLimiter {
  /** Takes one token for `address` at monotonic time `nowMs`. */
  take(address: string, nowMs: number): RateDecision;
  readonly size: number;
  /** Addresses dropped from the table because it was full. */
  readonly evictions: number;
}

/** `::ffff:192.0.2.1` and `192.0.2.1` are one client. */
function clientKey(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

const ALLOWED: RateDecision = { ok: true, retryAfterSec: 0 };

export function createAdminRateLimiter(perMinute: number, maxAddresses = ADMIN_RATE_MAX_ADDRESSES): AdminRateLimiter {
  if (!(perMinute >= 1)) throw new RangeError('perMinute must be at least 1');
  const perMs = perMinute / MS_PER_MINUTE;
  const table = new BoundedMap<string, Bucket>(maxAddresses);
  return {
    take(address, nowMs) {
      const key = clientKey(address);
      let b = table.get(key);
      if (b === undefined) {
        b = { tokens: perMinute, at: nowMs };
        table.set(key, b);
      } else {
        // A clock that steps back never adds tokens.
        const elapsed = Math.max(0, nowMs - b.at);
        b.tokens = Math.min(perMinute, b.tokens + elapsed * perMs);
        b.at = Math.max(b.at, nowMs);
        table.touch(key);
      }
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return ALLOWED;
      }
      return { ok: false, retryAfterSec: Math.max(1, Math.ceil((1 - b.tokens) / perMs / 1000)) };
    },
    get size() {
      return table.size;
    },
    get evictions() {
      return table.evictions;
    },
  };
}
