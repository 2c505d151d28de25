import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.ts';
import { isPalisadeError } from '../../src/core/errors.ts';
import { silentLogger } from '../../src/core/log.ts';
import { createTransportManager } from '../../src/transport/manager.ts';
import { type Harness, sipRequest, startHarness, waitFor } from '../unit/transport/harness.ts';

async function udpClient(type: 'udp4' | 'udp6', host: string): Promise<{ sock: dgram.Socket; got: Buffer[]; port: number }> {
  const sock = dgram.createSocket(type);
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  await new Promise<void>((r) => sock.bind(0, host, () => r()));
  return { sock, got, port: (sock.address() as AddressInfo).port };
}

describe('UDP listeners', () => {
  let h: Harness;
  let refuse = false;
  before(async () => {
    h = await startHarness(
      [
        { id: 'pub4', transport: 'udp', address: '127.0.0.1' },
        { id: 'pub6', transport: 'udp', address: '::1' },
      ],
      { maxMessageBytes: 2048 },
      { accept: () => !refuse },
    );
  });
  after(() => h.close());

  it('reports bound ports and advertised addresses', () => {
    const ls = h.mgr.listeners();
    assert.equal(ls.length, 2);
    assert.equal(ls[0]?.address, '127.0.0.1');
    assert.ok((ls[0]?.port ?? 0) > 0);
    assert.equal(ls[0]?.advertisePort, ls[0]?.port);
    assert.equal(ls[1]?.address, '::1');
  });

  it('receives IPv4 and IPv6 datagrams with a full Source, and replies from the same socket', async () => {
    const c4 = await udpClient('udp4', '127.0.0.1');
    const c6 = await udpClient('udp6', '::1');
    try {
      const msg = sipRequest('OPTIONS');
      c4.sock.send(msg, h.port('pub4'), '127.0.0.1');
      c6.sock.send(msg, h.port('pub6'), '::1');
      await waitFor(() => h.received.length >= 2, 2000, 'two datagrams');
      const s4 = h.received.find((r) => r.source.listenerId === 'pub4')?.source;
      const s6 = h.received.find((r) => r.source.listenerId === 'pub6')?.source;
      assert.equal(s4?.transport, 'udp');
      assert.equal(s4?.address, '127.0.0.1');
      assert.equal(s4?.port, c4.port);
      assert.equal(s4?.connectionId, undefined);
      assert.equal(s4?.localPort, h.port('pub4'));
      assert.equal(s6?.address, '::1');
      assert.equal(h.received[0]?.bytes.equals(msg), true);

      // No listenerId: the family picks the socket.
      assert.equal(h.mgr.send({ transport: 'udp', address: '127.0.0.1', port: c4.port }, Buffer.from('SIP/2.0 200 OK\r\n\r\n')), 'sent');
      assert.equal(h.mgr.send({ transport: 'udp', address: '::1', port: c6.port, listenerId: 'pub6' }, Buffer.from('six')), 'sent');
      await waitFor(() => c4.got.length === 1 && c6.got.length === 1, 2000, 'replies');
      assert.equal(c6.got[0]?.toString(), 'six');
      const stats = h.mgr.stats();
      assert.ok(stats.datagramsIn >= 2);
      assert.ok(stats.datagramsOut >= 2);
    } finally {
      c4.sock.close();
      c6.sock.close();
    }
  });

  it('drops oversize datagrams, CRLF keep-alives and datagrams the gate refuses', async () => {
    const c = await udpClient('udp4', '127.0.0.1');
    try {
      const before = h.received.length;
      const oversizeBefore = h.mgr.stats().oversize;
      c.sock.send(Buffer.alloc(4000, 0x41), h.port('pub4'), '127.0.0.1');
      c.sock.send(Buffer.from('\r\n\r\n'), h.port('pub4'), '127.0.0.1');
      refuse = true;
      c.sock.send(sipRequest('REGISTER'), h.port('pub4'), '127.0.0.1');
      await waitFor(() => h.mgr.stats().gateDropped >= 1, 2000, 'gate drop');
      refuse = false;
      c.sock.send(sipRequest('INVITE'), h.port('pub4'), '127.0.0.1');
      await waitFor(() => h.received.length > before, 2000, 'good datagram');
      assert.equal(h.received.length, before + 1);
      assert.match(h.received.at(-1)?.text ?? '', /^INVITE /);
      assert.equal(h.mgr.stats().oversize, oversizeBefore + 1);
    } finally {
      c.sock.close();
    }
  });

  it('refuses impossible sends without throwing', () => {
    assert.equal(h.mgr.send({ transport: 'udp', address: '127.0.0.1', port: 0 }, Buffer.from('x')), 'error');
    assert.equal(h.mgr.send({ transport: 'udp', address: '127.0.0.1', port: 5060 }, Buffer.alloc(70000)), 'error');
    assert.equal(h.mgr.send({ transport: 'ws', address: '127.0.0.1', port: 5060 }, Buffer.from('x')), 'no-connection');
  });
});

describe('listener setup errors', () => {
  it('fails with TRANSPORT_LISTEN on a port in use and closes what it opened', async () => {
    const h = await startHarness([{ id: 'a', transport: 'udp' }]);
    try {
      await assert.rejects(
        startHarness([
          { id: 'ok', transport: 'tcp' },
          { id: 'clash', transport: 'udp', port: h.port('a') },
        ]),
        (e: unknown) => isPalisadeError(e) && e.code === 'TRANSPORT_LISTEN',
      );
    } finally {
      await h.close();
    }
  });

  it('fails with TRANSPORT_LISTEN on a TLS listener with a broken key or no TLS settings', async () => {
    const isListen = (e: unknown): boolean => isPalisadeError(e) && e.code === 'TRANSPORT_LISTEN';
    await assert.rejects(
      startHarness([
        { id: 'u', transport: 'udp' },
        { id: 't', transport: 'tls', tls: { certPem: 'nope', keyPem: 'nope', minVersion: 'TLSv1.3', clientCert: 'none' } },
      ]),
      isListen,
    );
    await assert.rejects(
      createTransportManager({
        listeners: [{ id: 'w', role: 'public', transport: 'wss', address: '127.0.0.1', port: 0 }],
        limits: { maxMessageBytes: 4096, perSource: 1, total: 1, idleTimeoutMs: 1000, firstMessageTimeoutMs: 100 },
        events: { onMessage: () => {} },
        clock: systemClock,
        logger: silentLogger,
      }),
      isListen,
    );
  });

  it('rejects duplicate listener ids with CONFIG_INVALID', async () => {
    await assert.rejects(
      startHarness([
        { id: 'x', transport: 'udp' },
        { id: 'x', transport: 'tcp' },
      ]),
      (e: unknown) => isPalisadeError(e) && e.code === 'CONFIG_INVALID',
    );
  });
});
