import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CallFacts, type DecisionRule, decideCall } from '../../../src/policy/decide.ts';
import { counterKeys } from '../../../src/policy/limits.ts';
import { compile, fixedCounters, MONDAY_10_UTC, NO_COUNTERS } from './helpers.ts';

const policy = compile({
  defaultRegion: 'GB',
  destinations: [
    { type: 'UNKNOWN', action: 'deny', why: 'unallocated ranges' },
    { prefix: '+447', action: 'allow' },
    { country: 'NG', action: 'alert', why: 'watched' },
  ],
  defaults: { classes: ['internal', 'national', 'mobile'] },
  groups: {
    sales: {
      classes: ['internal', 'national', 'mobile', 'international'],
      windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00', tz: 'Europe/London', classes: ['international'] }],
    },
    us: { defaultRegion: 'US' },
  },
  users: { reception: { classes: ['internal'] }, cfo: { classes: ['internal', 'national', 'mobile', 'international', 'premium'] } },
  trunks: { carrier: { classes: ['national', 'mobile', 'international'] } },
  limits: { user: { concurrent: 2, callsPerMinute: 5, minutesPerDay: { international: 60, premium: 30 } } },
  reasons: { destination: 'Number barred' },
});

describe('decideCall', () => {
  const cases: ReadonlyArray<[name: string, facts: CallFacts, action: 'allow' | 'deny', rule: DecisionRule]> = [
    ['national call', { user: 'bob', dialled: 'sip:02079460000@pbx' }, 'allow', 'allowed'],
    ['mobile call (allow rule does not bypass rights)', { user: 'bob', dialled: '07400123456' }, 'allow', 'allowed'],
    ['internal extension', { user: 'bob', dialled: 'sip:2001@pbx' }, 'allow', 'internal'],
    ['reception: internal only', { user: 'reception', dialled: '02079460000' }, 'deny', 'class_not_allowed'],
    ['reception still reaches 999', { user: 'reception', dialled: '999' }, 'allow', 'emergency'],
    ['a blocked user still reaches 112', { user: 'bob', dialled: '112', blockedUntil: MONDAY_10_UTC + 1 }, 'allow', 'emergency'],
    ['a blocked user', { user: 'bob', dialled: '02079460000', blockedUntil: MONDAY_10_UTC + 1 }, 'deny', 'blocked'],
    ['an expired block', { user: 'bob', dialled: '02079460000', blockedUntil: MONDAY_10_UTC }, 'allow', 'allowed'],
    ['garbage', { user: 'bob', dialled: 'sip:9011ab@pbx' }, 'deny', 'invalid_number'],
    ['a name is URI dialling to someone the PBX knows', { user: 'bob', dialled: 'sip:robert@pbx' }, 'allow', 'internal'],
    ['international without the right', { user: 'bob', dialled: '+33123456789' }, 'deny', 'class_not_allowed'],
    ['international for sales in office hours', { user: 'sue', groups: ['sales'], dialled: '+33123456789' }, 'allow', 'allowed'],
    ['international for sales at night', { user: 'sue', groups: ['sales'], dialled: '+33123456789' }, 'deny', 'outside_hours'],
    ['premium for the CFO is still capped… but allowed', { user: 'cfo', dialled: '09098790000' }, 'allow', 'allowed'],
    ['premium for sales', { user: 'sue', groups: ['sales'], dialled: '09098790000' }, 'deny', 'class_not_allowed'],
    ['IRSF destination even for the CFO', { user: 'cfo', dialled: '+88216123456' }, 'deny', 'destination'],
    ['unknown-type range denied by a type rule', { user: 'bob', dialled: '+44909000001' }, 'deny', 'destination'],
    [
      'a US group dials a national US number in national format',
      { user: 'joe', groups: ['us'], dialled: '(201) 555-0123' },
      'allow',
      'allowed',
    ],
    ['…the same digits from a GB user are a London number (020 1555 0123)', { user: 'bob', dialled: '(201) 555-0123' }, 'allow', 'allowed'],
    ['trunk calls abroad', { trunk: 'carrier', dialled: '+33123456789' }, 'allow', 'allowed'],
    ['anonymous gets the defaults', { dialled: '02079460000' }, 'allow', 'allowed'],
  ];
  for (const [name, facts, action, rule] of cases) {
    it(name, () => {
      const now = name.includes('at night') ? MONDAY_10_UTC + 12 * 3_600_000 : MONDAY_10_UTC;
      const d = decideCall(policy, facts, NO_COUNTERS, now);
      assert.equal(d.action, action, `rule ${d.rule}`);
      assert.equal(d.rule, rule);
      if (action === 'deny') assert.equal(d.status, 403);
      else assert.equal(d.status, undefined);
    });
  }

  it('the denied call carries the policy’s reason text and the matched rule', () => {
    const d = decideCall(policy, { user: 'cfo', dialled: '+5372345678' }, NO_COUNTERS, MONDAY_10_UTC);
    assert.equal(d.reason, 'Number barred');
    assert.equal(d.destinationRule, 'builtin:+53');
    assert.equal(d.classification.e164, '+5372345678');
    assert.deepEqual(d.subject, { kind: 'user', id: 'cfo' });
  });

  it('an alert rule lets the call through with an alert', () => {
    const d = decideCall(policy, { user: 'cfo', dialled: '+2348031234567' }, NO_COUNTERS, MONDAY_10_UTC);
    assert.equal(d.action, 'allow');
    assert.equal(d.alerts.length, 1);
    assert.equal(d.alerts[0]?.rule, 'country:NG');
    assert.equal(d.alerts[0]?.subject, 'user:cfo');
  });

  it('limits: concurrency, call rate and the daily international budget', () => {
    const bob = { kind: 'user', id: 'bob' } as const;
    const sue = { kind: 'user', id: 'sue' } as const;
    const busy = fixedCounters({ [counterKeys.concurrent(bob)]: 2 });
    assert.equal(decideCall(policy, { user: 'bob', dialled: '02079460000' }, busy, MONDAY_10_UTC).rule, 'concurrent');
    const fast = fixedCounters({ [counterKeys.attempts(bob)]: 5 });
    assert.equal(decideCall(policy, { user: 'bob', dialled: '02079460000' }, fast, MONDAY_10_UTC).rule, 'call_rate');
    const spent = fixedCounters({ [counterKeys.minutes(sue, 'international')]: 60 * 60_000 });
    const facts = { user: 'sue', groups: ['sales'], dialled: '+33123456789' };
    assert.equal(decideCall(policy, facts, spent, MONDAY_10_UTC).rule, 'minutes_per_day');
    const half = fixedCounters({ [counterKeys.minutes(sue, 'international')]: 45 * 60_000 });
    const d = decideCall(policy, facts, half, MONDAY_10_UTC);
    assert.equal(d.action, 'allow');
    assert.equal(d.maxDurationMs, 15 * 60_000);
    // Limits never stand between anyone and an emergency number.
    assert.equal(decideCall(policy, { user: 'bob', dialled: '999' }, busy, MONDAY_10_UTC).action, 'allow');
  });

  it('a disabled policy allows everything', () => {
    const off = compile({ enabled: false });
    assert.equal(decideCall(off, { user: 'x', dialled: '+88216123456' }, NO_COUNTERS, 0).rule, 'disabled');
  });

  it('invalidNumbers: allow lets unparseable numbers through to the PBX', () => {
    const lax = compile({ defaultRegion: 'GB', invalidNumbers: 'allow' });
    assert.equal(decideCall(lax, { user: 'x', dialled: 'sip:robert@pbx' }, NO_COUNTERS, 0).action, 'allow');
  });

  it('is pure: the same input gives the same decision', () => {
    const f = { user: 'sue', groups: ['sales'], dialled: '+33123456789' };
    assert.deepEqual(decideCall(policy, f, NO_COUNTERS, MONDAY_10_UTC), decideCall(policy, f, NO_COUNTERS, MONDAY_10_UTC));
  });
});
