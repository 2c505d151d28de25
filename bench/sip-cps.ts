/**
 * Calls per second through Palisade, with real peers: SIPp UAC → Palisade → SIPp UAS (the PBX).
 * Steps the offered rate upward (short calls, no pause: INVITE/180/200/ACK/BYE/200 per call) until a step has
 * failures, and prints per step: offered rate, calls, failed, achieved calls/s, and Palisade's CPU ms per call
 * (delta of utime+stime from /proc over the step, divided by the calls).
 *
 *   node --import tsx bench/sip-cps.ts [--transport udp|tcp|tls] [--direct] [--rates 200,400,800]
 *                                      [--step-seconds 2] [--max-seconds 180] [--keep]
 *
 * --direct leaves Palisade out (UAC → UAS, TLS through two stunnels): the ceiling of the load generator itself
 * on this machine; the CPU column then shows the UAS SIPp's CPU. TLS toward Palisade goes through an stunnel
 * client (Debian's SIPp has no TLS), so its CPU is the bridge's too, not only Palisade's.
 * Everything listens on 127.0.0.1. The whole run is bounded by --max-seconds (default 180).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type PalisadeHandle, startPalisade } from '../test/integration/harness/daemon.ts';
import { processCpuSeconds } from '../test/integration/harness/proc.ts';
import { runSipp, type SippTransport, type SippUasHandle, startSippUas } from '../test/integration/harness/sipp.ts';
import { type StunnelHandle, startStunnel } from '../test/integration/harness/stunnel.ts';
import {
  type CpsStepRow,
  callsForStep,
  DEFAULT_CPS_RATES,
  describeStep,
  failureReasons,
  fitsBudget,
  shouldStop,
  summarise,
} from './lib/cps-steps.ts';
import { formatTable } from './lib/table.ts';

type Transport = 'udp' | 'tcp' | 'tls';

function parseCli(): {
  transport: Transport;
  direct: boolean;
  rates: number[];
  stepSeconds: number;
  maxSeconds: number;
  keep: boolean;
} {
  const { values } = parseArgs({
    options: {
      transport: { type: 'string', default: 'udp' },
      direct: { type: 'boolean', default: false },
      rates: { type: 'string' },
      'step-seconds': { type: 'string', default: '2' },
      'max-seconds': { type: 'string', default: '180' },
      keep: { type: 'boolean', default: false },
    },
  });
  const transport = values.transport;
  if (transport !== 'udp' && transport !== 'tcp' && transport !== 'tls') {
    throw new Error(`--transport must be udp, tcp or tls (got ${String(transport)})`);
  }
  const rates = values.rates === undefined ? [...DEFAULT_CPS_RATES] : values.rates.split(',').map(Number);
  if (rates.some((r) => !Number.isFinite(r) || r <= 0)) throw new Error('--rates: positive numbers, comma-separated');
  const stepSeconds = Number(values['step-seconds']);
  const maxSeconds = Math.min(180, Number(values['max-seconds']));
  if (!(stepSeconds > 0) || !(maxSeconds > 0)) throw new Error('--step-seconds and --max-seconds must be positive');
  return { transport, direct: values.direct === true, rates, stepSeconds, maxSeconds, keep: values.keep === true };
}

/** The policy Palisade runs with for the benchmark: one public listener, the SIPp UAS as the only PBX. */
export function benchPolicy(transport: Transport, publicPort: number, pbxListenPort: number, uasPort: number): Record<string, unknown> {
  const pbxTransport = transport === 'udp' ? 'udp' : 'tcp';
  return {
    listeners: [
      {
        transport,
        address: '127.0.0.1',
        port: publicPort,
        ...(transport === 'tls' ? { tls: { minVersion: 'TLSv1.2' } } : {}),
      },
    ],
    pbx: {
      listen: { transport: pbxTransport, address: '127.0.0.1', port: pbxListenPort },
      targets: [{ name: 'sipp-uas', host: '127.0.0.1', port: uasPort, transport: pbxTransport }],
    },
    limits: {
      transactions: 1_000_000,
      dialogs: 1_000_000,
      connections: { perSource: 1000, total: 10000 },
    },
    // Zero-length calls at thousands per second: a short port quarantine and a wide range keep the relay from
    // running out of ports (ports needed ≈ 4 × calls/s × quarantine). No digest round (auth.mode pbx), and one
    // SIPp source is far above the default per-source flood buckets, so those are off.
    // SIPp offers plain RTP: allowed from loopback (clients elsewhere must use SRTP).
    media: { publicAddress: '127.0.0.1', portMin: 10000, portMax: 30000, portQuarantine: '500ms', plainAllowedFrom: ['127.0.0.0/8'] },
    auth: { mode: 'pbx' },
    security: { flood: { enabled: false } },
    logging: { level: 'warn' },
  };
}

async function main(): Promise<void> {
  const cli = parseCli();
  const started = Date.now();
  const deadline = started + cli.maxSeconds * 1000;
  const work = await mkdtemp(join(tmpdir(), 'palisade-bench-cps-'));
  const sippTransport: SippTransport = cli.transport === 'udp' ? 'u1' : 't1';
  let uas: SippUasHandle | null = null;
  let daemon: PalisadeHandle | null = null;
  const tunnels: StunnelHandle[] = [];
  const rows: CpsStepRow[] = [];
  try {
    uas = await startSippUas({
      scenario: 'uas-call.xml',
      transport: sippTransport,
      wallTimeoutMs: cli.maxSeconds * 1000 + 30_000,
      workDir: await mkdtemp(join(work, 'uas-')),
    });
    const uasPid = uas.pid;

    // Where the UAC sends, and whose CPU is measured.
    let target: string;
    let cpu: () => Promise<number>;
    if (cli.direct) {
      target = `127.0.0.1:${uas.port}`;
      if (cli.transport === 'tls') {
        const server = await startStunnel({ mode: 'server', connect: target, workDir: await mkdtemp(join(work, 'tls-')) });
        tunnels.push(server);
        target = server.acceptAddress;
      }
      cpu = () => processCpuSeconds(uasPid);
    } else {
      // Port 0 everywhere: the daemon reports what it bound (no port race with other suites).
      daemon = await startPalisade({ policy: benchPolicy(cli.transport, 0, 0, uas.port), keepDir: cli.keep });
      await daemon.waitReady(30_000);
      const d = daemon;
      const listener = (await d.listeners()).find((l) => l.id !== 'pbx' && l.transport === cli.transport);
      if (listener === undefined) throw new Error('palisade reports no public listener');
      target = `127.0.0.1:${listener.port}`;
      cpu = () => d.cpuSeconds();
    }
    if (cli.transport === 'tls') {
      const client = await startStunnel({ mode: 'client', connect: target, workDir: await mkdtemp(join(work, 'tlsc-')) });
      tunnels.push(client);
      target = client.acceptAddress;
    }

    const runStep = async (rate: number, calls: number): Promise<CpsStepRow> => {
      const cpu0 = await cpu();
      const r = await runSipp({
        scenario: 'uac-call.xml',
        transport: sippTransport,
        remote: target,
        service: 'bench',
        rate,
        ratePeriodMs: 1000,
        maxCalls: calls,
        callLimit: Math.max(200, rate * 2),
        pauseMs: 0,
        recvTimeoutMs: 5000,
        wallTimeoutMs: Math.max(5000, Math.min(deadline - Date.now(), (calls / rate) * 3000 + 10_000)),
        workDir: await mkdtemp(join(work, `uac-${rate}-`)),
      });
      const cpu1 = await cpu();
      return describeStep({
        rate,
        calls,
        successful: r.successful,
        failed: r.failed + Math.max(0, calls - r.successful - r.failed),
        durationMs: r.durationMs,
        cpuMs: (cpu1 - cpu0) * 1000,
        retransmissions: r.counters.Retransmissions ?? 0,
        failureReasons: failureReasons(r.counters),
      });
    };

    // Warm-up (JIT, connection set-up, first PBX probe); not reported.
    const warm = await runStep(100, 100);
    if (!warm.clean) {
      process.stdout.write(`warm-up failed: ${warm.failed} of ${warm.calls} calls; stopping.\n`);
      process.exitCode = 1;
      return;
    }

    const what = cli.direct ? 'SIPp UAC → SIPp UAS (no Palisade)' : 'SIPp UAC → Palisade → SIPp UAS';
    process.stdout.write(`${what}, ${cli.transport}, ${cli.stepSeconds} s per step, short calls (no pause)\n`);
    for (const rate of cli.rates) {
      const calls = callsForStep(rate, cli.stepSeconds);
      if (!fitsBudget(calls, rate, deadline - Date.now())) {
        process.stdout.write(`rate ${rate}: skipped, out of the ${cli.maxSeconds} s budget\n`);
        break;
      }
      const row = await runStep(rate, calls);
      rows.push(row);
      process.stdout.write(
        `  rate ${rate}: ${row.successful}/${row.calls} ok, ${row.failed} failed, ${row.achievedCps.toFixed(0)} cps achieved\n`,
      );
      if (shouldStop(row)) break;
      if (daemon !== null && !daemon.isRunning()) throw new Error(`palisade died:\n${daemon.output().slice(-2000)}`);
    }
  } finally {
    for (const t of tunnels.reverse()) await t.stop();
    if (daemon !== null) await daemon.stop();
    if (uas !== null) await uas.stop();
    if (!cli.keep) await rm(work, { recursive: true, force: true });
  }

  const cpuLabel = cli.direct ? 'UAS cpu ms/call' : 'palisade cpu ms/call';
  process.stdout.write(
    `\n${formatTable(
      ['rate/s', 'calls', 'failed', 'achieved/s', cpuLabel, 'retrans', 'sustained', 'failures'],
      rows.map((r) => [
        r.rate,
        r.calls,
        r.failed,
        Math.round(r.achievedCps),
        r.cpuMsPerCall,
        r.retransmissions,
        r.sustained ? 'yes' : 'no',
        r.failureReasons,
      ]),
    )}\n`,
  );
  const s = summarise(rows);
  process.stdout.write(
    `\nhighest rate with zero failures: ${s.highestClean ?? 'none'} calls/s` +
      ` (sustained ≥90% of offered: ${s.highestSustained ?? 'none'}); total ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    process.stderr.write(`sip-cps: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
