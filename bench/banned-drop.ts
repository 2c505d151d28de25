/**
 * Cost of a datagram from a banned source, with and without kernel offload (security.bans.kernel), in a network
 * namespace of the bench's own (needs root, iproute2 and nftables; the host's firewall is never touched).
 *
 * For each mode the daemon (the real CLI) runs inside the namespace with one source banned through the admin API;
 * the C flooder (test/integration/harness/flood.ts) sends N datagrams from it. Reported per datagram:
 *   daemon µs  — the daemon process's CPU time (/proc/PID/stat, user+system) minus its idle CPU over the same time
 *   system µs  — all CPUs' non-idle time (/proc/stat) minus the same idle baseline: includes the flooder's own
 *                sending and the kernel's receive path, so it shows what the drop costs the machine, not just us
 *
 *   node --import tsx bench/banned-drop.ts [--packets 400000] [--rate 100000]
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminRequest } from '../src/admin/client.ts';
import { floodBinary, parseFloodReport } from '../test/integration/harness/flood.ts';
import { spawnTracked, stopTracked, type TrackedChild } from '../test/integration/harness/proc.ts';

const run = promisify(execFile);
const ROOT = new URL('../', import.meta.url).pathname;
const NS = `palisade-bench-${process.pid}`;
const PORT = 25070;
const BANNED = '127.0.9.9';
const TICK = 100; // USER_HZ

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

function processCpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / TICK;
}

/** Non-idle CPU seconds of the whole machine (all CPUs). */
function systemBusySeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return (cpu.reduce((a, b) => a + b, 0) - idle) / TICK;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(kernel: boolean, packets: number, rate: number): Promise<Record<string, number | string>> {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-bench-kb-'));
  mkdirSync(join(dir, 'data'), { mode: 0o700 });
  const sock = join(dir, 'data', 'admin.sock');
  writeFileSync(
    join(dir, 'p.yaml'),
    `node: { dataDir: ${join(dir, 'data')} }
listeners: [{ id: pub, transport: udp, address: 127.0.0.1, port: ${PORT} }]
pbx: { listen: { transport: udp, address: 127.0.0.2, port: 0 }, targets: [{ name: p, host: 127.0.0.3, port: 5999 }] }
admin: { socket: ${sock} }
auth: { mode: pbx }
security: { flood: { enabled: false }, bans: { kernel: { enabled: ${kernel}, table: palisade_bench } } }
metrics: { enabled: false }
logging: { level: warn }
`,
  );
  let d: TrackedChild | undefined;
  try {
    d = await spawnTracked(
      'ip',
      ['netns', 'exec', NS, process.execPath, '--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'start', '--config', join(dir, 'p.yaml')],
      { cwd: ROOT },
    );
    for (let i = 0; i < 150; i++) {
      try {
        if ((await adminRequest(sock, 'GET', '/v1/status')).status === 200) break;
      } catch {
        // not up yet
      }
      await delay(100);
    }
    const add = await adminRequest(sock, 'POST', '/v1/bans', { target: BANNED, reason: 'bench' });
    if (add.status !== 201) throw new Error(`ban refused: ${JSON.stringify(add.body)}`);
    await delay(1500); // JIT warm, kernel set updated
    const durationMs = (packets / rate) * 1000;
    const i0 = processCpuSeconds(d.pid);
    const s0 = systemBusySeconds();
    await delay(durationMs);
    const idle = processCpuSeconds(d.pid) - i0;
    const sysIdle = systemBusySeconds() - s0;
    const bin = await floodBinary();
    const c0 = processCpuSeconds(d.pid);
    const t0 = systemBusySeconds();
    const f = await spawnTracked('ip', [
      'netns',
      'exec',
      NS,
      bin,
      '127.0.0.1',
      String(PORT),
      String(rate),
      String(durationMs + 5000),
      String(packets),
      'INVITE',
      '100',
      'bench',
      BANNED,
    ]);
    await f.exited;
    await delay(200);
    const cpu = processCpuSeconds(d.pid) - c0;
    const sys = systemBusySeconds() - t0;
    const report = parseFloodReport(f.stdout.toString());
    const sent = report?.sent ?? packets;
    const st = (await adminRequest(sock, 'GET', '/v1/status')).body as { counters: Record<string, number> };
    return {
      mode: kernel ? 'kernel offload' : 'gate (userspace)',
      sent,
      'rate/s': Math.round(report?.achievedRate ?? 0),
      'reached daemon': st.counters.datagramsIn ?? -1,
      'daemon µs': Number(((Math.max(0, cpu - idle) * 1e6) / sent).toFixed(2)),
      'system µs': Number(((Math.max(0, sys - sysIdle) * 1e6) / sent).toFixed(2)),
    };
  } finally {
    if (d)
      await stopTracked(d, [
        { signal: 'SIGINT', waitMs: 5000 },
        { signal: 'SIGKILL', waitMs: 2000 },
      ]);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const packets = arg('packets', 400_000);
  const rate = arg('rate', 100_000);
  await run('ip', ['netns', 'add', NS]);
  try {
    await run('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
    const rows = [await measure(false, packets, rate), await measure(true, packets, rate)];
    console.log(`Cost of a datagram from a banned source (${packets} datagrams at ${rate}/s, one banned source)`);
    console.table(rows);
    const user = rows[0]?.['daemon µs'] as number;
    const kern = rows[1]?.['daemon µs'] as number;
    console.log(`gate path: ${user} µs of daemon CPU per banned datagram (target ≤ 5 µs) — ${user <= 5 ? 'OK' : 'OVER'}`);
    console.log(`kernel offload: ${kern} µs of daemon CPU per banned datagram (target ≤ 5 µs) — ${kern <= 5 ? 'OK' : 'OVER'}`);
  } finally {
    await run('ip', ['netns', 'del', NS]).catch(() => {});
  }
}

await main();
process.exit(0);
