/**
 * The proxy core end to end over real UDP sockets, with a scripted PBX of our own: a call, topology hiding,
 * CANCEL, OPTIONS to Palisade itself, 503 when the PBX is gone. (SIPp runs are in sipp-*.test.ts.)
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/core/log.ts';
import { type Daemon, startDaemon } from '../../src/main.ts';

const PUBLIC_IP = '127.0.0.1';
const INSIDE_IP = '127.0.0.2';
const PBX_IP = '127.0.0.3';

interface Peer {
  sock: Socket;
  port: number;
  inbox: string[];
  next(pred: (m: string) => boolean, ms?: number): Promise<string>;
  send(text: string, port: number, host: string): void;
  /** Removes scripted behaviour (autoAnswer and the like), keeping the inbox. */
  reset(): void;
}

async function peer(ip: string, port = 0): Promise<Peer> {
  const sock = createSocket('udp4');
  const inbox: string[] = [];
  const waiters: Array<{ pred: (m: string) => boolean; resolve: (m: string) => void }> = [];
  const collect = (b: Buffer) => {
    const m = b.toString('latin1');
    inbox.push(m);
    for (const w of [...waiters]) {
      if (w.pred(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  sock.on('message', collect);
  await new Promise<void>((r) => sock.bind(port, ip, () => r()));
  return {
    sock,
    port: sock.address().port,
    inbox,
    next(pred, ms = 3000) {
      const found = inbox.find(pred);
      if (found) {
        inbox.splice(inbox.indexOf(found), 1);
        return Promise.resolve(found);
      }
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () =>
            reject(
              new Error(`timeout waiting for ${pred.toString().slice(0, 120)}; inbox: ${inbox.map((m) => m.split('\r\n')[0]).join(' | ')}`),
            ),
          ms,
        );
        waiters.push({
          pred,
          resolve: (m) => {
            clearTimeout(t);
            inbox.splice(inbox.indexOf(m), 1);
            resolve(m);
          },
        });
      });
    },
    reset() {
      sock.removeAllListeners('message');
      sock.on('message', collect);
    },
    send(text, p, host) {
      sock.send(Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'latin1'), p, host);
    },
  };
}

function header(msg: string, name: string): string | undefined {
  const m = new RegExp(`^${name}\\s*:\\s*(.*)$`, 'im').exec(msg);
  return m?.[1]?.trim();
}

/** A minimal scripted PBX: answers INVITE 180+200 (with SDP), BYE/OPTIONS/REGISTER 200, ACK silently. */
function autoAnswer(pbx: Peer, opts: { answer: boolean }) {
  pbx.sock.on('message', (b, rinfo) => {
    const m = b.toString('latin1');
    const method = m.split(' ', 1)[0];
    if (m.startsWith('SIP/2.0') || method === 'ACK') return;
    const vias = m.split('\r\n').filter((l) => /^(via|v)\s*:/i.test(l));
    const common = [
      ...vias,
      `From: ${header(m, 'From')}`,
      `To: ${header(m, 'To')}${method === 'INVITE' || method === 'REGISTER' ? ';tag=pbxtag1' : ''}`,
      `Call-ID: ${header(m, 'Call-ID')}`,
      `CSeq: ${header(m, 'CSeq')}`,
    ];
    const reply = (status: string, extra: string[] = [], body = '') =>
      pbx.sock.send(
        Buffer.from([`SIP/2.0 ${status}`, ...common, ...extra, `Content-Length: ${body.length}`, '', body].join('\r\n')),
        rinfo.port,
        rinfo.address,
      );
    if (method === 'INVITE') {
      if (!opts.answer) {
        reply('180 Ringing', [`Contact: <sip:pbx@${PBX_IP}:${pbx.port}>`]);
        return;
      }
      const sdp = `v=0\r\no=- 1 1 IN IP4 ${PBX_IP}\r\ns=-\r\nc=IN IP4 ${PBX_IP}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;
      reply('180 Ringing', [`Contact: <sip:pbx@${PBX_IP}:${pbx.port}>`]);
      reply(
        '200 OK',
        [
          `Contact: <sip:pbx@${PBX_IP}:${pbx.port}>`,
          'Record-Route: <sip:10.9.9.9;lr>',
          'Server: Asterisk PBX 20.1',
          'Content-Type: application/sdp',
        ],
        sdp,
      );
    } else if (method === 'CANCEL') {
      reply('200 OK');
    } else {
      reply('200 OK', [`Contact: ${header(m, 'Contact') ?? `<sip:x@${PBX_IP}>`}`]);
    }
  });
}

let daemon: Daemon;
let pbx: Peer;
let client: Peer;
let publicPort: number;

before(async () => {
  pbx = await peer(PBX_IP);
  client = await peer(PUBLIC_IP);
  const dir = mkdtempSync(join(tmpdir(), 'palisade-proxy-'));
  const policy = `
node: { dataDir: ${join(dir, 'data')} }
listeners:
  - { id: pub, transport: udp, address: ${PUBLIC_IP}, port: 0 }
pbx:
  listen: { transport: udp, address: ${INSIDE_IP}, port: 0 }
  targets: [{ name: pbx1, host: ${PBX_IP}, port: ${pbx.port} }]
  probe: { intervalMs: 400, timeoutMs: 350, failuresToDown: 2 }
metrics: { enabled: false }
shutdown: { drainMs: 1500 }
media: { plainAllowedFrom: ['127.0.0.0/8'] }
auth: { mode: pbx }
logging: { level: silent }
`;
  writeFileSync(join(dir, 'palisade.yaml'), policy);
  autoAnswer(pbx, { answer: true }); // answers the OPTIONS probes from the start, then calls
  daemon = await startDaemon({ configPath: join(dir, 'palisade.yaml'), logger: silentLogger, installSignalHandlers: false });
  const l = daemon.status().listeners.find((x) => x.id === 'pub');
  assert.ok(l);
  publicPort = l.port;
});

after(async () => {
  await daemon.stop();
  pbx.sock.close();
  client.sock.close();
});

function invite(callId: string, branch: string): string {
  const sdp = `v=0\r\no=- 2 2 IN IP4 ${PUBLIC_IP}\r\ns=-\r\nc=IN IP4 ${PUBLIC_IP}\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;
  return [
    `INVITE sip:100@${PUBLIC_IP}:${publicPort} SIP/2.0`,
    `Via: SIP/2.0/UDP ${PUBLIC_IP}:${client.port};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:alice@${PUBLIC_IP}>;tag=alicetag`,
    `To: <sip:100@${PUBLIC_IP}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:alice@${PUBLIC_IP}:${client.port}>`,
    'Content-Type: application/sdp',
    `Content-Length: ${sdp.length}`,
    '',
    sdp,
  ].join('\r\n');
}

test('a call passes through with the inside hidden from the client', async () => {
  client.inbox.length = 0;
  client.send(invite('call-1@client', 'z9hG4bK-c1'), publicPort, PUBLIC_IP);
  const inv = await pbx
    .next((m) => m.startsWith('INVITE'))
    .catch((e: Error) => {
      throw new Error(`${e.message}\nclient got: ${client.inbox.map((m) => m.split('\r\n')[0]).join(' | ')}`);
    });
  // The PBX sees Palisade, a new Call-ID and the client's real source in the policy header.
  assert.doesNotMatch(inv, /call-1@client/);
  assert.match(inv, new RegExp(`^Via: SIP/2.0/UDP ${INSIDE_IP.replace(/\./g, '\\.')}:`, 'm'));
  assert.match(inv, new RegExp(`X-Palisade-Source: udp ${PUBLIC_IP.replace(/\./g, '\\.')}:${client.port}`));
  const ok = await client.next((m) => m.startsWith('SIP/2.0 200'));
  assert.equal(header(ok, 'Call-ID'), 'call-1@client');
  assert.match(header(ok, 'Via') ?? '', new RegExp(`rport=${client.port}`), 'RFC 3581: rport filled in');
  assert.equal(client.inbox.filter((m) => m.startsWith('SIP/2.0 100')).length, 0, 'no 100 when the PBX rang within 200 ms');
  assert.match(header(ok, 'To') ?? '', /tag=pbxtag1/);
  for (const leak of [PBX_IP, INSIDE_IP, String(pbx.port), '10.9.9.9', 'Asterisk', header(inv, 'Call-ID') ?? 'x']) {
    assert.ok(!ok.includes(leak), `200 OK leaks ${leak}`);
  }
  // ACK and BYE reach the PBX on its own Call-ID.
  const insideCallId = header(inv, 'Call-ID');
  const dialog = (method: string, cseq: number, branch: string) =>
    [
      `${method} sip:c@${PUBLIC_IP}:${publicPort} SIP/2.0`,
      `Via: SIP/2.0/UDP ${PUBLIC_IP}:${client.port};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:alice@${PUBLIC_IP}>;tag=alicetag`,
      `To: <sip:100@${PUBLIC_IP}>;tag=pbxtag1`,
      'Call-ID: call-1@client',
      `CSeq: ${cseq} ${method}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
  client.send(dialog('ACK', 1, 'z9hG4bK-c1ack'), publicPort, PUBLIC_IP);
  const ack = await pbx.next((m) => m.startsWith('ACK'));
  assert.equal(header(ack, 'Call-ID'), insideCallId);
  assert.match(ack.split('\r\n')[0] ?? '', new RegExp(`^ACK sip:pbx@${PBX_IP.replace(/\./g, '\\.')}`), 'ACK goes to the PBX Contact');
  assert.match(ack, /^Route: <sip:10\.9\.9\.9;lr>/m, 'route set of the PBX leg is used inside');
  client.send(dialog('BYE', 2, 'z9hG4bK-c1bye'), publicPort, PUBLIC_IP);
  const bye = await pbx.next((m) => m.startsWith('BYE'));
  assert.equal(header(bye, 'Call-ID'), insideCallId);
  const byeOk = await client.next((m) => m.startsWith('SIP/2.0 200') && /BYE/.test(header(m, 'CSeq') ?? ''));
  assert.equal(header(byeOk, 'Call-ID'), 'call-1@client');
  assert.equal(daemon.status().dialogs, 0);
});

test('a PBX slower than 200 ms: the caller gets 100 Trying in time (RFC 3261 §17.2.1)', async () => {
  pbx.reset();
  pbx.sock.once('message', () => {}); // the PBX stays silent for this INVITE
  client.inbox.length = 0;
  const sent = Date.now();
  client.send(invite('call-slow@client', 'z9hG4bK-slow'), publicPort, PUBLIC_IP);
  const trying = await client.next((m) => m.startsWith('SIP/2.0 100') && m.includes('call-slow@client'), 1000);
  const after = Date.now() - sent;
  assert.ok(after >= 150 && after < 500, `100 after ${after} ms (before the caller's first retransmission at T1)`);
  assert.match(trying, /rport=\d+/);
  autoAnswer(pbx, { answer: true });
});

test('a retransmitted INVITE is absorbed, not forwarded twice', async () => {
  pbx.inbox.length = 0;
  const msg = invite('call-2@client', 'z9hG4bK-c2');
  client.send(msg, publicPort, PUBLIC_IP);
  await pbx.next((m) => m.startsWith('INVITE') && !m.includes('call-2@client'));
  client.send(msg, publicPort, PUBLIC_IP);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(pbx.inbox.filter((m) => m.startsWith('INVITE')).length, 0);
});

test('OPTIONS to Palisade itself is answered without reaching the PBX', async () => {
  pbx.inbox.length = 0;
  client.inbox.length = 0;
  client.send(
    [
      `OPTIONS sip:${PUBLIC_IP}:${publicPort} SIP/2.0`,
      `Via: SIP/2.0/UDP ${PUBLIC_IP}:${client.port};branch=z9hG4bK-o1`,
      'Max-Forwards: 70',
      `From: <sip:mon@${PUBLIC_IP}>;tag=m1`,
      `To: <sip:${PUBLIC_IP}>`,
      'Call-ID: opt-1',
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    publicPort,
    PUBLIC_IP,
  );
  const r = await client.next((m) => m.startsWith('SIP/2.0 200') && /OPTIONS/.test(header(m, 'CSeq') ?? ''));
  assert.match(header(r, 'Allow') ?? '', /INVITE/);
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(pbx.inbox.filter((m) => m.startsWith('OPTIONS') && m.includes('opt-1')).length, 0);
});

test('Max-Forwards 0 gets 483 and a looped request 482', async () => {
  client.inbox.length = 0;
  const base = invite('call-mf@client', 'z9hG4bK-mf').replace('Max-Forwards: 70', 'Max-Forwards: 0');
  client.send(base, publicPort, PUBLIC_IP);
  await client.next((m) => m.startsWith('SIP/2.0 483'));
});

test('no PBX answering: 503 with Retry-After, and recovery when it returns', async () => {
  pbx.reset();
  // Silence: probes fail and the target goes down.
  const downBy = Date.now() + 3000;
  while (daemon.status().pbx[0]?.up && Date.now() < downBy) await new Promise((r) => setTimeout(r, 50));
  assert.equal(daemon.status().pbx[0]?.up, false);
  client.inbox.length = 0;
  client.send(invite('call-3@client', 'z9hG4bK-c3'), publicPort, PUBLIC_IP);
  const r = await client.next((m) => m.startsWith('SIP/2.0 503'));
  assert.match(header(r, 'Retry-After') ?? '', /^\d+$/);
  // The PBX comes back: probes see it and calls flow again.
  autoAnswer(pbx, { answer: true });
  const upBy = Date.now() + 3000;
  while (!daemon.status().pbx[0]?.up && Date.now() < upBy) await new Promise((res) => setTimeout(res, 50));
  assert.equal(daemon.status().pbx[0]?.up, true);
  client.send(invite('call-4@client', 'z9hG4bK-c4'), publicPort, PUBLIC_IP);
  await client.next((m) => m.startsWith('SIP/2.0 200') && m.includes('call-4@client'));
});

function request(method: string, callId: string, branch: string, opts: { toTag?: string; cseq?: number; body?: string } = {}): string {
  const body = opts.body ?? '';
  return [
    `${method} sip:100@${PUBLIC_IP}:${publicPort} SIP/2.0`,
    `Via: SIP/2.0/UDP ${PUBLIC_IP}:${client.port};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:alice@${PUBLIC_IP}>;tag=alicetag`,
    `To: <sip:100@${PUBLIC_IP}>${opts.toTag ? `;tag=${opts.toTag}` : ''}`,
    `Call-ID: ${callId}`,
    `CSeq: ${opts.cseq ?? 1} ${method}`,
    `Contact: <sip:alice@${PUBLIC_IP}:${client.port}>`,
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${body.length}`,
    '',
    body,
  ].join('\r\n');
}

test('CANCEL of a ringing call: 200 to the CANCEL, CANCEL toward the PBX, 487 back to the caller', async () => {
  pbx.reset();
  // Re-attach a PBX that only rings, and answers CANCEL + 487.
  pbx.sock.on('message', (b, rinfo) => {
    const m = b.toString('latin1');
    if (m.startsWith('SIP/2.0') || m.startsWith('ACK')) return;
    const vias = m.split('\r\n').filter((l) => /^via\s*:/i.test(l));
    const base = [...vias, `From: ${header(m, 'From')}`, `To: ${header(m, 'To')};tag=ring1`, `Call-ID: ${header(m, 'Call-ID')}`];
    const send = (lines: string[]) =>
      pbx.sock.send(Buffer.from([...lines, 'Content-Length: 0', '', ''].join('\r\n')), rinfo.port, rinfo.address);
    if (m.startsWith('INVITE')) {
      send(['SIP/2.0 180 Ringing', ...base, `CSeq: ${header(m, 'CSeq')}`, `Contact: <sip:pbx@${PBX_IP}:${pbx.port}>`]);
      pbxInvites.set(header(m, 'Call-ID') ?? '', m);
    } else if (m.startsWith('CANCEL')) {
      send(['SIP/2.0 200 OK', ...base, `CSeq: ${header(m, 'CSeq')}`]);
      const inv = pbxInvites.get(header(m, 'Call-ID') ?? '');
      if (inv)
        send([
          'SIP/2.0 487 Request Terminated',
          ...inv.split('\r\n').filter((l) => /^via\s*:/i.test(l)),
          `From: ${header(inv, 'From')}`,
          `To: ${header(inv, 'To')};tag=ring1`,
          `Call-ID: ${header(inv, 'Call-ID')}`,
          `CSeq: ${header(inv, 'CSeq')}`,
        ]);
    }
  });
  const pbxInvites = new Map<string, string>();
  client.inbox.length = 0;
  pbx.inbox.length = 0;
  client.send(invite('call-cancel@client', 'z9hG4bK-cc1'), publicPort, PUBLIC_IP);
  await client.next((m) => m.startsWith('SIP/2.0 180'));
  client.send(request('CANCEL', 'call-cancel@client', 'z9hG4bK-cc1'), publicPort, PUBLIC_IP);
  await client.next((m) => m.startsWith('SIP/2.0 200') && /CANCEL/.test(header(m, 'CSeq') ?? ''));
  const final = await client.next((m) => m.startsWith('SIP/2.0 487'));
  assert.equal(header(final, 'Call-ID'), 'call-cancel@client');
  assert.ok(
    pbx.inbox.some((m) => m.startsWith('CANCEL')),
    'the PBX got a CANCEL',
  );
  assert.ok(
    pbx.inbox.some((m) => m.startsWith('ACK')),
    'the PBX got the hop-by-hop ACK for its 487',
  );
});

test("re-INVITE (hold) and a BYE from the PBX cross the border with each side's own Call-ID and targets", async () => {
  pbx.reset();
  autoAnswer(pbx, { answer: true });
  client.inbox.length = 0;
  pbx.inbox.length = 0;
  client.send(invite('call-hold@client', 'z9hG4bK-h1'), publicPort, PUBLIC_IP);
  await client.next((m) => m.startsWith('SIP/2.0 200') && m.includes('call-hold@client'));
  client.send(request('ACK', 'call-hold@client', 'z9hG4bK-h1ack', { toTag: 'pbxtag1' }), publicPort, PUBLIC_IP);
  const inv = await pbx.next((m) => m.startsWith('INVITE') && /CSeq: 1 INVITE/.test(m));
  const insideCallId = header(inv, 'Call-ID') ?? '';
  const holdSdp = `v=0\r\no=- 2 3 IN IP4 ${PUBLIC_IP}\r\ns=-\r\nc=IN IP4 ${PUBLIC_IP}\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=sendonly\r\n`;
  client.send(request('INVITE', 'call-hold@client', 'z9hG4bK-h2', { toTag: 'pbxtag1', cseq: 2, body: holdSdp }), publicPort, PUBLIC_IP);
  const reinv = await pbx
    .next((m) => m.startsWith('INVITE') && /CSeq: 2 INVITE/.test(m))
    .catch((e: Error) => {
      throw new Error(`${e.message}\nclient got: ${client.inbox.map((m) => m.split('\r\n')[0]).join(' | ')}`);
    });
  assert.equal(header(reinv, 'Call-ID'), insideCallId, 're-INVITE stays in the inside dialog');
  assert.match(reinv, /a=sendonly/, 'the hold direction passes');
  assert.match(reinv, new RegExp(`c=IN IP4 ${INSIDE_IP.replace(/\./g, '\\.')}`), 'the PBX is told to send to the relay');
  await client.next((m) => m.startsWith('SIP/2.0 200') && /2 INVITE/.test(header(m, 'CSeq') ?? ''));
  // The PBX hangs up: the BYE reaches the phone at its Contact, on the outside Call-ID, with nothing of the inside.
  const vias = `Via: SIP/2.0/UDP ${PBX_IP}:${pbx.port};branch=z9hG4bK-pbxbye1`;
  const status = daemon.status();
  const inside = status.listeners.find((l) => l.id === 'pbx');
  assert.ok(inside);
  pbx.sock.send(
    Buffer.from(
      [
        `BYE sip:c@${INSIDE_IP}:${inside.port} SIP/2.0`,
        vias,
        'Max-Forwards: 70',
        `From: <sip:100@${PBX_IP}>;tag=pbxtag1`,
        `To: <sip:alice@${PUBLIC_IP}>;tag=alicetag`,
        `Call-ID: ${insideCallId}`,
        'CSeq: 10 BYE',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    ),
    inside.port,
    INSIDE_IP,
  );
  const bye = await client.next((m) => m.startsWith('BYE'));
  assert.equal(header(bye, 'Call-ID'), 'call-hold@client');
  assert.match(bye.split('\r\n')[0] ?? '', new RegExp(`^BYE sip:alice@${PUBLIC_IP.replace(/\./g, '\\.')}:${client.port} `));
  for (const leak of [PBX_IP, INSIDE_IP, insideCallId]) assert.ok(!bye.includes(leak), `BYE leaks ${leak}`);
  const byeVias = bye.split('\r\n').filter((l) => /^via\s*:/i.test(l));
  client.send(
    [
      'SIP/2.0 200 OK',
      ...byeVias,
      `From: ${header(bye, 'From')}`,
      `To: ${header(bye, 'To')}`,
      `Call-ID: ${header(bye, 'Call-ID')}`,
      `CSeq: ${header(bye, 'CSeq')}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    publicPort,
    PUBLIC_IP,
  );
  const ok = await pbx.next((m) => m.startsWith('SIP/2.0 200') && /BYE/.test(header(m, 'CSeq') ?? ''));
  assert.equal(header(ok, 'Call-ID'), insideCallId);
  assert.match(ok, /branch=z9hG4bK-pbxbye1/, 'the PBX gets its own Via back');
});

test('a caller behind record-routing proxies keeps them: Record-Route comes back in the 200, the PBX BYE carries them as Route', async () => {
  pbx.reset();
  autoAnswer(pbx, { answer: true });
  client.inbox.length = 0;
  pbx.inbox.length = 0;
  const edges = [`<sip:edge1.example.net;lr>`, `<sip:edge2.example.net:5070;transport=udp;lr>`];
  const inv = invite('call-rr@client', 'z9hG4bK-rr1').replace(
    'Max-Forwards: 70',
    `Max-Forwards: 70\r\nRecord-Route: ${edges[0]}\r\nRecord-Route: ${edges[1]}`,
  );
  client.send(inv, publicPort, PUBLIC_IP);
  const ok = await client.next((m) => m.startsWith('SIP/2.0 200') && m.includes('call-rr@client'));
  const rr = ok
    .split('\r\n')
    .filter((l) => /^record-route\s*:/i.test(l))
    .map((l) => l.replace(/^[^:]*:\s*/, ''));
  assert.deepEqual(rr, edges, "the caller's Record-Route, in order, and nothing from the inside (the PBX record-routed 10.9.9.9)");
  const toPbx = await pbx.next((m) => m.startsWith('INVITE') && m.includes('CSeq: 1 INVITE'));
  assert.ok(!/edge[12]\.example\.net/.test(toPbx), 'the outside proxies stay outside');
  client.send(request('ACK', 'call-rr@client', 'z9hG4bK-rr1ack', { toTag: 'pbxtag1' }), publicPort, PUBLIC_IP);

  const inside = daemon.status().listeners.find((l) => l.id === 'pbx');
  assert.ok(inside);
  pbx.sock.send(
    Buffer.from(
      [
        `BYE sip:c@${INSIDE_IP}:${inside.port} SIP/2.0`,
        `Via: SIP/2.0/UDP ${PBX_IP}:${pbx.port};branch=z9hG4bK-pbxbye-rr`,
        'Max-Forwards: 70',
        `From: <sip:100@${PBX_IP}>;tag=pbxtag1`,
        `To: <sip:alice@${PUBLIC_IP}>;tag=alicetag`,
        `Call-ID: ${header(toPbx, 'Call-ID')}`,
        'CSeq: 10 BYE',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    ),
    inside.port,
    INSIDE_IP,
  );
  const bye = await client.next((m) => m.startsWith('BYE') && m.includes('call-rr@client'));
  const routes = bye
    .split('\r\n')
    .filter((l) => /^route\s*:/i.test(l))
    .flatMap((l) => l.replace(/^[^:]*:\s*/, '').split(/,\s*(?=<)/));
  assert.deepEqual(routes, edges, "the route set, in the order the caller's proxies recorded it");
  assert.match(
    bye.split('\r\n')[0] ?? '',
    new RegExp(`^BYE sip:alice@${PUBLIC_IP.replace(/\./g, '\\.')}:${client.port} `),
    "to the caller's Contact",
  );
});

test('a BYE or CANCEL with the right Call-ID and tags but from another address is refused (481)', async () => {
  pbx.reset();
  autoAnswer(pbx, { answer: true });
  client.inbox.length = 0;
  client.send(invite('call-guard@client', 'z9hG4bK-g1'), publicPort, PUBLIC_IP);
  await client.next((m) => m.startsWith('SIP/2.0 200') && m.includes('call-guard@client'));
  client.send(request('ACK', 'call-guard@client', 'z9hG4bK-g1ack', { toTag: 'pbxtag1' }), publicPort, PUBLIC_IP);
  const intruder = await peer('127.0.0.66');
  try {
    pbx.inbox.length = 0;
    intruder.send(request('BYE', 'call-guard@client', 'z9hG4bK-evil1', { toTag: 'pbxtag1', cseq: 2 }), publicPort, PUBLIC_IP);
    await intruder.next((m) => m.startsWith('SIP/2.0 481'));
    intruder.send(request('CANCEL', 'call-guard@client', 'z9hG4bK-g1'), publicPort, PUBLIC_IP);
    await intruder.next((m) => m.startsWith('SIP/2.0 481'));
    assert.equal(pbx.inbox.filter((m) => m.startsWith('BYE') || m.startsWith('CANCEL')).length, 0, 'nothing reached the PBX');
    // The real phone can still hang up.
    client.send(request('BYE', 'call-guard@client', 'z9hG4bK-g1bye', { toTag: 'pbxtag1', cseq: 2 }), publicPort, PUBLIC_IP);
    await client.next((m) => m.startsWith('SIP/2.0 200') && /BYE/.test(header(m, 'CSeq') ?? ''));
  } finally {
    intruder.sock.close();
  }
});

test('drain: new calls get 503 while an established call can still hang up, then the daemon stops', async () => {
  pbx.reset();
  autoAnswer(pbx, { answer: true });
  client.inbox.length = 0;
  client.send(invite('call-drain@client', 'z9hG4bK-d1'), publicPort, PUBLIC_IP);
  await client.next((m) => m.startsWith('SIP/2.0 200') && m.includes('call-drain@client'));
  client.send(request('ACK', 'call-drain@client', 'z9hG4bK-d1ack', { toTag: 'pbxtag1' }), publicPort, PUBLIC_IP);
  const before = daemon.status().dialogs;
  assert.ok(before >= 1);
  const drained = daemon.drain();
  assert.equal(daemon.status().draining, true);
  client.send(invite('call-new@client', 'z9hG4bK-d2'), publicPort, PUBLIC_IP);
  await client.next((m) => m.startsWith('SIP/2.0 503') && m.includes('call-new@client'));
  client.send(request('BYE', 'call-drain@client', 'z9hG4bK-d1bye', { toTag: 'pbxtag1', cseq: 2 }), publicPort, PUBLIC_IP);
  await client.next((m) => m.startsWith('SIP/2.0 200') && /BYE/.test(header(m, 'CSeq') ?? ''));
  await drained; // earlier calls of this file left dialogs up: drainMs bounds the wait
});
