/**
 * A registration binding (which flow reaches a phone) changes only when the registrar accepts the REGISTER:
 * a REGISTER the PBX refuses — here an unauthenticated one in auth.mode pbx, reusing the victim's AOR and Contact —
 * must not redirect the victim's calls. (Found in review; this was exploitable before bindings waited for the 2xx.)
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/core/log.ts';
import { type Daemon, startDaemon } from '../../src/main.ts';
import {
  answerAllOk,
  digestPhoneKit,
  header,
  INSIDE_IP,
  PBX_IP,
  type Peer,
  PUBLIC_IP,
  writeAliceAndOldphone,
} from './helpers/digest-phone.ts';

const REALM = 'palisade.test';
const kit = digestPhoneKit(REALM);
const { peer, request } = kit;

let daemon: Daemon;
let rejectReg = false;
let pbx: Peer;
let dir: string;

before(async () => {
  pbx = await peer(PBX_IP);
  answerAllOk(pbx, () => rejectReg);
  dir = mkdtempSync(join(tmpdir(), 'palisade-auth-'));
  mkdirSync(join(dir, 'data'));
  writeAliceAndOldphone(join(dir, 'data', 'users.yaml'), REALM);
  writeFileSync(
    join(dir, 'palisade.yaml'),
    `
node: { dataDir: ${join(dir, 'data')} }
listeners:
  - { id: pub, transport: udp, address: ${PUBLIC_IP}, port: 0 }
pbx:
  listen: { transport: udp, address: ${INSIDE_IP}, port: 0 }
  targets: [{ name: pbx1, host: ${PBX_IP}, port: ${pbx.port} }]
auth: { mode: pbx, realm: ${REALM} }
security:
  bans: { maxRetry: 5, banTime: 1h }
metrics: { enabled: false }
logging: { level: silent }
`,
  );
  daemon = await startDaemon({ configPath: join(dir, 'palisade.yaml'), logger: silentLogger, installSignalHandlers: false });
  kit.publicPort = daemon.status().listeners.find((l) => l.id === 'pub')?.port ?? 0;
});

after(async () => {
  await daemon.stop();
  pbx.sock.close();
});

test("a REGISTER the PBX rejects does not redirect the victim's binding", async () => {
  const victim = await peer('127.0.0.13');
  const attacker = await peer('127.0.0.66');
  try {
    const reg = (p: Peer, contact: string) => {
      const r = request(p, 'REGISTER', { user: 'bob' });
      return r.text.replace(/^Contact: .*$/m, `Contact: <${contact}>`);
    };
    const contact = `sip:bob@${victim.ip}:${victim.port}`;
    pbx.inbox.length = 0;
    victim.send(reg(victim, contact));
    await victim.next((m) => m.startsWith('SIP/2.0 200'));
    const atPbx = pbx.inbox.find((m) => m.startsWith('REGISTER')) ?? '';
    const token = /<sip:([^@]+)@/.exec(header(atPbx, 'Contact')[0] ?? '')?.[1];
    rejectReg = true;
    attacker.send(reg(attacker, contact)); // same AOR + same contact URI → same token, no credentials
    const rej = await attacker.next((m) => m.startsWith('SIP/2.0'));
    const inside = daemon.status().listeners.find((l) => l.id === 'pbx');
    const inv = [
      `INVITE sip:${token}@${inside?.address}:${inside?.port} SIP/2.0`,
      `Via: SIP/2.0/UDP ${pbx.ip}:${pbx.port};branch=z9hG4bKpbxinv1`,
      'Max-Forwards: 70',
      `From: <sip:200@${PBX_IP}>;tag=pbxf1`,
      `To: <sip:${token}@${INSIDE_IP}>`,
      'Call-ID: pbx-call-1',
      'CSeq: 1 INVITE',
      `Contact: <sip:200@${PBX_IP}:${pbx.port}>`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    pbx.sock.send(Buffer.from(inv), inside?.port ?? 0, inside?.address ?? '');
    const who = await Promise.race([
      victim.next((m) => m.startsWith('INVITE'), 2000).then(() => 'victim'),
      attacker.next((m) => m.startsWith('INVITE'), 2000).then(() => 'attacker'),
    ]);
    assert.match(rej, /^SIP\/2\.0 401/, 'the PBX refused the attacker');
    assert.equal(who, 'victim', 'the PBX call for bob still reaches the phone that registered');
  } finally {
    victim.sock.close();
    attacker.sock.close();
  }
});
