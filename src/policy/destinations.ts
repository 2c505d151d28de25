/**
 * Destination rules: what may be dialled at all, whoever dials it.
 *
 * A rule matches by E.164 prefix, by country, by number type or by country and type. Specificity decides, never the
 * order in the file: the longest matching prefix wins; without a prefix match, country+type beats type beats country.
 * Operator rules win ties with the built-in list, so `+88216 allow` re-opens Thuraya while the rest of +882 stays
 * closed.
 *
 * The built-in deny list exists because International Revenue Share Fraud (IRSF) numbers do not look premium:
 * libphonenumber classes them as MOBILE, FIXED_LINE or VOIP, so a type rule alone never catches them. An attacker
 * who has a PBX password rents such numbers from a "premium number provider", who shares the high termination rate
 * with him; the victim's bill comes a month later (CFCA Global Fraud Loss Survey ranks IRSF first; GSMA FF.21
 * "Fraud Manual" and the GSMA "hot number" database track the ranges; the Pacific and African codes below recur on
 * every published IRSF test-number list).
 */
import type { Classification, DialledType } from './number.ts';

export type DestinationAction = 'allow' | 'deny' | 'alert';

export interface DestinationRule {
  /** E.164 prefix, digits with or without a leading +. */
  readonly prefix?: string | undefined;
  readonly country?: string | undefined;
  readonly type?: DialledType | undefined;
  readonly action: DestinationAction;
  /** Shown in alerts and the audit log (never to the caller unless the policy's reason text says so). */
  readonly why?: string | undefined;
}

export interface BuiltinDestination {
  readonly prefix: string;
  readonly action: DestinationAction;
  readonly why: string;
}

const SAT = 'satellite / global service: termination rates of several USD a minute, ranges resold for IRSF';
const IRSF = 'small network, high termination rate; recurring on published IRSF test-number lists';
const WANGIRI = "NANP Caribbean code named in the FCC 'One Ring' scam guide: looks domestic (+1) but is billed international";

export const BUILTIN_FRAUD_DESTINATIONS: readonly BuiltinDestination[] = [
  // ITU-T E.164 global services (non-geographic codes; see ITU "List of ITU-T Recommendation E.164 assigned codes").
  { prefix: '870', action: 'deny', why: `Inmarsat SNAC: ${SAT}` },
  { prefix: '881', action: 'deny', why: `GMSS (Iridium, Globalstar…): ${SAT}` },
  { prefix: '882', action: 'deny', why: `International Networks (Thuraya, Emsat…): ${SAT}` },
  { prefix: '883', action: 'deny', why: `International Networks: ${SAT}` },
  { prefix: '979', action: 'deny', why: 'International Premium Rate Service (ITU-T E.169.2): revenue share by design' },
  { prefix: '808', action: 'deny', why: 'International Shared Cost Service (ITU-T E.169.3): caller pays' },
  // Pacific.
  { prefix: '674', action: 'deny', why: `Nauru: ${IRSF}` },
  { prefix: '675', action: 'deny', why: `Papua New Guinea: ${IRSF}` },
  { prefix: '677', action: 'deny', why: `Solomon Islands: ${IRSF}` },
  { prefix: '678', action: 'deny', why: `Vanuatu: ${IRSF}` },
  { prefix: '682', action: 'deny', why: `Cook Islands: ${IRSF}` },
  { prefix: '683', action: 'deny', why: `Niue: ${IRSF}` },
  { prefix: '686', action: 'deny', why: `Kiribati: ${IRSF}` },
  { prefix: '688', action: 'deny', why: `Tuvalu: ${IRSF}` },
  { prefix: '690', action: 'deny', why: `Tokelau: ${IRSF}` },
  { prefix: '672', action: 'deny', why: `Australian External Territories / Antarctica: ${IRSF}` },
  // Africa and the Atlantic.
  { prefix: '220', action: 'deny', why: `Gambia: ${IRSF}` },
  { prefix: '224', action: 'deny', why: `Guinea: ${IRSF}` },
  { prefix: '231', action: 'deny', why: `Liberia: ${IRSF}` },
  { prefix: '232', action: 'deny', why: `Sierra Leone: ${IRSF}` },
  { prefix: '239', action: 'deny', why: `São Tomé and Príncipe: ${IRSF}` },
  { prefix: '246', action: 'deny', why: `Diego Garcia: ${IRSF}` },
  { prefix: '247', action: 'deny', why: `Ascension: ${IRSF}` },
  { prefix: '252', action: 'deny', why: `Somalia: ${IRSF}` },
  { prefix: '269', action: 'deny', why: `Comoros: ${IRSF}` },
  { prefix: '290', action: 'deny', why: `Saint Helena: ${IRSF}` },
  { prefix: '500', action: 'deny', why: `Falkland Islands: ${IRSF}` },
  { prefix: '53', action: 'deny', why: `Cuba: ${IRSF}` },
  // Caribbean NANP codes: alert only — real traffic exists, but a burst of them is the wangiri signature.
  { prefix: '1268', action: 'alert', why: `Antigua and Barbuda: ${WANGIRI}` },
  { prefix: '1284', action: 'alert', why: `British Virgin Islands: ${WANGIRI}` },
  { prefix: '1473', action: 'alert', why: `Grenada: ${WANGIRI}` },
  { prefix: '1649', action: 'alert', why: `Turks and Caicos: ${WANGIRI}` },
  { prefix: '1664', action: 'alert', why: `Montserrat: ${WANGIRI}` },
  { prefix: '1767', action: 'alert', why: `Dominica: ${WANGIRI}` },
  { prefix: '1809', action: 'alert', why: `Dominican Republic: ${WANGIRI}` },
  { prefix: '1829', action: 'alert', why: `Dominican Republic: ${WANGIRI}` },
  { prefix: '1849', action: 'alert', why: `Dominican Republic: ${WANGIRI}` },
  { prefix: '1876', action: 'alert', why: `Jamaica: ${WANGIRI}` },
];

export interface CompiledRule {
  readonly action: DestinationAction;
  /** Stable name for metrics and the audit log: "prefix:+882", "country:CU", "type:PREMIUM_RATE", "builtin:+53". */
  readonly name: string;
  readonly why: string;
}

export interface DestinationTable {
  readonly byPrefix: ReadonlyMap<string, CompiledRule>;
  readonly byCountryType: ReadonlyMap<string, CompiledRule>;
  readonly byType: ReadonlyMap<string, CompiledRule>;
  readonly byCountry: ReadonlyMap<string, CompiledRule>;
  readonly longestPrefix: number;
}

export function normalisePrefix(p: string): string {
  return p.replace(/^\+/, '');
}

/** Builds the lookup table once per policy snapshot; later rules with the same key replace earlier ones. */
export function compileDestinations(rules: readonly DestinationRule[], builtin: boolean): DestinationTable {
  const byPrefix = new Map<string, CompiledRule>();
  const byCountryType = new Map<string, CompiledRule>();
  const byType = new Map<string, CompiledRule>();
  const byCountry = new Map<string, CompiledRule>();
  if (builtin) {
    for (const b of BUILTIN_FRAUD_DESTINATIONS) byPrefix.set(b.prefix, { action: b.action, name: `builtin:+${b.prefix}`, why: b.why });
  }
  for (const r of rules) {
    const why = r.why ?? '';
    if (r.prefix !== undefined) {
      const p = normalisePrefix(r.prefix);
      byPrefix.set(p, { action: r.action, name: `prefix:+${p}`, why });
    } else if (r.country !== undefined && r.type !== undefined) {
      byCountryType.set(`${r.country}/${r.type}`, { action: r.action, name: `country_type:${r.country}/${r.type}`, why });
    } else if (r.type !== undefined) {
      byType.set(r.type, { action: r.action, name: `type:${r.type}`, why });
    } else if (r.country !== undefined) {
      byCountry.set(r.country, { action: r.action, name: `country:${r.country}`, why });
    }
  }
  let longestPrefix = 0;
  for (const k of byPrefix.keys()) longestPrefix = Math.max(longestPrefix, k.length);
  return { byPrefix, byCountryType, byType, byCountry, longestPrefix };
}

/** The most specific rule for a classified number, or undefined when none matches (internal, emergency, invalid). */
export function matchDestination(table: DestinationTable, c: Classification): CompiledRule | undefined {
  if (c.e164 === undefined) return undefined;
  const digits = normalisePrefix(c.e164);
  // Longest-prefix match: at most 15 map probes (E.164 length), no trie needed at this size.
  for (let len = Math.min(table.longestPrefix, digits.length); len > 0; len--) {
    const hit = table.byPrefix.get(digits.slice(0, len));
    if (hit !== undefined) return hit;
  }
  if (c.country !== undefined) {
    const ct = table.byCountryType.get(`${c.country}/${c.type}`);
    if (ct !== undefined) return ct;
  }
  const t = table.byType.get(c.type);
  if (t !== undefined) return t;
  return c.country === undefined ? undefined : table.byCountry.get(c.country);
}
