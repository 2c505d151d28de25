import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import type { RequestFacts, Side, StageContext } from '../../../src/pipeline/stage.ts';
import { createAnomalyDetector } from '../../../src/policy/anomaly.ts';
import { counterKeys, MemoryFraudCounters } from '../../../src/policy/limits.ts';
import { compileAnomalyRules } from '../../../src/policy/schema.ts';
import { createFraudStage, createFraudStageStats, reasonHeaderValue } from '../../../src/policy/stage.ts';
import { createRequest } from '../../../src/sip/build.ts';
import type { Source } from '../../../src/transport/types.ts';
import { compile, MONDAY_10_UTC, parseFraud } from './helpers.ts';

const SOURCE: Source = {
  transport: 'udp',
  address: '203.0.113.9',
  port: 5060,
  listenerId: 'public',
  localAddress: '127.0.0.1',
  localPort: 5060,
  connectionId: undefined,
  tls: undefined,
  receivedAt: 0,
};

function invite(ruri: string, callId: string, toTag?: string) {
  return createRequest({
    method: 'INVITE',
    requestUri: ruri,
    headers: [
      ['Via', 'SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK-1'],
      ['From', '<sip:alice@example.com>;tag=a1'],
      ['To', `<${ruri}>${toTag === undefined ? '' : `;tag=${toTag}`}`],
      ['Call-ID', callId],
      ['CSeq', '1 INVITE'],
      ['Max-Forwards', '70'],
    ],
  });
}

function ctx(msg: ReturnType<typeof invite>, facts: RequestFacts, side: Side = 'public'): StageContext {
  return { msg, source: SOURCE, side, now: 0, facts };
}

const config = {
  defaultRegion: 'GB',
  limits: { user: { concurrent: 2, callsPerMinute: 100 } },
  anomaly: {
    sequential: { window: '10m', minNumbers: 5, action: { block_user: '1h' } },
    shortCalls: { minCalls: 3, action: { ban_source: '1d' } },
  },
  reasons: { blocked: 'Account suspended' },
};

function setup() {
  const clock = new ManualClock(0, MONDAY_10_UTC);
  const counters = new MemoryFraudCounters();
  const detector = createAnomalyDetector(compileAnomalyRules(parseFraud(config)));
  const stats = createFraudStageStats();
  const alerts: string[] = [];
  const bans: Array<[string, number]> = [];
  const stage = createFraudStage({
    policy: () => compile(config),
    counters,
    detector,
    wallNow: () => clock.wallNow(),
    onAlert: (a) => alerts.push(a.rule),
    banSource: (address, forMs) => bans.push([address, forMs]),
    stats,
  });
  return { clock, counters, detector, stats, alerts, bans, stage };
}

describe('fraud stage', () => {
  it('continues an allowed INVITE and counts the call until callEnded', () => {
    const { stage, counters, stats, clock } = setup();
    const v = stage.run(ctx(invite('sip:02079460000@pbx.example.com', 'c1'), { user: 'alice' }));
    assert.deepEqual(v, { kind: 'continue' });
    assert.equal(stats.allowed, 1);
    assert.equal(stage.callsInProgress, 1);
    const alice = { kind: 'user', id: 'alice' } as const;
    assert.equal(counters.get(counterKeys.concurrent(alice), 0, clock.wallNow()), 1);
    // A second INVITE with the same Call-ID (new CSeq after a challenge) is not a second call.
    stage.run(ctx(invite('sip:02079460000@pbx.example.com', 'c1'), { user: 'alice' }));
    assert.equal(counters.get(counterKeys.concurrent(alice), 0, clock.wallNow()), 1);
    stage.callEnded('c1', 120_000);
    stage.callEnded('c1', 120_000); // idempotent
    assert.equal(counters.get(counterKeys.concurrent(alice), 0, clock.wallNow()), 0);
    assert.equal(counters.get(counterKeys.minutes(alice, 'national'), 86_400_000, clock.wallNow()), 120_000);
  });

  it('answers 403 with an RFC 3326 Reason header', () => {
    const { stage, stats } = setup();
    const v = stage.run(ctx(invite('sip:+88216123456@pbx.example.com', 'c2'), { user: 'alice' }));
    assert.deepEqual(v, {
      kind: 'reply',
      status: 403,
      reason: 'Forbidden',
      headers: [['Reason', 'SIP;cause=403;text="Destination not allowed"']],
    });
    assert.equal(stats.denied, 1);
    assert.equal(stage.callsInProgress, 0);
  });

  it('enforces concurrency per user across calls', () => {
    const { stage } = setup();
    assert.equal(stage.run(ctx(invite('sip:02079460001@pbx', 'a'), { user: 'bob' })).kind, 'continue');
    assert.equal(stage.run(ctx(invite('sip:02079460002@pbx', 'b'), { user: 'bob' })).kind, 'continue');
    assert.equal(stage.run(ctx(invite('sip:02079460003@pbx', 'c'), { user: 'bob' })).kind, 'reply');
    stage.callEnded('a', 0);
    assert.equal(stage.run(ctx(invite('sip:02079460003@pbx', 'c'), { user: 'bob' })).kind, 'continue');
  });

  it('leaves the PBX side, in-dialog requests and other methods alone', () => {
    const { stage, stats } = setup();
    const premium = invite('sip:+88216123456@pbx', 'x');
    assert.equal(stage.run(ctx(premium, { user: 'alice' }, 'pbx')).kind, 'continue');
    assert.equal(stage.run(ctx(invite('sip:+88216123456@pbx', 'y', 'totag'), { user: 'alice' })).kind, 'continue');
    const bye = createRequest({
      method: 'BYE',
      requestUri: 'sip:+88216123456@pbx',
      headers: [
        ['Call-ID', 'z'],
        ['CSeq', '2 BYE'],
      ],
    });
    assert.equal(stage.run(ctx(bye, { user: 'alice' })).kind, 'continue');
    assert.equal(stats.denied, 0);
  });

  it('a sequential-dialling attack through a trunk blocks it; emergency calls still pass', () => {
    const { stage, alerts, clock } = setup();
    const verdicts: string[] = [];
    for (let i = 1; i <= 6; i++) {
      clock.advance(3000);
      const v = stage.run(ctx(invite(`sip:+4490909000${10 + i}@pbx`, `atk${i}`), { trustedPeer: 'carrier' }));
      verdicts.push(v.kind === 'reply' ? String(v.headers?.[0]?.[1]) : v.kind);
    }
    assert.ok(alerts.includes('sequential'));
    assert.equal(verdicts[5], 'SIP;cause=403;text="Account suspended"');
    assert.equal(stage.run(ctx(invite('sip:999@pbx', 'sos'), { trustedPeer: 'carrier' })).kind, 'continue');
    clock.advance(3_600_000);
    assert.equal(stage.run(ctx(invite('sip:02079460000@pbx', 'later'), { trustedPeer: 'carrier' })).kind, 'continue');
  });

  it('short calls reported through callEnded can ban the source', () => {
    const { stage, bans, clock } = setup();
    for (let i = 0; i < 3; i++) {
      stage.run(ctx(invite(`sip:0207946${1000 + i * 77}@pbx`, `s${i}`), { user: 'alice' }));
      clock.advance(4000);
      stage.callEnded(`s${i}`, 3000);
    }
    assert.deepEqual(bans, [['203.0.113.9', 86_400_000]]);
  });

  it('reasonHeaderValue: RFC 3326 for Reason, bare text otherwise, never a quote or control char', () => {
    assert.equal(reasonHeaderValue('Reason', 'No "way"'), 'SIP;cause=403;text="No way"');
    assert.equal(reasonHeaderValue('X-Palisade-Reason', 'Limit\r\nX: y'), 'LimitX: y');
  });
});
