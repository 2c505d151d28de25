/**
 * RTP relay benchmark: `node --import tsx bench/rtp-relay.ts [sessions...]` (default 1 100 1000).
 * Modes (BENCH_MODES, default `plain,srtp-rtp,rtp-srtp`): plain RTP both ways; SRTP from the phone decrypted to
 * RTP toward the PBX (SDES keys, AES_CM_128_HMAC_SHA1_80); RTP from the PBX encrypted toward the (latched) phone.
 * The load generator protects its SRTP with the project's own context (a fraction of its send cost).
 *
 * Three processes: this orchestrator, the relay (MediaControl as the proxy would drive it) and a load
 * generator. Every session has its own phone socket and PBX socket in the load generator, connected to the
 * session's relay ports, so the relay sees exactly what it would see in production: one symmetric RTP stream
 * each way per session, 172-byte packets (G.711, 20 ms).
 *
 * Phases per session count:
 *   nominal   offered load 50 pps per stream each way (N × 100 pps), open loop
 *   saturated closed loop with a bounded in-flight window: the most the relay forwards
 *   latency   open loop at half the saturated rate; one-way time through the relay (send → receive)
 * CPU µs/pkt is the relay process's user+system CPU over the phase divided by the packets it relayed.
 * "added" latency subtracts a direct loopback baseline measured by the same load generator.
 * The run is bounded: phases are BENCH_PHASE_MS (default 1500) and the whole run is killed after 60 s.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/log.ts';
import { createMediaControl, type MediaSessionHandle } from '../src/media/index.ts';
import { createSrtpContext, type SrtpContext } from '../src/media/srtp/index.ts';

type Mode = 'plain' | 'srtp-rtp' | 'rtp-srtp';
const MODES: Mode[] = (process.env.BENCH_MODES ?? 'plain,srtp-rtp,rtp-srtp')
  .split(',')
  .filter((m): m is Mode => m === 'plain' || m === 'srtp-rtp' || m === 'rtp-srtp');
/** Bench-only keys (not secrets): phone → relay, relay → phone. */
const PHONE_KEY = { masterKey: Buffer.alloc(16, 0x11), masterSalt: Buffer.alloc(14, 0x22) };
const RELAY_KEY = { masterKey: Buffer.alloc(16, 0x33), masterSalt: Buffer.alloc(14, 0x44) };
const PROFILE = 'AES_CM_128_HMAC_SHA1_80' as const;

const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 1500);
const TOTAL_LIMIT_MS = 150_000;
const PACKET_BYTES = 172;
const PORT_MIN = Number(process.env.BENCH_PORT_MIN ?? 36000);
const PORT_MAX = PORT_MIN + 9999;

interface Request {
  id: number;
  cmd: string;
  args?: unknown;
}
interface Reply {
  id: number;
  result?: unknown;
  error?: string;
}
interface LegPorts {
  pub: number;
  pbx: number;
}
interface Endpoints {
  phone: number;
  pbx: number;
}
interface RelaySnapshot {
  cpuUs: number;
  relayed: number;
  dropped: number;
}
interface RunResult {
  sent: number;
  received: number;
  ms: number;
  cpuUs: number;
  p50: number;
  p99: number;
}

// ------------------------------------------------------------------------------------------- child plumbing

function serve(handlers: Record<string, (args: unknown) => Promise<unknown>>): void {
  process.on('message', (m: Request) => {
    const h = handlers[m.cmd];
    if (!h) {
      process.send?.({ id: m.id, error: `unknown command ${m.cmd}` } satisfies Reply);
      return;
    }
    h(m.args).then(
      (result) => process.send?.({ id: m.id, result } satisfies Reply),
      (e: unknown) => process.send?.({ id: m.id, error: String(e) } satisfies Reply),
    );
  });
  process.on('disconnect', () => process.exit(0));
}

class Child {
  private seq = 0;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  readonly proc: ChildProcess;

  constructor(role: string) {
    // BENCH_PROFILE_DIR: a V8 CPU profile of the relay process (inspect hot spots with DevTools or speedscope).
    const prof = role === 'relay' && process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
    this.proc = fork(fileURLToPath(import.meta.url), [role], { execArgv: ['--import', 'tsx', ...prof], stdio: 'inherit' });
    this.proc.on('message', (r: Reply) => {
      this.waiting.get(r.id)?.(r);
      this.waiting.delete(r.id);
    });
  }

  call<T>(cmd: string, args?: unknown): Promise<T> {
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, (r) => (r.error ? reject(new Error(r.error)) : resolve(r.result as T)));
      this.proc.send({ id, cmd, args } satisfies Request);
    });
  }

  /** SIGTERM (the child exits at once, writing its CPU profile when asked for one), SIGKILL if it lingers. */
  kill(): void {
    if (this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    setTimeout(() => {
      if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
    }, 2000).unref();
  }
}

// ------------------------------------------------------------------------------------------- relay process

/**
 * BENCH_BARE=1: the floor on this machine — the least a Node relay can do per packet (two connected sockets per
 * stream, 'message' → send(msg), no checks, no counters). Plain mode only; compare its CPU µs/pkt with the real one.
 */
function bareRelayMain(): void {
  let socks: Socket[] = [];
  let relayed = 0;
  let next = PORT_MIN;
  const bind = (): Promise<Socket> =>
    new Promise((resolve) => {
      const s = createSocket('udp4');
      s.on('error', () => {});
      s.bind(next, '127.0.0.1', () => resolve(s));
      next += 2;
    });
  serve({
    async alloc(args) {
      const { n } = args as { n: number };
      const legs: LegPorts[] = [];
      for (let i = 0; i < n; i++) {
        const a = await bind();
        const b = await bind();
        a.on('message', (m) => {
          b.send(m);
          relayed++;
        });
        b.on('message', (m) => {
          a.send(m);
          relayed++;
        });
        socks.push(a, b);
        legs.push({ pub: a.address().port, pbx: b.address().port });
      }
      return legs;
    },
    async update(args) {
      const eps = args as Endpoints[];
      await Promise.all(
        eps.flatMap((e, i) => [
          new Promise<void>((r) => socks[2 * i]?.connect(e.phone, '127.0.0.1', () => r())),
          new Promise<void>((r) => socks[2 * i + 1]?.connect(e.pbx, '127.0.0.1', () => r())),
        ]),
      );
      return true;
    },
    async snapshot() {
      const cpu = process.cpuUsage();
      return { cpuUs: cpu.user + cpu.system, relayed, dropped: 0 } satisfies RelaySnapshot;
    },
    async releaseAll() {
      await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
      socks = [];
      next = PORT_MIN;
      return true;
    },
  });
}

function relayMain(): void {
  if (process.env.BENCH_BARE === '1') return bareRelayMain();
  const control = createMediaControl({
    publicAddress: '127.0.0.1',
    pbxAddress: '127.0.0.1',
    portMin: PORT_MIN,
    portMax: PORT_MAX,
    maxSessions: 2000,
    clock: systemClock,
    logger: silentLogger,
    quarantineMs: 0,
    maxPacketRate: 0, // the bench drives single streams far above any real call's rate
  });
  let handles: MediaSessionHandle[] = [];
  serve({
    async alloc(args) {
      const { n, mode } = args as { n: number; mode: Mode };
      const legs: LegPorts[] = [];
      for (let i = 0; i < n; i++) {
        const r = await control.allocate(`bench-${i}`, 1);
        if (!r.ok) throw new Error(`allocate ${i}: ${r.error.code}`);
        if (mode !== 'plain') {
          const sec = control.secure(r.value, 0, { sdes: { profile: PROFILE, rx: PHONE_KEY, tx: RELAY_KEY } });
          if (!sec.ok) throw new Error(`secure ${i}: ${sec.error.code}`);
        }
        handles.push(r.value);
        const l = r.value.legs[0];
        if (!l) throw new Error('no leg');
        legs.push({ pub: l.public.localPort, pbx: l.pbx.localPort });
      }
      return legs;
    },
    async update(args) {
      const eps = args as Endpoints[];
      eps.forEach((e, i) => {
        const h = handles[i];
        if (!h) return;
        control.update(h, 'public', 0, { address: '127.0.0.1', port: e.phone, rtcpMux: true });
        control.update(h, 'pbx', 0, { address: '127.0.0.1', port: e.pbx, rtcpMux: true });
      });
      await new Promise((r) => setTimeout(r, 50));
      return true;
    },
    async snapshot() {
      const s = control.stats();
      const cpu = process.cpuUsage();
      const d = (t: typeof s.fromPublic): number =>
        t.dropped.malformed +
        t.dropped.payload_type +
        t.dropped.no_remote +
        t.dropped.send_error +
        t.dropped.unexpected_source +
        t.dropped.auth_failed +
        t.dropped.rate_limited;
      return {
        cpuUs: cpu.user + cpu.system,
        relayed: s.fromPublic.packetsOut + s.fromPbx.packetsOut,
        dropped: d(s.fromPublic) + d(s.fromPbx),
      } satisfies RelaySnapshot;
    },
    async releaseAll() {
      for (const h of handles) control.release(h);
      handles = [];
      while ((control.stats().ports?.inUse ?? 0) > 0) await new Promise((r) => setTimeout(r, 10));
      return true;
    },
  });
}

// ------------------------------------------------------------------------------------------- load generator

function loadMain(): void {
  let sockets: Socket[] = []; // per session: [phone, pbx]
  /** The sockets that send in this mode (all, phones only, or PBXs only). */
  let senders: Socket[] = [];
  let mode: Mode = 'plain';
  /** SSRC per sending socket (distinct streams for the SRTP context). */
  const ssrcOf = new Map<Socket, number>();
  const phones = new Set<Socket>();
  let srtp: SrtpContext | undefined;
  let received = 0;
  let collect = false;
  const LAT_MAX = 400_000;
  const lat = new Float64Array(LAT_MAX);
  let latN = 0;

  // The send time travels in the RTP timestamp field (µs, mod 2^32): SRTP leaves the header in clear.
  const nowUs = (): number => Math.floor(performance.now() * 1000) >>> 0;
  const onMessage = (msg: Buffer): void => {
    received++;
    if (collect && latN < LAT_MAX && msg.length >= 12) lat[latN++] = ((nowUs() - msg.readUInt32BE(4)) >>> 0) / 1000;
  };

  /** Next sequence number per sending socket: SRTP refuses a repeated index (replay). */
  const seqOf = new Map<Socket, number>();
  function packet(s: Socket): Buffer {
    const seq = seqOf.get(s) ?? 0;
    seqOf.set(s, seq + 1);
    const b = Buffer.allocUnsafe(PACKET_BYTES);
    b[0] = 0x80;
    b[1] = 0;
    b.writeUInt16BE(seq & 0xffff, 2);
    b.writeUInt32BE(nowUs(), 4);
    b.writeUInt32BE(ssrcOf.get(s) ?? 0x0badcafe, 8);
    if (srtp === undefined || !phones.has(s)) return b;
    const out = Buffer.allocUnsafe(PACKET_BYTES + 16);
    const n = srtp.protect(b, out);
    return n > 0 ? out.subarray(0, n) : b;
  }

  function bindConnected(remotePort: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = createSocket('udp4');
      s.on('error', () => {});
      s.on('message', onMessage);
      s.bind(0, '127.0.0.1', () => {
        s.connect(remotePort, '127.0.0.1', (e?: Error) => (e ? reject(e) : resolve(s)));
      });
    });
  }

  function percentile(p: number): number {
    if (latN === 0) return Number.NaN;
    const sorted = lat.subarray(0, latN).sort();
    return sorted[Math.min(latN - 1, Math.floor((p / 100) * latN))] as number;
  }

  /** mode 'rate': open loop at `rate` pps; 'sat': closed loop, at most `window` packets in flight. */
  function run(mode: 'rate' | 'sat', rate: number, ms: number, withLatency: boolean, pool: Socket[]): Promise<RunResult> {
    return new Promise((resolve) => {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const r0 = received;
      let sent = 0;
      let next = 0;
      let settled = 0;
      // Closed loop: a packet sent more than LOSS_MS ago has either arrived or is lost, so losses never
      // close the window for good. Ring of (time, packets sent by then) per tick.
      const LOSS_MS = 30;
      const RING = 8192;
      const ringT = new Float64Array(RING);
      const ringSent = new Float64Array(RING);
      let ringHead = 0;
      let ringLen = 0;
      const WINDOW = Number(process.env.BENCH_WINDOW ?? 1024);
      collect = withLatency;
      latN = 0;
      const tick = (): void => {
        const now = performance.now();
        const elapsed = now - t0;
        if (elapsed >= ms) {
          collect = false;
          // let in-flight packets land before counting
          setTimeout(() => {
            const c = process.cpuUsage(cpu0);
            resolve({
              sent,
              received: received - r0,
              ms: elapsed,
              cpuUs: c.user + c.system,
              p50: percentile(50),
              p99: percentile(99),
            });
          }, 50);
          return;
        }
        let budget: number;
        if (mode === 'rate') {
          budget = Math.floor((rate * elapsed) / 1000) - sent;
        } else {
          while (ringLen > 0 && (ringT[ringHead] as number) < now - LOSS_MS) {
            settled = ringSent[ringHead] as number;
            ringHead = (ringHead + 1) % RING;
            ringLen--;
          }
          const done = Math.max(received - r0, settled);
          budget = WINDOW - (sent - done);
        }
        if (budget > 256) budget = 256;
        for (let i = 0; i < budget; i++) {
          const s = pool[next] as Socket;
          next = next + 1 === pool.length ? 0 : next + 1;
          s.send(packet(s));
          sent++;
        }
        if (mode === 'sat' && budget > 0 && ringLen < RING) {
          ringT[(ringHead + ringLen) % RING] = now;
          ringSent[(ringHead + ringLen) % RING] = sent;
          ringLen++;
        }
        if (mode === 'rate') setTimeout(tick, 1);
        else setImmediate(tick);
      };
      tick();
    });
  }

  serve({
    async open(args) {
      const { legs, mode: m } = args as { legs: LegPorts[]; mode: Mode };
      mode = m;
      sockets = [];
      senders = [];
      phones.clear();
      ssrcOf.clear();
      seqOf.clear();
      srtp = mode === 'plain' ? undefined : createSrtpContext({ profile: PROFILE, ...PHONE_KEY, maxStreams: 4096 });
      const eps: Endpoints[] = [];
      for (const l of legs) {
        const phone = await bindConnected(l.pub);
        const pbx = await bindConnected(l.pbx);
        sockets.push(phone, pbx);
        phones.add(phone);
        ssrcOf.set(phone, 0x10000 + ssrcOf.size);
        ssrcOf.set(pbx, 0x10000 + ssrcOf.size);
        if (mode !== 'rtp-srtp') senders.push(phone);
        if (mode !== 'srtp-rtp') senders.push(pbx);
        eps.push({ phone: phone.address().port, pbx: pbx.address().port });
      }
      return eps;
    },
    async latch() {
      // One authenticated packet per phone: the relay learns where to send the PBX's media.
      for (const s of phones) s.send(packet(s));
      await new Promise((r) => setTimeout(r, 100));
      return true;
    },
    async run(args) {
      const a = args as { mode: 'rate' | 'sat'; rate: number; ms: number; latency: boolean };
      return run(a.mode, a.rate, a.ms, a.latency, senders);
    },
    async baseline(args) {
      // Direct loopback A → B without the relay: what the load generator and kernel add by themselves.
      const rate = args as number;
      const b = createSocket('udp4');
      await new Promise<void>((r) => b.bind(0, '127.0.0.1', () => r()));
      b.on('message', onMessage);
      const a = await bindConnected(b.address().port);
      const r = await run('rate', rate, 500, true, [a]);
      await Promise.all([a, b].map((s) => new Promise<void>((res) => s.close(() => res()))));
      return r;
    },
    async closeAll() {
      await Promise.all(sockets.map((s) => new Promise<void>((res) => s.close(() => res()))));
      sockets = [];
      senders = [];
      return true;
    },
  });
}

// ------------------------------------------------------------------------------------------- orchestrator

async function orchestrate(): Promise<void> {
  const counts = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  const sessions = counts.length > 0 ? counts : [1, 100, 1000];
  const relay = new Child('relay');
  const load = new Child('load');
  const killer = setTimeout(() => {
    console.error(`bench: exceeded ${TOTAL_LIMIT_MS} ms, stopping`);
    relay.kill();
    load.kill();
    process.exit(2);
  }, TOTAL_LIMIT_MS);
  const rows: string[][] = [];
  try {
    for (const mode of MODES)
      for (const n of sessions) {
        // A fresh relay process per size would be cleaner; one process keeps the run short.
        const legs = await relay.call<LegPorts[]>('alloc', { n, mode });
        const eps = await load.call<Endpoints[]>('open', { legs, mode });
        await relay.call('update', eps);
        if (mode !== 'plain') await load.call('latch');
        // Offered: 50 pps per stream; plain has two streams per session, the SRTP modes one direction.
        const offered = mode === 'plain' ? n * 100 : n * 50;
        await load.call('run', { mode: 'rate', rate: offered, ms: 200, latency: false }); // warm-up (JIT, caches)

        const phase = async (mode: 'rate' | 'sat', rate: number, latency: boolean) => {
          const s0 = await relay.call<RelaySnapshot>('snapshot');
          const r = await load.call<RunResult>('run', { mode, rate, ms: PHASE_MS, latency });
          const s1 = await relay.call<RelaySnapshot>('snapshot');
          const relayed = s1.relayed - s0.relayed;
          return {
            r,
            relayedPps: (relayed * 1000) / r.ms,
            cpuPerPkt: relayed > 0 ? (s1.cpuUs - s0.cpuUs) / relayed : Number.NaN,
            relayCpuPct: ((s1.cpuUs - s0.cpuUs) / 1000 / r.ms) * 100,
            loadCpuPct: (r.cpuUs / 1000 / r.ms) * 100,
            dropped: s1.dropped - s0.dropped,
          };
        };
        const nominal = await phase('rate', offered, false);
        const sat = await phase('sat', 0, false);
        const half = Math.max(100, Math.floor(sat.relayedPps / 2));
        const latency = await phase('rate', half, true);
        const base = await load.call<RunResult>('baseline', Math.min(half, 20_000));
        const f = (x: number, d = 0): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
        rows.push([
          mode,
          `${n}`,
          f(offered),
          f(nominal.relayedPps),
          f(nominal.cpuPerPkt, 2),
          f(sat.relayedPps),
          f(sat.cpuPerPkt, 2),
          `${f(sat.relayCpuPct)}/${f(sat.loadCpuPct)}`,
          f(half),
          `${f(latency.r.p50 * 1000)}/${f(latency.r.p99 * 1000)}`,
          `${f((latency.r.p50 - base.p50) * 1000)}/${f((latency.r.p99 - base.p99) * 1000)}`,
        ]);
        await relay.call('releaseAll');
        await load.call('closeAll');
        process.stderr.write(`bench: ${mode} ${n} sessions done\n`);
      }
  } finally {
    clearTimeout(killer);
    relay.kill();
    load.kill();
  }
  const header = [
    'mode',
    'sessions',
    'offered pps',
    'relayed pps',
    'CPU µs/pkt',
    'saturated pps',
    'CPU µs/pkt',
    'relay/load CPU %',
    'latency at pps',
    'p50/p99 µs',
    'added p50/p99 µs',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padStart(widths[i] ?? 0)).join(' | ')} |`;
  console.log(
    `RTP relay (plain: RTP↔RTP; srtp-rtp: SRTP phone → RTP PBX; rtp-srtp: RTP PBX → SRTP phone), ${PACKET_BYTES}-byte packets, phases of ${PHASE_MS} ms, node ${process.version}`,
  );
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

const role = process.argv[2];
if (role === 'relay' || role === 'load') process.on('SIGTERM', () => process.exit(0));
if (role === 'relay') relayMain();
else if (role === 'load') loadMain();
else
  orchestrate().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
