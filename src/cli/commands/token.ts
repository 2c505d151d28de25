/**
 * `palisade token create --role operator --sub alice [--ttl 1h] [--config FILE]`: prints a bearer token for the
 * HTTPS admin API (`admin.https`), signed with the policy's `admin.https.tokens.key`. The key is read, used and
 * dropped: never printed or logged. Anyone holding the printed token has its role until it expires.
 */
import { type Command, Option } from 'commander';
import { isValidTokenSubject, MAX_TOKEN_TTL_SEC, signAdminToken, tokenKeyBytes } from '../../admin/auth.ts';
import { ADMIN_ROLES, type AdminRole, isAdminRole } from '../../admin/router.ts';
import { formatIssue, loadPolicyFile, policyBaseDir, resolveSecret } from '../../config/load.ts';
import { parseDuration } from '../../config/schema.ts';
import { type CliContext, configOption, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, println } from '../context.ts';

export interface TokenCreateOptions {
  readonly role: string;
  readonly sub: string;
  /** Duration text (`90s`, `15m`, `1h`, `30d`) or seconds. */
  readonly ttl: string;
  readonly config: string;
  readonly json?: boolean;
}

export const DEFAULT_TOKEN_TTL = '1h';

export function registerToken(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  const token = program.command('token').description('bearer tokens for the HTTPS admin API (admin.https)');
  token
    .command('create')
    .description('print a signed token (JWT, HS256) for the HTTPS admin API')
    .addOption(new Option('--role <role>', 'what the token may do').choices([...ADMIN_ROLES]).makeOptionMandatory())
    .requiredOption('--sub <name>', 'who holds it: shown as the actor in the audit log ([A-Za-z0-9._@+:-], 1-64)')
    .option('--ttl <duration>', 'lifetime, e.g. 15m, 1h, 30d (at most 366d)', DEFAULT_TOKEN_TTL)
    .addOption(configOption('policy file holding admin.https.tokens'))
    .option('--json', 'print { token, sub, role, expiresAt } as JSON')
    .action(async (opts: TokenCreateOptions) => {
      setExit(await runTokenCreate(ctx, opts));
    });
}

/** Lifetime in whole seconds, or undefined when not a duration of 1 s … 366 d. */
export function parseTtl(text: string): number | undefined {
  const ms = parseDuration(/^\d+$/.test(text) ? Number(text) : text);
  if (!Number.isFinite(ms) || ms < 1000) return undefined;
  const sec = Math.floor(ms / 1000);
  return sec <= MAX_TOKEN_TTL_SEC ? sec : undefined;
}

export async function runTokenCreate(ctx: CliContext, opts: TokenCreateOptions, nowWallMs = Date.now()): Promise<number> {
  const usage = (msg: string): number => {
    println(ctx.io.err, `palisade: ${msg}`);
    return EXIT_USAGE;
  };
  if (!isAdminRole(opts.role)) return usage(`--role must be one of ${ADMIN_ROLES.join(', ')}`);
  const role: AdminRole = opts.role;
  if (!isValidTokenSubject(opts.sub)) return usage('--sub must be 1-64 characters of A-Z a-z 0-9 . _ @ + : -');
  const ttlSec = parseTtl(opts.ttl);
  if (ttlSec === undefined) return usage("--ttl must be a duration from 1s to 366d, such as '15m', '1h' or '30d'");

  const policy = loadPolicyFile(opts.config);
  if (!policy.ok) {
    println(ctx.io.err, `palisade: cannot read admin.https from ${opts.config}:`);
    for (const issue of policy.error.slice(0, 20)) println(ctx.io.err, formatIssue(issue));
    return EXIT_USAGE;
  }
  const https = policy.value.admin.https;
  if (https === undefined) return usage(`${opts.config} has no admin.https section: the HTTPS admin API is off`);
  const secret = resolveSecret(https.tokens.key, policyBaseDir(opts.config), {
    at: { file: opts.config, path: 'admin.https.tokens.key' },
  });
  if (!secret.ok) {
    println(ctx.io.err, formatIssue(secret.error));
    return EXIT_RUNTIME;
  }
  const key = tokenKeyBytes(secret.value);
  if (!key.ok) return usage(`admin.https.tokens.key: ${key.error.message}`);
  const token = await signAdminToken(key.value, {
    sub: opts.sub,
    role,
    ttlSec,
    issuer: https.tokens.issuer,
    audience: https.tokens.audience,
    nowWallMs,
  });
  if (opts.json) {
    const expiresAt = new Date((Math.floor(nowWallMs / 1000) + ttlSec) * 1000).toISOString();
    println(ctx.io.out, JSON.stringify({ token, sub: opts.sub, role, expiresAt }, null, 2));
  } else {
    println(ctx.io.out, token);
  }
  return EXIT_OK;
}
