/**
 * CIDR matching for the gate (allow/deny lists). Addresses are compared as 128-bit values so IPv4 and
 * IPv6 share one code path; IPv4 lives in the IPv4-mapped range (::ffff:0:0/96).
 */
import { isIP } from 'node:net';

export interface Cidr {
  readonly base: bigint;
  readonly mask: bigint;
  readonly text: string;
}

const ALL = (1n << 128n) - 1n;
const V4_MAPPED = 0xffffn << 32n;

/** Parses an address to a 128-bit value; undefined when not an IP address. Never throws. */
export function addressToBigInt(addr: string): bigint | undefined {
  const fam = isIP(addr);
  if (fam === 4) {
    let v = 0n;
    for (const part of addr.split('.')) v = (v << 8n) | BigInt(Number(part));
    return V4_MAPPED | v;
  }
  if (fam !== 6) return undefined;
  let a = addr;
  const pct = a.indexOf('%');
  if (pct !== -1) a = a.slice(0, pct);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const lastColon = a.lastIndexOf(':');
  const tail = a.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = addressToBigInt(tail);
    if (v4 === undefined) return undefined;
    const low = v4 & 0xffffffffn;
    a = `${a.slice(0, lastColon + 1)}${(low >> 16n).toString(16)}:${(low & 0xffffn).toString(16)}`;
  }
  const [head, rest] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const fill = rest !== undefined ? 8 - h.length - t.length : 0;
  const parts = [...h, ...Array<string>(Math.max(0, fill)).fill('0'), ...t];
  if (parts.length !== 8) return undefined;
  let v = 0n;
  for (const p of parts) v = (v << 16n) | BigInt(Number.parseInt(p, 16) || 0);
  return v;
}

export function parseCidr(text: string): Cidr | undefined {
  const [addr, bitsText] = text.split('/');
  if (addr === undefined) return undefined;
  const base = addressToBigInt(addr);
  if (base === undefined) return undefined;
  const fam = isIP(addr);
  const maxBits = fam === 4 ? 32 : 128;
  if (bitsText !== undefined && !/^\d{1,3}$/.test(bitsText)) return undefined;
  const bits = bitsText === undefined ? maxBits : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > maxBits) return undefined;
  const prefix = fam === 4 ? 96 + bits : bits;
  const mask = prefix === 0 ? 0n : (ALL << BigInt(128 - prefix)) & ALL;
  return { base: base & mask, mask, text };
}

export class CidrSet {
  private readonly list: Cidr[];

  constructor(cidrs: readonly string[]) {
    this.list = [];
    for (const c of cidrs) {
      const p = parseCidr(c);
      if (p) this.list.push(p);
    }
  }

  get size(): number {
    return this.list.length;
  }

  has(address: string): boolean {
    if (this.list.length === 0) return false;
    const v = addressToBigInt(address);
    if (v === undefined) return false;
    for (const c of this.list) if ((v & c.mask) === c.base) return true;
    return false;
  }
}

/** Anything that answers "is this address in the set" (a CidrSet, or the daemon's live allow list). */
export interface AddressSet {
  has(address: string): boolean;
}

/**
 * The accountable unit of a source: an IPv4 address itself, an IPv6 address's /64 (one subscriber's LAN is a /64;
 * an attacker holding one can rotate through 2^64 addresses, so strikes, flood buckets and automatic bans count
 * the prefix). Returned in the canonical form `2001:db8:1:2::`; non-IPv6 input is returned as is.
 */
export function sourceKey(address: string): string {
  if (!address.includes(':')) return address;
  return fastPrefix64(address) ?? slowSourceKey(address);
}

const HEXTET = /^[0-9a-fA-F]{1,4}$/;

/**
 * The /64 of a plain IPv6 address by string work alone (~5x cheaper than the BigInt path, and this runs per
 * datagram for IPv6 sources at the gate). Undefined for anything unusual (zone ids, embedded IPv4): the slow path
 * decides those.
 */
function fastPrefix64(a: string): string | undefined {
  if (a.includes('.') || a.includes('%')) return undefined;
  const dbl = a.indexOf('::');
  let groups: string[];
  if (dbl === -1) {
    groups = a.split(':');
  } else {
    if (a.indexOf('::', dbl + 1) !== -1) return undefined;
    const left = dbl === 0 ? [] : a.slice(0, dbl).split(':');
    const right = dbl + 2 >= a.length ? [] : a.slice(dbl + 2).split(':');
    const zeros = 8 - left.length - right.length;
    if (zeros < 1) return undefined;
    groups = left.concat(new Array<string>(zeros).fill('0'), right);
  }
  if (groups.length !== 8) return undefined;
  if (/^0{1,4}$/.test(groups[4] as string) && /^ffff$/i.test(groups[5] as string) && groups.slice(0, 4).every((g) => /^0{1,4}$/.test(g))) {
    return undefined; // IPv4-mapped written in hex: the slow path keeps the IPv4 address as the unit
  }
  let out = '';
  for (let i = 0; i < 4; i++) {
    const g = groups[i] as string;
    if (!HEXTET.test(g)) return undefined;
    out += `${Number.parseInt(g, 16).toString(16)}:`;
  }
  for (let i = 4; i < 8; i++) if (!HEXTET.test(groups[i] as string)) return undefined;
  return `${out}:`;
}

/** Exported for the property test that checks the fast path against it. */
export function slowSourceKey(address: string): string {
  const v = addressToBigInt(address);
  if (v === undefined) return address;
  if (v >> 32n === 0xffffn) return address; // IPv4-mapped: the IPv4 address is the unit
  const prefix = v >> 64n;
  const hextets: string[] = [];
  for (let i = 3; i >= 0; i--) hextets.push(((prefix >> BigInt(i * 16)) & 0xffffn).toString(16));
  return `${hextets.join(':')}::`;
}
