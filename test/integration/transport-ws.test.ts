import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { checkUpgrade } from '../../src/transport/ws-upgrade.ts';
import { type Harness, serverCert, sipRequest, startHarness, waitFor } from '../unit/transport/harness.ts';

interface WsResult {
  ws: WebSocket | undefined;
  status: number | undefined;
  error: string | undefined;
}

/** Opens a client; resolves on open or on refusal (HTTP status of the refused upgrade). */
function openWs(url: string, protocols: string[], opts: WebSocket.ClientOptions = {}): Promise<WsResult> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, { ca: serverCert.certPem, ...opts });
    let done = false;
    const finish = (r: WsResult): void => {
      if (done) return;
      done = true;
      resolve(r);
    };
    ws.on('open', () => finish({ ws, status: 101, error: undefined }));
    ws.on('unexpected-response', (_req, res) => {
      finish({ ws: undefined, status: res.statusCode, error: undefined });
      ws.terminate();
    });
    ws.on('error', (e) => finish({ ws: undefined, status: undefined, error: e.message }));
    setTimeout(() => finish({ ws: undefined, status: undefined, error: 'timeout' }), 3000).unref();
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: string; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (d: Buffer, isBinary: boolean) => resolve({ data: d.toString('latin1'), isBinary })));
}

describe('checkUpgrade', () => {
  const cfg = { origins: ['https://phone.example'], path: '/sip' };
  it('requires the sip subprotocol, the path and an allowed Origin', () => {
    const h = (headers: Record<string, string>, url = '/sip'): ReturnType<typeof checkUpgrade> => checkUpgrade({ url, headers }, cfg);
    assert.equal(h({ 'sec-websocket-protocol': 'sip', origin: 'https://phone.example' }), undefined);
    assert.equal(h({ 'sec-websocket-protocol': 'chat, sip', origin: 'https://phone.example' }, '/sip?x=1'), undefined);
    assert.equal(h({ origin: 'https://phone.example' }), 'subprotocol');
    assert.equal(h({ 'sec-websocket-protocol': 'sips', origin: 'https://phone.example' }), 'subprotocol');
    assert.equal(h({ 'sec-websocket-protocol': 'sip', origin: 'https://evil.example' }), 'origin');
    assert.equal(h({ 'sec-websocket-protocol': 'sip' }), 'origin');
    assert.equal(h({ 'sec-websocket-protocol': 'sip', origin: 'https://phone.example' }, '/other'), 'path');
    assert.equal(checkUpgrade({ url: '/', headers: { 'sec-websocket-protocol': 'sip' } }, { origins: [], path: '/' }), undefined);
  });
});

describe('WS and WSS listeners', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(
      [
        { id: 'wss', transport: 'wss', ws: { origins: ['https://phone.example'], maxPayload: 4096, path: '/sip' } },
        { id: 'ws', transport: 'ws', address: '::1', ws: { origins: [], maxPayload: 4096, path: '/' } },
      ],
      { maxMessageBytes: 8192 },
    );
  });
  after(() => h.close());

  it('carries one SIP message per frame over WSS (text and binary) and replies on the same connection', async () => {
    const r = await openWs(`wss://127.0.0.1:${h.port('wss')}/sip`, ['sip'], { origin: 'https://phone.example' });
    assert.equal(r.status, 101, r.error);
    const ws = r.ws as WebSocket;
    try {
      assert.equal(ws.protocol, 'sip');
      const n0 = h.received.length;
      ws.send(sipRequest('REGISTER').toString('latin1'));
      ws.send(sipRequest('MESSAGE', Buffer.from([1, 2, 3])), { binary: true });
      await waitFor(() => h.received.length === n0 + 2, 2000, 'two WS frames');
      const [a, b] = h.received.slice(n0);
      assert.match(a?.text ?? '', /^REGISTER /);
      assert.ok(b?.bytes.equals(sipRequest('MESSAGE', Buffer.from([1, 2, 3]))));
      const src = a?.source;
      assert.equal(src?.transport, 'wss');
      assert.equal(src?.tls?.protocol, 'TLSv1.3');
      assert.equal(src?.connectionId, b?.source.connectionId);

      const got = nextMessage(ws);
      const reply = Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
      assert.equal(
        h.mgr.send({ transport: 'wss', address: '127.0.0.1', port: src?.port ?? 0, connectionId: src?.connectionId }, reply),
        'sent',
      );
      const m = await got;
      assert.equal(m.data, reply.toString());
      assert.equal(m.isBinary, false, 'valid UTF-8 goes out as a text frame');
    } finally {
      ws.terminate();
    }
  });

  it('refuses an upgrade without the sip subprotocol, with a bad Origin, or on another path', async () => {
    const refused = h.mgr.stats().wsUpgradesRefused;
    const base = `wss://127.0.0.1:${h.port('wss')}`;
    assert.equal((await openWs(`${base}/sip`, [], { origin: 'https://phone.example' })).status, 400);
    assert.equal((await openWs(`${base}/sip`, ['chat'], { origin: 'https://phone.example' })).status, 400);
    assert.equal((await openWs(`${base}/sip`, ['sip'], { origin: 'https://evil.example' })).status, 403);
    assert.equal((await openWs(`${base}/`, ['sip'], { origin: 'https://phone.example' })).status, 404);
    assert.equal(h.mgr.stats().wsUpgradesRefused, refused + 4);
    await waitFor(() => h.mgr.stats().connectionsOpen === 0, 2000, 'refused connections closed');
  });

  it('serves plain WS on ::1 with any Origin, and closes on a frame above maxPayload', async () => {
    const r = await openWs(`ws://[::1]:${h.port('ws')}/`, ['sip']);
    assert.equal(r.status, 101, r.error);
    const ws = r.ws as WebSocket;
    const n0 = h.received.length;
    ws.send(sipRequest('OPTIONS').toString('latin1'));
    await waitFor(() => h.received.length === n0 + 1, 2000, 'WS frame');
    assert.equal(h.received.at(-1)?.source.transport, 'ws');
    assert.equal(h.received.at(-1)?.source.address, '::1');
    assert.equal(h.received.at(-1)?.source.tls, undefined);
    const oversize = h.mgr.stats().oversize;
    const closed = new Promise<number>((resolve) => ws.on('close', (code: number) => resolve(code)));
    ws.send(Buffer.alloc(5000, 0x41));
    assert.equal(await closed, 1009);
    await waitFor(() => h.mgr.stats().oversize === oversize + 1, 2000, 'oversize counted');
  });

  it('answers a plain HTTP request with 426 and never opens outgoing WS', async () => {
    const res = await fetch(`http://[::1]:${h.port('ws')}/`);
    assert.equal(res.status, 426);
    await res.arrayBuffer();
    assert.equal(h.mgr.send({ transport: 'ws', address: '::1', port: 9 }, Buffer.from('x')), 'no-connection');
  });
});
