/**
 * Attack benchmark, with real peers: SIPp UAC (127.0.0.1, a trusted peer: no digest, same gate) → Palisade →
 * SIPp UAS, while harness/flood.ts sends INVITEs at a stepped rate from N loopback sources (default 50).
 *
 *   node --import tsx bench/attack.ts [--rates 25000,50000,100000,200000,400000] [--sources 50]
 *                                     [--step-seconds 3] [--cps 10] [--drop-packets 300000] [--drop-rate 100000]
 *                                     [--max-seconds 180]
 *
 * Part 1 — flood steps: each step bans nothing in advance (bans are flushed and new source addresses are used),
 * floods for --step-seconds while SIPp places --cps calls/s, and records legit calls completed/failed, the flood
 * rate achieved, answers the flood got, when its newest answered request was sent, and Palisade's CPU over the
 * step. Stops at the first step where a legitimate call fails. Prints the highest clean rate.
 * Part 2 — cost of a banned datagram: one source is banned through the admin API, then floods --drop-packets
 * datagrams; cost = (daemon CPU delta − idle CPU over the same time) / datagrams the gate dropped as banned
 * (palisade_gate_dropped_total{reason="banned"}, so datagrams the kernel dropped are not counted). Target ≤ 5 µs.
 * Everything listens on loopback. The whole run is bounded by --max-seconds (default 180).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type PalisadeHandle, startPalisade } from '../test/integration/harness/daemon.ts';
import { type FloodResult, listBans, loopbackRange, runFlood } from '../test/integration/harness/flood.ts';
import { delay } from '../test/integration/harness/proc.ts';
import { runSipp, type SippUasHandle, startSippUas } from '../test/integration/harness/sipp.ts';
import { formatTable } from './lib/table.ts';

const PUBLIC = '127.0.0.1';
const INSIDE = '127.0.0.2';
const PBX = '127.0.0.3';

function parseCli() {
  const { values } = parseArgs({
    options: {
      rates: { type: 'string', default: '25000,50000,100000,200000,400000' },
      sources: { type: 'string', default: '50' },
      'step-seconds': { type: 'string', default: '3' },
      cps: { type: 'string', default: '10' },
      'drop-packets': { type: 'string', default: '300000' },
      'drop-rate': { type: 'string', default: '100000' },
      'max-seconds': { type: 'string', default: '180' },
    },
  });
  const num = (s: string | undefined, name: string): number => {
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: expected a positive number, got ${String(s)}`);
    return n;
  };
  return {
    rates: (values.rates ?? '').split(',').map((r) => num(r, 'rates')),
    sources: Math.min(200, Math.floor(num(values.sources, 'sources'))),
    stepMs: num(values['step-seconds'], 'step-seconds') * 1000,
    cps: num(values.cps, 'cps'),
    dropPackets: Math.floor(num(values['drop-packets'], 'drop-packets')),
    dropRate: num(values['drop-rate'], 'drop-rate'),
    maxMs: num(values['max-seconds'], 'max-seconds') * 1000,
  };
}

function policy(pbxPort: number) {
  return {
    listeners: [{ id: 'udp', transport: 'udp', address: PUBLIC, port: 0 }],
    pbx: {
      listen: { transport: 'udp', address: INSIDE, port: 0 },
      targets: [{ name: 'pbx1', host: PBX, port: pbxPort, transport: 'udp' }],
      probe: { intervalMs: 1000, timeoutMs: 800, failuresToDown: 2 },
    },
    media: { publicAddress: PUBLIC, plainAllowedFrom: ['127.0.0.0/8'] }, // SIPp offers plain RTP
    auth: { mode: 'palisade', trusted: [{ name: 'legit-sipp', cidrs: [`${PUBLIC}/32`] }] },
    logging: { level: 'warn' },
  };
}

/** A counter value from the Prometheus text format (first sample whose line starts with `prefix`). */
async function metric(d: PalisadeHandle, prefix: string): Promise<number> {
  if (d.metricsUrl === null) return Number.NaN;
  const text = await (await fetch(d.metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Kernel drops on the daemon's UDP socket bound to `port` (/proc/net/udp last column). */
async function kernelDrops(port: number): Promise<number> {
  const text = await readFile('/proc/net/udp', 'utf8');
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let drops = 0;
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1]?.endsWith(hex) === true) drops += Number(cols[cols.length - 1] ?? 0);
  }
  return drops;
}

interface StepRow {
  rate: number;
  achieved: number;
  calls: number;
  failed: number;
  answered: number;
  newestAnsweredMs: number;
  bannedSources: number;
  cpuMsPerS: number;
}

async function main(): Promise<void> {
  const cli = parseCli();
  const deadline = Date.now() + cli.maxMs;
  const work = await mkdtemp(join(tmpdir(), 'palisade-bench-attack-'));
  let uas: SippUasHandle | undefined;
  let d: PalisadeHandle | undefined;
  const hardStop = setTimeout(() => {
    console.error(`bench/attack: --max-seconds ${cli.maxMs / 1000} reached, stopping`);
    void Promise.allSettled([d?.stop(), uas?.stop()]).then(() => process.exit(2));
  }, cli.maxMs + 10_000);
  try {
    uas = await startSippUas({ scenario: 'uas-call.xml', transport: 'u1', localIp: PBX, workDir: work, wallTimeoutMs: cli.maxMs + 5000 });
    d = await startPalisade({ policy: policy(uas.port) });
    await d.waitReady();
    const port = (await d.listeners()).find((l) => l.id === 'udp')?.port;
    if (port === undefined) throw new Error('no udp listener');

    // Part 1: flood steps.
    const rows: StepRow[] = [];
    let best = 0;
    let block = 0;
    for (const rate of cli.rates) {
      if (Date.now() + cli.stepMs + 15_000 > deadline) {
        console.error(`bench/attack: skipping ${rate}/s and above (time bound)`);
        break;
      }
      await d.admin('POST', '/v1/bans/flush');
      block++;
      const sources = loopbackRange(cli.sources, `127.0.${10 + block}.0`);
      const maxCalls = Math.max(1, Math.round((cli.cps * (cli.stepMs + 1000)) / 1000));
      const cpu0 = await d.cpuSeconds();
      const t0 = Date.now();
      const calls = runSipp({
        scenario: 'uac-call.xml',
        transport: 'u1',
        localIp: PUBLIC,
        remote: `${PUBLIC}:${port}`,
        service: '100',
        rate: cli.cps,
        maxCalls,
        wallTimeoutMs: cli.stepMs + 20_000,
        workDir: work,
      });
      await delay(500);
      const flood: FloodResult = await runFlood({ host: PUBLIC, port, rate, durationMs: cli.stepMs, sources });
      const c = await calls;
      const cpu1 = await d.cpuSeconds();
      const banned = new Set((await listBans(d)).map((b) => b.target));
      const row: StepRow = {
        rate,
        achieved: Math.round(flood.achievedRate),
        calls: c.successful,
        failed: c.failed + Math.max(0, maxCalls - c.successful - c.failed),
        answered: flood.answered,
        newestAnsweredMs: flood.newestAnsweredSentAtMs,
        bannedSources: sources.filter((s) => banned.has(s)).length,
        cpuMsPerS: ((cpu1 - cpu0) * 1000) / ((Date.now() - t0) / 1000),
      };
      rows.push(row);
      console.error(`step ${rate}/s: ${JSON.stringify(row)}`);
      if (row.failed > 0)
        console.error(`legit SIPp: outcome ${c.outcome}, counters ${JSON.stringify(c.counters)}\n${c.stderr.slice(-2000)}`);
      if (row.failed > 0) break;
      best = rate;
      await delay(1000); // let retransmission timers of the step's answers drain
    }
    console.log(`\nFlood steps (${cli.sources} sources, legit ${cli.cps} calls/s from a trusted peer, ${cli.stepMs / 1000} s per step)`);
    console.log(
      formatTable(
        [
          'offered/s',
          'achieved/s',
          'legit ok',
          'legit failed',
          'flood answers',
          'newest answered (ms)',
          'sources banned',
          'daemon CPU ms/s',
        ],
        rows.map((r) => [r.rate, r.achieved, r.calls, r.failed, r.answered, r.newestAnsweredMs, r.bannedSources, r.cpuMsPerS]),
      ),
    );
    console.log(`Highest flood rate with every legitimate call completed: ${best > 0 ? `${best}/s` : 'none of the steps'}`);

    // Part 2: cost of a datagram from a banned source.
    if (Date.now() + 20_000 > deadline) {
      console.error('bench/attack: no time left for the banned-datagram cost');
      return;
    }
    await d.admin('POST', '/v1/bans/flush');
    await delay(2000);
    const bannedSrc = '127.0.9.9';
    const add = await d.admin('POST', '/v1/bans', { target: bannedSrc, reason: 'bench' });
    if (add.status !== 201) throw new Error(`POST /v1/bans answered ${add.status}`);
    const durationMs = (cli.dropPackets / cli.dropRate) * 1000;
    // Idle baseline over the same duration.
    const i0 = await d.cpuSeconds();
    await delay(durationMs);
    const idleCpu = (await d.cpuSeconds()) - i0;
    const dropped0 = await metric(d, 'palisade_gate_dropped_total{reason="banned"}');
    const k0 = await kernelDrops(port);
    const c0 = await d.cpuSeconds();
    const f = await runFlood({
      host: PUBLIC,
      port,
      rate: cli.dropRate,
      durationMs: durationMs + 5000,
      maxPackets: cli.dropPackets,
      sources: [bannedSrc],
    });
    await delay(300);
    const cpu = (await d.cpuSeconds()) - c0;
    const dropped = (await metric(d, 'palisade_gate_dropped_total{reason="banned"}')) - dropped0;
    const kdrops = (await kernelDrops(port)) - k0;
    const perPacketUs = dropped > 0 ? (Math.max(0, cpu - idleCpu) * 1e6) / dropped : Number.NaN;
    console.log('\nCost of a datagram from a banned source');
    console.log(
      formatTable(
        ['sent', 'rate/s', 'gate drops (banned)', 'kernel drops', 'answers', 'daemon CPU s', 'idle CPU s', 'µs per datagram', 'target µs'],
        [[f.sent, Math.round(f.achievedRate), dropped, kdrops, f.answered, cpu, idleCpu, perPacketUs, 5]],
      ),
    );
    console.log(
      `${perPacketUs <= 5 ? 'OK' : 'OVER TARGET'}: ${perPacketUs.toFixed(2)} µs of daemon CPU per banned datagram (≤ 5 µs wanted)`,
    );
  } finally {
    clearTimeout(hardStop);
    await d?.stop();
    await uas?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 1;
});
