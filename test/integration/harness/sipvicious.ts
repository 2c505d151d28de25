/**
 * SIPVicious 0.3.3 (Debian `sipvicious`: svmap, svwar, svcrack) as a real attacker, from a chosen loopback source.
 *
 * svwar and svcrack accept -b but never pass it to their socket, so the tools run under a small Python wrapper,
 * written at run time into a temp directory, that:
 *   - rebinds every IPv4 bind() to the chosen source address (the port is kept; pass -P/--localport or let the
 *     harness choose a free one), and binds an unbound socket before its first sendto();
 *   - refuses any destination or connect() that is not loopback (never any other network);
 *   - caps socket timeouts (svcrack hard-codes 10 s per wait) so a banned run ends quickly;
 *   - counts datagrams sent, sent with an Authorization/Proxy-Authorization (password guesses), and received
 *     (with the status codes), and writes them as JSON at exit (also on SIGTERM);
 *   - optionally (`preferMd5Challenge`) makes svcrack answer the MD5 challenge of a multi-challenge 401/407:
 *     svcrack only reads the first challenge and crashes on any algorithm but MD5 (and SIPp does the same), so
 *     this stands for an updated cracker against an account that is allowed MD5.
 * The tool's main runs through runpy with PYTHONPATH=/usr/share/sipvicious (where Debian installs the module).
 * Every run is bounded (SIGTERM, then SIGKILL). Output is parsed: svwar's extensions table, svcrack's
 * "The password for X is Y" lines and table, svmap's devices table.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFreePort, spawnTracked, stopTracked } from './proc.ts';

export const SIPVICIOUS_PYTHON = process.env.SIPVICIOUS_PYTHON ?? '/usr/bin/python3';
export const SIPVICIOUS_PATH = process.env.SIPVICIOUS_PATH ?? '/usr/share/sipvicious';

export type SipviciousTool = 'svwar' | 'svcrack' | 'svmap';

export interface SipviciousOptions {
  /** Loopback source address the tool binds to (e.g. '127.0.0.66'). */
  bindIp: string;
  /** Target "host" (loopback) and port. */
  host: string;
  port: number;
  /** Extra arguments for the tool (e.g. ['-e', '100-120'] for svwar, ['-u', '100', '-d', file] for svcrack). */
  args?: readonly string[];
  /** Local port (-P); default: a free UDP port on bindIp. */
  localPort?: number;
  /** Wall-clock bound (default 30 s): SIGTERM, then SIGKILL 2 s later. */
  wallTimeoutMs?: number;
  /** Cap on every socket timeout the tool sets (seconds, default 2). */
  socketTimeoutCapSec?: number;
  /** svcrack: answer the MD5 challenge when the 401/407 carries several (see the module comment). */
  preferMd5Challenge?: boolean;
}

export interface SipviciousStats {
  sent: number;
  /** Datagrams sent that carried Authorization or Proxy-Authorization (password guesses). */
  sentWithAuth: number;
  received: number;
  /** Received datagrams per first-line status code ("401", "404", …; "request" for requests). */
  receivedByStatus: Record<string, number>;
  /** The address the tool's socket really bound to ([ip, port]). */
  boundTo: [string, number] | null;
}

export interface SipviciousResult {
  tool: SipviciousTool;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
  stdout: string;
  stderr: string;
  stats: SipviciousStats;
  /** The rows of the tool's result table (header row excluded). */
  rows: string[][];
}

const WRAPPER = String.raw`
import atexit, ipaddress, json, os, runpy, signal, socket, sys

BIND_IP = os.environ['PALISADE_SV_BIND_IP']
STATS_FILE = os.environ['PALISADE_SV_STATS']
CAP = float(os.environ.get('PALISADE_SV_TIMEOUT_CAP', '2'))
TOOL = sys.argv[1]
stats = {'sent': 0, 'sentWithAuth': 0, 'received': 0, 'receivedByStatus': {}, 'boundTo': None}

def _write():
    try:
        with open(STATS_FILE, 'w') as f:
            json.dump(stats, f)
    except Exception:
        pass
atexit.register(_write)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

def _is_loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

_bind = socket.socket.bind
_sendto = socket.socket.sendto
_recvfrom = socket.socket.recvfrom
_recv = socket.socket.recv
_connect = socket.socket.connect
_settimeout = socket.socket.settimeout

def bind(self, addr):
    if self.family == socket.AF_INET and isinstance(addr, tuple):
        addr = (BIND_IP, addr[1])
    r = _bind(self, addr)
    try:
        stats['boundTo'] = list(self.getsockname()[:2])
    except OSError:
        pass
    return r

def _ensure_bound(self):
    if self.family == socket.AF_INET and self.getsockname()[1] == 0:
        bind(self, (BIND_IP, 0))

def _count_sent(data):
    stats['sent'] += 1
    head = bytes(data[:4096]).lower()
    if b'\nauthorization:' in head or b'\nproxy-authorization:' in head:
        stats['sentWithAuth'] += 1

def _count_recv(data):
    stats['received'] += 1
    first = bytes(data[:32])
    key = first[8:11].decode('ascii', 'replace') if first.startswith(b'SIP/2.0 ') else 'request'
    stats['receivedByStatus'][key] = stats['receivedByStatus'].get(key, 0) + 1

def sendto(self, data, *args):
    addr = args[-1]
    if not _is_loopback(addr[0]):
        raise OSError('palisade harness: destination %r is not loopback' % (addr[0],))
    _ensure_bound(self)
    n = _sendto(self, data, *args)
    _count_sent(data)
    return n

def recvfrom(self, *args):
    r = _recvfrom(self, *args)
    _count_recv(r[0])
    return r

def recv(self, *args):
    r = _recv(self, *args)
    _count_recv(r)
    return r

def connect(self, addr):
    if isinstance(addr, tuple) and not _is_loopback(addr[0]):
        raise OSError('palisade harness: connect to %r refused (not loopback)' % (addr[0],))
    return _connect(self, addr)

def settimeout(self, t):
    return _settimeout(self, CAP if t is None or t > CAP else t)

socket.socket.bind = bind
socket.socket.sendto = sendto
socket.socket.recvfrom = recvfrom
socket.socket.recv = recv
socket.socket.connect = connect
socket.socket.settimeout = settimeout

if os.environ.get('PALISADE_SV_PREFER_MD5') == '1':
    import re
    import sipvicious.libs.svhelper as svhelper
    def getAuthHeader(pkt):
        found = re.findall('\r\n(www-authenticate|proxy-authenticate): (.+?)\r\n', pkt, re.I)
        for _, value in found:
            if re.search(r'algorithm="?md5"?\s*(,|$)', value, re.I):
                return value
        return found[0][1] if found else None
    svhelper.getAuthHeader = getAuthHeader

sys.argv = [TOOL] + sys.argv[2:]
runpy.run_module('sipvicious.' + TOOL, run_name='__main__', alter_sys=True)
`;

const EMPTY_STATS: SipviciousStats = { sent: 0, sentWithAuth: 0, received: 0, receivedByStatus: {}, boundTo: null };

/** Rows of a pptable table ("| a | b |" lines); the first such row (the header) is dropped. */
export function parseSipviciousTable(stdout: string): string[][] {
  const rows = stdout
    .split(/\r?\n/)
    .filter((l) => l.trim().startsWith('|'))
    .map((l) =>
      l
        .trim()
        .replace(/^\||\|$/g, '')
        .split('|')
        .map((c) => c.trim()),
    );
  return rows.slice(1);
}

/** svwar: the extensions it reports (first column of its table). */
export function svwarExtensions(r: SipviciousResult): string[] {
  return r.rows.map((row) => row[0] ?? '').filter((x) => x !== '');
}

/** svcrack: user → password pairs it reports (log lines and table). */
export function svcrackPasswords(r: SipviciousResult): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of (r.stderr + r.stdout).matchAll(/The password for (\S+) is (\S+)/g)) {
    if (m[1] !== undefined && m[2] !== undefined) out.set(m[1], m[2]);
  }
  for (const row of r.rows) if (row[0] && row[1]) out.set(row[0], row[1]);
  return out;
}

/** svmap: "ip:port" of each device it reports. */
export function svmapDevices(r: SipviciousResult): string[] {
  return r.rows.map((row) => row[0] ?? '').filter((x) => x !== '');
}

function isLoopback(ip: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip) || ip === '::1';
}

/** Runs one SIPVicious tool to completion (or its wall bound) and parses what it found. */
export async function runSipvicious(tool: SipviciousTool, opts: SipviciousOptions): Promise<SipviciousResult> {
  if (!isLoopback(opts.bindIp) || !isLoopback(opts.host)) throw new Error('SIPVicious runs against loopback only');
  const dir = await mkdtemp(join(tmpdir(), 'palisade-sv-'));
  try {
    const wrapper = join(dir, 'sv_wrapper.py');
    const statsFile = join(dir, 'stats.json');
    await writeFile(wrapper, WRAPPER);
    const localPort = opts.localPort ?? (await getFreePort('udp', opts.bindIp));
    const args: string[] = [wrapper, tool];
    // svmap takes the port with -p and binds -P; svwar/svcrack likewise. -x: the address written in Via/Contact.
    args.push('-p', String(opts.port), '-P', String(localPort), '-x', opts.bindIp);
    args.push(...(opts.args ?? []));
    args.push(opts.host);
    const started = Date.now();
    const t = await spawnTracked(SIPVICIOUS_PYTHON, args, {
      cwd: dir,
      env: {
        ...process.env,
        HOME: dir,
        PYTHONPATH: SIPVICIOUS_PATH,
        PYTHONDONTWRITEBYTECODE: '1',
        PYTHONUNBUFFERED: '1',
        PALISADE_SV_BIND_IP: opts.bindIp,
        PALISADE_SV_STATS: statsFile,
        PALISADE_SV_TIMEOUT_CAP: String(opts.socketTimeoutCapSec ?? 2),
        PALISADE_SV_PREFER_MD5: opts.preferMd5Challenge === true ? '1' : '0',
      },
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void stopTracked(t, [{ signal: 'SIGTERM', waitMs: 2000 }]);
    }, opts.wallTimeoutMs ?? 30_000);
    const exit = await t.exited;
    clearTimeout(timer);
    let stats = EMPTY_STATS;
    try {
      stats = { ...EMPTY_STATS, ...(JSON.parse(await readFile(statsFile, 'utf8')) as Partial<SipviciousStats>) };
    } catch {
      // killed before atexit: no stats
    }
    const stdout = t.stdout.toString();
    return {
      tool,
      exitCode: exit.code,
      signal: exit.signal,
      timedOut,
      durationMs: Date.now() - started,
      stdout,
      stderr: t.stderr.toString(),
      stats,
      rows: parseSipviciousTable(stdout),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
