import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PbxPool, type PbxTargetConfig } from '../../../src/proxy/pbx-pool.ts';

const probe = { intervalMs: 1000, timeoutMs: 500, failuresToDown: 2, successesToUp: 2 };
const t = (name: string, host: string, priority: number): PbxTargetConfig => ({
  name,
  host,
  port: 5060,
  transport: 'udp',
  priority,
  tlsVerify: true,
});

test('picks the lowest priority that is up, round-robin among equals, and fails over', () => {
  const pool = new PbxPool([t('a', '10.0.0.1', 1), t('b', '10.0.0.2', 1), t('c', '10.0.0.3', 5)], probe, 'pbx', 0);
  const names = [pool.pick()?.config.name, pool.pick()?.config.name, pool.pick()?.config.name];
  assert.ok(names.includes('a') && names.includes('b'));
  assert.ok(!names.includes('c'));
  assert.equal(pool.pick(new Set(['a', 'b']))?.config.name, 'c', 'excluded targets are skipped');
  const a = pool.findByName('a');
  const b = pool.findByName('b');
  assert.ok(a && b);
  pool.reportFailure(a, 1);
  assert.equal(a.up, true, 'one failure is not enough');
  pool.reportFailure(a, 2);
  pool.reportFailure(b, 2);
  pool.reportFailure(b, 3);
  assert.equal(pool.pick()?.config.name, 'c');
  pool.reportSuccess(a, 4);
  assert.equal(a.up, false, 'successesToUp is 2');
  pool.reportSuccess(a, 5);
  assert.equal(a.up, true);
  assert.equal(pool.pick(new Set(['b']))?.config.name, 'a');
});

test('anyUp, findBySource and reconfigure keeping health of unchanged targets', () => {
  const changes: string[] = [];
  const pool = new PbxPool([t('a', '10.0.0.1', 1)], probe, 'pbx', 0);
  pool.onChange = (s) => changes.push(`${s.config.name}:${s.up}`);
  const a = pool.findByName('a');
  assert.ok(a);
  pool.reportFailure(a, 1);
  pool.reportFailure(a, 2);
  assert.equal(pool.anyUp(), false);
  assert.deepEqual(changes, ['a:false']);
  assert.equal(pool.findBySource('udp', '10.0.0.1', 5060)?.config.name, 'a');
  assert.equal(pool.findBySource('tcp', '10.0.0.1', 40000)?.config.name, 'a', 'streams come from ephemeral ports');
  assert.equal(pool.findBySource('udp', '10.0.0.9', 5060), undefined);
  pool.reconfigure([t('a', '10.0.0.1', 1), t('n', '10.0.0.5', 2)], probe, 'pbx', 3);
  assert.equal(pool.findByName('a')?.up, false, 'health survives a reload');
  assert.equal(pool.findByName('n')?.up, true);
});
