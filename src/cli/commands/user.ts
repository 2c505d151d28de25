/**
 * `palisade user add|passwd|remove|list`: digest credentials in the users file (src/auth/credentials.ts).
 * The password is read from stdin (`--password-stdin`) or prompted without echo, turned into the three HA1
 * values at once, and dropped: it is never printed, logged or written.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import {
  type Credential,
  DEFAULT_REALM,
  isValidDigestName,
  readUsersFile,
  type UsersFileError,
  writeUsersFile,
} from '../../auth/credentials.ts';
import { computeAllHa1 } from '../../auth/digest.ts';
import { formatIssue, loadPolicyFile } from '../../config/load.ts';
import { type CliContext, configOption, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, println } from '../context.ts';

/** Longest password accepted from stdin or a prompt. */
export const MAX_PASSWORD_BYTES = 1024;

export interface PasswordReader {
  /** Whole stdin, one trailing newline removed. */
  fromStdin(): Promise<string>;
  /** Asks on the terminal without echo; rejects when there is no terminal. */
  prompt(question: string): Promise<string>;
}

export interface UsersFileOptions {
  readonly users?: string;
  readonly config: string;
}

export interface UserAddOptions extends UsersFileOptions {
  readonly realm?: string;
  readonly groups?: string;
  readonly aliases?: string;
  readonly allowMd5?: boolean;
  readonly passwordStdin?: boolean;
}

export interface UserPasswdOptions extends UsersFileOptions {
  readonly realm?: string;
  readonly passwordStdin?: boolean;
}

export interface UserRemoveOptions extends UsersFileOptions {
  readonly realm?: string;
}

export interface UserListOptions extends UsersFileOptions {
  readonly json?: boolean;
}

export function registerUser(
  program: Command,
  ctx: CliContext,
  setExit: (code: number) => void,
  passwords: PasswordReader = terminalPasswordReader,
): void {
  const user = program.command('user').description('digest credentials (HA1 only) in the users file');
  const withFile = (cmd: Command): Command =>
    cmd
      .option('-u, --users <file>', 'users file (default: <dataDir>/users.yaml of the policy)')
      .addOption(configOption('policy file (to find dataDir)'));
  withFile(
    user
      .command('add')
      .description('add a user; the password is read from stdin or prompted without echo')
      .argument('<user>', 'digest user name')
      .option('-r, --realm <realm>', 'digest realm', DEFAULT_REALM)
      .option('-g, --groups <list>', 'comma-separated groups')
      .option('--aliases <list>', 'comma-separated other identities of this user')
      .option('--allow-md5', 'accept MD5 digests from this user (legacy phones)')
      .option('--password-stdin', 'read the password from standard input'),
  ).action(async (name: string, opts: UserAddOptions) => {
    setExit(await runUserAdd(ctx, name, opts, passwords));
  });
  withFile(
    user
      .command('passwd')
      .description("change a user's password")
      .argument('<user>', 'digest user name')
      .option('-r, --realm <realm>', 'digest realm (needed when the user exists in several)')
      .option('--password-stdin', 'read the password from standard input'),
  ).action(async (name: string, opts: UserPasswdOptions) => {
    setExit(await runUserPasswd(ctx, name, opts, passwords));
  });
  withFile(
    user
      .command('remove')
      .description('remove a user')
      .argument('<user>', 'digest user name')
      .option('-r, --realm <realm>', 'digest realm (needed when the user exists in several)'),
  ).action((name: string, opts: UserRemoveOptions) => {
    setExit(runUserRemove(ctx, name, opts));
  });
  withFile(user.command('list').description('list users (never their digests)').option('--json', 'print JSON')).action(
    (opts: UserListOptions) => {
      setExit(runUserList(ctx, opts));
    },
  );
}

type Resolved<T> = { ok: true; value: T } | { ok: false; exitCode: number };

/** `--users`, else `<dataDir>/users.yaml` of the policy. */
export function resolveUsersPath(ctx: CliContext, opts: UsersFileOptions): Resolved<string> {
  if (opts.users !== undefined) return { ok: true, value: opts.users };
  const r = loadPolicyFile(opts.config);
  if (!r.ok) {
    println(ctx.io.err, `palisade: cannot read dataDir from ${opts.config} (or pass --users FILE):`);
    for (const issue of r.error.slice(0, 20)) println(ctx.io.err, formatIssue(issue));
    return { ok: false, exitCode: EXIT_USAGE };
  }
  return { ok: true, value: join(r.value.node.dataDir, 'users.yaml') };
}

function load(ctx: CliContext, opts: UsersFileOptions): Resolved<{ path: string; users: readonly Credential[] }> {
  const p = resolveUsersPath(ctx, opts);
  if (!p.ok) return p;
  const r = readUsersFile(p.value);
  if (!r.ok) {
    printFileErrors(ctx, p.value, r.error);
    return { ok: false, exitCode: r.error.some((e) => e.code === 'USERS_IO') ? EXIT_RUNTIME : EXIT_USAGE };
  }
  return { ok: true, value: { path: p.value, users: r.value } };
}

function printFileErrors(ctx: CliContext, path: string, errors: readonly UsersFileError[]): void {
  for (const e of errors) println(ctx.io.err, `${path}: ${e.path === '' ? '' : `${e.path}: `}${e.message} (${e.code})`);
}

function save(ctx: CliContext, path: string, users: readonly Credential[]): number {
  try {
    writeUsersFile(path, users);
    return EXIT_OK;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    println(ctx.io.err, `palisade: cannot write ${path}: ${code ?? (e instanceof Error ? e.message : 'error')}`);
    return EXIT_RUNTIME;
  }
}

function splitList(s: string | undefined): string[] {
  if (s === undefined) return [];
  return [
    ...new Set(
      s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== ''),
    ),
  ];
}

/** Reads the password (twice when prompting) and checks it; the message never contains it. */
async function readPassword(ctx: CliContext, fromStdin: boolean, passwords: PasswordReader): Promise<Resolved<string>> {
  let pw: string;
  try {
    if (fromStdin) {
      pw = await passwords.fromStdin();
    } else {
      pw = await passwords.prompt('Password: ');
      const again = await passwords.prompt('Again: ');
      if (again !== pw) {
        println(ctx.io.err, 'palisade: the passwords differ');
        return { ok: false, exitCode: EXIT_USAGE };
      }
    }
  } catch (e) {
    println(ctx.io.err, `palisade: ${e instanceof Error ? e.message : 'cannot read the password'}`);
    return { ok: false, exitCode: EXIT_USAGE };
  }
  if (pw === '') {
    println(ctx.io.err, 'palisade: empty password refused');
    return { ok: false, exitCode: EXIT_USAGE };
  }
  if (Buffer.byteLength(pw, 'utf8') > MAX_PASSWORD_BYTES) {
    println(ctx.io.err, `palisade: password longer than ${MAX_PASSWORD_BYTES} bytes refused`);
    return { ok: false, exitCode: EXIT_USAGE };
  }
  return { ok: true, value: pw };
}

/** The one entry of `name`: in `realm` if given, else the only realm it exists in. */
function findUser(ctx: CliContext, users: readonly Credential[], name: string, realm: string | undefined): Resolved<number> {
  const hits = users.map((u, i) => ({ u, i })).filter(({ u }) => u.user === name && (realm === undefined || u.realm === realm));
  const first = hits[0];
  if (first === undefined) {
    println(ctx.io.err, `palisade: no user ${name}${realm === undefined ? '' : ` in realm ${realm}`}`);
    return { ok: false, exitCode: EXIT_RUNTIME };
  }
  if (hits.length > 1) {
    println(ctx.io.err, `palisade: user ${name} exists in several realms (${hits.map((h) => h.u.realm).join(', ')}): pass --realm`);
    return { ok: false, exitCode: EXIT_USAGE };
  }
  return { ok: true, value: first.i };
}

export async function runUserAdd(ctx: CliContext, name: string, opts: UserAddOptions, passwords: PasswordReader): Promise<number> {
  const realm = opts.realm ?? DEFAULT_REALM;
  if (!isValidDigestName(name) || !isValidDigestName(realm)) {
    println(ctx.io.err, 'palisade: user and realm need 1-128 characters, no space, colon, quote, backslash or control');
    return EXIT_USAGE;
  }
  const f = load(ctx, opts);
  if (!f.ok) return f.exitCode;
  if (f.value.users.some((u) => u.user === name && u.realm === realm)) {
    println(ctx.io.err, `palisade: user ${name} already exists in realm ${realm} (use: palisade user passwd)`);
    return EXIT_RUNTIME;
  }
  const pw = await readPassword(ctx, opts.passwordStdin === true, passwords);
  if (!pw.ok) return pw.exitCode;
  const entry: Credential = {
    user: name,
    realm,
    ha1: computeAllHa1(name, realm, pw.value),
    groups: splitList(opts.groups),
    aliases: splitList(opts.aliases),
    disabled: false,
    allowMd5: opts.allowMd5 === true,
  };
  const code = save(ctx, f.value.path, [...f.value.users, entry]);
  if (code === EXIT_OK) println(ctx.io.out, `added ${name} in realm ${realm} (HA1: md5, sha256, sha512_256) to ${f.value.path}`);
  return code;
}

export async function runUserPasswd(ctx: CliContext, name: string, opts: UserPasswdOptions, passwords: PasswordReader): Promise<number> {
  const f = load(ctx, opts);
  if (!f.ok) return f.exitCode;
  const idx = findUser(ctx, f.value.users, name, opts.realm);
  if (!idx.ok) return idx.exitCode;
  const pw = await readPassword(ctx, opts.passwordStdin === true, passwords);
  if (!pw.ok) return pw.exitCode;
  const users = f.value.users.map((u, i) => (i === idx.value ? { ...u, ha1: computeAllHa1(u.user, u.realm, pw.value) } : u));
  const code = save(ctx, f.value.path, users);
  if (code === EXIT_OK) println(ctx.io.out, `password of ${name} changed`);
  return code;
}

export function runUserRemove(ctx: CliContext, name: string, opts: UserRemoveOptions): number {
  const f = load(ctx, opts);
  if (!f.ok) return f.exitCode;
  const idx = findUser(ctx, f.value.users, name, opts.realm);
  if (!idx.ok) return idx.exitCode;
  const code = save(
    ctx,
    f.value.path,
    f.value.users.filter((_, i) => i !== idx.value),
  );
  if (code === EXIT_OK) println(ctx.io.out, `removed ${name}`);
  return code;
}

export function runUserList(ctx: CliContext, opts: UserListOptions): number {
  const f = load(ctx, opts);
  if (!f.ok) return f.exitCode;
  const rows = f.value.users.map((u) => ({
    user: u.user,
    realm: u.realm,
    groups: [...u.groups],
    aliases: [...u.aliases],
    disabled: u.disabled,
    allowMd5: u.allowMd5,
    algorithms: Object.keys(u.ha1).sort(),
  }));
  if (opts.json === true) {
    println(ctx.io.out, JSON.stringify(rows, null, 2));
    return EXIT_OK;
  }
  if (rows.length === 0) {
    println(ctx.io.out, `no users in ${f.value.path}`);
    return EXIT_OK;
  }
  for (const r of rows) {
    const flags = [r.disabled ? 'disabled' : '', r.allowMd5 ? 'md5-allowed' : ''].filter((x) => x !== '').join(',');
    println(
      ctx.io.out,
      `${r.user}\trealm=${r.realm}\tgroups=${r.groups.join(',') || '-'}\taliases=${r.aliases.join(',') || '-'}\thashes=${r.algorithms.join(',')}${flags === '' ? '' : `\t${flags}`}`,
    );
  }
  return EXIT_OK;
}

/** Real stdin / terminal. */
export const terminalPasswordReader: PasswordReader = {
  async fromStdin(): Promise<string> {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of process.stdin as AsyncIterable<Buffer | string>) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      total += b.length;
      if (total > MAX_PASSWORD_BYTES + 2) throw new Error(`password longer than ${MAX_PASSWORD_BYTES} bytes refused`);
      chunks.push(b);
    }
    return stripOneNewline(Buffer.concat(chunks).toString('utf8'));
  },
  prompt(question: string): Promise<string> {
    const stdin = process.stdin;
    if (!stdin.isTTY) return Promise.reject(new Error('no terminal to prompt on: use --password-stdin'));
    return new Promise((resolve, reject) => {
      process.stderr.write(question);
      let value = '';
      const done = (e: Error | undefined): void => {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
        process.stderr.write('\n');
        if (e) reject(e);
        else resolve(value);
      };
      const onData = (data: Buffer): void => {
        for (const ch of data.toString('utf8')) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            done(undefined);
            return;
          }
          if (ch === '\u0003') {
            done(new Error('interrupted'));
            return;
          }
          if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
          else value += ch;
          if (Buffer.byteLength(value) > MAX_PASSWORD_BYTES) {
            done(new Error(`password longer than ${MAX_PASSWORD_BYTES} bytes refused`));
            return;
          }
        }
      };
      stdin.setRawMode(true);
      stdin.resume();
      stdin.on('data', onData);
    });
  },
};

export function stripOneNewline(s: string): string {
  if (s.endsWith('\r\n')) return s.slice(0, -2);
  if (s.endsWith('\n')) return s.slice(0, -1);
  return s;
}
