/** The detector's blocks as the daemon persists them: every change reported once, restores kept quiet. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AnomalyEvent, createAnomalyDetector } from '../../../src/policy/anomaly.ts';
import { compileAnomalyRules } from '../../../src/policy/schema.ts';
import { parseFraud } from './helpers.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 2, 10);
const rules = compileAnomalyRules(
  parseFraud({ anomaly: { sequential: { window: '10m', minNumbers: 3, varyingDigits: 3, action: { block_user: '1h' } } } }),
);

const attempt = (subject: string, at: number, i: number): AnomalyEvent => ({
  kind: 'attempt',
  subject,
  at,
  callClass: 'international',
  e164: `+44207946000${i}`,
});

describe('anomaly detector blocks', () => {
  it('a block_user finding, a lift and dropped expired blocks each report a change', () => {
    let changes = 0;
    const det = createAnomalyDetector(rules, { onBlocksChanged: () => changes++ });
    for (let i = 0; i < 2; i++) det.observe(attempt('user:mallory', T0 + i, i));
    assert.equal(changes, 0);
    assert.equal(det.observe(attempt('user:mallory', T0 + 2, 2)).length, 1);
    assert.equal(changes, 1, 'the block');
    assert.equal(det.blockedUntil('user:mallory', T0 + 10), T0 + 2 + HOUR);
    assert.equal(changes, 1, 'reading a block in force is no change');
    assert.equal(det.unblock('user:mallory'), true);
    assert.equal(changes, 2, 'the lift');
    assert.equal(det.unblock('user:mallory'), false);
    assert.equal(changes, 2);
    det.restoreBlock('trunk:sbc1', T0 + 100);
    assert.equal(changes, 2, 'a restore is no change');
    assert.deepEqual(det.blocks(T0 + 50), [{ subject: 'trunk:sbc1', until: T0 + 100 }]);
    assert.equal(changes, 2);
    assert.deepEqual(det.blocks(T0 + 100), []);
    assert.equal(changes, 3, 'the expired block dropped');
    det.restoreBlock('trunk:sbc1', T0 + 100);
    assert.equal(det.blockedUntil('trunk:sbc1', T0 + 100), undefined);
    assert.equal(changes, 4, 'dropped by blockedUntil too');
  });

  it('restoreBlock keeps the later expiry and refuses a time that is not finite', () => {
    const det = createAnomalyDetector(rules);
    assert.equal(det.restoreBlock('user:a', T0 + HOUR), true);
    assert.equal(det.restoreBlock('user:a', T0 + 1), true);
    assert.equal(det.blockedUntil('user:a', T0), T0 + HOUR);
    assert.equal(det.restoreBlock('user:b', Number.NaN), false);
    assert.equal(det.restoreBlock('user:b', Number.POSITIVE_INFINITY), false);
    assert.deepEqual(det.blocks(T0), [{ subject: 'user:a', until: T0 + HOUR }]);
  });

  it('a listener that throws does not change the decision', () => {
    const det = createAnomalyDetector(rules, {
      onBlocksChanged: () => {
        throw new Error('disk full');
      },
    });
    for (let i = 0; i < 3; i++) det.observe(attempt('user:mallory', T0 + i, i));
    assert.equal(det.blockedUntil('user:mallory', T0 + 10), T0 + 2 + HOUR);
  });
});
