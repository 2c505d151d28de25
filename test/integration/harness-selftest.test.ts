/**
 * Self-test of the real-peer harness, without Palisade: SIPp UAC → SIPp UAS directly over UDP, TCP and TLS
 * (TLS = SIPp TCP → stunnel client → stunnel server → SIPp TCP), the registration scenarios, the
 * register-then-answer pair, and the parsers the harness relies on. If this file fails, Palisade's integration
 * tests cannot be trusted either.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeStep, failureReasons, summarise } from '../../bench/lib/cps-steps.ts';
import { formatTable } from '../../bench/lib/table.ts';
import { parseStatusListeners, resolvePolicy, startPalisade } from './harness/daemon.ts';
import { getFreePort, processCpuSeconds } from './harness/proc.ts';
import {
  parseSippMessages,
  parseSippStatsCsv,
  readSippMessages,
  runRegisterThenAnswer,
  runSipp,
  type SippResult,
  selectMessages,
  startSippUas,
} from './harness/sipp.ts';
import { startStunnel } from './harness/stunnel.ts';

const CALLS = 20;
const T = { timeout: 30_000 };

let work = '';
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'palisade-harness-selftest-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function dir(name: string): Promise<string> {
  return mkdtemp(join(work, `${name}-`));
}

function explain(r: SippResult): string {
  return `outcome=${r.outcome} ok=${r.successful} failed=${r.failed} exit=${String(r.exitCode)}\n${r.stderr.slice(-1500)}`;
}

async function assertCallsSucceeded(r: SippResult, calls: number): Promise<void> {
  assert.equal(r.failed, 0, explain(r));
  assert.equal(r.successful, calls, explain(r));
  assert.equal(r.exitCode, 0, explain(r));
  assert.equal(r.outcome, 'all-succeeded');
  assert.equal(r.timedOut, false);
  const log = await readFile(r.messagesFile, 'utf8');
  assert.match(log, /SIP\/2\.0 200/);
  const msgs = parseSippMessages(log);
  // Each call: 200 to INVITE and 200 to BYE received. (Sent INVITEs are not counted: with tn, SIPp flushes a
  // message queued on a connection still being set up without logging it.)
  assert.equal(selectMessages(msgs, 'received', /^SIP\/2\.0 200 /).length, 2 * calls);
}

describe('SIPp UAC → SIPp UAS, no Palisade', () => {
  test('UDP: 20 calls, none failed', T, async () => {
    const uas = await startSippUas({ scenario: 'uas-call.xml', transport: 'u1', workDir: await dir('udp-uas') });
    try {
      const r = await runSipp({
        scenario: 'uac-call.xml',
        transport: 'u1',
        remote: `127.0.0.1:${uas.port}`,
        rate: 100,
        maxCalls: CALLS,
        wallTimeoutMs: 25_000,
        workDir: await dir('udp-uac'),
      });
      await assertCallsSucceeded(r, CALLS);
    } finally {
      const u = await uas.stop();
      assert.equal(u.successful, CALLS, explain(u));
      assert.equal(u.failed, 0, explain(u));
    }
  });

  test('TCP: 20 calls on a connection each, none failed', T, async () => {
    const uas = await startSippUas({ scenario: 'uas-call.xml', transport: 't1', workDir: await dir('tcp-uas') });
    try {
      const r = await runSipp({
        scenario: 'uac-call.xml',
        transport: 'tn',
        remote: `127.0.0.1:${uas.port}`,
        rate: 100,
        maxCalls: CALLS,
        wallTimeoutMs: 25_000,
        workDir: await dir('tcp-uac'),
      });
      await assertCallsSucceeded(r, CALLS);
      const received = await uas.messages();
      assert.equal(selectMessages(received, 'received', /^BYE /).length, CALLS);
    } finally {
      const u = await uas.stop();
      assert.equal(u.failed, 0, explain(u));
    }
  });

  test('TLS through two stunnels: 20 calls, none failed', T, async () => {
    const uas = await startSippUas({ scenario: 'uas-call.xml', transport: 't1', workDir: await dir('tls-uas') });
    const server = await startStunnel({ mode: 'server', connect: `127.0.0.1:${uas.port}`, workDir: await dir('tls-srv') });
    const client = await startStunnel({ mode: 'client', connect: server.acceptAddress, workDir: await dir('tls-cli') });
    try {
      assert.notEqual(server.cert, null);
      const r = await runSipp({
        scenario: 'uac-call.xml',
        transport: 't1',
        remote: client.acceptAddress,
        rate: 100,
        maxCalls: CALLS,
        wallTimeoutMs: 25_000,
        workDir: await dir('tls-uac'),
      });
      await assertCallsSucceeded(r, CALLS);
      // The bytes really crossed TLS: stunnel logged the handshake-bearing connection.
      assert.match(client.logs(), /connected remote server/);
    } finally {
      const u = await uas.stop();
      assert.equal(u.failed, 0, explain(u));
      await client.stop();
      await server.stop();
    }
  });

  test('UDP over IPv6 loopback (::1)', T, async () => {
    const uas = await startSippUas({ scenario: 'uas-call.xml', transport: 'u1', localIp: '::1', workDir: await dir('v6-uas') });
    try {
      const r = await runSipp({
        scenario: 'uac-call.xml',
        transport: 'u1',
        localIp: '::1',
        remote: `[::1]:${uas.port}`,
        rate: 50,
        maxCalls: 5,
        wallTimeoutMs: 20_000,
        workDir: await dir('v6-uac'),
      });
      await assertCallsSucceeded(r, 5);
      const invite = selectMessages(await uas.messages(), 'received', /^INVITE /)[0];
      assert.match(invite?.text ?? '', /^Via: SIP\/2\.0\/UDP \[::1\]:\d+;branch=/m);
    } finally {
      await uas.stop();
    }
  });

  test('a UAC with nobody answering reports failed calls (the harness can see failure)', T, async () => {
    const nobody = await getFreePort('udp');
    const r = await runSipp({
      scenario: 'uac-call.xml',
      transport: 'u1',
      remote: `127.0.0.1:${nobody}`,
      rate: 10,
      maxCalls: 2,
      recvTimeoutMs: 800,
      wallTimeoutMs: 15_000,
      workDir: await dir('fail-uac'),
    });
    assert.equal(r.successful, 0);
    assert.equal(r.failed, 2, explain(r));
    assert.equal(r.exitCode, 1);
    assert.equal(r.outcome, 'some-failed');
  });
});

describe('registration scenarios, no Palisade', () => {
  test('uac-register → uas-register over UDP: 200 echoes Contact and Expires', T, async () => {
    const uas = await startSippUas({ scenario: 'uas-register.xml', transport: 'u1', workDir: await dir('reg-uas') });
    try {
      const r = await runSipp({
        scenario: 'uac-register.xml',
        transport: 'u1',
        remote: `127.0.0.1:${uas.port}`,
        service: 'alice',
        keys: { expires: '120' },
        rate: 50,
        maxCalls: 5,
        wallTimeoutMs: 20_000,
        workDir: await dir('reg-uac'),
      });
      assert.equal(r.failed, 0, explain(r));
      assert.equal(r.successful, 5, explain(r));
      const ok = selectMessages(await readSippMessages(r.messagesFile), 'received', /^SIP\/2\.0 200 /);
      assert.equal(ok.length, 5);
      for (const m of ok) {
        assert.match(m.text, /^Contact: <sip:alice@127\.0\.0\.1:\d+;transport=UDP>$/m);
        assert.match(m.text, /^Expires: 120$/m);
        assert.match(m.text, /^CSeq: 1 REGISTER$/m);
      }
    } finally {
      const u = await uas.stop();
      assert.equal(u.successful, 5, explain(u));
    }
  });

  test('uac-register over TCP', T, async () => {
    const uas = await startSippUas({ scenario: 'uas-register.xml', transport: 't1', workDir: await dir('regtcp-uas') });
    try {
      const r = await runSipp({
        scenario: 'uac-register.xml',
        transport: 't1',
        remote: `127.0.0.1:${uas.port}`,
        service: 'bob',
        maxCalls: 3,
        rate: 50,
        wallTimeoutMs: 20_000,
        workDir: await dir('regtcp-uac'),
      });
      assert.equal(r.failed, 0, explain(r));
      assert.equal(r.successful, 3, explain(r));
    } finally {
      await uas.stop();
    }
  });

  for (const tls of [false, true]) {
    test(`register then answer the PBX's call on the same ${tls ? 'TLS' : 'TCP'} connection`, T, async () => {
      const pbx = await startSippUas({ scenario: 'uas-originate.xml', transport: 't1', workDir: await dir('orig-uas') });
      const server = tls ? await startStunnel({ mode: 'server', connect: `127.0.0.1:${pbx.port}`, workDir: await dir('orig-srv') }) : null;
      const client =
        server !== null ? await startStunnel({ mode: 'client', connect: server.acceptAddress, workDir: await dir('orig-cli') }) : null;
      try {
        const phone = await runRegisterThenAnswer({
          remote: client?.acceptAddress ?? `127.0.0.1:${pbx.port}`,
          service: 'carol',
          holdMs: 1500,
          expires: 60,
          workDir: await dir('orig-phone'),
        });
        assert.equal(phone.registered, true, explain(phone));
        assert.equal(phone.invitesReceived, 1, explain(phone));
        assert.equal(phone.invitesAnswered, 1);
        assert.equal(phone.byesReceived, 1);
        assert.equal(phone.byesAnswered, 1);
        assert.equal(phone.failed, 0, explain(phone));
        const invite = selectMessages(phone.messages, 'received', /^INVITE /)[0];
        assert.ok(invite !== undefined);
        // The PBX called the Contact it was given, with a Call-ID of its own.
        assert.match(invite.startLine, /^INVITE sip:carol@127\.0\.0\.1:\d+;transport=TCP SIP\/2\.0$/);
        assert.match(invite.text, /^To: <sip:carol@/m);
        assert.match(invite.text, /^Call-ID: orig\/\/\//m);
      } finally {
        const u = await pbx.stop();
        assert.equal(u.successful, 1, explain(u));
        assert.equal(u.failed, 0, explain(u));
        await client?.stop();
        await server?.stop();
      }
    });
  }
});

describe('harness parsers and daemon plumbing', () => {
  test('parseSippMessages splits both directions and keeps start lines', () => {
    const log = [
      '----------------------------------------------- 2026-11-29 18:49:47.061046',
      'UDP message sent (20 bytes):',
      '',
      'INVITE sip:a@127.0.0.1 SIP/2.0',
      'Call-ID: x',
      '',
      '----------------------------------------------- 2026-11-29 18:49:47.061308',
      'TCP message received [30] bytes :',
      '',
      'SIP/2.0 180 Ringing',
      'Call-ID: x',
      '',
    ].join('\n');
    const m = parseSippMessages(log);
    assert.equal(m.length, 2);
    assert.deepEqual(
      m.map((x) => [x.direction, x.transport, x.startLine]),
      [
        ['sent', 'UDP', 'INVITE sip:a@127.0.0.1 SIP/2.0'],
        ['received', 'TCP', 'SIP/2.0 180 Ringing'],
      ],
    );
    assert.deepEqual(parseSippMessages(''), []);
  });

  test('parseSippStatsCsv reads cumulative counters of the last row', () => {
    const csv = 'StartTime;SuccessfulCall(P);SuccessfulCall(C);FailedCall(C);\n1;0;3;1;\n2;5;9;2;\n';
    const c = parseSippStatsCsv(csv);
    assert.equal(c.SuccessfulCall, 9);
    assert.equal(c.FailedCall, 2);
    assert.deepEqual(parseSippStatsCsv('StartTime;\n'), {});
  });

  test('resolvePolicy fills dataDir, metrics port and drain, and keeps what the policy sets', async () => {
    const d = await dir('policy');
    const r = await resolvePolicy(
      { listeners: [{ transport: 'udp', port: 5099 }], pbx: { targets: [{ name: 'p', host: '127.0.0.1' }] } },
      d,
    );
    assert.equal(r.dataDir, join(d, 'data'));
    assert.equal(r.adminSocket, join(d, 'data', 'palisade.sock'));
    assert.match(r.yaml, /drainMs: 1000/);
    assert.match(r.metricsUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const kept = await resolvePolicy('node:\n  dataDir: state\nadmin:\n  socket: /tmp/x.sock\nmetrics:\n  enabled: false\n', d);
    assert.equal(kept.dataDir, join(d, 'state'));
    assert.equal(kept.adminSocket, '/tmp/x.sock');
    assert.equal(kept.metricsUrl, null);
    assert.match(kept.yaml, /dataDir: state/);
  });

  test('parseStatusListeners keeps well-formed listener entries only', () => {
    const body = {
      listeners: [
        { id: 'udp-0', transport: 'udp', address: '127.0.0.1', port: 40000 },
        { id: 'pbx', transport: 'tcp', address: '127.0.0.1', port: 40001 },
        { id: 'broken', transport: 'udp', port: '1' },
      ],
    };
    assert.deepEqual(
      parseStatusListeners(body).map((l) => `${l.id}:${l.transport}:${l.port}`),
      ['udp-0:udp:40000', 'pbx:tcp:40001'],
    );
    assert.deepEqual(parseStatusListeners({}), []);
    assert.deepEqual(parseStatusListeners(null), []);
  });

  test('startPalisade with an invalid policy: waitReady rejects and the process is gone', T, async () => {
    const d = await startPalisade({ policy: { listeners: [] }, dir: await dir('bad-daemon') });
    try {
      await assert.rejects(d.waitReady(20_000), /exited before ready/);
      assert.equal(d.isRunning(), false);
    } finally {
      await d.stop();
    }
  });

  test('cps bench logic: clean/sustained steps, summary, failure reasons, table', () => {
    const base = { cpuMs: 100, retransmissions: 0, failureReasons: '' };
    const rows = [
      describeStep({ rate: 200, calls: 400, successful: 400, failed: 0, durationMs: 2010, ...base }),
      describeStep({ rate: 400, calls: 800, successful: 800, failed: 0, durationMs: 4000, ...base }),
      describeStep({ rate: 800, calls: 1600, successful: 1590, failed: 10, durationMs: 2100, ...base }),
    ];
    assert.deepEqual(
      rows.map((r) => [r.clean, r.sustained]),
      [
        [true, true],
        [true, false],
        [false, true],
      ],
    );
    assert.equal(rows[0]?.cpuMsPerCall, 0.25);
    assert.deepEqual(summarise(rows), { highestClean: 400, highestSustained: 200 });
    assert.deepEqual(summarise([]), { highestClean: null, highestSustained: null });
    assert.equal(
      failureReasons({ FailedCall: 5, FailedTimeoutOnRecv: 3, FailedUnexpectedMessage: 2, FailedTcpClosed: 0 }),
      'TimeoutOnRecv:3 UnexpectedMessage:2',
    );
    const table = formatTable(
      ['rate', 'note'],
      [
        [200, 'ok'],
        [1600, 'failed'],
      ],
    );
    assert.equal(table, 'rate  note\n----  ------\n 200  ok\n1600  failed');
  });

  test('processCpuSeconds reads this process', async () => {
    const s = await processCpuSeconds(process.pid);
    assert.ok(s > 0 && s < 3600, String(s));
  });
});
