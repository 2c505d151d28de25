/**
 * Policy loading: YAML text → validated, path-normalised, deep-frozen `Policy`, or a list of issues that each
 * name FILE:LINE:COLUMN and the data path. Never throws on bad input. Messages never echo a value from the
 * file (it may be a secret); they describe it ("got a string").
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument, visit } from 'yaml';
import type { core } from 'zod';
import { err, ok, type Result } from '../core/result.ts';
import { SourceLocator } from './locate.ts';
import { type Policy, policySchema, type Secret, type TlsConfig } from './schema.ts';
import { knownKeysAt, suggestKey } from './schema-keys.ts';
import { checkPolicySemantics } from './semantic.ts';

export type ConfigIssueCode = 'CONFIG_YAML' | 'CONFIG_INVALID' | 'CONFIG_IO';

export interface ConfigIssue {
  readonly code: ConfigIssueCode;
  readonly file: string;
  /** 1-based; 0 when the issue has no position (the file could not be read). */
  readonly line: number;
  /** 1-based; 0 when the issue has no position. */
  readonly column: number;
  /** Data path such as `listeners[1].tls.minVersion`; '' for the whole document or a YAML syntax error. */
  readonly path: string;
  readonly message: string;
}

/** A policy is a hand-written file; anything larger is a mistake (or an attack on the parser). */
export const MAX_POLICY_BYTES = 1024 * 1024;
export const MAX_SECRET_FILE_BYTES = 64 * 1024;
/** Issues reported per load; the rest are summarised in one line. */
export const MAX_ISSUES = 100;
/** Bound on alias expansion ("billion laughs"). */
const MAX_ALIAS_COUNT = 100;

export interface LoadOptions {
  /** Directory relative paths resolve against; default: the directory of `fileName`. */
  readonly baseDir?: string;
}

/** `FILE:LINE:COL path: message` (`FILE: message` when there is no position). */
export function formatIssue(i: ConfigIssue): string {
  const where = i.line === 0 ? `${i.file}:` : `${i.file}:${i.line}:${i.column}`;
  return i.path === '' ? `${where} ${i.message}` : `${where} ${i.path}: ${i.message}`;
}

/** `['listeners', 1, 'tls', 'minVersion']` → `listeners[1].tls.minVersion`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

/** The directory a policy file's relative paths are resolved against. */
export function policyBaseDir(file: string): string {
  return dirname(resolve(file));
}

function ioCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'error';
}

export function loadPolicyFile(path: string): Result<Policy, ConfigIssue[]> {
  const io = (message: string): Result<Policy, ConfigIssue[]> =>
    err([{ code: 'CONFIG_IO', file: path, line: 0, column: 0, path: '', message }]);
  let text: string;
  try {
    const st = statSync(path);
    if (!st.isFile()) return io('not a regular file');
    if (st.size > MAX_POLICY_BYTES) return io(`file is larger than ${MAX_POLICY_BYTES} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return io(`cannot read file (${ioCode(e)})`);
  }
  return loadPolicyText(text, path);
}

export function loadPolicyText(text: string, fileName: string, opts: LoadOptions = {}): Result<Policy, ConfigIssue[]> {
  const issue = (code: ConfigIssueCode, line: number, column: number, path: string, message: string): ConfigIssue => ({
    code,
    file: fileName,
    line,
    column,
    path,
    message,
  });
  if (Buffer.byteLength(text, 'utf8') > MAX_POLICY_BYTES)
    return err([issue('CONFIG_IO', 0, 0, '', `file is larger than ${MAX_POLICY_BYTES} bytes`)]);

  const lines = new LineCounter();
  // `merge: true` lets operators share blocks with `<<: *anchor` (YAML 1.1 merge keys, common in ops tooling).
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, strict: true, uniqueKeys: true, merge: true });
  const loc = new SourceLocator(doc, lines);

  // YAML syntax. Warnings (unknown tags and the like) are errors too: a policy must mean exactly what it says.
  const yamlIssues: ConfigIssue[] = [];
  for (const e of [...doc.errors, ...doc.warnings]) {
    const p = loc.at(skipSpaces(text, e.pos[0]));
    yamlIssues.push(issue('CONFIG_YAML', p.line, p.column, '', yamlMessage(e.code, e.message)));
  }
  visit(doc, {
    Alias(_key, node) {
      if (node.resolve(doc) === undefined && node.range) {
        const p = loc.at(node.range[0]);
        yamlIssues.push(issue('CONFIG_YAML', p.line, p.column, '', `unknown anchor "${node.source}"`));
      }
    },
  });
  if (yamlIssues.length > 0) return err(finish(yamlIssues, fileName));

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch {
    return err([issue('CONFIG_YAML', 1, 1, '', `too many alias expansions (more than ${MAX_ALIAS_COUNT})`)]);
  }

  const parsed = policySchema.safeParse(withoutExtensions(data ?? {}));
  if (!parsed.success) {
    const out: ConfigIssue[] = [];
    for (const zi of parsed.error.issues) out.push(...fromZodIssue(zi, loc, issue));
    return err(finish(out, fileName));
  }

  const semantic = checkPolicySemantics(parsed.data);
  if (semantic.length > 0) {
    const out = semantic.map((s) => {
      const p = loc.value(s.path);
      return issue('CONFIG_INVALID', p.line, p.column, formatPath(s.path), s.message);
    });
    return err(finish(out, fileName));
  }

  const policy = parsed.data;
  resolvePaths(policy, opts.baseDir ?? policyBaseDir(fileName));
  return ok(deepFreeze(policy));
}

/**
 * Top-level keys starting with `x-` are ignored (the Docker Compose convention): a place to define anchors
 * shared by several blocks. A typo cannot produce that prefix, so strictness loses nothing.
 */
function withoutExtensions(data: unknown): unknown {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return data;
  return Object.fromEntries(Object.entries(data).filter(([k]) => !k.startsWith('x-')));
}

type MakeIssue = (code: ConfigIssueCode, line: number, column: number, path: string, message: string) => ConfigIssue;

function fromZodIssue(zi: core.$ZodIssue, loc: SourceLocator, issue: MakeIssue): ConfigIssue[] {
  const path = zi.path;
  if (zi.code === 'unrecognized_keys') {
    const allowed = knownKeysAt(path);
    return zi.keys.map((k) => {
      const keyPath = [...path, k];
      const p = loc.key(keyPath);
      const hint = suggestKey(k, allowed);
      return issue('CONFIG_INVALID', p.line, p.column, formatPath(keyPath), `unknown key${hint ? ` (did you mean "${hint}"?)` : ''}`);
    });
  }
  const p = loc.value(path);
  // zod's wording, in the lower case the rest of our messages use ("Invalid option: expected …" → "invalid option: …").
  let message = zi.message.charAt(0).toLowerCase() + zi.message.slice(1);
  if (zi.code === 'invalid_type') {
    message = loc.has(path) ? `expected ${friendlyType(zi.expected)}, got ${loc.describe(path)}` : 'required key is missing';
  } else if (zi.code === 'invalid_union') {
    const keys = knownKeysAt(path);
    if (keys.includes('file') && keys.includes('env')) message = 'expected a secret: a non-empty string, { file: PATH } or { env: NAME }';
  }
  return [issue('CONFIG_INVALID', p.line, p.column, formatPath(path), message)];
}

function friendlyType(t: string): string {
  switch (t) {
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'number':
    case 'int':
      return 'a number';
    case 'boolean':
      return 'a boolean (true or false)';
    case 'string':
      return 'a string';
    default:
      return t;
  }
}

function yamlMessage(code: string, message: string): string {
  if (code === 'DUPLICATE_KEY') return 'duplicate key (each key may appear once per mapping)';
  return message;
}

/** yaml reports some indentation errors at the start of the line; the offending token is the better column. */
function skipSpaces(text: string, offset: number): number {
  let i = offset;
  while (i < text.length && text[i] === ' ') i++;
  return i < text.length && text[i] !== '\n' && text[i] !== '\r' ? i : offset;
}

function finish(issues: ConfigIssue[], fileName: string): ConfigIssue[] {
  const seen = new Set<string>();
  const unique = issues.filter((i) => {
    const k = `${i.line}:${i.column}:${i.path}:${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  unique.sort((a, b) => a.line - b.line || a.column - b.column);
  if (unique.length <= MAX_ISSUES) return unique;
  const more = unique.length - MAX_ISSUES;
  const last = unique[MAX_ISSUES - 1];
  const rest: ConfigIssue = {
    code: last?.code ?? 'CONFIG_INVALID',
    file: fileName,
    line: last?.line ?? 1,
    column: last?.column ?? 1,
    path: '',
    message: `${more} more issue(s) not shown`,
  };
  return [...unique.slice(0, MAX_ISSUES), rest];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function resolveTlsPaths(tls: TlsConfig | undefined, baseDir: string): void {
  if (!tls) return;
  const t = tls as Mutable<TlsConfig>;
  if (t.cert !== undefined) t.cert = resolve(baseDir, t.cert);
  if (t.key !== undefined) t.key = resolve(baseDir, t.key);
  if (t.ca !== undefined) t.ca = resolve(baseDir, t.ca);
  if (t.keyPassphrase !== undefined) t.keyPassphrase = resolveSecretPath(t.keyPassphrase, baseDir);
}

function resolveSecretPath(s: Secret, baseDir: string): Secret {
  return typeof s === 'object' && 'file' in s ? { file: resolve(baseDir, s.file) } : s;
}

/**
 * Every relative file path in the policy is made absolute against the policy file's directory, once, here:
 * consumers of the snapshot never need to know where the file was.
 */
function resolvePaths(p: Policy, baseDir: string): void {
  p.node.dataDir = resolve(baseDir, p.node.dataDir);
  for (const l of p.listeners) resolveTlsPaths(l.tls, baseDir);
  resolveTlsPaths(p.pbx.listen.tls, baseDir);
  // Secret files read later (HTTP credential backend token) resolve like every other path: against the policy file.
  const token = p.auth.http?.token;
  if (p.auth.http && token !== undefined && typeof token === 'object' && 'file' in token) {
    p.auth.http.token = { file: resolve(baseDir, token.file) };
  }
}

/** Freezes an object graph in place (plain objects and arrays) and returns it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export interface ResolveSecretOptions {
  /** Environment to read `{ env }` secrets from; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where the secret is referenced, for the issue (e.g. the policy file and `listeners[2].tls.keyPassphrase`). */
  readonly at?: Partial<Pick<ConfigIssue, 'file' | 'line' | 'column' | 'path'>>;
}

/**
 * Reads a secret's value: inline, `{ file }` (relative to `baseDir`, one trailing newline stripped) or `{ env }`.
 * The error message names where the secret was looked for, never its value.
 */
export function resolveSecret(secret: Secret, baseDir: string, opts: ResolveSecretOptions = {}): Result<string, ConfigIssue> {
  const fail = (code: ConfigIssueCode, message: string): Result<string, ConfigIssue> =>
    err({
      code,
      file: opts.at?.file ?? '(secret)',
      line: opts.at?.line ?? 0,
      column: opts.at?.column ?? 0,
      path: opts.at?.path ?? '',
      message,
    });
  if (typeof secret === 'string') return secret.length > 0 ? ok(secret) : fail('CONFIG_INVALID', 'secret is empty');
  if ('file' in secret) {
    const p = isAbsolute(secret.file) ? secret.file : resolve(baseDir, secret.file);
    let text: string;
    try {
      const st = statSync(p);
      if (!st.isFile()) return fail('CONFIG_IO', `secret file ${p} is not a regular file`);
      if (st.size > MAX_SECRET_FILE_BYTES) return fail('CONFIG_IO', `secret file ${p} is larger than ${MAX_SECRET_FILE_BYTES} bytes`);
      text = readFileSync(p, 'utf8');
    } catch (e) {
      return fail('CONFIG_IO', `cannot read secret file ${p} (${ioCode(e)})`);
    }
    const value = text.replace(/\r?\n$/, '');
    return value.length > 0 ? ok(value) : fail('CONFIG_IO', `secret file ${p} is empty`);
  }
  const env = opts.env ?? process.env;
  const value = env[secret.env];
  if (value === undefined) return fail('CONFIG_IO', `environment variable ${secret.env} is not set`);
  if (value === '') return fail('CONFIG_IO', `environment variable ${secret.env} is empty`);
  return ok(value);
}
