/**
 * Call limits under SIPp load from several users at once, through the daemon started by the real CLI:
 * three SIPp UACs (one per user, each from its own loopback address, digest MD5 from a legacy range) fire calls
 * at a SIPp UAS playing the PBX. Per-user concurrency and calls-per-minute limits must hold exactly: the PBX sees
 * exactly `limit` calls per user, every other attempt gets 403 from Palisade, and no call is lost either way.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startPalisade } from './harness/daemon.ts';
import { addUser } from './harness/digest-client.ts';
import { readSippMessages, runSipp, type SippResult, type SippUasHandle, selectMessages, startSippUas } from './harness/sipp.ts';
import { readySippRig, type SippRig, stopSippRig } from './helpers/sipp-rig.ts';

const PUBLIC = '127.0.0.1';
const INSIDE = '127.0.0.2';
const PBX = '127.0.0.3';
const T = { timeout: 90_000 };
const USERS = [
  { user: 'u1', password: 'pw-one-111', ip: '127.0.0.41' },
  { user: 'u2', password: 'pw-two-222', ip: '127.0.0.42' },
  { user: 'u3', password: 'pw-three-333', ip: '127.0.0.43' },
] as const;
const CONCURRENT = 3;
const PER_MINUTE = 4;

function explain(r: SippResult): string {
  return `outcome=${r.outcome} ok=${r.successful} failed=${r.failed}\n${r.stderr.slice(-1200)}\n${r.stdout.slice(-600)}`;
}

type Rig = SippRig;

async function startRig(limits: Record<string, unknown>): Promise<Rig> {
  const work = await mkdtemp(join(tmpdir(), 'palisade-fraud-sipp-'));
  const uas = await startSippUas({ scenario: 'uas-call.xml', transport: 'u1', localIp: PBX, workDir: work });
  const dir = join(work, 'daemon');
  await mkdir(join(dir, 'data'), { recursive: true, mode: 0o700 });
  for (const u of USERS) await addUser(join(dir, 'data', 'users.yaml'), u.user, u.password, { allowMd5: true });
  const d = await startPalisade({
    dir,
    policy: {
      listeners: [{ id: 'udp', transport: 'udp', address: PUBLIC, port: 0 }],
      pbx: {
        listen: { transport: 'udp', address: INSIDE, port: 0 },
        targets: [{ name: 'pbx1', host: PBX, port: uas.port, transport: 'udp' }],
      },
      media: { publicAddress: PUBLIC, plainAllowedFrom: ['127.0.0.0/8'] },
      auth: { mode: 'palisade', realm: 'palisade', md5FirstFor: ['127.0.0.40/29'] },
      security: { flood: { enabled: false } },
      fraud: {
        defaultRegion: 'GB',
        defaults: { classes: ['internal', 'national', 'mobile', 'international'] },
        limits: { user: limits },
        anomaly: { sequential: { enabled: false } },
      },
      logging: { level: 'warn' },
    },
  });
  return readySippRig(work, uas, d);
}

const stopRig = stopSippRig;

/** One SIPp per user, all at once; returns per-user [answered at the UAC, refused with 403]. */
async function loadFromAllUsers(
  rig: Rig,
  o: { calls: number; rate: number; holdMs: number },
): Promise<Map<string, { answered: number; refused: number; r: SippResult }>> {
  const runs = await Promise.all(
    USERS.map(async (u) => {
      const work = join(rig.work, u.user);
      await mkdir(work, { recursive: true });
      const r = await runSipp({
        scenario: 'uac-call-auth-limited.xml',
        transport: 'u1',
        localIp: u.ip,
        remote: `${PUBLIC}:${rig.port}`,
        service: '+33123456789',
        maxCalls: o.calls,
        callLimit: o.calls,
        rate: o.rate,
        pauseMs: o.holdMs,
        keys: { user: u.user },
        extraArgs: ['-au', u.user, '-ap', u.password, '-auth_uri', `+33123456789@${PUBLIC}:${rig.port}`],
        wallTimeoutMs: 45_000,
        workDir: work,
      });
      return [u.user, r] as const;
    }),
  );
  const out = new Map<string, { answered: number; refused: number; r: SippResult }>();
  for (const [user, r] of runs) {
    const msgs = await readSippMessages(r.messagesFile);
    const answered = selectMessages(msgs, 'received', /^SIP\/2\.0 200 OK/).filter((m) => /CSeq:\s*2 INVITE/i.test(m.text));
    const refused = selectMessages(msgs, 'received', /^SIP\/2\.0 403 /);
    // Distinct calls (a retransmitted answer counts once).
    const ids = (list: typeof msgs) => new Set(list.map((m) => /^Call-ID:\s*(.+)$/im.exec(m.text)?.[1]?.trim()));
    out.set(user, { answered: ids(answered).size, refused: ids(refused).size, r });
  }
  return out;
}

/** INVITEs the PBX received per asserted user (Palisade asserts the authenticated identity toward the PBX). */
async function pbxInvitesByUser(uas: SippUasHandle): Promise<Record<string, number>> {
  const byUser: Record<string, number> = {};
  const seen = new Set<string>();
  for (const m of selectMessages(await uas.messages(), 'received', /^INVITE /)) {
    const callId = /^Call-ID:\s*(.+)$/im.exec(m.text)?.[1]?.trim() ?? '';
    if (seen.has(callId)) continue; // retransmission
    seen.add(callId);
    const user = /^P-Asserted-Identity:\s*<sip:([^@>]+)@/im.exec(m.text)?.[1] ?? '?';
    byUser[user] = (byUser[user] ?? 0) + 1;
  }
  return byUser;
}

describe('call limits under SIPp load from three users at once', () => {
  test(`concurrency: 8 simultaneous calls per user, limit ${CONCURRENT}: exactly ${CONCURRENT} per user reach the PBX`, T, async () => {
    // Stopped in finally: a failed assertion used to leave this daemon running, and it kept the test file alive.
    const rig = await startRig({ concurrent: CONCURRENT, callsPerMinute: 1000 });
    try {
      const res = await loadFromAllUsers(rig, { calls: 8, rate: 100, holdMs: 3000 });
      for (const u of USERS) {
        const x = res.get(u.user);
        assert.ok(x);
        assert.equal(x.r.failed, 0, explain(x.r));
        assert.equal(x.answered, CONCURRENT, `${u.user} answered\n${explain(x.r)}`);
        assert.equal(x.refused, 8 - CONCURRENT, `${u.user} refused`);
      }
      assert.deepEqual(await pbxInvitesByUser(rig.uas), { u1: CONCURRENT, u2: CONCURRENT, u3: CONCURRENT });
    } finally {
      await stopRig(rig);
    }
  });

  test(`calls per minute: 10 short calls per user, limit ${PER_MINUTE}/min: exactly ${PER_MINUTE} per user reach the PBX`, T, async () => {
    const rig = await startRig({ concurrent: 100, callsPerMinute: PER_MINUTE });
    try {
      const res = await loadFromAllUsers(rig, { calls: 10, rate: 20, holdMs: 50 });
      for (const u of USERS) {
        const x = res.get(u.user);
        assert.ok(x);
        assert.equal(x.r.failed, 0, explain(x.r));
        assert.equal(x.answered, PER_MINUTE, `${u.user} answered\n${explain(x.r)}`);
        assert.equal(x.refused, 10 - PER_MINUTE, `${u.user} refused`);
      }
      assert.deepEqual(await pbxInvitesByUser(rig.uas), { u1: PER_MINUTE, u2: PER_MINUTE, u3: PER_MINUTE });
    } finally {
      await stopRig(rig);
    }
  });
});
