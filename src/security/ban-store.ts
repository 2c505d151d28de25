/**
 * Bans that survive a restart: a JSON file in the data directory with wall-clock expiries.
 *
 * Writes are debounced (a burst of bans costs one write) and atomic: a temp file in the same directory
 * is written with mode 0600, fsync'd, renamed over the old file, and the directory is fsync'd, so a
 * crash leaves either the old file or the new one, never a torn one (src/state/json-state-file.ts).
 *
 * Loading never throws. A file that cannot be read or parsed is renamed aside
 * (`bans.json.corrupt-<wall ms>`) for a human to look at, and the daemon starts with no persisted bans;
 * the caller gets the reason as an issue to log. Expired entries are dropped.
 *
 * File format (version 1):
 *   { "version": 1, "savedAt": <wall ms>, "bans": [ BanInfo, ... ] }   — see BanInfo in bans.ts.
 */
import type { Clock } from '../core/clock.ts';
import {
  createJsonStateFile,
  isWallTime,
  type StateFileIssue,
  type StateFileStats,
  type StateStore,
  stateStoreOver,
} from '../state/json-state-file.ts';
import type { BanInfo } from './bans.ts';
import { parseTarget } from './bans.ts';

export const BAN_STORE_FILE = 'bans.json';
export const BAN_STORE_VERSION = 1;
const DEFAULT_DEBOUNCE_MS = 1_000;
const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;
const DEFAULT_MAX_ENTRIES = 200_000;

export type BanStoreIssueCode = 'BAN_STORE_UNREADABLE' | 'BAN_STORE_CORRUPT' | 'BAN_STORE_ENTRIES_SKIPPED' | 'BAN_STORE_WRITE';

export type BanStoreIssue = StateFileIssue<BanStoreIssueCode>;

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

export type BanStoreStats = StateFileStats;

/** The bans file (see StateStore: load, schedule, flush, idle, stats, close). */
export type BanStore = StateStore<BanStoreLoad, BanStoreIssue>;

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
  const maxEntries = o.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const file = createJsonStateFile<BanStoreIssueCode>({
    dir: o.dir,
    fileName: o.fileName ?? BAN_STORE_FILE,
    clock: o.clock,
    codes: { unreadable: 'BAN_STORE_UNREADABLE', corrupt: 'BAN_STORE_CORRUPT', write: 'BAN_STORE_WRITE' },
    document: () => ({ version: BAN_STORE_VERSION, savedAt: o.clock.wallNow(), bans: o.snapshot() }),
    debounceMs: o.debounceMs ?? DEFAULT_DEBOUNCE_MS,
    maxBytes: o.maxBytes ?? DEFAULT_MAX_BYTES,
    ...(o.onIssue !== undefined && { onIssue: o.onIssue }),
  });
  const path = file.path;

  async function load(): Promise<BanStoreLoad> {
    const read = await file.readEntries(BAN_STORE_VERSION, 'bans', 'ban');
    const issues: BanStoreIssue[] = read.issue ? [read.issue] : [];
    const now = o.clock.wallNow();
    const bans: BanInfo[] = [];
    let skipped = 0;
    let expired = 0;
    for (const raw of read.entries) {
      const b = bans.length < maxEntries ? parseBanEntry(raw) : undefined;
      if (b === undefined) skipped++;
      else if (b.expiresAt !== null && b.expiresAt <= now) expired++;
      else bans.push(b);
    }
    if (skipped > 0) issues.push({ code: 'BAN_STORE_ENTRIES_SKIPPED', path, detail: `${skipped} invalid entries skipped` });
    return { bans, expired, issues };
  }

  return stateStoreOver(file, load);
}
