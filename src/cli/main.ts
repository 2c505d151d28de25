/**
 * Entry point of the `palisade` command (bin/palisade.js and `npm start` load this file through tsx).
 * The daemon module is imported only by `palisade start`.
 */
import { type CliContext, EXIT_RUNTIME } from './context.ts';
import { runCli } from './program.ts';

// `palisade bans list | head` closes our stdout early: that is the reader's choice, not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
}

const ctx: CliContext = {
  io: {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
  },
  loadDaemon: async () => (await import('../main.ts')).startDaemon,
};

try {
  process.exitCode = await runCli(process.argv.slice(2), ctx);
} catch (e) {
  process.stderr.write(`palisade: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = EXIT_RUNTIME;
}
