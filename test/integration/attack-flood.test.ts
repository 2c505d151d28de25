/**
 * INVITE floods against the daemon while a legitimate phone keeps calling, and bans as an operator sees them.
 *
 * The flooder (harness/flood.ts: a C sendmmsg loop) sends 50,000 INVITE/s for 3 s, from one loopback address or
 * spread over 50 (127.0.1.1…50); meanwhile SIPp (127.0.0.1) places 10 calls/s through the daemon to a SIPp PBX.
 * Policy: auth.mode 'palisade' (the flood's INVITEs are challenged or dropped by Palisade itself, never reach the
 * PBX) with 127.0.0.1 as a trusted peer (`auth.trusted`), so the legitimate SIPp skips digest but not the gate:
 * its INVITEs still go through the same flood buckets, at 10/s against the default 20/s.
 * Measured: the flooder is silenced (banned, reason flood) within 150 ms of its first datagram (daemon's
 * bannedAt vs the flooder's wall-clock start; also the time of the last answer it got), every legitimate call
 * completes; bans survive a restart on the same dataDir; `palisade bans add/remove` act within 100 ms of the
 * command returning.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type PalisadeHandle, startPalisade } from './harness/daemon.ts';
import { openSipClient, runPalisadeCli, type SipClient } from './harness/digest-client.ts';
import { type FloodResult, listBans, loopbackRange, startFlood, waitForBan } from './harness/flood.ts';
import { delay } from './harness/proc.ts';
import { runSipp, type SippResult, type SippUasHandle, startSippUas } from './harness/sipp.ts';

const PUBLIC = '127.0.0.1';
const INSIDE = '127.0.0.2';
const PBX = '127.0.0.3';
const T = { timeout: 90_000 };
const FLOOD_RATE = 50_000;
const FLOOD_MS = 3000;
const LEGIT_CPS = 10;
const LEGIT_CALLS = 50;
const SILENCED_WITHIN_MS = 150;

function explain(r: SippResult): string {
  return `outcome=${r.outcome} ok=${r.successful} failed=${r.failed}\n${r.stderr.slice(-1500)}\n${r.stdout.slice(-800)}`;
}

/** Opens a TCP connection from `localAddress`, sends an OPTIONS, and reports what happened within `ms`. */
function tcpProbe(localAddress: string, port: number, ms: number): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    let data = '';
    let closed = false;
    const sock = connect({ host: PUBLIC, port, localAddress });
    sock.setEncoding('latin1');
    sock.on('data', (s: string) => {
      data += s;
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      closed = true;
    });
    sock.on('connect', () => {
      const branch = `z9hG4bK${Math.random().toString(16).slice(2)}`;
      sock.write(
        `OPTIONS sip:${PUBLIC}:${port} SIP/2.0\r\nVia: SIP/2.0/TCP ${localAddress}:${sock.localPort ?? 0};branch=${branch}\r\n` +
          `Max-Forwards: 70\r\nFrom: <sip:probe@${localAddress}>;tag=p1\r\nTo: <sip:${PUBLIC}:${port}>\r\n` +
          `Call-ID: ${branch}@${localAddress}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
      );
    });
    setTimeout(() => {
      sock.destroy();
      resolve({ data, closed });
    }, ms);
  });
}

function policy(pbxPort: number) {
  return {
    listeners: [
      { id: 'udp', transport: 'udp', address: PUBLIC, port: 0 },
      { id: 'tcp', transport: 'tcp', address: PUBLIC, port: 0 },
    ],
    pbx: {
      listen: { transport: 'udp', address: INSIDE, port: 0 },
      targets: [{ name: 'pbx1', host: PBX, port: pbxPort, transport: 'udp' }],
      probe: { intervalMs: 1000, timeoutMs: 800, failuresToDown: 2 },
    },
    media: { publicAddress: PUBLIC, plainAllowedFrom: ['127.0.0.0/8'] },
    auth: { mode: 'palisade', trusted: [{ name: 'legit-sipp', cidrs: [`${PUBLIC}/32`] }] },
    // The ban-latency probe below sends REGISTER every 10 ms: keep that bucket out of its way (INVITE keeps the default).
    security: { flood: { register: { ratePerSec: 1000, burst: 1000 } } },
    logging: { level: 'warn' },
  };
}

describe('INVITE flood while legitimate calls go on', () => {
  let work = '';
  let dir = '';
  let uas: SippUasHandle | undefined;
  let d: PalisadeHandle | undefined;
  let port = 0;
  let tcpPort = 0;
  let singleFlood: FloodResult | undefined;
  const clients: SipClient[] = [];

  const startDaemon = async (): Promise<void> => {
    assert.ok(uas);
    d = await startPalisade({ policy: policy(uas.port), dir, keepDir: true });
    await d.waitReady();
    const l = (await d.listeners()).find((x) => x.id === 'udp');
    assert.ok(l);
    port = l.port;
    tcpPort = (await d.listeners()).find((x) => x.id === 'tcp')?.port ?? 0;
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'palisade-flood-'));
    dir = join(work, 'daemon');
    await mkdir(join(dir, 'data'), { recursive: true, mode: 0o700 });
    uas = await startSippUas({ scenario: 'uas-call.xml', transport: 'u1', localIp: PBX, workDir: work, wallTimeoutMs: 85_000 });
    await startDaemon();
  });
  after(async () => {
    for (const c of clients) await c.close();
    await d?.stop();
    await uas?.stop();
    await rm(work, { recursive: true, force: true });
  });

  /** Legit calls for the whole flood, the flood starting 500 ms in. */
  const floodDuringCalls = async (sources: string[]): Promise<{ calls: SippResult; flood: FloodResult }> => {
    const calls = runSipp({
      scenario: 'uac-call.xml',
      transport: 'u1',
      localIp: PUBLIC,
      remote: `${PUBLIC}:${port}`,
      service: '100',
      rate: LEGIT_CPS,
      maxCalls: LEGIT_CALLS,
      wallTimeoutMs: 40_000,
      workDir: work,
    });
    await delay(500);
    const flood = await startFlood({ host: PUBLIC, port, rate: FLOOD_RATE, durationMs: FLOOD_MS, sources });
    return { calls: await calls, flood: await flood.done };
  };

  test('one source at 50,000 INVITE/s is banned within 150 ms; every legitimate call completes', T, async (t) => {
    assert.ok(d);
    const src = '127.0.0.90';
    const { calls, flood } = await floodDuringCalls([src]);
    t.diagnostic(
      `flood: sent ${flood.sent} at ${Math.round(flood.achievedRate)}/s; answers ${flood.answered} (${flood.answeredDistinct} requests, ` +
        `${flood.answeredRepeats} retransmissions), newest answered request sent at ${flood.newestAnsweredSentAtMs.toFixed(1)} ms, ` +
        `last answer at ${flood.lastAnswerMs.toFixed(1)} ms`,
    );
    assert.ok(flood.achievedRate >= FLOOD_RATE * 0.8, `flood rate reached: ${flood.achievedRate}`);
    const ban = await waitForBan(d, src, 1000);
    assert.ok(ban, `flooder banned: ${JSON.stringify(await listBans(d))}`);
    assert.equal(ban.reason, 'flood');
    const banDelay = ban.bannedAt - flood.startEpochMs;
    t.diagnostic(`banned ${banDelay.toFixed(1)} ms after the first flood datagram`);
    assert.ok(banDelay <= SILENCED_WITHIN_MS, `banned ${banDelay} ms after flood start`);
    // Silenced: no request the flooder sent later than 150 ms into the flood was answered (answers are matched to
    // requests by the sequence number in their Call-ID; retransmitted answers to earlier requests are counted below).
    assert.ok(flood.answeredDistinct > 0, 'the first INVITEs were answered (407)');
    assert.ok(
      flood.newestAnsweredSentAtMs <= SILENCED_WITHIN_MS,
      `an INVITE sent ${flood.newestAnsweredSentAtMs} ms into the flood was answered`,
    );
    singleFlood = flood;
    assert.equal(calls.failed, 0, explain(calls));
    assert.equal(calls.successful, LEGIT_CALLS, explain(calls));
  });

  test('a banned source gets nothing more: no retransmitted answers to its earlier requests either', T, () => {
    assert.ok(singleFlood, 'needs the single-source flood above');
    // RFC 3261 §17.2.1: a 4xx to an INVITE is retransmitted (Timer G) until an ACK that a flooder never sends.
    // Once the source is banned those retransmissions only feed the attacker (or the victim of a spoofed source).
    assert.equal(
      singleFlood.answeredRepeats,
      0,
      `${singleFlood.answeredRepeats} answers retransmitted to the banned flooder (last at ${singleFlood.lastAnswerMs.toFixed(0)} ms)`,
    );
  });

  test('the same rate over 50 sources: all are banned and at least 99.9% of legitimate calls complete', T, async (t) => {
    assert.ok(d);
    const sources = loopbackRange(50);
    const { calls, flood } = await floodDuringCalls(sources);
    t.diagnostic(
      `flood over 50 sources: sent ${flood.sent} at ${Math.round(flood.achievedRate)}/s; answers ${flood.answered} ` +
        `(${flood.answeredDistinct} requests, ${flood.answeredRepeats} retransmissions), newest answered request sent at ` +
        `${flood.newestAnsweredSentAtMs.toFixed(1)} ms`,
    );
    assert.ok(flood.achievedRate >= FLOOD_RATE * 0.8, `flood rate reached: ${flood.achievedRate}`);
    const bans = new Map((await listBans(d)).map((b) => [b.target, b]));
    const missing = sources.filter((s) => !bans.has(s));
    assert.deepEqual(missing, [], 'every flooding source is banned');
    const worst = Math.max(...sources.map((s) => (bans.get(s)?.bannedAt ?? Number.POSITIVE_INFINITY) - flood.startEpochMs));
    t.diagnostic(`last of 50 sources banned ${worst.toFixed(1)} ms after the flood start`);
    const total = calls.successful + calls.failed;
    assert.equal(total, LEGIT_CALLS, explain(calls));
    assert.ok(calls.successful >= Math.ceil(LEGIT_CALLS * 0.999), explain(calls));
    assert.equal(bans.has(PUBLIC), false, 'the legitimate phone is not banned');
  });

  test('a banned source gets no TCP service either: its connection is closed without an answer', T, async () => {
    assert.ok(d);
    const banned = await tcpProbe('127.0.0.90', tcpPort, 1000);
    assert.equal(banned.data, '', 'no answer to a banned source over TCP');
    assert.equal(banned.closed, true, 'the connection of a banned source is closed');
    const fresh = await tcpProbe('127.0.0.92', tcpPort, 1000);
    assert.match(fresh.data, /^SIP\/2\.0 \d{3} /, 'another source is answered over TCP');
  });

  test('bans persist across a restart on the same dataDir', T, async () => {
    assert.ok(d);
    const before = (await listBans(d)).map((b) => b.target);
    assert.ok(before.includes('127.0.0.90'), 'the single-source flooder is banned before the restart');
    await d.stop();
    await startDaemon();
    const afterRestart = new Map((await listBans(d)).map((b) => [b.target, b]));
    for (const target of before) assert.ok(afterRestart.has(target), `${target} still banned after restart`);
    // And enforced: the banned address gets no answer, another one does.
    const banned = await openSipClient({ localIp: '127.0.0.90', remoteHost: PUBLIC, remotePort: port, user: 'x', password: 'y' });
    const fresh = await openSipClient({ localIp: '127.0.0.91', remoteHost: PUBLIC, remotePort: port, user: 'x', password: 'y' });
    clients.push(banned, fresh);
    await assert.rejects(banned.send(banned.buildRequest('REGISTER', { extra: ['Expires: 60'] }), 1200), /no final response/);
    assert.equal((await fresh.send(fresh.buildRequest('REGISTER', { extra: ['Expires: 60'] }), 3000)).status, 401);
  });

  test('palisade bans add / remove take effect within 100 ms of the command returning', T, async (t) => {
    assert.ok(d);
    const target = '127.0.0.95';
    const probe = await openSipClient({ localIp: target, remoteHost: PUBLIC, remotePort: port, user: 'x', password: 'y' });
    clients.push(probe);
    // A probe every 10 ms; record when each was sent and whether it was answered.
    const sent: Array<{ at: number; answered: boolean }> = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        const rec = { at: performance.now(), answered: false };
        sent.push(rec);
        probe
          .send(probe.buildRequest('REGISTER', { extra: ['Expires: 60'] }), 400)
          .then(() => {
            rec.answered = true;
          })
          .catch(() => undefined);
        await delay(10);
      }
    })();
    try {
      await delay(200);
      assert.ok(
        sent.some((s) => s.answered),
        'probes are answered before the ban',
      );

      const cliAdd0 = performance.now();
      const add = await runPalisadeCli(['bans', 'add', target, '--reason', 'test', '--socket', d.adminSocket]);
      const added = performance.now();
      assert.equal(add.code, 0, add.stderr);
      await delay(600);
      // Effect latency: from the command's return to the first probe of the unanswered run that follows.
      const afterAdd = sent.filter((s) => s.at >= added - 200 && s.at < added + 400);
      const firstDead = afterAdd.findIndex((_s, i) => afterAdd.slice(i).every((x) => !x.answered));
      assert.ok(firstDead >= 0, 'probes stop being answered after bans add');
      const addLatency = Math.max(0, (afterAdd[firstDead]?.at ?? added) - added);
      t.diagnostic(`bans add: CLI ${Math.round(added - cliAdd0)} ms, effect ${addLatency.toFixed(1)} ms after it returned`);
      assert.ok(addLatency <= 100, `ban effective ${addLatency} ms after the command`);
      assert.ok((await listBans(d)).some((b) => b.target === target && b.source === 'manual'));

      const remove = await runPalisadeCli(['bans', 'remove', target, '--socket', d.adminSocket]);
      const removed = performance.now();
      assert.equal(remove.code, 0, remove.stderr);
      await delay(600);
      const firstAlive = sent.find((s) => s.at >= removed && s.answered);
      assert.ok(firstAlive, 'probes are answered again after bans remove');
      const removeLatency = firstAlive.at - removed;
      t.diagnostic(`bans remove: effect ${removeLatency.toFixed(1)} ms after the command returned`);
      assert.ok(removeLatency <= 100, `unban effective ${removeLatency} ms after the command`);
    } finally {
      running = false;
      await loop;
    }
  });
});
