/**
 * The `palisade` command tree. Each command lives in commands/<name>.ts and registers itself here; `runCli`
 * returns the exit code instead of exiting, so tests can run commands in-process.
 */
import { Command, CommanderError } from 'commander';
import { registerAllow } from './commands/allow.ts';
import { registerBans } from './commands/bans.ts';
import { registerFraud } from './commands/fraud.ts';
import { registerPolicy } from './commands/policy.ts';
import { registerReload } from './commands/reload.ts';
import { registerStart } from './commands/start.ts';
import { registerStatus } from './commands/status.ts';
import { registerToken } from './commands/token.ts';
import { registerUser } from './commands/user.ts';
import { type CliContext, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, packageVersion, println } from './context.ts';

export function createProgram(ctx: CliContext, setExit: (code: number) => void): Command {
  const program = new Command('palisade');
  // Settings first: subcommands created by .command() inherit them.
  program
    .description('Palisade: a SIP session border controller in front of your PBX')
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.io.out(s), writeErr: (s) => ctx.io.err(s) })
    .showHelpAfterError('(run palisade --help for usage)');
  registerStart(program, ctx, setExit);
  registerPolicy(program, ctx, setExit);
  registerStatus(program, ctx, setExit);
  registerReload(program, ctx, setExit);
  registerUser(program, ctx, setExit);
  registerBans(program, ctx, setExit);
  registerAllow(program, ctx, setExit);
  registerFraud(program, ctx, setExit);
  registerToken(program, ctx, setExit);
  return program;
}

/** Parses `argv` (without node and script) and runs the command. Never exits the process. */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  let code = EXIT_OK;
  const program = createProgram(ctx, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (e) {
    // exitOverride: commander has already printed help, the version or the usage error.
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    println(ctx.io.err, `palisade: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT_RUNTIME;
  }
}
