/**
 * `palisade fraud blocks|unblock|status`: operator control of call authorization in the running daemon over the
 * admin socket (src/admin/routes-fraud.ts). `blocks` lists callers an anomaly rule blocked (block_user), `unblock`
 * lifts one (a false positive; audited as `fraud.unblock` with the operator as actor), `status` shows the counters.
 * A subject is `user:NAME` or `trunk:NAME`, a bare NAME meaning `user:NAME`; it is checked here first, so a typo is
 * a usage error (exit 2) and never reaches the daemon.
 */
import type { Command } from 'commander';
import { parseFraudSubject } from '../../admin/routes-fraud.ts';
import { type AdminTargetOptions, withAdminTarget } from '../admin-target.ts';
import { type CliContext, EXIT_OK, EXIT_USAGE, println } from '../context.ts';
import { callSecurity, cell, formatRemaining, renderTable, replyOrFail } from './bans.ts';

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** `{ blocks: [{ subject, until }] }` → a table; 'no blocked callers' when empty. */
export function renderBlocks(body: unknown, now: number): string[] {
  const list = isRecord(body) && Array.isArray(body.blocks) ? (body.blocks as unknown[]).filter(isRecord) : [];
  if (list.length === 0) return ['no blocked callers'];
  const rows = list.map((b) => {
    const until = typeof b.until === 'string' ? Date.parse(b.until) : Number.NaN;
    return [
      cell(b.subject, 70),
      Number.isFinite(until) ? cell(b.until, 30) : '-',
      Number.isFinite(until) ? formatRemaining(until, now) : '-',
    ];
  });
  return renderTable(['SUBJECT', 'BLOCKED UNTIL', 'EXPIRES IN'], rows);
}

/** `name=3, other=1` from a counter object (largest first); '-' when empty. */
function counters(x: unknown): string {
  if (!isRecord(x)) return '-';
  const entries = Object.entries(x)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return entries.length === 0 ? '-' : entries.map(([k, v]) => `${cell(k, 30)}=${v}`).join(', ');
}

/** The `GET /v1/fraud` summary as a few aligned lines. */
export function renderFraudStatus(body: unknown): string[] {
  const b = isRecord(body) ? body : {};
  const s = isRecord(b.stats) ? b.stats : {};
  const num = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? String(v) : '-');
  const rows: [string, string][] = [
    ['call authorization', b.enabled === true ? 'enabled' : b.enabled === false ? 'disabled' : '-'],
    ['calls in progress', num(b.callsInProgress)],
    ['blocked callers', num(b.blocked)],
    ['allowed / denied', `${num(s.allowed)} / ${num(s.denied)}`],
    ['alerts / anomalies', `${num(s.alerts)} / ${num(s.anomalies)}`],
    ['decisions', counters(b.decisions)],
    ['terminations', counters(b.terminations)],
    ['callers tracked', `${num(b.anomalySubjects)} (${num(b.anomalyEvictions)} evicted)`],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([k, v]) => `${`${k}:`.padEnd(w + 2)}${v}`);
}

export function registerFraud(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  const fraud = program.command('fraud').description('call authorization (toll fraud): blocked callers and counters');
  withAdminTarget(fraud.command('blocks').description('list callers blocked by an anomaly rule')).action(
    async (opts: AdminTargetOptions) => {
      setExit(await runFraudBlocks(ctx, opts));
    },
  );
  withAdminTarget(
    fraud
      .command('unblock')
      .description('lift a block (audited)')
      .argument('<subject>', 'user:NAME or trunk:NAME (a bare NAME means user:NAME)'),
  ).action(async (subject: string, opts: AdminTargetOptions) => {
    setExit(await runFraudUnblock(ctx, subject, opts));
  });
  withAdminTarget(fraud.command('status').description('call authorization counters')).action(async (opts: AdminTargetOptions) => {
    setExit(await runFraudStatus(ctx, opts));
  });
}

export async function runFraudBlocks(ctx: CliContext, opts: AdminTargetOptions, now: () => number = Date.now): Promise<number> {
  const r = await callSecurity(ctx, opts, 'GET', '/v1/fraud/blocks');
  if (!r.ok) return r.exitCode;
  const done = replyOrFail(ctx, 'fraud blocks', r.response, opts.json);
  if (done !== undefined) return done;
  for (const line of renderBlocks(r.response.body, now())) println(ctx.io.out, line);
  return EXIT_OK;
}

export async function runFraudUnblock(ctx: CliContext, text: string, opts: AdminTargetOptions): Promise<number> {
  const subject = parseFraudSubject(text);
  if (subject === undefined) {
    println(ctx.io.err, `palisade: ${JSON.stringify(cell(text, 70))} is not user:NAME, trunk:NAME or a user name`);
    return EXIT_USAGE;
  }
  const r = await callSecurity(ctx, opts, 'DELETE', `/v1/fraud/blocks/${encodeURIComponent(subject)}`);
  if (!r.ok) return r.exitCode;
  const done = replyOrFail(ctx, 'unblock', r.response, opts.json);
  if (done !== undefined) return done;
  const s = isRecord(r.response.body) ? r.response.body.subject : undefined;
  println(ctx.io.out, `unblocked ${cell(s ?? subject, 70)}`);
  return EXIT_OK;
}

export async function runFraudStatus(ctx: CliContext, opts: AdminTargetOptions): Promise<number> {
  const r = await callSecurity(ctx, opts, 'GET', '/v1/fraud');
  if (!r.ok) return r.exitCode;
  const done = replyOrFail(ctx, 'fraud status', r.response, opts.json);
  if (done !== undefined) return done;
  for (const line of renderFraudStatus(r.response.body)) println(ctx.io.out, line);
  return EXIT_OK;
}
