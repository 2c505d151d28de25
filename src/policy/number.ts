/**
 * Normalising the dialled number (the Request-URI or To user part) into E.164 and a call class.
 *
 * Phones send whatever the user typed: `sip:0044 20 7946 0000@pbx`, `tel:+1-201-555-0123;phone-context=…`,
 * `sip:%2B4420…@pbx;user=phone`, `011 44 …` from a US handset, `0114 496 0000` (Sheffield — not an international
 * prefix in GB!). libphonenumber-js (max metadata) knows each region's international (IDD) and national prefixes and
 * the number type of each range (PREMIUM_RATE, SHARED_COST, …), so dialling plans are never hand-written here.
 *
 * Emergency numbers and short internal extensions are recognised first: they are not E.164 (112 parsed against GB
 * would become "+44112"). Never throws; input is cut at MAX_DIALLED_CHARS before any work.
 */
import { type CountryCode, getCountryCallingCode, type NumberType, parsePhoneNumberFromString } from 'libphonenumber-js/max';

/** ITU-T E.164 §6: at most 15 digits; the rest of the bound leaves room for separators and a visual prefix. */
export const MAX_DIALLED_CHARS = 64;

/** What a number type means to rights and limits. `emergency` is always allowed; `invalid` cannot be routed. */
export type CallClass = 'internal' | 'emergency' | 'national' | 'mobile' | 'international' | 'premium' | 'invalid';

export const RIGHTS_CLASSES = ['internal', 'national', 'mobile', 'international', 'premium'] as const;
export type RightsClass = (typeof RIGHTS_CLASSES)[number];

/** libphonenumber's types plus UNKNOWN (a number in a known country whose range is not classified). */
export type DialledType = NonNullable<NumberType> | 'UNKNOWN';

export const NUMBER_TYPES = [
  'PREMIUM_RATE',
  'SHARED_COST',
  'PERSONAL_NUMBER',
  'UAN',
  'VOIP',
  'TOLL_FREE',
  'MOBILE',
  'FIXED_LINE',
  'FIXED_LINE_OR_MOBILE',
  'PAGER',
  'VOICEMAIL',
  'UNKNOWN',
] as const satisfies readonly DialledType[];

export interface Classification {
  /** The user part as received (cut to the bound). */
  readonly raw: string;
  /** Digits (and a leading +, *, #) after removing visual separators. */
  readonly digits: string;
  readonly callClass: CallClass;
  /** +CC… for external numbers that parsed. */
  readonly e164?: string;
  /** ISO 3166-1 alpha-2; absent for non-geographic codes (+881, +882, +883, +979, +800…). */
  readonly country?: string;
  /** Country calling code without + ("44", "882"). */
  readonly callingCode?: string;
  readonly type: DialledType;
  /** Whether libphonenumber considers the number valid (a known, allocated range). */
  readonly valid: boolean;
}

export interface NumberPlan {
  /** Region for national formats (per user, group or trunk; ISO alpha-2). */
  readonly defaultRegion: string | undefined;
  /** Internal extensions. */
  readonly internal: RegExp;
  /** Emergency numbers per region; `*` applies everywhere. */
  readonly emergency: Readonly<Record<string, readonly string[]>>;
  /** Number types that count as premium (rights class `premium`). */
  readonly premiumTypes: ReadonlySet<DialledType>;
}

export const DEFAULT_INTERNAL_PATTERN = '^[*#]?[0-9]{2,6}$';
export const DEFAULT_EMERGENCY: Readonly<Record<string, readonly string[]>> = {
  '*': ['112'],
  GB: ['999', '112'],
  US: ['911'],
  CA: ['911'],
  DE: ['110', '112'],
  FR: ['15', '17', '18', '112', '114', '115', '119', '196', '197'],
};
export const DEFAULT_PREMIUM_TYPES: readonly DialledType[] = ['PREMIUM_RATE', 'SHARED_COST', 'PERSONAL_NUMBER'];

/** The user part of a sip:/sips:/tel: URI, or the input itself when it is not a URI. Never throws. */
export function extractUserPart(input: string): string {
  let s = input.length > MAX_DIALLED_CHARS * 4 ? input.slice(0, MAX_DIALLED_CHARS * 4) : input;
  s = s.trim();
  // name-addr: take what is between < and >.
  const lt = s.indexOf('<');
  if (lt >= 0) {
    const gt = s.indexOf('>', lt + 1);
    s = s.slice(lt + 1, gt < 0 ? undefined : gt);
  }
  const lower = s.slice(0, 5).toLowerCase();
  if (lower.startsWith('tel:')) {
    s = s.slice(4);
    const semi = s.indexOf(';'); // RFC 3966 §3: tel params (phone-context, isub, ext) follow ';'
    if (semi >= 0) s = s.slice(0, semi);
  } else if (lower.startsWith('sip:') || lower.startsWith('sips:')) {
    s = s.slice(lower.startsWith('sips:') ? 5 : 4);
    const at = s.indexOf('@');
    if (at < 0) return ''; // sip:host without a user part dials nothing
    s = s.slice(0, at);
    const semi = s.indexOf(';'); // RFC 3261 §19.1.6: user=phone user parts may carry tel params
    if (semi >= 0) s = s.slice(0, semi);
    const colon = s.indexOf(':'); // user:password
    if (colon >= 0) s = s.slice(0, colon);
  }
  if (s.includes('%')) {
    try {
      s = decodeURIComponent(s);
    } catch {
      return s; // a broken escape stays as is and will classify as invalid
    }
  }
  return s.length > MAX_DIALLED_CHARS ? s.slice(0, MAX_DIALLED_CHARS) : s;
}

/** RFC 3966 §5.1.1 visual separators, plus space and the slash some phones insert. */
const VISUAL = /[\s\-.()/\u00a0]/g;
const DIALABLE = /^\+?[0-9*#]+$/;
/** A user part that is a name: starts with a letter, then letters, digits and . _ - only. */
const NAMED = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;

function invalid(raw: string, digits: string): Classification {
  return { raw, digits, callClass: 'invalid', type: 'UNKNOWN', valid: false };
}

/** Classifies a dialled number (a URI or a bare user part) under a numbering plan. Never throws. */
export function classifyDialled(input: string, plan: NumberPlan): Classification {
  const raw = extractUserPart(typeof input === 'string' ? input : '');
  const digits = raw.replace(VISUAL, '');
  // A name (sip:alice@…, sip:reception@…) is URI dialling to someone the PBX knows, not a number it could route to
  // the PSTN: internal. Only a leading letter counts — "9011abc" is a mangled number and stays invalid.
  if (NAMED.test(raw)) return { raw, digits: '', callClass: 'internal', type: 'UNKNOWN', valid: true };
  if (digits.length === 0 || digits.length > 20 || !DIALABLE.test(digits)) return invalid(raw, digits);
  if (isEmergency(digits, plan)) return { raw, digits, callClass: 'emergency', type: 'UNKNOWN', valid: true };
  if (!digits.startsWith('+') && plan.internal.test(digits)) {
    return { raw, digits, callClass: 'internal', type: 'UNKNOWN', valid: true };
  }
  if (digits.includes('*') || digits.includes('#')) return invalid(raw, digits);
  let text = digits;
  const region = plan.defaultRegion !== undefined && /^[A-Z]{2}$/.test(plan.defaultRegion) ? plan.defaultRegion : undefined;
  // Without a region libphonenumber cannot know the IDD: accept the two common ones (ITU-T E.164 recommends 00;
  // NANP uses 011). With a region its own IDD is used — in GB 011x is a national area code.
  if (region === undefined && !text.startsWith('+')) {
    if (text.startsWith('00')) text = `+${text.slice(2)}`;
    else if (text.startsWith('011')) text = `+${text.slice(3)}`;
    else return invalid(raw, digits);
  }
  let parsed: ReturnType<typeof parsePhoneNumberFromString>;
  try {
    parsed = region === undefined ? parsePhoneNumberFromString(text) : parsePhoneNumberFromString(text, region as CountryCode);
  } catch {
    return invalid(raw, digits);
  }
  if (parsed === undefined || !parsed.isPossible()) return invalid(raw, digits);
  const valid = parsed.isValid();
  const type: DialledType = (valid ? parsed.getType() : undefined) ?? 'UNKNOWN';
  const country = parsed.country;
  const callingCode = String(parsed.countryCallingCode);
  let callClass: CallClass;
  if (plan.premiumTypes.has(type)) callClass = 'premium';
  // NANP shares +1 between 25 countries: +1 876 (Jamaica) from the US is international (and billed so), so the
  // comparison is on the ISO country, never on the calling code. Non-geographic codes have no country.
  // A possible number in an unallocated (or unclassified) range has no country: it is national when it carries the
  // home calling code, and destination rules can still act on its type UNKNOWN.
  else if (region === undefined) callClass = 'international';
  else if (country === undefined) callClass = !valid && callingCode === homeCallingCode(region) ? 'national' : 'international';
  else if (country !== region) callClass = 'international';
  else if (type === 'MOBILE') callClass = 'mobile';
  else callClass = 'national';
  const base = { raw, digits, callClass, e164: String(parsed.number), callingCode, type, valid };
  return country === undefined ? base : { ...base, country };
}

function isEmergency(digits: string, plan: NumberPlan): boolean {
  const everywhere = plan.emergency['*'];
  if (everywhere?.includes(digits)) return true;
  if (plan.defaultRegion === undefined) return false;
  return plan.emergency[plan.defaultRegion]?.includes(digits) ?? false;
}

function homeCallingCode(region: string): string | undefined {
  try {
    return getCountryCallingCode(region as CountryCode);
  } catch {
    return undefined; // not a region libphonenumber knows (the schema restricts regions, this is defence in depth)
  }
}
