import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import { silentLogger } from '../../../src/core/log.ts';
import { ConnectionTable } from '../../../src/transport/connection-table.ts';
import { emptyStats } from '../../../src/transport/options.ts';
import type { Source } from '../../../src/transport/types.ts';

/** Just enough of a net.Socket for the table: addresses, destroy, and 'close'. */
class FakeSocket extends EventEmitter {
  destroyed = false;
  constructor(
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly localAddress = '127.0.0.1',
    readonly localPort = 5060,
  ) {
    super();
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      queueMicrotask(() => this.emit('close'));
    }
    return this;
  }
}

function setup(limits: Partial<{ perSource: number; total: number; idleTimeoutMs: number; firstMessageTimeoutMs: number }> = {}) {
  const clock = new ManualClock();
  const stats = emptyStats();
  const got: { text: string; source: Source }[] = [];
  const closed: number[] = [];
  const table = new ConnectionTable(
    {
      listeners: [],
      limits: { maxMessageBytes: 1024, perSource: 2, total: 3, idleTimeoutMs: 1000, firstMessageTimeoutMs: 300, ...limits },
      clock,
      logger: silentLogger,
      events: {
        onMessage: (b, source) => got.push({ text: b.toString(), source }),
        onConnectionClosed: (id) => closed.push(id),
      },
    },
    stats,
  );
  const sock = (addr: string, port: number): Socket => new FakeSocket(addr, port) as unknown as Socket;
  return { clock, stats, got, closed, table, sock };
}

const MSG = Buffer.from('OPTIONS sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n');

describe('ConnectionTable and Connection', () => {
  it('closes a silent inbound connection at the first-message timeout, not before', () => {
    const { clock, stats, table, sock, closed } = setup();
    const c = table.admitInbound('l', 'tcp', sock('::ffff:192.0.2.1', 4000));
    assert.ok(c);
    assert.equal(c.remoteAddress, '192.0.2.1', 'IPv4-mapped address unmapped');
    clock.advance(299);
    assert.equal(c.state, 'connecting');
    clock.advance(1);
    assert.equal(c.state, 'closed');
    assert.equal(stats.firstMessageTimeouts, 1);
    assert.equal(stats.connectionsOpen, 0);
    assert.deepEqual(closed, [c.id]);
  });

  it('answers pings, but pings alone do not satisfy the first-message timer', () => {
    const { clock, stats, table, sock } = setup();
    const c = table.admitInbound('l', 'tcp', sock('192.0.2.1', 4000));
    assert.ok(c);
    const written: string[] = [];
    c.ready({ write: (b) => written.push(b.toString()), pendingBytes: () => 0, destroy: () => {} });
    for (let i = 0; i < 5; i++) {
      c.feed(Buffer.from('\r\n\r\n'));
      clock.advance(50);
    }
    assert.deepEqual(written, ['\r\n', '\r\n', '\r\n', '\r\n', '\r\n']);
    assert.equal(stats.keepAlivePings, 5);
    clock.advance(50);
    assert.equal(c.state, 'closed');
    assert.equal(stats.firstMessageTimeouts, 1);
  });

  it('re-arms the idle timer lazily from the last activity', () => {
    const { clock, stats, table, sock, got } = setup();
    const c = table.admitInbound('l', 'tcp', sock('192.0.2.1', 4000));
    assert.ok(c);
    c.ready({ write: () => {}, pendingBytes: () => 0, destroy: () => {} });
    c.feed(MSG);
    assert.equal(got.length, 1);
    assert.equal(got[0]?.source.connectionId, c.id);
    clock.advance(900);
    c.feed(MSG);
    clock.advance(900); // 1800 since open, 900 since last message
    assert.equal(c.state, 'open');
    clock.advance(100);
    assert.equal(c.state, 'closed');
    assert.equal(stats.idleClosed, 1);
    assert.equal(stats.firstMessageTimeouts, 0);
  });

  it('enforces per-source and total caps and frees slots on close', () => {
    const { stats, table, sock } = setup();
    const a = table.admitInbound('l', 'tcp', sock('192.0.2.1', 1));
    const b = table.admitInbound('l', 'tcp', sock('192.0.2.1', 2));
    assert.equal(table.admitInbound('l', 'tcp', sock('192.0.2.1', 3)), undefined);
    const c = table.admitInbound('l', 'tcp', sock('192.0.2.2', 1));
    assert.equal(table.admitInbound('l', 'tcp', sock('192.0.2.3', 1)), undefined, 'total of 3');
    assert.equal(table.canOpenOutgoing(), false);
    assert.equal(stats.connectionsRefused, 2);
    a?.close();
    assert.ok(table.admitInbound('l', 'tcp', sock('192.0.2.1', 4)));
    assert.equal(table.findEndpoint('tcp', '192.0.2.1', 2), b);
    assert.equal(table.findEndpoint('tcp', '192.0.2.1', 1), undefined);
    assert.ok(c);
  });

  it('queues a bounded amount while connecting and flushes in order when ready', () => {
    const { stats, table, sock } = setup();
    const c = table.registerOutgoing('l', 'tcp', '192.0.2.9', 5060, sock('192.0.2.9', 5060));
    const big = Buffer.alloc(1000);
    // 4 × maxMessageBytes (4096) may wait.
    const results = [c.send(Buffer.from('1')), c.send(Buffer.from('2')), c.send(big), c.send(big), c.send(big), c.send(big), c.send(big)];
    assert.deepEqual(results, ['queued', 'queued', 'queued', 'queued', 'queued', 'queued', 'error']);
    assert.equal(stats.sendErrors, 1);
    const written: string[] = [];
    c.ready({ write: (b) => written.push(b.length === 1 ? b.toString() : `${b.length}`), pendingBytes: () => 0, destroy: () => {} });
    assert.deepEqual(written, ['1', '2', '1000', '1000', '1000', '1000']);
    assert.equal(c.send(Buffer.from('3')), 'sent');
    c.close();
    assert.equal(c.send(Buffer.from('4')), 'no-connection');
  });

  it('closes a connection whose peer does not read instead of buffering without bound', () => {
    const { stats, table, sock } = setup();
    const c = table.admitInbound('l', 'tcp', sock('192.0.2.1', 1));
    assert.ok(c);
    let pending = 0;
    c.ready({
      write: (b) => {
        pending += b.length;
      },
      pendingBytes: () => pending,
      destroy: () => {},
    });
    let r = 'sent';
    let n = 0;
    while (r === 'sent' && n < 10_000) {
      r = c.send(Buffer.alloc(1000));
      n++;
    }
    assert.equal(r, 'error');
    assert.ok(pending <= 1 << 20);
    assert.equal(c.state, 'closed');
    assert.equal(stats.sendErrors, 1);
  });

  it('counts framing errors and oversize', () => {
    const { stats, table, sock } = setup();
    const c = table.admitInbound('l', 'tcp', sock('192.0.2.1', 1));
    assert.ok(c);
    c.feed(Buffer.from('INVITE sip:a SIP/2.0\r\nContent-Length: 5000\r\n\r\n'));
    assert.equal(c.state, 'closed');
    assert.equal(stats.framingErrors, 1);
    assert.equal(stats.oversize, 1);
  });
});
