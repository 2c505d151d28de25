/**
 * Offence kinds the pipeline reports against a source, and how many strikes each is worth by default.
 * The ban manager bans a source when the strikes it earned within `findTimeMs` reach `maxRetry`
 * (fail2ban's findtime/maxretry), so a weight reads as "this counts as N failed attempts".
 *
 * Weights are small positive integers (0 = counted for metrics, never towards a ban): the ban manager
 * keeps an exact sliding window with a ring of `maxRetry` entries per key, which is only exact when
 * every counted entry is worth at least one strike.
 */
export type OffenceKind = 'auth_failure' | 'unknown_user' | 'replayed_nonce' | 'malformed' | 'scanner' | 'flood' | 'policy_violation';

export const OFFENCE_KINDS: readonly OffenceKind[] = Object.freeze([
  'auth_failure',
  'unknown_user',
  'replayed_nonce',
  'malformed',
  'scanner',
  'flood',
  'policy_violation',
]);

/**
 * Default strikes per offence, tuned for `maxRetry` around 5:
 * - auth_failure 1: a phone with a stale password retries; it must take several to ban it.
 * - unknown_user 1: svwar enumerates extensions, one miss each; a typo'd extension also misses once.
 * - replayed_nonce 2: a legitimate UA never reuses a nonce with a higher nc out of order twice by chance.
 * - malformed 1: broken stacks exist; garbage in volume still bans.
 * - scanner 5: a SIPVicious/friendly-scanner fingerprint is a tool, not a person — one sighting bans
 *   at the default maxRetry. The gate may report weaker structural rules under `policy_violation` instead.
 * - flood 5: reported by the flood limiter only after sustained refusals, so it is already aggregated.
 * - policy_violation 1: e.g. dialling a forbidden destination; counted, bans only when repeated.
 */
export const DEFAULT_OFFENCE_WEIGHTS: Readonly<Record<OffenceKind, number>> = Object.freeze({
  auth_failure: 1,
  unknown_user: 1,
  replayed_nonce: 2,
  malformed: 1,
  scanner: 5,
  flood: 5,
  policy_violation: 1,
});

export function isOffenceKind(s: string): s is OffenceKind {
  return (OFFENCE_KINDS as readonly string[]).includes(s);
}

/** Merges overrides onto the defaults; rejects weights that are not integers in 0..1000. */
export function resolveOffenceWeights(
  overrides: Partial<Record<OffenceKind, number>> | undefined,
): Readonly<Record<OffenceKind, number>> | undefined {
  const out: Record<OffenceKind, number> = { ...DEFAULT_OFFENCE_WEIGHTS };
  if (overrides) {
    for (const k of OFFENCE_KINDS) {
      const w = overrides[k];
      if (w === undefined) continue;
      if (!Number.isInteger(w) || w < 0 || w > 1000) return undefined;
      out[k] = w;
    }
  }
  return Object.freeze(out);
}
