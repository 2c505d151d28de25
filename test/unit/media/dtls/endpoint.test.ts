import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, test } from 'node:test';
import {
  createDtlsCertificate,
  createDtlsEndpoint,
  type DtlsCertificate,
  type DtlsEndpoint,
  type DtlsEndpointOptions,
  type DtlsFailure,
} from '../../../../src/media/dtls/index.ts';
import { CCS, delay, type Outcome, outcome, plainHandshakeType, recordTypes, Wire } from './pipe.ts';

let a: DtlsCertificate;
let b: DtlsCertificate;
before(async () => {
  [a, b] = await Promise.all([createDtlsCertificate(), createDtlsCertificate()]);
});

interface Pair {
  client: DtlsEndpoint;
  server: DtlsEndpoint;
  wire: Wire;
  run(): Promise<[Outcome, Outcome]>;
  close(): void;
}

/** Our client on side a (certificate a), our server on side b (certificate b). */
function pair(o: { client?: Partial<DtlsEndpointOptions>; server?: Partial<DtlsEndpointOptions>; wire?: Wire; ms?: number } = {}): Pair {
  const wire = o.wire ?? new Wire();
  const server = createDtlsEndpoint({
    role: 'server',
    certificate: b,
    remoteFingerprint: { algorithm: 'sha-256', value: a.fingerprint },
    send: wire.send('b'),
    ...o.server,
  });
  const client = createDtlsEndpoint({
    role: 'client',
    certificate: a,
    remoteFingerprint: { algorithm: 'sha-256', value: b.fingerprint },
    send: wire.send('a'),
    ...o.client,
  });
  wire.attach(client, server);
  return {
    client,
    server,
    wire,
    run: () => {
      const r = Promise.all([outcome(client, o.ms), outcome(server, o.ms)]);
      server.start();
      client.start();
      return r;
    },
    close: () => {
      wire.close();
      client.close();
      server.close();
    },
  };
}

function keysOf(r: Outcome) {
  assert.equal(r.kind, 'connected', r.kind === 'failed' ? `failed: ${r.reason}` : '');
  if (r.kind !== 'connected') throw new Error('unreachable');
  return r.value;
}

function reasonOf(r: Outcome): DtlsFailure | 'connected' {
  return r.kind === 'failed' ? r.reason : 'connected';
}

test('client and server complete a handshake and export matching SRTP keys', async () => {
  const p = pair();
  const [rc, rs] = await p.run();
  p.close();
  const c = keysOf(rc);
  const s = keysOf(rs);
  assert.equal(c.profile, 'AES_CM_128_HMAC_SHA1_80');
  assert.equal(s.profile, 'AES_CM_128_HMAC_SHA1_80');
  assert.deepEqual(c.keys.local, s.keys.remote);
  assert.deepEqual(c.keys.remote, s.keys.local);
  assert.notDeepEqual(c.keys.local.masterKey, c.keys.remote.masterKey);
  assert.equal(c.keys.local.masterKey.length, 16);
  assert.equal(c.keys.local.masterSalt.length, 14);
  assert.equal(p.client.state, 'closed');
});

test('two handshakes never export the same keys', async () => {
  const p1 = pair();
  const p2 = pair();
  const [[c1], [c2]] = await Promise.all([p1.run(), p2.run()]);
  p1.close();
  p2.close();
  assert.notDeepEqual(keysOf(c1).keys.local.masterKey, keysOf(c2).keys.local.masterKey);
});

test('the server picks the first of its profiles the client offers: AEAD_AES_128_GCM, and _32', async () => {
  const p = pair({
    client: { profiles: ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'] },
    server: { profiles: ['AEAD_AES_128_GCM', 'AES_CM_128_HMAC_SHA1_80'] },
  });
  const [rc, rs] = await p.run();
  p.close();
  assert.equal(keysOf(rc).profile, 'AEAD_AES_128_GCM');
  assert.equal(keysOf(rs).profile, 'AEAD_AES_128_GCM');
  assert.equal(keysOf(rc).keys.local.masterSalt.length, 12);
  assert.deepEqual(keysOf(rc).keys.local, keysOf(rs).keys.remote);

  const q = pair({ client: { profiles: ['AES_CM_128_HMAC_SHA1_32'] }, server: { profiles: ['AES_CM_128_HMAC_SHA1_32'] } });
  const [qc, qs] = await q.run();
  q.close();
  assert.equal(keysOf(qc).profile, 'AES_CM_128_HMAC_SHA1_32');
  assert.deepEqual(keysOf(qc).keys.remote, keysOf(qs).keys.local);
});

test('no common SRTP profile: the server refuses the ClientHello with no_srtp_profile', async () => {
  const p = pair({
    client: { profiles: ['AES_CM_128_HMAC_SHA1_80'], handshakeTimeoutMs: 300 },
    server: { profiles: ['AEAD_AES_128_GCM'] },
  });
  const [rc, rs] = await p.run();
  p.close();
  assert.equal(reasonOf(rs), 'no_srtp_profile');
  assert.equal(reasonOf(rc), 'timeout');
  assert.equal(p.wire.sent.b.length, 0, 'the server answered nothing');
});

test('a certificate that does not match a=fingerprint fails with bad_fingerprint, on either side', async () => {
  // the client's SDP names a certificate other than the one the server presents
  const p = pair({ client: { remoteFingerprint: { algorithm: 'sha-256', value: a.fingerprint } }, server: { handshakeTimeoutMs: 400 } });
  const [rc, rs] = await p.run();
  p.close();
  assert.equal(reasonOf(rc), 'bad_fingerprint');
  assert.equal(reasonOf(rs), 'timeout');
  assert.ok(!p.wire.sent.a.some((d) => recordTypes(d).includes(CCS)), 'the client never sent flight 5');

  const q = pair({ server: { remoteFingerprint: { algorithm: 'sha-256', value: b.fingerprint } }, client: { handshakeTimeoutMs: 400 } });
  const [qc, qs] = await q.run();
  q.close();
  assert.equal(reasonOf(qs), 'bad_fingerprint');
  assert.equal(reasonOf(qc), 'timeout');
  assert.ok(!q.wire.sent.b.some((d) => recordTypes(d).includes(CCS)), 'the server never sent flight 6');
});

test('a fingerprint with another hash function or a malformed value fails at start', () => {
  for (const remoteFingerprint of [
    { algorithm: 'sha-1', value: 'AB:'.repeat(19) + 'CD' },
    { algorithm: 'sha-256', value: 'not-a-fingerprint' },
  ]) {
    const reasons: DtlsFailure[] = [];
    const ep = createDtlsEndpoint({ role: 'client', certificate: a, remoteFingerprint, send: () => {} });
    ep.onFailed((r) => reasons.push(r));
    ep.start();
    assert.deepEqual(reasons, ['bad_fingerprint']);
    assert.equal(ep.state, 'failed');
  }
});

test('a handshake that does not finish in time fails with timeout (server waiting, client unanswered)', async () => {
  const sent: Buffer[] = [];
  const server = createDtlsEndpoint({
    role: 'server',
    certificate: b,
    remoteFingerprint: { algorithm: 'sha-256', value: a.fingerprint },
    send: (d) => sent.push(d),
    handshakeTimeoutMs: 60,
  });
  const client = createDtlsEndpoint({
    role: 'client',
    certificate: a,
    remoteFingerprint: { algorithm: 'sha-256', value: b.fingerprint },
    send: (d) => sent.push(d),
    handshakeTimeoutMs: 80,
  });
  const t0 = Date.now();
  const rs = outcome(server, 2000);
  const rc = outcome(client, 2000);
  server.start();
  client.start();
  assert.equal(reasonOf(await rs), 'timeout');
  assert.equal(reasonOf(await rc), 'timeout');
  assert.ok(Date.now() - t0 < 1000);
  assert.equal(server.state, 'failed');
  assert.equal(plainHandshakeType(sent[0] as Buffer), 1, 'the client sent a ClientHello');
});

test('close() stops retransmissions and reports no failure', async () => {
  const sent: Buffer[] = [];
  const failures: DtlsFailure[] = [];
  const client = createDtlsEndpoint({
    role: 'client',
    certificate: a,
    remoteFingerprint: { algorithm: 'sha-256', value: b.fingerprint },
    send: (d) => sent.push(d),
  });
  client.onFailed((r) => failures.push(r));
  client.start();
  await delay(700); // werift retransmits its first flight after 500 ms
  assert.ok(sent.length >= 2, `retransmitted (${sent.length})`);
  client.close();
  const n = sent.length;
  await delay(1100);
  assert.equal(sent.length, n);
  assert.equal(client.state, 'closed');
  assert.deepEqual(failures, []);
});

test('a lost Certificate (client side) or CertificateVerify (server side) is recovered by retransmission', async () => {
  const lost = { certificate: 0, certificateVerify: 0 };
  const wire = new Wire({
    // the first copy of the server's Certificate and of the client's CertificateVerify get lost
    b: (d) => (plainHandshakeType(d) === 11 && lost.certificate++ === 0 ? undefined : d),
    a: (d) => (plainHandshakeType(d) === 15 && lost.certificateVerify++ === 0 ? undefined : d),
  });
  const p = pair({ wire });
  const [rc, rs] = await p.run();
  p.close();
  assert.deepEqual(keysOf(rc).keys.local, keysOf(rs).keys.remote);
  assert.ok(lost.certificate >= 2 && lost.certificateVerify >= 2, `both were retransmitted: ${JSON.stringify(lost)}`);
});

test('a lost server Finished: the client retransmits flight 5 and the connected server answers it again', async () => {
  let lost = 0;
  const encryptedHandshake = (d: Buffer): boolean => d[0] === 22 && d.readUInt16BE(3) === 1; // epoch 1: Finished
  const wire = new Wire({ b: (d) => (encryptedHandshake(d) && lost++ === 0 ? undefined : d) });
  const p = pair({ wire });
  const [rc, rs] = await p.run();
  p.close();
  assert.deepEqual(keysOf(rc).keys.remote, keysOf(rs).keys.local);
  assert.ok(lost >= 2, `flight 6 was sent again (${lost})`);
});

test('garbage datagrams never throw, in any state, and do not break a handshake in progress', async () => {
  const junk = (): Buffer => {
    const d = randomBytes(Math.floor(Math.random() * 120));
    if (d.length > 0 && Math.random() < 0.7) d[0] = 20 + Math.floor(Math.random() * 44); // the DTLS demux range
    return d;
  };
  const fresh = createDtlsEndpoint({
    role: 'server',
    certificate: b,
    remoteFingerprint: { algorithm: 'sha-256', value: a.fingerprint },
    send: () => {},
  });
  for (let i = 0; i < 300; i++) fresh.handle(junk()); // state 'new': ignored
  assert.equal(fresh.state, 'new');
  const edge = [
    Buffer.alloc(0),
    Buffer.from([22]),
    Buffer.alloc(12, 22),
    Buffer.from([22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]),
  ];
  for (const state of ['handshaking', 'failed', 'closed'] as const) {
    const ep = createDtlsEndpoint({
      role: 'server',
      certificate: b,
      remoteFingerprint: { algorithm: 'sha-256', value: a.fingerprint },
      send: () => {},
      handshakeTimeoutMs: 200,
    });
    ep.start();
    if (state === 'closed') ep.close();
    if (state === 'failed') await outcome(ep, 1000);
    for (const d of edge) assert.doesNotThrow(() => ep.handle(d));
    for (let i = 0; i < 1000; i++) assert.doesNotThrow(() => ep.handle(junk()));
    ep.close();
  }
  // Junk that is not a plaintext alert, interleaved with a real handshake, changes nothing.
  const noise = (): Buffer => {
    const d = junk();
    if (d.length > 0 && d[0] === 21) d[0] = 23;
    return d;
  };
  const wire = new Wire();
  const p = pair({ wire });
  const inject = { handle: (d: Buffer) => p.server.handle(d) };
  const toClient = { handle: (d: Buffer) => p.client.handle(d) };
  wire.attach(
    {
      handle: (d) => {
        for (let i = 0; i < 5; i++) toClient.handle(noise());
        toClient.handle(d);
      },
    },
    {
      handle: (d) => {
        for (let i = 0; i < 5; i++) inject.handle(noise());
        inject.handle(d);
      },
    },
  );
  const [rc, rs] = await p.run();
  assert.deepEqual(keysOf(rc).keys.remote, keysOf(rs).keys.local);
  // once connected, garbage and plaintext alerts leave the session alone
  const alert = Buffer.from([21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 2, 40]);
  p.client.handle(alert);
  for (let i = 0; i < 300; i++) p.client.handle(junk());
  assert.equal(p.client.state, 'connected');
  p.close();
});

test('a plaintext alert during the handshake ends it with closed', async () => {
  const ep = createDtlsEndpoint({
    role: 'server',
    certificate: b,
    remoteFingerprint: { algorithm: 'sha-256', value: a.fingerprint },
    send: () => {},
  });
  const r = outcome(ep, 1000);
  ep.start();
  ep.handle(Buffer.from([21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 2, 40]));
  assert.equal(reasonOf(await r), 'closed');
});
