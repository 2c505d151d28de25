/**
 * Source geography and alerts through the running daemon, over real UDP and a real HTTP webhook receiver:
 * a source the test .mmdb (scripts/build-test-mmdb.pl) places in a denied country is refused with 403 before
 * authentication — no challenge; a sequential-dialling attack blocks the user and the webhook receives exactly
 * one alert for it, while a normal run of calls by another user raises none.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/core/log.ts';
import { type Daemon, startDaemon } from '../../src/main.ts';
import { buildTestMmdb } from './harness/mmdb.ts';
import { digestPhoneKit, header, PBX_IP, type Peer } from './helpers/digest-phone.ts';
import { fraudPolicyBase, inviteWithDigest, type ScriptedCallPbx, scriptCallPbx, statusOf, writeDigestUsers } from './helpers/fraud-rig.ts';

const REALM = 'geo.test';
const kit = digestPhoneKit(REALM, 3000);
const { peer, request } = kit;
const PASSWORDS: Record<string, string> = { mallory: 'pw-mallory-1', norma: 'pw-norma-22' };

let daemon: Daemon;
let pbx: ScriptedCallPbx;
let dir: string;
let hook: Server;
const alerts: Array<Record<string, unknown>> = [];

before(async () => {
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      alerts.push({ ...(JSON.parse(body) as Record<string, unknown>), authorization: req.headers.authorization });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  const hookPort = (hook.address() as { port: number }).port;

  // Every call is refused by the "PBX" right away (busy): the attempts are what the rules look at.
  pbx = scriptCallPbx(await peer(PBX_IP), 'busy');
  dir = mkdtempSync(join(tmpdir(), 'palisade-geo-'));
  mkdirSync(join(dir, 'data'));
  await buildTestMmdb(join(dir, 'data'), { name: 'countries.mmdb' });
  writeFileSync(join(dir, 'hook-token'), 'Bearer s3cret-hook-token\n');
  writeDigestUsers(join(dir, 'data', 'users.yaml'), REALM, PASSWORDS);
  writeFileSync(
    join(dir, 'palisade.yaml'),
    `
${fraudPolicyBase(join(dir, 'data'), pbx.peer.port, REALM)}
fraud:
  defaultRegion: GB
  defaults: { classes: [internal, national, mobile, international] }
  limits:
    user: { concurrent: 10, callsPerMinute: 100 }
  geo:
    database: countries.mmdb
    deny: [CU]
    listeners:
      pub: { deny: [DE] }
  anomaly:
    sequential: { minNumbers: 5, varyingDigits: 3, window: 10m, action: { block_user: 1h } }
alerts:
  webhook:
    url: http://127.0.0.1:${hookPort}/palisade
    headers: { Authorization: { file: hook-token } }
    backoff: 50ms
`,
  );
  daemon = await startDaemon({ configPath: join(dir, 'palisade.yaml'), logger: silentLogger, installSignalHandlers: false });
  const pub = daemon.status().listeners.find((l) => l.id === 'pub');
  assert.ok(pub);
  kit.publicPort = pub.port;
});

after(async () => {
  await daemon?.stop();
  pbx?.peer.sock.close();
  await new Promise<void>((r) => hook.close(() => r()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const status = statusOf;

/** INVITE with digest (when challenged): the final answer to the authenticated INVITE, or the refusal. */
async function call(p: Peer, user: string, dial: string): Promise<string> {
  return (await inviteWithDigest(kit, p, user, PASSWORDS[user] as string, dial)).final;
}

test('a source in a denied country gets 403 before authentication: no challenge, nothing reaches the PBX', async () => {
  const de = await peer('127.0.0.2'); // DE in the test database, denied on listener "pub"
  const before = pbx.invites;
  const first = request(de, 'INVITE', { user: 'mallory', dial: '+33123456789' });
  de.send(first.text);
  const reply = await de.next((m) => m.startsWith('SIP/2.0') && m.includes(first.callId) && !m.startsWith('SIP/2.0 100'));
  assert.equal(status(reply), 403, reply.split('\r\n')[0]);
  assert.equal(header(reply, 'Proxy-Authenticate').length, 0, 'refused before any challenge');
  assert.match(header(reply, 'Reason')[0] ?? '', /Calls from this location not allowed/);
  const reg = request(de, 'REGISTER', { user: 'mallory' });
  de.send(reg.text);
  const regReply = await de.next((m) => m.startsWith('SIP/2.0') && m.includes(reg.callId));
  assert.equal(status(regReply), 403);
  const cu = await peer('127.0.0.4'); // CU: the global deny list
  const c2 = request(cu, 'INVITE', { user: 'mallory', dial: '+33123456789' });
  cu.send(c2.text);
  assert.equal(status(await cu.next((m) => m.startsWith('SIP/2.0') && m.includes(c2.callId) && !m.startsWith('SIP/2.0 100'))), 403);
  assert.equal(pbx.invites, before);
  // A source in an allowed country (127.0.0.1/8 rest → FR) is challenged as usual.
  const fr = await peer('127.0.0.31');
  const c3 = request(fr, 'INVITE', { user: 'mallory', dial: '+33123456789' });
  fr.send(c3.text);
  assert.equal(status(await fr.next((m) => m.startsWith('SIP/2.0') && m.includes(c3.callId) && !m.startsWith('SIP/2.0 100'))), 407);
  for (const p of [de, cu, fr]) p.sock.close();
});

test('sequential dialling blocks the user and the webhook gets exactly one alert; a normal run raises none', async () => {
  alerts.length = 0;
  const normal = await peer('127.0.0.32');
  // A normal run: varied destinations, nothing sequential.
  for (const n of ['+33123456789', '+4930901820', '02079460000', '+34912345678', '07700900123', '+31201234567']) {
    assert.equal(status(await call(normal, 'norma', n)), 486, n);
  }
  const attacker = await peer('127.0.0.33');
  const results: number[] = [];
  for (let i = 0; i < 8; i++) results.push(status(await call(attacker, 'mallory', `+4420794600${10 + i}`)));
  // The 5th distinct number in the same range fires the rule: that call and every later one are refused.
  assert.deepEqual(results, [486, 486, 486, 486, 403, 403, 403, 403]);
  // blocked for an hour: even an unrelated destination
  assert.equal(status(await call(attacker, 'mallory', '+33123456789')), 403);
  const deadline = Date.now() + 3000;
  while (alerts.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 300)); // anything else that was coming
  assert.equal(alerts.length, 1, JSON.stringify(alerts));
  const a = alerts[0] as Record<string, unknown>;
  assert.equal(a.rule, 'fraud.sequential');
  assert.equal(a.subject, 'user:mallory');
  assert.match(String(a.action), /blocked the caller for 3600 s/);
  assert.equal(a.severity, 'critical');
  assert.equal(a.authorization, 'Bearer s3cret-hook-token', 'the header secret came from its file');
  normal.sock.close();
  attacker.sock.close();
});
