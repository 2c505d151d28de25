import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AnomalyEvent, type AnomalyFinding, createAnomalyDetector } from '../../../src/policy/anomaly.ts';
import { compileAnomalyRules } from '../../../src/policy/schema.ts';
import { parseFraud } from './helpers.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Monday 2026-11-02 00:00 UTC. */
const WEEK0 = Date.UTC(2026, 10, 2);

const rules = compileAnomalyRules(
  parseFraud({
    anomaly: {
      sequential: { window: '10m', minNumbers: 5, varyingDigits: 3, action: { block_user: '1h' } },
      shortCalls: { window: '10m', shorterThan: '8s', minCalls: 6, action: 'alert' },
      baseline: { factor: 5, minCalls: 20, warmupWeeks: 2, tz: 'Europe/London', action: 'reject' },
      unusualHours: { minHistory: 30, minShare: 0.02, tz: 'Europe/London', action: { ban_source: '1d' } },
    },
  }),
);

/** Deterministic PRNG (mulberry32) so the "normal" office is the same on every run. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One office worker's day: 2–5 calls an hour 09:00–17:00 UTC to scattered numbers, a few abroad, a few short. */
function normalDay(dayStart: number, rand: () => number, subject = 'user:alice'): AnomalyEvent[] {
  const out: AnomalyEvent[] = [];
  for (let h = 9; h < 17; h++) {
    const n = 2 + Math.floor(rand() * 4);
    for (let i = 0; i < n; i++) {
      const at = dayStart + h * HOUR + Math.floor(((i + rand()) / n) * HOUR);
      const abroad = rand() < 0.15;
      const e164 = abroad
        ? `+331${String(Math.floor(rand() * 1e8)).padStart(8, '0')}`
        : `+4420${String(Math.floor(rand() * 1e8)).padStart(8, '0')}`;
      out.push({ kind: 'attempt', subject, at, callClass: abroad ? 'international' : 'national', e164, source: '198.51.100.7' });
      const durationMs = rand() < 0.1 ? 5000 : 60_000 + Math.floor(rand() * 600_000);
      out.push({ kind: 'end', subject, at: at + durationMs, durationMs, source: '198.51.100.7' });
    }
  }
  return out.sort((a, b) => a.at - b.at);
}

function feed(events: readonly AnomalyEvent[], det = createAnomalyDetector(rules)): { det: typeof det; findings: AnomalyFinding[] } {
  const findings: AnomalyFinding[] = [];
  for (const e of events) findings.push(...det.observe(e));
  return { det, findings };
}

function history(weeks: number, rand: () => number): AnomalyEvent[] {
  const ev: AnomalyEvent[] = [];
  for (let d = 0; d < weeks * 7; d++) {
    const dow = d % 7; // 0 = Monday
    if (dow < 5) ev.push(...normalDay(WEEK0 + d * DAY, rand));
  }
  return ev;
}

describe('anomaly rules: a normal office does not fire', () => {
  it('three weeks of history, then a normal Monday: no finding at all', () => {
    const rand = rng(42);
    const { det, findings } = feed(history(3, rand));
    assert.deepEqual(findings, []);
    const monday = normalDay(WEEK0 + 21 * DAY, rand);
    assert.ok(monday.length > 30);
    assert.deepEqual(feed(monday, det).findings, []);
  });
});

describe('anomaly rules: a scripted attack fires', () => {
  it('sequential dialling of +4490… blocks the user after the 5th number', () => {
    const det = createAnomalyDetector(rules);
    const t0 = WEEK0 + 3 * HOUR; // 03:00 on a Monday
    const found: AnomalyFinding[] = [];
    for (let i = 1; i <= 8; i++) {
      const f = det.observe({
        kind: 'attempt',
        subject: 'user:alice',
        at: t0 + i * 5000,
        callClass: 'premium',
        e164: `+4490900000${i}`,
        source: '203.0.113.9',
      });
      if (i < 5) assert.deepEqual(f, [], `number ${i}`);
      found.push(...f);
    }
    assert.equal(found.length, 1, 'fires once per window, not on every later number');
    assert.equal(found[0]?.rule, 'sequential');
    assert.deepEqual(found[0]?.action, { kind: 'block_user', forMs: HOUR });
    assert.equal(found[0]?.source, '203.0.113.9');
    assert.equal(det.blockedUntil('user:alice', t0 + 60_000), t0 + 5 * 5000 + HOUR);
    assert.equal(det.blockedUntil('user:alice', t0 + 2 * HOUR), undefined);
    assert.equal(det.blockedUntil('user:bob', t0), undefined);
  });

  it('numbers outside the window or in other ranges do not add up', () => {
    const det = createAnomalyDetector(rules);
    const found: AnomalyFinding[] = [];
    for (let i = 1; i <= 8; i++) {
      found.push(
        ...det.observe({ kind: 'attempt', subject: 'user:a', at: i * 11 * 60_000, callClass: 'premium', e164: `+4490900000${i}` }),
      );
      found.push(
        ...det.observe({ kind: 'attempt', subject: 'user:a', at: i * 11 * 60_000 + 1, callClass: 'national', e164: `+44${i}0790000001` }),
      );
    }
    assert.deepEqual(found, []);
  });

  it('a burst of short answered calls alerts; unanswered attempts do not count', () => {
    const det = createAnomalyDetector(rules);
    const t0 = WEEK0;
    for (let i = 0; i < 20; i++) assert.deepEqual(det.observe({ kind: 'end', subject: 'user:a', at: t0 + i * 1000, durationMs: 0 }), []);
    const found: AnomalyFinding[] = [];
    for (let i = 0; i < 6; i++)
      found.push(...det.observe({ kind: 'end', subject: 'user:a', at: t0 + 30_000 + i * 20_000, durationMs: 3000 }));
    assert.equal(found.length, 1);
    assert.equal(found[0]?.rule, 'short_calls');
    assert.equal(found[0]?.action.kind, 'alert');
  });

  it('an hour far above the user’s own baseline is rejected once warm; the same hour in week one is not judged', () => {
    const rand = rng(7);
    const { det } = feed(history(3, rand));
    const monday10 = WEEK0 + 21 * DAY + 10 * HOUR;
    const found: AnomalyFinding[] = [];
    for (let i = 0; i < 40; i++) {
      found.push(
        ...det.observe({
          kind: 'attempt',
          subject: 'user:alice',
          at: monday10 + i * 60_000,
          callClass: 'national',
          e164: `+4420${7000 + i * 137}1234`,
        }),
      );
    }
    assert.equal(found.length, 1);
    assert.equal(found[0]?.rule, 'baseline');
    assert.equal(found[0]?.action.kind, 'reject');
    // A caller with no history: the slot is cold, nothing fires.
    const cold = createAnomalyDetector(rules);
    const coldFound: AnomalyFinding[] = [];
    for (let i = 0; i < 40; i++) {
      coldFound.push(
        ...cold.observe({
          kind: 'attempt',
          subject: 'user:new',
          at: monday10 + i * 60_000,
          callClass: 'national',
          e164: `+4420${7000 + i * 137}1234`,
        }),
      );
    }
    assert.deepEqual(
      coldFound.filter((f) => f.rule === 'baseline'),
      [],
    );
  });

  it('an international call at 03:00 from a 9-to-5 caller bans the source', () => {
    const rand = rng(9);
    const { det } = feed(history(3, rand));
    const at = WEEK0 + 22 * DAY + 3 * HOUR;
    const f = det.observe({
      kind: 'attempt',
      subject: 'user:alice',
      at,
      callClass: 'international',
      e164: '+33123456789',
      source: '203.0.113.9',
    });
    assert.equal(f.length, 1);
    assert.equal(f[0]?.rule, 'unusual_hours');
    assert.deepEqual(f[0]?.action, { kind: 'ban_source', forMs: DAY });
    // A national call at the same hour is not this rule's business.
    assert.deepEqual(
      det.observe({ kind: 'attempt', subject: 'user:alice', at: at + 1000, callClass: 'national', e164: '+442079460000' }),
      [],
    );
  });

  it('per-caller state is bounded', () => {
    const det = createAnomalyDetector(rules, { maxSubjects: 10 });
    for (let i = 0; i < 25; i++)
      det.observe({ kind: 'attempt', subject: `user:${i}`, at: WEEK0, callClass: 'national', e164: '+442079460000' });
    assert.equal(det.subjects, 10);
    assert.equal(det.evictions, 15);
  });
});
