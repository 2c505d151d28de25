import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ManualClock } from '../../../src/core/clock.ts';
import { PortPool } from '../../../src/media/port-pool.ts';

describe('PortPool', () => {
  it('hands out even RTP ports within the range, then refuses when exhausted', () => {
    const pool = new PortPool({ portMin: 20001, portMax: 20010, clock: new ManualClock(), quarantineMs: 1000 });
    // 20001 is odd: first pair is 20002/20003; last whole pair is 20008/20009 (20010 has no odd partner).
    const got: number[] = [];
    for (;;) {
      const p = pool.acquire();
      if (p < 0) break;
      got.push(p);
    }
    assert.deepEqual(got, [20002, 20004, 20006, 20008]);
    assert.equal(pool.acquire(), -1);
    assert.deepEqual(pool.stats(), { total: 4, free: 0, inUse: 4, quarantined: 0, badReleases: 0 });
  });

  it('reuses a released pair only after the quarantine', () => {
    const clock = new ManualClock();
    const pool = new PortPool({ portMin: 30000, portMax: 30003, clock, quarantineMs: 1000 });
    const a = pool.acquire();
    const b = pool.acquire();
    assert.deepEqual([a, b], [30000, 30002]);
    pool.release(a);
    assert.equal(pool.acquire(), -1, 'quarantined pair is not handed out');
    assert.equal(pool.stats().quarantined, 1);
    clock.advance(999);
    assert.equal(pool.acquire(), -1);
    clock.advance(1);
    assert.equal(pool.acquire(), a);
    assert.equal(pool.isInUse(a), true);
  });

  it('hands out the least recently used pair first', () => {
    const pool = new PortPool({ portMin: 40000, portMax: 40007, clock: new ManualClock(), quarantineMs: 0 });
    const a = pool.acquire();
    pool.release(a);
    assert.notEqual(pool.acquire(), a, 'fresh pairs before the one just released');
  });

  it('starts at startIndex (modulo the pairs) and wraps around the range', () => {
    const pool = new PortPool({ portMin: 40000, portMax: 40007, clock: new ManualClock(), quarantineMs: 0, startIndex: 6 });
    // 4 pairs; 6 % 4 = 2
    assert.deepEqual([pool.acquire(), pool.acquire(), pool.acquire(), pool.acquire(), pool.acquire()], [40004, 40006, 40000, 40002, -1]);
    const neg = new PortPool({ portMin: 40000, portMax: 40007, clock: new ManualClock(), startIndex: -1 });
    assert.equal(neg.acquire(), 40006);
  });

  it('rotate() moves free pairs to the back of the line, never handing out a pair twice', () => {
    const pool = new PortPool({ portMin: 40000, portMax: 40009, clock: new ManualClock(), quarantineMs: 0 });
    assert.equal(pool.acquire(), 40000);
    pool.rotate(2); // 40002 and 40004 to the back
    assert.deepEqual([pool.acquire(), pool.acquire(), pool.acquire(), pool.acquire()], [40006, 40008, 40002, 40004]);
    pool.rotate(10); // nothing free: no-op
    assert.equal(pool.acquire(), -1);
    pool.release(40004);
    pool.release(40008);
    pool.rotate(1);
    assert.deepEqual([pool.acquire(), pool.acquire(), pool.acquire()], [40008, 40004, -1]);
    assert.deepEqual(pool.stats(), { total: 5, free: 0, inUse: 5, quarantined: 0, badReleases: 0 });
  });

  it('counts and ignores bad releases (double, unknown, odd)', () => {
    const pool = new PortPool({ portMin: 40000, portMax: 40007, clock: new ManualClock(), quarantineMs: 10 });
    const a = pool.acquire();
    pool.release(a);
    pool.release(a);
    pool.release(40001);
    pool.release(50000);
    assert.equal(pool.stats().badReleases, 3);
    assert.equal(pool.stats().quarantined, 1);
  });

  it('rejects ranges without a pair or outside 1024..65535', () => {
    const clock = new ManualClock();
    assert.throws(() => new PortPool({ portMin: 40001, portMax: 40001, clock }), RangeError);
    assert.throws(() => new PortPool({ portMin: 80, portMax: 2000, clock }), RangeError);
    assert.throws(() => new PortPool({ portMin: 65000, portMax: 70000, clock }), RangeError);
  });

  it('never gives one pair to two owners under any acquire/release/advance sequence', () => {
    const op = fc.oneof(
      fc.constant({ k: 'acquire' as const }),
      fc.record({ k: fc.constant('release' as const), i: fc.nat(20) }),
      fc.record({ k: fc.constant('advance' as const), ms: fc.nat(300) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const clock = new ManualClock();
        const pool = new PortPool({ portMin: 50000, portMax: 50019, clock, quarantineMs: 250 });
        const owned: number[] = [];
        const releasedAt = new Map<number, number>();
        for (const o of ops) {
          if (o.k === 'acquire') {
            const p = pool.acquire();
            if (p < 0) {
              assert.equal(owned.length + pool.stats().quarantined, 10);
              continue;
            }
            assert.ok(!owned.includes(p), 'pair handed out twice');
            assert.ok(p >= 50000 && p <= 50018 && p % 2 === 0);
            const r = releasedAt.get(p);
            assert.ok(r === undefined || clock.now() - r >= 250, 'reused inside quarantine');
            owned.push(p);
          } else if (o.k === 'release') {
            const p = owned.splice(o.i % Math.max(1, owned.length), 1)[0];
            if (p !== undefined) {
              pool.release(p);
              releasedAt.set(p, clock.now());
            }
          } else clock.advance(o.ms);
          const s = pool.stats();
          assert.equal(s.inUse, owned.length);
          assert.equal(s.free + s.inUse + s.quarantined, 10);
        }
      }),
      { numRuns: 300 },
    );
  });
});
