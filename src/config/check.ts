/**
 * `palisade policy check FILE`: the same loader the daemon uses, plus warnings about things that depend on
 * the machine rather than on the file (a secret's environment variable, a certificate path). Warnings never
 * make a valid policy fail: the daemon's environment may differ from the shell running the check.
 * Exit status (wired by the CLI): 0 when `ok`, 2 otherwise.
 */
import { existsSync } from 'node:fs';
import { formatIssue, loadPolicyFile, policyBaseDir, resolveSecret } from './load.ts';
import type { Policy, Secret, TlsConfig } from './schema.ts';

export interface PolicyCheckResult {
  readonly ok: boolean;
  /** Human-readable lines, one per issue or warning, then a summary line. */
  readonly lines: string[];
}

export const CHECK_EXIT_VALID = 0;
export const CHECK_EXIT_INVALID = 2;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function tlsWarnings(tls: TlsConfig | undefined, at: string, baseDir: string, file: string): string[] {
  if (!tls) return [];
  const out: string[] = [];
  for (const k of ['cert', 'key', 'ca'] as const) {
    const p = tls[k];
    if (p !== undefined && !existsSync(p)) out.push(`${file}: warning: ${at}.${k}: file ${p} does not exist`);
  }
  if (tls.keyPassphrase !== undefined) out.push(...secretWarnings(tls.keyPassphrase, `${at}.keyPassphrase`, baseDir, file));
  return out;
}

function secretWarnings(secret: Secret, path: string, baseDir: string, file: string): string[] {
  if (typeof secret === 'string') return [`${file}: warning: ${path}: secret written inline; prefer { file: PATH } or { env: NAME }`];
  const r = resolveSecret(secret, baseDir, { at: { file, path } });
  return r.ok ? [] : [`${file}: warning: ${path}: ${r.error.message}`];
}

function warnings(p: Policy, file: string): string[] {
  const base = policyBaseDir(file);
  const out: string[] = [];
  p.listeners.forEach((l, i) => {
    out.push(...tlsWarnings(l.tls, `listeners[${i}].tls`, base, file));
  });
  out.push(...tlsWarnings(p.pbx.listen.tls, 'pbx.listen.tls', base, file));
  return out;
}

export function checkPolicyFile(path: string): PolicyCheckResult {
  const r = loadPolicyFile(path);
  if (!r.ok) {
    const lines = r.error.map(formatIssue);
    lines.push(`${path}: invalid (${plural(r.error.length, 'problem')})`);
    return { ok: false, lines };
  }
  const p = r.value;
  const lines = warnings(p, path);
  lines.push(`${path}: ok (${plural(p.listeners.length, 'listener')}, ${plural(p.pbx.targets.length, 'PBX target')})`);
  return { ok: true, lines };
}
