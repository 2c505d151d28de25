/**
 * SIPVicious 0.3.3 (svwar, svcrack, svmap) against the daemon, each from its own loopback source address
 * (harness/sipvicious.ts binds the tools there), auth.mode 'palisade' with real users written by the CLI.
 *
 * A control run against a deliberately naive registrar (404 for unknown users, MD5 401 for known ones) first
 * shows that the tools and the output parsers do find extensions and passwords, so "found nothing" below means
 * the daemon defeated them, not that the harness is blind.
 * Default policy: the scanner fingerprint bans at the first packet and nothing is answered.
 * Scanner detection off: svwar still learns nothing (every user, real or not, gets the same 401), and svcrack —
 * even one that picks the MD5 challenge — is banned by failed attempts before its 20th guess.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type PalisadeHandle, startPalisade } from './harness/daemon.ts';
import { addUser, runPalisadeCli } from './harness/digest-client.ts';
import { type BanRecord, listBans, waitForBan } from './harness/flood.ts';
import { type SippUasHandle, startSippUas } from './harness/sipp.ts';
import { runSipvicious, type SipviciousResult, svcrackPasswords, svmapDevices, svwarExtensions } from './harness/sipvicious.ts';

const PUBLIC = '127.0.0.1';
const INSIDE = '127.0.0.2';
const PBX = '127.0.0.3';
const T = { timeout: 60_000 };
const REAL_USERS = ['100', '101', '105'];
const CRACK_USER = '107';
const CRACK_PASSWORD = 'sunshine7';
/** 30 guesses; the real password is the 25th. */
const DICTIONARY = [...Array.from({ length: 24 }, (_, i) => `guess${i}`), CRACK_PASSWORD, 'a1', 'a2', 'a3', 'a4', 'a5'];

function explain(r: SipviciousResult): string {
  return `exit=${String(r.exitCode)} timedOut=${r.timedOut} stats=${JSON.stringify(r.stats)}\nstdout:\n${r.stdout.slice(-1500)}\nstderr:\n${r.stderr.slice(-1500)}`;
}

function policy(pbxPort: number, scanner: boolean) {
  return {
    listeners: [{ id: 'udp', transport: 'udp', address: PUBLIC, port: 0 }],
    pbx: {
      listen: { transport: 'udp', address: INSIDE, port: 0 },
      targets: [{ name: 'pbx1', host: PBX, port: pbxPort, transport: 'udp' }],
      probe: { intervalMs: 1000, timeoutMs: 800, failuresToDown: 2 },
    },
    media: { publicAddress: PUBLIC },
    auth: { mode: 'palisade' },
    security: {
      scanner: { enabled: scanner },
      // Generous REGISTER bucket: a ban below must come from the scanner rule or failed attempts, not from flood.
      flood: { register: { ratePerSec: 1000, burst: 1000 } },
    },
    logging: { level: 'warn' },
  };
}

interface Rig {
  work: string;
  uas: SippUasHandle;
  d: PalisadeHandle;
  port: number;
}

async function startRig(scanner: boolean): Promise<Rig> {
  const work = await mkdtemp(join(tmpdir(), 'palisade-sv-'));
  const uas = await startSippUas({ scenario: 'uas-register.xml', transport: 'u1', localIp: PBX, workDir: work });
  const dir = join(work, 'daemon');
  await mkdir(join(dir, 'data'), { recursive: true, mode: 0o700 });
  const users = join(dir, 'data', 'users.yaml');
  for (const u of REAL_USERS) await addUser(users, u, `pw-${u}-Xq9`);
  await addUser(users, CRACK_USER, CRACK_PASSWORD, { allowMd5: true });
  const d = await startPalisade({ policy: policy(uas.port, scanner), dir });
  try {
    await d.waitReady();
    const l = (await d.listeners()).find((x) => x.id === 'udp');
    assert.ok(l);
    return { work, uas, d, port: l.port };
  } catch (e) {
    await d.stop();
    await uas.stop();
    throw e;
  }
}

async function stopRig(r: Rig | undefined): Promise<void> {
  if (r === undefined) return;
  await r.d.stop();
  await r.uas.stop();
  await rm(r.work, { recursive: true, force: true });
}

/** The naive registrar of the control run: 404 for unknown users, a single MD5 401 for known ones. */
async function startNaiveRegistrar(users: Record<string, string>): Promise<{ sock: Socket; port: number }> {
  const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
  const sock = createSocket('udp4');
  sock.on('message', (m, r) => {
    const t = m.toString();
    const hdr = (n: string): string => new RegExp(`^(${n}):.*$`, 'im').exec(t)?.[0] ?? '';
    const user = /^(?:To|t):.*sips?:([^@;>]+)@/im.exec(t)?.[1] ?? '';
    const base = `${hdr('Via|v')}\r\n${hdr('From|f')}\r\n${hdr('To|t')};tag=naive\r\n${hdr('Call-ID|i')}\r\n${hdr('CSeq')}\r\n`;
    const auth = /^Authorization: (.*)$/im.exec(t)?.[1];
    const password = users[user];
    let status = '404 Not Found';
    let extra = '';
    if (t.startsWith('OPTIONS')) {
      status = '200 OK';
      extra = 'User-Agent: NaivePBX 1.0\r\n';
    } else if (password !== undefined) {
      if (auth !== undefined) {
        const p = Object.fromEntries([...auth.matchAll(/(\w+)="?([^",]*)"?/g)].map((x) => [x[1], x[2]]));
        const ha1 = md5(`${user}:naive:${password}`);
        const ha2 = md5(`REGISTER:${p.uri ?? ''}`);
        const want = md5(`${ha1}:${p.nonce ?? ''}:${p.nc ?? ''}:${p.cnonce ?? ''}:${p.qop ?? ''}:${ha2}`);
        status = want === p.response ? '200 OK' : '403 Forbidden';
      } else {
        status = '401 Unauthorized';
        extra = `WWW-Authenticate: Digest realm="naive", nonce="${Math.random().toString(16).slice(2)}", algorithm=MD5, qop="auth"\r\n`;
      }
    }
    sock.send(`SIP/2.0 ${status}\r\n${base}${extra}Content-Length: 0\r\n\r\n`, r.port, r.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, PUBLIC, () => resolve()));
  return { sock, port: sock.address().port };
}

describe('SIPVicious harness control: a naive registrar is enumerated and cracked', () => {
  let naive: { sock: Socket; port: number } | undefined;
  let work = '';
  before(async () => {
    naive = await startNaiveRegistrar({ '101': 'pw101', '105': CRACK_PASSWORD });
    work = await mkdtemp(join(tmpdir(), 'palisade-sv-ctl-'));
  });
  after(async () => {
    naive?.sock.close();
    await rm(work, { recursive: true, force: true });
  });

  test('svwar finds 101 and 105, svcrack finds 105’s password, svmap finds the device', T, async () => {
    assert.ok(naive);
    const war = await runSipvicious('svwar', { bindIp: '127.0.0.61', host: PUBLIC, port: naive.port, args: ['-e', '95-110'] });
    assert.deepEqual(svwarExtensions(war).sort(), ['101', '105'], explain(war));
    assert.deepEqual(war.stats.boundTo?.[0], '127.0.0.61', 'the tool sent from the chosen address');
    const dict = join(work, 'dict.txt');
    await writeFile(dict, `${DICTIONARY.join('\n')}\n`);
    const crack = await runSipvicious('svcrack', { bindIp: '127.0.0.62', host: PUBLIC, port: naive.port, args: ['-u', '105', '-d', dict] });
    assert.equal(svcrackPasswords(crack).get('105'), CRACK_PASSWORD, explain(crack));
    assert.ok(crack.stats.sentWithAuth >= 25, explain(crack));
    const map = await runSipvicious('svmap', { bindIp: '127.0.0.63', host: PUBLIC, port: naive.port });
    assert.deepEqual(svmapDevices(map), [`${PUBLIC}:${naive.port}`], explain(map));
  });
});

describe('SIPVicious against Palisade (default policy: scanner detection on)', () => {
  let rig: Rig | undefined;
  before(async () => {
    rig = await startRig(true);
  });
  after(async () => {
    await stopRig(rig);
  });

  const assertBanned = async (src: string): Promise<BanRecord> => {
    assert.ok(rig);
    const ban = await waitForBan(rig.d, src, 2000);
    assert.ok(ban, `${src} banned; bans: ${JSON.stringify(await listBans(rig.d))}`);
    return ban;
  };

  test('svwar over 95-110 (real users 100, 101, 105) finds none, gets no answer, and is banned', T, async () => {
    assert.ok(rig);
    const src = '127.0.0.66';
    const r = await runSipvicious('svwar', { bindIp: src, host: PUBLIC, port: rig.port, args: ['-e', '95-110', '--force'] });
    assert.deepEqual(svwarExtensions(r), [], explain(r));
    assert.equal(r.stats.received, 0, `no answer at all: ${explain(r)}`);
    assert.ok(r.stats.sent >= 1, explain(r));
    const ban = await assertBanned(src);
    assert.equal(ban.reason, 'scanner');
  });

  test('svcrack against a real user gets no challenge, guesses nothing, and is banned', T, async () => {
    assert.ok(rig);
    const src = '127.0.0.67';
    const dict = join(rig.work, 'dict.txt');
    await writeFile(dict, `${DICTIONARY.join('\n')}\n`);
    const r = await runSipvicious('svcrack', {
      bindIp: src,
      host: PUBLIC,
      port: rig.port,
      args: ['-u', CRACK_USER, '-d', dict],
      preferMd5Challenge: true,
    });
    assert.equal(svcrackPasswords(r).size, 0, explain(r));
    assert.equal(r.stats.sentWithAuth, 0, explain(r));
    assert.equal(r.stats.received, 0, explain(r));
    await assertBanned(src);
  });

  test('svmap gets no answer and its source is banned (palisade bans list --json)', T, async () => {
    assert.ok(rig);
    const src = '127.0.0.68';
    const r = await runSipvicious('svmap', { bindIp: src, host: PUBLIC, port: rig.port });
    assert.deepEqual(svmapDevices(r), [], explain(r));
    assert.equal(r.stats.received, 0, explain(r));
    const cli = await runPalisadeCli(['bans', 'list', '--json', '--socket', rig.d.adminSocket]);
    assert.equal(cli.code, 0, cli.stderr);
    const listed = (JSON.parse(cli.stdout) as { bans: Array<{ target: string; reason: string }> }).bans;
    const mine = listed.find((b) => b.target === src);
    assert.ok(mine, cli.stdout);
    assert.equal(mine.reason, 'scanner');
    // A legitimate phone on another address is not affected.
    const ok = await rig.d.admin('GET', '/v1/status');
    assert.equal(ok.status, 200);
  });
});

describe('SIPVicious against Palisade with scanner detection OFF (auth alone)', () => {
  let rig: Rig | undefined;
  before(async () => {
    rig = await startRig(false);
  });
  after(async () => {
    await stopRig(rig);
  });

  test('svwar gets answers but cannot tell real users from unknown ones', T, async () => {
    assert.ok(rig);
    const r = await runSipvicious('svwar', { bindIp: '127.0.0.71', host: PUBLIC, port: rig.port, args: ['-e', '95-110', '--force'] });
    assert.ok(r.stats.received >= 1, `the daemon answered: ${explain(r)}`);
    const found = svwarExtensions(r);
    for (const u of [...REAL_USERS, CRACK_USER]) assert.ok(!found.includes(u), `svwar found ${u}: ${explain(r)}`);
  });

  test('svcrack (picking the MD5 challenge) is banned before its 20th guess and never finds the password', T, async (t) => {
    assert.ok(rig);
    const src = '127.0.0.72';
    const dict = join(rig.work, 'dict.txt');
    await writeFile(dict, `${DICTIONARY.join('\n')}\n`);
    const r = await runSipvicious('svcrack', {
      bindIp: src,
      host: PUBLIC,
      port: rig.port,
      // --maximumtime: stop 2 s after the last answer (the default 10 s only makes the banned run longer).
      args: ['-u', CRACK_USER, '-d', dict, '--maximumtime', '2'],
      preferMd5Challenge: true,
    });
    t.diagnostic(`svcrack guesses sent: ${r.stats.sentWithAuth}, answers: ${JSON.stringify(r.stats.receivedByStatus)}`);
    assert.equal(svcrackPasswords(r).size, 0, explain(r));
    assert.ok(r.stats.sentWithAuth >= 1, `svcrack did guess: ${explain(r)}`);
    assert.ok(r.stats.sentWithAuth < 20, `banned before the 20th guess: ${explain(r)}`);
    assert.equal(r.stats.receivedByStatus['200'] ?? 0, 0, explain(r));
    const ban = await waitForBan(rig.d, src, 2000);
    assert.ok(ban, `ban for ${src}: ${JSON.stringify(await listBans(rig.d))}`);
    assert.match(ban.reason, /auth_failure|unknown_user|replayed_nonce/);
  });
});
