/**
 * An independent SIP-over-WebSocket stack (JsSIP, what browsers run) through Palisade's WSS listener: it
 * registers (its Contact is `sip:<random>@<random>.invalid;transport=ws`, its Via `WSS`), receives a MESSAGE
 * the PBX sends to the Contact Palisade registered on its behalf, and unregisters on stop.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import JsSIP from 'jssip';
import type { IncomingMessageListener } from 'jssip/lib/UA.js';
import WebSocket from 'ws';
import {
  eventually,
  INSIDE_IP,
  type InProcessDaemon,
  mediaRangeYaml,
  PBX_IP,
  PUBLIC_IP,
  startInProcess,
  type TempDir,
  tempDir,
} from './helpers/daemon.ts';
import { hostPort, lastRegisteredContact, type ScriptedPbx, scriptedPbx } from './helpers/pbx.ts';
import { branch, header, isResponse, request, uriOf } from './helpers/sip-text.ts';

/** JsSIP opens `new WebSocket(url, 'sip')`; Node 20 has no global WebSocket, and the test certificate is self-signed. */
class TestWebSocket extends WebSocket {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols, { rejectUnauthorized: false, localAddress: PUBLIC_IP });
  }
}
(globalThis as { WebSocket?: unknown }).WebSocket = TestWebSocket;

let dir: TempDir;
let pbx: ScriptedPbx;
let palisade: InProcessDaemon;
let ua: JsSIP.UA | undefined;

before(async () => {
  JsSIP.debug.disable('JsSIP:*');
  dir = tempDir('jssip');
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
metrics: { enabled: false }
logging: { level: silent }
${mediaRangeYaml()}
auth: { mode: pbx }
`,
  );
});

after(async () => {
  ua?.stop();
  await palisade?.stop();
  await pbx?.close();
  dir?.remove();
});

describe('JsSIP over WSS through Palisade', { timeout: 30_000 }, () => {
  it('registers, receives a MESSAGE from the PBX over its websocket, and unregisters on stop', async () => {
    const socket = new JsSIP.WebSocketInterface(`wss://${PUBLIC_IP}:${palisade.port('wss')}/`);
    const agent = new JsSIP.UA({ sockets: [socket], uri: `sip:carol@${PUBLIC_IP}`, register: true, register_expires: 600 });
    ua = agent;
    const registered = new Promise<void>((resolve, reject) => {
      agent.on('registered', () => resolve());
      agent.on('registrationFailed', (e) => reject(new Error(`registration failed: ${e.cause ?? ''} ${e.response?.status_code ?? ''}`)));
    });
    const messages: string[] = [];
    const onMessage: IncomingMessageListener = (e) => {
      if (e.originator === 'remote') messages.push(String(e.request.body));
    };
    agent.on('newMessage', onMessage);
    agent.start();
    await Promise.race([registered, new Promise((_, rej) => setTimeout(() => rej(new Error('no registered event in 5 s')), 5000))]);

    const reg = pbx.registers.at(-1);
    assert.ok(reg);
    assert.ok(!/\.invalid/.test(reg), 'the JsSIP Contact host stays outside');
    assert.equal(palisade.daemon.status().registrations, 1);

    // The PBX sends a MESSAGE to the token Contact; JsSIP gets it over its websocket and answers 200.
    const token = lastRegisteredContact(pbx);
    const { host, port } = hostPort(token);
    pbx.peer.inbox.clear();
    pbx.peer.send(
      request({
        method: 'MESSAGE',
        uri: token,
        via: `SIP/2.0/UDP ${PBX_IP}:${pbx.port}`,
        branch: branch('pbxmsg'),
        from: `<sip:200@${PBX_IP}>;tag=pbxmsg`,
        to: `<${token}>`,
        callId: 'pbx-message-1@inside',
        cseq: 1,
        body: 'hello from the PBX',
        contentType: 'text/plain',
      }),
      port,
      host,
    );
    const ok = await pbx.peer.inbox.next((m) => isResponse(m, undefined, 'MESSAGE'), 3000, 'response to MESSAGE');
    assert.match(ok, /^SIP\/2\.0 200 /);
    assert.equal(header(ok, 'Call-ID'), 'pbx-message-1@inside');
    assert.deepEqual(messages, ['hello from the PBX']);

    // Stop: JsSIP unregisters (expires 0); the PBX sees it for the token, Palisade drops the binding.
    pbx.peer.inbox.clear();
    agent.stop();
    const unreg = await pbx.peer.inbox.next((m) => m.startsWith('REGISTER '), 3000, 'un-REGISTER at the PBX');
    assert.equal(uriOf(header(unreg, 'Contact') ?? ''), token);
    assert.match(`${header(unreg, 'Contact') ?? ''} ${header(unreg, 'Expires') ?? ''}`, /expires=0|^.* 0$/i);
    assert.ok(await eventually(() => palisade.daemon.status().registrations === 0, 2000), 'binding removed after un-REGISTER');
  });
});
