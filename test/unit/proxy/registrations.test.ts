import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RegistrationStore } from '../../../src/proxy/registrations.ts';

const flow = (connectionId?: number) => ({ transport: 'tcp' as const, address: '198.51.100.7', port: 40000, connectionId });

test('tokens are stable per (aor, contact) and differ otherwise', () => {
  const s = new RegistrationStore(10, Buffer.alloc(32, 1));
  assert.equal(s.tokenFor('sip:a@x', 'sip:a@1.2.3.4'), s.tokenFor('sip:a@x', 'sip:a@1.2.3.4'));
  assert.notEqual(s.tokenFor('sip:a@x', 'sip:a@1.2.3.4'), s.tokenFor('sip:a@x', 'sip:a@1.2.3.5'));
  assert.notEqual(
    new RegistrationStore(10, Buffer.alloc(32, 2)).tokenFor('sip:a@x', 'c'),
    s.tokenFor('sip:a@x', 'c'),
    'keyed by the node secret',
  );
});

test('expiry, connection loss, AOR removal and the bound', () => {
  const s = new RegistrationStore(3, Buffer.alloc(32));
  s.upsert({ token: 't1', aor: 'sip:a@x', contactUri: 'sip:a@p', contactRaw: '<sip:a@p>', flow: flow(1), expiresAt: 1000 });
  s.upsert({ token: 't2', aor: 'sip:a@x', contactUri: 'sip:a@q', contactRaw: '<sip:a@q>', flow: flow(2), expiresAt: 5000 });
  assert.equal(s.get('t1', 999)?.contactUri, 'sip:a@p');
  assert.equal(s.get('t1', 1000), undefined, 'expired');
  assert.equal(s.dropConnection(2), 1);
  assert.equal(s.size, 0);
  for (let i = 0; i < 5; i++) s.upsert({ token: `x${i}`, aor: 'sip:b@x', contactUri: 'u', contactRaw: 'u', flow: flow(), expiresAt: 0 });
  assert.equal(s.size, 3);
  assert.equal(s.evictions, 2);
  assert.equal(s.removeAor('sip:b@x'), 3);
});
