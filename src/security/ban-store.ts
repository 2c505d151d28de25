/**
 * Bans that survive a restart: a JSON file in the data directory with wall-clock expiries.
 *
 * Writes are debounced (a burst of bans costs one write) and atomic: a temp file in the same directory
 * is written with mode 0600, fsync'd, renamed over the old file, and the directory is fsync'd, so a
 * crash leaves either the old file or the new one, never a torn one.
 *
 * Loading never throws. A file that cannot be read or parsed is renamed aside
 * (`bans.json.corrupt-<wall ms>`) for a human to look at, and the daemon starts with no persisted bans;
 * the caller gets the reason as an issue to log. Expired entries are dropped.
 *
 * File format (version 1):
 *   { "version": 1, "savedAt": <wall ms>, "bans": [ BanInfo, ... ] }   — see BanInfo in bans.ts.
 */
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { Result } from '../core/result.ts';
import { err, ok } from '../core/result.ts';
import type { BanInfo } from './bans.ts';
import { parseTarget } from './bans.ts';

export const BAN_STORE_FILE = 'bans.json';
export const BAN_STORE_VERSION = 1;
const DEFAULT_DEBOUNCE_MS = 1_000;
const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;
const DEFAULT_MAX_ENTRIES = 200_000;

export type BanStoreIssueCode = 'BAN_STORE_UNREADABLE' | 'BAN_STORE_CORRUPT' | 'BAN_STORE_ENTRIES_SKIPPED' | 'BAN_STORE_WRITE';

export interface BanStoreIssue {
  readonly code: BanStoreIssueCode;
  readonly path: string;
  /** Where a bad file was moved; absent when it was not moved (or the move failed). */
  readonly movedTo?: string;
  readonly detail: string;
}

export interface BanStoreLoad {
  readonly bans: BanInfo[];
  /** Entries dropped because they had expired while the daemon was down. */
  readonly expired: number;
  readonly issues: BanStoreIssue[];
}

export interface BanStoreOptions {
  readonly dir: string;
  readonly clock: Clock;
  /** What to write: usually `() => banManager.list()`. */
  readonly snapshot: () => readonly BanInfo[];
  readonly fileName?: string;
  readonly debounceMs?: number;
  readonly maxBytes?: number;
  readonly maxEntries?: number;
  /** Failed background writes (a scheduled write has no caller to return to). */
  readonly onIssue?: (issue: BanStoreIssue) => void;
}

export interface BanStoreStats {
  writes: number;
  writeErrors: number;
}

export interface BanStore {
  readonly path: string;
  load(): Promise<BanStoreLoad>;
  /** Marks the bans dirty; a write follows within debounceMs. */
  schedule(): void;
  /** Writes now if anything is pending (or always, with force) and waits for it. */
  flush(force?: boolean): Promise<Result<void, BanStoreIssue>>;
  /** Resolves when no write is pending or in flight. */
  idle(): Promise<void>;
  stats(): BanStoreStats;
  /** Flushes and stops the debounce timer. */
  close(): Promise<Result<void, BanStoreIssue>>;
}

function message(e: unknown): string {
  if (e instanceof Error) return (e as NodeJS.ErrnoException).code ?? e.message;
  return String(e);
}

function isWallTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

/** Narrows one entry of an untrusted file to BanInfo, or undefined. */
export function parseBanEntry(v: unknown): BanInfo | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const e = v as Record<string, unknown>;
  const { target, kind, reason, source, bannedAt, expiresAt, firstOffenceAt, lastOffenceAt, count, repeat } = e;
  if (typeof target !== 'string' || (kind !== 'address' && kind !== 'cidr')) return undefined;
  const t = parseTarget(target);
  if (t === undefined || t.kind !== kind) return undefined;
  if (typeof reason !== 'string' || (source !== 'auto' && source !== 'manual')) return undefined;
  if (!isWallTime(bannedAt)) return undefined;
  if (expiresAt !== null && !isWallTime(expiresAt)) return undefined;
  if (firstOffenceAt !== null && !isWallTime(firstOffenceAt)) return undefined;
  if (lastOffenceAt !== null && !isWallTime(lastOffenceAt)) return undefined;
  if (!Number.isSafeInteger(count) || (count as number) < 0) return undefined;
  if (!Number.isInteger(repeat) || (repeat as number) < 0 || (repeat as number) > 1000) return undefined;
  return {
    target: t.kind === 'address' ? t.key : t.text,
    kind,
    reason: reason.slice(0, 200),
    source,
    bannedAt,
    expiresAt,
    firstOffenceAt,
    lastOffenceAt,
    count: count as number,
    repeat: repeat as number,
  };
}

export function createBanStore(o: BanStoreOptions): BanStore {
  const path = join(o.dir, o.fileName ?? BAN_STORE_FILE);
  const debounceMs = o.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  const maxBytes = o.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxEntries = o.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const st: BanStoreStats = { writes: 0, writeErrors: 0 };
  let dirty = false;
  let timer: TimerHandle | undefined;
  let inFlight: Promise<Result<void, BanStoreIssue>> | undefined;
  let tmpSeq = 0;

  async function moveAside(code: BanStoreIssueCode, detail: string): Promise<BanStoreIssue> {
    const to = `${path}.corrupt-${Math.round(o.clock.wallNow())}`;
    try {
      await rename(path, to);
      return { code, path, movedTo: to, detail };
    } catch (e) {
      return { code, path, detail: `${detail}; not moved aside: ${message(e)}` };
    }
  }

  async function load(): Promise<BanStoreLoad> {
    const issues: BanStoreIssue[] = [];
    let text: string;
    try {
      const s = await stat(path);
      if (s.isFile() && s.size > maxBytes) {
        issues.push(await moveAside('BAN_STORE_CORRUPT', `file larger than ${maxBytes} bytes`));
        return { bans: [], expired: 0, issues };
      }
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { bans: [], expired: 0, issues };
      issues.push(await moveAside('BAN_STORE_UNREADABLE', message(e)));
      return { bans: [], expired: 0, issues };
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      issues.push(await moveAside('BAN_STORE_CORRUPT', e instanceof SyntaxError ? 'invalid JSON' : message(e)));
      return { bans: [], expired: 0, issues };
    }
    const top = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>) : undefined;
    if (top === undefined || top.version !== BAN_STORE_VERSION || !Array.isArray(top.bans)) {
      issues.push(await moveAside('BAN_STORE_CORRUPT', 'not a version 1 ban file'));
      return { bans: [], expired: 0, issues };
    }
    const now = o.clock.wallNow();
    const bans: BanInfo[] = [];
    let skipped = 0;
    let expired = 0;
    for (const raw of top.bans as unknown[]) {
      const b = bans.length < maxEntries ? parseBanEntry(raw) : undefined;
      if (b === undefined) skipped++;
      else if (b.expiresAt !== null && b.expiresAt <= now) expired++;
      else bans.push(b);
    }
    if (skipped > 0) issues.push({ code: 'BAN_STORE_ENTRIES_SKIPPED', path, detail: `${skipped} invalid entries skipped` });
    return { bans, expired, issues };
  }

  async function write(): Promise<Result<void, BanStoreIssue>> {
    dirty = false;
    const body = `${JSON.stringify({ version: BAN_STORE_VERSION, savedAt: o.clock.wallNow(), bans: o.snapshot() }, null, 1)}\n`;
    const tmp = `${path}.tmp-${process.pid}-${tmpSeq++}`;
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(body, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
      try {
        // The rename is durable only once the directory entry is (best effort: not every FS allows it).
        const d = await open(o.dir, 'r');
        try {
          await d.sync();
        } finally {
          await d.close();
        }
      } catch {
        /* durability of the directory entry is best effort */
      }
      st.writes++;
      return ok(undefined);
    } catch (e) {
      st.writeErrors++;
      await unlink(tmp).catch(() => undefined);
      const issue: BanStoreIssue = { code: 'BAN_STORE_WRITE', path, detail: message(e) };
      try {
        o.onIssue?.(issue);
      } catch {
        /* a listener error must not break persistence */
      }
      return err(issue);
    }
  }

  function start(): Promise<Result<void, BanStoreIssue>> {
    const p = write().finally(() => {
      inFlight = undefined;
      if (dirty) arm();
    });
    inFlight = p;
    return p;
  }

  function arm(): void {
    if (timer !== undefined || inFlight !== undefined) return;
    timer = o.clock.setTimer(debounceMs, () => {
      timer = undefined;
      if (dirty && inFlight === undefined) void start();
    });
  }

  function disarm(): void {
    timer?.cancel();
    timer = undefined;
  }

  async function flush(force = false): Promise<Result<void, BanStoreIssue>> {
    disarm();
    let last: Result<void, BanStoreIssue> = ok(undefined);
    if (inFlight !== undefined) last = await inFlight;
    disarm(); // the finished write may have re-armed the debounce
    if (dirty || force) last = await start();
    return last;
  }

  return {
    path,
    load,
    schedule: () => {
      dirty = true;
      arm();
    },
    flush,
    idle: async () => {
      while (inFlight !== undefined) await inFlight;
    },
    stats: () => ({ ...st }),
    close: () => flush(),
  };
}
