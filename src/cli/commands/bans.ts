/**
 * `palisade bans list|add|remove|flush`: operator control of the running daemon's bans over the admin socket
 * (src/admin/routes-security.ts). Addresses, ranges and durations are checked here first, so a typo is a
 * usage error (exit 2) and never reaches the daemon; a daemon that is not running is one line and exit 1.
 * Every request names the operator in `x-palisade-actor` (`$SUDO_USER`, `$USER` or the uid, `@hostname`)
 * for the audit log.
 */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { type AdminResponse, adminRequest } from '../../admin/client.ts';
import { ACTOR_HEADER, MAX_BAN_REASON_CHARS, parseBanDuration, sanitizeActor } from '../../admin/routes-security.ts';
import { isPalisadeError } from '../../core/errors.ts';
import { parseTarget } from '../../security/bans.ts';
import { type AdminTargetOptions, describeAdminError, resolveSocket, withAdminTarget } from '../admin-target.ts';
import { type CliContext, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, println } from '../context.ts';

export interface BanAddOptions extends AdminTargetOptions {
  readonly for?: string;
  readonly reason?: string;
}

/** `user@host` for the audit log: $SUDO_USER (the human behind sudo), else $USER, else the numeric uid. */
export function operatorActor(env: NodeJS.ProcessEnv = process.env, host: string = hostname()): string {
  const user = env.SUDO_USER || env.USER || String(process.getuid?.() ?? 'unknown');
  return sanitizeActor(`${user}@${host}`);
}

export type SecurityCall = { ok: true; response: AdminResponse } | { ok: false; exitCode: number };

/** Resolves the socket and sends one request with the actor header; failures are one line on stderr. */
export async function callSecurity(
  ctx: CliContext,
  opts: AdminTargetOptions,
  method: string,
  path: string,
  body?: unknown,
): Promise<SecurityCall> {
  const socket = resolveSocket(ctx, opts);
  if (!socket.ok) return socket;
  try {
    const response = await adminRequest(socket.path, method, path, body, { headers: { [ACTOR_HEADER]: operatorActor() } });
    return { ok: true, response };
  } catch (e) {
    const msg = isPalisadeError(e) || e instanceof Error ? e.message : String(e);
    println(ctx.io.err, `palisade: ${msg}`);
    return { ok: false, exitCode: EXIT_RUNTIME };
  }
}

/** Prints the raw reply with --json; otherwise the caller prints its human line. Non-2xx → stderr, exit 1. */
export function replyOrFail(ctx: CliContext, what: string, r: AdminResponse, json: boolean | undefined): number | undefined {
  if (r.status < 200 || r.status > 299) {
    println(ctx.io.err, `palisade: ${what} failed: ${describeAdminError(r)}`);
    return EXIT_RUNTIME;
  }
  if (json === true) {
    println(ctx.io.out, JSON.stringify(r.body, null, 2));
    return EXIT_OK;
  }
  return undefined;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: a reason sent by anyone must not drive the terminal.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** One table cell: printable, at most `max` characters. */
export function cell(v: unknown, max = 40): string {
  const s = (v === null || v === undefined ? '-' : String(v)).replace(CONTROL, '?');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Columns padded to the widest cell; the last column is not padded. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** Time left as `45s`, `9m 59s`, `2h 5m`, `3d 4h`; `never` for a ban until unbanned. */
export function formatRemaining(expiresAt: number | null, now: number): string {
  if (expiresAt === null) return 'never';
  const ms = expiresAt - now;
  if (ms <= 0) return 'expired';
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

interface BanRow {
  target: unknown;
  reason: unknown;
  source: unknown;
  expiresAt: unknown;
  count: unknown;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export function renderBans(body: unknown, now: number): string[] {
  const list = isRecord(body) && Array.isArray(body.bans) ? (body.bans as unknown[]) : [];
  const bans = list.filter(isRecord) as unknown as BanRow[];
  if (bans.length === 0) return ['no bans'];
  const rows = bans.map((b) => [
    cell(b.target, 45),
    cell(b.reason),
    cell(b.source, 6),
    typeof b.expiresAt === 'number' || b.expiresAt === null ? formatRemaining(b.expiresAt, now) : '-',
    cell(b.count, 10),
  ]);
  const out = renderTable(['TARGET', 'REASON', 'SOURCE', 'EXPIRES IN', 'OFFENCES'], rows);
  const total = isRecord(body) && typeof body.total === 'number' ? body.total : bans.length;
  if (total > bans.length) out.push(`(${bans.length} of ${total} shown; use --json for all fields)`);
  return out;
}

/** Address or CIDR valid for a ban; prints the usage error itself. */
export function checkTarget(ctx: CliContext, text: string, what = 'an IP address or CIDR range'): boolean {
  if (parseTarget(text) !== undefined) return true;
  println(ctx.io.err, `palisade: ${JSON.stringify(cell(text, 70))} is not ${what}`);
  return false;
}

/** `--for`: `600` (seconds) or `10m`, `2h`, `7d` → ms; 'invalid' (and a printed error) otherwise. */
export function parseForOption(ctx: CliContext, text: string): number | 'invalid' {
  const t = text.trim();
  const ms = parseBanDuration(/^\d+$/.test(t) ? Number(t) : t);
  if (!Number.isNaN(ms)) return ms;
  println(
    ctx.io.err,
    `palisade: --for ${JSON.stringify(cell(text, 20))}: use seconds or a number with ms, s, m, h or d (e.g. 10m, 2h, 7d)`,
  );
  return 'invalid';
}

export function registerBans(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  const bans = program.command('bans').description('list, add and remove bans in the running daemon');
  withAdminTarget(bans.command('list').description('list current bans')).action(async (opts: AdminTargetOptions) => {
    setExit(await runBansList(ctx, opts));
  });
  withAdminTarget(
    bans
      .command('add')
      .description('ban an address or a CIDR range')
      .argument('<target>', 'IP address or CIDR range')
      .option('--for <duration>', 'ban length: seconds, or 10m, 2h, 7d (default: until removed)')
      .option('--reason <text>', 'why (recorded in the audit log)'),
  ).action(async (target: string, opts: BanAddOptions) => {
    setExit(await runBansAdd(ctx, target, opts));
  });
  withAdminTarget(
    bans.command('remove').description('lift a ban (exact address or range)').argument('<target>', 'IP address or CIDR range'),
  ).action(async (target: string, opts: AdminTargetOptions) => {
    setExit(await runBansRemove(ctx, target, opts));
  });
  withAdminTarget(bans.command('flush').description('lift every ban')).action(async (opts: AdminTargetOptions) => {
    setExit(await runBansFlush(ctx, opts));
  });
}

export async function runBansList(ctx: CliContext, opts: AdminTargetOptions, now: () => number = Date.now): Promise<number> {
  const r = await callSecurity(ctx, opts, 'GET', '/v1/bans');
  if (!r.ok) return r.exitCode;
  const done = replyOrFail(ctx, 'bans list', r.response, opts.json);
  if (done !== undefined) return done;
  for (const line of renderBans(r.response.body, now())) println(ctx.io.out, line);
  return EXIT_OK;
}

export async function runBansAdd(ctx: CliContext, target: string, opts: BanAddOptions): Promise<number> {
  if (!checkTarget(ctx, target)) return EXIT_USAGE;
  const body: { target: string; for?: number; reason?: string } = { target };
  if (opts.for !== undefined) {
    const ms = parseForOption(ctx, opts.for);
    if (ms === 'invalid') return EXIT_USAGE;
    body.for = ms / 1000;
  }
  if (opts.reason !== undefined) {
    if (opts.reason.length > MAX_BAN_REASON_CHARS) {
      println(ctx.io.err, `palisade: --reason longer than ${MAX_BAN_REASON_CHARS} characters`);
      return EXIT_USAGE;
    }
    body.reason = opts.reason;
  }
  const r = await callSecurity(ctx, opts, 'POST', '/v1/bans', body);
  if (!r.ok) return r.exitCode;
  const done = replyOrFail(ctx, 'ban', r.response, opts.json);
  if (done !== undefined) return done;
  const b = isRecord(r.response.body) && isRecord(r.response.body.ban) ? r.response.body.ban : {};
  const exp = typeof b.expiresAt === 'number' ? `for ${formatRemaining(b.expiresAt, Date.now())}` : 'until removed';
  println(ctx.io.out, `banned ${cell(b.target ?? target, 45)} ${exp}`);
  return EXIT_OK;
}

export async function runBansRemove(ctx: CliContext, target: string, opts: AdminTargetOptions): Promise<number> {
  if (!checkTarget(ctx, target)) return EXIT_USAGE;
  const r = await callSecurity(ctx, opts, 'DELETE', `/v1/bans/${encodeURIComponent(target.trim())}`);
  if (!r.ok) return r.exitCode;
  const done = replyOrFail(ctx, 'unban', r.response, opts.json);
  if (done !== undefined) return done;
  const t = isRecord(r.response.body) ? r.response.body.target : undefined;
  println(ctx.io.out, `unbanned ${cell(t ?? target, 45)}`);
  return EXIT_OK;
}

export async function runBansFlush(ctx: CliContext, opts: AdminTargetOptions): Promise<number> {
  const r = await callSecurity(ctx, opts, 'POST', '/v1/bans/flush');
  if (!r.ok) return r.exitCode;
  const done = replyOrFail(ctx, 'flush', r.response, opts.json);
  if (done !== undefined) return done;
  const n = isRecord(r.response.body) ? r.response.body.removed : undefined;
  println(ctx.io.out, `removed ${cell(n, 12)} ban(s)`);
  return EXIT_OK;
}
