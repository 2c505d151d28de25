/**
 * The gate: what every datagram, frame and connection passes before a byte of it is parsed (DESIGN step 2).
 * Cheapest first: ban lookup (a Map), deny/allow CIDRs, then the per-source flood buckets, whose request class
 * comes from the first token of the start line (no parsing). Floods die here; nothing in this path allocates
 * beyond what the limiter needs for a source it has not seen before.
 */
import { type AddressSet, sourceKey } from './cidr.ts';
import type { FloodLimiter, RequestClass } from './rate-limit.ts';

export type GateDropReason = 'banned' | 'denied' | 'not_allowed' | 'flood' | 'global_flood';

export interface GateCounters {
  banned: number;
  denied: number;
  not_allowed: number;
  flood: number;
  global_flood: number;
}

export interface GateOptions {
  readonly isBanned: (address: string) => boolean;
  /** Current access lists (swapped on reload). */
  readonly access: () => { readonly allow: AddressSet & { readonly size: number }; readonly deny: AddressSet };
  /** Undefined: flood limiting off. */
  readonly limiter: () => FloodLimiter | undefined;
}

export class Gate {
  readonly counters: GateCounters = { banned: 0, denied: 0, not_allowed: 0, flood: 0, global_flood: 0 };
  private readonly o: GateOptions;

  constructor(o: GateOptions) {
    this.o = o;
  }

  /** Per new connection and per datagram/frame: bans and access lists. */
  admitSource(address: string): boolean {
    if (this.o.isBanned(address)) {
      this.counters.banned++;
      return false;
    }
    const access = this.o.access();
    if (access.deny.has(address)) {
      this.counters.denied++;
      return false;
    }
    if (access.allow.size > 0 && !access.allow.has(address)) {
      this.counters.not_allowed++;
      return false;
    }
    return true;
  }

  /** Per message from the public side: the flood buckets. */
  admitMessage(address: string, bytes: Buffer): boolean {
    const limiter = this.o.limiter();
    if (!limiter) return true;
    const r = limiter.take(address.includes(':') ? sourceKey(address) : address, requestClassOf(bytes));
    if (r === 'ok') return true;
    if (r === 'limited') this.counters.flood++;
    else this.counters.global_flood++;
    return false;
  }
}

/** The request class from the first bytes: "INVITE ", "REGISTER ", "OPTIONS "; responses and the rest are "other". */
export function requestClassOf(b: Buffer): RequestClass {
  const c = b[0];
  if (c === 0x49 && b[6] === 0x20 && b.toString('latin1', 0, 6) === 'INVITE') return 'INVITE';
  if (c === 0x52 && b[8] === 0x20 && b.toString('latin1', 0, 8) === 'REGISTER') return 'REGISTER';
  if (c === 0x4f && b[7] === 0x20 && b.toString('latin1', 0, 7) === 'OPTIONS') return 'OPTIONS';
  return 'other';
}
