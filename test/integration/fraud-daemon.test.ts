/**
 * Call authorization through the running daemon, over real UDP: our own digest phone calls through Palisade to a
 * scripted PBX. Premium-rate and denied-country calls get 403 and never reach the PBX; allowed ones do; a user
 * without the international class cannot call abroad; a call over its duration limit is hung up on both sides
 * within a second of the limit; the concurrency limit holds; every decision is in the audit log.
 * (SIPp load against the limits: fraud-sipp.test.ts.)
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/core/log.ts';
import { type Daemon, startDaemon } from '../../src/main.ts';
import { digestPhoneKit, header, INSIDE_IP, PBX_IP, type Peer } from './helpers/digest-phone.ts';
import { fraudPolicyBase, inviteWithDigest, type ScriptedCallPbx, scriptCallPbx, statusOf, writeDigestUsers } from './helpers/fraud-rig.ts';

const REALM = 'fraud.test';
const kit = digestPhoneKit(REALM, 3000);
const { peer } = kit;
const PASSWORDS: Record<string, string> = { alice: 'pw-alice-1', bob: 'pw-bob-22', carol: 'pw-carol-333', dave: 'pw-dave-4444' };

let daemon: Daemon;
let pbx: ScriptedCallPbx;
let dir: string;

before(async () => {
  pbx = scriptCallPbx(await peer(PBX_IP), 'answer');
  dir = mkdtempSync(join(tmpdir(), 'palisade-fraud-'));
  mkdirSync(join(dir, 'data'));
  writeDigestUsers(join(dir, 'data', 'users.yaml'), REALM, PASSWORDS, { dave: ['short'] });
  writeFileSync(
    join(dir, 'palisade.yaml'),
    `
${fraudPolicyBase(join(dir, 'data'), pbx.peer.port, REALM)}
fraud:
  defaultRegion: GB
  defaults: { classes: [internal, national, mobile, international] }
  users:
    bob: { classes: [internal, national, mobile] }
  destinations:
    - { country: CU, action: deny, why: no calls to Cuba }
  reasonHeader: X-Refused
  reasons: { destination: Destination blocked by policy }
  limits:
    user: { concurrent: 2, callsPerMinute: 100 }
    users:
      carol: { maxDuration: { all: 2s } }
    groups:
      short: { maxDuration: { international: 1s } }
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
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const status = statusOf;

/** INVITE with digest: returns the final response to the authenticated INVITE; a 2xx is ACKed. */
async function call(p: Peer, user: string, dial: string): Promise<{ final: string; callId: string }> {
  const { final, callId, uri } = await inviteWithDigest(kit, p, user, PASSWORDS[user] as string, dial);
  if (status(final) >= 200 && status(final) < 300) {
    // ACK the 2xx (end to end: its own transaction, to the Contact Palisade gave)
    const contact = /<([^>]+)>/.exec(header(final, 'Contact')[0] ?? '')?.[1] ?? uri;
    const ack = [
      `ACK ${contact} SIP/2.0`,
      `Via: SIP/2.0/UDP ${p.ip}:${p.port};branch=z9hG4bKack${Math.random().toString(36).slice(2, 10)};rport`,
      'Max-Forwards: 70',
      `From: ${header(final, 'From')[0]}`,
      `To: ${header(final, 'To')[0]}`,
      `Call-ID: ${callId}`,
      `CSeq: ${/^(\d+)/.exec(header(final, 'CSeq')[0] ?? '1')?.[1]} ACK`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    p.send(ack);
  }
  return { final, callId };
}

async function hangUp(p: Peer, final: string, callId: string): Promise<void> {
  const contact = /<([^>]+)>/.exec(header(final, 'Contact')[0] ?? '')?.[1] ?? '';
  const bye = [
    `BYE ${contact} SIP/2.0`,
    `Via: SIP/2.0/UDP ${p.ip}:${p.port};branch=z9hG4bKbye${Math.random().toString(36).slice(2, 10)};rport`,
    'Max-Forwards: 70',
    `From: ${header(final, 'From')[0]}`,
    `To: ${header(final, 'To')[0]}`,
    `Call-ID: ${callId}`,
    'CSeq: 9000 BYE',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  p.send(bye);
  await p.next((m) => m.startsWith('SIP/2.0 200') && m.includes(callId) && m.includes('BYE'));
}

function invitesAtPbx(): number {
  return pbx.requests.filter((l) => l.startsWith('INVITE')).length;
}

test('premium-rate and denied-country calls get 403 and never reach the PBX; allowed ones do', async () => {
  const p = await peer('127.0.0.21');
  const before = invitesAtPbx();
  // GB premium rate (09xx)
  const premium = await call(p, 'alice', '09098790000');
  assert.equal(status(premium.final), 403);
  assert.match(header(premium.final, 'X-Refused')[0] ?? '', /Call class not allowed/, 'premium is a class nobody has by default');
  // Cuba, denied by a country rule
  const cuba = await call(p, 'alice', '+5378612345');
  assert.equal(status(cuba.final), 403);
  assert.match(header(cuba.final, 'X-Refused')[0] ?? '', /Destination blocked by policy/);
  // Satellite (+881), the built-in IRSF list
  const sat = await call(p, 'alice', '+881631234567');
  assert.equal(status(sat.final), 403);
  assert.equal(invitesAtPbx(), before, 'no refused call reached the PBX');
  // France, fixed line: international is allowed for alice
  const fr = await call(p, 'alice', '+33123456789');
  assert.equal(status(fr.final), 200);
  assert.equal(invitesAtPbx(), before + 1);
  await hangUp(p, fr.final, fr.callId);
  // a national UK number and an extension pass too
  const uk = await call(p, 'alice', '02079460000');
  assert.equal(status(uk.final), 200);
  await hangUp(p, uk.final, uk.callId);
  p.sock.close();
});

test('a user without the international class cannot call abroad, but can call nationally', async () => {
  const p = await peer('127.0.0.22');
  const before = invitesAtPbx();
  const abroad = await call(p, 'bob', '+33123456789');
  assert.equal(status(abroad.final), 403);
  assert.equal(invitesAtPbx(), before);
  const home = await call(p, 'bob', '02079460000');
  assert.equal(status(home.final), 200);
  await hangUp(p, home.final, home.callId);
  p.sock.close();
});

test('a call over its duration limit is hung up on both sides within one second of the limit', async () => {
  const p = await peer('127.0.0.23');
  const byesBefore = pbx.byes.length;
  const c = await call(p, 'carol', '+33123456789');
  assert.equal(status(c.final), 200);
  const answeredAt = Date.now();
  const toPhone = await p.next((m) => m.startsWith('BYE ') && m.includes(c.callId), 5000);
  const phoneAfter = Date.now() - answeredAt;
  // the phone answers Palisade's BYE
  p.send(
    [
      'SIP/2.0 200 OK',
      ...toPhone.split('\r\n').filter((l) => /^via\s*:/i.test(l)),
      `From: ${header(toPhone, 'From')[0]}`,
      `To: ${header(toPhone, 'To')[0]}`,
      `Call-ID: ${c.callId}`,
      `CSeq: ${header(toPhone, 'CSeq')[0]}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
  assert.ok(phoneAfter >= 1900 && phoneAfter <= 3000, `BYE to the phone ${phoneAfter} ms after the answer (limit 2000)`);
  // Toward the caller Palisade speaks as the callee: From carries the callee's tag, To the caller's.
  assert.match(header(toPhone, 'From')[0] ?? '', /tag=pbx1/);
  assert.match(header(toPhone, 'To')[0] ?? '', /tag=ft/);
  const addr = (ip: string) => new RegExp(`${ip.replace(/\./g, '\\.')}(?![0-9])`);
  assert.doesNotMatch(toPhone, addr(PBX_IP), 'no PBX address in the BYE to the phone');
  assert.doesNotMatch(toPhone, addr(INSIDE_IP), 'no inside address in the BYE to the phone');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(pbx.byes.length, byesBefore + 1, 'the PBX got a BYE too');
  const pbxAfter = (pbx.byes.at(-1)?.at ?? 0) - answeredAt;
  assert.ok(pbxAfter >= 1900 && pbxAfter <= 3000, `BYE to the PBX ${pbxAfter} ms after the answer`);
  assert.match(pbx.byes.at(-1)?.msg ?? '', /Reason: SIP;text="duration-limit"/);
  // a group limit (international calls 1 s for group "short") applies to dave
  const d = await call(p, 'dave', '+33123456789');
  assert.equal(status(d.final), 200);
  const t0 = Date.now();
  await p.next((m) => m.startsWith('BYE ') && m.includes(d.callId), 4000);
  const after1 = Date.now() - t0;
  assert.ok(after1 >= 900 && after1 <= 2000, `group limit: BYE ${after1} ms after the answer (limit 1000)`);
  p.sock.close();
});

// Different countries on purpose: +33 1 23 45 67 8x in a row is sequential dialling, which blocks the user (see
// fraud-anomaly.test.ts).
test('the concurrency limit holds for external calls, and a hung-up call frees its slot', async () => {
  const p = await peer('127.0.0.24');
  const a = await call(p, 'alice', '+4930901820');
  const b = await call(p, 'alice', '+34912345678');
  const c = await call(p, 'alice', '+390612345678');
  assert.deepEqual([status(a.final), status(b.final), status(c.final)], [200, 200, 403]);
  await hangUp(p, a.final, a.callId);
  const d = await call(p, 'alice', '+31201234567');
  assert.equal(status(d.final), 200, 'the slot came back');
  const internal = await call(p, 'alice', '104');
  assert.equal(status(internal.final), 200, 'extensions are not limited');
  await hangUp(p, internal.final, internal.callId);
  await hangUp(p, b.final, b.callId);
  await hangUp(p, d.final, d.callId);
  p.sock.close();
});

test('every decision is an audit event; the metrics count decisions and hang-ups', async () => {
  const lines = readFileSync(join(dir, 'data', 'audit.log'), 'utf8')
    .trim()
    .split('\n');
  const events = lines.map((l) => JSON.parse(l) as { action: string; reason?: string; target?: string });
  const denies = events.filter((e) => e.action === 'fraud.deny');
  const allows = events.filter((e) => e.action === 'fraud.allow');
  assert.ok(
    denies.some((e) => e.target === 'user:alice' && e.reason === 'destination'),
    JSON.stringify(denies),
  );
  assert.ok(denies.some((e) => e.target === 'user:bob' && e.reason === 'class_not_allowed'));
  assert.ok(denies.some((e) => e.target === 'user:alice' && e.reason === 'concurrent'));
  assert.ok(allows.length >= 6);
  assert.ok(events.some((e) => e.action === 'call.terminate' && e.reason === 'duration-limit' && e.target === 'carol'));
});
