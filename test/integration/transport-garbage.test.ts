/**
 * Hostile input at every listener: random bytes, truncated messages, half-open and stalled connections, broken
 * TLS and WebSocket streams, a peer that never reads. Afterwards each listener must still serve a good message,
 * every hostile connection must be gone, and the process must not have thrown.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import WebSocket from 'ws';
import { closedWithin, connectTcp, type Harness, serverCert, sipRequest, sleep, startHarness, waitFor } from '../unit/transport/harness.ts';

let seed = 0x5eed;
function randomBytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    b[i] = seed >> 16;
  }
  return b;
}

function tlsConnect(port: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: serverCert.certPem, servername: 'localhost' });
    s.on('error', () => {});
    s.once('secureConnect', () => resolve(s));
    s.once('close', () => reject(new Error('closed before handshake')));
  });
}

function wsConnect(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['sip'], { ca: serverCert.certPem });
    ws.on('error', () => {});
    ws.once('open', () => resolve(ws));
    ws.once('close', () => reject(new Error('closed before open')));
  });
}

describe('garbage at every listener', () => {
  let h: Harness;
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown): void => {
    uncaught.push(e);
  };
  before(async () => {
    process.on('uncaughtException', onUncaught);
    h = await startHarness(
      [
        { id: 'udp', transport: 'udp' },
        { id: 'tcp', transport: 'tcp' },
        { id: 'tls', transport: 'tls' },
        { id: 'ws', transport: 'ws' },
        { id: 'wss', transport: 'wss' },
      ],
      { maxMessageBytes: 4096, firstMessageTimeoutMs: 600, idleTimeoutMs: 2000, perSource: 200 },
    );
  });
  after(async () => {
    process.off('uncaughtException', onUncaught);
    await h.close();
  });

  it('survives random bytes, truncations, half-open and stalled connections', async () => {
    const sockets: net.Socket[] = [];
    // UDP: random datagrams of every size up to past the limit.
    const u = dgram.createSocket('udp4');
    for (let i = 0; i < 50; i++) u.send(randomBytes((i * 97) % 5000), h.port('udp'), '127.0.0.1');
    // Raw TCP at every stream listener: random bytes, truncated message then FIN, FIN without data, silence.
    const streamPorts = ['tcp', 'tls', 'ws', 'wss'].map((id) => h.port(id));
    for (const port of streamPorts) {
      for (let i = 0; i < 4; i++) {
        const c = await connectTcp(port);
        sockets.push(c.socket);
        c.socket.write(randomBytes(100 + i * 1500));
      }
      const trunc = await connectTcp(port);
      sockets.push(trunc.socket);
      trunc.socket.end(sipRequest('INVITE', 'v=0\r\n').subarray(0, 120));
      const halfOpen = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      halfOpen.on('error', () => {});
      halfOpen.on('connect', () => halfOpen.end());
      sockets.push(halfOpen);
      const silent = await connectTcp(port);
      sockets.push(silent.socket);
    }
    // TCP: a message whose body never completes, a header flood, a huge Content-Length, CRLF storms.
    for (const payload of [
      sipRequest('MESSAGE', 'x'.repeat(100)).subarray(0, 200),
      Buffer.from(`INVITE sip:x SIP/2.0\r\n${'X-Pad: aaaaaaaaaa\r\n'.repeat(400)}`),
      Buffer.from('INVITE sip:x SIP/2.0\r\nContent-Length: 4294967296\r\n\r\n'),
      Buffer.from('\r\n'.repeat(3000)),
      Buffer.from('\n\n\r\r\n\x00\r\n\r\n'),
    ]) {
      const c = await connectTcp(h.port('tcp'));
      sockets.push(c.socket);
      c.socket.write(payload);
    }
    // TLS: random bytes after a good handshake.
    const t = await tlsConnect(h.port('tls'));
    t.write(randomBytes(3000));
    sockets.push(t);
    // WS/WSS: random HTTP, a bad upgrade, then random WebSocket frames after a good upgrade.
    for (const id of ['ws', 'wss']) {
      const port = h.port(id);
      const c = await connectTcp(port);
      sockets.push(c.socket);
      c.socket.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: sip\r\n\r\n');
      const scheme = id === 'ws' ? 'ws' : 'wss';
      const ws = await wsConnect(`${scheme}://127.0.0.1:${port}/`);
      const raw = (ws as unknown as { _socket: net.Socket })._socket;
      raw.write(randomBytes(500));
      sockets.push(raw);
    }

    // A good message must still get through on each listener while the junk is in flight.
    const n0 = h.received.length;
    await sendGoodEverywhere(h);
    await waitFor(() => h.received.length >= n0 + 5, 3000, 'good messages during the storm');

    // Every hostile connection ends: by framing error, timeout or the peer.
    await Promise.all(sockets.map((s) => closedWithin(s, 3000)));
    u.close();
    await waitFor(() => h.mgr.stats().connectionsOpen === 0, 3000, 'all hostile connections closed');
    const s = h.mgr.stats();
    assert.ok(s.framingErrors >= 5, `framing errors ${s.framingErrors}`);
    assert.ok(s.firstMessageTimeouts >= 4, `first-message timeouts ${s.firstMessageTimeouts}`);
    assert.ok(s.tlsHandshakeErrors >= 4, `tls handshake errors ${s.tlsHandshakeErrors}`);
    assert.ok(s.oversize >= 2);
    assert.deepEqual(uncaught, []);

    // And after the storm.
    const n1 = h.received.length;
    await sendGoodEverywhere(h);
    await waitFor(() => h.received.length === n1 + 5, 3000, 'good messages after the storm');
    assert.deepEqual(new Set(h.received.slice(n1).map((r) => r.source.transport)), new Set(['udp', 'tcp', 'tls', 'ws', 'wss']));
  });

  it('a peer that never reads costs only its own connection', async () => {
    const reader = await connectTcp(h.port('tcp'));
    const stuck = await connectTcp(h.port('tcp'));
    stuck.socket.pause();
    const n0 = h.received.length;
    reader.socket.write(sipRequest('REGISTER'));
    stuck.socket.write(sipRequest('REGISTER'));
    await waitFor(() => h.received.length === n0 + 2, 2000, 'both registered');
    const stuckId = h.received.find((r) => r.source.port === stuck.socket.localPort)?.source.connectionId;
    assert.notEqual(stuckId, undefined);
    const big = Buffer.concat([sipRequest('MESSAGE', 'z'.repeat(3500))]);
    let result = 'sent';
    let sent = 0;
    while (result !== 'error' && sent < 4000) {
      result = h.mgr.send({ transport: 'tcp', address: '127.0.0.1', port: 0, connectionId: stuckId }, big);
      sent++;
      if (sent % 200 === 0) await sleep(1);
    }
    assert.equal(result, 'error', `still accepting after ${sent} messages`);
    assert.equal(h.mgr.isConnectionOpen(stuckId as number), false);
    const reply = Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
    const readerId = h.received.find((r) => r.source.port === reader.socket.localPort)?.source.connectionId;
    assert.equal(h.mgr.send({ transport: 'tcp', address: '127.0.0.1', port: 0, connectionId: readerId }, reply), 'sent');
    await waitFor(() => reader.data().includes('200 OK'), 2000, 'reader served');
    reader.socket.destroy();
    stuck.socket.destroy();
  });
});

async function sendGoodEverywhere(h: Harness): Promise<void> {
  const msg = sipRequest('OPTIONS');
  const u = dgram.createSocket('udp4');
  await new Promise<void>((r) => u.send(msg, h.port('udp'), '127.0.0.1', () => r()));
  u.close();
  const c = await connectTcp(h.port('tcp'));
  c.socket.write(msg);
  const t = await tlsConnect(h.port('tls'));
  t.write(msg);
  const ws = await wsConnect(`ws://127.0.0.1:${h.port('ws')}/`);
  ws.send(msg.toString('latin1'));
  const wss = await wsConnect(`wss://127.0.0.1:${h.port('wss')}/`);
  wss.send(msg.toString('latin1'));
  await sleep(100);
  c.socket.destroy();
  t.destroy();
  ws.terminate();
  wss.terminate();
}
