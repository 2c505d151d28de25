/**
 * baresip (Debian baresip-core 1.0.0) as a real SRTP softphone, headless.
 *
 * Every run gets its own config directory (`-f DIR`) holding `config`, `accounts` and a tone WAV:
 *   net_interface 127.0.0.1 and -4      (otherwise it advertises eth0's address in Via/Contact/SDP)
 *   sip_listen 127.0.0.1:0               (ephemeral UDP/TCP/TLS ports: no clash between parallel runs)
 *   audio_source aufile,<dir>/tone.wav   (8 kHz 16-bit mono; aufile loops the file)
 *   audio_player aubridge,nil            (decoded audio goes nowhere)
 *   modules: g711, aufile, aubridge, srtp, dtls_srtp, account, menu (the menu runs the -e commands)
 *   rtp_stats yes                        (at call end it prints "packets: <tx> <rx>" and "errors: <tx> <rx>")
 * `-e "/dial <uri>"` places the call, `-t <quitAfterS>` hangs up (BYE) and quits.
 *
 * TLS: baresip 1.0 (libre 1.x) does not verify the server certificate of a SIP TLS connection (there is no
 * sip_verify_server yet), so Palisade's self-signed listener certificate is accepted as is; `caFile` sets
 * sip_cafile anyway for completeness.
 *
 * Output is parsed into events as it arrives (see BaresipEvent); `exited` resolves with the summary.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTracked, stopTracked } from './proc.ts';
import { writeToneWav } from './wav.ts';

export const BARESIP_BIN = process.env.BARESIP_BIN ?? '/usr/bin/baresip';
export const BARESIP_MODULE_PATH = process.env.BARESIP_MODULE_PATH ?? '/usr/lib/baresip/modules';

export type BaresipTransport = 'udp' | 'tcp' | 'tls';
/** 'none' = plain RTP/AVP. 'srtp' offers SRTP but accepts plain; 'srtp-mand' requires SDES SRTP. */
export type BaresipMediaEnc = 'none' | 'srtp' | 'srtp-mand' | 'dtls_srtp';

export interface BaresipOptions {
  sipTransport: BaresipTransport;
  mediaenc: BaresipMediaEnc;
  /** "host:port" of the registrar / outbound proxy (Palisade's listener). IPv4 only (baresip runs with -4). */
  proxy: string;
  /** SIP user (AOR user part). Default "alice". */
  user?: string;
  /** AOR domain. Default the proxy's host. */
  domain?: string;
  /** Digest password (auth_user = user). */
  password?: string;
  /** REGISTER with this interval in seconds. Default: no registration (regint=0). */
  registerIntervalS?: number;
  /** Call this: a full sip: URI, or a user part dialled at the proxy ("100" → sip:100@proxy;transport=...). */
  dial?: string;
  /** Answer incoming calls automatically (answermode=auto). */
  autoAnswer?: boolean;
  /** Loopback address baresip binds and advertises (SIP and RTP). Default 127.0.0.1; any 127/8 address works. */
  localAddress?: string;
  /** Local SIP port (UDP and TCP; TLS needs a certificate and is not set up). Default 0 = ephemeral. */
  listenPort?: number;
  /** `-t`: hang up every call and quit after this many seconds. */
  quitAfterS: number;
  /** Tone written as the audio source. Default 440 Hz, 10 s (aufile loops). */
  tone?: { frequency?: number; seconds?: number };
  /** RTP port range. Default a random 200-port block in 30000-39999. */
  rtpPorts?: readonly [number, number];
  /** Offer a=rtcp-mux (config rtcp_mux). Default false (baresip's default: RTP and RTCP on a port pair). */
  rtcpMux?: boolean;
  /** sip_cafile. */
  caFile?: string;
  /** Lines appended to the config. */
  extraConfig?: readonly string[];
  /** Extra account parameters (";key=value" each, without the leading ';'). */
  extraAccountParams?: readonly string[];
  /** SIP trace (-s): every SIP message is printed (the parser ignores them). */
  sipTrace?: boolean;
  /** Keep the config directory after exit. Default false. */
  keepDir?: boolean;
}

export type BaresipEvent =
  | { type: 'ready' }
  | { type: 'registered'; status: number }
  | { type: 'register-failed'; reason: string }
  | { type: 'calling'; uri: string }
  | { type: 'progress'; status: number; reason: string }
  | { type: 'established'; peer: string }
  | { type: 'rtp-established'; from: string }
  /** SDES: "srtp: audio: SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)". */
  | { type: 'srtp'; suite: string }
  /** DTLS-SRTP handshake done for one component; the peer's certificate matched a=fingerprint before it. */
  | { type: 'dtls-complete'; component: string; profile: string }
  | { type: 'fingerprint-verified' }
  /** "srtp: recv: failed to decrypt ..." and the like. */
  | { type: 'srtp-error'; text: string }
  /** Any other srtp / dtls_srtp line. */
  | { type: 'menc'; text: string }
  | { type: 'closed'; reason: string }
  | { type: 'terminated'; peer: string; durationS: number }
  | { type: 'error'; text: string };

export interface BaresipRtpStats {
  txPackets: number;
  rxPackets: number;
  txErrors: number;
  rxErrors: number;
}

export interface BaresipResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  events: BaresipEvent[];
  established: boolean;
  /** Reason text of "session closed" (e.g. "488 Not Acceptable Here"), or null. */
  closedReason: string | null;
  /** The SIP status at the start of closedReason (488), or null. */
  closedStatus: number | null;
  /** SDES suite in use, or null. */
  srtpSuite: string | null;
  /** DTLS-SRTP profile of the RTP component once its handshake completed, or null. */
  dtlsProfile: string | null;
  /** srtp-error events (failed decryption or authentication, replays). */
  srtpErrors: number;
  /** From the rtp_stats table printed when the call ended; null when no call had media. */
  rtp: BaresipRtpStats | null;
  output: string;
  configDir: string;
}

export interface BaresipHandle {
  readonly pid: number;
  readonly configDir: string;
  /** The URI passed to /dial, if any. */
  readonly dialUri: string | null;
  readonly events: readonly BaresipEvent[];
  /** The first event (already seen or to come) that matches; rejects after `timeoutMs` or if baresip exits first. */
  waitFor<T extends BaresipEvent['type']>(
    type: T,
    timeoutMs: number,
    match?: (e: Extract<BaresipEvent, { type: T }>) => boolean,
  ): Promise<Extract<BaresipEvent, { type: T }>>;
  isRunning(): boolean;
  output(): string;
  /** Resolves when baresip exits by itself (after -t) or is stopped. */
  readonly exited: Promise<BaresipResult>;
  /** SIGTERM (baresip hangs up and quits), SIGKILL after `graceMs` (default 3000). Idempotent. */
  stop(graceMs?: number): Promise<BaresipResult>;
}

function splitHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  const host = i > 0 ? hp.slice(0, i) : hp;
  const port = i > 0 ? Number(hp.slice(i + 1)) : 5060;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad host:port ${hp}`);
  return { host, port };
}

/** The dial target: a full URI is kept, a bare user part is dialled at the proxy (baresip adds the account's transport). */
export function baresipDialUri(opts: Pick<BaresipOptions, 'dial' | 'proxy' | 'sipTransport'>): string | null {
  if (opts.dial === undefined) return null;
  if (/^sips?:/.test(opts.dial)) return opts.dial;
  const { host, port } = splitHostPort(opts.proxy);
  // baresip appends the account's ;transport= itself.
  return `sip:${opts.dial}@${host}:${port}`;
}

/** The `accounts` file line. */
export function baresipAccountLine(opts: BaresipOptions): string {
  const { host, port } = splitHostPort(opts.proxy);
  const user = opts.user ?? 'alice';
  const domain = opts.domain ?? host;
  const params = [
    `outbound="sip:${host}:${port};transport=${opts.sipTransport}"`,
    `regint=${opts.registerIntervalS ?? 0}`,
    'audio_codecs=pcmu,pcma',
    `answermode=${opts.autoAnswer === true ? 'auto' : 'manual'}`,
  ];
  if (opts.mediaenc !== 'none') params.push(`mediaenc=${opts.mediaenc}`);
  if (opts.password !== undefined) params.push(`auth_user=${user}`, `auth_pass=${opts.password}`);
  params.push(...(opts.extraAccountParams ?? []));
  return `<sip:${user}@${domain};transport=${opts.sipTransport}>;${params.join(';')}`;
}

/** The `config` file. */
export function baresipConfig(opts: BaresipOptions, wavPath: string, rtpPorts: readonly [number, number]): string {
  const lines = [
    '# generated by test/integration/harness/baresip.ts',
    'poll_method\t\tepoll',
    `sip_listen\t\t${opts.localAddress ?? '127.0.0.1'}:${opts.listenPort ?? 0}`,
    'call_local_timeout\t20',
    'call_max_calls\t\t4',
    `audio_source\t\taufile,${wavPath}`,
    'audio_player\t\taubridge,nil',
    'audio_alert\t\taubridge,nil',
    'audio_level\t\tno',
    `rtp_ports\t\t${rtpPorts[0]}-${rtpPorts[1]}`,
    'rtp_timeout\t\t0',
    'rtp_stats\t\tyes',
    `rtcp_mux\t\t${opts.rtcpMux === true ? 'yes' : 'no'}`,
    `net_interface\t\t${opts.localAddress ?? '127.0.0.1'}`,
    // Any name lookup stays on loopback (all targets here are IP literals, so none is expected).
    'dns_server\t\t127.0.0.1:53',
    `module_path\t\t${BARESIP_MODULE_PATH}`,
    'module\t\t\tg711.so',
    'module\t\t\taufile.so',
    'module\t\t\taubridge.so',
    'module\t\t\tsrtp.so',
    'module\t\t\tdtls_srtp.so',
    'module_app\t\taccount.so',
    'module_app\t\tmenu.so',
  ];
  if (opts.caFile !== undefined) lines.push(`sip_cafile\t\t${opts.caFile}`);
  lines.push(...(opts.extraConfig ?? []));
  return `${lines.join('\n')}\n`;
}

/** Removes ANSI colour sequences (ESC [ ... m) that baresip writes around warnings. */
function stripAnsi(s: string): string {
  return s.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '');
}

/** Parses one line of baresip output into an event (null for lines that carry none). Exported for tests. */
export function parseBaresipLine(raw: string): BaresipEvent | null {
  const line = stripAnsi(raw).trim();
  if (line === '') return null;
  for (const [re, build] of LINE_RULES) {
    const m = re.exec(line);
    if (m !== null) {
      const e = build(m, line);
      if (e !== null) return e;
    }
  }
  return null;
}

type Rule = readonly [RegExp, (m: RegExpExecArray, line: string) => BaresipEvent | null];

/** First match wins. Captures default to '' so a half-printed line never throws. */
const LINE_RULES: readonly Rule[] = [
  [/^baresip is ready\.$/, () => ({ type: 'ready' })],
  [
    /\{\d+\/(?:UDP|TCP|TLS)\/v[46]\} (\d{3}) (.*)$/,
    (m) =>
      (m[1] ?? '').startsWith('2')
        ? { type: 'registered', status: Number(m[1]) }
        : { type: 'register-failed', reason: `${m[1] ?? ''} ${m[2] ?? ''}`.trim() },
  ],
  // reg.c: "reg: <aor>: <status> <reason>" or "reg: <aor>: <error>".
  [/^reg: [^ ]+: (.*)$/, (m) => ({ type: 'register-failed', reason: (m[1] ?? '').trim() })],
  [/^call: connecting to '([^']+)'/, (m) => ({ type: 'calling', uri: m[1] ?? '' })],
  [/SIP Progress: (\d{3}) ([^(]*)/, (m) => ({ type: 'progress', status: Number(m[1]), reason: (m[2] ?? '').trim() })],
  [/Call established: (\S+)/, (m) => ({ type: 'established', peer: m[1] ?? '' })],
  [/incoming rtp for '\w+' established, receiving from (\S+)/, (m) => ({ type: 'rtp-established', from: m[1] ?? '' })],
  [/session closed: (.*)$/, (m) => ({ type: 'closed', reason: (m[1] ?? '').trim() })],
  [/Call with (\S+) terminated \(duration: (\d+) secs?\)/, (m) => ({ type: 'terminated', peer: m[1] ?? '', durationS: Number(m[2]) })],
  [/SRTP is Enabled \(cryptosuite=([A-Za-z0-9_]+)\)/, (m) => ({ type: 'srtp', suite: m[1] ?? '' })],
  [
    /DTLS-SRTP complete \(\w+\/(\w+)\) Profile=([A-Za-z0-9_]+)/,
    (m) => ({ type: 'dtls-complete', component: m[1] ?? '', profile: m[2] ?? '' }),
  ],
  [/verified SHA-\d+ fingerprint OK/i, () => ({ type: 'fingerprint-verified' })],
  [/^(?:srtp|dtls_srtp):.*(?:fail|error|bad|mismatch|invalid)/i, (_m, line) => ({ type: 'srtp-error', text: line })],
  [/^(?:srtp|dtls_srtp):/, (_m, line) => ({ type: 'menc', text: line })],
];

/** The rtp_stats table ("packets:  <tx>  <rx>", "errors:  <tx>  <rx>"); the last one printed wins. */
export function parseBaresipRtpStats(output: string): BaresipRtpStats | null {
  const text = stripAnsi(output);
  const packets = [...text.matchAll(/^packets:\s+(\d+)\s+(\d+)/gm)].pop();
  if (packets === undefined) return null;
  const errors = [...text.matchAll(/^errors:\s+(\d+)\s+(\d+)/gm)].pop();
  return {
    txPackets: Number(packets[1]),
    rxPackets: Number(packets[2]),
    txErrors: errors === undefined ? 0 : Number(errors[1]),
    rxErrors: errors === undefined ? 0 : Number(errors[2]),
  };
}

const MAX_EVENTS = 500;

export async function startBaresip(opts: BaresipOptions): Promise<BaresipHandle> {
  const configDir = await mkdtemp(join(tmpdir(), 'palisade-baresip-'));
  const wavPath = join(configDir, 'tone.wav');
  await writeToneWav(wavPath, { frequency: opts.tone?.frequency ?? 440, seconds: opts.tone?.seconds ?? 10 });
  const base = 30000 + 200 * Math.floor(Math.random() * 50);
  const rtpPorts = opts.rtpPorts ?? ([base, base + 199] as const);
  await writeFile(join(configDir, 'config'), baresipConfig(opts, wavPath, rtpPorts));
  await writeFile(join(configDir, 'accounts'), `${baresipAccountLine(opts)}\n`, { mode: 0o600 });
  await writeFile(join(configDir, 'contacts'), '');
  const dialUri = baresipDialUri(opts);
  const args = ['-f', configDir, '-4', '-t', String(opts.quitAfterS)];
  if (opts.sipTrace === true) args.push('-s');
  if (dialUri !== null) args.push('-e', `/dial ${dialUri}`);

  const events: BaresipEvent[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  const onText = (s: string): void => {
    partial += s;
    const parts = partial.split(/\r\n|\r|\n/);
    partial = parts.pop() ?? '';
    if (partial.length > 4096) partial = partial.slice(-4096);
    for (const line of parts) {
      const e = parseBaresipLine(line);
      if (e !== null && events.length < MAX_EVENTS) events.push(e);
    }
    for (const w of waiters) w();
  };
  const t = await spawnTracked(BARESIP_BIN, args, {
    cwd: configDir,
    env: { ...process.env, HOME: configDir },
    outputLimit: 256 * 1024,
    onStdout: onText,
    onStderr: onText,
  });
  const output = (): string => t.stdout.toString() + t.stderr.toString();
  const exited: Promise<BaresipResult> = t.exited.then(async (exit) => {
    onText('\n');
    for (const w of waiters) w();
    const out = output();
    const closed = events.find((e): e is Extract<BaresipEvent, { type: 'closed' }> => e.type === 'closed');
    const result: BaresipResult = {
      code: exit.code,
      signal: exit.signal,
      events: [...events],
      established: events.some((e) => e.type === 'established'),
      closedReason: closed?.reason ?? null,
      closedStatus: closed !== undefined && /^\d{3}\b/.test(closed.reason) ? Number(closed.reason.slice(0, 3)) : null,
      srtpSuite: events.find((e): e is Extract<BaresipEvent, { type: 'srtp' }> => e.type === 'srtp')?.suite ?? null,
      dtlsProfile:
        events.find((e): e is Extract<BaresipEvent, { type: 'dtls-complete' }> => e.type === 'dtls-complete' && e.component === 'RTP')
          ?.profile ?? null,
      srtpErrors: events.filter((e) => e.type === 'srtp-error').length,
      rtp: parseBaresipRtpStats(out),
      output: out,
      configDir,
    };
    if (opts.keepDir !== true) await rm(configDir, { recursive: true, force: true });
    return result;
  });

  let stopping: Promise<BaresipResult> | null = null;
  return {
    pid: t.pid,
    configDir,
    dialUri,
    events,
    isRunning: () => t.isRunning(),
    output,
    exited,
    waitFor(type, timeoutMs, match) {
      type E = Extract<BaresipEvent, { type: typeof type }>;
      const find = (): E | undefined => events.find((e): e is E => e.type === type && (match === undefined || match(e as E)));
      return new Promise<E>((resolve, reject) => {
        const check = (): void => {
          const e = find();
          if (e !== undefined) {
            done();
            resolve(e);
          } else if (!t.isRunning()) {
            done();
            reject(new Error(`baresip exited before '${type}':\n${output().slice(-3000)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no baresip '${type}' within ${timeoutMs} ms:\n${output().slice(-3000)}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    stop(graceMs = 3000) {
      stopping ??= (async () => {
        await stopTracked(t, [{ signal: 'SIGTERM', waitMs: graceMs }]);
        return exited;
      })();
      return stopping;
    },
  };
}

/** Runs baresip until it quits by itself (-t) or `wallMs` passes (default quitAfterS + 10 s), then stops it. */
export async function runBaresip(opts: BaresipOptions, wallMs?: number): Promise<BaresipResult> {
  const h = await startBaresip(opts);
  const bound = wallMs ?? opts.quitAfterS * 1000 + 10_000;
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    h.exited,
    new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), bound);
    }),
  ]);
  clearTimeout(timer);
  return r ?? h.stop();
}
