/** CLI tests: a context that captures what a command prints, and a run that returns exit code and output. */
import type { CliContext } from '../../../src/cli/context.ts';
import { runCli } from '../../../src/cli/program.ts';

export interface Captured {
  ctx: CliContext;
  out: () => string;
  err: () => string;
}

/** A context whose output is kept; `loadDaemon` yields `startDaemon`, or throws when the test has none. */
export function capture(startDaemon?: Awaited<ReturnType<CliContext['loadDaemon']>>): Captured {
  let out = '';
  let err = '';
  const ctx: CliContext = {
    io: {
      out: (s) => {
        out += s;
      },
      err: (s) => {
        err += s;
      },
    },
    loadDaemon: async () => {
      if (!startDaemon) throw new Error('no daemon in this test');
      return startDaemon;
    },
  };
  return { ctx, out: () => out, err: () => err };
}

/** Runs `palisade <args>` in-process (no daemon): exit code, standard output, standard error. */
export async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = capture();
  const code = await runCli(args, c.ctx);
  return { code, out: c.out(), err: c.err() };
}
