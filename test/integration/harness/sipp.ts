/**
 * SIPp as a real peer: run a bounded UAC (`runSipp`) or keep a UAS alive for a test (`startSippUas`).
 *
 * SIPp (Debian sip-tester 3.6.1, no TLS) runs in the foreground with -nostdin. Every run gets its own work directory
 * holding: the message log (-trace_msg: every message sent and received), the statistics CSV (-trace_stat, written
 * every second and at exit), the final screens (-trace_screen) and the unexpected-message log (-trace_err).
 * Counters come from the CSV's cumulative columns; the screen file is the fallback.
 * Quirk: with -t tn, a message written while its connection is still being set up is queued and flushed later
 * WITHOUT a message-log entry (typically each call's INVITE). Count what the peer received instead.
 *
 * SIPp exit codes: 0 all calls succeeded, 1 at least one failed, 97 exit on internal command, 99 normal exit
 * without calls processed, 255 fatal error (bad arguments, bind failure...).
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { delay, getFreePort, spawnTracked, stopTracked, type TrackedChild, waitForPort } from './proc.ts';

export const SIPP_BIN = process.env.SIPP_BIN ?? '/usr/bin/sipp';

/** test/fixtures/sipp, where the harness scenarios live. */
export const SIPP_FIXTURES_DIR = fileURLToPath(new URL('../../fixtures/sipp/', import.meta.url));

/** u1: UDP one socket; un: UDP one socket per call; t1: TCP one connection; tn: TCP one connection per call. */
export type SippTransport = 'u1' | 'un' | 't1' | 'tn';

export type SippOutcome = 'all-succeeded' | 'some-failed' | 'internal-exit' | 'no-calls' | 'fatal' | 'killed';

export interface SippOptions {
  /** A file name in test/fixtures/sipp ("uac-call.xml") or a path. */
  scenario: string;
  transport?: SippTransport;
  /** -i: local address used for binding and in Via/Contact/From. Default 127.0.0.1. */
  localIp?: string;
  /** -p: local SIP port. Default: a free port (SIPp's own default may be 5060, shared by everyone). */
  localPort?: number;
  /** -mi: media address written in SDP and bound for media. Default: localIp. */
  mediaIp?: string;
  /** Remote "host:port" (client scenarios). IPv6: "[::1]:5060". */
  remote?: string;
  /** -s: user part of the Request-URI ([service]). */
  service?: string;
  /** -r: calls per rate period. */
  rate?: number;
  /** -rp: rate period in ms (default SIPp's 1000). */
  ratePeriodMs?: number;
  /** -l: maximum simultaneous calls. */
  callLimit?: number;
  /** -m: stop after this many calls. */
  maxCalls?: number;
  /** -d: length of <pause/> without milliseconds, in ms. */
  pauseMs?: number;
  /** -recv_timeout: a call waiting longer than this for an expected message fails (ms). */
  recvTimeoutMs?: number;
  /**
   * Wall-clock bound of the whole run (ms, default 30000). SIPp is given -timeout just under it and is then asked to
   * quit (SIGUSR1, twice) and finally SIGKILLed.
   */
  wallTimeoutMs?: number;
  /** -key name value: extra [name] keywords. `expires` defaults to 300 (register scenarios use it). */
  keys?: Readonly<Record<string, string>>;
  /** -set name value: initial values of scenario variables ([$name]). */
  vars?: Readonly<Record<string, string>>;
  /** -oocsf: scenario run for requests on unknown Call-IDs (client mode). */
  oocScenario?: string;
  /** -inf: CSV injection file. */
  injectionFile?: string;
  /** -deadcall_wait in ms (SIPp default 33 s; 0 lets a message on an ended Call-ID open a new server call). */
  deadcallWaitMs?: number;
  /** -callid_slash_ign: do not treat "///" in Call-IDs as a SIPp prefix. */
  callidSlashIgnore?: boolean;
  /** -max_socket (tn/un; default 1000 for those). */
  maxSockets?: number;
  extraArgs?: readonly string[];
  /** Directory for logs; default a fresh temp directory. */
  workDir?: string;
}

/** Cumulative counters from SIPp's statistics CSV, named as in its header without "(C)". */
export type SippCounters = Readonly<Record<string, number>>;

export interface SippResult {
  successful: number;
  failed: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  outcome: SippOutcome;
  /** The wall-clock timer fired before SIPp exited by itself. */
  timedOut: boolean;
  durationMs: number;
  counters: SippCounters;
  messagesFile: string;
  statsFile: string;
  screenFile: string;
  errorFile: string;
  workDir: string;
  /** Tail of SIPp's stdout (its screen) and stderr (warnings, errors). */
  stdout: string;
  stderr: string;
  args: readonly string[];
}

export interface SippMessage {
  direction: 'sent' | 'received';
  transport: string;
  /** The SIP message text (CRLF normalised to LF). */
  text: string;
  /** First line, e.g. "SIP/2.0 200 OK" or "INVITE sip:... SIP/2.0". */
  startLine: string;
}

export function resolveScenario(name: string): string {
  if (isAbsolute(name)) return name;
  if (name.includes('/')) return resolve(name);
  return join(SIPP_FIXTURES_DIR, name);
}

export function outcomeOf(code: number | null, signal: NodeJS.Signals | null): SippOutcome {
  if (signal !== null || code === null) return 'killed';
  switch (code) {
    case 0:
      return 'all-succeeded';
    case 1:
      return 'some-failed';
    case 97:
      return 'internal-exit';
    case 99:
      return 'no-calls';
    default:
      return 'fatal';
  }
}

interface Prepared {
  args: string[];
  workDir: string;
  messagesFile: string;
  statsFile: string;
  screenFile: string;
  errorFile: string;
  wallTimeoutMs: number;
  localPort: number;
}

function transportKind(t: SippTransport): 'udp' | 'tcp' {
  return t === 'u1' || t === 'un' ? 'udp' : 'tcp';
}

async function prepare(opts: SippOptions, defaultWallMs: number): Promise<Prepared> {
  const transport = opts.transport ?? 'u1';
  const localIp = opts.localIp ?? '127.0.0.1';
  const workDir = opts.workDir ?? (await mkdtemp(join(tmpdir(), 'palisade-sipp-')));
  const scenario = resolveScenario(opts.scenario);
  const tag = basename(scenario).replace(/\.xml$/, '');
  const messagesFile = join(workDir, `${tag}.messages.log`);
  const statsFile = join(workDir, `${tag}.stats.csv`);
  const screenFile = join(workDir, `${tag}.screen.log`);
  const errorFile = join(workDir, `${tag}.errors.log`);
  const wallTimeoutMs = opts.wallTimeoutMs ?? defaultWallMs;
  const localPort = opts.localPort ?? (await getFreePort(transportKind(transport), localIp));
  const sippTimeoutSec = Math.max(1, Math.floor(wallTimeoutMs / 1000) - 1);
  const keys: Record<string, string> = { expires: '300', ...opts.keys };

  const args: string[] = ['-sf', scenario, '-t', transport, '-i', localIp, '-p', String(localPort)];
  args.push('-mi', opts.mediaIp ?? localIp);
  // The control socket (UDP 8888+) binds INADDR_ANY unless told otherwise: keep it on loopback.
  args.push('-ci', localIp.includes(':') ? '127.0.0.1' : localIp);
  args.push('-nostdin', '-timeout', `${sippTimeoutSec}s`);
  args.push('-trace_msg', '-message_file', messagesFile);
  args.push('-trace_stat', '-stf', statsFile, '-fd', '1');
  args.push('-trace_screen', '-screen_file', screenFile);
  args.push('-trace_err', '-error_file', errorFile);
  if (opts.service !== undefined) args.push('-s', opts.service);
  if (opts.rate !== undefined) args.push('-r', String(opts.rate));
  if (opts.ratePeriodMs !== undefined) args.push('-rp', `${opts.ratePeriodMs}ms`);
  if (opts.callLimit !== undefined) args.push('-l', String(opts.callLimit));
  if (opts.maxCalls !== undefined) args.push('-m', String(opts.maxCalls));
  if (opts.pauseMs !== undefined) args.push('-d', String(opts.pauseMs));
  if (opts.recvTimeoutMs !== undefined) args.push('-recv_timeout', String(opts.recvTimeoutMs));
  if (opts.oocScenario !== undefined) args.push('-oocsf', resolveScenario(opts.oocScenario));
  if (opts.injectionFile !== undefined) args.push('-inf', opts.injectionFile);
  if (opts.deadcallWaitMs !== undefined) args.push('-deadcall_wait', String(opts.deadcallWaitMs));
  if (opts.callidSlashIgnore === true) args.push('-callid_slash_ign');
  // SIPp refuses tn/un when its default of 50000 sockets exceeds the open-file limit.
  const maxSockets = opts.maxSockets ?? (transport === 'tn' || transport === 'un' ? 1000 : undefined);
  if (maxSockets !== undefined) args.push('-max_socket', String(maxSockets));
  for (const [k, v] of Object.entries(keys)) args.push('-key', k, v);
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push('-set', k, v);
  if (opts.extraArgs !== undefined) args.push(...opts.extraArgs);
  if (opts.remote !== undefined) args.push(opts.remote);
  return { args, workDir, messagesFile, statsFile, screenFile, errorFile, wallTimeoutMs, localPort };
}

/** Parses the last row of a SIPp statistics CSV into cumulative counters. Missing or empty file → {}. */
export function parseSippStatsCsv(text: string): SippCounters {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines[0];
  const last = lines[lines.length - 1];
  if (header === undefined || last === undefined || lines.length < 2) return {};
  const names = header.split(';');
  const values = last.split(';');
  const out: Record<string, number> = {};
  names.forEach((name, i) => {
    if (name.endsWith('(P)')) return;
    const key = name.endsWith('(C)') ? name.slice(0, -3) : name;
    const v = Number(values[i]);
    if (key !== '' && Number.isFinite(v)) out[key] = v;
  });
  return out;
}

/** Fallback: the last "Successful call" / "Failed call" cumulative values of a screen dump. */
export function parseSippScreen(text: string): { successful: number; failed: number } | null {
  const ok = [...text.matchAll(/Successful call\s*\|\s*\d+\s*\|\s*(\d+)/g)].pop();
  const ko = [...text.matchAll(/Failed call\s*\|\s*\d+\s*\|\s*(\d+)/g)].pop();
  if (ok?.[1] === undefined || ko?.[1] === undefined) return null;
  return { successful: Number(ok[1]), failed: Number(ko[1]) };
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return '';
  }
}

export async function readSippCounters(statsFile: string): Promise<SippCounters> {
  return parseSippStatsCsv(await readText(statsFile));
}

const MESSAGE_HEADER = /^(\w+) (?:control )?message (sent|received)\b[^\n]*\n\n/;

/** Splits a SIPp -trace_msg log into messages (both directions). A missing file yields []. */
export function parseSippMessages(log: string): SippMessage[] {
  const out: SippMessage[] = [];
  for (const block of log.replace(/\r\n/g, '\n').split(/^-{20,} [^\n]*\n/m)) {
    const m = MESSAGE_HEADER.exec(block);
    if (m === null) continue;
    const text = block.slice(m[0].length).replace(/\n+$/, '\n');
    const startLine = text.slice(0, text.indexOf('\n') >= 0 ? text.indexOf('\n') : text.length).trim();
    out.push({ transport: m[1] ?? '', direction: m[2] === 'sent' ? 'sent' : 'received', text, startLine });
  }
  return out;
}

export async function readSippMessages(messagesFile: string): Promise<SippMessage[]> {
  return parseSippMessages(await readText(messagesFile));
}

/** Messages whose start line matches `startLine` (e.g. /^SIP\/2\.0 200/ or /^INVITE /), in one direction. */
export function selectMessages(messages: readonly SippMessage[], direction: 'sent' | 'received', startLine: RegExp): SippMessage[] {
  return messages.filter((m) => m.direction === direction && startLine.test(m.startLine));
}

async function collect(
  p: Prepared,
  t: TrackedChild,
  started: number,
  exit: { code: number | null; signal: NodeJS.Signals | null },
  timedOut: boolean,
): Promise<SippResult> {
  const counters = await readSippCounters(p.statsFile);
  let successful = counters.SuccessfulCall ?? 0;
  let failed = counters.FailedCall ?? 0;
  if (counters.SuccessfulCall === undefined) {
    const screen = parseSippScreen(await readText(p.screenFile));
    if (screen !== null) ({ successful, failed } = screen);
  }
  return {
    successful,
    failed,
    exitCode: exit.code,
    signal: exit.signal,
    // SIPp also exits 1 when it cannot even start (bad scenario): no statistics were ever written then.
    outcome: exit.code === 1 && counters.SuccessfulCall === undefined ? 'fatal' : outcomeOf(exit.code, exit.signal),
    timedOut,
    durationMs: Date.now() - started,
    counters,
    messagesFile: p.messagesFile,
    statsFile: p.statsFile,
    screenFile: p.screenFile,
    errorFile: p.errorFile,
    workDir: p.workDir,
    stdout: t.stdout.toString(),
    stderr: t.stderr.toString(),
    args: p.args,
  };
}

/** Soft quit (SIGUSR1 = 'q'), forced quit (second SIGUSR1), then SIGKILL. SIPp writes its stats on the first two. */
const SIPP_STOP_STEPS: ReadonlyArray<{ signal: NodeJS.Signals; waitMs: number }> = [
  { signal: 'SIGUSR1', waitMs: 1500 },
  { signal: 'SIGUSR1', waitMs: 1500 },
];

/** Runs SIPp to completion (or to its wall-clock bound) and returns its counters. Never rejects on call failures. */
export async function runSipp(opts: SippOptions): Promise<SippResult> {
  const p = await prepare(opts, 30_000);
  const started = Date.now();
  const t = await spawnTracked(SIPP_BIN, p.args, { cwd: p.workDir });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void stopTracked(t, SIPP_STOP_STEPS);
  }, p.wallTimeoutMs);
  const exit = await t.exited;
  clearTimeout(timer);
  return collect(p, t, started, exit, timedOut);
}

export interface SippUasHandle {
  readonly pid: number;
  readonly port: number;
  readonly localIp: string;
  readonly transport: SippTransport;
  readonly messagesFile: string;
  readonly workDir: string;
  /** Cumulative counters so far (the CSV is rewritten every second). */
  counters(): Promise<SippCounters>;
  /** Messages logged so far. */
  messages(): Promise<SippMessage[]>;
  /** Asks SIPp to quit (ongoing calls finish within ~1.5 s), then forces it. Idempotent. */
  stop(): Promise<SippResult>;
  /** Resolves when SIPp has exited, for whatever reason. */
  readonly exited: Promise<SippResult>;
}

/**
 * Starts a server-mode SIPp (a scenario beginning with <recv>) and resolves once its SIP port is bound.
 * Register scenarios default to -deadcall_wait 0 (see uas-register.xml). Default wall bound: 60 s.
 */
export async function startSippUas(opts: SippOptions): Promise<SippUasHandle> {
  const transport = opts.transport ?? 'u1';
  const isRegistrar = /register/.test(basename(opts.scenario));
  const withDefaults: SippOptions = {
    ...opts,
    ...(opts.deadcallWaitMs === undefined && isRegistrar ? { deadcallWaitMs: 0 } : {}),
  };
  let lastError = '';
  // A free port can be taken between the check and SIPp's bind: retry a few times with a fresh one.
  for (let attempt = 0; attempt < 3; attempt++) {
    const p = await prepare(withDefaults, 60_000);
    const started = Date.now();
    const t = await spawnTracked(SIPP_BIN, p.args, { cwd: p.workDir });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void stopTracked(t, SIPP_STOP_STEPS);
    }, p.wallTimeoutMs);
    const exited = t.exited.then((exit) => {
      clearTimeout(timer);
      return collect(p, t, started, exit, timedOut);
    });
    const up = await waitForPort(transportKind(transport), p.localPort, 5000, () => t.isRunning());
    if (!up) {
      await stopTracked(t, []);
      const r = await exited;
      lastError = `sipp UAS did not bind ${transportKind(transport)} port ${p.localPort}: ${r.stderr.slice(-500)}`;
      if (opts.localPort !== undefined || !/bind/i.test(r.stderr)) break;
      continue;
    }
    // SIPp binds before it finishes initialising; a short settle avoids racing its first poll loop.
    await delay(50);
    let stopping: Promise<SippResult> | null = null;
    return {
      pid: t.pid,
      port: p.localPort,
      localIp: opts.localIp ?? '127.0.0.1',
      transport,
      messagesFile: p.messagesFile,
      workDir: p.workDir,
      counters: () => readSippCounters(p.statsFile),
      messages: () => readSippMessages(p.messagesFile),
      stop: () => {
        stopping ??= stopTracked(t, SIPP_STOP_STEPS).then(() => exited);
        return stopping;
      },
      exited,
    };
  }
  throw new Error(lastError);
}

export interface RegisterThenAnswerOptions
  extends Omit<SippOptions, 'scenario' | 'oocScenario' | 'maxCalls' | 'callidSlashIgnore' | 'transport'> {
  /** t1 by default: the INVITE must come back on the registration's connection. u1 works too. */
  transport?: SippTransport;
  /** How long the phone stays registered and reachable (ms). Default 3000. */
  holdMs?: number;
  /** Registration Expires in seconds. Default 300. */
  expires?: number;
}

export interface RegisterThenAnswerResult extends SippResult {
  /** A 200 to the REGISTER was received. */
  registered: boolean;
  /** INVITEs received, 200s sent to them, BYEs received, 200s sent to BYEs (from the message log). */
  invitesReceived: number;
  invitesAnswered: number;
  byesReceived: number;
  byesAnswered: number;
  messages: SippMessage[];
}

/**
 * A phone that registers (uac-register-then-answer.xml) and answers the call that comes back on the same
 * connection (uac-register-then-answer.ooc.xml). The answering half is an out-of-call scenario, so its outcome is
 * read from the message log rather than SIPp's counters.
 */
export async function runRegisterThenAnswer(opts: RegisterThenAnswerOptions): Promise<RegisterThenAnswerResult> {
  const holdMs = opts.holdMs ?? 3000;
  const r = await runSipp({
    ...opts,
    scenario: 'uac-register-then-answer.xml',
    oocScenario: 'uac-register-then-answer.ooc.xml',
    transport: opts.transport ?? 't1',
    callidSlashIgnore: true,
    maxCalls: 1,
    pauseMs: holdMs,
    keys: { expires: String(opts.expires ?? 300), ...opts.keys },
    wallTimeoutMs: opts.wallTimeoutMs ?? holdMs + 15_000,
  });
  const messages = await readSippMessages(r.messagesFile);
  const isRegisterResponse = (m: SippMessage): boolean => /^CSeq:\s*\d+\s+REGISTER/im.test(m.text);
  const isByeResponse = (m: SippMessage): boolean => /^CSeq:\s*\d+\s+BYE/im.test(m.text);
  const isInviteResponse = (m: SippMessage): boolean => /^CSeq:\s*\d+\s+INVITE/im.test(m.text);
  const ok200 = /^SIP\/2\.0 200\b/;
  return {
    ...r,
    registered: selectMessages(messages, 'received', ok200).some(isRegisterResponse),
    invitesReceived: selectMessages(messages, 'received', /^INVITE /).length,
    invitesAnswered: selectMessages(messages, 'sent', ok200).filter(isInviteResponse).length,
    byesReceived: selectMessages(messages, 'received', /^BYE /).length,
    byesAnswered: selectMessages(messages, 'sent', ok200).filter(isByeResponse).length,
    messages,
  };
}
