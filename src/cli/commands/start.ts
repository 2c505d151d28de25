/** `palisade start [--config FILE]`: runs the daemon in the foreground. The daemon owns signal handling. */
import type { Command } from 'commander';
import { isPalisadeError } from '../../core/errors.ts';
import { type CliContext, DEFAULT_CONFIG_PATH, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, println } from '../context.ts';

export function registerStart(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  program
    .command('start')
    .description('run the daemon in the foreground (SIGTERM/SIGINT drain and stop it, SIGHUP reloads the policy)')
    .option('-c, --config <file>', 'policy file', DEFAULT_CONFIG_PATH)
    .action(async (opts: { config: string }) => {
      setExit(await runStart(ctx, opts.config));
    });
}

export async function runStart(ctx: CliContext, configPath: string): Promise<number> {
  try {
    const startDaemon = await ctx.loadDaemon();
    await startDaemon({ configPath });
    return EXIT_OK;
  } catch (e) {
    println(ctx.io.err, `palisade: cannot start: ${e instanceof Error ? e.message : String(e)}`);
    if (isPalisadeError(e)) {
      const lines = e.details.lines ?? e.details.issues;
      if (Array.isArray(lines)) for (const l of lines.slice(0, 100)) if (typeof l === 'string') println(ctx.io.err, l);
      if (e.code.startsWith('CONFIG_')) return EXIT_USAGE;
    }
    return EXIT_RUNTIME;
  }
}
