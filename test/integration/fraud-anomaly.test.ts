/**
 * Anomaly rules over weeks of scripted traffic, with an injected clock: the daemon's call-authorization part
 * (src/daemon/fraud.ts: the real stage, counters, detector, audit log and webhook channel) is fed INVITEs as the
 * pipeline would, and a real HTTP receiver plays the operator's alert endpoint. Three weeks of ordinary office
 * hours build each user's baseline; then a normal day raises nothing, while a burst far above one user's baseline
 * and a sequential-dialling run by another each raise exactly one alert — and the receiver gets exactly those two.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadPolicyText } from '../../src/config/load.ts';
import type { Policy } from '../../src/config/schema.ts';
import type { Clock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/core/log.ts';
import { type AlertChannel, type CallAuthorization, createAlertChannel, createCallAuthorization } from '../../src/daemon/fraud.ts';
import { type AuditLog, createAuditLog } from '../../src/observability/audit.ts';
import type { RequestFacts, StageContext } from '../../src/pipeline/stage.ts';
import { parseMessage } from '../../src/sip/parser.ts';

const HOUR = 3_600_000;
const MINUTE = 60_000;
/** Monday 2026-01-05 00:00 UTC. */
const WEEK0 = Date.UTC(2026, 0, 5);
const DAY = 24 * HOUR;

let wall = WEEK0;
const clock: Clock = {
  now: () => wall,
  wallNow: () => wall,
  setTimer: (ms, fn) => {
    const t = setTimeout(fn, Math.min(ms, 50)); // retries and flushes run on real time, a little sooner
    return { cancel: () => clearTimeout(t) };
  },
};

let dir: string;
let hook: Server;
let audit: AuditLog;
let channel: AlertChannel;
let auth: CallAuthorization;
const received: Array<{ rule: string; subject: string; action: string }> = [];

before(async () => {
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      received.push(JSON.parse(body) as { rule: string; subject: string; action: string });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  const port = (hook.address() as { port: number }).port;
  dir = mkdtempSync(join(tmpdir(), 'palisade-anomaly-'));
  const r = loadPolicyText(
    `
listeners: [{ transport: udp, port: 0 }]
pbx: { targets: [{ name: p, host: 127.0.0.3 }] }
fraud:
  defaultRegion: GB
  defaults: { classes: [internal, national, mobile, international] }
  limits:
    user: { concurrent: 10, callsPerMinute: 30, minutesPerDay: { international: 100000 } }
  anomaly:
    sequential: { minNumbers: 5, varyingDigits: 3, window: 10m, action: alert }
    baseline: { factor: 5, minCalls: 20, warmupWeeks: 2, tz: UTC, action: { block_user: 1h } }
    shortCalls: { enabled: false }
    unusualHours: { enabled: false }
alerts:
  webhook: { url: 'http://127.0.0.1:${port}/alerts', backoff: 10ms }
`,
    join(dir, 'palisade.yaml'),
  );
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  const policy: Policy = r.value;
  audit = createAuditLog({ path: join(dir, 'audit.log'), logger: silentLogger, clock });
  channel = createAlertChannel(policy, { configDir: dir, clock, logger: silentLogger, node: 'test' });
  auth = createCallAuthorization(policy, {
    logger: silentLogger,
    audit,
    wallNow: () => wall,
    banSource: () => {},
    alerts: () => channel,
  });
});

after(async () => {
  await channel?.close();
  await audit?.close();
  await new Promise<void>((r) => hook.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
/** One call as the pipeline sees it: the stage decides; an allowed call is answered and lasts `talkMs`. */
function place(user: string, dialled: string, talkMs = 2 * MINUTE): number {
  const callId = `anomaly-${++seq}`;
  const text = [
    `INVITE sip:${dialled}@127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.50:5060;branch=z9hG4bK${seq}`,
    'Max-Forwards: 70',
    `From: <sip:${user}@127.0.0.1>;tag=${seq}`,
    `To: <sip:${dialled}@127.0.0.1>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const m = parseMessage(Buffer.from(text, 'latin1'));
  assert.ok(m.ok);
  const facts: RequestFacts = { user };
  const ctx: StageContext = {
    msg: m.value,
    source: {
      transport: 'udp',
      address: '127.0.0.50',
      port: 5060,
      listenerId: 'pub',
      localAddress: '127.0.0.1',
      localPort: 5060,
      connectionId: undefined,
      tls: undefined,
      receivedAt: wall,
    },
    side: 'public',
    now: wall,
    facts,
  };
  const v = auth.stage.run(ctx);
  const status = v.kind === 'reply' ? v.status : 200;
  if (status === 200) auth.onCallEnded({ publicCallId: callId, caller: 'public', answeredMs: talkMs, reason: undefined });
  return status;
}

/** Varied international destinations: never sequential. */
const DESTS = ['+33123456789', '+4930901820', '+34912345678', '+390612345678', '+31201234567', '+46812345678', '+4319876543'];

/** An ordinary office day for `user`: four calls an hour, 09:00–17:00, the given day (0 = Monday of week 0). */
function officeDay(user: string, day: number): number[] {
  const out: number[] = [];
  for (let h = 9; h < 17; h++) {
    for (let k = 0; k < 4; k++) {
      wall = WEEK0 + day * DAY + h * HOUR + k * 14 * MINUTE;
      out.push(place(user, DESTS[(h + k) % DESTS.length] as string));
    }
  }
  return out;
}

test('three weeks of office hours, a normal day, a burst and a sequential run: exactly the expected alerts', async () => {
  // Weeks 0–2: both users keep office hours on weekdays. Nothing fires while baselines build.
  for (let week = 0; week < 3; week++) {
    for (let d = 0; d < 5; d++) {
      for (const user of ['eve', 'norm']) assert.ok(officeDay(user, week * 7 + d).every((s) => s === 200));
    }
  }
  assert.equal(auth.stats.anomalies, 0, 'no finding while learning');
  // Week 3, Monday: a normal day for both users.
  for (const user of ['eve', 'norm'])
    assert.ok(
      officeDay(user, 21).every((s) => s === 200),
      user,
    );
  assert.equal(auth.stats.anomalies, 0, 'a normal day raises nothing');
  // Week 3, Tuesday 10:00–10:59: eve's account places 30 calls (usual: 4 in that hour).
  const burst: number[] = [];
  for (let k = 0; k < 30; k++) {
    wall = WEEK0 + 22 * DAY + 10 * HOUR + k * 2 * MINUTE;
    burst.push(place('eve', DESTS[k % DESTS.length] as string, 30_000));
  }
  // The 21st call is more than 5 × the usual 4 (and at least 20): the rule fires and blocks eve for an hour.
  assert.deepEqual(
    burst.map((s) => (s === 200 ? 'ok' : 'no')),
    [...Array(20).fill('ok'), ...Array(10).fill('no')],
  );
  // norm keeps a normal Tuesday; seq (another user) then dials a run of neighbouring numbers.
  assert.ok(officeDay('norm', 22).every((s) => s === 200));
  wall = WEEK0 + 22 * DAY + 18 * HOUR;
  const run: number[] = [];
  for (let i = 0; i < 6; i++) {
    wall += MINUTE;
    run.push(place('seq', `+44207946001${i}`));
  }
  assert.deepEqual(run, [200, 200, 200, 200, 200, 200], 'the sequential rule here only alerts');
  // The webhook: exactly one alert per rule and subject.
  await audit.flush();
  const deadline = Date.now() + 3000;
  while (received.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(received.map((a) => [a.rule, a.subject]).sort(), [
    ['fraud.baseline', 'user:eve'],
    ['fraud.sequential', 'user:seq'],
  ]);
  assert.match(received.find((a) => a.rule === 'fraud.baseline')?.action ?? '', /blocked the caller for 3600 s/);
  // The audit log has the findings too, and eve's refusals say why.
  const events = readFileSync(join(dir, 'audit.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { action: string; target?: string; reason?: string });
  assert.equal(events.filter((e) => e.action === 'fraud.anomaly').length, 2);
  assert.equal(events.filter((e) => e.action === 'fraud.deny' && e.target === 'user:eve' && e.reason === 'blocked').length, 9);
  // An hour later eve may call again.
  wall = WEEK0 + 22 * DAY + 12 * HOUR;
  assert.equal(place('eve', '+33123456789'), 200);
});

test('time windows follow the injected clock', async () => {
  const r = loadPolicyText(
    `
listeners: [{ transport: udp, port: 0 }]
pbx: { targets: [{ name: p, host: 127.0.0.3 }] }
fraud:
  defaultRegion: GB
  defaults:
    classes: [internal, national, mobile, international]
    windows: [{ days: [mon, tue, wed, thu, fri], from: '08:00', to: '18:00', tz: Europe/London, classes: [international] }]
  anomaly: { sequential: { enabled: false }, baseline: { enabled: false } }
`,
    join(dir, 'w.yaml'),
  );
  assert.ok(r.ok);
  const a = createCallAuthorization(r.value, {
    logger: silentLogger,
    audit,
    wallNow: () => wall,
    banSource: () => {},
    alerts: () => undefined,
  });
  const saved = auth;
  auth = a;
  try {
    wall = Date.UTC(2026, 6, 7, 9, 0); // Tuesday 10:00 in London (BST)
    assert.equal(place('tim', '+33123456789'), 200);
    assert.equal(place('tim', '02079460000'), 200);
    wall = Date.UTC(2026, 6, 7, 17, 30); // 18:30 London: outside the window
    assert.equal(place('tim', '+33123456789'), 403);
    assert.equal(place('tim', '02079460000'), 200, 'national calls are not restricted by the window');
    wall = Date.UTC(2026, 6, 11, 10, 0); // Saturday
    assert.equal(place('tim', '+33123456789'), 403);
  } finally {
    auth = saved;
  }
});
