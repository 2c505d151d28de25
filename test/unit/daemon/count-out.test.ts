import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countOut } from '../../../src/daemon/count-out.ts';
import type { Metrics, SipMessageLabels } from '../../../src/observability/metrics.ts';

test('outbound messages are labelled by method (start line or CSeq), kind and side', () => {
  const seen: SipMessageLabels[] = [];
  const metrics = { countSipMessage: (l: SipMessageLabels) => seen.push(l) } as unknown as Metrics;
  const to = (listenerId: string) => ({ transport: 'udp' as const, address: '192.0.2.1', port: 5060, listenerId });
  countOut(metrics, Buffer.from('SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP a\r\nCSeq:\t12   INVITE\r\n\r\n'), to('pub'), 'pbx');
  countOut(metrics, Buffer.from('BYE sip:x SIP/2.0\r\nCSeq: 2 BYE\r\n\r\n'), to('pbx'), 'pbx');
  countOut(metrics, Buffer.from('SIP/2.0 200 OK\r\nVia: x\r\n\r\n'), to('pub'), 'pbx');
  countOut(metrics, Buffer.from('FOO sip:x SIP/2.0\r\n\r\n'), to('pub'), 'pbx');
  assert.deepEqual(
    seen.map((l) => `${l.method} ${l.kind} ${l.side}`),
    ['INVITE response public', 'BYE request pbx', 'other response public', 'other request public'],
  );
});
