/**
 * RTP relay benchmark: `node --import tsx bench/rtp-relay.ts [sessions...]` (default 1 100 1000).
 * Modes (BENCH_MODES, default `plain,srtp-rtp,rtp-srtp`): plain RTP both ways; SRTP from the phone decrypted to
 * RTP toward the PBX (SDES keys, AES_CM_128_HMAC_SHA1_80); RTP from the PBX encrypted toward the (latched) phone.
 *
 * Three processes: this orchestrator, the relay (MediaControl as the proxy would drive it; BENCH_BARE=1 a bare
 * node:dgram relay, BENCH_BARE=c a minimal C one, to read the figures against) and a load generator in C
 * (bench/rtp-loadgen.c, SRTP by libsrtp2) that is never the bottleneck. Every session has its own phone socket and
 * PBX socket in the load generator, connected to the session's relay ports, so the relay sees exactly what it would
 * see in production: one symmetric RTP stream each way per session, 172-byte packets (G.711, 20 ms).
 *
 * Phases per session count:
 *   nominal   offered load 50 pps per stream each way (N × 100 pps), open loop
 *   saturated closed loop with a bounded in-flight window: the most the relay forwards
 *   latency   open loop at half the saturated rate; one-way time through the relay (send → receive)
 * CPU µs/pkt is the relay process's user+system CPU over the phase divided by the packets it relayed.
 * One-way latency is the kernel's receive stamp at the generator's socket minus the send time in the packet;
 * "added" subtracts a direct loopback baseline at the same rate over as many streams, without the relay.
 * The run is bounded: phases are BENCH_PHASE_MS (default 1500) and the whole run is killed after 150 s.
 */
import { type ChildProcess, fork, spawn, spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/log.ts';
import { createMediaControl, type MediaSessionHandle } from '../src/media/index.ts';

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
    // BENCH_RELAY_FLAGS: extra node flags for the relay process (e.g. GC tuning experiments).
    const extra = role === 'relay' ? (process.env.BENCH_RELAY_FLAGS ?? '').split(' ').filter(Boolean) : [];
    this.proc = fork(fileURLToPath(import.meta.url), [role], { execArgv: ['--import', 'tsx', ...prof, ...extra], stdio: 'inherit' });
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

/**
 * BENCH_BARE=c: the same floor in C (bench/c-relay.c, built here) — what the kernel alone costs per relayed packet
 * on this machine, to read the Node figures against. The CPU is the C process's, reported by itself.
 */
function cRelayMain(): void {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-c-relay-'));
  const bin = join(dir, 'c-relay');
  const built = spawnSync('gcc', ['-O2', '-o', bin, fileURLToPath(new URL('./c-relay.c', import.meta.url))], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`gcc: ${built.stderr}`);
  const lines = new LineChannel(spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] }));
  let n = 0;
  serve({
    async alloc(args) {
      n = (args as { n: number }).n;
      const ports = (await lines.command(`alloc ${n} ${PORT_MIN}`)).split(' ').slice(1).map(Number);
      return Array.from({ length: n }, (_, i) => ({ pub: ports[2 * i], pbx: ports[2 * i + 1] }));
    },
    async update(args) {
      await lines.command(`update ${(args as Endpoints[]).map((e) => `${e.phone} ${e.pbx}`).join(' ')}`);
      return true;
    },
    async snapshot() {
      const [, cpu, relayed] = (await lines.command('snapshot')).split(' ').map(Number);
      return { cpuUs: cpu ?? 0, relayed: relayed ?? 0, dropped: 0 } satisfies RelaySnapshot;
    },
    async releaseAll() {
      await lines.command('release');
      return true;
    },
  });
}

/**
 * With a spinning load generator on a 2-core machine, the scheduler sometimes put the relay on the generator's core:
 * the relay then waited a time slice, and p99 latency measured the scheduler (milliseconds, even for the C relay).
 * So the relay (every thread, and what it spawns) runs on CPU 0 and the generator on CPU 1 when taskset exists.
 */
const RELAY_CPU = '0';
const LOAD_CPU = '1';
function pin(pid: number, cpu: string): void {
  if (cpus().length < 2) return;
  const r = spawnSync('taskset', ['-a', '-p', '-c', cpu, String(pid)], { stdio: 'ignore' });
  if (r.status !== 0) process.stderr.write(`bench: taskset unavailable, processes not pinned (latency figures include scheduling)\n`);
}

function relayMain(): void {
  pin(process.pid, RELAY_CPU);
  if (process.env.BENCH_BARE === '1') return bareRelayMain();
  if (process.env.BENCH_BARE === 'c') return cRelayMain();
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

/**
 * The load generator is C (bench/rtp-loadgen.c, built here with gcc against libsrtp2 — both installed by
 * scripts/install-test-tools.sh), so that it is never the bottleneck: the Node generator it replaced ran at 100 % of
 * its core while the relay still idled, and the relay then paid for waking it on every packet. One reply line per
 * command over stdin/stdout.
 */
/** A child process answering one line per command over stdin/stdout. */
class LineChannel {
  private buffered = '';
  private readonly lines: string[] = [];
  private wake: (() => void) | undefined;

  constructor(readonly proc: ChildProcess) {
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (d: string) => {
      this.buffered += d;
      for (let i = this.buffered.indexOf('\n'); i >= 0; i = this.buffered.indexOf('\n')) {
        this.lines.push(this.buffered.slice(0, i));
        this.buffered = this.buffered.slice(i + 1);
      }
      this.wake?.();
    });
  }

  async command(line: string): Promise<string> {
    this.proc.stdin?.write(`${line}\n`);
    while (this.lines.length === 0) {
      if (this.proc.exitCode !== null) throw new Error(`${this.proc.spawnfile} exited (${this.proc.exitCode})`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 200);
      });
    }
    const reply = this.lines.shift() as string;
    if (reply.startsWith('error')) throw new Error(`${this.proc.spawnfile}: ${reply}`);
    return reply;
  }

  kill(): void {
    this.proc.stdin?.end();
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

class LoadGen {
  private readonly ch: LineChannel;

  constructor(binary: string) {
    this.ch = new LineChannel(spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] }));
    if (this.ch.proc.pid !== undefined) pin(this.ch.proc.pid, LOAD_CPU);
  }

  private command(line: string): Promise<string> {
    return this.ch.command(line);
  }

  async open(legs: LegPorts[], mode: Mode): Promise<Endpoints[]> {
    const reply = await this.command(`open ${mode} ${legs.length} ${legs.map((l) => `${l.pub} ${l.pbx}`).join(' ')}`);
    const ports = reply.split(' ').slice(1).map(Number);
    return legs.map((_, i) => ({ phone: ports[2 * i] as number, pbx: ports[2 * i + 1] as number }));
  }

  async latch(): Promise<void> {
    await this.command('latch');
  }

  private static result(reply: string): RunResult {
    const [, sent, received, ms, cpuUs, p50, p99] = reply.split(' ').map(Number) as number[];
    const lat = (x: number | undefined): number => (x === undefined || x < 0 ? Number.NaN : x);
    return { sent: sent ?? 0, received: received ?? 0, ms: ms ?? 0, cpuUs: cpuUs ?? 0, p50: lat(p50), p99: lat(p99) };
  }

  async run(mode: 'rate' | 'sat', rate: number, ms: number, latency: boolean): Promise<RunResult> {
    return LoadGen.result(await this.command(`run ${mode} ${rate} ${ms} ${latency ? 1 : 0}`));
  }

  /** Direct loopback A → B without the relay, at the same rate over as many streams: what the load generator and
   * kernel add by themselves. */
  async baseline(rate: number, streams: number): Promise<RunResult> {
    return LoadGen.result(await this.command(`baseline ${rate} ${streams}`));
  }

  async closeAll(): Promise<void> {
    await this.command('close');
  }

  kill(): void {
    this.ch.kill();
  }
}

/** Compiles the load generator into a temp dir; one clear line when gcc or libsrtp2 is missing. */
function buildLoadGen(): string {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-rtp-loadgen-'));
  const out = join(dir, 'rtp-loadgen');
  const src = fileURLToPath(new URL('./rtp-loadgen.c', import.meta.url));
  const r = spawnSync('gcc', ['-O2', '-o', out, src, '-lsrtp2'], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(
      `bench: cannot build the load generator (needs gcc and libsrtp2-dev: bash scripts/install-test-tools.sh): ${r.error?.message ?? r.stderr.trim()}`,
    );
    process.exit(2);
  }
  return out;
}

// ------------------------------------------------------------------------------------------- orchestrator

async function orchestrate(): Promise<void> {
  const counts = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  const sessions = counts.length > 0 ? counts : [1, 100, 1000];
  const relay = new Child('relay');
  const load = new LoadGen(buildLoadGen());
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
        const eps = await load.open(legs, mode);
        await relay.call('update', eps);
        if (mode !== 'plain') await load.latch();
        // Offered: 50 pps per stream; plain has two streams per session, the SRTP modes one direction.
        const offered = mode === 'plain' ? n * 100 : n * 50;
        await load.run('rate', offered, 200, false); // warm-up (JIT, caches)

        const phase = async (mode: 'rate' | 'sat', rate: number, latency: boolean) => {
          const s0 = await relay.call<RelaySnapshot>('snapshot');
          const r = await load.run(mode, rate, PHASE_MS, latency);
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
        const base = await load.baseline(half, mode === 'plain' ? 2 * n : n);
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
        await load.closeAll();
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
if (role === 'relay') process.on('SIGTERM', () => process.exit(0));
if (role === 'relay') relayMain();
else
  orchestrate().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
