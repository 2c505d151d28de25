/**
 * The responder behind a real loopback socket, wired the way a client-side relay port uses it: RFC 7983 demux,
 * STUN answered from the same socket, and media accepted only from the source of an authenticated check
 * ("authenticate-then-latch").
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { after, describe, it } from 'node:test';
import { DEMUX_RTP, DEMUX_STUN, demuxPacket } from '../../../src/media/demux.ts';
import { createIceLiteResponder, generateIceCredentials } from '../../../src/media/ice-lite.ts';
import {
  encodeStunMessage,
  parseStun,
  readXorMappedAddress,
  STUN_BINDING_ERROR,
  STUN_BINDING_SUCCESS,
  STUN_MAX_RESPONSE_BYTES,
  StunIntegrityKey,
  StunMessageView,
  verifyFingerprint,
  verifyMessageIntegrity,
} from '../../../src/media/stun.ts';
import { bindPeer, type Peer, rtpPacket, until } from './helpers.ts';

interface Port {
  sock: Socket;
  port: number;
  latched: { address: string; port: number } | null;
  mediaAccepted: number;
  mediaDropped: number;
}

function bindIcePort(address: string, ufrag: string, pwd: string, remoteUfrag: string): Promise<Port> {
  const ice = createIceLiteResponder({ localUfrag: ufrag, localPwd: pwd, remoteUfrag });
  const out = Buffer.alloc(STUN_MAX_RESPONSE_BYTES);
  const sock = createSocket(address.includes(':') ? 'udp6' : 'udp4');
  const port: Port = { sock, port: 0, latched: null, mediaAccepted: 0, mediaDropped: 0 };
  sock.on('message', (msg: Buffer, from: RemoteInfo) => {
    const kind = demuxPacket(msg);
    if (kind === DEMUX_STUN) {
      const r = ice.handle(msg, from.address, from.port, out);
      if (r.kind === 'drop') return;
      sock.send(out.subarray(0, r.length), from.port, from.address);
      if (r.kind === 'response' && r.authenticated) port.latched = { address: from.address, port: from.port };
    } else if (kind === DEMUX_RTP) {
      const l = port.latched;
      if (l !== null && l.address === from.address && l.port === from.port) port.mediaAccepted++;
      else port.mediaDropped++;
    }
  });
  sock.on('error', () => {});
  return new Promise((resolve) =>
    sock.bind(0, address, () => {
      port.port = sock.address().port;
      resolve(port);
    }),
  );
}

function check(ufrag: string, remoteUfrag: string, key: StunIntegrityKey): Buffer {
  return encodeStunMessage({
    transactionId: randomBytes(12),
    username: `${ufrag}:${remoteUfrag}`,
    priority: 0x7e7f00ff,
    useCandidate: true,
    iceControlling: [0x11111111, 0x22222222],
    integrity: key,
  });
}

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

for (const address of ['127.0.0.1', '::1']) {
  describe(`ICE-lite on a real socket (${address})`, () => {
    it('answers only authenticated checks and latches media onto their source', async () => {
      const local = generateIceCredentials();
      const remoteUfrag = 'Clnt';
      const server = await bindIcePort(address, local.ufrag, local.pwd, remoteUfrag);
      closers.push(() => new Promise((r) => server.sock.close(() => r())));
      const client: Peer = await bindPeer(address);
      const attacker: Peer = await bindPeer(address);
      closers.push(client.close, attacker.close);
      const key = new StunIntegrityKey(local.pwd);

      // Media before any check is not latched.
      await client.send(rtpPacket(1), server.port, address);
      await until(() => server.mediaDropped === 1, 2000, 'early RTP dropped');

      // A check signed with the wrong password gets a 401 and latches nothing.
      await attacker.send(check(local.ufrag, remoteUfrag, new StunIntegrityKey('x'.repeat(24))), server.port, address);
      await until(() => attacker.received.length === 1, 2000, '401');
      const v = new StunMessageView();
      const e = attacker.received[0]?.data ?? Buffer.alloc(0);
      assert.equal(parseStun(e, v), 'ok');
      assert.equal(v.messageType, STUN_BINDING_ERROR);
      assert.equal(v.errorCode, 401);
      assert.equal(server.latched, null);

      // A valid check: success with the client's address, integrity and fingerprint; the source is latched.
      const req = check(local.ufrag, remoteUfrag, key);
      await client.send(req, server.port, address);
      await until(() => client.received.length === 1, 2000, 'success response');
      const res = client.received[0]?.data ?? Buffer.alloc(0);
      assert.equal(parseStun(res, v), 'ok');
      assert.equal(v.messageType, STUN_BINDING_SUCCESS);
      assert.deepEqual(res.subarray(8, 20), req.subarray(8, 20));
      assert.ok(verifyMessageIntegrity(res, v, key) && verifyFingerprint(res, v));
      const mapped = new Uint8Array(16);
      const fam = readXorMappedAddress(res, v, mapped);
      assert.equal(fam, address === '::1' ? 6 : 4);
      assert.equal(v.xorMappedPort, client.port);
      assert.deepEqual(server.latched, { address, port: client.port });

      // Now the client's media is accepted; the attacker's still is not, even after another bad check.
      await attacker.send(check(local.ufrag, 'Othr', key), server.port, address);
      await until(() => attacker.received.length === 2, 2000, 'second 401');
      await attacker.send(rtpPacket(2), server.port, address);
      await client.send(rtpPacket(3), server.port, address);
      await until(() => server.mediaAccepted === 1 && server.mediaDropped === 2, 2000, 'latched media');
      assert.deepEqual(server.latched, { address, port: client.port });
    });
  });
}
