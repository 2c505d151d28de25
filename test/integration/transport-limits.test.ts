import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closedWithin, connectTcp, sipRequest, sleep, startHarness, waitFor } from '../unit/transport/harness.ts';

describe('connection caps', () => {
  it('caps connections per source IP; other sources and freed slots are served', async () => {
    const h = await startHarness(
      [
        { id: 't4', transport: 'tcp' },
        { id: 't6', transport: 'tcp', address: '::1' },
      ],
      {
        perSource: 2,
        total: 100,
      },
    );
    try {
      const a = await connectTcp(h.port('t4'));
      const b = await connectTcp(h.port('t4'));
      await waitFor(() => h.mgr.stats().connectionsOpen === 2, 2000, 'two open');
      const c = await connectTcp(h.port('t4'));
      await closedWithin(c.socket, 2000);
      assert.equal(h.mgr.stats().connectionsRefused, 1);
      // ::1 is another source.
      const d = await connectTcp(h.port('t6'), '::1');
      d.socket.write(sipRequest());
      await waitFor(() => h.received.length === 1, 2000, 'message from the other source');
      // Freeing a slot lets the first source in again.
      a.socket.destroy();
      await waitFor(() => h.mgr.stats().connectionsOpen === 2, 2000, 'slot freed');
      const e = await connectTcp(h.port('t4'));
      e.socket.write(sipRequest());
      await waitFor(() => h.received.length === 2, 2000, 'message on the new connection');
      assert.equal(b.closed(), false);
      for (const x of [b, d, e]) x.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('caps the total number of connections', async () => {
    const h = await startHarness(
      [
        { id: 't', transport: 'tcp' },
        { id: 't6', transport: 'tcp', address: '::1' },
      ],
      {
        perSource: 10,
        total: 3,
      },
    );
    try {
      const open = [await connectTcp(h.port('t')), await connectTcp(h.port('t')), await connectTcp(h.port('t6'), '::1')];
      await waitFor(() => h.mgr.stats().connectionsOpen === 3, 2000, 'three open');
      const over = await connectTcp(h.port('t6'), '::1');
      await closedWithin(over.socket, 2000);
      assert.equal(h.mgr.stats().connectionsOpen, 3);
      assert.equal(h.mgr.stats().connectionsRefused, 1);
      // Outgoing connections count against the total too.
      assert.equal(h.mgr.send({ transport: 'tcp', address: '127.0.0.1', port: h.port('t') }, sipRequest()), 'error');
      for (const x of open) x.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('destroys a connection the gate refuses, and drops frames it refuses later', async () => {
    let allow = false;
    const calls: string[] = [];
    const h = await startHarness(
      [{ id: 't', transport: 'tcp' }],
      {},
      {
        accept: (transport, address) => {
          calls.push(`${transport} ${address}`);
          return allow;
        },
      },
    );
    try {
      const c = await connectTcp(h.port('t'));
      await closedWithin(c.socket, 2000);
      assert.deepEqual(calls, ['tcp 127.0.0.1']);
      allow = true;
      const d = await connectTcp(h.port('t'));
      d.socket.write(sipRequest('REGISTER'));
      await waitFor(() => h.received.length === 1, 2000, 'allowed frame');
      allow = false;
      d.socket.write(sipRequest('INVITE'));
      await waitFor(() => h.mgr.stats().gateDropped === 1, 2000, 'gate drop');
      assert.equal(h.received.length, 1);
      d.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('fails closed when the gate throws', async () => {
    const h = await startHarness(
      [{ id: 't', transport: 'tcp' }],
      {},
      {
        accept: () => {
          throw new Error('gate bug');
        },
      },
    );
    try {
      const c = await connectTcp(h.port('t'));
      await closedWithin(c.socket, 2000);
      assert.equal(h.mgr.stats().handlerErrors, 1);
    } finally {
      await h.close();
    }
  });
});

describe('timeouts', () => {
  it('closes a connection that sends no complete message in time (slowloris) on tcp, tls and ws', async () => {
    const h = await startHarness(
      [
        { id: 'tcp', transport: 'tcp' },
        { id: 'tls', transport: 'tls' },
        { id: 'ws', transport: 'ws' },
      ],
      { firstMessageTimeoutMs: 150, idleTimeoutMs: 10_000 },
    );
    try {
      const slow = await connectTcp(h.port('tcp'));
      const tlsStall = await connectTcp(h.port('tls')); // TCP only, never starts the handshake
      const wsStall = await connectTcp(h.port('ws'));
      wsStall.socket.write('GET / HTTP/1.1\r\nHost: x\r\n'); // never finishes the request
      const t0 = Date.now();
      const drip = setInterval(() => slow.socket.write('O'), 20);
      try {
        await Promise.all([closedWithin(slow.socket, 2000), closedWithin(tlsStall.socket, 2000), closedWithin(wsStall.socket, 2000)]);
      } finally {
        clearInterval(drip);
      }
      assert.ok(Date.now() - t0 >= 100, 'not before the timeout');
      assert.equal(h.mgr.stats().firstMessageTimeouts, 3);
      assert.equal(h.received.length, 0);
    } finally {
      await h.close();
    }
  });

  it('closes an idle connection, and keep-alives or messages keep it open', async () => {
    const h = await startHarness([{ id: 'tcp', transport: 'tcp' }], { firstMessageTimeoutMs: 5000, idleTimeoutMs: 500 });
    try {
      const idle = await connectTcp(h.port('tcp'));
      const busy = await connectTcp(h.port('tcp'));
      idle.socket.write(sipRequest());
      busy.socket.write(sipRequest());
      const keep = setInterval(() => busy.socket.write('\r\n\r\n'), 50);
      try {
        await closedWithin(idle.socket, 2000);
        await sleep(150);
        assert.equal(busy.closed(), false, 'pinging connection stays');
      } finally {
        clearInterval(keep);
      }
      assert.equal(h.mgr.stats().idleClosed, 1);
      assert.equal(h.mgr.stats().firstMessageTimeouts, 0);
      await closedWithin(busy.socket, 2000);
      assert.equal(h.mgr.stats().idleClosed, 2);
    } finally {
      await h.close();
    }
  });
});
