/**
 * Registration flows over TCP and TLS: a phone registers over a connection, the PBX calls the token Contact
 * Palisade registered on its behalf, and the INVITE comes back over that same connection. Once the phone
 * has closed it, the PBX's next call is refused (480 or 404) instead of being sent anywhere else.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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
import { lastRegisteredContact, pbxAckNon2xx, pbxInDialog, pbxInvite, type ScriptedPbx, scriptedPbx } from './helpers/pbx.ts';
import { streamPeer } from './helpers/peers.ts';
import { branch, firstLine, header, isRequest, isResponse, request, responseTo, sdp, uriOf } from './helpers/sip-text.ts';

let dir: TempDir;
let pbx: ScriptedPbx;
let palisade: InProcessDaemon;

before(async () => {
  dir = tempDir('tcpflow');
  pbx = await scriptedPbx(PBX_IP);
  palisade = await startInProcess(
    dir,
    `
node: { dataDir: ${JSON.stringify(`${dir.path}/data`)} }
listeners:
  - { id: tcp, transport: tcp, address: ${PUBLIC_IP}, port: 0 }
  - { id: tls, transport: tls, address: ${PUBLIC_IP}, port: 0 }
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
  await palisade?.stop();
  await pbx?.close();
  dir?.remove();
});

for (const kind of ['tcp', 'tls'] as const) {
  describe(`registration flow over ${kind.toUpperCase()}`, { timeout: 20_000 }, () => {
    it('the PBX reaches the phone over the connection it registered on; after close the PBX gets 480/404', async (t) => {
      const port = palisade.port(kind);
      const phone = await streamPeer(kind, PUBLIC_IP, port);
      const user = `bob-${kind}`;
      const aor = `sip:${user}@${PUBLIC_IP}`;
      const contactUri = `sip:${user}@${PUBLIC_IP}:${phone.localPort};transport=${kind}`;
      const via = `SIP/2.0/${kind.toUpperCase()} ${PUBLIC_IP}:${phone.localPort}`;
      try {
        phone.send(
          request({
            method: 'REGISTER',
            uri: `sip:${PUBLIC_IP}`,
            via,
            branch: branch(`${kind}reg`),
            from: `<${aor}>;tag=reg-${kind}`,
            to: `<${aor}>`,
            callId: `reg-${kind}@phone`,
            cseq: 1,
            contact: `<${contactUri}>`,
            extra: ['Expires: 300'],
          }),
        );
        const regOk = await phone.inbox.next((m) => isResponse(m, undefined, 'REGISTER'), 3000, 'REGISTER response');
        assert.equal(firstLine(regOk), 'SIP/2.0 200 OK');
        assert.equal(uriOf(header(regOk, 'Contact') ?? ''), contactUri);
        const token = lastRegisteredContact(pbx);
        assert.match(token, new RegExp(`@${INSIDE_IP.replace(/\./g, '\\.')}:\\d+$`));
        const openBefore = palisade.daemon.status().counters.connectionsOpen ?? -1;
        assert.ok(openBefore >= 1, 'the phone connection is open');

        // The PBX calls: the INVITE arrives on the phone's own connection.
        pbx.peer.inbox.clear();
        const call = pbxInvite(pbx, token, `pbx-${kind}-1@inside`);
        const inv = await phone.inbox.next((m) => isRequest(m, 'INVITE'), 3000, 'INVITE at the phone');
        assert.equal(firstLine(inv), `INVITE ${contactUri} SIP/2.0`);
        assert.match(header(inv, 'Via') ?? '', new RegExp(`^SIP/2\\.0/${kind.toUpperCase()} `, 'i'));
        assert.equal(palisade.daemon.status().counters.connectionsOpen, openBefore, 'no new connection was opened toward the phone');
        phone.send(responseTo(inv, '200 OK', { toTag: `ans-${kind}`, extra: [`Contact: <${contactUri}>`], body: sdp(PUBLIC_IP, 30000) }));
        const ok = await pbx.peer.inbox.next((m) => isResponse(m, 200, 'INVITE'), 3000, '200 at the PBX');
        pbxInDialog(pbx, call, ok, 'ACK', 1);
        await phone.inbox.next((m) => isRequest(m, 'ACK'), 2000, 'ACK at the phone');
        pbxInDialog(pbx, call, ok, 'BYE', 2);
        const bye = await phone.inbox.next((m) => isRequest(m, 'BYE'), 2000, 'BYE at the phone');
        phone.send(responseTo(bye, '200 OK'));
        await pbx.peer.inbox.next((m) => isResponse(m, 200, 'BYE'), 2000, '200 to BYE at the PBX');

        // The phone goes away; the flow is gone, so the PBX's next call cannot reach it.
        const regsBefore = palisade.daemon.status().registrations;
        await phone.close();
        assert.ok(
          await eventually(() => palisade.daemon.status().counters.connectionsOpen === openBefore - 1, 2000),
          'Palisade saw the close',
        );
        const again = pbxInvite(pbx, token, `pbx-${kind}-2@inside`);
        const refused = await pbx.peer.inbox.next(
          (m) => m.startsWith('SIP/2.0') && Number(m.slice(8, 11)) >= 300 && header(m, 'Call-ID') === again.callId,
          3000,
          'final response to the second INVITE',
        );
        assert.match(firstLine(refused), /^SIP\/2\.0 (480|404) /);
        t.diagnostic(`${kind}: PBX call after the phone closed its connection → ${firstLine(refused)}`);
        pbxAckNon2xx(pbx, again, refused);
        assert.ok(palisade.daemon.status().registrations < regsBefore, 'the binding of the closed flow was dropped');
      } finally {
        await phone.close();
      }
    });
  });
}
