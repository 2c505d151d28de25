/**
 * Toll-fraud blocks that survive a restart. An anomaly rule with action block_user blocks a caller until a
 * wall-clock time; kept in memory only, a restart (or a crash the attacker provoked) would lift every block.
 * The blocks are written to `fraud-blocks.json` in the data directory whenever they change (a block added or
 * extended, lifted by an operator, expired ones dropped) and restored into the detector at start.
 *
 * The file mechanics are the ban store's (src/state/json-state-file.ts): debounced atomic writes (0600), a bounded
 * read, a file that cannot be read or parsed moved aside (`fraud-blocks.json.corrupt-<wall ms>`) and reported.
 * Every entry of a hand-edited file is checked; bad ones are skipped and reported as one issue, never thrown.
 * Expired entries are dropped on load, and at most `maxEntries` are restored.
 *
 * File format (version 1):
 *   { "version": 1, "savedAt": <wall ms>, "blocks": [ { "subject": "user:alice", "until": <wall ms> }, ... ] }
 * `subject` is the detector's (`user:NAME`, `trunk:NAME`), in the form `palisade fraud unblock` accepts.
 */
import { parseFraudSubject } from '../admin/routes-fraud.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import {
  asRecord,
  createJsonStateFile,
  isWallTime,
  type StateFileIssue,
  type StateStore,
  stateStoreOver,
} from '../state/json-state-file.ts';

export const FRAUD_BLOCK_FILE = 'fraud-blocks.json';
export const FRAUD_BLOCK_VERSION = 1;
const DEFAULT_DEBOUNCE_MS = 1_000;
/** Entries are ~60 bytes: 8 MiB holds far more than the detector's largest allowed subject bound. */
const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;
const DEFAULT_MAX_ENTRIES = 100_000;
/** The last wall time a JS Date can hold (ECMA-262 §21.4.1.1): a later `until` is not a time. */
const MAX_WALL_MS = 8.64e15;

export type FraudBlockIssueCode =
  | 'FRAUD_BLOCKS_UNREADABLE'
  | 'FRAUD_BLOCKS_CORRUPT'
  | 'FRAUD_BLOCKS_ENTRIES_SKIPPED'
  | 'FRAUD_BLOCKS_WRITE';

export type FraudBlockIssue = StateFileIssue<FraudBlockIssueCode>;

export interface FraudBlock {
  readonly subject: string;
  /** Wall-clock ms. */
  readonly until: number;
}

export interface FraudBlockLoad {
  readonly blocks: FraudBlock[];
  /** Entries dropped because they had expired while the daemon was down. */
  readonly expired: number;
  readonly issues: FraudBlockIssue[];
}

export interface FraudBlockStoreOptions {
  readonly dir: string;
  readonly clock: Clock;
  /** What to write: the blocks in force (`() => callAuth.blocks()`). */
  readonly snapshot: () => readonly FraudBlock[];
  readonly fileName?: string;
  readonly debounceMs?: number;
  readonly maxBytes?: number;
  readonly maxEntries?: number;
  /** Failed background writes (a scheduled write has no caller to return to). */
  readonly onIssue?: (issue: FraudBlockIssue) => void;
}

/** The fraud-blocks file (see StateStore: load, schedule, flush, idle, stats, close). */
export type FraudBlockStore = StateStore<FraudBlockLoad, FraudBlockIssue>;

/** Narrows one entry of an untrusted file to a block, or undefined. Fields other than subject and until are ignored. */
export function parseFraudBlockEntry(v: unknown): FraudBlock | undefined {
  const e = asRecord(v);
  if (e === undefined) return undefined;
  const { subject, until } = e;
  if (typeof subject !== 'string' || parseFraudSubject(subject) !== subject) return undefined;
  if (!isWallTime(until) || until > MAX_WALL_MS) return undefined;
  return { subject, until };
}

export function createFraudBlockStore(o: FraudBlockStoreOptions): FraudBlockStore {
  const maxEntries = o.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const file = createJsonStateFile<FraudBlockIssueCode>({
    dir: o.dir,
    fileName: o.fileName ?? FRAUD_BLOCK_FILE,
    clock: o.clock,
    codes: { unreadable: 'FRAUD_BLOCKS_UNREADABLE', corrupt: 'FRAUD_BLOCKS_CORRUPT', write: 'FRAUD_BLOCKS_WRITE' },
    document: () => ({
      version: FRAUD_BLOCK_VERSION,
      savedAt: o.clock.wallNow(),
      blocks: o.snapshot().map((b) => ({ subject: b.subject, until: b.until })),
    }),
    debounceMs: o.debounceMs ?? DEFAULT_DEBOUNCE_MS,
    maxBytes: o.maxBytes ?? DEFAULT_MAX_BYTES,
    ...(o.onIssue !== undefined && { onIssue: o.onIssue }),
  });
  const path = file.path;

  async function load(): Promise<FraudBlockLoad> {
    const read = await file.readEntries(FRAUD_BLOCK_VERSION, 'blocks', 'fraud block');
    const now = o.clock.wallNow();
    const bySubject = new Map<string, number>();
    let invalid = 0;
    let over = 0;
    let expired = 0;
    for (const raw of read.entries) {
      const b = parseFraudBlockEntry(raw);
      if (b === undefined) invalid++;
      else if (b.until <= now) expired++;
      else if (bySubject.has(b.subject)) bySubject.set(b.subject, Math.max(b.until, bySubject.get(b.subject) as number));
      else if (bySubject.size >= maxEntries) over++;
      else bySubject.set(b.subject, b.until);
    }
    const issues: FraudBlockIssue[] = read.issue ? [read.issue] : [];
    if (invalid > 0 || over > 0) {
      const parts: string[] = [];
      if (invalid > 0) parts.push(`${invalid} invalid entries skipped`);
      if (over > 0) parts.push(`${over} entries beyond the bound of ${maxEntries} skipped`);
      issues.push({ code: 'FRAUD_BLOCKS_ENTRIES_SKIPPED', path, detail: parts.join('; ') });
    }
    const blocks = [...bySubject].map(([subject, until]) => ({ subject, until }));
    return { blocks, expired, issues };
  }

  return stateStoreOver(file, load);
}

/** Where loaded blocks go (src/daemon/fraud.ts CallAuthorization). */
export interface BlockRestorer {
  restoreBlock(subject: string, until: number): boolean;
}

/**
 * The daemon's start: creates the store, loads the file, logs what went wrong (skipped entries at warn, a file
 * moved aside or unreadable at error) and restores the blocks still in force. Never throws.
 */
export async function openFraudBlockStore(
  o: Omit<FraudBlockStoreOptions, 'onIssue'> & { readonly logger: Logger; readonly into: BlockRestorer },
): Promise<FraudBlockStore> {
  const { logger, into, ...rest } = o;
  const store = createFraudBlockStore({ ...rest, onIssue: (i) => logger.error({ code: i.code, path: i.path }, i.detail) });
  const loaded = await store.load();
  for (const i of loaded.issues) {
    const fields = { code: i.code, path: i.path, ...(i.movedTo !== undefined && { movedTo: i.movedTo }) };
    if (i.code === 'FRAUD_BLOCKS_ENTRIES_SKIPPED') logger.warn(fields, i.detail);
    else logger.error(fields, i.detail);
  }
  let restored = 0;
  for (const b of loaded.blocks) if (into.restoreBlock(b.subject, b.until)) restored++;
  if (restored > 0 || loaded.expired > 0) logger.info({ blocks: restored, expired: loaded.expired }, 'fraud blocks restored');
  return store;
}
