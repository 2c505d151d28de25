/**
 * A registration binding (which flow reaches a phone) changes only when the registrar accepts the REGISTER:
 * a REGISTER the PBX refuses — here an unauthenticated one in auth.mode pbx, reusing the victim's AOR and Contact —
 * must not redirect the victim's calls. (Found in review; this was exploitable before bindings waited for the 2xx.)
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeUsersFile } from '../../src/auth/credentials.ts';
import { computeAllHa1, computeResponse } from '../../src/auth/digest.ts';
import { silentLogger } from '../../src/core/log.ts';
import { type Daemon, startDaemon } from '../../src/main.ts';

const PUBLIC_IP = '127.0.0.1';
const INSIDE_IP = '127.0.0.2';
const PBX_IP = '127.0.0.3';
const REALM = 'palisade.test';

interface Peer {
  sock: Socket;
  port: number;
  ip: string;
  inbox: string[];
  next(pred: (m: string) => boolean, ms?: number): Promise<string>;
  send(text: string): void;
}

let publicPort = 0;

async function peer(ip: string): Promise<Peer> {
  const sock = createSocket('udp4');
  const inbox: string[] = [];
  const waiters: Array<{ pred: (m: string) => boolean; resolve: (m: string) => void }> = [];
  sock.on('message', (b) => {
    const m = b.toString('latin1');
    const w = waiters.find((x) => x.pred(m));
    if (w) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(m);
    } else inbox.push(m);
  });
  await new Promise<void>((r) => sock.bind(0, ip, () => r()));
  return {
    sock,
    ip,
    port: sock.address().port,
    inbox,
    next(pred, ms = 2000) {
      const i = inbox.findIndex(pred);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0] as string);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timeout; inbox: ${inbox.map((m) => m.split('\r\n')[0]).join(' | ')}`)), ms);
        waiters.push({
          pred,
          resolve: (m) => {
            clearTimeout(t);
            resolve(m);
          },
        });
      });
    },
    send(text) {
      sock.send(Buffer.from(text, 'latin1'), publicPort, PUBLIC_IP);
    },
  };
}

const header = (msg: string, name: string): string[] =>
  msg
    .split('\r\n')
    .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((l) => l.slice(l.indexOf(':') + 1).trim());

let seq = 0;
function request(
  p: Peer,
  method: string,
  opts: { user?: string; auth?: string; ua?: string; callId?: string } = {},
): { text: string; uri: string; callId: string } {
  const user = opts.user ?? 'alice';
  const uri = method === 'REGISTER' ? `sip:${PUBLIC_IP}:${publicPort}` : `sip:100@${PUBLIC_IP}:${publicPort}`;
  const callId = opts.callId ?? `auth-${++seq}@test`;
  const to = method === 'REGISTER' ? `<sip:${user}@${PUBLIC_IP}>` : `<sip:100@${PUBLIC_IP}>`;
  const lines = [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${p.ip}:${p.port};branch=z9hG4bKt${seq}x${Math.random().toString(36).slice(2, 8)};rport`,
    'Max-Forwards: 70',
    `From: <sip:${user}@${PUBLIC_IP}>;tag=ft${seq}`,
    `To: ${to}`,
    `Call-ID: ${callId}`,
    `CSeq: ${seq} ${method}`,
    `Contact: <sip:${user}@${p.ip}:${p.port}>`,
    `User-Agent: ${opts.ua ?? 'PalisadeTestPhone/1.0'}`,
  ];
  if (method === 'REGISTER') lines.push('Expires: 300');
  if (opts.auth) lines.push(`${method === 'REGISTER' ? 'Authorization' : 'Proxy-Authorization'}: ${opts.auth}`);
  lines.push('Content-Length: 0', '', '');
  return { text: lines.join('\r\n'), uri, callId };
}

function param(challenge: string, name: string): string | undefined {
  return new RegExp(`${name}="?([^",]+)"?`).exec(challenge)?.[1];
}

function answer(
  challenge: string,
  opts: { user: string; password: string; method: string; uri: string; alg: 'SHA-256' | 'SHA-512-256' | 'MD5'; nc?: string },
): string {
  const nonce = param(challenge, 'nonce') ?? '';
  const ha1 = computeAllHa1(opts.user, REALM, opts.password)[opts.alg === 'SHA-256' ? 'sha256' : opts.alg === 'MD5' ? 'md5' : 'sha512_256'];
  const nc = opts.nc ?? '00000001';
  const cnonce = 'c0ffee';
  const response = computeResponse({ algorithm: opts.alg, ha1, nonce, method: opts.method, uri: opts.uri, qop: 'auth', nc, cnonce });
  return `Digest username="${opts.user}", realm="${REALM}", nonce="${nonce}", uri="${opts.uri}", response="${response}", algorithm=${opts.alg}, qop=auth, nc=${nc}, cnonce="${cnonce}"`;
}

let daemon: Daemon;
let rejectReg = false;
let pbx: Peer;
let dir: string;

before(async () => {
  pbx = await peer(PBX_IP);
  pbx.sock.on('message', (b, rinfo) => {
    const m = b.toString('latin1');
    if (m.startsWith('SIP/2.0') || m.startsWith('ACK')) return;
    const method = m.split(' ', 1)[0] ?? '';
    if (rejectReg && method === 'REGISTER') {
      pbx.sock.send(
        Buffer.from(
          [
            'SIP/2.0 401 Unauthorized',
            ...m.split('\r\n').filter((l) => /^(via|from|to|call-id|cseq)\s*:/i.test(l)),
            'WWW-Authenticate: Digest realm="x", nonce="abc"',
            'Content-Length: 0',
            '',
            '',
          ].join('\r\n'),
        ),
        rinfo.port,
        rinfo.address,
      );
      return;
    }
    const lines = [
      'SIP/2.0 200 OK',
      ...m.split('\r\n').filter((l) => /^via\s*:/i.test(l)),
      `From: ${header(m, 'From')[0]}`,
      `To: ${header(m, 'To')[0]}${method === 'INVITE' || method === 'REGISTER' ? ';tag=pbx1' : ''}`,
      `Call-ID: ${header(m, 'Call-ID')[0]}`,
      `CSeq: ${header(m, 'CSeq')[0]}`,
      ...header(m, 'Contact').map((c) => `Contact: ${c}`),
      'Content-Length: 0',
      '',
      '',
    ];
    pbx.sock.send(Buffer.from(lines.join('\r\n')), rinfo.port, rinfo.address);
  });
  dir = mkdtempSync(join(tmpdir(), 'palisade-auth-'));
  mkdirSync(join(dir, 'data'));
  writeUsersFile(join(dir, 'data', 'users.yaml'), [
    {
      user: 'alice',
      realm: REALM,
      ha1: computeAllHa1('alice', REALM, 's3cret-A'),
      groups: [],
      aliases: ['100a'],
      disabled: false,
      allowMd5: false,
    },
    {
      user: 'oldphone',
      realm: REALM,
      ha1: computeAllHa1('oldphone', REALM, 'md5-only'),
      groups: [],
      aliases: [],
      disabled: false,
      allowMd5: true,
    },
  ]);
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
  publicPort = daemon.status().listeners.find((l) => l.id === 'pub')?.port ?? 0;
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
