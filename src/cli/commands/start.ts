/** `palisade start [--config FILE]`: runs the daemon in the foreground. The daemon owns signal handling. */
import type { Command } from 'commander';
import { isPalisadeError } from '../../core/errors.ts';
import { type CliContext, configOption, type DaemonHandle, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, println } from '../context.ts';

export function registerStart(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  program
    .command('start')
    .description('run the daemon in the foreground (SIGTERM/SIGINT drain and stop it, SIGHUP reloads the policy)')
    .addOption(configOption('policy file'))
    .action(async (opts: { config: string }) => {
      setExit(await runStart(ctx, opts.config));
    });
}

export async function runStart(ctx: CliContext, configPath: string): Promise<number> {
  let daemon: DaemonHandle;
  try {
    const startDaemon = await ctx.loadDaemon();
    daemon = await startDaemon({ configPath });
  } catch (e) {
    reportStartFailure(ctx, e);
    return isPalisadeError(e) && e.code.startsWith('CONFIG_') ? EXIT_USAGE : EXIT_RUNTIME;
  }
  // The daemon runs until a signal (handled by the daemon) or stop(); then the process exits 0.
  if (daemon.stopped !== undefined) await daemon.stopped;
  return EXIT_OK;
}

/** One header line, then the policy issues (FILE:LINE:COL …) when the error carries them. */
function reportStartFailure(ctx: CliContext, e: unknown): void {
  const lines = isPalisadeError(e) ? (e.details.issues ?? e.details.lines) : undefined;
  if (isPalisadeError(e) && Array.isArray(lines) && lines.length > 0) {
    println(ctx.io.err, `palisade: cannot start (${e.code}):`);
    for (const l of lines.slice(0, 100)) println(ctx.io.err, typeof l === 'string' ? l : JSON.stringify(l));
    return;
  }
  println(ctx.io.err, `palisade: cannot start: ${e instanceof Error ? e.message : String(e)}`);
}
