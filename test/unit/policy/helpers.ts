/** Shared fixtures for the policy tests: a parsed-and-compiled fraud policy from a plain object. */
import { durationSchema } from '../../../src/config/schema.ts';
import type { CompiledFraudPolicy } from '../../../src/policy/decide.ts';
import type { FraudCounterReader } from '../../../src/policy/limits.ts';
import { DEFAULT_EMERGENCY, DEFAULT_INTERNAL_PATTERN, DEFAULT_PREMIUM_TYPES, type NumberPlan } from '../../../src/policy/number.ts';
import { compileFraudPolicy, createFraudSchema, type FraudPolicyConfig } from '../../../src/policy/schema.ts';

export const fraudSchema = createFraudSchema(durationSchema);

export function parseFraud(input: unknown): FraudPolicyConfig {
  return fraudSchema.parse(input);
}

export function compile(input: unknown): CompiledFraudPolicy {
  return compileFraudPolicy(parseFraud(input));
}

export function plan(region: string | undefined): NumberPlan {
  return {
    defaultRegion: region,
    internal: new RegExp(DEFAULT_INTERNAL_PATTERN),
    emergency: DEFAULT_EMERGENCY,
    premiumTypes: new Set(DEFAULT_PREMIUM_TYPES),
  };
}

export const NO_COUNTERS: FraudCounterReader = { get: () => 0 };

/** A reader returning fixed values per key. */
export function fixedCounters(values: Record<string, number>): FraudCounterReader {
  return { get: (key: string) => values[key] ?? 0 };
}

/** 2026-11-30 (a Monday) 10:00 UTC. */
export const MONDAY_10_UTC = Date.UTC(2026, 10, 30, 10, 0, 0);
