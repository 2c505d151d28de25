/**
 * Source geography: the country of a source address from a MaxMind-format `.mmdb` (GeoIP2/GeoLite2 Country or City,
 * DB-IP and other files of the same shape), and the pure allow/deny decision on it.
 *
 * Lifecycle: `openGeoIp(path)` reads the whole file into memory (maxmind's Reader); lookups are synchronous and never
 * throw. There is no file watching here: a reload opens a new GeoIp, swaps the one reference the gate reads, then
 * closes the old one (after `close()` the old object answers `undefined` for everything).
 *
 * Input is untrusted: mmdb-lib's own address parser does not validate (a string such as "abc" would silently walk the
 * tree as 0.0.0.0, and an IPv6 address walks an IPv4-only tree as garbage), so every address is checked with
 * node:net `isIP` first, IPv4-mapped IPv6 is unmapped, and the record read from the file is narrowed, not trusted.
 */
import { isIP } from 'node:net';
import { open, type Reader, type Response } from 'maxmind';
import { err, ok, type Result } from '../core/result.ts';

export type GeoIpOpenError = { readonly code: 'GEOIP_OPEN'; readonly reason: string };

export interface GeoIpInfo {
  /** `database_type` from the file's metadata, e.g. `GeoIP2-Country`, `GeoLite2-City`. */
  readonly databaseType: string;
  /** Build time of the file (metadata `build_epoch`), milliseconds since the epoch. */
  readonly builtAtMs: number;
  readonly ipVersion: 4 | 6;
  readonly nodeCount: number;
}

/** Plain counters for the metrics collector. `invalid`: not an IP address; `notFound`: no country in the record. */
export interface GeoIpStats {
  readonly lookups: number;
  readonly found: number;
  readonly notFound: number;
  readonly invalid: number;
  readonly errors: number;
}

export interface GeoIp {
  readonly info: GeoIpInfo;
  /**
   * ISO 3166-1 alpha-2 country (upper case) of `address`: `country.iso_code`, else `registered_country.iso_code`.
   * `undefined` when the address is not an IP address, is not in the database, has no country, or after close().
   * Never throws.
   */
  countryOf(address: string): string | undefined;
  stats(): GeoIpStats;
  /** Drops the in-memory database. Idempotent. */
  close(): void;
}

export interface OpenGeoIpOptions {
  /** Entries in maxmind's decoded-record LRU (bounded; default 10 000, maxmind's own default). */
  readonly cacheSize?: number;
}

/** Longest textual IPv6 address with an IPv4 tail is 45 characters; allow a zone id on top. */
const MAX_ADDRESS_CHARS = 64;

export async function openGeoIp(path: string, opts: OpenGeoIpOptions = {}): Promise<Result<GeoIp, GeoIpOpenError>> {
  let reader: Reader<Response>;
  try {
    reader = await open<Response>(path, { cache: { max: Math.max(1, Math.floor(opts.cacheSize ?? 10_000)) } });
  } catch (e) {
    return err({ code: 'GEOIP_OPEN', reason: describe(e) });
  }
  const m = reader.metadata;
  if (m.ipVersion !== 4 && m.ipVersion !== 6) {
    return err({ code: 'GEOIP_OPEN', reason: `unsupported ip_version ${String(m.ipVersion)}` });
  }
  const info: GeoIpInfo = Object.freeze({
    databaseType: String(m.databaseType),
    builtAtMs: m.buildEpoch instanceof Date ? m.buildEpoch.getTime() : Number.NaN,
    ipVersion: m.ipVersion,
    nodeCount: m.nodeCount,
  });
  return ok(createGeoIp(reader, info));
}

function createGeoIp(initial: Reader<Response>, info: GeoIpInfo): GeoIp {
  let reader: Reader<Response> | undefined = initial;
  const ipv4Only = info.ipVersion === 4;
  let lookups = 0;
  let found = 0;
  let notFound = 0;
  let invalid = 0;
  let errors = 0;

  return {
    info,
    countryOf(address: string): string | undefined {
      lookups++;
      if (reader === undefined) return undefined;
      const ip = normaliseAddress(address);
      if (ip === undefined) {
        invalid++;
        return undefined;
      }
      // An IPv6 key walks an IPv4-only tree as if it were 128 bits of IPv4: wrong answers, not errors.
      if (ipv4Only && ip.includes(':')) {
        notFound++;
        return undefined;
      }
      let record: unknown;
      try {
        record = reader.get(ip);
      } catch {
        // A corrupt data section (pointer out of range, bad type byte) throws from the decoder.
        errors++;
        return undefined;
      }
      const cc = countryOfRecord(record);
      if (cc === undefined) notFound++;
      else found++;
      return cc;
    },
    stats: () => ({ lookups, found, notFound, invalid, errors }),
    close(): void {
      reader = undefined;
    },
  };
}

/**
 * A lookup key, or undefined when `address` is not an IP address. `::ffff:a.b.c.d` (any case, also the long form
 * `0:0:0:0:0:ffff:a.b.c.d`) becomes `a.b.c.d`; an IPv6 zone id (`fe80::1%eth0`) is dropped.
 */
export function normaliseAddress(address: string): string | undefined {
  if (typeof address !== 'string' || address.length === 0 || address.length > MAX_ADDRESS_CHARS) return undefined;
  const family = isIP(address);
  if (family === 4) return address;
  if (family !== 6) return undefined;
  const pct = address.indexOf('%');
  const a = pct === -1 ? address : address.slice(0, pct);
  const lastColon = a.lastIndexOf(':');
  const tail = a.slice(lastColon + 1);
  if (tail.includes('.') && isIP(tail) === 4 && isMappedPrefix(a.slice(0, lastColon).toLowerCase())) return tail;
  return a;
}

function isMappedPrefix(p: string): boolean {
  return p === '::ffff' || /^(?:0{1,4}:){5}ffff$/.test(p) || /^(?:0{1,4}:){1,4}:ffff$/.test(p) || /^::(?:0{1,4}:){1,4}ffff$/.test(p);
}

/** `country.iso_code`, else `registered_country.iso_code`; a string `country` (IPinfo-style files) is accepted too. */
function countryOfRecord(record: unknown): string | undefined {
  if (typeof record !== 'object' || record === null) return undefined;
  const r = record as { country?: unknown; registered_country?: unknown };
  return isoCode(r.country) ?? isoCode(r.registered_country);
}

function isoCode(block: unknown): string | undefined {
  const code =
    typeof block === 'string'
      ? block
      : typeof block === 'object' && block !== null
        ? (block as { iso_code?: unknown }).iso_code
        : undefined;
  if (typeof code !== 'string' || code.length !== 2) return undefined;
  const up = code.toUpperCase();
  return /^[A-Z]{2}$/.test(up) ? up : undefined;
}

function describe(e: unknown): string {
  const s = e instanceof Error ? e.message : String(e);
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

export interface GeoRule {
  /** When present, only these countries are allowed (an empty list allows no known country). */
  readonly allow?: readonly string[] | undefined;
  /** Always refused; wins over `allow`. */
  readonly deny?: readonly string[] | undefined;
  /** What an unknown country (lookup failed, not in the database, no database) gets. */
  readonly onUnknown: 'open' | 'closed';
}

/**
 * Pure: deny wins; an allow list admits only its countries; an unknown country follows `onUnknown`.
 * Countries are compared exactly (ISO 3166-1 alpha-2, upper case, as countryOf returns and the schema enforces).
 */
export function geoDecision(country: string | undefined, rule: GeoRule): 'allow' | 'deny' {
  if (country === undefined) return rule.onUnknown === 'open' ? 'allow' : 'deny';
  if (rule.deny?.includes(country)) return 'deny';
  if (rule.allow !== undefined && !rule.allow.includes(country)) return 'deny';
  return 'allow';
}
