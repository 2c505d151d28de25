/**
 * What every command gets: where to write, and the exit code conventions.
 * Exit codes: 0 ok, 1 runtime error (daemon not running, I/O), 2 usage error or invalid policy.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option } from 'commander';
import type { Logger } from '../core/log.ts';

export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

export interface CliIo {
  /** Raw writes: callers add their own newlines. */
  out(text: string): void;
  err(text: string): void;
}

export interface DaemonHandle {
  stop(reason?: string): Promise<void>;
  /** Resolves when the daemon has stopped; `palisade start` returns then. */
  readonly stopped?: Promise<void>;
}

/** The contract of `startDaemon` in src/main.ts. */
export type StartDaemon = (opts: { configPath: string; logger?: Logger }) => Promise<DaemonHandle>;

export interface CliContext {
  readonly io: CliIo;
  /** Loads the daemon lazily, so `palisade status` does not pull in the whole proxy. */
  readonly loadDaemon: () => Promise<StartDaemon>;
}

/** Package root (…/palisade), found from this file's location: src/cli/context.ts. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_CONFIG_PATH = join(PACKAGE_ROOT, 'config', 'palisade.yaml');
/** Environment variable that overrides DEFAULT_CONFIG_PATH (the container image sets it). */
export const CONFIG_ENV = 'PALISADE_CONFIG';

/** The `--config` option every command that needs the policy shares: flag, then $PALISADE_CONFIG, then the default. */
export function configOption(description: string): Option {
  return new Option('-c, --config <file>', description).env(CONFIG_ENV).default(DEFAULT_CONFIG_PATH);
}

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export function println(write: (text: string) => void, line: string): void {
  write(`${line}\n`);
}
