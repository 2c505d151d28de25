/**
 * Starting Palisade for a test: in-process (startDaemon) or as a child process through the real CLI, with a
 * temporary policy and data directory. Everything started here is stopped by the returned handle.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adminRequest } from '../../../src/admin/client.ts';
import { silentLogger } from '../../../src/core/log.ts';
import { type Daemon, type DaemonStatus, startDaemon } from '../../../src/main.ts';
import { createLogger } from '../../../src/observability/logger.ts';
import { delay, spawnTracked, stopTracked, type TrackedChild } from '../harness/proc.ts';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const PUBLIC_IP = '127.0.0.1';
export const INSIDE_IP = '127.0.0.2';
export const PBX_IP = '127.0.0.3';

export interface TempDir {
  readonly path: string;
  remove(): void;
}

export function tempDir(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), `palisade-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface InProcessDaemon {
  readonly daemon: Daemon;
  readonly configPath: string;
  /** Bound port of a listener by id. */
  port(id: string): number;
  stop(): Promise<void>;
}

export async function startInProcess(dir: TempDir, yaml: string): Promise<InProcessDaemon> {
  const configPath = join(dir.path, 'palisade.yaml');
  writeFileSync(configPath, yaml);
  // PALISADE_TEST_LOG=debug shows the daemon's log when a test needs explaining.
  const level = process.env.PALISADE_TEST_LOG;
  const logger = level ? createLogger(level as Parameters<typeof createLogger>[0]) : silentLogger;
  const daemon = await startDaemon({ configPath, logger, installSignalHandlers: false });
  return {
    daemon,
    configPath,
    port: (id) => portOf(daemon.status(), id),
    stop: () => daemon.stop(),
  };
}

export function portOf(status: Pick<DaemonStatus, 'listeners'>, id: string): number {
  const l = status.listeners.find((x) => x.id === id);
  if (!l) throw new Error(`no listener ${id} in ${JSON.stringify(status.listeners)}`);
  return l.port;
}

export interface ChildDaemon {
  readonly proc: TrackedChild;
  readonly socketPath: string;
  status(): Promise<DaemonStatus>;
  /** Sends `signal` and waits for the exit; SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `node --import tsx src/cli/main.ts start --config FILE`, ready once the admin socket answers. */
export async function startChild(configPath: string, socketPath: string, readyMs = 30_000): Promise<ChildDaemon> {
  const proc = await spawnTracked(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--config', configPath], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1' },
  });
  const status = async (): Promise<DaemonStatus> => {
    const r = await adminRequest(socketPath, 'GET', '/v1/status', undefined, { timeoutMs: 2000 });
    if (r.status !== 200) throw new Error(`status HTTP ${r.status}`);
    return r.body as DaemonStatus;
  };
  const deadline = Date.now() + readyMs;
  for (;;) {
    if (!proc.isRunning()) throw new Error(`daemon exited before ready: ${proc.stderr.toString()} ${proc.stdout.toString()}`);
    try {
      await status();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stopTracked(proc, [{ signal: 'SIGKILL', waitMs: 1000 }]);
        throw new Error(`daemon not ready in ${readyMs} ms: ${proc.stderr.toString()}`);
      }
      await delay(100);
    }
  }
  return {
    proc,
    socketPath,
    status,
    stop: (signal = 'SIGTERM', graceMs = 5000) => stopTracked(proc, [{ signal, waitMs: graceMs }]),
  };
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the `palisade` CLI as a user would (child process through tsx). */
export function palisade(args: readonly string[], timeoutMs = 30_000): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      { cwd: ROOT, timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Polls `check` every 50 ms until it returns true; false after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await delay(50);
  }
}

/**
 * A `media:` policy line with a random 400-port relay range below the ephemeral range, so daemons of
 * parallel test files (and other suites on the machine) do not fight over the default 20000-29999 block.
 */
export function mediaRangeYaml(): string {
  const base = 10000 + 2 * Math.floor(Math.random() * 4500);
  return `media: { portMin: ${base}, portMax: ${base + 399}, plainAllowedFrom: ['127.0.0.0/8', '::1/128'] }`;
}
