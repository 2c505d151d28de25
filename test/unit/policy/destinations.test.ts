import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BUILTIN_FRAUD_DESTINATIONS,
  compileDestinations,
  type DestinationRule,
  matchDestination,
} from '../../../src/policy/destinations.ts';
import { classifyDialled } from '../../../src/policy/number.ts';
import { plan } from './helpers.ts';

const rules: DestinationRule[] = [
  { prefix: '+44', action: 'allow' },
  { prefix: '+449', action: 'alert', why: 'UK 09 range' },
  { prefix: '+44909', action: 'deny', why: 'UK premium 0909' },
  { prefix: '88216', action: 'allow', why: 'Thuraya phones of our ships' },
  { type: 'PREMIUM_RATE', action: 'deny' },
  { country: 'FR', action: 'alert' },
  { country: 'FR', type: 'MOBILE', action: 'allow' },
  { country: 'DE', action: 'deny' },
];
const table = compileDestinations(rules, true);

describe('matchDestination: specificity, never file order', () => {
  const cases: ReadonlyArray<[dialled: string, region: string, rule: string | undefined, action?: string]> = [
    ['+442079460000', 'GB', 'prefix:+44', 'allow'],
    ['+449098790000', 'GB', 'prefix:+44909', 'deny'], // longest of +44 / +449 / +44909
    ['+448712223333', 'GB', 'prefix:+44', 'allow'], // 0871 is +44871, not under +449
    ['+19005550100', 'US', 'type:PREMIUM_RATE', 'deny'],
    ['+33612345678', 'FR', 'country_type:FR/MOBILE', 'allow'],
    ['+33123456789', 'FR', 'country:FR', 'alert'],
    ['+49301234567', 'DE', 'country:DE', 'deny'],
    ['+12015550123', 'US', undefined],
    ['2001', 'GB', undefined], // internal: no E.164, no rule
  ];
  for (const [dialled, region, name, action] of cases) {
    it(`${dialled} → ${name ?? 'no rule'}`, () => {
      const m = matchDestination(table, classifyDialled(dialled, plan(region)));
      assert.equal(m?.name, name);
      if (action !== undefined) assert.equal(m?.action, action);
    });
  }
});

describe('built-in IRSF deny list', () => {
  const denied: ReadonlyArray<[string, string]> = [
    ['+881631234567', 'builtin:+881'], // Iridium
    ['+88234567890', 'builtin:+882'],
    ['+883510012345', 'builtin:+883'],
    ['+979123456789', 'builtin:+979'],
    ['+5372345678', 'builtin:+53'], // Cuba
    ['+25261234567', 'builtin:+252'], // Somalia
    ['+6886123456', 'builtin:+688'], // Tuvalu
  ];
  for (const [n, name] of denied) {
    it(`${n} is denied by ${name}`, () => {
      const m = matchDestination(compileDestinations([], true), classifyDialled(n, plan('GB')));
      assert.equal(m?.name, name);
      assert.equal(m?.action, 'deny');
    });
  }

  it('they are ordinary numbers to libphonenumber, which is why a type rule cannot catch them', () => {
    const c = classifyDialled('+5372345678', plan('GB'));
    assert.notEqual(c.type, 'PREMIUM_RATE');
    assert.equal(c.callClass, 'international');
  });

  it('an operator rule with a longer prefix re-opens a sub-range; the rest stays closed', () => {
    assert.equal(matchDestination(table, classifyDialled('+88216123456', plan('GB')))?.action, 'allow');
    assert.equal(matchDestination(table, classifyDialled('+88234567890', plan('GB')))?.action, 'deny');
  });

  it('an operator rule with the same prefix replaces the built-in one', () => {
    const t = compileDestinations([{ prefix: '+53', action: 'allow' }], true);
    assert.equal(matchDestination(t, classifyDialled('+5372345678', plan('GB')))?.name, 'prefix:+53');
    assert.equal(matchDestination(t, classifyDialled('+5372345678', plan('GB')))?.action, 'allow');
  });

  it('the NANP one-ring codes only alert', () => {
    const m = matchDestination(compileDestinations([], true), classifyDialled('+18765550100', plan('US')));
    assert.equal(m?.action, 'alert');
  });

  it('can be switched off', () => {
    assert.equal(matchDestination(compileDestinations([], false), classifyDialled('+5372345678', plan('GB'))), undefined);
  });

  it('every entry is a digit prefix with a reason', () => {
    for (const b of BUILTIN_FRAUD_DESTINATIONS) {
      assert.match(b.prefix, /^[1-9][0-9]{0,5}$/);
      assert.ok(b.why.length > 10, b.prefix);
    }
  });
});
