/**
 * Hostile input at every listener of a running daemon (child process): random and mutated datagrams,
 * truncated and oversize messages, header floods, connections that stall (slowloris) or close mid-message,
 * TLS handshakes stopped halfway, WebSocket garbage and invalid framing. Afterwards every transport still
 * answers a valid OPTIONS, the process is alive, and the parse-error metric counted the garbage.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { getFreePort } from './harness/proc.ts';
import {
  type ChildDaemon,
  eventually,
  INSIDE_IP,
  mediaRangeYaml,
  PBX_IP,
  PUBLIC_IP,
  portOf,
  startChild,
  type TempDir,
  tempDir,
} from './helpers/daemon.ts';
import { type ScriptedPbx, scriptedPbx } from './helpers/pbx.ts';
import { streamPeer, udpPeer, wsPeer } from './helpers/peers.ts';
import { captureClientHello, type RawConn, rawTcp, rawTls, rawWssUpgrade, scrapeSum, sendDatagrams, wsFrame } from './helpers/raw.ts';
import { branch, isResponse, request } from './helpers/sip-text.ts';

const SEED = 20261129;
const MAX_MESSAGE_BYTES = 16384;
const FIRST_MESSAGE_TIMEOUT_MS = 1000;
/** Server-side close of a stalled connection: the timeout plus scheduling slack on a loaded machine. */
const CLOSE_BOUND_MS = FIRST_MESSAGE_TIMEOUT_MS + 3000;
const PARSE_ERRORS = 'palisade_sip_parse_errors_total';

let dir: TempDir;
let pbx: ScriptedPbx;
let child: ChildDaemon;
let metricsPort = 0;
const ports = { udp: 0, tcp: 0, tls: 0, wss: 0, pbx: 0 };
let parseErrorsBefore = 0;

before(async () => {
  dir = tempDir('garbage');
  pbx = await scriptedPbx(PBX_IP);
  metricsPort = await getFreePort('tcp');
  const configPath = join(dir.path, 'palisade.yaml');
  writeFileSync(
    configPath,
    `
node: { dataDir: ${JSON.stringify(join(dir.path, 'data'))} }
listeners:
  - { id: udp, transport: udp, address: ${PUBLIC_IP}, port: 0 }
  - { id: tcp, transport: tcp, address: ${PUBLIC_IP}, port: 0 }
  - { id: tls, transport: tls, address: ${PUBLIC_IP}, port: 0 }
  - { id: wss, transport: wss, address: ${PUBLIC_IP}, port: 0 }
pbx:
  listen: { transport: udp, address: ${INSIDE_IP}, port: 0 }
  targets: [{ name: pbx1, host: ${PBX_IP}, port: ${pbx.port} }]
  probe: { intervalMs: 1000, timeoutMs: 500 }
limits:
  sip: { maxMessageBytes: ${MAX_MESSAGE_BYTES} }
  connections: { perSource: 500, firstMessageTimeoutMs: ${FIRST_MESSAGE_TIMEOUT_MS} }
shutdown: { drainMs: 500 }
metrics: { enabled: true, address: ${PUBLIC_IP}, port: ${metricsPort} }
logging: { level: silent }
${mediaRangeYaml()}
auth: { mode: pbx }
# The garbage must reach the framers and the parser: no bans or flood limits in this test (they have their own).
security: { bans: { enabled: false }, flood: { enabled: false } }
`,
  );
  child = await startChild(configPath, join(dir.path, 'data', 'palisade.sock'));
  const s = await child.status();
  for (const id of Object.keys(ports) as Array<keyof typeof ports>) ports[id] = portOf(s, id);
});

after(async () => {
  if (child?.proc.isRunning()) await child.stop('SIGTERM', 3000);
  await pbx?.close();
  dir?.remove();
});

function options(via: string, uri = `sip:${PUBLIC_IP}`): string {
  return request({
    method: 'OPTIONS',
    uri,
    via,
    branch: branch('gopt'),
    from: `<sip:probe@${PUBLIC_IP}>;tag=probe`,
    to: `<${uri}>`,
    callId: `gopt-${Math.random().toString(36).slice(2)}`,
    cseq: 1,
  });
}

/** A valid OPTIONS to Palisade itself on every transport (and from the PBX on the PBX-facing listener) gets 200. */
async function assertAllTransportsAnswer(): Promise<void> {
  const u = await udpPeer(PUBLIC_IP);
  try {
    u.send(options(`SIP/2.0/UDP ${PUBLIC_IP}:${u.port}`), ports.udp, PUBLIC_IP);
    await u.inbox.next((m) => isResponse(m, 200, 'OPTIONS'), 3000, 'UDP 200');
  } finally {
    await u.close();
  }
  for (const kind of ['tcp', 'tls'] as const) {
    const p = await streamPeer(kind, PUBLIC_IP, ports[kind]);
    try {
      p.send(options(`SIP/2.0/${kind.toUpperCase()} ${PUBLIC_IP}:${p.localPort}`));
      await p.inbox.next((m) => isResponse(m, 200, 'OPTIONS'), 3000, `${kind} 200`);
    } finally {
      await p.close();
    }
  }
  const w = await wsPeer(`wss://${PUBLIC_IP}:${ports.wss}/`);
  try {
    w.send(options('SIP/2.0/WSS probe.invalid'));
    await w.inbox.next((m) => isResponse(m, 200, 'OPTIONS'), 3000, 'WSS 200');
  } finally {
    await w.close();
  }
  pbx.peer.send(options(`SIP/2.0/UDP ${PBX_IP}:${pbx.port}`, `sip:${INSIDE_IP}:${ports.pbx}`), ports.pbx, INSIDE_IP);
  await pbx.peer.inbox.next((m) => isResponse(m, 200, 'OPTIONS') && m.includes('gopt-'), 3000, 'PBX-side 200');
}

const VALID = Buffer.from(options(`SIP/2.0/TCP ${PUBLIC_IP}:5999`), 'latin1');

/** Random byte strings, reproducible from SEED. */
function randomChunks(n: number, maxLength: number, seed: number): Buffer[] {
  return fc.sample(fc.uint8Array({ minLength: 1, maxLength }), { numRuns: n, seed }).map((a) => Buffer.from(a));
}

/** A valid message with a few bytes overwritten (mostly in the start line and headers). */
function mutated(n: number, seed: number): Buffer[] {
  const edits = fc.array(fc.tuple(fc.nat({ max: VALID.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 });
  return fc.sample(edits, { numRuns: n, seed }).map((list) => {
    const b = Buffer.from(VALID);
    for (const [i, v] of list) b[i] = v;
    return b;
  });
}

function truncations(step: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 1; i < VALID.length; i += step) out.push(VALID.subarray(0, i));
  return out;
}

function headerFlood(count: number): Buffer {
  const lines = [`OPTIONS sip:${PUBLIC_IP} SIP/2.0`, `Via: SIP/2.0/UDP ${PUBLIC_IP}:5999;branch=z9hG4bK-flood`];
  for (let i = 0; i < count; i++) lines.push(`X-F${i}: ${i}`);
  lines.push(
    'Call-ID: flood',
    'CSeq: 1 OPTIONS',
    `From: <sip:f@${PUBLIC_IP}>;tag=f`,
    `To: <sip:${PUBLIC_IP}>`,
    'Content-Length: 0',
    '',
    '',
  );
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

async function assertClosedByServer(c: RawConn, what: string, boundMs = CLOSE_BOUND_MS): Promise<number> {
  const t = setTimeout(() => c.destroy(), boundMs + 500);
  const ms = await c.closed;
  clearTimeout(t);
  assert.ok(ms <= boundMs, `${what}: the server did not close the connection within ${boundMs} ms (took ${ms})`);
  return ms;
}

describe('garbage at every listener', { timeout: 90_000 }, () => {
  it('baseline: every transport answers OPTIONS; metrics are served', async () => {
    await assertAllTransportsAnswer();
    parseErrorsBefore = await scrapeSum(metricsPort, PARSE_ERRORS);
  });

  it('UDP (public and PBX-facing): random, mutated, truncated, oversize and header-flood datagrams', async () => {
    const datagrams = [
      ...randomChunks(150, 1400, SEED),
      ...mutated(100, SEED + 1),
      ...truncations(17),
      Buffer.alloc(MAX_MESSAGE_BYTES + 4000, 0x41),
      Buffer.concat([Buffer.from('INVITE sip:x SIP/2.0\r\n'), randomBytes(30000)]),
      headerFlood(1000),
      Buffer.from('\r\n\r\n'),
      Buffer.alloc(0),
    ];
    await sendDatagrams(PUBLIC_IP, ports.udp, datagrams);
    await sendDatagrams(INSIDE_IP, ports.pbx, datagrams.slice(0, 120));
    assert.ok(child.proc.isRunning());
  });

  it('TCP: garbage, oversize, header flood, mid-message closes and slowloris', async (t) => {
    const host = PUBLIC_IP;
    const port = ports.tcp;
    // Closing mid-message, many times over.
    for (const chunk of [...randomChunks(20, 3000, SEED + 2), ...truncations(40)]) {
      const c = await rawTcp(host, port);
      c.write(chunk);
      c.destroy();
    }
    // One connection carrying a stream of mutated and truncated-then-completed messages.
    const stream = await rawTcp(host, port);
    for (const m of mutated(40, SEED + 3)) stream.write(m);
    stream.write(headerFlood(1000));
    // A header section that never ends, larger than the cap: the server must drop the connection.
    const oversize = await rawTcp(host, port);
    oversize.write(Buffer.concat([Buffer.from(`OPTIONS sip:${host} SIP/2.0\r\n`), Buffer.alloc(MAX_MESSAGE_BYTES + 1000, 0x61)]));
    // A declared body far larger than allowed.
    const bigBody = await rawTcp(host, port);
    bigBody.write(VALID.toString('latin1').replace('Content-Length: 0', 'Content-Length: 900000'));
    bigBody.write(randomBytes(4096));
    // Slowloris: part of a message, then nothing; and one that trickles a byte at a time.
    const stalled = await Promise.all([1, 2, 3, 4, 5].map(() => rawTcp(host, port)));
    for (const s of stalled) s.write(VALID.subarray(0, 40));
    const trickle = await rawTcp(host, port);
    let i = 0;
    const tick = setInterval(() => trickle.write(VALID.subarray(i, ++i)), 200);
    try {
      await assertClosedByServer(oversize, 'oversize header section', 2000);
      await assertClosedByServer(bigBody, 'Content-Length above the cap', 2000);
      const times = await Promise.all(stalled.map((s) => assertClosedByServer(s, 'stalled TCP connection')));
      await assertClosedByServer(trickle, 'trickling TCP connection');
      assert.ok(Math.min(...times) >= FIRST_MESSAGE_TIMEOUT_MS - 100, `closed too early: ${times.join(', ')} ms`);
      t.diagnostic(`stalled TCP connections closed by the server after ${times.join(', ')} ms`);
    } finally {
      clearInterval(tick);
      stream.destroy();
    }
  });

  it('TLS: handshakes stopped halfway, non-TLS bytes, garbage after the handshake, slowloris', async () => {
    const host = PUBLIC_IP;
    const port = ports.tls;
    const hello = await captureClientHello();
    const halfHello = await rawTcp(host, port);
    halfHello.write(hello.subarray(0, Math.floor(hello.length / 2)));
    const wholeHelloThenSilence = await rawTcp(host, port);
    wholeHelloThenSilence.write(hello);
    const notTls = await rawTcp(host, port);
    notTls.write(randomBytes(600));
    const notTls2 = await rawTcp(host, port);
    notTls2.write(VALID);
    // Inside TLS: garbage, then closing mid-message.
    for (const chunk of randomChunks(8, 3000, SEED + 4)) {
      const c = await rawTls(host, port);
      c.write(chunk);
      c.destroy();
    }
    const tlsStream = await rawTls(host, port);
    for (const m of mutated(20, SEED + 5)) tlsStream.write(m);
    tlsStream.write(headerFlood(1000));
    const tlsStalled = await rawTls(host, port);
    tlsStalled.write(VALID.subarray(0, 30));
    try {
      await assertClosedByServer(notTls, 'random bytes on the TLS port', 2000);
      await assertClosedByServer(notTls2, 'plain SIP on the TLS port', 2000);
      await assertClosedByServer(halfHello, 'half a ClientHello');
      await assertClosedByServer(wholeHelloThenSilence, 'ClientHello then silence');
      await assertClosedByServer(tlsStalled, 'stalled TLS connection');
    } finally {
      tlsStream.destroy();
    }
  });

  it('WSS: garbage frames keep the connection usable; invalid framing, oversize frames and bad upgrades are closed', async () => {
    const host = PUBLIC_IP;
    const port = ports.wss;
    // Garbage inside well-formed frames: one SIP message per frame (RFC 7118), each garbage frame is dropped alone.
    const w = await wsPeer(`wss://${host}:${port}/`);
    try {
      for (const chunk of randomChunks(40, 2000, SEED + 6)) w.ws.send(chunk);
      for (const m of mutated(20, SEED + 7)) w.ws.send(m.toString('latin1'));
      for (const t of truncations(60)) w.ws.send(t.toString('latin1'));
      w.ws.send(headerFlood(1000).toString('latin1'));
      w.send(options('SIP/2.0/WSS garbage.invalid'));
      await w.inbox.next((m) => isResponse(m, 200, 'OPTIONS'), 3000, '200 after garbage frames on the same websocket');
    } finally {
      await w.close();
    }
    // Protocol violations: each must cost the peer its connection.
    const violations: Array<[string, Buffer]> = [
      ['unmasked client frame', wsFrame(Buffer.from('OPTIONS'), { mask: false })],
      ['reserved opcode', wsFrame(randomBytes(10), { opcode: 0x3 })],
      ['invalid UTF-8 in a text frame', wsFrame(Buffer.from([0xc3, 0x28, 0xff, 0xfe]), { opcode: 0x1 })],
      ['oversize frame', wsFrame(randomBytes(MAX_MESSAGE_BYTES + 4000))],
      ['random bytes instead of frames', randomBytes(300)],
    ];
    const conns = await Promise.all(violations.map(() => rawWssUpgrade(host, port)));
    violations.forEach(([, bytes], k) => {
      conns[k]?.write(bytes);
    });
    await Promise.all(conns.map((c, k) => assertClosedByServer(c, violations[k]?.[0] ?? '?', 2000)));
    // Upgrades Palisade must refuse, and a half-sent upgrade.
    const noSip = await rawTls(host, port);
    noSip.write(
      `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const junkHttp = await rawTls(host, port);
    junkHttp.write(randomBytes(500));
    const halfUpgrade = await rawTls(host, port);
    halfUpgrade.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
    await assertClosedByServer(noSip, 'upgrade without the sip subprotocol', 2000);
    assert.match(noSip.received.toString('latin1'), /^HTTP\/1\.1 400 /);
    await assertClosedByServer(junkHttp, 'random bytes instead of HTTP', 2000);
    await assertClosedByServer(halfUpgrade, 'half-sent upgrade');
  });

  it('afterwards: every transport still answers, the process is alive, parse errors were counted', async (t) => {
    await assertAllTransportsAnswer();
    assert.ok(child.proc.isRunning(), 'daemon process alive');
    const s = await child.status();
    assert.equal(s.pbx[0]?.up, true, 'PBX probing still works');
    let open = -1;
    const drained = await eventually(async () => {
      open = (await child.status()).counters.connectionsOpen ?? -1;
      return open === 0;
    }, 3000);
    assert.ok(drained, `stream connections still open after every client left: ${open}`);
    const after = await scrapeSum(metricsPort, PARSE_ERRORS);
    assert.ok(after - parseErrorsBefore >= 100, `parse errors counted: before ${parseErrorsBefore}, after ${after}`);
    t.diagnostic(`${PARSE_ERRORS}: ${parseErrorsBefore} before, ${after} after`);
    assert.doesNotMatch(child.proc.stderr.toString(), /uncaught|unhandled/i);
  });

  // Runs last: when it fails, the daemon is wedged for good (the child is SIGKILLed by `after`).
  it('INVITEs whose SDP names addresses the relay cannot connect to do not stall the daemon', async () => {
    const phone = await udpPeer(PUBLIC_IP);
    try {
      // connect() on a relay socket bound to 127.0.0.1 fails with EINVAL for the first two (and with EACCES for
      // 255.255.255.255 on a 0.0.0.0 socket): a retry loop on that error would starve the event loop.
      const hostile = ['198.51.100.7', '255.255.255.255', '224.0.0.1', '0.0.0.0'];
      hostile.forEach((ip, k) => {
        phone.send(
          request({
            method: 'INVITE',
            uri: `sip:100@${PUBLIC_IP}`,
            via: `SIP/2.0/UDP ${PUBLIC_IP}:${phone.port}`,
            branch: branch('sdpinv'),
            from: `<sip:eve@${PUBLIC_IP}>;tag=sdp${k}`,
            to: `<sip:100@${PUBLIC_IP}>`,
            callId: `sdp-${k}@hostile`,
            cseq: 1,
            contact: `<sip:eve@${PUBLIC_IP}:${phone.port}>`,
            body: `v=0\r\no=- 1 1 IN IP4 ${ip}\r\ns=-\r\nc=IN IP4 ${ip}\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`,
          }),
          ports.udp,
          PUBLIC_IP,
        );
      });
      await new Promise((r) => setTimeout(r, 500)); // let the relay see the SDP endpoints
      phone.send(options(`SIP/2.0/UDP ${PUBLIC_IP}:${phone.port}`), ports.udp, PUBLIC_IP);
      await phone.inbox.next((m) => isResponse(m, 200, 'OPTIONS'), 3000, '200 to OPTIONS after the hostile SDP');
      const s = await child.status();
      assert.ok(s.uptimeSeconds >= 0, 'admin API still answers');
    } finally {
      await phone.close();
    }
  });
});
