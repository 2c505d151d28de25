import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyDialled } from '../../../src/policy/number.ts';
import { checkRights, type RightsPolicy, resolveRights } from '../../../src/policy/rights.ts';
import { MONDAY_10_UTC, plan } from './helpers.ts';

const policy: RightsPolicy = {
  defaults: { classes: ['internal', 'national', 'mobile'], defaultRegion: 'GB' },
  groups: {
    intl: { classes: ['internal', 'national', 'mobile', 'international'], countries: ['FR', 'DE'] },
    world: { classes: ['international'] },
    premium: { classes: ['premium'] },
    night: { windows: [{ days: ['mon'], from: '20:00', to: '23:00', tz: 'UTC', classes: ['international'] }] },
  },
  users: {
    lobby: { classes: ['internal'] },
    ceo: { classes: ['internal', 'national', 'mobile', 'international', 'premium'], denyCountries: ['CU'] },
    roamer: { sourceCountries: ['GB'] },
  },
  trunks: { carrier: { classes: ['national', 'international'], defaultRegion: 'US' } },
};

const N = {
  internal: '2001',
  national: '02079460000',
  mobile: '07400123456',
  france: '+33123456789',
  germany: '+49301234567',
  us: '+12015550123',
  cuba: '+5372345678',
  premium: '09098790000',
  satellite: '+88216123456',
} as const;

describe('rights per class, user, group and trunk', () => {
  const cases: ReadonlyArray<
    [who: string, facts: { user?: string; groups?: string[]; trunk?: string }, dialled: keyof typeof N, result: string | undefined]
  > = [
    ['default user: national', { user: 'bob' }, 'national', undefined],
    ['default user: mobile', { user: 'bob' }, 'mobile', undefined],
    ['default user: internal', { user: 'bob' }, 'internal', undefined],
    ['default user: international refused', { user: 'bob' }, 'france', 'class_not_allowed'],
    ['default user: premium refused', { user: 'bob' }, 'premium', 'class_not_allowed'],
    ['lobby phone: internal only', { user: 'lobby' }, 'internal', undefined],
    ['lobby phone: national refused', { user: 'lobby' }, 'national', 'class_not_allowed'],
    ['intl group: France allowed', { user: 'eve', groups: ['intl'] }, 'france', undefined],
    ['intl group: US not in its countries', { user: 'eve', groups: ['intl'] }, 'us', 'country_not_allowed'],
    ['intl group: a non-geographic code has no country', { user: 'eve', groups: ['intl'] }, 'satellite', 'country_not_allowed'],
    ['intl + world groups: union means anywhere', { user: 'eve', groups: ['intl', 'world'] }, 'us', undefined],
    [
      'premium group alone: national falls back to… nothing (group classes replace defaults)',
      { user: 'pat', groups: ['premium'] },
      'national',
      'class_not_allowed',
    ],
    ['premium group: premium allowed', { user: 'pat', groups: ['premium'] }, 'premium', undefined],
    ['unknown group: defaults', { user: 'eve', groups: ['nope'] }, 'national', undefined],
    ['ceo: premium', { user: 'ceo' }, 'premium', undefined],
    ['ceo: denied country', { user: 'ceo' }, 'cuba', 'country_not_allowed'],
    ['user entry wins over groups', { user: 'lobby', groups: ['intl'] }, 'france', 'class_not_allowed'],
    ['trunk: national in its own region (US)', { trunk: 'carrier' }, 'us', undefined],
    ['unknown trunk: defaults', { trunk: 'other' }, 'france', 'class_not_allowed'],
    ['anonymous: defaults', {}, 'mobile', undefined],
    ['__proto__ is not a user entry', { user: '__proto__' }, 'national', undefined],
  ];
  for (const [name, facts, dialled, expected] of cases) {
    it(name, () => {
      const r = resolveRights(policy, facts);
      const c = classifyDialled(N[dialled], plan(r.defaultRegion));
      assert.equal(checkRights(r, c, MONDAY_10_UTC), expected);
    });
  }

  it('windows restrict only the classes they name', () => {
    const r = resolveRights(policy, { user: 'ann', groups: ['intl', 'night'] });
    const fr = classifyDialled(N.france, plan('GB'));
    const nat = classifyDialled(N.national, plan('GB'));
    assert.equal(checkRights(r, fr, MONDAY_10_UTC), 'outside_hours');
    assert.equal(checkRights(r, fr, MONDAY_10_UTC + 11 * 3_600_000), undefined); // 21:00
    assert.equal(checkRights(r, nat, MONDAY_10_UTC), undefined);
  });

  it('source country: refused abroad, allowed at home or when unknown', () => {
    const r = resolveRights(policy, { user: 'roamer' });
    const c = classifyDialled(N.national, plan('GB'));
    assert.equal(checkRights(r, c, MONDAY_10_UTC, 'NG'), 'source_country');
    assert.equal(checkRights(r, c, MONDAY_10_UTC, 'GB'), undefined);
    assert.equal(checkRights(r, c, MONDAY_10_UTC), undefined);
  });

  it('subject: user before trunk, anonymous otherwise', () => {
    assert.deepEqual(resolveRights(policy, { user: 'a', trunk: 't' }).subject, { kind: 'user', id: 'a' });
    assert.deepEqual(resolveRights(policy, { trunk: 't' }).subject, { kind: 'trunk', id: 't' });
    assert.deepEqual(resolveRights(policy, {}).subject, { kind: 'anonymous', id: '' });
  });
});
