/**
 * Where digest credentials come from. The daemon only ever holds HA1 values (RFC 7616 §5.2: HA1 is a
 * password equivalent for its realm, so the file is written 0600), never a clear password.
 *
 * Users file (YAML):
 *   version: 1
 *   users:
 *     - user: alice
 *       realm: palisade
 *       ha1: { md5: <32 hex>, sha256: <64 hex>, sha512_256: <64 hex> }   # at least one
 *       groups: [staff]
 *       aliases: ['1001']      # other identities (From/To user parts) this user may use; not digest usernames
 *       disabled: false
 *       allowMd5: false        # MD5 is offered/accepted for this user only when true
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { z } from 'zod';
import { err, ok, type Result } from '../core/result.ts';
import type { DigestAlgorithm, DigestHash } from './digest.ts';

export interface Credential {
  readonly user: string;
  readonly realm: string;
  readonly ha1: Readonly<Partial<Record<DigestHash, string>>>;
  readonly groups: readonly string[];
  readonly aliases: readonly string[];
  readonly disabled: boolean;
  readonly allowMd5: boolean;
}

export interface CredentialSource {
  /** undefined when there is no such user in that realm. `algorithm` lets a source fetch one column only. */
  lookup(user: string, realm: string, algorithm: DigestAlgorithm): Promise<Credential | undefined>;
}

/** A users file is edited by hand or by the CLI; anything larger is a mistake. */
export const MAX_USERS_FILE_BYTES = 16 * 1024 * 1024;
export const USERS_FILE_VERSION = 1;

/** User names and realms: 1-128 characters, no whitespace, colon (it separates HA1 fields), quote, backslash or control. */
export function isValidDigestName(s: string): boolean {
  if (s.length < 1 || s.length > 128) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // C0 controls, DEL, space, ", :, \ and the Unicode whitespace \s matches.
    if (c <= 0x20 || c === 0x7f || c === 0x22 || c === 0x3a || c === 0x5c) return false;
  }
  return !/\s/u.test(s);
}

/** The realm the CLI writes when none is given, and the one the proxy should challenge with by default. */
export const DEFAULT_REALM = 'palisade';

const hex = (n: number) => z.string().regex(new RegExp(`^[0-9a-f]{${n}}$`), `expected ${n} lower-case hex digits`);

const userEntrySchema = z
  .object({
    user: z.string().refine(isValidDigestName, 'a user name has 1-128 characters, no space, colon, quote, backslash or control'),
    realm: z.string().refine(isValidDigestName, 'a realm has 1-128 characters, no space, colon, quote, backslash or control'),
    ha1: z
      .object({ md5: hex(32).optional(), sha256: hex(64).optional(), sha512_256: hex(64).optional() })
      .strict()
      .refine((h) => h.md5 !== undefined || h.sha256 !== undefined || h.sha512_256 !== undefined, 'at least one HA1 is required'),
    groups: z.array(z.string().min(1).max(64)).max(64).default([]),
    aliases: z.array(z.string().min(1).max(128)).max(64).default([]),
    disabled: z.boolean().default(false),
    allowMd5: z.boolean().default(false),
  })
  .strict();

export const usersFileSchema = z
  .object({
    version: z.literal(USERS_FILE_VERSION).default(USERS_FILE_VERSION),
    users: z.array(userEntrySchema).max(1_000_000).default([]),
  })
  .strict()
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.users.forEach((u, i) => {
      const k = credentialKey(u.user, u.realm);
      if (seen.has(k)) ctx.addIssue({ code: 'custom', path: ['users', i, 'user'], message: 'duplicate user in this realm' });
      seen.add(k);
    });
  });

export type UsersFileErrorCode = 'USERS_IO' | 'USERS_YAML' | 'USERS_INVALID' | 'USERS_TOO_LARGE';

export interface UsersFileError {
  readonly code: UsersFileErrorCode;
  /** Data path (`users[2].ha1.md5`) when there is one. */
  readonly path: string;
  /** Describes the problem; never echoes a value from the file. */
  readonly message: string;
}

function credentialKey(user: string, realm: string): string {
  return `${realm}\u0000${user}`;
}

function formatZodPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? String(seg) : `.${String(seg)}`;
  return out;
}

/** YAML text → frozen credentials, or the issues. Never throws. */
export function parseUsersYaml(text: string): Result<readonly Credential[], UsersFileError[]> {
  if (text.length > MAX_USERS_FILE_BYTES) return err([{ code: 'USERS_TOO_LARGE', path: '', message: 'users file too large' }]);
  let data: unknown;
  try {
    const doc = parseDocument(text, { uniqueKeys: true });
    if (doc.errors.length > 0) {
      return err(
        doc.errors.slice(0, 20).map((e) => ({ code: 'USERS_YAML' as const, path: '', message: e.message.split('\n')[0] ?? 'YAML error' })),
      );
    }
    data = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch {
    return err([{ code: 'USERS_YAML', path: '', message: 'YAML could not be read' }]);
  }
  const r = usersFileSchema.safeParse(data);
  if (!r.success) {
    return err(
      r.error.issues.slice(0, 50).map((i) => ({ code: 'USERS_INVALID' as const, path: formatZodPath(i.path), message: i.message })),
    );
  }
  return ok(
    Object.freeze(
      r.data.users.map((u) =>
        Object.freeze({
          user: u.user,
          realm: u.realm,
          ha1: Object.freeze({
            ...(u.ha1.md5 !== undefined ? { md5: u.ha1.md5 } : {}),
            ...(u.ha1.sha256 !== undefined ? { sha256: u.ha1.sha256 } : {}),
            ...(u.ha1.sha512_256 !== undefined ? { sha512_256: u.ha1.sha512_256 } : {}),
          }),
          groups: Object.freeze([...u.groups]),
          aliases: Object.freeze([...u.aliases]),
          disabled: u.disabled,
          allowMd5: u.allowMd5,
        }),
      ),
    ),
  );
}

/** A missing file is an empty user list (the CLI's first `user add` creates it). */
export function readUsersFile(path: string): Result<readonly Credential[], UsersFileError[]> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return ok(Object.freeze([]));
    return err([{ code: 'USERS_IO', path: '', message: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}` }]);
  }
  return parseUsersYaml(text);
}

/** Immutable in-memory source: one frozen map built at load; a reload builds a new source and swaps it. */
export class StaticCredentialSource implements CredentialSource {
  private readonly byKey: ReadonlyMap<string, Credential>;
  private readonly md5Any: boolean;

  constructor(entries: readonly Credential[]) {
    const m = new Map<string, Credential>();
    for (const e of entries) m.set(credentialKey(e.user, e.realm), e);
    this.byKey = m;
    this.md5Any = entries.some((e) => e.allowMd5 && !e.disabled);
    Object.freeze(this);
  }

  get size(): number {
    return this.byKey.size;
  }

  /** Whether any user may use MD5 (challenges then offer it; each answer is still checked per user). */
  anyAllowMd5(): boolean {
    return this.md5Any;
  }

  lookupSync(user: string, realm: string): Credential | undefined {
    return this.byKey.get(credentialKey(user, realm));
  }

  lookup(user: string, realm: string, _algorithm: DigestAlgorithm): Promise<Credential | undefined> {
    return Promise.resolve(this.lookupSync(user, realm));
  }
}

export function loadUsersFileSource(path: string): Result<StaticCredentialSource, UsersFileError[]> {
  const r = readUsersFile(path);
  return r.ok ? ok(new StaticCredentialSource(r.value)) : r;
}

/** Entries → YAML text in the file's layout (keys in a fixed order; defaults written out for readability). */
export function renderUsersYaml(entries: readonly Credential[]): string {
  const doc = {
    version: USERS_FILE_VERSION,
    users: entries.map((e) => ({
      user: e.user,
      realm: e.realm,
      ha1: { ...e.ha1 },
      groups: [...e.groups],
      aliases: [...e.aliases],
      disabled: e.disabled,
      allowMd5: e.allowMd5,
    })),
  };
  return `# Palisade users: HA1 digests only (each is a password equivalent for its realm). Keep this file 0600.\n${stringify(doc)}`;
}

/**
 * Atomic replace: write a temporary file (mode 0600) beside the target, fsync, rename over it. A crash
 * leaves either the old file or the new one, never half of one. Throws on I/O errors (CLI use only).
 */
export function writeUsersFile(path: string, entries: readonly Credential[]): void {
  const text = renderUsersYaml(entries);
  const check = parseUsersYaml(text);
  if (!check.ok) throw new Error(`refusing to write an invalid users file: ${check.error[0]?.path ?? ''} ${check.error[0]?.message ?? ''}`);
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
