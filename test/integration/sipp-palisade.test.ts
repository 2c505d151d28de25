/**
 * Real peers end to end: SIPp as the phone (UAC) → Palisade (a child process) → SIPp as the PBX (UAS), over UDP,
 * TCP and TLS (SIPp's TCP bridged through stunnel, since Debian's SIPp has no TLS). Every byte the phone side
 * received is inspected for the inside: the PBX's address and port, Palisade's PBX-facing address, and the
 * Call-IDs the PBX saw must never appear.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type PalisadeHandle, startPalisade } from './harness/daemon.ts';
import { delay } from './harness/proc.ts';
import {
  readSippMessages,
  runRegisterThenAnswer,
  runSipp,
  type SippResult,
  type SippUasHandle,
  selectMessages,
  startSippUas,
} from './harness/sipp.ts';
import { type StunnelHandle, startStunnel } from './harness/stunnel.ts';

const PUBLIC = '127.0.0.1';
const INSIDE = '127.0.0.2';
const PBX = '127.0.0.3';
const CALLS = 1000;
const T = { timeout: 120_000 };

let work: string;
const dir = async (name: string) => mkdtemp(join(work, `${name}-`));

function explain(r: SippResult): string {
  return `outcome=${r.outcome} ok=${r.successful} failed=${r.failed}\n${r.stderr.slice(-1500)}\n${r.stdout.slice(-1500)}`;
}

function policy(pbxPort: number, probe = { intervalMs: 1000, timeoutMs: 800, failuresToDown: 2 }) {
  return {
    listeners: [
      { id: 'udp', transport: 'udp', address: PUBLIC, port: 0 },
      { id: 'tcp', transport: 'tcp', address: PUBLIC, port: 0 },
      { id: 'tls', transport: 'tls', address: PUBLIC, port: 0 },
    ],
    pbx: {
      listen: { transport: 'udp', address: INSIDE, port: 0 },
      targets: [{ name: 'pbx1', host: PBX, port: pbxPort, transport: 'udp' }],
      probe,
    },
    media: { publicAddress: PUBLIC, plainAllowedFrom: ['127.0.0.0/8'] },
    // These runs are about signalling and topology hiding: one SIPp source places 200 calls/s, which the
    // default per-source flood buckets rightly refuse. Digest and flood defences have their own tests.
    auth: { mode: 'pbx' },
    security: { flood: { enabled: false } },
    logging: { level: 'warn' },
  };
}

async function publicPort(d: PalisadeHandle, id: string): Promise<number> {
  const l = (await d.listeners()).find((x) => x.id === id);
  assert.ok(l, `listener ${id}`);
  return l.port;
}

/** What the phone side received must carry nothing of the inside. */
async function assertNothingLeaks(messagesFile: string, uas: SippUasHandle, pbxPort: number): Promise<number> {
  const received = selectMessages(await readSippMessages(messagesFile), 'received', /./);
  assert.ok(received.length > 0, 'the phone received messages');
  const insideCallIds = new Set<string>();
  for (const m of selectMessages(await uas.messages(), 'received', /^(INVITE|BYE|ACK) /)) {
    const id = /^Call-ID:\s*(.+)$/im.exec(m.text)?.[1]?.trim();
    if (id) insideCallIds.add(id);
  }
  assert.ok(insideCallIds.size > 0, 'the PBX saw calls');
  const portRe = new RegExp(`\\b${pbxPort}\\b`);
  for (const m of received) {
    assert.ok(!m.text.includes(PBX), `PBX address leaked:\n${m.text}`);
    assert.ok(!m.text.includes(INSIDE), `inside listener address leaked:\n${m.text}`);
    assert.ok(!portRe.test(m.text), `PBX port ${pbxPort} leaked:\n${m.text}`);
    const cid = /^Call-ID:\s*(.+)$/im.exec(m.text)?.[1]?.trim();
    assert.ok(cid === undefined || !insideCallIds.has(cid), `inside Call-ID leaked: ${cid}`);
  }
  return received.length;
}

describe('SIPp → Palisade → SIPp', () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'palisade-sipp-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  for (const transport of ['udp', 'tcp', 'tls'] as const) {
    test(`${transport}: ${CALLS} calls with zero failures; nothing of the inside reaches the phone`, T, async () => {
      const uas = await startSippUas({ scenario: 'uas-call.xml', transport: 'u1', localIp: PBX, workDir: await dir(`${transport}-uas`) });
      const d = await startPalisade({ policy: policy(uas.port) });
      let stunnel: StunnelHandle | undefined;
      try {
        await d.waitReady();
        const port = await publicPort(d, transport);
        if (transport === 'tls')
          stunnel = await startStunnel({ mode: 'client', connect: `${PUBLIC}:${port}`, workDir: await dir('tls-stunnel') });
        const r = await runSipp({
          scenario: 'uac-call.xml',
          transport: transport === 'udp' ? 'u1' : 't1',
          localIp: PUBLIC,
          remote: stunnel?.acceptAddress ?? `${PUBLIC}:${port}`,
          service: '100',
          rate: 200,
          callLimit: 200,
          maxCalls: CALLS,
          wallTimeoutMs: 90_000,
          workDir: await dir(`${transport}-uac`),
        });
        assert.equal(r.failed, 0, explain(r));
        assert.equal(r.successful, CALLS, explain(r));
        const n = await assertNothingLeaks(r.messagesFile, uas, uas.port);
        assert.ok(n >= CALLS * 3, `inspected ${n} messages`); // 180, 200 and the 200 to BYE per call at least
        const status = (await d.admin('GET', '/v1/status')).body as { dialogs: number };
        assert.equal(status.dialogs, 0, 'every dialog ended');
      } finally {
        await stunnel?.stop();
        await uas.stop();
        await d.stop();
      }
    });
  }

  for (const tls of [false, true]) {
    test(`REGISTER then a PBX-originated call reaches the phone over its registered ${tls ? 'TLS' : 'TCP'} connection`, T, async () => {
      const pbx = await startSippUas({ scenario: 'uas-originate.xml', transport: 'u1', localIp: PBX, workDir: await dir('orig-uas') });
      const d = await startPalisade({ policy: policy(pbx.port) });
      let stunnel: StunnelHandle | undefined;
      try {
        await d.waitReady();
        const port = await publicPort(d, tls ? 'tls' : 'tcp');
        if (tls) stunnel = await startStunnel({ mode: 'client', connect: `${PUBLIC}:${port}`, workDir: await dir('orig-stunnel') });
        const phone = await runRegisterThenAnswer({
          remote: stunnel?.acceptAddress ?? `${PUBLIC}:${port}`,
          localIp: PUBLIC,
          service: 'carol',
          holdMs: 2000,
          expires: 120,
          workDir: await dir('orig-phone'),
        });
        assert.equal(phone.registered, true, explain(phone));
        assert.equal(phone.invitesReceived, 1, explain(phone));
        assert.equal(phone.invitesAnswered, 1, explain(phone));
        assert.equal(phone.byesReceived, 1, explain(phone));
        assert.equal(phone.failed, 0, explain(phone));
        // SIPp with t1 uses one connection: the INVITE can only have come back over the registration's flow.
        const invite = selectMessages(phone.messages, 'received', /^INVITE /)[0];
        assert.ok(invite);
        assert.match(
          invite.startLine,
          /^INVITE sip:carol@127\.0\.0\.1:\d+;transport=TCP SIP\/2\.0$/,
          'Request-URI is the phone’s own Contact',
        );
        for (const m of selectMessages(phone.messages, 'received', /./)) {
          assert.ok(!m.text.includes(PBX) && !m.text.includes(INSIDE), `inside address leaked:\n${m.text}`);
          assert.ok(!/^Call-ID:\s*orig\/\/\//im.test(m.text), 'the PBX’s Call-ID leaked');
        }
      } finally {
        await stunnel?.stop();
        const u = await pbx.stop();
        await d.stop();
        assert.equal(u.failed, 0, explain(u));
      }
    });
  }

  test('the PBX dies mid-run: Palisade answers 503 with Retry-After, and recovers when it returns', T, async () => {
    let uas = await startSippUas({ scenario: 'uas-call.xml', transport: 'u1', localIp: PBX, workDir: await dir('kill-uas') });
    const pbxPort = uas.port;
    const d = await startPalisade({ policy: policy(pbxPort, { intervalMs: 300, timeoutMs: 250, failuresToDown: 2 }) });
    try {
      await d.waitReady();
      const port = await publicPort(d, 'udp');
      const call = async (name: string, calls: number) =>
        runSipp({
          scenario: 'uac-call.xml',
          transport: 'u1',
          localIp: PUBLIC,
          remote: `${PUBLIC}:${port}`,
          service: '100',
          rate: 20,
          maxCalls: calls,
          recvTimeoutMs: 5000,
          wallTimeoutMs: 30_000,
          workDir: await dir(name),
        });
      const before = await call('kill-a', 10);
      assert.equal(before.failed, 0, explain(before));
      await uas.stop(); // the PBX is gone (its port is closed)
      const downBy = Date.now() + 5000;
      let pbxUp = true;
      while (pbxUp && Date.now() < downBy) {
        await delay(100);
        const s = (await d.admin('GET', '/v1/status')).body as { pbx: Array<{ up: boolean }> };
        pbxUp = s.pbx[0]?.up ?? true;
      }
      assert.equal(pbxUp, false, 'probes marked the PBX down');
      const during = await call('kill-b', 5);
      assert.equal(during.successful, 0);
      const answers = selectMessages(await readSippMessages(during.messagesFile), 'received', /^SIP\/2\.0 503/);
      assert.equal(answers.length, 5, explain(during));
      assert.match(answers[0]?.text ?? '', /^Retry-After:\s*\d+/im);
      // The PBX returns on the same address and port.
      uas = await startSippUas({
        scenario: 'uas-call.xml',
        transport: 'u1',
        localIp: PBX,
        localPort: pbxPort,
        workDir: await dir('kill-uas2'),
      });
      const upBy = Date.now() + 5000;
      while (!pbxUp && Date.now() < upBy) {
        await delay(100);
        const s = (await d.admin('GET', '/v1/status')).body as { pbx: Array<{ up: boolean }> };
        pbxUp = s.pbx[0]?.up ?? false;
      }
      assert.equal(pbxUp, true, 'probes saw it return');
      const afterward = await call('kill-c', 10);
      assert.equal(afterward.failed, 0, explain(afterward));
      assert.equal(d.isRunning(), true);
    } finally {
      await uas.stop();
      await d.stop();
    }
  });
});
