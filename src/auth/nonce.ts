/**
 * Stateless nonces and nonce-count replay tracking (RFC 7616 §3.3 and §5.4–§5.5, RFC 3261 §22.4).
 *
 * Nonce (48 bytes, base64url without padding → 64 characters):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |            issued at: wall-clock ms since epoch, u64 BE       |
 *   |                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                   unique: 8 random bytes                      |
 *   |                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  HMAC-SHA256(secret, ts || unique || u16 len(realm) || realm  |
 *   |                 || source)  (32 bytes)                        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The random part makes every challenge's nonce its own. Without it two challenges to one address in the same
 * millisecond (two calls from phones behind one office NAT, or one SIPp) carried the same nonce, both clients
 * answered with nc=00000001, and the nonce-count check took the second for a replay: a valid call was challenged
 * again and, retransmitting, ended in a timeout (found by the fraud SIPp test under load).
 *
 * Issuing costs no state; any Palisade holding the secret can verify. The realm's length prefix keeps
 * (realm, source) pairs unambiguous. `source` is the client's IP address (no port: a TCP reconnect or a
 * NAT rebinding changes the port, not the client). Wall time is used so nonces survive a restart.
 */
import { createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';
import { BoundedMap } from '../core/bounded-map.ts';

export type NonceStatus = 'ok' | 'stale' | 'invalid';

/** RFC 7616 §5.5 leaves the lifetime to the server; 5 minutes outlives a REGISTER/INVITE retry. */
export const DEFAULT_NONCE_TTL_MS = 300_000;
/** A nonce stamped later than now by more than this was not issued by a clock we trust. */
export const DEFAULT_NONCE_FUTURE_SKEW_MS = 5_000;
export const NONCE_BYTES = 48;
export const NONCE_LENGTH = 64;

const TS_BYTES = 8;
/** Issue time and the random part: what the MAC covers before realm and source. */
const HEAD_BYTES = 16;
const NONCE_RE = /^[A-Za-z0-9_-]{64}$/;

function nonceMac(secret: Uint8Array, head: Buffer, realm: string, source: string): Buffer {
  const realmBytes = Buffer.from(realm, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(Math.min(realmBytes.length, 0xffff));
  return createHmac('sha256', secret).update(head).update(len).update(realmBytes).update(source, 'utf8').digest();
}

export interface IssueNonceInput {
  readonly secret: Uint8Array;
  readonly realm: string;
  /** Client IP address. */
  readonly source: string;
  /** Wall-clock ms (Clock.wallNow()). */
  readonly nowMs: number;
}

export function createNonce(input: IssueNonceInput): string {
  const head = Buffer.alloc(HEAD_BYTES);
  head.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(input.nowMs))));
  randomFillSync(head, TS_BYTES, HEAD_BYTES - TS_BYTES);
  return Buffer.concat([head, nonceMac(input.secret, head, input.realm, input.source)]).toString('base64url');
}

/** The issue time a well-formed nonce claims (not authenticated: call verifyNonce first). */
export function nonceIssuedAt(nonce: string): number | undefined {
  if (!NONCE_RE.test(nonce)) return undefined;
  const raw = Buffer.from(nonce, 'base64url');
  if (raw.length !== NONCE_BYTES) return undefined;
  return Number(raw.readBigUInt64BE(0));
}

export interface VerifyNonceInput {
  /** Current secret first; previous ones accepted during a rotation. */
  readonly secrets: readonly Uint8Array[];
  readonly realm: string;
  readonly source: string;
  readonly nowMs: number;
  readonly ttlMs?: number;
  readonly maxFutureSkewMs?: number;
}

/**
 * 'ok': ours, for this realm and source, within its lifetime. 'stale': ours but expired (the caller answers
 * with stale=true so the UA retries without asking the user, RFC 7616 §3.3). 'invalid': anything else.
 * Never throws.
 */
export function verifyNonce(nonce: unknown, input: VerifyNonceInput): NonceStatus {
  if (typeof nonce !== 'string' || !NONCE_RE.test(nonce)) return 'invalid';
  const raw = Buffer.from(nonce, 'base64url');
  // base64url has spare bits in the last character; insist on the canonical form so a nonce has one spelling
  // (the nonce-count map is keyed by the string).
  if (raw.length !== NONCE_BYTES || raw.toString('base64url') !== nonce) return 'invalid';
  const head = raw.subarray(0, HEAD_BYTES);
  const mac = raw.subarray(HEAD_BYTES);
  let good = false;
  for (const secret of input.secrets) {
    // Every secret is tried, so the time taken does not say which one matched.
    if (timingSafeEqual(nonceMac(secret, head, input.realm, input.source), mac)) good = true;
  }
  if (!good) return 'invalid';
  const issued = Number(head.readBigUInt64BE(0));
  if (issued > input.nowMs + (input.maxFutureSkewMs ?? DEFAULT_NONCE_FUTURE_SKEW_MS)) return 'invalid';
  if (input.nowMs - issued > (input.ttlMs ?? DEFAULT_NONCE_TTL_MS)) return 'stale';
  return 'ok';
}

export type NonceCountStatus = 'ok' | 'replay' | 'stale';

interface NcWindow {
  issuedAtMs: number;
  /** Highest nc accepted. */
  max: number;
  /** Bit i set: nc = max − i was accepted (bit 0 is max itself). */
  seen: number;
}

/** Size of the out-of-order window (bits of one 32-bit word). */
export const NC_WINDOW = 32;
export const DEFAULT_NONCE_COUNT_ENTRIES = 100_000;

/**
 * nonce → highest nc seen, with a 32-wide bitmap so requests that overtake each other (UDP, forked
 * transactions) are each accepted once (RFC 7616 §3.4: the server should refuse a repeated nc; §5.4
 * replay). Bounded: past `maxEntries` the oldest nonce is forgotten. A forgotten nonce could be replayed,
 * so any nonce issued at or before the newest forgotten one is answered 'stale' when it comes back
 * unknown: the UA re-authenticates with a fresh nonce and the replay window never reopens.
 */
export class NonceCountTracker {
  private readonly map: BoundedMap<string, NcWindow>;
  /** Issue time of the newest nonce evicted so far. */
  private forgottenUpToMs = Number.NEGATIVE_INFINITY;

  constructor(maxEntries = DEFAULT_NONCE_COUNT_ENTRIES) {
    this.map = new BoundedMap(maxEntries, (_k, v) => {
      if (v.issuedAtMs > this.forgottenUpToMs) this.forgottenUpToMs = v.issuedAtMs;
    });
  }

  get size(): number {
    return this.map.size;
  }

  get evictions(): number {
    return this.map.evictions;
  }

  /**
   * Records `nc` for a verified nonce. Call only after the response digest checked out, so that a
   * forged request cannot burn a legitimate client's counts.
   */
  check(nonce: string, issuedAtMs: number, nc: number): NonceCountStatus {
    if (!Number.isInteger(nc) || nc < 1 || nc > 0xffffffff) return 'replay';
    const w = this.map.get(nonce);
    if (w === undefined) {
      if (issuedAtMs <= this.forgottenUpToMs) return 'stale';
      this.map.set(nonce, { issuedAtMs, max: nc, seen: 1 });
      return 'ok';
    }
    if (nc > w.max) {
      const shift = nc - w.max;
      w.seen = shift >= NC_WINDOW ? 1 : ((w.seen << shift) | 1) >>> 0;
      w.max = nc;
      this.map.touch(nonce);
      return 'ok';
    }
    const back = w.max - nc;
    if (back >= NC_WINDOW) return 'replay';
    const bit = (1 << back) >>> 0;
    if ((w.seen & bit) !== 0) return 'replay';
    w.seen = (w.seen | bit) >>> 0;
    return 'ok';
  }

  /** Drops entries whose nonce has expired (they can only come back as 'stale'). */
  sweep(nowMs: number, ttlMs = DEFAULT_NONCE_TTL_MS): number {
    let n = 0;
    for (const [k, v] of this.map.entries()) {
      if (nowMs - v.issuedAtMs > ttlMs) {
        this.map.delete(k);
        n++;
      }
    }
    return n;
  }
}
