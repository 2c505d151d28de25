/**
 * `palisade reload`: asks the running daemon to re-read its policy. An invalid file keeps the running policy;
 * the daemon says why, and we exit 2 (as `policy check` would).
 */
import type { Command } from 'commander';
import { type AdminTargetOptions, callAdmin, describeAdminError, resolveSocket, withAdminTarget } from '../admin-target.ts';
import { type CliContext, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, println } from '../context.ts';
import { renderHuman } from '../render.ts';

export function registerReload(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  withAdminTarget(program.command('reload').description('re-read the policy file in the running daemon')).action(
    async (opts: AdminTargetOptions) => {
      setExit(await runReload(ctx, opts));
    },
  );
}

function reportsFailure(body: unknown): boolean {
  return typeof body === 'object' && body !== null && 'ok' in body && (body as { ok: unknown }).ok === false;
}

function issueLines(body: unknown): string[] | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { issues, lines } = body as { issues?: unknown; lines?: unknown };
  const list = Array.isArray(issues) ? issues : Array.isArray(lines) ? lines : undefined;
  return list?.every((l) => typeof l === 'string') ? list.slice(0, 100) : undefined;
}

export async function runReload(ctx: CliContext, opts: AdminTargetOptions): Promise<number> {
  const socket = resolveSocket(ctx, opts);
  if (!socket.ok) return socket.exitCode;
  const r = await callAdmin(ctx, socket.path, 'POST', '/v1/reload');
  if (!r.ok) return r.exitCode;
  const { status, body } = r.response;
  if (status === 400 || status === 422) {
    println(ctx.io.err, `palisade: reload refused: ${describeAdminError(r.response)}`);
    return EXIT_USAGE;
  }
  if (status < 200 || status > 299) {
    println(ctx.io.err, `palisade: reload failed: ${describeAdminError(r.response)}`);
    return EXIT_RUNTIME;
  }
  const failed = reportsFailure(body);
  if (opts.json) println(ctx.io.out, JSON.stringify(body, null, 2));
  else if (failed) {
    println(ctx.io.err, 'reload: policy invalid, running policy kept');
    // The daemon's issues are FILE:LINE:COL lines, printed as `policy check` prints them.
    const issues = issueLines(body);
    for (const line of issues ?? renderHuman(body)) println(ctx.io.err, line);
  } else {
    println(ctx.io.out, 'reload: ok');
    for (const line of renderHuman(body)) println(ctx.io.out, line);
  }
  return failed ? EXIT_USAGE : EXIT_OK;
}
