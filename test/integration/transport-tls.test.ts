import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { clientCert, type Harness, serverCert, sipRequest, startHarness, waitFor } from '../unit/transport/harness.ts';

interface TlsAttempt {
  ok: boolean;
  protocol: string | null;
  code: string | undefined;
  socket: tls.TLSSocket | undefined;
}

/**
 * Connects and reports whether the server kept the connection after the handshake. TLS 1.3 client-certificate
 * refusals arrive after the client's handshake completes, so an attempt counts as ok only if the socket is still
 * open a short moment later.
 */
function attempt(port: number, opts: tls.ConnectionOptions = {}, host = '127.0.0.1'): Promise<TlsAttempt> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: TlsAttempt): void => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    const s = tls.connect({ host, port, ca: serverCert.certPem, servername: 'localhost', ...opts });
    s.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, protocol: null, code: e.code, socket: undefined }));
    s.on('close', () => done({ ok: false, protocol: null, code: 'closed', socket: undefined }));
    s.on('secureConnect', () => {
      // Send a ping so a refusing server has to answer with an alert or a close.
      s.write('\r\n\r\n');
      s.once('data', () => done({ ok: true, protocol: s.getProtocol(), code: undefined, socket: s }));
    });
    setTimeout(() => done({ ok: false, protocol: null, code: 'timeout', socket: undefined }), 3000).unref();
  });
}

describe('TLS listeners', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness([
      { id: 'tls13', transport: 'tls' },
      {
        id: 'tls12',
        transport: 'tls',
        tls: { certPem: serverCert.certPem, keyPem: serverCert.keyPem, minVersion: 'TLSv1.2', clientCert: 'none' },
      },
      {
        id: 'mtls',
        transport: 'tls',
        tls: {
          certPem: serverCert.certPem,
          keyPem: serverCert.keyPem,
          minVersion: 'TLSv1.3',
          clientCert: 'require',
          caPem: clientCert.certPem,
        },
      },
      {
        id: 'opt',
        transport: 'tls',
        address: '::1',
        tls: {
          certPem: serverCert.certPem,
          keyPem: serverCert.keyPem,
          minVersion: 'TLSv1.3',
          clientCert: 'optional',
          caPem: clientCert.certPem,
        },
      },
    ]);
  });
  after(() => h.close());

  it('negotiates TLS 1.3 by default, frames messages and answers pings', async () => {
    const a = await attempt(h.port('tls13'));
    try {
      assert.equal(a.ok, true, a.code);
      assert.equal(a.protocol, 'TLSv1.3');
      const n0 = h.received.length;
      a.socket?.write(Buffer.concat([sipRequest('REGISTER', 'x'), sipRequest('OPTIONS')]));
      await waitFor(() => h.received.length === n0 + 2, 2000, 'two TLS messages');
      const src = h.received.at(-1)?.source;
      assert.equal(src?.transport, 'tls');
      assert.equal(src?.tls?.protocol, 'TLSv1.3');
      assert.equal(typeof src?.tls?.cipher, 'string');
      assert.equal(src?.tls?.peerFingerprint256, undefined);
      assert.equal(
        h.mgr.send(
          { transport: 'tls', address: '127.0.0.1', port: 1, connectionId: src?.connectionId },
          Buffer.from('SIP/2.0 200 OK\r\nl: 0\r\n\r\n'),
        ),
        'sent',
      );
      const got = await new Promise<string>((r) => a.socket?.once('data', (d: Buffer) => r(d.toString())));
      assert.match(got, /^SIP\/2\.0 200 OK/);
    } finally {
      a.socket?.destroy();
    }
  });

  it('refuses a TLS 1.2-only client when minVersion is TLSv1.3', async () => {
    const errs = h.mgr.stats().tlsHandshakeErrors;
    const a = await attempt(h.port('tls13'), { maxVersion: 'TLSv1.2' });
    assert.equal(a.ok, false);
    assert.equal(a.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    await waitFor(() => h.mgr.stats().tlsHandshakeErrors === errs + 1, 2000, 'handshake error counted');
  });

  it('accepts a TLS 1.2 client when minVersion is TLSv1.2', async () => {
    const a = await attempt(h.port('tls12'), { maxVersion: 'TLSv1.2' });
    a.socket?.destroy();
    assert.equal(a.ok, true, a.code);
    assert.equal(a.protocol, 'TLSv1.2');
  });

  it('requires a client certificate signed by the configured CA and exposes its identity', async () => {
    const none = await attempt(h.port('mtls'));
    assert.equal(none.ok, false, 'no client certificate must be refused');
    assert.equal(none.code, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    const wrong = await attempt(h.port('mtls'), { cert: serverCert.certPem, key: serverCert.keyPem });
    assert.equal(wrong.ok, false, 'a certificate from another issuer must be refused');
    assert.notEqual(wrong.code, 'timeout');

    const good = await attempt(h.port('mtls'), { cert: clientCert.certPem, key: clientCert.keyPem });
    try {
      assert.equal(good.ok, true, good.code);
      const n0 = h.received.length;
      good.socket?.write(sipRequest('REGISTER'));
      await waitFor(() => h.received.length === n0 + 1, 2000, 'mTLS message');
      const info = h.received.at(-1)?.source.tls;
      assert.equal(info?.authorized, true);
      assert.equal(info?.peerCommonName, 'client-7');
      assert.equal(info?.peerFingerprint256, clientCert.fingerprint256);
    } finally {
      good.socket?.destroy();
    }
  });

  it('with optional client certificates: accepts none, and does not trust an unverified one (IPv6)', async () => {
    const a = await attempt(h.port('opt'), { cert: serverCert.certPem, key: serverCert.keyPem }, '::1');
    try {
      assert.equal(a.ok, true, a.code);
      const n0 = h.received.length;
      a.socket?.write(sipRequest('OPTIONS'));
      await waitFor(() => h.received.length === n0 + 1, 2000, 'message');
      const info = h.received.at(-1)?.source.tls;
      assert.equal(info?.authorized, false);
      assert.equal(info?.peerCommonName, undefined, 'an unverified certificate names nobody');
      assert.equal(info?.peerFingerprint256, serverCert.fingerprint256);
      assert.equal(h.received.at(-1)?.source.address, '::1');
    } finally {
      a.socket?.destroy();
    }
    const b = await attempt(h.port('opt'), {}, '::1');
    b.socket?.destroy();
    assert.equal(b.ok, true, b.code);
  });
});

describe('TLS outgoing connections', () => {
  it('verifies the server when tlsServerName is given, and presents the listener certificate', async () => {
    // The "PBX" is another manager whose TLS listener requires client certificates from our CA.
    const pbx = await startHarness([
      {
        id: 'pbx',
        transport: 'tls',
        tls: {
          certPem: serverCert.certPem,
          keyPem: serverCert.keyPem,
          minVersion: 'TLSv1.3',
          clientCert: 'require',
          caPem: clientCert.certPem,
        },
      },
    ]);
    const sbc = await startHarness([
      {
        id: 'toward-pbx',
        role: 'pbx',
        transport: 'tls',
        tls: {
          certPem: clientCert.certPem,
          keyPem: clientCert.keyPem,
          minVersion: 'TLSv1.3',
          clientCert: 'none',
          caPem: serverCert.certPem,
        },
      },
    ]);
    try {
      const port = pbx.port('pbx');
      const ok = sbc.mgr.send(
        { transport: 'tls', address: '127.0.0.1', port, listenerId: 'toward-pbx', tlsServerName: 'localhost' },
        sipRequest('INVITE'),
      );
      assert.equal(ok, 'queued');
      await waitFor(() => pbx.received.length === 1, 3000, 'message at the PBX');
      assert.equal(pbx.received[0]?.source.tls?.peerCommonName, 'client-7');

      // Reply over the PBX's inbound connection; it comes back on the SBC's outgoing one.
      const back = pbx.received[0]?.source;
      pbx.mgr.send(
        { transport: 'tls', address: back?.address ?? '', port: back?.port ?? 0, connectionId: back?.connectionId },
        Buffer.from('SIP/2.0 100 Trying\r\nContent-Length: 0\r\n\r\n'),
      );
      await waitFor(() => sbc.received.length === 1, 3000, 'response at the SBC');
      assert.equal(sbc.received[0]?.source.tls?.authorized, true);

      // A name the certificate does not carry: verification fails and nothing arrives.
      const errors = sbc.mgr.stats().socketErrors;
      const first = sbc.received[0]?.source.connectionId;
      if (first !== undefined) sbc.mgr.closeConnection(first);
      await waitFor(() => sbc.mgr.stats().connectionsOpen === 0, 2000, 'first flow closed');
      const r = sbc.mgr.send(
        { transport: 'tls', address: '127.0.0.1', port, listenerId: 'toward-pbx', tlsServerName: 'wrong.example' },
        sipRequest('MESSAGE'),
      );
      assert.equal(r, 'queued');
      await waitFor(() => sbc.mgr.stats().socketErrors > errors, 3000, 'verification failure');
      await waitFor(() => sbc.mgr.stats().connectionsOpen === 0, 3000, 'failed flows closed');
      assert.equal(pbx.received.filter((m) => m.text.startsWith('MESSAGE')).length, 0);
    } finally {
      await sbc.close();
      await pbx.close();
    }
  });
});
