import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import tls from 'node:tls';
import { isPalisadeError } from '../../../src/core/errors.ts';
import { integer, oid, sequence, time } from '../../../src/transport/der.ts';
import { generateSelfSignedCert, ipv6Bytes } from '../../../src/transport/self-signed.ts';

describe('der', () => {
  it('encodes known vectors', () => {
    assert.equal(oid('1.2.840.10045.4.3.2').toString('hex'), '06082a8648ce3d040302');
    assert.equal(integer(0).toString('hex'), '020100');
    assert.equal(integer(128).toString('hex'), '02020080');
    assert.equal(sequence().toString('hex'), '3000');
    assert.equal(
      time(new Date(Date.UTC(2030, 0, 2, 3, 4, 5)))
        .toString('latin1')
        .slice(2),
      '300102030405Z',
    );
    assert.equal(
      time(new Date(Date.UTC(2051, 0, 2, 3, 4, 5)))
        .toString('latin1')
        .slice(2),
      '20510102030405Z',
    );
    const long = sequence(Buffer.alloc(300));
    assert.equal(long.subarray(0, 4).toString('hex'), '3082012c');
  });

  it('expands IPv6 addresses', () => {
    assert.equal(ipv6Bytes('::1').toString('hex'), `${'0'.repeat(30)}01`);
    assert.equal(ipv6Bytes('2001:db8::ffff:1.2.3.4').toString('hex'), '20010db8000000000000ffff01020304');
    assert.equal(ipv6Bytes('fe80::1:2').toString('hex'), 'fe800000000000000000000000010002');
  });
});

describe('generateSelfSignedCert', () => {
  const cert = generateSelfSignedCert('palisade.test', ['localhost', '127.0.0.1', '::1']);

  it('produces a certificate node parses, self-verifies and matches its key', () => {
    const x = new X509Certificate(cert.certPem);
    assert.equal(x.subject, 'CN=palisade.test');
    assert.equal(x.issuer, 'CN=palisade.test');
    assert.equal(x.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    assert.equal(x.fingerprint256, cert.fingerprint256);
    assert.equal(x.verify(x.publicKey), true);
    assert.equal(x.checkPrivateKey(createPrivateKey(cert.keyPem)), true);
    assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(new Date(x.validTo).getTime() > Date.now() + 800 * 86_400_000);
    assert.ok(new Date(x.validFrom).getTime() < Date.now());
    assert.equal(x.ca, false);
  });

  it('is accepted by openssl x509', () => {
    const r = spawnSync('openssl', ['x509', '-noout', '-text'], { input: cert.certPem, encoding: 'utf8', timeout: 5000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(r.stdout, /DNS:localhost, IP Address:127\.0\.0\.1/);
    assert.match(r.stdout, /CA:FALSE/);
  });

  it('serves TLS 1.3 to a client that trusts exactly this certificate', async () => {
    const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem, minVersion: 'TLSv1.3' }, (s) => {
      s.on('error', () => {});
      s.end('hello');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      for (const servername of ['localhost', undefined]) {
        const got = await new Promise<{ protocol: string | null; authorized: boolean; data: string }>((resolve, reject) => {
          const opts: tls.ConnectionOptions = { host: '127.0.0.1', port, ca: cert.certPem };
          if (servername !== undefined) opts.servername = servername;
          const c = tls.connect(opts);
          let data = '';
          c.setTimeout(3000, () => c.destroy(new Error('timeout')));
          c.on('data', (d: Buffer) => {
            data += d.toString();
          });
          c.on('error', reject);
          c.on('end', () => resolve({ protocol: c.getProtocol(), authorized: c.authorized, data }));
        });
        assert.deepEqual(got, { protocol: 'TLSv1.3', authorized: true, data: 'hello' });
      }
      // A different self-signed certificate must not be trusted in its place.
      const other = generateSelfSignedCert('other', ['127.0.0.1']);
      const code = await new Promise<string>((resolve) => {
        const c = tls.connect({ host: '127.0.0.1', port, ca: other.certPem, servername: 'localhost' });
        c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'unknown'));
        c.on('secureConnect', () => {
          c.destroy();
          resolve('connected');
        });
      });
      assert.notEqual(code, 'connected');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('refuses names it cannot encode with CONFIG_INVALID', () => {
    assert.throws(
      () => generateSelfSignedCert('x', ['bad name']),
      (e: unknown) => isPalisadeError(e) && e.code === 'CONFIG_INVALID',
    );
    assert.throws(
      () => generateSelfSignedCert('', []),
      (e: unknown) => isPalisadeError(e) && e.code === 'CONFIG_INVALID',
    );
  });
});
