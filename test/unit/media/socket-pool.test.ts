/**
 * Reuse of bound sockets between media sessions: quarantine, isolation of the old call from the new one,
 * the idle pool's bound, pre-binding, and close().
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../../../src/core/clock.ts';
import { silentLogger } from '../../../src/core/log.ts';
import {
  createMediaControl,
  IdleSocketPool,
  type MediaControl,
  type MediaControlOptions,
  type MediaSessionHandle,
} from '../../../src/media/index.ts';
import { bindPeer, type Peer, rtcpPacket, rtpPacket, sleep, testPortRange, until } from './helpers.ts';

/** Tries to bind 127.0.0.1:port; the error code, or 'ok' (the socket is closed either way). */
function bindError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    sock.once('error', (e: NodeJS.ErrnoException) => {
      sock.close();
      resolve(e.code ?? 'error');
    });
    sock.bind(port, '127.0.0.1', () => sock.close(() => resolve('ok')));
  });
}

function allPorts(h: MediaSessionHandle): number[] {
  return h.legs.flatMap((l) => [l.public.localPort, l.public.localRtcpPort, l.pbx.localPort, l.pbx.localRtcpPort]);
}

async function allocated(control: MediaControl, count = 1): Promise<MediaSessionHandle> {
  const r = await control.allocate('call', count);
  if (!r.ok) assert.fail(`allocate failed: ${r.error.code}`);
  return r.value;
}

/** A control on its own slice of this process's test port range (pairs = how many RTP/RTCP pairs). */
function newControl(offset: number, pairs: number, extra: Partial<MediaControlOptions> = {}): MediaControl {
  const { portMin } = testPortRange();
  return createMediaControl({
    publicAddress: '127.0.0.1',
    pbxAddress: '127.0.0.1',
    portMin: portMin + offset,
    portMax: portMin + offset + pairs * 2 - 1,
    maxSessions: 20,
    clock: new ManualClock(1000),
    logger: silentLogger,
    quarantineMs: 0,
    prebindLegs: 0,
    ...extra,
  });
}

describe('IdleSocketPool', () => {
  it('hands entries out FIFO, only after the quarantine, and refuses above its capacity', () => {
    const clock = new ManualClock(0);
    const pool = new IdleSocketPool<string>({ clock, quarantineMs: 100, capacity: 3 });
    assert.equal(pool.put('a'), true);
    clock.advance(10);
    assert.equal(pool.put('b'), true);
    assert.equal(pool.put('c'), true);
    assert.equal(pool.put('d'), false, 'above the high-water mark');
    assert.equal(pool.size, 3);
    assert.equal(pool.take(), undefined, 'quarantined');
    assert.equal(pool.countReady(3), 0);
    clock.advance(90);
    assert.equal(pool.countReady(3), 1);
    assert.equal(pool.take(), 'a');
    assert.equal(pool.take(), undefined, 'b is 10 ms younger');
    clock.advance(10);
    assert.equal(pool.countReady(1), 1, 'limit respected');
    assert.equal(pool.countReady(5), 2);
    assert.equal(pool.take(), 'b');
    assert.equal(pool.putFresh('e'), true);
    assert.equal(pool.take(), 'c');
    assert.equal(pool.take(), 'e', 'a fresh entry is ready at once');
    assert.equal(pool.size, 0);
    // wrap-around keeps order
    for (const x of ['f', 'g', 'h']) pool.putFresh(x);
    assert.deepEqual(pool.drain(), ['f', 'g', 'h']);
    assert.equal(pool.size, 0);
    assert.throws(() => new IdleSocketPool<string>({ clock, quarantineMs: 0, capacity: -1 }), RangeError);
  });

  it('shed() removes the oldest entry even in quarantine; setLimit() lowers the high-water mark', () => {
    const clock = new ManualClock(0);
    const pool = new IdleSocketPool<string>({ clock, quarantineMs: 100, capacity: 4 });
    pool.put('a');
    pool.put('b');
    pool.put('c');
    assert.equal(pool.shed(), 'a');
    pool.setLimit(1);
    assert.equal(pool.limit, 1);
    assert.equal(pool.put('d'), false, 'above the lowered mark');
    assert.equal(pool.size, 2, 'entries above the mark stay until taken or shed');
    pool.setLimit(99);
    assert.equal(pool.limit, 4, 'never above capacity');
    assert.equal(pool.put('d'), true);
    clock.advance(100);
    assert.deepEqual([pool.take(), pool.take(), pool.take(), pool.take()], ['b', 'c', 'd', undefined]);
    assert.equal(pool.shed(), undefined);
  });

  it('with capacity 0 keeps nothing', () => {
    const pool = new IdleSocketPool<number>({ clock: new ManualClock(0), quarantineMs: 0, capacity: 0 });
    assert.equal(pool.put(1), false);
    assert.equal(pool.putFresh(1), false);
    assert.equal(pool.take(), undefined);
    assert.equal(pool.countReady(4), 0);
  });
});

describe('media socket reuse', () => {
  it('a reused leg never delivers a packet of the previous session, and relays both ways for the new one', async () => {
    const clock = new ManualClock(1000);
    // One leg's worth of ports (2 pairs), so the second session must reuse the first one's sockets.
    const control = newControl(0, 2, { clock, quarantineMs: 4000 });
    const peers: Peer[] = [];
    const peer = async (): Promise<Peer> => {
      const p = await bindPeer();
      peers.push(p);
      return p;
    };
    try {
      const oldPhone = await peer();
      const oldPbx = await peer();
      const h1 = await allocated(control);
      const l1 = h1.legs[0];
      assert.ok(l1);
      control.update(h1, 'public', 0, { address: '127.0.0.1', port: oldPhone.port, rtcpMux: true });
      control.update(h1, 'pbx', 0, { address: '127.0.0.1', port: oldPbx.port, rtcpMux: true });
      await sleep(20);
      await oldPhone.send(rtpPacket(1), l1.public.localPort);
      await until(() => oldPbx.received.length === 1, 2000, 'first call relays');
      control.release(h1);

      // Quarantine: the old phone keeps sending; nothing is relayed, every packet is counted as idle.
      const idleBefore = control.stats().ports?.idleDropped ?? 0;
      for (let i = 0; i < 5; i++) await oldPhone.send(rtpPacket(10 + i), l1.public.localPort);
      await oldPbx.send(rtpPacket(20), l1.pbx.localPort);
      await until(() => (control.stats().ports?.idleDropped ?? 0) === idleBefore + 6, 2000, 'idle drops');
      assert.equal(control.stats().ports?.quarantined, 2, 'the leg waits out the quarantine');
      assert.equal(control.stats().ports?.pooled, 2);
      const early = await control.allocate('too-early', 1);
      assert.equal(early.ok ? 'ok' : early.error.code, 'MEDIA_NO_PORTS', 'quarantined ports are not reused');

      clock.advance(4000);
      const h2 = await allocated(control);
      assert.deepEqual(allPorts(h2), allPorts(h1), 'same ports: the pooled sockets were reused');
      const l2 = h2.legs[0];
      assert.ok(l2);

      // Before the new call signals anything, the old phone's packets are dropped as no_remote, in the new session's counters.
      await oldPhone.send(rtpPacket(30), l2.public.localPort);
      await until(() => control.stats(h2).fromPublic.dropped.no_remote === 1, 2000, 'no_remote drop after reuse');
      assert.equal(control.stats(h2).fromPublic.packetsOut, 0);

      const phone = await peer();
      const phoneRtcp = await peer();
      const pbx = await peer();
      const pbxRtcp = await peer();
      control.update(h2, 'public', 0, { address: '127.0.0.1', port: phone.port, rtcpPort: phoneRtcp.port });
      control.update(h2, 'pbx', 0, { address: '127.0.0.1', port: pbx.port, rtcpPort: pbxRtcp.port });
      await sleep(20);
      for (let i = 0; i < 5; i++) {
        await oldPhone.send(rtpPacket(40 + i), l2.public.localPort);
        await oldPbx.send(rtpPacket(50 + i), l2.pbx.localPort);
      }
      for (let i = 0; i < 3; i++) {
        await phone.send(rtpPacket(100 + i), l2.public.localPort);
        await pbx.send(rtpPacket(200 + i), l2.pbx.localPort);
      }
      await phoneRtcp.send(rtcpPacket(), l2.public.localRtcpPort);
      await pbxRtcp.send(rtcpPacket(), l2.pbx.localRtcpPort);
      await until(
        () => pbx.received.length === 3 && phone.received.length === 3 && pbxRtcp.received.length === 1 && phoneRtcp.received.length === 1,
        2000,
        'new call relays both ways',
      );
      await sleep(30);
      assert.deepEqual(
        pbx.received.map((r) => r.data.readUInt16BE(2)),
        [100, 101, 102],
        'only the new phone reaches the new PBX',
      );
      assert.deepEqual(
        phone.received.map((r) => r.data.readUInt16BE(2)),
        [200, 201, 202],
        'only the new PBX reaches the new phone',
      );
      assert.equal(oldPbx.received.length, 1, 'the old PBX got nothing after its call ended');
      assert.equal(oldPhone.received.length, 0);
      assert.equal(pbx.received[0]?.from.port, l2.pbx.localPort);
      const s2 = control.stats(h2);
      assert.equal(s2.fromPublic.packetsOut, 4, 'counters restarted with the new session');
      assert.equal(s2.fromPbx.packetsOut, 4);
      // Whole-control totals stay monotonic across reuse.
      assert.equal(control.stats().fromPublic.packetsOut, 5);
      control.release(h2);
    } finally {
      await control.close();
      await Promise.all(peers.map((p) => p.close()));
    }
  });

  it('keeps at most idleLegsMax legs bound; released legs above it are closed', async () => {
    const control = newControl(20, 8, { idleLegsMax: 2 });
    try {
      const hs = [await allocated(control), await allocated(control), await allocated(control), await allocated(control)];
      for (const h of hs) control.release(h);
      const ports = control.stats().ports;
      assert.equal(ports?.pooled, 4, '2 legs of 2 pairs');
      await until(() => control.stats().ports?.inUse === 0, 2000, 'closed legs return their ports');
      assert.equal(control.stats().ports?.free, 8);
      const results = await Promise.all(hs.map(async (h) => Promise.all(allPorts(h).map(bindError))));
      assert.deepEqual(
        results.map((r) => (r.every((c) => c === 'EADDRINUSE') ? 'pooled' : r.every((c) => c === 'ok') ? 'closed' : r.join())),
        ['pooled', 'pooled', 'closed', 'closed'],
      );
      // The pooled legs are reused first; the rest are bound again.
      const again = [await allocated(control), await allocated(control), await allocated(control)];
      assert.deepEqual(allPorts(again[0] as MediaSessionHandle), allPorts(hs[0] as MediaSessionHandle));
      assert.deepEqual(allPorts(again[1] as MediaSessionHandle), allPorts(hs[1] as MediaSessionHandle));
      assert.equal(control.stats().sessions, 3);
    } finally {
      await control.close();
    }
  });

  it('close() closes pooled and pre-bound sockets: every port can be bound by someone else afterwards', async () => {
    const control = newControl(40, 8, { prebindLegs: 2 });
    await until(() => control.stats().ports?.pooled === 4, 2000, 'pre-bound legs');
    const h = await allocated(control, 2); // both pre-bound legs
    const held = allPorts(h);
    assert.equal(control.stats().ports?.pooled, 0);
    control.release(h);
    const h2 = await allocated(control, 3); // two from the pool, one bound now
    assert.deepEqual(allPorts(h2).slice(0, 8), held);
    control.release(h2);
    const ports = allPorts(h2);
    assert.equal(control.stats().ports?.pooled, 6);
    assert.equal(await bindError(ports[0] as number), 'EADDRINUSE');
    await control.close();
    assert.equal(control.stats().ports?.pooled, 0);
    assert.equal(control.stats().ports?.inUse, 0);
    assert.deepEqual(
      await Promise.all(ports.map(bindError)),
      ports.map(() => 'ok'),
    );
    const late = await control.allocate('late', 1);
    assert.equal(late.ok ? 'ok' : late.error.code, 'MEDIA_CLOSED');
  });

  it('close() while pre-binding is still going leaves nothing bound', async () => {
    const control = newControl(60, 10, { prebindLegs: 5 });
    await control.close();
    const { portMin } = testPortRange();
    const ports = Array.from({ length: 20 }, (_, i) => portMin + 60 + i);
    assert.deepEqual(
      await Promise.all(ports.map(bindError)),
      ports.map(() => 'ok'),
    );
  });

  it('pre-binding stops at the port range and allocations wait for it instead of failing', async () => {
    const control = newControl(80, 5, { prebindLegs: 32 }); // room for 2 legs only
    try {
      const a = await allocated(control);
      const b = await allocated(control);
      const c = await control.allocate('third', 1);
      assert.equal(c.ok ? 'ok' : c.error.code, 'MEDIA_NO_PORTS');
      assert.notDeepEqual(allPorts(a), allPorts(b));
    } finally {
      await control.close();
    }
  });
});

describe('media socket reuse under a file descriptor limit', () => {
  it('out of file descriptors, idle legs are closed and the pool shrinks instead of calls failing', async () => {
    // A child process limited to 64 descriptors, filled up to 24 free ones (6 legs). A call every 200 ms with a 2 s
    // quarantine needs ~10 idle legs (40 sockets) before reuse starts: the bind that hits EMFILE must shed idle
    // legs and succeed.
    const { portMin } = testPortRange();
    const src = (rel: string): string => JSON.stringify(fileURLToPath(new URL(`../../../src/${rel}`, import.meta.url)));
    const script = `
      import { openSync, readdirSync } from 'node:fs';
      import { createMediaControl } from ${src('media/index.ts')};
      for (let n = readdirSync('/proc/self/fd').length; n < 64 - 24; n++) openSync('/dev/null', 'r');
      import { ManualClock } from ${src('core/clock.ts')};
      const warnings = [];
      const clock = new ManualClock(0);
      const logger = { debug() {}, info() {}, warn(f, m) { warnings.push(f.reason ? m + ' ' + f.reason : m); }, error() {}, child() { return logger; } };
      const control = createMediaControl({
        publicAddress: '127.0.0.1', pbxAddress: '127.0.0.1', portMin: ${portMin + 100}, portMax: ${portMin + 199},
        maxSessions: 10, clock, logger, quarantineMs: 2000, prebindLegs: 0,
      });
      let ok = 0, failed = 0;
      const codes = [];
      for (let i = 0; i < 40; i++) {
        const r = await control.allocate('c', 1);
        if (r.ok) { ok++; control.release(r.value); } else { failed++; codes.push(r.error.code); }
        clock.advance(200);
      }
      const ports = control.stats().ports;
      await control.close();
      console.log(JSON.stringify({ ok, failed, codes, pooled: ports.pooled, warnings }));
    `;
    const dir = await mkdtemp(join(tmpdir(), 'palisade-media-fd-'));
    try {
      const file = join(dir, 'child.mjs');
      await writeFile(file, script);
      const child = spawn('sh', ['-c', 'ulimit -n 64 && exec "$0" --import tsx "$1"', process.execPath, file], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let errOut = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
      });
      child.stderr.on('data', (b: Buffer) => {
        errOut += b.toString();
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      clearTimeout(timer);
      assert.equal(code, 0, errOut);
      const r = JSON.parse(out) as { ok: number; failed: number; codes: string[]; pooled: number; warnings: string[] };
      assert.equal(r.failed, 0, `no call lost to EMFILE: ${r.codes.join()} ${r.warnings.join()}`);
      assert.equal(r.ok, 40);
      assert.ok(r.warnings.includes('out of file descriptors: idle media pool shrunk'), r.warnings.join());
      assert.ok(r.warnings.includes('media port bind failed EMFILE'), r.warnings.join());
      assert.ok(r.pooled < 40, `idle pool limited (${r.pooled} pairs)`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
