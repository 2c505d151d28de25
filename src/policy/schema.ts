/**
 * The `fraud` policy section (zod, strict objects, defaults) and its compilation into the snapshot decideCall reads.
 *
 * Wiring: config/schema.ts must not be imported at runtime from here — it will import this file to add the `fraud`
 * key, and an ESM cycle would leave durationSchema in its temporal dead zone. So the schema is built by a factory
 * that is handed durationSchema: `fraud: createFraudSchema(durationSchema).prefault({})`. Only its type is imported.
 */
import { isSupportedCountry } from 'libphonenumber-js/max';
import { z } from 'zod';
import type { durationSchema as DurationSchema } from '../config/schema.ts';
import type { AnomalyAction, AnomalyRules } from './anomaly.ts';
import type { CompiledFraudPolicy, ReasonKey } from './decide.ts';
import { compileDestinations } from './destinations.ts';
import { DEFAULT_EMERGENCY, DEFAULT_INTERNAL_PATTERN, DEFAULT_PREMIUM_TYPES, NUMBER_TYPES, RIGHTS_CLASSES } from './number.ts';
import { isValidTimeZone, parseHhMm, WEEKDAYS } from './time-window.ts';

/** ISO 3166-1 alpha-2 known to libphonenumber (a typo such as "UK" must fail the load, not silently match nothing). */
const country = z
  .string()
  .refine((s) => /^[A-Z]{2}$/.test(s) && isSupportedCountry(s), { message: 'expected an ISO 3166-1 alpha-2 country such as GB' });
const timeZone = z
  .string()
  .refine((s) => s.length <= 64 && isValidTimeZone(s), { message: 'expected an IANA time zone such as Europe/London' });
const hhmm = z.string().refine((s) => !Number.isNaN(parseHhMm(s)), { message: 'expected HH:MM' });
const callClass = z.enum(RIGHTS_CLASSES);
const numberType = z.enum(NUMBER_TYPES);
const regex = z
  .string()
  .max(256)
  .refine(
    (s) => {
      try {
        new RegExp(s);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'expected a regular expression' },
  );
/** Printable ASCII: reason texts go into a SIP header. */
const reasonText = z.string().regex(/^[\x20-\x7e]{1,100}$/);
const name = z.string().min(1).max(128);

const windowSchema = z.strictObject({
  days: z.array(z.enum(WEEKDAYS)).min(1),
  from: hhmm,
  to: hhmm,
  tz: timeZone,
  /** Classes this window restricts; absent = every external class. */
  classes: z.array(callClass).optional(),
});

const profileSchema = z.strictObject({
  classes: z.array(callClass).optional(),
  countries: z.array(country).optional(),
  denyCountries: z.array(country).optional(),
  defaultRegion: country.optional(),
  windows: z.array(windowSchema).optional(),
  sourceCountries: z.array(country).optional(),
});

const classMinutes = z.partialRecord(callClass, z.number().int().min(0).max(1_000_000));

const destinationSchema = z
  .strictObject({
    prefix: z
      .string()
      .regex(/^\+?[1-9]\d{0,14}$/, { message: 'expected an E.164 prefix such as +4490' })
      .optional(),
    country: country.optional(),
    type: numberType.optional(),
    action: z.enum(['allow', 'deny', 'alert']),
    why: z.string().max(200).optional(),
  })
  .refine((r) => r.prefix !== undefined || r.country !== undefined || r.type !== undefined, {
    message: 'a rule needs prefix, country or type',
  })
  .refine((r) => r.prefix === undefined || (r.country === undefined && r.type === undefined), {
    message: 'prefix cannot be combined with country or type',
  });

export function createFraudSchema(duration: typeof DurationSchema) {
  /** `alert`, `reject`, `{ block_user: 1h }` or `{ ban_source: 1d }`. */
  const action = z.union([
    z.enum(['alert', 'reject']).transform((k): AnomalyAction => ({ kind: k })),
    z.strictObject({ block_user: duration }).transform((o): AnomalyAction => ({ kind: 'block_user', forMs: o.block_user })),
    z.strictObject({ ban_source: duration }).transform((o): AnomalyAction => ({ kind: 'ban_source', forMs: o.ban_source })),
  ]);
  const limitSetSchema = z.strictObject({
    concurrent: z.number().int().min(0).max(1_000_000).optional(),
    callsPerMinute: z.number().int().min(0).max(1_000_000).optional(),
    minutesPerDay: classMinutes.optional(),
    /** Longest single call per class (`all` for the others): BYE to both sides at the limit. */
    maxDuration: z.partialRecord(z.enum([...RIGHTS_CLASSES, 'all']), duration).optional(),
  });
  return z.strictObject({
    enabled: z.boolean().default(true),
    /** Region for national formats when neither user, group nor trunk sets one. */
    defaultRegion: country.optional(),
    internal: z.strictObject({ pattern: regex.default(DEFAULT_INTERNAL_PATTERN) }).prefault({}),
    /** Always allowed. Replaces the built-in table when given; `*` applies to every region. */
    emergency: z
      .record(z.union([country, z.literal('*')]), z.array(z.string().regex(/^[0-9]{2,6}$/)))
      .default(() => structuredClone(DEFAULT_EMERGENCY) as Record<string, string[]>),
    premiumTypes: z.array(numberType).default([...DEFAULT_PREMIUM_TYPES]),
    invalidNumbers: z.enum(['deny', 'allow']).default('deny'),
    /** The IRSF destination list in destinations.ts (satellite, +979, Pacific/African ranges); rules override it. */
    builtinDenyList: z.boolean().default(true),
    destinations: z.array(destinationSchema).max(10_000).default([]),
    defaults: profileSchema.prefault({ classes: ['internal', 'national', 'mobile'] }),
    users: z.record(name, profileSchema).default({}),
    groups: z.record(name, profileSchema).default({}),
    trunks: z.record(name, profileSchema).default({}),
    limits: z
      .strictObject({
        user: limitSetSchema.prefault({ concurrent: 4, callsPerMinute: 10, minutesPerDay: { international: 240, premium: 0 } }),
        trunk: limitSetSchema.prefault({ concurrent: 60, callsPerMinute: 120 }),
        global: z.strictObject({ concurrent: z.number().int().min(0).optional(), minutesPerDay: classMinutes.optional() }).prefault({}),
        users: z.record(name, limitSetSchema).default({}),
        trunks: z.record(name, limitSetSchema).default({}),
        groups: z.record(name, limitSetSchema).default({}),
      })
      .prefault({}),
    anomaly: z
      .strictObject({
        maxSubjects: z.number().int().min(10).max(10_000_000).default(10_000),
        sequential: z
          .strictObject({
            enabled: z.boolean().default(true),
            window: duration.prefault('10m'),
            minNumbers: z.number().int().min(2).max(256).default(5),
            varyingDigits: z.number().int().min(1).max(8).default(3),
            action: action.prefault({ block_user: '1h' }),
          })
          .prefault({}),
        shortCalls: z
          .strictObject({
            enabled: z.boolean().default(true),
            window: duration.prefault('10m'),
            shorterThan: duration.prefault('8s'),
            minCalls: z.number().int().min(2).max(256).default(10),
            action: action.prefault('alert'),
          })
          .prefault({}),
        baseline: z
          .strictObject({
            enabled: z.boolean().default(true),
            factor: z.number().min(1).max(1000).default(5),
            minCalls: z.number().int().min(1).max(100_000).default(20),
            alpha: z.number().gt(0).max(1).default(0.3),
            warmupWeeks: z.number().int().min(1).max(52).default(2),
            tz: timeZone.default('UTC'),
            action: action.prefault('alert'),
          })
          .prefault({}),
        unusualHours: z
          .strictObject({
            enabled: z.boolean().default(true),
            minHistory: z.number().int().min(1).max(100_000).default(30),
            minShare: z.number().min(0).max(1).default(0.02),
            tz: timeZone.default('UTC'),
            action: action.prefault('alert'),
          })
          .prefault({}),
      })
      .prefault({}),
    /** Source geography (GeoIP): checked before authentication for global and per-listener rules. */
    geo: z
      .strictObject({
        /** MaxMind-format (.mmdb) country database; relative to node.dataDir. Needed by every geo rule. */
        database: z.string().min(1).optional(),
        /** When the source is not in the database (or it cannot be read): let it through, or refuse it. */
        onLookupFailure: z.enum(['open', 'closed']).default('open'),
        allow: z.array(country).optional(),
        deny: z.array(country).default([]),
        /** Per listener id: on top of the global rule. */
        listeners: z.record(name, z.strictObject({ allow: z.array(country).optional(), deny: z.array(country).default([]) })).default({}),
      })
      .prefault({}),
    reasonHeader: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,64}$/)
      .default('Reason'),
    reasons: z
      .strictObject({
        destination: reasonText.default('Destination not allowed'),
        class: reasonText.default('Call class not allowed'),
        country: reasonText.default('Country not allowed'),
        hours: reasonText.default('Outside allowed hours'),
        source: reasonText.default('Calls from this location not allowed'),
        limit: reasonText.default('Call limit reached'),
        blocked: reasonText.default('Caller blocked'),
        invalid: reasonText.default('Invalid number'),
        anomaly: reasonText.default('Call refused by fraud rules'),
      } satisfies Record<ReasonKey, unknown>)
      .prefault({}),
  });
}

export type FraudSchema = ReturnType<typeof createFraudSchema>;
export type FraudPolicyConfig = z.output<FraudSchema>;

/** The snapshot decideCall reads: compiled once per policy load, then frozen with it. */
export function compileFraudPolicy(p: FraudPolicyConfig): CompiledFraudPolicy {
  return {
    enabled: p.enabled,
    defaultRegion: p.defaultRegion,
    internal: new RegExp(p.internal.pattern),
    emergency: p.emergency,
    premiumTypes: new Set(p.premiumTypes),
    destinations: compileDestinations(p.destinations, p.builtinDenyList),
    rights: { defaults: p.defaults, users: p.users, groups: p.groups, trunks: p.trunks },
    limits: p.limits,
    invalidNumbers: p.invalidNumbers,
    reasonHeader: p.reasonHeader,
    reasons: p.reasons,
  };
}

export function compileAnomalyRules(p: FraudPolicyConfig): AnomalyRules {
  const a = p.anomaly;
  return {
    ...(a.sequential.enabled && {
      sequential: {
        windowMs: a.sequential.window,
        minNumbers: a.sequential.minNumbers,
        varyingDigits: a.sequential.varyingDigits,
        action: a.sequential.action,
      },
    }),
    ...(a.shortCalls.enabled && {
      shortCalls: {
        windowMs: a.shortCalls.window,
        shortMs: a.shortCalls.shorterThan,
        minCalls: a.shortCalls.minCalls,
        action: a.shortCalls.action,
      },
    }),
    ...(a.baseline.enabled && {
      baseline: {
        factor: a.baseline.factor,
        minCalls: a.baseline.minCalls,
        alpha: a.baseline.alpha,
        warmupWeeks: a.baseline.warmupWeeks,
        tz: a.baseline.tz,
        action: a.baseline.action,
      },
    }),
    ...(a.unusualHours.enabled && {
      unusualHours: {
        minHistory: a.unusualHours.minHistory,
        minShare: a.unusualHours.minShare,
        tz: a.unusualHours.tz,
        action: a.unusualHours.action,
      },
    }),
  };
}
