/** RFC 3261 §17 timers and retransmission handling, driven by a manual clock (no sleeping). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import { type ClientTransaction, serverKey, TransactionLayer } from '../../../src/proxy/transaction.ts';
import { buildResponseTo, createRequest } from '../../../src/sip/build.ts';
import type { SipMessage } from '../../../src/sip/types.ts';
import type { Source, Target } from '../../../src/transport/types.ts';

const T = { t1Ms: 500, t2Ms: 4000, t4Ms: 5000 };
const udpTarget: Target = { transport: 'udp', address: '127.0.0.3', port: 5070 };
const tcpTarget: Target = { transport: 'tcp', address: '127.0.0.3', port: 5070, connectionId: 7 };

function request(method: string, branch = 'z9hG4bKtest1'): SipMessage {
  return createRequest({
    method,
    requestUri: 'sip:100@127.0.0.3',
    headers: [
      ['Via', `SIP/2.0/UDP 127.0.0.2:5080;branch=${branch}`],
      ['Max-Forwards', '70'],
      ['From', '<sip:a@x>;tag=1'],
      ['To', '<sip:100@x>'],
      ['Call-ID', 'cid-1'],
      ['CSeq', `1 ${method}`],
    ],
  });
}

function harness() {
  const clock = new ManualClock();
  const sent: Array<{ target: Target; text: string }> = [];
  const layer = new TransactionLayer({
    clock,
    timers: T,
    send: (target, bytes) => {
      sent.push({ target, text: bytes.toString('latin1') });
      return true;
    },
    maxTransactions: 100,
    buildAck: (inv, resp) =>
      createRequest({
        method: 'ACK',
        requestUri: inv.requestUri ?? '',
        headers: [
          ['Via', inv.get('via') ?? ''],
          ['From', inv.get('from') ?? ''],
          ['To', resp.get('to') ?? ''],
          ['Call-ID', 'cid-1'],
          ['CSeq', '1 ACK'],
        ],
      }),
  });
  const events: string[] = [];
  const tu = {
    onResponse: (_t: ClientTransaction, r: SipMessage) => events.push(`resp ${r.status}`),
    onTimeout: (_t: ClientTransaction, reason: string) => events.push(`timeout ${reason}`),
  };
  return { clock, sent, layer, events, tu };
}

test('INVITE client over UDP: Timer A doubles, Timer B times out at 64*T1', () => {
  const h = harness();
  const ct = h.layer.createClient('z9hG4bKtest1', request('INVITE'), udpTarget, h.tu);
  ct.start();
  assert.equal(h.sent.length, 1);
  h.clock.advance(500);
  assert.equal(h.sent.length, 2, 'first retransmission at T1');
  h.clock.advance(1000);
  assert.equal(h.sent.length, 3, 'second at 2*T1 later');
  h.clock.advance(2000);
  assert.equal(h.sent.length, 4, 'third at 4*T1 later');
  h.clock.advance(64 * 500);
  assert.deepEqual(h.events, ['timeout timeout']);
  assert.equal(h.layer.activeClients, 0);
});

test('INVITE client: a provisional stops retransmission; a non-2xx final is ACKed with the same branch', () => {
  const h = harness();
  const inv = request('INVITE');
  const ct = h.layer.createClient('z9hG4bKtest1', inv, udpTarget, h.tu);
  ct.start();
  ct.receive(buildResponseTo(inv, 180, 'Ringing', [], 'tt'));
  const before = h.sent.length;
  h.clock.advance(10_000);
  assert.equal(h.sent.length, before, 'no retransmission after 1xx');
  ct.receive(buildResponseTo(inv, 486, 'Busy Here', [], 'tt'));
  const ack = h.sent.at(-1)?.text ?? '';
  assert.match(ack, /^ACK sip:100@127\.0\.0\.3 SIP\/2\.0/);
  assert.match(ack, /branch=z9hG4bKtest1/);
  assert.match(ack, /To: <sip:100@x>;tag=tt/);
  // A retransmitted final gets the ACK again and is not passed up twice (§17.1.1.2).
  ct.receive(buildResponseTo(inv, 486, 'Busy Here', [], 'tt'));
  assert.deepEqual(h.events, ['resp 180', 'resp 486']);
  assert.equal(h.sent.filter((s) => s.text.startsWith('ACK')).length, 2);
});

test('INVITE client: 2xx retransmissions reach the TU while Accepted (RFC 6026)', () => {
  const h = harness();
  const inv = request('INVITE');
  const ct = h.layer.createClient('z9hG4bKtest1', inv, udpTarget, h.tu);
  ct.start();
  ct.receive(buildResponseTo(inv, 200, 'OK', [], 'tt'));
  ct.receive(buildResponseTo(inv, 200, 'OK', [], 'tt'));
  assert.deepEqual(h.events, ['resp 200', 'resp 200']);
  h.clock.advance(64 * 500);
  assert.equal(h.layer.activeClients, 0, 'Timer M ends it');
});

test('non-INVITE client: Timer E caps at T2, Timer F times out; reliable transports do not retransmit', () => {
  const h = harness();
  const ct = h.layer.createClient('z9hG4bKtest2', request('OPTIONS', 'z9hG4bKtest2'), udpTarget, h.tu);
  ct.start();
  const times: number[] = [];
  let last = h.sent.length;
  for (let t = 0; t < 32_000; t += 100) {
    h.clock.advance(100);
    if (h.sent.length !== last) {
      times.push(h.clock.now());
      last = h.sent.length;
    }
  }
  assert.deepEqual(times.slice(0, 5), [500, 1500, 3500, 7500, 11500], 'T1, 2T1, 4T1, then T2 steps');
  assert.deepEqual(h.events, ['timeout timeout']);

  const r = harness();
  const ct2 = r.layer.createClient('z9hG4bKtest3', request('OPTIONS', 'z9hG4bKtest3'), tcpTarget, r.tu);
  ct2.start();
  r.clock.advance(31_000);
  assert.equal(r.sent.length, 1);
});

test('server INVITE: retransmission repeats the last response; Timer G over UDP until ACK', () => {
  const h = harness();
  const inv = request('INVITE', 'z9hG4bKsrv');
  const src: Source = {
    transport: 'udp',
    address: '127.0.0.1',
    port: 5062,
    listenerId: 'pub',
    localAddress: '127.0.0.1',
    localPort: 5060,
    connectionId: undefined,
    tls: undefined,
    receivedAt: 0,
  };
  const key = serverKey('z9hG4bKsrv', '127.0.0.2:5080', 'INVITE');
  const st = h.layer.createServer(key, inv, src, { transport: 'udp', address: '127.0.0.1', port: 5062 });
  assert.equal(h.layer.findServer(serverKey('z9hG4bKsrv', '127.0.0.2:5080', 'ACK')), st, 'ACK maps to the INVITE transaction');
  st.respond(buildResponseTo(inv, 100, 'Trying'));
  st.onRetransmission();
  assert.equal(h.sent.length, 2);
  assert.match(h.sent[1]?.text ?? '', /^SIP\/2\.0 100/);
  st.respond(buildResponseTo(inv, 404, 'Not Found', [], 'x'));
  h.clock.advance(500);
  h.clock.advance(1000);
  assert.equal(h.sent.filter((s) => s.text.startsWith('SIP/2.0 404')).length, 3, 'Timer G retransmits the final');
  st.onAck();
  h.clock.advance(10_000);
  assert.equal(h.sent.filter((s) => s.text.startsWith('SIP/2.0 404')).length, 3, 'ACK stops Timer G');
  assert.equal(h.layer.activeServers, 0, 'Timer I ends it');
});

test('the transaction table is bounded and evicted transactions stop their timers', () => {
  const clock = new ManualClock();
  let sends = 0;
  const layer = new TransactionLayer({
    clock,
    timers: T,
    send: () => {
      sends++;
      return true;
    },
    maxTransactions: 3,
    buildAck: () => undefined,
  });
  const tu = { onResponse: () => {}, onTimeout: () => {} };
  for (let i = 0; i < 10; i++) layer.createClient(`b${i}`, request('OPTIONS', `b${i}`), udpTarget, tu).start();
  assert.equal(layer.activeClients, 3);
  assert.equal(layer.evictions, 7);
  sends = 0;
  clock.advance(500);
  assert.equal(sends, 3, 'only live transactions retransmit');
});

test('INVITE client: once ringing, Timer B no longer applies (calls may ring for minutes)', () => {
  const h = harness();
  const inv = request('INVITE');
  const ct = h.layer.createClient('z9hG4bKtest1', inv, udpTarget, h.tu);
  ct.start();
  ct.receive(buildResponseTo(inv, 180, 'Ringing', [], 'tt'));
  h.clock.advance(120_000);
  assert.deepEqual(h.events, ['resp 180'], 'no timeout while proceeding');
  assert.equal(ct.state, 'proceeding');
  ct.receive(buildResponseTo(inv, 200, 'OK', [], 'tt'));
  assert.deepEqual(h.events, ['resp 180', 'resp 200']);
});
