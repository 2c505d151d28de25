/**
 * Review tests for the B2BUA's own hang-up (terminate) and call-end reporting, driven in memory: messages go in
 * through B2bua.handle, everything Palisade sends is captured and parsed, time is a ManualClock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import { silentLogger } from '../../../src/core/log.ts';
import { CONTINUE, Pipeline, type Stage, type Verdict } from '../../../src/pipeline/stage.ts';
import { B2bua, passthroughMedia } from '../../../src/proxy/b2bua.ts';
import { PbxPool } from '../../../src/proxy/pbx-pool.ts';
import type { CallEnd, ProxySettings } from '../../../src/proxy/types.ts';
import { parseMessage } from '../../../src/sip/parser.ts';
import type { SipMessage } from '../../../src/sip/types.ts';
import type { ListenerInfo, Source, Target } from '../../../src/transport/types.ts';

const PHONE = { address: '127.0.0.5', port: 5062 };
const PBX_A = { address: '127.0.0.3', port: 5060 };
const PBX_B = { address: '127.0.0.4', port: 5060 };

const LISTENERS: ListenerInfo[] = [
  { id: 'udp-public', transport: 'udp', address: '127.0.0.1', port: 5060, advertiseHost: '127.0.0.1', advertisePort: 5060 },
  { id: 'pbx', transport: 'udp', address: '127.0.0.2', port: 5080, advertiseHost: '127.0.0.2', advertisePort: 5080 },
];

const SETTINGS: ProxySettings = {
  timers: { t1Ms: 500, t2Ms: 4000, t4Ms: 5000 },
  maxTransactions: 1000,
  maxDialogs: 100,
  maxRegistrations: 100,
  minExpires: 60,
  maxExpires: 3600,
  sourceHeader: '',
  retryAfterSeconds: 30,
  stripHeaders: [],
  localHosts: new Set(['127.0.0.1']),
  pbxResponseTimeoutMs: 2000,
  serverHeader: '',
  authMode: 'pbx',
  identityDomain: 'example.test',
};

interface Sent {
  target: Target;
  msg: SipMessage;
}

function parse(text: string): SipMessage {
  const r = parseMessage(Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'latin1'));
  if (!r.ok) throw new Error(`test message does not parse: ${r.error.code}`);
  return r.value;
}

function source(a: { address: string; port: number }, listenerId: string): Source {
  return {
    transport: 'udp',
    address: a.address,
    port: a.port,
    listenerId,
    localAddress: '127.0.0.1',
    localPort: 5060,
    connectionId: undefined,
    tls: undefined,
    receivedAt: 0,
  };
}

function harness(pbxs: Array<{ name: string; address: string; port: number }>, o: { settings?: ProxySettings; pipeline?: Pipeline } = {}) {
  const clock = new ManualClock();
  const sent: Sent[] = [];
  const ended: CallEnd[] = [];
  const pool = new PbxPool(
    pbxs.map((p) => ({ name: p.name, host: p.address, port: p.port, transport: 'udp' as const, priority: 1, tlsVerify: false })),
    { intervalMs: 30_000, timeoutMs: 2000, failuresToDown: 3, successesToUp: 2 },
    'pbx',
    0,
  );
  const b = new B2bua(o.settings ?? SETTINGS, {
    clock,
    logger: silentLogger,
    send: (target, bytes) => {
      const r = parseMessage(bytes);
      if (r.ok) sent.push({ target, msg: r.value });
      return true;
    },
    listeners: () => LISTENERS,
    pool,
    media: passthroughMedia,
    secret: Buffer.alloc(32, 7),
    isConnectionOpen: () => false,
    pipeline: o.pipeline ?? new Pipeline([]),
    onCallEnded: (e) => ended.push(e),
  });
  const fromPhone = (text: string) => b.handle(parse(text), source(PHONE, 'udp-public'), 'public');
  const fromPbx = (text: string, pbx = PBX_A) => b.handle(parse(text), source(pbx, 'pbx'), 'pbx');
  /** Sent messages matching, removed from the list. */
  const take = (pred: (s: Sent) => boolean): Sent[] => {
    const out = sent.filter(pred);
    for (const s of out) sent.splice(sent.indexOf(s), 1);
    return out;
  };
  const takeOne = (pred: (s: Sent) => boolean, what: string): Sent => {
    const all = take(pred);
    assert.equal(all.length, 1, `expected one ${what}; sent: ${sent.map((s) => s.msg.method ?? s.msg.status).join(', ')}`);
    return all[0] as Sent;
  };
  return { b, clock, sent, ended, fromPhone, fromPbx, take, takeOne };
}

const isReq = (m: string) => (s: Sent) => s.msg.isRequest && s.msg.method === m;
const isResp = (status: number) => (s: Sent) => !s.msg.isRequest && s.msg.status === status;
const toward = (a: { address: string }) => (s: Sent) => s.target.address === a.address;

/** A response to `req` as a UAS would build it: its Via, From, Call-ID, CSeq; To with our tag. */
function answer(req: SipMessage, status: number, extra: string[] = [], toTag = 'callee1'): string {
  const to = req.get('to') ?? '';
  const lines = [
    `SIP/2.0 ${status} ${status === 200 ? 'OK' : 'Whatever'}`,
    ...req.getAll('via').map((v) => `Via: ${v}`),
    `From: ${req.get('from') ?? ''}`,
    `To: ${to.includes('tag=') ? to : `${to};tag=${toTag}`}`,
    `Call-ID: ${req.callId() ?? ''}`,
    `CSeq: ${req.get('cseq') ?? ''}`,
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ];
  return lines.join('\r\n');
}

function invite(callId: string, branch: string, cseq: number, toTag?: string): string {
  return [
    `INVITE sip:200@127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/UDP ${PHONE.address}:${PHONE.port};branch=${branch};rport`,
    'Max-Forwards: 70',
    'From: <sip:100@127.0.0.1>;tag=caller1',
    `To: <sip:200@127.0.0.1>${toTag ? `;tag=${toTag}` : ''}`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} INVITE`,
    `Contact: <sip:100@${PHONE.address}:${PHONE.port}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

function ack(callId: string, branch: string, cseq: number): string {
  return [
    `ACK sip:x@127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/UDP ${PHONE.address}:${PHONE.port};branch=${branch};rport`,
    'Max-Forwards: 70',
    'From: <sip:100@127.0.0.1>;tag=caller1',
    'To: <sip:200@127.0.0.1>;tag=callee1',
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} ACK`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** Phone → Palisade → PBX, answered 200 (with `answerExtra` headers) and ACKed. Returns the PBX's copy of the INVITE. */
function establish(h: ReturnType<typeof harness>, callId: string, answerExtra: string[], pbx = PBX_A): SipMessage {
  h.fromPhone(invite(callId, 'z9hG4bKphone1', 1));
  const inv = h.takeOne((s) => isReq('INVITE')(s) && toward(pbx)(s), 'INVITE to the PBX').msg;
  h.fromPbx(answer(inv, 200, [`Contact: <sip:200@${pbx.address}:${pbx.port}>`, ...answerExtra]), pbx);
  h.takeOne(isResp(200), '200 to the phone');
  h.fromPhone(ack(callId, 'z9hG4bKphone1ack', 1));
  h.take(isReq('ACK'));
  return inv;
}

test('a 2xx to a re-INVITE keeps the dialog route set (RFC 3261 §12.2.1.2): Palisade’s own BYE still follows the Record-Route', () => {
  const h = harness([{ name: 'a', ...PBX_A }]);
  establish(h, 'rr-call', ['Record-Route: <sip:127.0.0.9;lr>']);
  const call = h.b.calls.find('public', 'rr-call');
  assert.ok(call);
  // The phone re-INVITEs (hold); the PBX answers without Record-Route (proxies do not record-route mid-dialog).
  h.fromPhone(invite('rr-call', 'z9hG4bKphone2', 2, 'callee1'));
  const reinv = h.takeOne(isReq('INVITE'), 're-INVITE to the PBX').msg;
  assert.deepEqual(reinv.getAll('route'), ['<sip:127.0.0.9;lr>']);
  h.fromPbx(answer(reinv, 200, [`Contact: <sip:200@${PBX_A.address}:${PBX_A.port}>`]));
  h.takeOne(isResp(200), '200 to the phone');
  assert.equal(h.b.terminate(call, 'duration-limit'), true);
  const bye = h.takeOne((s) => isReq('BYE')(s) && toward(PBX_A)(s), 'BYE to the PBX').msg;
  assert.deepEqual(bye.getAll('route'), ['<sip:127.0.0.9;lr>']);
});

test('a re-INVITE the PBX is slow to answer is not failed over to another PBX; the dialog stays with its PBX', () => {
  const h = harness([
    { name: 'a', ...PBX_A },
    { name: 'b', ...PBX_B },
  ]);
  establish(h, 'fo-call', []);
  const call = h.b.calls.find('public', 'fo-call');
  assert.ok(call);
  h.fromPhone(invite('fo-call', 'z9hG4bKphone2', 2, 'callee1'));
  h.takeOne((s) => isReq('INVITE')(s) && toward(PBX_A)(s), 're-INVITE to PBX a');
  h.clock.advance(2500); // past pbxResponseTimeoutMs: the fast failover must not apply mid-dialog
  assert.equal(h.take((s) => isReq('INVITE')(s) && toward(PBX_B)(s)).length, 0, 'no re-INVITE to PBX b');
  assert.equal(call.legs.pbx.flow.address, PBX_A.address);
  assert.equal(call.pbxName, 'a');
  assert.equal(h.take(isResp(408)).length, 0, 'no early 408 mid-dialog: Timer B decides');
  h.clock.advance(40_000); // Timer B: the phone gets 408, nothing goes to b, the BYE later goes to a
  assert.equal(h.take((s) => isReq('INVITE')(s) && toward(PBX_B)(s)).length, 0, 'no re-INVITE to PBX b after Timer B');
  const r408 = h.take(isResp(408)); // retransmitted (Timer G): the test phone never ACKs
  assert.ok(r408.length >= 1 && r408.every((s) => s.target.address === PHONE.address), '408 to the phone');
  assert.equal(h.b.terminate(call, 'duration-limit'), true);
  h.takeOne((s) => isReq('BYE')(s) && toward(PBX_A)(s), 'BYE to PBX a');
  assert.equal(h.take((s) => toward(PBX_B)(s)).length, 0);
});

test('a new INVITE reusing a live call’s Call-ID refused while draining does not end the live call’s authorization', () => {
  const h = harness([{ name: 'a', ...PBX_A }]);
  establish(h, 'live-call', []);
  h.b.draining = true;
  h.fromPhone(invite('live-call', 'z9hG4bKphone9', 7));
  h.takeOne(isResp(503), '503 to the phone');
  assert.equal(h.ended.length, 0, 'the live call was not reported ended');
  // A refused INVITE with a Call-ID of its own is reported once.
  h.fromPhone(invite('other-call', 'z9hG4bKphone10', 1));
  h.takeOne(isResp(503), '503 to the phone');
  assert.deepEqual(
    h.ended.map((e) => e.publicCallId),
    ['other-call'],
  );
  // The live call ends: reported once, answered.
  const call = h.b.calls.find('public', 'live-call');
  assert.ok(call);
  h.b.terminate(call, 'duration-limit');
  assert.deepEqual(
    h.ended.map((e) => [e.publicCallId, e.reason]),
    [
      ['other-call', undefined],
      ['live-call', 'duration-limit'],
    ],
  );
});

test('an INVITE whose transaction is evicted while an asynchronous stage (credential lookup) runs is reported ended once', async () => {
  const pending: Array<(v: Verdict) => void> = [];
  const slow: Stage = { name: 'slow-auth', run: () => new Promise<Verdict>((r) => pending.push(r)) };
  const h = harness([{ name: 'a', ...PBX_A }], { settings: { ...SETTINGS, maxTransactions: 2 }, pipeline: new Pipeline([slow]) });
  h.fromPhone(invite('evicted-call', 'z9hG4bKev1', 1));
  h.fromPhone(invite('other-1', 'z9hG4bKev2', 1));
  h.fromPhone(invite('other-2', 'z9hG4bKev3', 1)); // the table holds two: the first INVITE's transaction goes
  for (const r of pending) r(CONTINUE);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    h.ended.map((e) => e.publicCallId),
    ['evicted-call'],
  );
  assert.equal(h.take((s) => isReq('INVITE')(s) && s.msg.get('from')?.includes('caller1') === true).length, 2, 'the other two went on');
});

test('an INVITE inside a SUBSCRIBE dialog is refused (481), not passed to the PBX as a call nobody authorised', () => {
  const h = harness([{ name: 'a', ...PBX_A }]);
  const sub = (branch: string, method: string, cseq: number, toTag?: string) =>
    [
      `${method} sip:200@127.0.0.1 SIP/2.0`,
      `Via: SIP/2.0/UDP ${PHONE.address}:${PHONE.port};branch=${branch};rport`,
      'Max-Forwards: 70',
      'From: <sip:100@127.0.0.1>;tag=caller1',
      `To: <sip:200@127.0.0.1>${toTag ? `;tag=${toTag}` : ''}`,
      'Call-ID: sub-call',
      `CSeq: ${cseq} ${method}`,
      `Contact: <sip:100@${PHONE.address}:${PHONE.port}>`,
      ...(method === 'SUBSCRIBE' ? ['Event: presence', 'Expires: 600'] : []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
  h.fromPhone(sub('z9hG4bKsub1', 'SUBSCRIBE', 1));
  const s = h.takeOne((x) => isReq('SUBSCRIBE')(x) && toward(PBX_A)(x), 'SUBSCRIBE to the PBX').msg;
  h.fromPbx(answer(s, 200, [`Contact: <sip:200@${PBX_A.address}:${PBX_A.port}>`, 'Expires: 600']));
  h.takeOne(isResp(200), '200 to the phone');
  h.fromPhone(sub('z9hG4bKinv1', 'INVITE', 2, 'callee1'));
  assert.equal(h.take(isReq('INVITE')).length, 0, 'no INVITE reached the PBX');
  h.takeOne(isResp(481), '481 to the phone');
});

test('an answered call evicted from a full call table is hung up both ways (BYE) and reported ended once', () => {
  const h = harness([{ name: 'a', ...PBX_A }], { settings: { ...SETTINGS, maxDialogs: 1, maxRegistrations: 1 } });
  establish(h, 'old-call', []);
  h.fromPhone(invite('new-1', 'z9hG4bKnew1', 1));
  h.fromPhone(invite('new-2', 'z9hG4bKnew2', 1)); // two records fit: the oldest goes
  assert.equal(h.b.calls.find('public', 'old-call'), undefined);
  const byes = h.take(isReq('BYE'));
  assert.deepEqual(byes.map((b) => [b.target.address, b.msg.callId() === 'old-call']).sort(), [
    [PBX_A.address, false],
    [PHONE.address, true],
  ]);
  assert.deepEqual(
    h.ended.map((e) => [e.publicCallId, e.reason]),
    [['old-call', 'evicted']],
  );
});

test('a re-INVITE with a new Contact refreshes the remote target (RFC 3261 §12.2.2): Palisade’s BYE goes to the new URI', () => {
  const h = harness([{ name: 'a', ...PBX_A }]);
  establish(h, 'tr-call', []);
  const call = h.b.calls.find('public', 'tr-call');
  assert.ok(call);
  const moved = invite('tr-call', 'z9hG4bKphone3', 2, 'callee1').replace(
    `Contact: <sip:100@${PHONE.address}:${PHONE.port}>`,
    `Contact: <sip:100@${PHONE.address}:5099;ob>`,
  );
  h.fromPhone(moved);
  const reinv = h.takeOne(isReq('INVITE'), 're-INVITE to the PBX').msg;
  h.fromPbx(answer(reinv, 200, [`Contact: <sip:200@${PBX_A.address}:${PBX_A.port}>`]));
  h.takeOne(isResp(200), '200 to the phone');
  assert.equal(h.b.terminate(call, 'duration-limit'), true);
  const bye = h.takeOne((s) => isReq('BYE')(s) && toward(PHONE)(s), 'BYE to the phone').msg;
  assert.equal(bye.requestUri, `sip:100@${PHONE.address}:5099;ob`);
});
