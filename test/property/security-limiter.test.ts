import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ManualClock } from '../../src/core/clock.ts';
import type { BucketRate, RequestClass } from '../../src/security/rate-limit.ts';
import { createFloodLimiter, REQUEST_CLASSES } from '../../src/security/rate-limit.ts';

/** Asserts that in every interval between two accepted requests, count ≤ burst + rate × duration. */
function assertWithinBucket(times: readonly number[], r: BucketRate, what: string): void {
  for (let j = 0; j < times.length; j++) {
    for (let i = j; i >= 0; i--) {
      const count = j - i + 1;
      const allowed = r.burst + (r.ratePerSec * ((times[j] as number) - (times[i] as number))) / 1000;
      if (count > allowed + 1e-9)
        assert.fail(`${what}: ${count} accepted within ${(times[j] as number) - (times[i] as number)} ms, bound ${allowed}`);
    }
  }
}

const rateArb = fc.record({ ratePerSec: fc.integer({ min: 0, max: 50 }), burst: fc.integer({ min: 1, max: 8 }) });
const opArb = fc.record({
  dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 3000 })),
  src: fc.integer({ min: 0, max: 3 }),
  cls: fc.constantFrom(...REQUEST_CLASSES),
});

describe('flood limiter properties', () => {
  it('never accepts more than burst + rate × time, per source and class and globally', () => {
    fc.assert(
      fc.property(
        fc.record({ REGISTER: rateArb, INVITE: rateArb, OPTIONS: rateArb, other: rateArb }),
        rateArb,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(opArb, { minLength: 1, maxLength: 250 }),
        fc.integer({ min: 0, max: 1e6 }),
        (rates, global, fairShareBelow, ops, start) => {
          const clock = new ManualClock(start);
          const g = { ratePerSec: Math.max(1, global.ratePerSec), burst: global.burst };
          const l = createFloodLimiter({
            clock,
            rates,
            globalRatePerSec: g.ratePerSec,
            globalBurst: g.burst,
            maxSources: 8,
            fairShareBelow,
          });
          const perKey = new Map<string, number[]>();
          const all: number[] = [];
          for (const op of ops) {
            clock.advance(op.dt);
            const r = l.take(`192.0.2.${op.src}`, op.cls);
            if (r !== 'ok') continue;
            const k = `${op.src} ${op.cls}`;
            perKey.set(k, [...(perKey.get(k) ?? []), clock.now()]);
            all.push(clock.now());
          }
          for (const [k, times] of perKey) assertWithinBucket(times, rates[k.split(' ')[1] as RequestClass], k);
          assertWithinBucket(all, g, 'global');
          const s = l.stats();
          assert.equal(s.ok + s.limited + s.globalLimited, ops.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a lone source is served exactly burst at one instant', () => {
    fc.assert(
      fc.property(rateArb, fc.integer({ min: 1, max: 40 }), (r, n) => {
        const clock = new ManualClock(0);
        const rates = { REGISTER: r, INVITE: r, OPTIONS: r, other: r };
        const l = createFloodLimiter({ clock, rates, globalRatePerSec: 1e6, globalBurst: 1e6, maxSources: 2 });
        let ok = 0;
        for (let i = 0; i < n; i++) if (l.take('192.0.2.1', 'INVITE') === 'ok') ok++;
        assert.equal(ok, Math.min(n, r.burst));
      }),
      { numRuns: 200 },
    );
  });
});
