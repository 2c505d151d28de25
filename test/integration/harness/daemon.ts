/**
 * Palisade as a child process, the way an operator runs it:
 *   node --import tsx src/cli/main.ts start --config <dir>/palisade.yaml
 *
 * The policy is written into a fresh temp directory. Unless the policy sets them, the harness fills in:
 *   node.dataDir     <dir>/data             (so generated certificates, state and the admin socket stay in the test)
 *   metrics.port     a free loopback port   (the default 9090 would collide between parallel suites)
 *   shutdown.drainMs 1000                   (the default 30 s drain would outlive the stop bound)
 * Readiness = the admin socket answers GET /v1/status with 200.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, parseDocument, stringify } from 'yaml';
import { type AdminResponse, adminRequest } from '../../../src/admin/client.ts';
import { delay, getFreePort, processCpuSeconds, spawnTracked, stopTracked } from './proc.ts';

/** The repository root (where src/cli/main.ts lives). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const PALISADE_CLI = join(REPO_ROOT, 'src/cli/main.ts');

export interface StartPalisadeOptions {
  /** The policy, as an object (serialised to YAML) or as YAML text (kept as written, defaults added). */
  policy: Readonly<Record<string, unknown>> | string;
  /** Extra environment for the daemon (merged over process.env). */
  env?: Readonly<Record<string, string>>;
  /** Temp directory to use instead of a fresh one. */
  dir?: string;
  /** Keep the directory (policy, data, logs) after stop(). Default false. */
  keepDir?: boolean;
  /** Extra node flags before --import tsx (e.g. ['--cpu-prof']). */
  nodeArgs?: readonly string[];
}

export interface PalisadeHandle {
  readonly pid: number;
  /** The temp directory holding palisade.yaml, data/ and daemon.log. */
  readonly dir: string;
  readonly dataDir: string;
  readonly policyFile: string;
  readonly adminSocket: string;
  /** Null when the policy disables metrics. */
  readonly metricsUrl: string | null;
  readonly logFile: string;
  /** Resolves once GET /v1/status answers 200 (default bound 20 s); rejects if the daemon exits or the bound passes. */
  waitReady(timeoutMs?: number): Promise<AdminResponse>;
  /** One admin API call over the unix socket. */
  admin(method: string, path: string, body?: unknown): Promise<AdminResponse>;
  /**
   * The listeners as the daemon reports them (GET /v1/status → listeners): with `port: 0` in the policy this is
   * where the bound ports are learnt. The PBX-facing listener has id "pbx".
   */
  listeners(): Promise<DaemonListener[]>;
  /** user + system CPU seconds consumed so far, from /proc/<pid>/stat. */
  cpuSeconds(): Promise<number>;
  isRunning(): boolean;
  /** Tail of the daemon's stdout + stderr. */
  output(): string;
  /** SIGTERM, then SIGKILL after `timeoutMs` (default 5000). Removes the directory unless keepDir. Idempotent. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when the daemon process exits for any reason. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface DaemonListener {
  id: string;
  transport: string;
  address: string;
  port: number;
}

/** Narrows the `listeners` array of a /v1/status body; entries that do not fit are skipped. */
export function parseStatusListeners(body: unknown): DaemonListener[] {
  const list = getIn(body, ['listeners']);
  if (!Array.isArray(list)) return [];
  const out: DaemonListener[] = [];
  for (const l of list as unknown[]) {
    const id = getIn(l, ['id']);
    const transport = getIn(l, ['transport']);
    const address = getIn(l, ['address']);
    const port = getIn(l, ['port']);
    if (typeof id === 'string' && typeof transport === 'string' && typeof address === 'string' && typeof port === 'number') {
      out.push({ id, transport, address, port });
    }
  }
  return out;
}

interface Resolved {
  yaml: string;
  dataDir: string;
  adminSocket: string;
  metricsUrl: string | null;
}

function getIn(obj: unknown, path: readonly string[]): unknown {
  let cur: unknown = obj;
  for (const k of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/** Adds the harness defaults to a policy; returns the YAML to write and where things will be. */
/**
 * The policy the media interop tests run Palisade with: listeners on 127.0.0.1 (`transports`, each listener's id
 * is its transport), a plain-RTP PBX at 127.0.0.3:`pbxPort` reached from 127.0.0.2, the relay's ports from
 * `mediaBase` (400 ports), authentication left to the PBX. `plainAllowedFrom` lets those clients use plain RTP.
 */
export function interopPolicy(o: {
  transports: readonly ('udp' | 'tcp' | 'tls' | 'ws' | 'wss')[];
  pbxPort: number;
  mediaBase: number;
  plainAllowedFrom?: readonly string[];
}): string {
  const listeners = o.transports.map((t) => `  - { id: ${t}, transport: ${t}, address: 127.0.0.1, port: 0 }`).join('\n');
  const plain = o.plainAllowedFrom ? `\n  plainAllowedFrom: [${o.plainAllowedFrom.map((c) => `'${c}'`).join(', ')}]` : '';
  return `
listeners:
${listeners}
pbx:
  listen: { transport: udp, address: 127.0.0.2, port: 0 }
  targets: [{ name: pbx1, host: 127.0.0.3, port: ${o.pbxPort}, transport: udp }]
media:
  publicAddress: 127.0.0.1
  portMin: ${o.mediaBase}
  portMax: ${o.mediaBase + 399}${plain}
auth: { mode: pbx }
logging: { level: warn }
`;
}

/** The port a started Palisade's listener `id` got (0 when there is none). */
export async function listenerPort(palisade: PalisadeHandle, id: string): Promise<number> {
  return (await palisade.listeners()).find((l) => l.id === id)?.port ?? 0;
}

export async function resolvePolicy(policy: StartPalisadeOptions['policy'], dir: string): Promise<Resolved> {
  const doc = typeof policy === 'string' ? parseDocument(policy) : parseDocument(stringify(policy));
  if (doc.errors.length > 0 || !isMap(doc.contents)) {
    // Not a mapping (or not YAML): pass it through untouched; the daemon will report the problem.
    return {
      yaml: typeof policy === 'string' ? policy : stringify(policy),
      dataDir: join(dir, 'data'),
      adminSocket: join(dir, 'data', 'palisade.sock'),
      metricsUrl: null,
    };
  }
  const js: unknown = doc.toJS();
  const setDefault = (path: string[], value: unknown): void => {
    if (getIn(js, path) === undefined) doc.setIn(path, value);
  };
  setDefault(['node', 'dataDir'], join(dir, 'data'));
  const dataDirRaw = getIn(doc.toJS(), ['node', 'dataDir']);
  const dataDir = typeof dataDirRaw === 'string' ? resolve(dir, dataDirRaw) : join(dir, 'data');
  const socketRaw = getIn(js, ['admin', 'socket']);
  const adminSocket =
    typeof socketRaw === 'string' ? (isAbsolute(socketRaw) ? socketRaw : resolve(dataDir, socketRaw)) : join(dataDir, 'palisade.sock');
  let metricsUrl: string | null = null;
  if (getIn(js, ['metrics', 'enabled']) !== false) {
    setDefault(['metrics', 'port'], await getFreePort('tcp'));
    const m = doc.toJS() as unknown;
    const addr = getIn(m, ['metrics', 'address']);
    const host = typeof addr === 'string' ? addr : '127.0.0.1';
    const path = getIn(m, ['metrics', 'path']);
    metricsUrl = `http://${host.includes(':') ? `[${host}]` : host}:${String(getIn(m, ['metrics', 'port']))}${typeof path === 'string' ? path : '/metrics'}`;
  }
  setDefault(['shutdown', 'drainMs'], 1000);
  return { yaml: doc.toString(), dataDir, adminSocket, metricsUrl };
}

export async function startPalisade(opts: StartPalisadeOptions): Promise<PalisadeHandle> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'palisade-daemon-')));
  const r = await resolvePolicy(opts.policy, dir);
  await mkdir(r.dataDir, { recursive: true, mode: 0o700 });
  const policyFile = join(dir, 'palisade.yaml');
  await writeFile(policyFile, r.yaml, { mode: 0o600 });
  const logFile = join(dir, 'daemon.log');
  const log: WriteStream = createWriteStream(logFile);
  const t = await spawnTracked(
    process.execPath,
    [...(opts.nodeArgs ?? []), '--import', 'tsx', PALISADE_CLI, 'start', '--config', policyFile],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, ...opts.env },
      outputLimit: 256 * 1024,
      onStdout: (s) => log.write(s),
      onStderr: (s) => log.write(s),
    },
  );
  void t.exited.then(() => log.end());

  const admin = (method: string, path: string, body?: unknown): Promise<AdminResponse> =>
    adminRequest(r.adminSocket, method, path, body, { timeoutMs: 3000 });

  let stopping: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
  return {
    pid: t.pid,
    dir,
    dataDir: r.dataDir,
    policyFile,
    adminSocket: r.adminSocket,
    metricsUrl: r.metricsUrl,
    logFile,
    exited: t.exited,
    isRunning: () => t.isRunning(),
    output: () => t.stdout.toString() + t.stderr.toString(),
    admin,
    cpuSeconds: () => processCpuSeconds(t.pid),
    listeners: async () => {
      const res = await admin('GET', '/v1/status');
      if (res.status !== 200) throw new Error(`GET /v1/status answered ${res.status}`);
      return parseStatusListeners(res.body);
    },
    waitReady: async (timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      let last = 'no answer yet';
      while (Date.now() < deadline) {
        if (!t.isRunning()) {
          const exit = await t.exited;
          throw new Error(
            `palisade exited before ready (code ${String(exit.code)}, signal ${String(exit.signal)}):\n${t.stderr.toString().slice(-3000)}`,
          );
        }
        try {
          const res = await admin('GET', '/v1/status');
          if (res.status === 200) return res;
          last = `status ${res.status}`;
        } catch (e) {
          last = e instanceof Error ? e.message : String(e);
        }
        await delay(100);
      }
      throw new Error(`palisade not ready within ${timeoutMs} ms (${last}):\n${t.stderr.toString().slice(-3000)}`);
    },
    stop: (timeoutMs = 5000) => {
      stopping ??= (async () => {
        const exit = await stopTracked(t, [{ signal: 'SIGTERM', waitMs: timeoutMs }]);
        if (opts.keepDir !== true) await rm(dir, { recursive: true, force: true });
        return exit;
      })();
      return stopping;
    },
  };
}
