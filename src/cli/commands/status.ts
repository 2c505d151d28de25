/** `palisade status`: asks the running daemon over its admin socket; exit 1 with one line when it is not running. */
import type { Command } from 'commander';
import { type AdminTargetOptions, callAdmin, describeAdminError, resolveSocket, withAdminTarget } from '../admin-target.ts';
import { type CliContext, EXIT_OK, EXIT_RUNTIME, println } from '../context.ts';
import { renderHuman } from '../render.ts';

export function registerStatus(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  withAdminTarget(program.command('status').description('show the state of the running daemon')).action(
    async (opts: AdminTargetOptions) => {
      setExit(await runStatus(ctx, opts));
    },
  );
}

export async function runStatus(ctx: CliContext, opts: AdminTargetOptions): Promise<number> {
  const socket = resolveSocket(ctx, opts);
  if (!socket.ok) return socket.exitCode;
  const r = await callAdmin(ctx, socket.path, 'GET', '/v1/status');
  if (!r.ok) return r.exitCode;
  if (r.response.status !== 200) {
    println(ctx.io.err, `palisade: status failed: ${describeAdminError(r.response)}`);
    return EXIT_RUNTIME;
  }
  if (opts.json) println(ctx.io.out, JSON.stringify(r.response.body, null, 2));
  else for (const line of renderHuman(r.response.body)) println(ctx.io.out, line);
  return EXIT_OK;
}
