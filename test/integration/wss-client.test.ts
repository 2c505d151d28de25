/**
 * A SIP-over-WebSocket client (RFC 7118) through Palisade's WSS listener to a scripted PBX: REGISTER, a call
 * from the client, a call from the PBX to the registered Contact over the client's own websocket, and no
 * inside detail (PBX address, PBX-facing listener, inside Call-IDs) in any frame the client receives.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  INSIDE_IP,
  type InProcessDaemon,
  mediaRangeYaml,
  PBX_IP,
  PUBLIC_IP,
  startInProcess,
  type TempDir,
  tempDir,
} from './helpers/daemon.ts';
import {
  lastRegisteredContact,
  type PbxCall,
  pbxInDialog,
  pbxInvite,
  REGISTRAR_EXPIRES,
  type ScriptedPbx,
  scriptedPbx,
} from './helpers/pbx.ts';
import { type WsPeer, wsPeer } from './helpers/peers.ts';
import { branch, firstLine, header, isRequest, isResponse, request, responseTo, sdp, uriOf } from './helpers/sip-text.ts';

const WS_HOST = 'k3j9df0q.invalid';
const PHONE_CONTACT_URI = `sip:x7pq2m@${WS_HOST};transport=ws`;
const AOR = `sip:alice@${PUBLIC_IP}`;

let dir: TempDir;
let pbx: ScriptedPbx;
let palisade: InProcessDaemon;
let client: WsPeer;
let wssPort = 0;
let insidePort = 0;
/** Call-IDs seen on the inside (by the PBX): none may reach the client. */
const insideCallIds = new Set<string>();

before(async () => {
  dir = tempDir('wss');
  pbx = await scriptedPbx(PBX_IP);
  palisade = await startInProcess(
    dir,
    `
node: { dataDir: ${JSON.stringify(`${dir.path}/data`)} }
listeners:
  - { id: wss, transport: wss, address: ${PUBLIC_IP}, port: 0 }
pbx:
  listen: { transport: udp, address: ${INSIDE_IP}, port: 0 }
  targets: [{ name: pbx1, host: ${PBX_IP}, port: ${pbx.port} }]
  probe: { intervalMs: 1000, timeoutMs: 500 }
registrar: { minExpires: 60, maxExpires: 600 }
metrics: { enabled: false }
logging: { level: silent }
${mediaRangeYaml()}
auth: { mode: pbx }
`,
  );
  wssPort = palisade.port('wss');
  insidePort = palisade.port('pbx');
  client = await wsPeer(`wss://${PUBLIC_IP}:${wssPort}/`);
});

after(async () => {
  await client?.close();
  await palisade?.stop();
  await pbx?.close();
  dir?.remove();
});

function wsVia(): string {
  return `SIP/2.0/WSS ${WS_HOST}`;
}

function headerSection(m: string): string {
  const i = m.indexOf('\r\n\r\n');
  return i >= 0 ? m.slice(0, i) : m;
}

/** Inside details in the header section of a frame (SDP bodies are checked separately below). */
function headerLeaks(frame: string): string[] {
  const head = headerSection(frame);
  const found: string[] = [];
  for (const ip of [PBX_IP, INSIDE_IP]) if (head.includes(ip)) found.push(ip);
  for (const p of [pbx.port, insidePort]) if (new RegExp(`:${p}(?!\\d)`).test(head)) found.push(`:${p}`);
  for (const id of insideCallIds) if (head.includes(id)) found.push(`Call-ID ${id}`);
  for (const word of ['Asterisk', '10.9.9.9']) if (head.includes(word)) found.push(word);
  return found;
}

describe('SIP over WSS through Palisade', { timeout: 30_000 }, () => {
  it('REGISTER: the PBX sees a Palisade token Contact, the client gets its own Contact back', async () => {
    client.send(
      request({
        method: 'REGISTER',
        uri: `sip:${PUBLIC_IP}`,
        via: wsVia(),
        branch: branch('wsreg'),
        from: `<${AOR}>;tag=wsreg1`,
        to: `<${AOR}>`,
        callId: 'ws-reg-1@k3j9df0q.invalid',
        cseq: 1,
        contact: `<${PHONE_CONTACT_URI}>;expires=900`,
        extra: ['Expires: 900'],
      }),
    );
    const ok = await client.inbox.next((m) => isResponse(m, undefined, 'REGISTER'), 3000, 'REGISTER response');
    assert.equal(firstLine(ok), 'SIP/2.0 200 OK');
    const reg = pbx.registers.at(-1);
    assert.ok(reg, 'the PBX got the REGISTER');
    insideCallIds.add(header(reg, 'Call-ID') ?? '');
    const token = lastRegisteredContact(pbx);
    assert.match(token, new RegExp(`^sip:[^@]+@${INSIDE_IP.replace(/\./g, '\\.')}:${insidePort}$`), 'the PBX sees Palisade, not the phone');
    assert.ok(!reg.includes(WS_HOST), 'the phone Contact host stays outside');
    assert.match(header(reg, 'Contact') ?? '', /;expires=600\b/, 'expiry clamped to registrar.maxExpires');
    // The client sees exactly its own Contact, with what the registrar granted.
    assert.equal(uriOf(header(ok, 'Contact') ?? ''), PHONE_CONTACT_URI);
    assert.match(header(ok, 'Contact') ?? '', new RegExp(`;expires=${REGISTRAR_EXPIRES}\\b`));
    assert.equal(header(ok, 'Call-ID'), 'ws-reg-1@k3j9df0q.invalid');
    assert.match(header(ok, 'Via') ?? '', /^SIP\/2\.0\/WSS k3j9df0q\.invalid/);
    assert.equal(palisade.daemon.status().registrations, 1);
  });

  it('the client calls: INVITE → 200 → ACK → BYE → 200 over the same websocket', async () => {
    const callId = 'ws-call-1@k3j9df0q.invalid';
    const from = `<${AOR}>;tag=wscall1`;
    pbx.peer.inbox.clear();
    client.send(
      request({
        method: 'INVITE',
        uri: `sip:100@${PUBLIC_IP}`,
        via: wsVia(),
        branch: branch('wsinv'),
        from,
        to: `<sip:100@${PUBLIC_IP}>`,
        callId,
        cseq: 1,
        contact: `<${PHONE_CONTACT_URI}>`,
        body: sdp(PUBLIC_IP, 30000),
      }),
    );
    const ok = await client.inbox.next((m) => isResponse(m, 200, 'INVITE'), 3000, '200 to INVITE');
    const inv = await pbx.peer.inbox.next((m) => isRequest(m, 'INVITE'), 1000, 'INVITE at the PBX');
    const insideId = header(inv, 'Call-ID') ?? '';
    insideCallIds.add(insideId);
    assert.notEqual(insideId, callId, 'the PBX sees its own Call-ID');
    assert.match(header(inv, 'X-Palisade-Source') ?? '', /^wss 127\.0\.0\.1:\d+$/);
    assert.equal(header(ok, 'Call-ID'), callId);
    const okContact = uriOf(header(ok, 'Contact') ?? '');
    assert.match(okContact, new RegExp(`@${PUBLIC_IP.replace(/\./g, '\\.')}:${wssPort};transport=wss$`), 'Contact is Palisade WSS');
    const to = header(ok, 'To') ?? '';
    const inDialog = (method: string, cseq: number) =>
      request({ method, uri: okContact, via: wsVia(), branch: branch(`ws${method}`), from, to, callId, cseq });
    client.send(inDialog('ACK', 1));
    const ack = await pbx.peer.inbox.next((m) => isRequest(m, 'ACK'), 2000, 'ACK at the PBX');
    assert.equal(header(ack, 'Call-ID'), insideId);
    client.send(inDialog('BYE', 2));
    const bye = await pbx.peer.inbox.next((m) => isRequest(m, 'BYE'), 2000, 'BYE at the PBX');
    assert.equal(header(bye, 'Call-ID'), insideId);
    const byeOk = await client.inbox.next((m) => isResponse(m, 200, 'BYE'), 2000, '200 to BYE');
    assert.equal(header(byeOk, 'Call-ID'), callId);
    assert.equal(palisade.daemon.status().dialogs, 0);
  });

  it('the PBX calls the registered Contact: the INVITE arrives over the client websocket', async () => {
    const token = lastRegisteredContact(pbx);
    const insideId = 'pbx-originated-1@pbx.inside';
    insideCallIds.add(insideId);
    pbx.peer.inbox.clear();
    const call: PbxCall = pbxInvite(pbx, token, insideId);
    const inv = await client.inbox.next((m) => isRequest(m, 'INVITE'), 3000, 'INVITE at the client');
    assert.equal(firstLine(inv), `INVITE ${PHONE_CONTACT_URI} SIP/2.0`, 'Request-URI is the phone Contact');
    assert.equal(uriOf(header(inv, 'To') ?? ''), AOR, 'To carries the AOR, not the token');
    const outsideId = header(inv, 'Call-ID') ?? '';
    assert.notEqual(outsideId, insideId);
    // The phone answers; the PBX gets the 200 and ACKs it.
    client.send(responseTo(inv, '200 OK', { toTag: 'wsans1', extra: [`Contact: <${PHONE_CONTACT_URI}>`], body: sdp(PUBLIC_IP, 30002) }));
    const ok = await pbx.peer.inbox.next((m) => isResponse(m, 200, 'INVITE'), 3000, '200 at the PBX');
    assert.equal(header(ok, 'Call-ID'), insideId);
    assert.ok(!ok.includes(WS_HOST), 'the phone Contact does not reach the PBX');
    pbxInDialog(pbx, call, ok, 'ACK', 1);
    const ack = await client.inbox.next((m) => isRequest(m, 'ACK'), 2000, 'ACK at the client');
    assert.equal(header(ack, 'Call-ID'), outsideId);
    pbxInDialog(pbx, call, ok, 'BYE', 2);
    const bye = await client.inbox.next((m) => isRequest(m, 'BYE'), 2000, 'BYE at the client');
    assert.equal(header(bye, 'Call-ID'), outsideId);
    client.send(responseTo(bye, '200 OK'));
    const byeOk = await pbx.peer.inbox.next((m) => isResponse(m, 200, 'BYE'), 2000, '200 to BYE at the PBX');
    assert.equal(header(byeOk, 'Call-ID'), insideId);
  });

  it('every frame is one SIP message and no header reveals the inside', () => {
    assert.ok(client.frames.length >= 7, `frames received: ${client.frames.length}`); // no 100 Trying: the scripted PBX answers within 200 ms
    for (const f of client.frames) {
      assert.match(firstLine(f), /^(SIP\/2\.0 \d{3} |[A-Z]+ \S+ SIP\/2\.0$)/, 'frame starts with a SIP start line');
      const end = f.indexOf('\r\n\r\n');
      assert.ok(end > 0, 'frame has a complete header section');
      assert.equal(Buffer.byteLength(f.slice(end + 4), 'latin1'), Number(header(f, 'Content-Length')), 'frame holds exactly one message');
      assert.deepEqual(headerLeaks(f), [], `leak in frame: ${firstLine(f)}`);
    }
    assert.equal(client.binaryFrames, 0, 'SIP text goes in text frames');
  });

  it('SDP bodies sent to the client carry no inside address', () => {
    const bodies = client.frames.map((f) => f.slice(f.indexOf('\r\n\r\n') + 4)).filter((b) => b.length > 0);
    assert.ok(bodies.length >= 1, 'the 200 to the INVITE carried SDP');
    for (const b of bodies) {
      for (const ip of [PBX_IP, INSIDE_IP]) assert.ok(!b.includes(ip), `SDP toward the client contains ${ip}:\n${b}`);
    }
  });
});
