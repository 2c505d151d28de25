/**
 * Media session allocation benchmark: `node --import tsx bench/media-alloc.ts [concurrency...]` (default 1 100 1000).
 *
 * What the proxy does per call, and nothing else: allocate(1 m= section) → update(public) → update(pbx) →
 * release. For each concurrency C, C sessions stay live; every lifecycle allocates a new session, signals both
 * sides (each to its own remote, as real calls do) and releases the oldest live one.
 *
 * CPU µs/call is this process's user+system CPU over the measured lifecycles (after a warm-up), including the
 * asynchronous connect()/disconnect() work they cause (the run waits until it settles), divided by their count.
 *
 * Time is synthetic so the quarantine cycles at a realistic pace without sleeping: the clock advances
 * BENCH_MS_PER_CALL (default 1 ms) per lifecycle, with a quarantine of BENCH_QUARANTINE_MS (default 200 ms),
 * i.e. ~200 legs sit in quarantine at any time, as at 1000 calls/s with 200 ms or 50 calls/s with 4 s.
 * Ports: BENCH_PORT_MIN (default 50000) .. +9999 on 127.0.0.1. The run takes a few seconds.
 */
import type { Clock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/log.ts';
import { createMediaControl, type MediaControl, type MediaSessionHandle } from '../src/media/index.ts';
import { formatTable } from './lib/table.ts';

const PORT_MIN = Number(process.env.BENCH_PORT_MIN ?? 50000);
const MS_PER_CALL = Number(process.env.BENCH_MS_PER_CALL ?? 1);
const QUARANTINE_MS = Number(process.env.BENCH_QUARANTINE_MS ?? 200);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1000);
const MEASURED = Number(process.env.BENCH_CALLS ?? 4000);

let fakeNow = 0;
const clock: Clock = {
  now: () => fakeNow,
  wallNow: () => 1_700_000_000_000 + fakeNow,
  setTimer: (ms, fn) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

async function allocate(control: MediaControl, i: number): Promise<MediaSessionHandle> {
  const r = await control.allocate(`call-${i}`, 1);
  if (!r.ok) throw new Error(`allocate failed: ${r.error.code}`);
  return r.value;
}

async function lifecycles(control: MediaControl, live: MediaSessionHandle[], from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i++) {
    const h = await allocate(control, i);
    const u1 = control.update(h, 'public', 0, { address: '127.0.0.1', port: 30000 + (i % 1000) * 2 });
    const u2 = control.update(h, 'pbx', 0, { address: '127.0.0.1', port: 32000 + (i % 500) * 2, payloadTypes: [0, 8, 101] });
    if (!u1.ok || !u2.ok) throw new Error('update failed');
    live.push(h);
    const old = live.shift();
    if (old) control.release(old);
    fakeNow += MS_PER_CALL;
  }
}

async function run(concurrency: number): Promise<[number, number, number, number]> {
  const control = createMediaControl({
    publicAddress: '127.0.0.1',
    pbxAddress: '127.0.0.1',
    portMin: PORT_MIN,
    portMax: PORT_MIN + 9999,
    maxSessions: concurrency + 10,
    clock,
    logger: silentLogger,
    quarantineMs: QUARANTINE_MS,
  });
  const live: MediaSessionHandle[] = [];
  try {
    for (let i = 0; i < concurrency; i++) live.push(await allocate(control, i));
    await lifecycles(control, live, concurrency, WARMUP);
    for (let i = 0; i < 20; i++) await settle();
    const t0 = process.cpuUsage();
    const w0 = performance.now();
    await lifecycles(control, live, concurrency + WARMUP, MEASURED);
    for (let i = 0; i < 20; i++) await settle(); // the connects/disconnects the lifecycles started
    const cpu = process.cpuUsage(t0);
    const wallMs = performance.now() - w0;
    return [concurrency, (cpu.user + cpu.system) / MEASURED, (wallMs * 1000) / MEASURED, MEASURED];
  } finally {
    await control.close();
  }
}

const levels = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0);
const rows: [number, number, number, number][] = [];
for (const c of levels.length > 0 ? levels : [1, 100, 1000]) rows.push(await run(c));
console.log(`allocate + update + update + release, 1 m= section, quarantine ${QUARANTINE_MS} ms at ${MS_PER_CALL} ms/call`);
console.log(formatTable(['concurrent', 'CPU µs/call', 'wall µs/call', 'calls'], rows));
