import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { StreamFramer } from '../../src/transport/stream-framer.ts';
import { closedWithin, connectTcp, type Harness, sipRequest, sleep, startHarness, waitFor } from '../unit/transport/harness.ts';

describe('TCP listener framing', () => {
  let h: Harness;
  let throwOnBye = false;
  before(async () => {
    h = await startHarness(
      [
        { id: 'tcp4', transport: 'tcp', address: '127.0.0.1' },
        { id: 'tcp6', transport: 'tcp', address: '::1' },
      ],
      { maxMessageBytes: 4096 },
      {
        onMessage: (bytes, source) => {
          if (throwOnBye && bytes.subarray(0, 3).toString() === 'BYE') throw new Error('handler bug');
          h.received.push({ text: bytes.toString('latin1'), bytes, source });
        },
      },
    );
  });
  after(() => h.close());

  it('reassembles a message split across writes, including a binary body', async () => {
    const c = await connectTcp(h.port('tcp4'));
    try {
      const body = Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x0d, 0x0a, 0x80, 0x41]);
      const msg = sipRequest('MESSAGE', body, 'Content-Type: application/octet-stream\r\n');
      const n0 = h.received.length;
      for (const cut of [10, 60, msg.length - 3]) {
        c.socket.write(msg.subarray(0, cut));
        await sleep(15);
        c.socket.write(msg.subarray(cut));
        await waitFor(() => h.received.length === n0 + 1, 2000, 'split message');
        assert.ok(h.received.at(-1)?.bytes.equals(msg));
        h.received.pop();
      }
      assert.equal(h.received.length, n0);
      assert.equal(h.mgr.stats().framingErrors, 0);
    } finally {
      c.socket.destroy();
    }
  });

  it('delivers two messages from one write with the same connection id, and replies on that connection', async () => {
    const c = await connectTcp(h.port('tcp4'));
    try {
      const n0 = h.received.length;
      c.socket.write(Buffer.concat([sipRequest('REGISTER', 'abc'), sipRequest('SUBSCRIBE')]));
      await waitFor(() => h.received.length === n0 + 2, 2000, 'two messages');
      const [a, b] = h.received.slice(n0);
      assert.match(a?.text ?? '', /^REGISTER [\s\S]*\r\n\r\nabc$/);
      assert.match(b?.text ?? '', /^SUBSCRIBE /);
      assert.equal(a?.source.transport, 'tcp');
      assert.equal(a?.source.connectionId, b?.source.connectionId);
      assert.equal(a?.source.port, c.socket.localPort);
      const id = a?.source.connectionId as number;
      assert.equal(h.mgr.isConnectionOpen(id), true);

      const reply = Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
      assert.equal(h.mgr.send({ transport: 'tcp', address: '127.0.0.1', port: 1, connectionId: id }, reply), 'sent');
      // Without the id, the flow is found by address:port.
      assert.equal(h.mgr.send({ transport: 'tcp', address: '127.0.0.1', port: c.socket.localPort as number }, reply), 'sent');
      await waitFor(() => c.data().length === 2 * reply.length, 2000, 'replies');
      h.mgr.closeConnection(id);
      await closedWithin(c.socket, 2000);
      await waitFor(() => h.closedIds.includes(id), 1000, 'onConnectionClosed');
      assert.equal(h.mgr.isConnectionOpen(id), false);
      assert.equal(h.mgr.send({ transport: 'tcp', address: '127.0.0.1', port: 1, connectionId: id }, reply) === 'sent', false);
    } finally {
      c.socket.destroy();
    }
  });

  it('answers a CRLFCRLF ping with a CRLF pong and skips lone CRLFs', async () => {
    const c = await connectTcp(h.port('tcp4'));
    try {
      const n0 = h.received.length;
      c.socket.write('\r\n\r\n');
      await waitFor(() => c.data() === '\r\n', 2000, 'pong');
      c.socket.write(Buffer.concat([Buffer.from('\r\n'), sipRequest('INFO'), Buffer.from('\r\n')]));
      c.socket.write(sipRequest('NOTIFY'));
      await waitFor(() => h.received.length === n0 + 2, 2000, 'messages after keep-alives');
      assert.equal(c.data(), '\r\n');
      assert.ok(h.mgr.stats().keepAlivePings >= 1);
    } finally {
      c.socket.destroy();
    }
  });

  it('closes only the offending connection on a framing error (missing Content-Length, oversize)', async () => {
    const good = await connectTcp(h.port('tcp4'));
    const bad1 = await connectTcp(h.port('tcp4'));
    const bad2 = await connectTcp(h.port('tcp4'));
    try {
      const fe = h.mgr.stats().framingErrors;
      bad1.socket.write('OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP x\r\n\r\n');
      bad2.socket.write(`MESSAGE sip:x SIP/2.0\r\nContent-Length: 999999\r\n\r\n`);
      await closedWithin(bad1.socket, 2000);
      await closedWithin(bad2.socket, 2000);
      assert.equal(h.mgr.stats().framingErrors, fe + 2);
      const n0 = h.received.length;
      good.socket.write(sipRequest('OPTIONS'));
      await waitFor(() => h.received.length === n0 + 1, 2000, 'good connection still served');
      assert.equal(good.closed(), false);
    } finally {
      good.socket.destroy();
    }
  });

  it('counts an onMessage exception and keeps serving the connection', async () => {
    const c = await connectTcp(h.port('tcp4'));
    try {
      throwOnBye = true;
      const errs = h.mgr.stats().handlerErrors;
      const n0 = h.received.length;
      c.socket.write(Buffer.concat([sipRequest('BYE'), sipRequest('ACK')]));
      await waitFor(() => h.received.length === n0 + 1, 2000, 'message after the throwing one');
      assert.equal(h.mgr.stats().handlerErrors, errs + 1);
      assert.equal(c.closed(), false);
    } finally {
      throwOnBye = false;
      c.socket.destroy();
    }
  });

  it('serves IPv6 on ::1', async () => {
    const c = await connectTcp(h.port('tcp6'), '::1');
    try {
      const n0 = h.received.length;
      c.socket.write(sipRequest('OPTIONS'));
      await waitFor(() => h.received.length === n0 + 1, 2000, 'IPv6 message');
      assert.equal(h.received.at(-1)?.source.address, '::1');
      assert.equal(h.received.at(-1)?.source.listenerId, 'tcp6');
    } finally {
      c.socket.destroy();
    }
  });
});

describe('TCP outgoing connections', () => {
  it('opens a connection, queues until connected, reuses it, and delivers what the peer sends back', async () => {
    const h = await startHarness([{ id: 'pbx-tcp', role: 'pbx', transport: 'tcp' }]);
    const framer = new StreamFramer(8192);
    const gotAtPeer: string[] = [];
    const peers: net.Socket[] = [];
    const peer = net.createServer((s) => {
      peers.push(s);
      s.on('error', () => {});
      s.on('data', (d: Buffer) => framer.push(d, { onFrame: (m) => gotAtPeer.push(m.toString()), onPing: () => {}, onError: () => {} }));
    });
    await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
    const port = (peer.address() as net.AddressInfo).port;
    try {
      const target = { transport: 'tcp' as const, address: '127.0.0.1', port, listenerId: 'pbx-tcp' };
      assert.equal(h.mgr.send(target, sipRequest('INVITE')), 'queued');
      assert.equal(h.mgr.send(target, sipRequest('CANCEL')), 'queued');
      await waitFor(() => gotAtPeer.length === 2, 2000, 'queued messages at the peer');
      assert.equal(h.mgr.send(target, sipRequest('ACK')), 'sent');
      await waitFor(() => gotAtPeer.length === 3, 2000, 'third message');
      assert.equal(peers.length, 1, 'one connection reused');
      assert.equal(h.mgr.stats().connectionsOutgoing, 1);
      peers[0]?.write('SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n');
      await waitFor(() => h.received.length === 1, 2000, 'response from the peer');
      const src = h.received[0]?.source;
      assert.equal(src?.listenerId, 'pbx-tcp');
      assert.equal(src?.port, port);
      assert.equal(src?.localAddress, '127.0.0.1');
      assert.ok(src?.connectionId !== undefined && h.mgr.isConnectionOpen(src.connectionId));
    } finally {
      for (const s of peers) s.destroy();
      await h.close();
      await new Promise<void>((r) => peer.close(() => r()));
    }
  });

  it('never crosses roles: a PBX-side send leaves from the PBX listener, not a public one', async () => {
    const h = await startHarness([
      { id: 'public-tcp', role: 'public', transport: 'tcp' },
      { id: 'public-udp', role: 'public', transport: 'udp' },
      { id: 'pbx-udp', role: 'pbx', transport: 'udp' },
      { id: 'pbx-tcp6', role: 'pbx', transport: 'tcp', address: '::1' },
    ]);
    const peer = net.createServer((s) => {
      s.on('error', () => {});
      s.resume(); // consume, so our close reaches this side
      s.end('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
    });
    await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
    const port = (peer.address() as net.AddressInfo).port;
    try {
      // TCP named by the PBX UDP listener: the origin is the PBX TCP listener, never the public one.
      assert.equal(h.mgr.send({ transport: 'tcp', address: '127.0.0.1', port, listenerId: 'pbx-udp' }, sipRequest()), 'queued');
      await waitFor(() => h.received.length === 1, 2000, 'reply from the peer');
      assert.equal(h.received[0]?.source.listenerId, 'pbx-tcp6');
      // UDP named by a PBX TCP listener: only PBX UDP sockets qualify.
      assert.equal(h.mgr.send({ transport: 'udp', address: '::1', port: 9, listenerId: 'pbx-tcp6' }, sipRequest()), 'no-connection');

      // No PBX TCP listener at all: the named PBX listener is the origin, not the public TCP one.
      const h2 = await startHarness([
        { id: 'public-tcp', role: 'public', transport: 'tcp' },
        { id: 'pbx-udp', role: 'pbx', transport: 'udp' },
      ]);
      try {
        assert.equal(h2.mgr.send({ transport: 'tcp', address: '127.0.0.1', port, listenerId: 'pbx-udp' }, sipRequest()), 'queued');
        await waitFor(() => h2.received.length === 1, 2000, 'reply from the peer');
        assert.equal(h2.received[0]?.source.listenerId, 'pbx-udp');
      } finally {
        await h2.close();
      }
    } finally {
      await h.close();
      await new Promise<void>((r) => peer.close(() => r()));
    }
  });

  it('fails queued sends when the peer refuses, without throwing', async () => {
    const h = await startHarness([{ id: 't', transport: 'tcp' }], { firstMessageTimeoutMs: 500 });
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    try {
      assert.equal(h.mgr.send({ transport: 'tcp', address: '127.0.0.1', port }, sipRequest()), 'queued');
      await waitFor(() => h.mgr.stats().connectionsOpen === 0, 2000, 'refused connection cleaned up');
      assert.ok(h.mgr.stats().socketErrors >= 1);
    } finally {
      await h.close();
    }
  });
});
