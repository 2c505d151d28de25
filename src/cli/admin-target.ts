/** Shared by the commands that talk to a running daemon: find its socket, call it, report failures in one line. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { parseDocument } from 'yaml';
import { type AdminResponse, adminRequest } from '../admin/client.ts';
import { adminSocketPath } from '../admin/socket-path.ts';
import { formatIssue, loadPolicyFile } from '../config/load.ts';
import { isPalisadeError } from '../core/errors.ts';
import { type CliContext, configOption, EXIT_RUNTIME, EXIT_USAGE, println } from './context.ts';

export interface AdminTargetOptions {
  readonly config: string;
  readonly socket?: string;
  readonly json?: boolean;
}

/** Adds `--config`, `--socket` and `--json` to a command. */
export function withAdminTarget(cmd: Command): Command {
  return cmd
    .addOption(configOption('policy file (to find the admin socket)'))
    .option('-s, --socket <path>', 'admin socket path (overrides the policy)')
    .option('--json', 'print the raw JSON reply');
}

export type SocketResult = { ok: true; path: string } | { ok: false; exitCode: number };

export function resolveSocket(ctx: CliContext, opts: AdminTargetOptions): SocketResult {
  if (opts.socket !== undefined) return { ok: true, path: opts.socket };
  const r = loadPolicyFile(opts.config);
  if (r.ok) return { ok: true, path: adminSocketPath(r.value) };
  // A policy that no longer validates (an edit the daemon refused) must not lock the operator out of the
  // running daemon: read just the two keys that locate the socket, with their defaults.
  const lenient = lenientSocketPath(opts.config);
  if (lenient !== undefined) {
    println(
      ctx.io.err,
      `palisade: warning: ${opts.config} does not validate (${r.error.length} issue(s)); using its admin socket location anyway`,
    );
    return { ok: true, path: lenient };
  }
  println(ctx.io.err, `palisade: cannot read the admin socket location from ${opts.config}:`);
  for (const issue of r.error.slice(0, 20)) println(ctx.io.err, formatIssue(issue));
  return { ok: false, exitCode: EXIT_USAGE };
}

/** node.dataDir and admin.socket from a policy that may be invalid; undefined when the file cannot be read as YAML. */
export function lenientSocketPath(file: string): string | undefined {
  let doc: unknown;
  try {
    // parseDocument keeps going past syntax errors; what it did read is enough to find two keys.
    doc = parseDocument(readFileSync(file, 'utf8')).toJS({ maxAliasCount: 100 });
  } catch {
    return undefined;
  }
  const get = (o: unknown, k: string): unknown => (typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[k] : undefined);
  const dataDir = get(get(doc, 'node'), 'dataDir');
  const socket = get(get(doc, 'admin'), 'socket');
  return adminSocketPath({
    node: { dataDir: resolve(dirname(resolve(file)), typeof dataDir === 'string' ? dataDir : './data') },
    admin: { socket: typeof socket === 'string' ? socket : 'palisade.sock' },
  });
}

export type CallResult = { ok: true; response: AdminResponse } | { ok: false; exitCode: number };

/** One request; any failure is one clear line on stderr and exit 1. */
export async function callAdmin(ctx: CliContext, socketPath: string, method: string, path: string, body?: unknown): Promise<CallResult> {
  try {
    return { ok: true, response: await adminRequest(socketPath, method, path, body) };
  } catch (e) {
    const msg = isPalisadeError(e) || e instanceof Error ? e.message : String(e);
    println(ctx.io.err, `palisade: ${msg}`);
    return { ok: false, exitCode: EXIT_RUNTIME };
  }
}

/** `{ error: { code, message } }` → `CODE: message`. */
export function describeAdminError(r: AdminResponse): string {
  const b = r.body;
  if (typeof b === 'object' && b !== null && 'error' in b) {
    const e = (b as { error: unknown }).error;
    if (typeof e === 'object' && e !== null) {
      const { code, message } = e as { code?: unknown; message?: unknown };
      return `${String(code ?? 'ERROR')}: ${String(message ?? '')} (HTTP ${r.status})`;
    }
  }
  return `HTTP ${r.status}`;
}
