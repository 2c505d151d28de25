import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import { isPalisadeError } from '../../../src/core/errors.ts';
import type { BanInfo, BanManagerOptions, UnbanReason } from '../../../src/security/bans.ts';
import { createBanManager, formatIPv6, parseIPv4, parseTarget } from '../../../src/security/bans.ts';
import { CidrSet } from '../../../src/security/cidr.ts';
import { DEFAULT_OFFENCE_WEIGHTS, isOffenceKind, OFFENCE_KINDS } from '../../../src/security/offences.ts';

const SEC = 1_000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;

function setup(over: Partial<BanManagerOptions> = {}) {
  const clock = new ManualClock(5_000);
  const bans: BanInfo[] = [];
  const unbans: Array<[BanInfo, UnbanReason]> = [];
  const m = createBanManager({
    clock,
    findTimeMs: 10 * MIN,
    maxRetry: 5,
    banTimeMs: 1 * HOUR,
    factor: 4,
    maxBanTimeMs: 24 * HOUR,
    allow: new CidrSet(['10.0.0.0/8', 'fd00::/8']),
    maxTracked: 1000,
    sweepIntervalMs: 0,
    onBan: (b) => bans.push(b),
    onUnban: (b, why) => unbans.push([b, why]),
    ...over,
  });
  return { clock, m, bans, unbans };
}

function offend(m: ReturnType<typeof setup>['m'], addr: string, n: number, user?: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(m.offence(addr, 'auth_failure', user));
  return out;
}

describe('offence kinds', () => {
  it('every kind has a non-negative integer default weight', () => {
    assert.equal(OFFENCE_KINDS.length, 7);
    for (const k of OFFENCE_KINDS) {
      assert.ok(Number.isInteger(DEFAULT_OFFENCE_WEIGHTS[k]) && DEFAULT_OFFENCE_WEIGHTS[k] >= 0, k);
      assert.equal(isOffenceKind(k), true);
    }
    assert.equal(isOffenceKind('nope'), false);
  });
});

describe('ban manager: counting within findTime', () => {
  it('maxRetry offences within findTime ban the source', () => {
    const { clock, m, bans } = setup();
    assert.deepEqual(offend(m, '203.0.113.9', 4), ['counted', 'counted', 'counted', 'counted']);
    assert.equal(m.isBanned('203.0.113.9'), false);
    assert.equal(m.strikes('203.0.113.9'), 4);
    clock.advance(9 * MIN);
    assert.equal(m.offence('203.0.113.9', 'auth_failure'), 'banned');
    assert.equal(m.isBanned('203.0.113.9'), true);
    assert.equal(m.isBanned('203.0.113.10'), false);
    assert.equal(bans.length, 1);
    const b = bans[0] as BanInfo;
    assert.equal(b.target, '203.0.113.9');
    assert.equal(b.kind, 'address');
    assert.equal(b.source, 'auto');
    assert.equal(b.reason, 'auth_failure');
    assert.equal(b.count, 5);
    assert.equal(b.repeat, 0);
    assert.equal(b.firstOffenceAt, clock.wallNow() - 9 * MIN);
    assert.equal(b.lastOffenceAt, clock.wallNow());
    assert.equal(b.expiresAt, clock.wallNow() + HOUR);
    assert.deepEqual(m.list(), [b]);
    // Further offences while banned are recorded on the ban, not a new ban.
    clock.advance(SEC);
    assert.equal(m.offence('203.0.113.9', 'malformed'), 'banned');
    assert.equal(m.list()[0]?.lastOffenceAt, clock.wallNow());
    assert.equal(bans.length, 1);
  });

  it('offences spread wider than findTime never ban', () => {
    const { clock, m } = setup();
    for (let i = 0; i < 20; i++) {
      assert.equal(m.offence('198.51.100.1', 'auth_failure'), 'counted', `offence ${i}`);
      clock.advance(2.5 * MIN); // 4 per findTime of 10 min: the oldest always falls out
    }
    assert.equal(m.isBanned('198.51.100.1'), false);
    assert.equal(m.strikes('198.51.100.1'), 3, 'offences 2.5, 5 and 7.5 min ago; 10 min ago is out');
  });

  it('the window edge is exclusive: an offence exactly findTime ago no longer counts', () => {
    const { clock, m } = setup({ maxRetry: 2 });
    m.offence('198.51.100.2', 'auth_failure');
    clock.advance(10 * MIN);
    assert.equal(m.offence('198.51.100.2', 'auth_failure'), 'counted');
    clock.advance(10 * MIN - 1);
    assert.equal(m.offence('198.51.100.2', 'auth_failure'), 'banned');
  });

  it('weights: one scanner sighting bans at maxRetry 5, replayed nonces count double', () => {
    const { m } = setup();
    assert.equal(m.offence('192.0.2.50', 'scanner'), 'banned');
    assert.equal(m.offence('192.0.2.51', 'replayed_nonce'), 'counted');
    assert.equal(m.offence('192.0.2.51', 'replayed_nonce'), 'counted');
    assert.equal(m.strikes('192.0.2.51'), 4);
    assert.equal(m.offence('192.0.2.51', 'replayed_nonce'), 'banned');
  });

  it('weight 0 counts nothing towards a ban', () => {
    const { m } = setup({ weights: { malformed: 0 } });
    assert.deepEqual(
      Array.from({ length: 20 }, () => m.offence('192.0.2.60', 'malformed')),
      Array.from({ length: 20 }, () => 'counted'),
    );
    assert.equal(m.isBanned('192.0.2.60'), false);
  });

  it('per (source,user): a brute force on one account bans below the per-source threshold', () => {
    const { m } = setup({ maxRetry: 20, maxRetryPerUser: 3 });
    // An office behind NAT: nine phones each fail once — no ban.
    for (let i = 0; i < 9; i++) assert.equal(m.offence('192.0.2.70', 'auth_failure', `ext${i}`), 'counted');
    assert.equal(m.strikes('192.0.2.70'), 9);
    assert.equal(m.strikes('192.0.2.70', 'ext1'), 1);
    assert.deepEqual(offend(m, '192.0.2.71', 3, 'alice'), ['counted', 'counted', 'banned']);
    assert.equal(m.isBanned('192.0.2.71'), true);
    assert.equal(m.isBanned('192.0.2.70'), false);
  });

  it('IPv4-mapped IPv6 sources are unmapped: one ban covers both spellings', () => {
    const { m, bans } = setup();
    offend(m, '::ffff:203.0.113.77', 2);
    offend(m, '203.0.113.77', 3);
    assert.equal(bans[0]?.target, '203.0.113.77');
    assert.equal(m.isBanned('203.0.113.77'), true);
    assert.equal(m.isBanned('::ffff:203.0.113.77'), true);
  });

  it('tracking tables are bounded and count evictions', () => {
    const { m } = setup({ maxTracked: 4 });
    for (let i = 1; i <= 10; i++) m.offence(`192.0.2.${i}`, 'auth_failure', 'u');
    const s = m.stats();
    assert.equal(s.trackedSources, 4);
    assert.equal(s.sourceEvictions, 6);
    assert.equal(s.trackedUsers, 4);
    assert.equal(s.userEvictions, 6);
    assert.equal(m.strikes('192.0.2.1'), 0, 'the oldest was evicted');
    assert.equal(m.strikes('192.0.2.10'), 1);
  });

  it('a non-IP address is counted as invalid and never tracked', () => {
    const { m } = setup();
    assert.equal(m.offence('not-an-ip', 'scanner'), 'counted');
    assert.equal(m.stats().invalidAddresses, 1);
    assert.equal(m.stats().trackedSources, 0);
  });
});

describe('ban manager: expiry and escalation', () => {
  it('a ban lapses lazily at its expiry and reports it', () => {
    const { clock, m, unbans } = setup();
    offend(m, '203.0.113.20', 5);
    clock.advance(HOUR - 1);
    assert.equal(m.isBanned('203.0.113.20'), true);
    clock.advance(1);
    assert.equal(m.isBanned('203.0.113.20'), false);
    assert.equal(unbans.length, 1);
    assert.equal(unbans[0]?.[1], 'expired');
    assert.equal(m.stats().expired, 1);
    assert.equal(m.list().length, 0);
  });

  it('the sweep timer lapses expired bans without a lookup', () => {
    const { clock, m, unbans } = setup({ sweepIntervalMs: MIN });
    offend(m, '203.0.113.21', 5);
    clock.advance(HOUR + MIN);
    assert.equal(unbans.length, 1);
    assert.equal(unbans[0]?.[0].target, '203.0.113.21');
    assert.equal(m.stats().bans, 0);
    m.close();
    assert.equal(clock.pendingTimers(), 0);
  });

  it('repeat bans escalate 1×, factor×, factor²× … up to maxBanTime', () => {
    const { clock, m, bans } = setup();
    const durations: number[] = [];
    for (let round = 0; round < 5; round++) {
      offend(m, '203.0.113.30', 5);
      const b = bans.at(-1) as BanInfo;
      assert.equal(b.repeat, round);
      durations.push((b.expiresAt as number) - b.bannedAt);
      clock.advance((b.expiresAt as number) - b.bannedAt);
      assert.equal(m.isBanned('203.0.113.30'), false);
    }
    assert.deepEqual(durations, [HOUR, 4 * HOUR, 16 * HOUR, 24 * HOUR, 24 * HOUR]);
  });

  it('the repeat count decays after repeatDecayMs without a ban', () => {
    const { clock, m, bans } = setup({ repeatDecayMs: 48 * HOUR });
    offend(m, '203.0.113.31', 5);
    clock.advance(HOUR);
    offend(m, '203.0.113.31', 5);
    assert.equal(bans.at(-1)?.repeat, 1);
    clock.advance(4 * HOUR + 48 * HOUR);
    offend(m, '203.0.113.31', 5);
    assert.equal(bans.at(-1)?.repeat, 0);
    assert.equal((bans.at(-1)?.expiresAt as number) - (bans.at(-1)?.bannedAt as number), HOUR);
  });
});

describe('ban manager: allow list', () => {
  it('allow-listed sources are counted but never banned', () => {
    const { m, bans } = setup();
    for (let i = 0; i < 50; i++) assert.equal(m.offence('10.1.2.3', 'scanner'), 'allowlisted');
    assert.equal(m.offence('fd00::5', 'flood'), 'allowlisted');
    assert.equal(m.offence('::ffff:10.9.9.9', 'flood'), 'allowlisted');
    assert.equal(m.isBanned('10.1.2.3'), false);
    assert.equal(bans.length, 0);
    assert.equal(m.strikes('10.1.2.3'), 25, 'the window holds maxRetry entries of weight 5');
    assert.equal(m.stats().allowlisted, 52);
  });

  it('a manual ban of an allow-listed address is refused; a range ban does not cover it', () => {
    const { m } = setup();
    const r = m.ban('10.1.2.3', { reason: 'test' });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, 'BAN_ALLOWLISTED');
    assert.equal(m.ban('0.0.0.0/0', { reason: 'everything' }).ok, true);
    assert.equal(m.isBanned('203.0.113.1'), true);
    assert.equal(m.isBanned('10.1.2.3'), false);
  });
});

describe('ban manager: manual bans', () => {
  it('a CIDR ban covers the addresses in its range, in both IPv4 spellings, and not outside', () => {
    const { m } = setup();
    const r = m.ban('192.0.2.77/24', { reason: 'abuse report', forMs: HOUR });
    assert.ok(r.ok);
    assert.equal(r.value.target, '192.0.2.0/24');
    assert.equal(r.value.kind, 'cidr');
    assert.equal(r.value.source, 'manual');
    assert.equal(m.isBanned('192.0.2.1'), true);
    assert.equal(m.isBanned('192.0.2.255'), true);
    assert.equal(m.isBanned('::ffff:192.0.2.9'), true);
    assert.equal(m.isBanned('192.0.3.1'), false);
    assert.equal(m.isBanned('2001:db8::1'), false);
    assert.equal(m.offence('192.0.2.5', 'auth_failure'), 'banned');
    assert.ok(m.ban('2001:db8:abcd::/48', { reason: 'v6 range' }).ok);
    assert.equal(m.isBanned('2001:db8:abcd:1::99'), true);
    assert.equal(m.isBanned('2001:db8:abce::1'), false);
    assert.equal(m.isBanned('192.0.2.1'), true);
  });

  it('a range ban expires at its time', () => {
    const { clock, m, unbans } = setup();
    m.ban('198.51.100.0/25', { reason: 'r', forMs: MIN });
    assert.equal(m.isBanned('198.51.100.100'), true);
    clock.advance(MIN);
    assert.equal(m.isBanned('198.51.100.100'), false);
    assert.equal(unbans[0]?.[1], 'expired');
    assert.equal(m.stats().rangeBans, 0);
  });

  it('without forMs a ban lasts until unbanned; single IPv6 addresses are canonicalised', () => {
    const { clock, m } = setup();
    const r = m.ban('2001:DB8:0:0:0:0:0:1', { reason: 'manual' });
    assert.ok(r.ok);
    assert.equal(r.value.target, '2001:db8::1');
    assert.equal(r.value.expiresAt, null);
    clock.advance(365 * 24 * HOUR);
    assert.equal(m.isBanned('2001:db8::1'), true);
    assert.equal(m.unban('2001:db8:0::1'), true);
    assert.equal(m.isBanned('2001:db8::1'), false);
    assert.equal(m.unban('2001:db8::1'), false);
  });

  it('a /32 is a single address', () => {
    const { m } = setup();
    const r = m.ban('203.0.113.5/32', { reason: 'x' });
    assert.ok(r.ok);
    assert.equal(r.value.kind, 'address');
    assert.equal(r.value.target, '203.0.113.5');
    assert.equal(m.isBanned('::ffff:203.0.113.5'), true);
  });

  it('bad targets and durations are refused with a code', () => {
    const { m } = setup();
    for (const t of [
      '',
      'example.com',
      '1.2.3',
      '1.2.3.4/33',
      '2001:db8::/129',
      'fe80::1%eth0',
      '1.2.3.4/',
      '1.2.3.4/ 8',
      '1.2.3.4/08',
      '1.2.3.4/8/9',
      '/8',
    ]) {
      const r = m.ban(t, { reason: 'x' });
      assert.equal(r.ok, false, t);
      if (!r.ok) assert.equal(r.error.code, 'BAN_BAD_TARGET', t);
    }
    for (const forMs of [0, -5, Number.NaN]) {
      const r = m.ban('203.0.113.8', { reason: 'x', forMs });
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, 'BAN_BAD_DURATION');
    }
  });

  it('unban of an auto ban forgets its history, so the next ban is 1× again', () => {
    const { clock, m, bans, unbans } = setup();
    offend(m, '203.0.113.40', 5);
    clock.advance(MIN);
    assert.equal(m.unban('203.0.113.40'), true);
    assert.equal(unbans.at(-1)?.[1], 'manual');
    assert.equal(m.isBanned('203.0.113.40'), false);
    assert.equal(m.strikes('203.0.113.40'), 0);
    offend(m, '203.0.113.40', 5);
    assert.equal(bans.at(-1)?.repeat, 0);
  });

  it('unban of an address does not lift a range that contains it', () => {
    const { m } = setup();
    m.ban('192.0.2.0/24', { reason: 'r' });
    assert.equal(m.unban('192.0.2.7'), false);
    assert.equal(m.isBanned('192.0.2.7'), true);
    assert.equal(m.unban('192.0.2.0/24'), true);
    assert.equal(m.isBanned('192.0.2.7'), false);
  });

  it('flush removes every ban and every counter', () => {
    const { m, unbans } = setup();
    offend(m, '203.0.113.50', 5);
    offend(m, '203.0.113.51', 3);
    m.ban('198.51.100.0/24', { reason: 'r' });
    m.ban('2001:db8::9', { reason: 'r' });
    assert.equal(m.flush(), 3);
    assert.equal(unbans.filter(([, why]) => why === 'flush').length, 3);
    assert.equal(m.isBanned('203.0.113.50'), false);
    assert.equal(m.isBanned('198.51.100.3'), false);
    assert.equal(m.isBanned('2001:db8::9'), false);
    assert.equal(m.strikes('203.0.113.51'), 0);
    assert.equal(m.list().length, 0);
  });

  it('range bans are limited in number', () => {
    const { m } = setup({ maxRangeBans: 2 });
    assert.ok(m.ban('192.0.2.0/24', { reason: 'r' }).ok);
    assert.ok(m.ban('198.51.100.0/24', { reason: 'r' }).ok);
    const r = m.ban('203.0.113.0/24', { reason: 'r' });
    assert.equal(r.ok ? undefined : r.error.code, 'BAN_TOO_MANY_RANGES');
    assert.ok(m.ban('192.0.2.0/24', { reason: 'updated' }).ok, 'replacing an existing range is allowed');
  });

  it('the ban table is bounded: the oldest ban is evicted and reported', () => {
    const { m, unbans } = setup({ maxBans: 3 });
    for (let i = 1; i <= 5; i++) m.ban(`203.0.113.${i}`, { reason: 'r' });
    assert.equal(m.stats().bans, 3);
    assert.equal(m.stats().banEvictions, 2);
    assert.deepEqual(
      unbans.map(([b, why]) => `${b.target} ${why}`),
      ['203.0.113.1 evicted', '203.0.113.2 evicted'],
    );
    assert.equal(m.isBanned('203.0.113.1'), false);
    assert.equal(m.isBanned('::ffff:203.0.113.1'), false, 'the mapped alias goes with it');
    assert.equal(m.isBanned('203.0.113.5'), true);
  });

  it('a throwing listener does not prevent the ban', () => {
    const { m } = setup({
      onBan: () => {
        throw new Error('audit sink down');
      },
    });
    assert.equal(m.offence('203.0.113.60', 'scanner'), 'banned');
    assert.equal(m.isBanned('203.0.113.60'), true);
    assert.equal(m.stats().listenerErrors, 1);
  });
});

describe('ban manager: restore', () => {
  it('restores persisted bans into a new process with wall-clock expiries', () => {
    const a = setup();
    offend(a.m, '203.0.113.70', 5);
    a.m.ban('192.0.2.0/24', { reason: 'range', forMs: 2 * HOUR });
    a.m.ban('2001:db8::70', { reason: 'forever' });
    a.clock.advance(30 * MIN);
    const saved = a.m.list();
    // A new process: monotonic time restarts, wall time has moved on 10 minutes.
    const clock = new ManualClock(0, a.clock.wallNow() + 10 * MIN);
    const b = setup({ clock });
    assert.equal(b.m.restore(saved), 3);
    assert.equal(b.bans.length, 0, 'restore fires no onBan');
    assert.equal(b.m.isBanned('203.0.113.70'), true);
    assert.equal(b.m.isBanned('192.0.2.9'), true);
    assert.equal(b.m.isBanned('2001:db8::70'), true);
    const auto = b.m.list().find((x) => x.target === '203.0.113.70');
    assert.equal(auto?.expiresAt, saved.find((x) => x.target === '203.0.113.70')?.expiresAt);
    clock.advance(20 * MIN);
    assert.equal(b.m.isBanned('203.0.113.70'), false, 'expired at its wall-clock time');
    // Its repeat count came back with it: the next ban escalates.
    offend(b.m, '203.0.113.70', 5);
    assert.equal(b.bans.at(-1)?.repeat, 1);
  });

  it('skips expired and invalid entries', () => {
    const { clock, m } = setup();
    const base: BanInfo = {
      target: '203.0.113.80',
      kind: 'address',
      reason: 'r',
      source: 'manual',
      bannedAt: clock.wallNow() - HOUR,
      expiresAt: clock.wallNow() - 1,
      firstOffenceAt: null,
      lastOffenceAt: null,
      count: 0,
      repeat: 0,
    };
    assert.equal(m.restore([base, { ...base, target: 'garbage', expiresAt: null }, { ...base, target: '10.0.0.1', expiresAt: null }]), 0);
    assert.equal(m.restore([{ ...base, expiresAt: clock.wallNow() + 1 }]), 1);
  });
});

describe('address helpers', () => {
  it('parseIPv4 accepts dotted quads (also ::ffff:-mapped) and nothing else', () => {
    assert.equal(parseIPv4('0.0.0.0'), 0);
    assert.equal(parseIPv4('255.255.255.255'), 4294967295);
    assert.equal(parseIPv4('::ffff:192.0.2.1'), 0xc0000201);
    for (const s of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.4 ', '1..2.3', '1234.1.1.1', '::1', '::ffff:1.2.3'])
      assert.equal(parseIPv4(s), -1, s);
  });

  it('formatIPv6 follows RFC 5952 §4', () => {
    const f = (s: string) => {
      const t = parseTarget(s);
      return t?.kind === 'address' ? t.key : undefined;
    };
    assert.equal(f('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
    assert.equal(f('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1', 'a single zero field is not compressed');
    assert.equal(f('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1', 'the longest run is compressed');
    assert.equal(f('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1', 'the first of equal runs is compressed');
    assert.equal(f('::'), '::');
    assert.equal(f('::1'), '::1');
    assert.equal(f('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(formatIPv6(1n << 112n), '1::');
  });

  it('invalid options are rejected with CONFIG_INVALID', () => {
    for (const over of [{ maxRetry: 0 }, { findTimeMs: -1 }, { factor: 0.5 }, { maxBanTimeMs: 1 }, { weights: { scanner: 1.5 } }]) {
      assert.throws(
        () => setup(over),
        (e: unknown) => isPalisadeError(e) && e.code === 'CONFIG_INVALID',
        JSON.stringify(over),
      );
    }
  });
});
