import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { durationSchema } from '../../../src/config/schema.ts';
import { compileAnomalyRules, createFraudSchema } from '../../../src/policy/schema.ts';
import { fraudSchema, parseFraud } from './helpers.ts';

function issuePaths(input: unknown): string[] {
  const r = fraudSchema.safeParse(input);
  assert.equal(r.success, false, 'expected the schema to refuse this input');
  return r.success ? [] : r.error.issues.map((i) => i.path.join('/'));
}

describe('fraud schema', () => {
  it('an empty section gets safe defaults', () => {
    const p = parseFraud({});
    assert.equal(p.enabled, true);
    assert.equal(p.builtinDenyList, true);
    assert.deepEqual(p.defaults.classes, ['internal', 'national', 'mobile']);
    assert.equal(p.limits.user.concurrent, 4);
    assert.equal(p.limits.user.minutesPerDay?.premium, 0);
    assert.equal(p.anomaly.sequential.window, 600_000);
    assert.deepEqual(p.anomaly.sequential.action, { kind: 'block_user', forMs: 3_600_000 });
    assert.deepEqual(p.emergency.GB, ['999', '112']);
    assert.equal(p.reasonHeader, 'Reason');
  });

  it('durations are strings such as 10m (or seconds) and actions take four forms', () => {
    const p = parseFraud({
      anomaly: {
        sequential: { window: '90s', action: 'reject' },
        shortCalls: { window: 120, shorterThan: '5s', action: { ban_source: '7d' } },
        baseline: { enabled: false },
      },
    });
    assert.equal(p.anomaly.sequential.window, 90_000);
    assert.equal(p.anomaly.shortCalls.window, 120_000);
    assert.deepEqual(p.anomaly.shortCalls.action, { kind: 'ban_source', forMs: 7 * 86_400_000 });
    const rules = compileAnomalyRules(p);
    assert.equal(rules.baseline, undefined);
    assert.equal(rules.shortCalls?.shortMs, 5000);
  });

  const bad: ReadonlyArray<[string, unknown, string]> = [
    ['unknown key (typo)', { enabeld: true }, ''],
    ['country "UK" is not ISO', { defaultRegion: 'UK' }, 'defaultRegion'],
    [
      'unknown zone',
      { groups: { g: { windows: [{ days: ['mon'], from: '08:00', to: '18:00', tz: 'Europe/Londn' }] } } },
      'groups/g/windows/0/tz',
    ],
    ['bad hour', { users: { u: { windows: [{ days: ['mon'], from: '8', to: '18:00', tz: 'UTC' }] } } }, 'users/u/windows/0/from'],
    ['bad class', { defaults: { classes: ['satellite'] } }, 'defaults/classes/0'],
    ['bad regex', { internal: { pattern: '([0-9' } }, 'internal/pattern'],
    ['prefix is not E.164', { destinations: [{ prefix: '+0044', action: 'deny' }] }, 'destinations/0/prefix'],
    ['rule matching nothing', { destinations: [{ action: 'deny' }] }, 'destinations/0'],
    ['prefix with a type', { destinations: [{ prefix: '+44', type: 'MOBILE', action: 'deny' }] }, 'destinations/0'],
    ['bad duration', { anomaly: { sequential: { window: '10 minutes' } } }, 'anomaly/sequential/window'],
    ['bad action', { anomaly: { sequential: { action: { block_user: '1h', ban_source: '1h' } } } }, 'anomaly/sequential/action'],
    ['reason with CRLF', { reasons: { limit: 'a\r\nX-Injected: 1' } }, 'reasons/limit'],
    ['header name with a space', { reasonHeader: 'X Reason' }, 'reasonHeader'],
  ];
  for (const [name, input, path] of bad) {
    it(`refuses: ${name}`, () => assert.ok(issuePaths(input).includes(path), issuePaths(input).join(', ')));
  }

  it('embeds under the policy key `fraud` with prefault({})', () => {
    const policy = z.strictObject({ fraud: createFraudSchema(durationSchema).prefault({}) });
    assert.equal(policy.parse({}).fraud.enabled, true);
    assert.equal(policy.parse({ fraud: { enabled: false } }).fraud.enabled, false);
  });
});
