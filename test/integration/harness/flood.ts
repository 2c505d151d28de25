/**
 * A SIP INVITE flooder for attack tests and bench/attack.ts: pre-built INVITE datagrams (Call-ID, branch and
 * From tag vary per packet, written in place) sent at a target rate from one or more chosen loopback source
 * addresses, for a bounded time or packet count, from a child process.
 *
 * Engine: a tiny C program (sendmmsg, batches paced against CLOCK_MONOTONIC) compiled with gcc on first use into
 * a cache directory (scripts/install-test-tools.sh installs gcc). Node's dgram costs ~3-5 µs of CPU per send on
 * this class of machine, too close to the whole core at 50,000/s; the C sender needs a fraction of that.
 * The flooder also drains whatever answers come back (to count them and to time the last one).
 *
 * The Call-ID carries the datagram's sequence number (16 hex digits), so answers tell which request they answer:
 * distinct answers vs retransmissions, and the newest request answered (when the target went silent).
 * It prints one JSON line when done:
 *   { sent, errors, answered, answeredDistinct, answeredRepeats, maxAnsweredSeq, startEpochMs, elapsedMs, lastAnswerMs }
 *   startEpochMs  wall clock (CLOCK_REALTIME) just before the first datagram
 *   lastAnswerMs  ms after the start of the last datagram received from the target (-1: none)
 * Only loopback targets and sources are accepted (checked here and in the C program).
 */
import { createHash } from 'node:crypto';
import { access, mkdir, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTracked, stopTracked } from './proc.ts';

export interface FloodOptions {
  /** Target address (loopback only) and port. */
  host: string;
  port: number;
  /** Source addresses (IPv4 loopback: 127.x.y.z), used round-robin. Default ['127.0.0.1']. */
  sources?: readonly string[];
  /** Datagrams per second over all sources. */
  rate: number;
  /** Stop after this long (ms). */
  durationMs: number;
  /** Stop after this many datagrams (default: unbounded, duration only). */
  maxPackets?: number;
  /** User part of the Request-URI (default '100'). The host part is `host:port` (ours, so not a scanner trait). */
  user?: string;
  /** Method (default INVITE). */
  method?: 'INVITE' | 'REGISTER' | 'OPTIONS';
  /** User-Agent header (default "palisade-flood"; "friendly-scanner" makes it a scanner). */
  userAgent?: string;
  /** Extra wall-clock margin before the child is killed (default 3000 ms). */
  killAfterMs?: number;
}

export interface FloodResult {
  sent: number;
  errors: number;
  /** Datagrams received from the target (answers, retransmissions included). */
  answered: number;
  /** Distinct flood requests answered (by the sequence number the Call-ID carries). */
  answeredDistinct: number;
  /** Answers to a request already answered: the target's retransmissions (RFC 3261 Timer G for a 4xx to INVITE). */
  answeredRepeats: number;
  /** Sequence number of the newest request that got an answer (-1: none); sent about seq / rate s after the start. */
  maxAnsweredSeq: number;
  /** maxAnsweredSeq as ms after the start at the nominal rate (-1: none). */
  newestAnsweredSentAtMs: number;
  startEpochMs: number;
  elapsedMs: number;
  lastAnswerMs: number;
  /** Achieved rate (sent / elapsed). */
  achievedRate: number;
}

export interface FloodHandle {
  readonly pid: number;
  /** Resolves with the flooder's report (rejects if it exits without one). */
  readonly done: Promise<FloodResult>;
  /** Stops the flooder early (SIGTERM: it still prints its report). */
  stop(): Promise<FloodResult>;
}

const C_SOURCE = String.raw`
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAXSRC 256
#define PKT 1400

static volatile sig_atomic_t stop_flag = 0;
static void on_term(int s) { (void)s; stop_flag = 1; }

static double now_ms(clockid_t c);
static unsigned char *g_seen; static long long g_cap, g_answered, g_distinct, g_repeats, g_max_seq = -1; static double g_last = -1, g_t0;
static long long answer_seq(const char *b, ssize_t n);
static void drain(int s) {
  char rbuf[2048]; ssize_t n;
  while ((n = recv(s, rbuf, sizeof rbuf, MSG_DONTWAIT)) > 0) {
    g_answered++; g_last = now_ms(CLOCK_MONOTONIC) - g_t0;
    long long q = answer_seq(rbuf, n);
    if (q >= 0 && q < g_cap) {
      if (g_seen[q >> 3] & (1u << (q & 7))) g_repeats++; else { g_seen[q >> 3] |= (unsigned char)(1u << (q & 7)); g_distinct++; }
      if (q > g_max_seq) g_max_seq = q;
    }
  }
}
static double now_ms(clockid_t c) {
  struct timespec ts; clock_gettime(c, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}
static int is_loopback(const char *ip) { return strncmp(ip, "127.", 4) == 0; }
static const char HEX[] = "0123456789abcdef";
/* The sequence number from an answer's Call-ID ("Call-ID: <16 hex>." or compact "i: "), or -1. */
static long long answer_seq(const char *b, ssize_t n) {
  for (ssize_t i = 0; i + 20 < n; i++) {
    if (b[i] != '\n') continue;
    const char *p = b + i + 1; int skip = 0;
    if (strncasecmp(p, "Call-ID:", 8) == 0) skip = 8; else if (strncasecmp(p, "i:", 2) == 0) skip = 2; else continue;
    p += skip; while (*p == ' ' && p < b + n) p++;
    if (p + 16 > b + n) return -1;
    long long v = 0;
    for (int k = 0; k < 16; k++) {
      char c = p[k]; int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return -1; v = v * 16 + d;
    }
    return v;
  }
  return -1;
}
static void put_hex(char *p, uint64_t v) { for (int i = 15; i >= 0; i--) { p[i] = HEX[v & 15]; v >>= 4; } }

/* argv: host port rate durationMs maxPackets method user userAgent src1,src2,... */
int main(int argc, char **argv) {
  if (argc != 10) { fprintf(stderr, "usage\n"); return 2; }
  const char *host = argv[1]; int port = atoi(argv[2]); double rate = atof(argv[3]);
  double duration = atof(argv[4]); long long maxp = atoll(argv[5]);
  const char *method = argv[6]; const char *user = argv[7]; const char *ua = argv[8];
  if (!is_loopback(host)) { fprintf(stderr, "target must be loopback\n"); return 2; }
  signal(SIGTERM, on_term); signal(SIGINT, on_term);

  int socks[MAXSRC]; int nsrc = 0; char srcs[MAXSRC][64];
  char *list = strdup(argv[9]);
  for (char *tok = strtok(list, ","); tok && nsrc < MAXSRC; tok = strtok(NULL, ",")) {
    if (!is_loopback(tok)) { fprintf(stderr, "source must be loopback: %s\n", tok); return 2; }
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int sz = 4 << 20; setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    struct sockaddr_in a; memset(&a, 0, sizeof a); a.sin_family = AF_INET; a.sin_port = 0;
    if (inet_pton(AF_INET, tok, &a.sin_addr) != 1 || bind(s, (struct sockaddr *)&a, sizeof a) != 0) {
      fprintf(stderr, "bind %s: %s\n", tok, strerror(errno)); return 2;
    }
    struct sockaddr_in d; memset(&d, 0, sizeof d); d.sin_family = AF_INET; d.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &d.sin_addr);
    if (connect(s, (struct sockaddr *)&d, sizeof d) != 0) { fprintf(stderr, "connect: %s\n", strerror(errno)); return 2; }
    snprintf(srcs[nsrc], sizeof srcs[nsrc], "%s", tok);
    socks[nsrc++] = s;
  }
  if (nsrc == 0) return 2;

  unsigned run_id = (unsigned)(getpid() ^ (unsigned)now_ms(CLOCK_REALTIME));
  /* One template per source (its address in Via/Contact); 16 hex digits at three marked offsets vary. */
  static char tmpl[MAXSRC][PKT]; int len[MAXSRC]; int off_branch[MAXSRC], off_tag[MAXSRC], off_cid[MAXSRC];
  for (int i = 0; i < nsrc; i++) {
    struct sockaddr_in la; socklen_t ll = sizeof la; getsockname(socks[i], (struct sockaddr *)&la, &ll);
    int lport = ntohs(la.sin_port);
    const char *body = "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    char sdp[256]; int sdplen = snprintf(sdp, sizeof sdp, body, srcs[i], srcs[i]);
    int is_invite = strcmp(method, "INVITE") == 0;
    int n = snprintf(tmpl[i], PKT,
      "%s sip:%s@%s:%d SIP/2.0\r\n"
      "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bKBBBBBBBBBBBBBBBB;rport\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:flood@%s>;tag=TTTTTTTTTTTTTTTT\r\n"
      "To: <sip:%s@%s:%d>\r\n"
      "Call-ID: CCCCCCCCCCCCCCCC.%08x@%s\r\n"
      "CSeq: 1 %s\r\n"
      "Contact: <sip:flood@%s:%d>\r\n"
      "User-Agent: %s\r\n"
      "%s"
      "Content-Length: %d\r\n\r\n%s",
      method, user, host, port, srcs[i], lport, srcs[i], user, host, port, run_id, srcs[i], method, srcs[i], lport, ua,
      is_invite ? "Content-Type: application/sdp\r\n" : "", is_invite ? sdplen : 0, is_invite ? sdp : "");
    len[i] = n;
    off_branch[i] = (int)(strstr(tmpl[i], "BBBBBBBBBBBBBBBB") - tmpl[i]);
    off_tag[i] = (int)(strstr(tmpl[i], "TTTTTTTTTTTTTTTT") - tmpl[i]);
    off_cid[i] = (int)(strstr(tmpl[i], "CCCCCCCCCCCCCCCC") - tmpl[i]);
  }

  static char bufs[BATCH][PKT]; struct mmsghdr msgs[BATCH]; struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);
  g_cap = maxp > 0 ? maxp : (long long)(rate * duration / 1000.0) + BATCH + 1;
  g_seen = calloc((size_t)(g_cap / 8 + 1), 1);
  uint64_t seed = ((uint64_t)getpid() << 32) ^ (uint64_t)now_ms(CLOCK_REALTIME);
  long long sent = 0, errors = 0;
  double start_epoch = now_ms(CLOCK_REALTIME); g_t0 = now_ms(CLOCK_MONOTONIC);
  int src = 0;
  while (!stop_flag) {
    double el = now_ms(CLOCK_MONOTONIC) - g_t0;
    if (el >= duration || (maxp > 0 && sent >= maxp)) break;
    long long due = (long long)(rate * el / 1000.0) + 1;
    if (maxp > 0 && due > maxp) due = maxp;
    long long want = due - sent;
    if (want <= 0) {
      /* Drain answers while waiting for the next slot. */
      for (int i = 0; i < nsrc; i++) drain(socks[i]);
      struct timespec ts = {0, 200000}; nanosleep(&ts, NULL);
      continue;
    }
    if (want > BATCH) want = BATCH;
    int s = src; src = (src + 1) % nsrc;
    for (int k = 0; k < want; k++) {
      memcpy(bufs[k], tmpl[s], (size_t)len[s]);
      uint64_t v = seed + (uint64_t)(sent + k) * 0x9E3779B97F4A7C15ULL;
      put_hex(bufs[k] + off_branch[s], v); put_hex(bufs[k] + off_tag[s], v ^ 0x5555); put_hex(bufs[k] + off_cid[s], (uint64_t)(sent + k));
      iov[k].iov_base = bufs[k]; iov[k].iov_len = (size_t)len[s];
      msgs[k].msg_hdr.msg_iov = &iov[k]; msgs[k].msg_hdr.msg_iovlen = 1;
    }
    int r = sendmmsg(socks[s], msgs, (unsigned)want, 0);
    if (r < 0) { errors += want; struct timespec ts = {0, 100000}; nanosleep(&ts, NULL); }
    else { sent += r; if (r < want) errors += want - r; }
    drain(socks[s]);
  }
  /* Late answers (a short grace). */
  double end = now_ms(CLOCK_MONOTONIC) - g_t0; double until = now_ms(CLOCK_MONOTONIC) + 100;
  while (now_ms(CLOCK_MONOTONIC) < until) {
    for (int i = 0; i < nsrc; i++) drain(socks[i]);
    struct timespec ts = {0, 2000000}; nanosleep(&ts, NULL);
  }
  printf("{\"sent\":%lld,\"errors\":%lld,\"answered\":%lld,\"answeredDistinct\":%lld,\"answeredRepeats\":%lld,"
         "\"maxAnsweredSeq\":%lld,\"startEpochMs\":%.3f,\"elapsedMs\":%.3f,\"lastAnswerMs\":%.3f}\n",
         sent, errors, g_answered, g_distinct, g_repeats, g_max_seq, start_epoch, end, g_last);
  fflush(stdout);
  return 0;
}
`;

let compiled: Promise<string> | null = null;

/** Compiles the C flooder once per source version into a cache directory; resolves to the binary's path. */
export function floodBinary(): Promise<string> {
  compiled ??= (async () => {
    const hash = createHash('sha256').update(C_SOURCE).digest('hex').slice(0, 16);
    const dir = join(tmpdir(), 'palisade-flood-bin');
    await mkdir(dir, { recursive: true });
    const bin = join(dir, `flood-${hash}`);
    try {
      await access(bin);
      return bin;
    } catch {
      // not built yet
    }
    const src = join(dir, `flood-${hash}-${process.pid}.c`);
    await writeFile(src, C_SOURCE);
    const tmpBin = `${bin}.${process.pid}.tmp`;
    const t = await spawnTracked('gcc', ['-O2', '-o', tmpBin, src]);
    const exit = await t.exited;
    if (exit.code !== 0) throw new Error(`gcc failed (is gcc installed? scripts/install-test-tools.sh): ${t.stderr.toString()}`);
    // rename is atomic: parallel suites either see no binary or a complete one.
    await rename(tmpBin, bin);
    return bin;
  })();
  return compiled;
}

function isLoopbackV4(ip: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip);
}

/** `count` loopback addresses 127.<a>.<b>.<c> starting after `base` (default 127.0.1.0 → 127.0.1.1…). */
export function loopbackRange(count: number, base = '127.0.1.0'): string[] {
  const parts = base.split('.').map(Number);
  let n = (((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
  const out: string[] = [];
  while (out.length < count) {
    n++;
    if ((n & 0xff) === 0 || (n & 0xff) === 255) continue;
    out.push(`127.${(n >> 16) & 0xff}.${(n >> 8) & 0xff}.${n & 0xff}`);
  }
  return out;
}

export function parseFloodReport(stdout: string): FloodResult | null {
  const line = stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (line === undefined) return null;
  try {
    const j = JSON.parse(line) as Record<string, unknown>;
    const num = (k: string): number => (typeof j[k] === 'number' ? (j[k] as number) : Number.NaN);
    const r = {
      sent: num('sent'),
      errors: num('errors'),
      answered: num('answered'),
      answeredDistinct: num('answeredDistinct'),
      answeredRepeats: num('answeredRepeats'),
      maxAnsweredSeq: num('maxAnsweredSeq'),
      startEpochMs: num('startEpochMs'),
      elapsedMs: num('elapsedMs'),
      lastAnswerMs: num('lastAnswerMs'),
    };
    if (Object.values(r).some((v) => Number.isNaN(v))) return null;
    const achievedRate = r.elapsedMs > 0 ? (r.sent * 1000) / r.elapsedMs : 0;
    const newestAnsweredSentAtMs = r.maxAnsweredSeq < 0 || achievedRate === 0 ? -1 : (r.maxAnsweredSeq * 1000) / achievedRate;
    return { ...r, achievedRate, newestAnsweredSentAtMs };
  } catch {
    return null;
  }
}

/** Starts a flood in a child process; `done` resolves with its report. Bounded by durationMs + killAfterMs. */
export async function startFlood(opts: FloodOptions): Promise<FloodHandle> {
  const sources = opts.sources ?? ['127.0.0.1'];
  if (!isLoopbackV4(opts.host)) throw new Error(`flood target must be IPv4 loopback: ${opts.host}`);
  for (const s of sources) if (!isLoopbackV4(s)) throw new Error(`flood source must be IPv4 loopback: ${s}`);
  if (sources.length === 0 || sources.length > 256) throw new Error('1..256 sources');
  const bin = await floodBinary();
  const args = [
    opts.host,
    String(opts.port),
    String(opts.rate),
    String(opts.durationMs),
    String(opts.maxPackets ?? 0),
    opts.method ?? 'INVITE',
    opts.user ?? '100',
    opts.userAgent ?? 'palisade-flood',
    sources.join(','),
  ];
  const t = await spawnTracked(bin, args);
  const timer = setTimeout(() => void stopTracked(t, [{ signal: 'SIGTERM', waitMs: 1000 }]), opts.durationMs + (opts.killAfterMs ?? 3000));
  const done = t.exited.then((exit) => {
    clearTimeout(timer);
    const r = parseFloodReport(t.stdout.toString());
    if (r === null)
      throw new Error(`flooder exited (${String(exit.code)}/${String(exit.signal)}) without a report: ${t.stderr.toString()}`);
    return r;
  });
  // Avoid an unhandled rejection when the caller only uses stop().
  done.catch(() => undefined);
  return {
    pid: t.pid,
    done,
    stop: async () => {
      await stopTracked(t, [{ signal: 'SIGTERM', waitMs: 1000 }]);
      return done;
    },
  };
}

/** Runs a flood to completion. */
export async function runFlood(opts: FloodOptions): Promise<FloodResult> {
  return (await startFlood(opts)).done;
}

/** One ban as GET /v1/bans reports it (src/security/bans.ts BanInfo). */
export interface BanRecord {
  target: string;
  kind: string;
  reason: string;
  source: string;
  bannedAt: number;
  expiresAt: number | null;
  count: number;
}

function isBanRecord(x: unknown): x is BanRecord {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  return typeof r.target === 'string' && typeof r.bannedAt === 'number' && typeof r.reason === 'string';
}

/** The daemon's bans (GET /v1/bans over the admin socket). */
export async function listBans(d: {
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
}): Promise<BanRecord[]> {
  const r = await d.admin('GET', '/v1/bans');
  if (r.status !== 200) throw new Error(`GET /v1/bans answered ${r.status}: ${JSON.stringify(r.body)}`);
  const list = (r.body as { bans?: unknown }).bans;
  return Array.isArray(list) ? list.filter(isBanRecord) : [];
}

/** Polls GET /v1/bans until `target` is banned (resolves with the record) or `timeoutMs` passes (undefined). */
export async function waitForBan(
  d: Parameters<typeof listBans>[0],
  target: string,
  timeoutMs: number,
  pollMs = 25,
): Promise<BanRecord | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = (await listBans(d)).find((b) => b.target === target);
    if (hit !== undefined || Date.now() >= deadline) return hit;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
