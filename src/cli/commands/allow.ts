/**
 * `palisade allow list|add|remove`: the running daemon's allow list (sources never banned) over the admin
 * socket. Policy entries (security.bans.allow) are listed but only runtime entries can be removed here.
 */
import type { Command } from 'commander';
import type { AdminTargetOptions } from '../admin-target.ts';
import { withAdminTarget } from '../admin-target.ts';
import { type CliContext, EXIT_OK, EXIT_USAGE, println } from '../context.ts';
import { callSecurity, cell, checkTarget, renderTable, replyOrFail } from './bans.ts';

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export function renderAllow(body: unknown): string[] {
  const list = isRecord(body) && Array.isArray(body.entries) ? (body.entries as unknown[]).filter(isRecord) : [];
  if (list.length === 0) return ['allow list is empty'];
  const rows = list.map((e) => [
    cell(e.cidr, 45),
    cell(e.origin, 8),
    cell(e.by, 64),
    typeof e.addedAt === 'number' && Number.isFinite(e.addedAt) ? new Date(e.addedAt).toISOString() : '-',
  ]);
  return renderTable(['CIDR', 'ORIGIN', 'ADDED BY', 'ADDED AT'], rows);
}

export function registerAllow(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  const allow = program.command('allow').description('sources that are never banned (still rate limited)');
  withAdminTarget(allow.command('list').description('list the allow list (policy and runtime entries)')).action(
    async (opts: AdminTargetOptions) => {
      setExit(await runAllowList(ctx, opts));
    },
  );
  withAdminTarget(
    allow.command('add').description('allow an address or range (persisted in dataDir)').argument('<cidr>', 'IP address or CIDR range'),
  ).action(async (cidr: string, opts: AdminTargetOptions) => {
    setExit(await runAllowAdd(ctx, cidr, opts));
  });
  withAdminTarget(allow.command('remove').description('remove a runtime entry').argument('<cidr>', 'IP address or CIDR range')).action(
    async (cidr: string, opts: AdminTargetOptions) => {
      setExit(await runAllowRemove(ctx, cidr, opts));
    },
  );
}

export async function runAllowList(ctx: CliContext, opts: AdminTargetOptions): Promise<number> {
  const r = await callSecurity(ctx, opts, 'GET', '/v1/allow');
  if (!r.ok) return r.exitCode;
  const done = replyOrFail(ctx, 'allow list', r.response, opts.json);
  if (done !== undefined) return done;
  for (const line of renderAllow(r.response.body)) println(ctx.io.out, line);
  return EXIT_OK;
}

export async function runAllowAdd(ctx: CliContext, cidr: string, opts: AdminTargetOptions): Promise<number> {
  if (!checkTarget(ctx, cidr)) return EXIT_USAGE;
  const r = await callSecurity(ctx, opts, 'POST', '/v1/allow', { cidr: cidr.trim() });
  if (!r.ok) return r.exitCode;
  const done = replyOrFail(ctx, 'allow add', r.response, opts.json);
  if (done !== undefined) return done;
  const body = r.response.body;
  const entry = isRecord(body) && isRecord(body.entry) ? body.entry : {};
  const unbanned = isRecord(body) && Array.isArray(body.unbanned) ? body.unbanned.length : 0;
  const what = r.response.status === 201 ? 'allowed' : 'already allowed:';
  println(ctx.io.out, `${what} ${cell(entry.cidr ?? cidr, 45)}${unbanned > 0 ? ` (lifted ${unbanned} ban(s))` : ''}`);
  return EXIT_OK;
}

export async function runAllowRemove(ctx: CliContext, cidr: string, opts: AdminTargetOptions): Promise<number> {
  if (!checkTarget(ctx, cidr)) return EXIT_USAGE;
  const r = await callSecurity(ctx, opts, 'DELETE', `/v1/allow/${encodeURIComponent(cidr.trim())}`);
  if (!r.ok) return r.exitCode;
  const done = replyOrFail(ctx, 'allow remove', r.response, opts.json);
  if (done !== undefined) return done;
  const c = isRecord(r.response.body) ? r.response.body.cidr : undefined;
  println(ctx.io.out, `removed ${cell(c ?? cidr, 45)} from the allow list`);
  return EXIT_OK;
}
