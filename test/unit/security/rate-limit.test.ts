import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import { isPalisadeError } from '../../../src/core/errors.ts';
import type { FloodLimiterOptions, RequestClass, TakeResult } from '../../../src/security/rate-limit.ts';
import { classifyMethod, createFloodLimiter } from '../../../src/security/rate-limit.ts';

const loose = { ratePerSec: 100_000, burst: 100_000 };

function limiter(over: Partial<FloodLimiterOptions> = {}) {
  const clock = new ManualClock(0);
  const floods: Array<[string, number]> = [];
  const l = createFloodLimiter({
    clock,
    rates: {
      REGISTER: { ratePerSec: 2, burst: 5 },
      INVITE: { ratePerSec: 1, burst: 3 },
      OPTIONS: { ratePerSec: 1, burst: 2 },
      other: { ratePerSec: 10, burst: 20 },
    },
    globalRatePerSec: 10_000,
    globalBurst: 10_000,
    maxSources: 1000,
    onFlood: (a, n) => floods.push([a, n]),
    ...over,
  });
  return { clock, l, floods };
}

function takeN(l: ReturnType<typeof limiter>['l'], addr: string, cls: RequestClass, n: number): Record<TakeResult, number> {
  const out: Record<TakeResult, number> = { ok: 0, limited: 0, global_limited: 0 };
  for (let i = 0; i < n; i++) out[l.take(addr, cls)]++;
  return out;
}

describe('flood limiter: per-source buckets', () => {
  it('allows the burst, then refuses, then refills at the rate', () => {
    const { clock, l } = limiter();
    assert.deepEqual(takeN(l, '192.0.2.1', 'REGISTER', 8), { ok: 5, limited: 3, global_limited: 0 });
    clock.advance(499);
    assert.equal(l.take('192.0.2.1', 'REGISTER'), 'limited', 'not a whole token yet at 2/s');
    clock.advance(1);
    assert.equal(l.take('192.0.2.1', 'REGISTER'), 'ok');
    assert.equal(l.take('192.0.2.1', 'REGISTER'), 'limited');
    clock.advance(60_000);
    assert.deepEqual(takeN(l, '192.0.2.1', 'REGISTER', 6), { ok: 5, limited: 1, global_limited: 0 }, 'refill caps at burst');
  });

  it('classes and sources have separate buckets', () => {
    const { l } = limiter();
    takeN(l, '192.0.2.1', 'INVITE', 10);
    assert.equal(l.take('192.0.2.1', 'INVITE'), 'limited');
    assert.equal(l.take('192.0.2.1', 'OPTIONS'), 'ok');
    assert.equal(l.take('192.0.2.1', 'REGISTER'), 'ok');
    assert.equal(l.take('192.0.2.1', 'other'), 'ok');
    assert.equal(l.take('192.0.2.2', 'INVITE'), 'ok');
    const s = l.stats();
    assert.equal(s.ok, 7);
    assert.equal(s.limited, 8);
    assert.equal(s.sources, 2);
  });

  it('the global bucket bounds the sum over sources', () => {
    const { clock, l } = limiter({ globalRatePerSec: 10, globalBurst: 10, fairShareBelow: 0 });
    let ok = 0;
    for (let i = 0; i < 50; i++) if (l.take(`198.51.100.${i}`, 'other') === 'ok') ok++;
    assert.equal(ok, 10);
    assert.equal(l.stats().globalLimited, 40);
    clock.advance(1_000);
    ok = 0;
    for (let i = 0; i < 50; i++) if (l.take(`198.51.100.${i}`, 'other') === 'ok') ok++;
    assert.equal(ok, 10);
  });

  it('the source table is bounded and counts evictions', () => {
    const { l } = limiter({ maxSources: 3 });
    for (let i = 0; i < 10; i++) l.take(`192.0.2.${i}`, 'OPTIONS');
    assert.equal(l.stats().sources, 3);
    assert.equal(l.stats().evictions, 7);
  });

  it('forget drops a source: it starts again with a full bucket', () => {
    const { l } = limiter();
    takeN(l, '192.0.2.9', 'OPTIONS', 5);
    assert.equal(l.take('192.0.2.9', 'OPTIONS'), 'limited');
    l.forget('192.0.2.9');
    assert.equal(l.take('192.0.2.9', 'OPTIONS'), 'ok');
  });
});

describe('flood limiter: fair share', () => {
  /** 10 s of a flooder at 10 000 req/s against a global 100/s, with a phone re-registering every 100 ms. */
  function run(fairShareBelow: number) {
    const { clock, l } = limiter({
      rates: { REGISTER: loose, INVITE: loose, OPTIONS: loose, other: loose },
      globalRatePerSec: 100,
      globalBurst: 100,
      fairShareBelow,
    });
    let lightOk = 0;
    let lightTotal = 0;
    let heavyOk = 0;
    for (let ms = 0; ms < 10_000; ms++) {
      for (let k = 0; k < 10; k++) if (l.take('203.0.113.66', 'REGISTER') === 'ok') heavyOk++;
      if (ms % 100 === 37) {
        lightTotal++;
        if (l.take('192.0.2.10', 'REGISTER') === 'ok') lightOk++;
      }
      clock.advance(1);
    }
    return { lightOk, lightTotal, heavyOk, stats: l.stats() };
  }

  it('keeps a light source served while a heavy one floods', () => {
    const r = run(0.5);
    assert.equal(r.lightTotal, 100);
    assert.equal(r.lightOk, 100, 'every request of the light source passed');
    assert.ok(r.heavyOk > 800, `the flooder still gets the rest of the capacity (${r.heavyOk})`);
    assert.ok(r.heavyOk + r.lightOk <= 100 + 100 * 10 + 1, 'the global bound holds');
    assert.ok(r.stats.fairShareRefusals > 0);
  });

  it('without fair share the flooder starves the light source (the test above can fail)', () => {
    const r = run(0);
    assert.ok(r.lightOk < 20, `light source served ${r.lightOk}/100`);
  });
});

describe('flood limiter: flood offences', () => {
  it('reports a source once per window after more than floodRefusals refusals', () => {
    const { clock, l, floods } = limiter({ floodRefusals: 10, floodWindowMs: 5_000 });
    takeN(l, '203.0.113.9', 'OPTIONS', 2 + 10);
    assert.equal(floods.length, 0, 'ten refusals are not yet a flood');
    takeN(l, '203.0.113.9', 'OPTIONS', 100);
    assert.deepEqual(floods, [['203.0.113.9', 11]]);
    clock.advance(5_000);
    takeN(l, '203.0.113.9', 'OPTIONS', 100);
    assert.equal(floods.length, 2, 'reported again in the next window');
    assert.equal(l.stats().floods, 2);
  });

  it('a source refused only because the global bucket is empty is not reported', () => {
    const { l, floods } = limiter({
      rates: { REGISTER: loose, INVITE: loose, OPTIONS: loose, other: loose },
      globalRatePerSec: 1,
      globalBurst: 1,
      fairShareBelow: 0,
      floodRefusals: 3,
    });
    assert.equal(l.take('203.0.113.1', 'other'), 'ok');
    for (let i = 0; i < 20; i++) assert.equal(l.take('192.0.2.1', 'other'), 'global_limited');
    assert.deepEqual(floods, []);
  });

  it('a throwing flood listener is counted, not thrown', () => {
    const { l } = limiter({
      floodRefusals: 1,
      onFlood: () => {
        throw new Error('x');
      },
    });
    takeN(l, '203.0.113.2', 'OPTIONS', 10);
    assert.equal(l.stats().listenerErrors, 1);
  });
});

describe('flood limiter: helpers and config', () => {
  it('classifies methods case-sensitively (RFC 3261 §7.1)', () => {
    assert.equal(classifyMethod('REGISTER'), 'REGISTER');
    assert.equal(classifyMethod('INVITE'), 'INVITE');
    assert.equal(classifyMethod('OPTIONS'), 'OPTIONS');
    assert.equal(classifyMethod('register'), 'other');
    assert.equal(classifyMethod('BYE'), 'other');
  });

  it('rejects invalid options with CONFIG_INVALID naming the field', () => {
    const cases: Array<[Partial<FloodLimiterOptions>, string]> = [
      [{ globalRatePerSec: 0 }, 'security/flood/globalRatePerSec'],
      [{ globalBurst: 0.5 }, 'security/flood/globalBurst'],
      [{ maxSources: 0 }, 'security/flood/maxSources'],
      [{ fairShareBelow: 2 }, 'security/flood/fairShareBelow'],
      [
        { rates: { REGISTER: { ratePerSec: -1, burst: 1 }, INVITE: loose, OPTIONS: loose, other: loose } },
        'security/flood/rates/REGISTER/ratePerSec',
      ],
    ];
    for (const [over, path] of cases) {
      assert.throws(
        () => limiter(over),
        (e: unknown) => isPalisadeError(e) && e.code === 'CONFIG_INVALID' && e.details.path === path,
        path,
      );
    }
  });
});
