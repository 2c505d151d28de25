/**
 * Rights: which call classes and countries a caller may reach, and when.
 *
 * A caller is a user (digest identity) or a trunk (trusted peer). A user's own entry wins field by field; missing
 * fields come from the union of the user's groups (a member of `sales` and `intl` gets both groups' classes), then
 * from the defaults. A trunk has its own entry or the defaults. Emergency calls never reach this check.
 */
import type { Classification, RightsClass } from './number.ts';
import { isWithinWindows, type TimeWindow } from './time-window.ts';

export interface ScopedWindow extends TimeWindow {
  /** Classes the window restricts; absent = every class except internal and emergency. */
  readonly classes?: readonly RightsClass[] | undefined;
}

export interface RightsProfile {
  readonly classes?: readonly RightsClass[] | undefined;
  /** International and premium calls only to these countries (ISO alpha-2); absent = any country. */
  readonly countries?: readonly string[] | undefined;
  readonly denyCountries?: readonly string[] | undefined;
  /** Region for national number formats. */
  readonly defaultRegion?: string | undefined;
  /** When calls are allowed; absent or empty = always. */
  readonly windows?: readonly ScopedWindow[] | undefined;
  /** Countries the request may come from (geo of the source address); absent = anywhere. */
  readonly sourceCountries?: readonly string[] | undefined;
}

export interface RightsPolicy {
  readonly defaults: RightsProfile;
  readonly users: Readonly<Record<string, RightsProfile>>;
  readonly groups: Readonly<Record<string, RightsProfile>>;
  readonly trunks: Readonly<Record<string, RightsProfile>>;
}

export type Subject =
  | { readonly kind: 'user'; readonly id: string }
  | { readonly kind: 'trunk'; readonly id: string }
  | { readonly kind: 'anonymous'; readonly id: '' };

export interface EffectiveRights {
  readonly subject: Subject;
  readonly classes: ReadonlySet<RightsClass>;
  readonly countries: ReadonlySet<string> | undefined;
  readonly denyCountries: ReadonlySet<string>;
  readonly defaultRegion: string | undefined;
  readonly windows: readonly ScopedWindow[];
  readonly sourceCountries: ReadonlySet<string> | undefined;
}

export interface CallerFacts {
  readonly user?: string | undefined;
  readonly groups?: readonly string[] | undefined;
  readonly trunk?: string | undefined;
}

export function subjectOf(f: CallerFacts): Subject {
  if (f.user !== undefined && f.user !== '') return { kind: 'user', id: f.user };
  if (f.trunk !== undefined && f.trunk !== '') return { kind: 'trunk', id: f.trunk };
  return { kind: 'anonymous', id: '' };
}

function own<T>(rec: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(rec, key) ? rec[key] : undefined;
}

/** Union of the groups' values for one field; undefined when no group sets it, or when one says "any" for lists. */
function mergeGroups(profiles: readonly RightsProfile[]): RightsProfile {
  let classes: RightsClass[] | undefined;
  let countries: string[] | undefined;
  let countriesAny = false;
  let denyCountries: string[] | undefined;
  let windows: ScopedWindow[] | undefined;
  let sourceCountries: string[] | undefined;
  let defaultRegion: string | undefined;
  for (const p of profiles) {
    if (p.classes !== undefined) classes = [...(classes ?? []), ...p.classes];
    if (p.countries !== undefined) countries = [...(countries ?? []), ...p.countries];
    else if (p.classes?.includes('international')) countriesAny = true; // a group granting international to anywhere
    if (p.denyCountries !== undefined) denyCountries = [...(denyCountries ?? []), ...p.denyCountries];
    if (p.windows !== undefined) windows = [...(windows ?? []), ...p.windows];
    if (p.sourceCountries !== undefined) sourceCountries = [...(sourceCountries ?? []), ...p.sourceCountries];
    defaultRegion ??= p.defaultRegion;
  }
  return {
    ...(classes !== undefined && { classes }),
    ...(countries !== undefined && !countriesAny && { countries }),
    ...(denyCountries !== undefined && { denyCountries }),
    ...(windows !== undefined && { windows }),
    ...(sourceCountries !== undefined && { sourceCountries }),
    ...(defaultRegion !== undefined && { defaultRegion }),
  };
}

export function resolveRights(p: RightsPolicy, f: CallerFacts): EffectiveRights {
  const subject = subjectOf(f);
  let layers: RightsProfile[];
  if (subject.kind === 'user') {
    const groups: RightsProfile[] = [];
    for (const g of f.groups ?? []) {
      const gp = own(p.groups, g);
      if (gp !== undefined) groups.push(gp);
    }
    layers = [own(p.users, subject.id) ?? {}, groups.length > 0 ? mergeGroups(groups) : {}, p.defaults];
  } else if (subject.kind === 'trunk') {
    layers = [own(p.trunks, subject.id) ?? {}, p.defaults];
  } else {
    layers = [p.defaults];
  }
  const pick = <K extends keyof RightsProfile>(k: K): RightsProfile[K] | undefined => {
    for (const l of layers) if (l[k] !== undefined) return l[k];
    return undefined;
  };
  const countries = pick('countries');
  const sourceCountries = pick('sourceCountries');
  return {
    subject,
    classes: new Set(pick('classes') ?? []),
    countries: countries === undefined ? undefined : new Set(countries),
    denyCountries: new Set(pick('denyCountries') ?? []),
    defaultRegion: pick('defaultRegion'),
    windows: pick('windows') ?? [],
    sourceCountries: sourceCountries === undefined ? undefined : new Set(sourceCountries),
  };
}

export type RightsDenial = 'class_not_allowed' | 'country_not_allowed' | 'outside_hours' | 'source_country';

/** Checks a classified external or internal call against the caller's rights. Emergency calls are not checked. */
export function checkRights(r: EffectiveRights, c: Classification, wallMs: number, sourceCountry?: string): RightsDenial | undefined {
  const cls = c.callClass;
  if (cls === 'emergency') return undefined;
  if (cls === 'invalid' || !r.classes.has(cls)) return 'class_not_allowed';
  if (cls === 'international' || cls === 'premium') {
    if (c.country !== undefined && r.denyCountries.has(c.country)) return 'country_not_allowed';
    // An allow-list of countries cannot admit a non-geographic code (+882, +979): it has no country.
    if (cls === 'international' && r.countries !== undefined && (c.country === undefined || !r.countries.has(c.country))) {
      return 'country_not_allowed';
    }
  }
  if (cls !== 'internal') {
    if (r.sourceCountries !== undefined && sourceCountry !== undefined && !r.sourceCountries.has(sourceCountry)) return 'source_country';
    const relevant = r.windows.filter((w) => w.classes === undefined || w.classes.includes(cls));
    if (!isWithinWindows(relevant, wallMs)) return 'outside_hours';
  }
  return undefined;
}
