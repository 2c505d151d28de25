/**
 * Child-process and port helpers shared by the real-peer harness (SIPp, stunnel, the Palisade daemon).
 * Everything here binds loopback only and every wait is bounded.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

/** Children still alive; killed with SIGKILL if the test process exits without stopping them. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of liveChildren) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
  });
}

/** Keeps the last `limit` characters written to it: child output is bounded in memory. */
export class TailBuffer {
  private chunks: string[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  push(chunk: string): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1) {
      const first = this.chunks.shift();
      this.size -= first === undefined ? 0 : first.length;
    }
  }
  toString(): string {
    const all = this.chunks.join('');
    return all.length > this.limit ? all.slice(all.length - this.limit) : all;
  }
}

export interface TrackedChild {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly stdout: TailBuffer;
  readonly stderr: TailBuffer;
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
}

/** Spawns a child that is tracked for cleanup, with bounded stdout/stderr tails. Throws if it cannot start. */
export async function spawnTracked(
  command: string,
  args: readonly string[],
  options: SpawnOptions & { outputLimit?: number; onStderr?: (s: string) => void; onStdout?: (s: string) => void } = {},
): Promise<TrackedChild> {
  installExitHook();
  const limit = options.outputLimit ?? 64 * 1024;
  const child = spawn(command, [...args], { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout = new TailBuffer(limit);
  const stderr = new TailBuffer(limit);
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (s: string) => {
    stdout.push(s);
    options.onStdout?.(s);
  });
  child.stderr?.on('data', (s: string) => {
    stderr.push(s);
    options.onStderr?.(s);
  });
  liveChildren.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      liveChildren.delete(child);
      resolve({ code, signal });
    });
  });
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    child.on('error', (err) => {
      // Later errors (e.g. kill on an exited child) must not crash the test process.
      if (settled) return;
      settled = true;
      liveChildren.delete(child);
      reject(err);
    });
    child.once('spawn', () => {
      settled = true;
      resolve();
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${command}: no pid after spawn`);
  return {
    child,
    pid,
    stdout,
    stderr,
    exited,
    isRunning: () => child.exitCode === null && child.signalCode === null,
  };
}

/**
 * Stops a child: `first` signal, then SIGKILL if it is still alive after `graceMs`. Resolves when it has exited.
 * `steps` lets a caller insert intermediate signals (SIPp: SIGUSR1 twice = soft quit, then forced quit).
 */
export async function stopTracked(
  t: TrackedChild,
  steps: ReadonlyArray<{ signal: NodeJS.Signals; waitMs: number }>,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  for (const step of steps) {
    if (!t.isRunning()) break;
    t.child.kill(step.signal);
    const done = await Promise.race([t.exited.then(() => true), delay(step.waitMs).then(() => false)]);
    if (done) break;
  }
  if (t.isRunning()) t.child.kill('SIGKILL');
  return t.exited;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms);
  });
}

export type PortKind = 'udp' | 'tcp' | 'both';

function bindTcp(host: string, port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(null));
    srv.listen({ host, port, exclusive: true }, () => {
      const addr = srv.address();
      const p = typeof addr === 'object' && addr !== null ? addr.port : null;
      srv.close(() => resolve(p));
    });
  });
}

function bindUdp(host: string, port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    sock.once('error', () => {
      sock.close();
      resolve(null);
    });
    sock.bind({ address: host, port, exclusive: true }, () => {
      const p = sock.address().port;
      sock.close(() => resolve(p));
    });
  });
}

/**
 * A port that is free right now on `host` for UDP, TCP or both (same number). There is an unavoidable window
 * between this check and the real bind; callers that spawn a peer should retry on a bind failure.
 */
export async function getFreePort(kind: PortKind = 'both', host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = kind === 'udp' ? await bindUdp(host, 0) : await bindTcp(host, 0);
    if (first === null) continue;
    if (kind !== 'both') return first;
    // Avoid the well-known SIP ports other suites might use.
    if (first === 5060 || first === 5061) continue;
    const second = await bindUdp(host, first);
    if (second !== null) return first;
  }
  throw new Error(`no free ${kind} port on ${host}`);
}

/** Local ports in LISTEN (tcp) or bound (udp) state, read from /proc/net/* (no traffic sent). */
export async function boundPorts(transport: 'udp' | 'tcp'): Promise<Set<number>> {
  const out = new Set<number>();
  for (const file of [`/proc/net/${transport}`, `/proc/net/${transport}6`]) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      const state = cols[3];
      if (local === undefined || state === undefined) continue;
      const hexPort = local.slice(local.lastIndexOf(':') + 1);
      // TCP: 0A = LISTEN. UDP sockets show 07 (CLOSE) when merely bound.
      if (transport === 'tcp' && state !== '0A') continue;
      out.add(Number.parseInt(hexPort, 16));
    }
  }
  return out;
}

/** Waits until `port` is bound (udp) or listening (tcp); false after `timeoutMs` or when `alive()` turns false. */
export async function waitForPort(
  transport: 'udp' | 'tcp',
  port: number,
  timeoutMs: number,
  alive: () => boolean = () => true,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) return false;
    if ((await boundPorts(transport)).has(port)) return true;
    await delay(25);
  }
  return false;
}

/** CPU time (user + system) of a live process in seconds, from /proc/<pid>/stat (clock ticks of 1/100 s). */
export async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is parenthesised and may contain spaces: parse after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15 → rest[11], rest[12].
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot parse /proc/${pid}/stat`);
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/** sysconf(_SC_CLK_TCK) on Linux is 100 on every mainstream architecture. */
export const CLOCK_TICKS_PER_SECOND = 100;
