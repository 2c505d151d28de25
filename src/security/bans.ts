/**
 * fail2ban-style bans for the gate. Offences reported by later stages are counted per source address
 * and per (source, user) in an exact sliding window of `findTimeMs`; reaching `maxRetry` strikes bans
 * the source for `banTimeMs`, multiplied by `factor` for each earlier ban still remembered (up to
 * `maxBanTimeMs`). Allow-listed CIDRs are counted but never banned.
 *
 * The gate asks `isBanned(address)` for every datagram and frame before parsing, so that call is one
 * Map lookup (IPv4 bans are also indexed under their `::ffff:` form, so a dual-stack socket's mapped
 * address needs no unmapping) plus a walk of the short list of range bans when there are any.
 * Addresses are compared in the form sockets report them (RFC 5952 text for IPv6).
 *
 * Decisions use the injected Clock's monotonic `now()`; `list()` reports wall-clock times so that
 * ban-store.ts can persist expiries that survive a restart.
 */
import { isIP } from 'node:net';
import { BoundedMap } from '../core/bounded-map.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import { PalisadeError } from '../core/errors.ts';
import { unmapIPv4 } from '../core/net.ts';
import type { Result } from '../core/result.ts';
import { err, ok } from '../core/result.ts';
import type { AddressSet } from './cidr.ts';
import { addressToBigInt, parseCidr } from './cidr.ts';
import type { OffenceKind } from './offences.ts';
import { resolveOffenceWeights } from './offences.ts';

export type OffenceOutcome = 'counted' | 'banned' | 'allowlisted';
export type BanOrigin = 'auto' | 'manual';
export type UnbanReason = 'expired' | 'manual' | 'flush' | 'evicted';
export type BanErrorCode = 'BAN_BAD_TARGET' | 'BAN_BAD_DURATION' | 'BAN_ALLOWLISTED' | 'BAN_TOO_MANY_RANGES';

export interface BanError {
  readonly code: BanErrorCode;
  readonly target: string;
}

/** One ban as `list()` reports it and ban-store.ts persists it. Times are wall-clock ms since the epoch. */
export interface BanInfo {
  /** A single address (`192.0.2.7`, `2001:db8::7`) or a range in canonical form (`192.0.2.0/24`). */
  readonly target: string;
  readonly kind: 'address' | 'cidr';
  /** Manual: the operator's text. Auto: the offence kind that tipped the count. */
  readonly reason: string;
  readonly source: BanOrigin;
  readonly bannedAt: number;
  /** null: until unbanned. */
  readonly expiresAt: number | null;
  readonly firstOffenceAt: number | null;
  readonly lastOffenceAt: number | null;
  /** Strikes counted in the window when the ban was decided (plus offences seen while banned). */
  readonly count: number;
  /** 0 for a first ban; n for the n-th repeat within the decay period (banTime × factor^n). */
  readonly repeat: number;
}

export interface BanManagerOptions {
  readonly clock: Clock;
  readonly findTimeMs: number;
  /** Strikes within findTime from one source that ban it. */
  readonly maxRetry: number;
  /** Strikes within findTime for one (source, user) that ban the source; default maxRetry. Set it below a
   *  high maxRetry to tolerate many users behind one NAT while still stopping a brute force on one account. */
  readonly maxRetryPerUser?: number;
  readonly banTimeMs: number;
  readonly factor: number;
  readonly maxBanTimeMs: number;
  /** How long a source's ban count is remembered after its last ban ends; default 7 days. */
  readonly repeatDecayMs?: number;
  /** Never banned (still counted). Any set with `has`: the daemon passes its live allow list (policy + runtime). */
  readonly allow: AddressSet;
  /** Bound of each tracking table (sources, (source,user) pairs, ban history) and, by default, of bans. */
  readonly maxTracked: number;
  readonly maxBans?: number;
  /** Range bans are manual and walked on every lookup, so they stay few; default 256. */
  readonly maxRangeBans?: number;
  readonly weights?: Partial<Record<OffenceKind, number>>;
  /** Period of the expiry sweep; 0 disables the timer (expired bans still lapse lazily). Default 60 s. */
  readonly sweepIntervalMs?: number;
  readonly onBan?: (ban: BanInfo) => void;
  readonly onUnban?: (ban: BanInfo, why: UnbanReason) => void;
}

export interface BanStats {
  bans: number;
  rangeBans: number;
  trackedSources: number;
  trackedUsers: number;
  sourceEvictions: number;
  userEvictions: number;
  historyEvictions: number;
  banEvictions: number;
  offences: number;
  allowlisted: number;
  invalidAddresses: number;
  autoBans: number;
  manualBans: number;
  expired: number;
  listenerErrors: number;
}

export interface BanManager {
  offence(address: string, kind: OffenceKind, user?: string): OffenceOutcome;
  isBanned(address: string): boolean;
  /** forMs omitted: until unbanned. A single address inside the allow list is refused. */
  ban(target: string, opts: { readonly forMs?: number; readonly reason: string }): Result<BanInfo, BanError>;
  /** Removes the exact target (an address does not lift a range containing it) and forgets its history. */
  unban(target: string): boolean;
  flush(): number;
  list(): BanInfo[];
  /** Strikes currently in the window for a source, or for a (source, user) pair. */
  strikes(address: string, user?: string): number;
  /** Lapses expired bans and drops idle trackers; returns the number of bans lapsed. */
  sweep(): number;
  /** Reinstates persisted bans (wall-clock expiries); expired or invalid entries are skipped. Fires no onBan. */
  restore(entries: readonly BanInfo[]): number;
  stats(): BanStats;
  close(): void;
}

const DEFAULT_REPEAT_DECAY_MS = 7 * 24 * 3_600_000;
const DEFAULT_SWEEP_INTERVAL_MS = 60_000;
const MAX_REASON_CHARS = 200;
const MAX_USER_CHARS = 128;

interface Ban {
  target: string;
  kind: 'address' | 'cidr';
  reason: string;
  source: BanOrigin;
  bannedAt: number;
  expiresAt: number;
  firstOffenceAt: number | null;
  lastOffenceAt: number | null;
  count: number;
  repeat: number;
  /** Range bans: IPv4 ranges compare as unsigned 32-bit numbers, IPv6 ranges hextet by hextet. */
  v4: boolean;
  base4: number;
  mask4: number;
  base6: Uint16Array;
  mask6: Uint16Array;
  /** An IPv6 range that contains all of ::ffff:0:0/96 (e.g. ::/0) covers every IPv4 address. */
  coversV4: boolean;
}

/** Exact sliding window: the last `size` weighted offences. Exact for deciding `sum >= size` because every
 *  stored entry weighs at least 1 (weight-0 offences are not stored). */
class StrikeWindow {
  private readonly times: Float64Array;
  private readonly weights: Uint16Array;
  private head = 0;
  first = 0;
  last = 0;

  constructor(size: number) {
    this.times = new Float64Array(size);
    this.weights = new Uint16Array(size);
  }

  sum(now: number, findTimeMs: number): number {
    let s = 0;
    const from = now - findTimeMs;
    for (let i = 0; i < this.weights.length; i++)
      if (this.weights[i] !== 0 && (this.times[i] as number) > from) s += this.weights[i] as number;
    return s;
  }

  add(now: number, weight: number, findTimeMs: number): number {
    if (this.sum(now, findTimeMs) === 0) this.first = now;
    this.last = now;
    if (weight > 0) {
      this.times[this.head] = now;
      this.weights[this.head] = weight;
      this.head = (this.head + 1) % this.weights.length;
    }
    return this.sum(now, findTimeMs);
  }
}

interface History {
  repeat: number;
  until: number;
}

type Target =
  | { kind: 'address'; key: string; v4: boolean }
  | { kind: 'cidr'; text: string; v4: boolean; base: bigint; mask: bigint; base4: number; mask4: number };

const NO_HEXTETS = new Uint16Array(0);

function hextets(v: bigint): Uint16Array {
  const out = new Uint16Array(8);
  for (let i = 0; i < 8; i++) out[i] = Number((v >> BigInt((7 - i) * 16)) & 0xffffn);
  return out;
}

export function createBanManager(o: BanManagerOptions): BanManager {
  const weights = resolveOffenceWeights(o.weights);
  const maxRetryPerUser = o.maxRetryPerUser ?? o.maxRetry;
  const repeatDecayMs = o.repeatDecayMs ?? DEFAULT_REPEAT_DECAY_MS;
  const sweepIntervalMs = o.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
  const maxRangeBans = o.maxRangeBans ?? 256;
  const bad = (field: string): never => {
    throw new PalisadeError('CONFIG_INVALID', { path: `security/bans/${field}` });
  };
  if (!weights) bad('weights');
  for (const [k, v] of [
    ['maxRetry', o.maxRetry],
    ['maxRetryPerUser', maxRetryPerUser],
    ['maxTracked', o.maxTracked],
  ] as const)
    if (!Number.isInteger(v) || v < 1 || (k !== 'maxTracked' && v > 10_000)) bad(k);
  for (const [k, v] of [
    ['findTimeMs', o.findTimeMs],
    ['banTimeMs', o.banTimeMs],
    ['maxBanTimeMs', o.maxBanTimeMs],
    ['repeatDecayMs', repeatDecayMs],
  ] as const)
    if (!Number.isFinite(v) || v <= 0) bad(k);
  if (!Number.isFinite(o.factor) || o.factor < 1) bad('factor');
  if (o.maxBanTimeMs < o.banTimeMs) bad('maxBanTimeMs');
  if (!(sweepIntervalMs >= 0)) bad('sweepIntervalMs');
  const w = weights as Readonly<Record<OffenceKind, number>>;
  const { clock, allow, findTimeMs } = o;

  const st: BanStats = {
    bans: 0,
    rangeBans: 0,
    trackedSources: 0,
    trackedUsers: 0,
    sourceEvictions: 0,
    userEvictions: 0,
    historyEvictions: 0,
    banEvictions: 0,
    offences: 0,
    allowlisted: 0,
    invalidAddresses: 0,
    autoBans: 0,
    manualBans: 0,
    expired: 0,
    listenerErrors: 0,
  };
  const sources = new BoundedMap<string, StrikeWindow>(o.maxTracked);
  const users = new BoundedMap<string, StrikeWindow>(o.maxTracked);
  const history = new BoundedMap<string, History>(o.maxTracked);
  /** Hot-path index: canonical address and, for IPv4, its `::ffff:` alias → ban. */
  const index = new Map<string, Ban>();
  const single = new BoundedMap<string, Ban>(o.maxBans ?? o.maxTracked, (_k, b) => {
    unindex(b);
    st.banEvictions++;
    emitUnban(b, 'evicted');
  });
  const ranges: Ban[] = [];
  /** Addresses recently found inside a range ban → that ban: a flood from a banned range then costs one
   *  Map lookup instead of a range walk and an allow-list check. Cleared whenever a range changes. */
  const rangeHits = new BoundedMap<string, Ban>(4096);

  const wallOffset = (): number => clock.wallNow() - clock.now();
  function info(b: Ban, off = wallOffset()): BanInfo {
    return {
      target: b.target,
      kind: b.kind,
      reason: b.reason,
      source: b.source,
      bannedAt: b.bannedAt + off,
      expiresAt: b.expiresAt === Number.POSITIVE_INFINITY ? null : b.expiresAt + off,
      firstOffenceAt: b.firstOffenceAt === null ? null : b.firstOffenceAt + off,
      lastOffenceAt: b.lastOffenceAt === null ? null : b.lastOffenceAt + off,
      count: b.count,
      repeat: b.repeat,
    };
  }
  // Listener errors never reach the caller (mediasoup habit): a broken audit sink must not unban anyone.
  function emitBan(b: Ban): void {
    if (!o.onBan) return;
    try {
      o.onBan(info(b));
    } catch {
      st.listenerErrors++;
    }
  }
  function emitUnban(b: Ban, why: UnbanReason): void {
    if (!o.onUnban) return;
    try {
      o.onUnban(info(b), why);
    } catch {
      st.listenerErrors++;
    }
  }
  function unindex(b: Ban): void {
    index.delete(b.target);
    if (b.v4) index.delete(`::ffff:${b.target}`);
  }
  function remove(b: Ban, why: UnbanReason): void {
    if (b.kind === 'address') {
      single.delete(b.target);
      unindex(b);
    } else {
      const i = ranges.indexOf(b);
      if (i !== -1) ranges.splice(i, 1);
      rangeHits.clear();
    }
    if (why === 'expired') st.expired++;
    emitUnban(b, why);
  }
  function put(b: Ban): void {
    if (b.kind === 'cidr') {
      rangeHits.clear();
      const i = ranges.findIndex((r) => r.target === b.target);
      if (i === -1) ranges.push(b);
      else ranges[i] = b;
      return;
    }
    single.delete(b.target);
    single.set(b.target, b);
    index.set(b.target, b);
    if (b.v4) index.set(`::ffff:${b.target}`, b);
  }
  function newBan(t: Target, reason: string, source: BanOrigin, now: number, expiresAt: number): Ban {
    const c = t.kind === 'cidr';
    return {
      target: c ? t.text : t.key,
      kind: t.kind,
      reason,
      source,
      bannedAt: now,
      expiresAt,
      firstOffenceAt: null,
      lastOffenceAt: null,
      count: 0,
      repeat: 0,
      v4: t.v4,
      base4: c ? t.base4 : 0,
      mask4: c ? t.mask4 : 0,
      base6: c && !t.v4 ? hextets(t.base) : NO_HEXTETS,
      mask6: c && !t.v4 ? hextets(t.mask) : NO_HEXTETS,
      coversV4: c && !t.v4 && (V4_MAPPED_PREFIX & t.mask) === t.base,
    };
  }

  /** Allocation-free: the address is parsed once into numbers, then compared with each range. */
  function matchRange(address: string, now: number): Ban | undefined {
    let v4 = parseIPv4(address);
    let v6 = false;
    if (v4 < 0) {
      v6 = parseIPv6Into(address, SCRATCH);
      // An IPv4-mapped address in hex form (::ffff:c000:201) is still the IPv4 address.
      if (v6 && isMappedHextets(SCRATCH)) {
        v4 = (SCRATCH[6] as number) * 65536 + (SCRATCH[7] as number);
        v6 = false;
      }
    }
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i] as Ban;
      let hit = false;
      if (r.v4) hit = v4 >= 0 && (v4 & r.mask4) >>> 0 === r.base4;
      else if (v4 >= 0) hit = r.coversV4;
      else if (v6) {
        hit = true;
        for (let k = 0; k < 8; k++) {
          if (((SCRATCH[k] as number) & (r.mask6[k] as number)) !== r.base6[k]) {
            hit = false;
            break;
          }
        }
      }
      if (!hit) continue;
      if (r.expiresAt <= now) {
        remove(r, 'expired');
        i--;
        continue;
      }
      return r;
    }
    return undefined;
  }

  function isBanned(address: string): boolean {
    const b = index.get(address);
    if (b !== undefined) {
      if (b.expiresAt > clock.now()) return true;
      remove(b, 'expired');
    }
    if (ranges.length === 0) return false;
    const now = clock.now();
    const hit = rangeHits.get(address);
    if (hit !== undefined && hit.expiresAt > now) return true;
    // Rare path: a range ban never covers an allow-listed address.
    const r = matchRange(address, now);
    if (r === undefined || allow.has(address)) return false;
    rangeHits.set(address, r);
    return true;
  }

  function offence(address: string, kind: OffenceKind, user?: string): OffenceOutcome {
    st.offences++;
    const addr = unmapIPv4(address);
    if (isIP(addr) === 0) {
      st.invalidAddresses++;
      return 'counted';
    }
    const now = clock.now();
    const weight = w[kind];
    const banned = index.get(addr);
    if (banned !== undefined && banned.expiresAt > now) {
      banned.lastOffenceAt = now;
      banned.count += weight;
      return 'banned';
    }
    if (isBanned(addr)) return 'banned';
    let src = sources.get(addr);
    if (src === undefined) {
      src = new StrikeWindow(o.maxRetry);
      sources.set(addr, src);
    } else sources.touch(addr);
    const sum = src.add(now, weight, findTimeMs);
    let userSum = 0;
    let userKey: string | undefined;
    if (user !== undefined && user !== '') {
      userKey = `${addr}\n${user.length > MAX_USER_CHARS ? user.slice(0, MAX_USER_CHARS) : user}`;
      let u = users.get(userKey);
      if (u === undefined) {
        u = new StrikeWindow(maxRetryPerUser);
        users.set(userKey, u);
      } else users.touch(userKey);
      userSum = u.add(now, weight, findTimeMs);
    }
    if (allow.has(addr)) {
      st.allowlisted++;
      return 'allowlisted';
    }
    if (weight === 0 || (sum < o.maxRetry && userSum < maxRetryPerUser)) return 'counted';

    // Escalation: the n-th ban within the decay period lasts banTime × factor^n, capped.
    const h = history.get(addr);
    const repeat = h !== undefined && now - h.until < repeatDecayMs ? h.repeat + 1 : 0;
    const duration = Math.min(o.banTimeMs * o.factor ** repeat, o.maxBanTimeMs);
    const b = newBan({ kind: 'address', key: addr, v4: isIP(addr) === 4 }, kind, 'auto', now, now + duration);
    b.firstOffenceAt = src.first;
    b.lastOffenceAt = now;
    b.count = Math.max(sum, userSum);
    b.repeat = repeat;
    history.delete(addr);
    history.set(addr, { repeat, until: b.expiresAt });
    sources.delete(addr);
    if (userKey !== undefined) users.delete(userKey);
    put(b);
    st.autoBans++;
    emitBan(b);
    return 'banned';
  }

  function ban(target: string, opts: { readonly forMs?: number; readonly reason: string }): Result<BanInfo, BanError> {
    const t = parseTarget(target);
    if (t === undefined) return err({ code: 'BAN_BAD_TARGET', target });
    const forMs = opts.forMs ?? Number.POSITIVE_INFINITY;
    if (!(forMs > 0)) return err({ code: 'BAN_BAD_DURATION', target });
    if (t.kind === 'address' && allow.has(t.key)) return err({ code: 'BAN_ALLOWLISTED', target });
    if (t.kind === 'cidr' && ranges.length >= maxRangeBans && !ranges.some((r) => r.target === t.text))
      return err({ code: 'BAN_TOO_MANY_RANGES', target });
    const now = clock.now();
    const reason = opts.reason.length > MAX_REASON_CHARS ? opts.reason.slice(0, MAX_REASON_CHARS) : opts.reason;
    const b = newBan(t, reason, 'manual', now, now + forMs);
    const prev = t.kind === 'address' ? single.get(t.key) : undefined;
    if (prev) {
      b.firstOffenceAt = prev.firstOffenceAt;
      b.lastOffenceAt = prev.lastOffenceAt;
      b.count = prev.count;
      b.repeat = prev.repeat;
    }
    put(b);
    st.manualBans++;
    emitBan(b);
    return ok(info(b));
  }

  function unban(target: string): boolean {
    const t = parseTarget(target);
    if (t === undefined) return false;
    if (t.kind === 'address') {
      history.delete(t.key);
      sources.delete(t.key);
      const b = single.get(t.key);
      if (!b) return false;
      remove(b, 'manual');
      return true;
    }
    const r = ranges.find((x) => x.target === t.text);
    if (!r) return false;
    remove(r, 'manual');
    return true;
  }

  function flush(): number {
    const all = [...single.values(), ...ranges];
    for (const b of all) remove(b, 'flush');
    sources.clear();
    users.clear();
    history.clear();
    return all.length;
  }

  function sweep(): number {
    const now = clock.now();
    let n = 0;
    for (const b of [...single.values(), ...ranges]) {
      if (b.expiresAt > now) continue;
      remove(b, 'expired');
      n++;
    }
    for (const [k, s] of [...sources.entries()]) if (now - s.last >= findTimeMs) sources.delete(k);
    for (const [k, s] of [...users.entries()]) if (now - s.last >= findTimeMs) users.delete(k);
    for (const [k, h] of [...history.entries()]) if (now - h.until >= repeatDecayMs) history.delete(k);
    return n;
  }

  function restore(entries: readonly BanInfo[]): number {
    const now = clock.now();
    const off = wallOffset();
    let n = 0;
    for (const e of entries) {
      const t = parseTarget(e.target);
      if (t === undefined || t.kind !== e.kind) continue;
      const expiresAt = e.expiresAt === null ? Number.POSITIVE_INFINITY : e.expiresAt - off;
      if (!(expiresAt > now)) continue;
      if (t.kind === 'address' && allow.has(t.key)) continue;
      if (t.kind === 'cidr' && ranges.length >= maxRangeBans) continue;
      const b = newBan(t, e.reason.slice(0, MAX_REASON_CHARS), e.source, e.bannedAt - off, expiresAt);
      b.firstOffenceAt = e.firstOffenceAt === null ? null : e.firstOffenceAt - off;
      b.lastOffenceAt = e.lastOffenceAt === null ? null : e.lastOffenceAt - off;
      b.count = e.count;
      b.repeat = e.repeat;
      if (t.kind === 'address' && e.source === 'auto') history.set(t.key, { repeat: e.repeat, until: expiresAt });
      put(b);
      n++;
    }
    return n;
  }

  let timer: TimerHandle | undefined;
  const arm = (): void => {
    timer = clock.setTimer(sweepIntervalMs, () => {
      sweep();
      arm();
    });
  };
  if (sweepIntervalMs > 0) arm();

  return {
    offence,
    isBanned,
    ban,
    unban,
    flush,
    sweep,
    restore,
    list: () => {
      sweep();
      const off = wallOffset();
      return [...single.values(), ...ranges].map((b) => info(b, off));
    },
    strikes: (address, user) => {
      const addr = unmapIPv4(address);
      const win = user === undefined ? sources.get(addr) : users.get(`${addr}\n${user.slice(0, MAX_USER_CHARS)}`);
      return win === undefined ? 0 : win.sum(clock.now(), findTimeMs);
    },
    stats: () => ({
      ...st,
      bans: single.size + ranges.length,
      rangeBans: ranges.length,
      trackedSources: sources.size,
      trackedUsers: users.size,
      sourceEvictions: sources.evictions,
      userEvictions: users.evictions,
      historyEvictions: history.evictions,
    }),
    close: () => {
      timer?.cancel();
      timer = undefined;
    },
  };
}

/** Dotted-quad IPv4 (optionally `::ffff:`-mapped) → unsigned 32-bit value; -1 otherwise. Allocation-free. */
export function parseIPv4(s: string): number {
  return parseIPv4Between(s, s.length > 7 && s.charCodeAt(0) === 58 && s.startsWith('::ffff:') ? 7 : 0, s.length);
}

function parseIPv4Between(s: string, from: number, end: number): number {
  let i = from;
  let v = 0;
  for (let part = 0; part < 4; part++) {
    let n = 0;
    let digits = 0;
    for (; i < end; i++) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
      if (++digits > 3) return -1;
    }
    if (digits === 0 || n > 255) return -1;
    v = v * 256 + n;
    if (part < 3) {
      if (s.charCodeAt(i) !== 46) return -1;
      i++;
    }
  }
  return i === end ? v : -1;
}

const SCRATCH = new Uint16Array(8);
const SCRATCH_TAIL = new Uint16Array(8);

function hexNibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function isMappedHextets(h: Uint16Array): boolean {
  return h[0] === 0 && h[1] === 0 && h[2] === 0 && h[3] === 0 && h[4] === 0 && h[5] === 0xffff;
}

/**
 * IPv6 text (RFC 4291 §2.2: `::` compression, an IPv4 tail, a `%zone` ignored) → 8 hextets in `out`.
 * Returns false for anything else. Allocation-free, so the gate can match IPv6 range bans per packet.
 */
export function parseIPv6Into(s: string, out: Uint16Array): boolean {
  let end = s.indexOf('%');
  if (end === -1) end = s.length;
  if (end < 2) return false;
  let head = 0;
  let tail = 0;
  let compressed = false;
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false;
    compressed = true;
    i = 2;
  }
  while (i < end) {
    let v = 0;
    let j = i;
    for (; j < end && j - i <= 4; j++) {
      const h = hexNibble(s.charCodeAt(j));
      if (h < 0) break;
      v = v * 16 + h;
    }
    if (j < end && s.charCodeAt(j) === 46) {
      const v4 = parseIPv4Between(s, i, end);
      if (v4 < 0 || head + tail > 6) return false;
      if (compressed) {
        SCRATCH_TAIL[tail++] = v4 >>> 16;
        SCRATCH_TAIL[tail++] = v4 & 0xffff;
      } else {
        out[head++] = v4 >>> 16;
        out[head++] = v4 & 0xffff;
      }
      i = end;
      break;
    }
    if (j === i || j - i > 4 || head + tail >= 8) return false;
    if (compressed) SCRATCH_TAIL[tail++] = v;
    else out[head++] = v;
    if (j === end) {
      i = end;
      break;
    }
    if (s.charCodeAt(j) !== 58 || j + 1 === end) return false;
    j++;
    if (s.charCodeAt(j) === 58) {
      if (compressed) return false;
      compressed = true;
      j++;
    }
    i = j;
  }
  if (!compressed) return head === 8;
  if (head + tail > 7) return false;
  for (let k = head; k < 8 - tail; k++) out[k] = 0;
  for (let k = 0; k < tail; k++) out[8 - tail + k] = SCRATCH_TAIL[k] as number;
  return true;
}

/** RFC 5952 §4 text of a 128-bit address: lower-case, no leading zeros, longest zero run (≥ 2) as `::`. */
export function formatIPv6(v: bigint): string {
  const h: number[] = [];
  for (let i = 7; i >= 0; i--) h.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (h[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && h[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (best === -1) return hex(h);
  return `${hex(h.slice(0, best))}::${hex(h.slice(best + bestLen))}`;
}

function formatIPv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

const V4_MAPPED_PREFIX = 0xffffn << 32n;
const V4_MAPPED_MASK = ((1n << 128n) - 1n) ^ 0xffffffffn;

/** Address or CIDR text → canonical ban target; IPv4-mapped IPv6 becomes IPv4; host bits of a range are cleared. */
export function parseTarget(text: string): Target | undefined {
  const s = text.trim();
  if (s.length === 0 || s.length > 64) return undefined;
  if (!s.includes('/')) {
    const fam = isIP(s);
    if (fam === 0 || s.includes('%')) return undefined;
    const v = addressToBigInt(s);
    if (v === undefined) return undefined;
    if ((v & V4_MAPPED_MASK) === V4_MAPPED_PREFIX) return { kind: 'address', key: formatIPv4(Number(v & 0xffffffffn)), v4: true };
    return { kind: 'address', key: formatIPv6(v), v4: false };
  }
  // cidr.ts reads an empty prefix as /0 (Number('') === 0): a typo must not ban the whole Internet.
  if (!/^[^/]+\/(0|[1-9][0-9]{0,2})$/.test(s)) return undefined;
  const c = parseCidr(s);
  if (c === undefined || s.includes('%')) return undefined;
  let bits = 0;
  for (let m = c.mask; m !== 0n; m = (m << 1n) & ((1n << 128n) - 1n)) bits++;
  const v4 = isIP(s.slice(0, s.indexOf('/'))) === 4 || ((c.base & V4_MAPPED_MASK) === V4_MAPPED_PREFIX && bits >= 96);
  if (bits === 128) return parseTarget(s.slice(0, s.indexOf('/')));
  if (v4) {
    const b4 = Number(c.base & 0xffffffffn);
    const m4 = Number(c.mask & 0xffffffffn);
    return { kind: 'cidr', text: `${formatIPv4(b4)}/${bits - 96}`, v4: true, base: c.base, mask: c.mask, base4: b4, mask4: m4 };
  }
  return { kind: 'cidr', text: `${formatIPv6(c.base)}/${bits}`, v4: false, base: c.base, mask: c.mask, base4: 0, mask4: 0 };
}
