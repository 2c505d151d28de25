import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ManualClock } from '../../src/core/clock.ts';
import { createBanManager, parseIPv6Into, parseTarget } from '../../src/security/bans.ts';
import { addressToBigInt, CidrSet } from '../../src/security/cidr.ts';
import type { OffenceKind } from '../../src/security/offences.ts';
import { DEFAULT_OFFENCE_WEIGHTS, OFFENCE_KINDS } from '../../src/security/offences.ts';

const FIND_MS = 1_000;
const BAN_MS = 5_000;

describe('ban manager properties', () => {
  it('bans exactly when a naive model of the sliding window says so', () => {
    const op = fc.record({
      dt: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 8_000 })),
      src: fc.integer({ min: 0, max: 2 }),
      kind: fc.constantFrom(...OFFENCE_KINDS),
    });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { minLength: 1, maxLength: 200 }), (maxRetry, ops) => {
        const clock = new ManualClock(0);
        const m = createBanManager({
          clock,
          findTimeMs: FIND_MS,
          maxRetry,
          banTimeMs: BAN_MS,
          factor: 1,
          maxBanTimeMs: BAN_MS,
          allow: new CidrSet([]),
          maxTracked: 16,
          sweepIntervalMs: 0,
        });
        const model = new Map<number, { events: Array<[number, number]>; until: number }>();
        for (const { dt, src, kind } of ops) {
          clock.advance(dt);
          const now = clock.now();
          const s = model.get(src) ?? { events: [], until: -1 };
          model.set(src, s);
          const got = m.offence(`198.51.100.${src}`, kind as OffenceKind);
          let want: string;
          if (now < s.until) want = 'banned';
          else {
            const w = DEFAULT_OFFENCE_WEIGHTS[kind];
            if (w > 0) s.events.push([now, w]);
            const sum = s.events.filter(([t]) => t > now - FIND_MS).reduce((a, [, x]) => a + x, 0);
            if (w > 0 && sum >= maxRetry) {
              want = 'banned';
              s.until = now + BAN_MS;
              s.events = [];
            } else want = 'counted';
          }
          assert.equal(got, want, `t=${now} src=${src} kind=${kind}`);
          for (const [k, v] of model) assert.equal(m.isBanned(`198.51.100.${k}`), now < v.until);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('isBanned, ban, unban and parseTarget never throw on arbitrary text', () => {
    const clock = new ManualClock(0);
    const m = createBanManager({
      clock,
      findTimeMs: FIND_MS,
      maxRetry: 3,
      banTimeMs: BAN_MS,
      factor: 2,
      maxBanTimeMs: 4 * BAN_MS,
      allow: new CidrSet(['10.0.0.0/8']),
      maxTracked: 64,
      sweepIntervalMs: 0,
    });
    m.ban('192.0.2.0/24', { reason: 'range' });
    m.ban('2001:db8::/32', { reason: 'range' });
    const text = fc.oneof(fc.string({ maxLength: 60 }), fc.ipV4(), fc.ipV6(), fc.ipV4Extended());
    fc.assert(
      fc.property(text, fc.integer({ min: 0, max: 140 }), (s, bits) => {
        assert.equal(typeof m.isBanned(s), 'boolean');
        parseTarget(s);
        const r = m.ban(`${s}/${bits}`, { reason: 'p', forMs: 1 });
        if (r.ok) assert.equal(m.unban(r.value.target), true);
        m.offence(s, 'malformed');
      }),
      { numRuns: 1000 },
    );
  });

  it('an address in a banned range is banned in either spelling; one outside is not', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 1, max: 31 }), fc.ipV4(), (a, bits, b) => {
        const clock = new ManualClock(0);
        const m = createBanManager({
          clock,
          findTimeMs: FIND_MS,
          maxRetry: 3,
          banTimeMs: BAN_MS,
          factor: 2,
          maxBanTimeMs: BAN_MS,
          allow: new CidrSet([]),
          maxTracked: 8,
          sweepIntervalMs: 0,
        });
        const r = m.ban(`${a}/${bits}`, { reason: 'p' });
        assert.ok(r.ok);
        const inside = new CidrSet([r.value.target]).has(b);
        assert.equal(m.isBanned(b), inside);
        assert.equal(m.isBanned(`::ffff:${b}`), inside);
        assert.equal(m.isBanned(a), true);
      }),
      { numRuns: 500 },
    );
  });

  it('parseIPv6Into agrees with addressToBigInt on IPv6 text and rejects what it rejects', () => {
    const out = new Uint16Array(8);
    fc.assert(
      fc.property(fc.oneof(fc.ipV6(), fc.string({ maxLength: 45 }), fc.stringMatching(/^[0-9a-f:.]{0,40}$/)), (s) => {
        const ok = parseIPv6Into(s, out);
        const ref = s.includes(':') ? addressToBigInt(s) : undefined;
        assert.equal(ok, ref !== undefined, s);
        if (ref === undefined) return;
        let v = 0n;
        for (const h of out) v = (v << 16n) | BigInt(h);
        assert.equal(v, ref, s);
      }),
      { numRuns: 2000 },
    );
  });

  it('an IPv6 range ban matches exactly what CidrSet matches', () => {
    fc.assert(
      fc.property(fc.ipV6(), fc.integer({ min: 0, max: 127 }), fc.oneof(fc.ipV6(), fc.ipV4()), (a, bits, b) => {
        const clock = new ManualClock(0);
        const m = createBanManager({
          clock,
          findTimeMs: FIND_MS,
          maxRetry: 3,
          banTimeMs: BAN_MS,
          factor: 2,
          maxBanTimeMs: BAN_MS,
          allow: new CidrSet([]),
          maxTracked: 8,
          sweepIntervalMs: 0,
        });
        const r = m.ban(`${a}/${bits}`, { reason: 'p' });
        assert.ok(r.ok, `${a}/${bits}`);
        assert.equal(m.isBanned(b), new CidrSet([r.value.target]).has(b), `${r.value.target} ∋ ${b}`);
      }),
      { numRuns: 1000 },
    );
  });
});
