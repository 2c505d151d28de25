/** `palisade policy check FILE`: the daemon's own loader; 0 valid, 2 invalid. */
import type { Command } from 'commander';
import { checkPolicyFile } from '../../config/check.ts';
import { type CliContext, EXIT_OK, EXIT_USAGE, println } from '../context.ts';

export function registerPolicy(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  const policy = program.command('policy').description('policy file tools');
  policy
    .command('check')
    .description('validate a policy file; errors name FILE:LINE:COL and the key path')
    .argument('<file>', 'policy file')
    .action((file: string) => {
      setExit(runPolicyCheck(ctx, file));
    });
}

export function runPolicyCheck(ctx: CliContext, file: string): number {
  const r = checkPolicyFile(file);
  for (const line of r.lines) println(ctx.io.out, line);
  return r.ok ? EXIT_OK : EXIT_USAGE;
}
