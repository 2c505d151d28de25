import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CALL_RATE_WINDOW_MS,
  checkLimits,
  counterKeys,
  DAY_MS,
  effectiveLimits,
  type LimitsPolicy,
  MemoryFraudCounters,
  readLimitSnapshot,
  recordCallEnd,
  recordCallStart,
} from '../../../src/policy/limits.ts';
import type { Subject } from '../../../src/policy/rights.ts';

const alice: Subject = { kind: 'user', id: 'alice' };
const policy: LimitsPolicy = {
  user: { concurrent: 2, callsPerMinute: 3, minutesPerDay: { international: 10, premium: 0 } },
  trunk: { concurrent: 30 },
  global: { concurrent: 5, minutesPerDay: { international: 15 } },
  users: { boss: { concurrent: 10, minutesPerDay: { international: 600 } } },
  trunks: {},
};

describe('checkLimits (pure, over snapshots)', () => {
  const zero = { subjectConcurrent: 0, globalConcurrent: 0, subjectAttemptsLastMinute: 0, subjectClassMs: 0, globalClassMs: 0 };
  const cases: ReadonlyArray<
    [string, Partial<typeof zero>, 'national' | 'international' | 'premium', string | undefined, number | undefined]
  > = [
    ['idle', {}, 'national', undefined, undefined],
    ['user concurrency reached', { subjectConcurrent: 2 }, 'national', 'concurrent', undefined],
    ['global concurrency reached', { subjectConcurrent: 1, globalConcurrent: 5 }, 'national', 'concurrent_global', undefined],
    ['call rate reached', { subjectAttemptsLastMinute: 3 }, 'national', 'call_rate', undefined],
    ['international budget: 4 of 10 minutes used', { subjectClassMs: 4 * 60_000 }, 'international', undefined, 6 * 60_000],
    ['international budget spent', { subjectClassMs: 10 * 60_000 }, 'international', 'minutes_per_day', 0],
    ['global budget is the tighter one', { subjectClassMs: 60_000, globalClassMs: 14 * 60_000 }, 'international', undefined, 60_000],
    ['global budget spent', { globalClassMs: 15 * 60_000 }, 'international', 'minutes_per_day_global', 0],
    ['premium budget 0 refuses the first call', {}, 'premium', 'minutes_per_day', 0],
  ];
  for (const [name, snap, cls, exceeded, maxMs] of cases) {
    it(name, () => {
      const r = checkLimits(effectiveLimits(policy, alice), policy.global, cls, { ...zero, ...snap });
      assert.equal(r.exceeded, exceeded);
      assert.equal(r.maxDurationMs, maxMs);
    });
  }

  it('per-user overrides merge over the user defaults', () => {
    const l = effectiveLimits(policy, { kind: 'user', id: 'boss' });
    assert.equal(l.concurrent, 10);
    assert.equal(l.callsPerMinute, 3);
    assert.deepEqual(l.minutesPerDay, { international: 600, premium: 0 });
    assert.equal(effectiveLimits(policy, { kind: 'trunk', id: 'x' }).concurrent, 30);
  });
});

describe('MemoryFraudCounters and the record functions', () => {
  it('concurrency goes up at start and down at end; minutes are summed per class over 24 h', () => {
    const c = new MemoryFraudCounters();
    const t0 = 1_800_000_000_000;
    recordCallStart(c, alice, t0);
    recordCallStart(c, alice, t0 + 1000);
    let s = readLimitSnapshot(c, alice, 'international', t0 + 2000);
    assert.equal(s.subjectConcurrent, 2);
    assert.equal(s.globalConcurrent, 2);
    assert.equal(s.subjectAttemptsLastMinute, 2);
    recordCallEnd(c, alice, 'international', 5 * 60_000, t0 + 300_000);
    s = readLimitSnapshot(c, alice, 'international', t0 + 300_000);
    assert.equal(s.subjectConcurrent, 1);
    assert.equal(s.subjectClassMs, 5 * 60_000);
    assert.equal(s.globalClassMs, 5 * 60_000);
    assert.equal(readLimitSnapshot(c, alice, 'national', t0 + 300_000).subjectClassMs, 0);
    // The attempts left the one-minute window; the minutes leave after a day.
    assert.equal(s.subjectAttemptsLastMinute, 0);
    assert.equal(readLimitSnapshot(c, alice, 'international', t0 + 300_000 + DAY_MS).subjectClassMs, 0);
  });

  it('the call-rate window slides', () => {
    const c = new MemoryFraudCounters({ resolutionMs: 1 });
    const key = counterKeys.attempts(alice);
    for (let i = 0; i < 10; i++) c.add(key, 1, i * 10_000); // one every 10 s
    assert.equal(c.get(key, CALL_RATE_WINDOW_MS, 90_000), 6); // (30 s, 90 s]
    assert.equal(c.get(key, CALL_RATE_WINDOW_MS, 200_000), 0);
  });

  it('is bounded in keys (LRU, counted) and in events per key (merged, never under-counted)', () => {
    const c = new MemoryFraudCounters({ maxKeys: 3, maxEventsPerKey: 4, resolutionMs: 1 });
    for (let i = 0; i < 5; i++) c.add(`k${i}`, 1, 0);
    assert.equal(c.size, 3);
    assert.equal(c.evictions, 2);
    assert.equal(c.get('k0', 0, 0), 0);
    for (let i = 0; i < 10; i++) c.add('seq', 1, 1000 + i * 10);
    assert.equal(c.merges, 6);
    assert.equal(c.get('seq', 60_000, 2000), 10);
  });

  it('ignores non-finite input', () => {
    const c = new MemoryFraudCounters();
    c.add('x', Number.NaN, 0);
    c.add('x', 1, Number.POSITIVE_INFINITY);
    assert.equal(c.get('x', 0, 0), 0);
  });
});
