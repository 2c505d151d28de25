/**
 * One JSON document in the data directory that survives a restart: the file mechanics shared by the ban store
 * (src/security/ban-store.ts) and the fraud block store (src/daemon/fraud-block-store.ts). What the document
 * holds and how its entries are validated stays with each store.
 *
 * Writes are debounced (a burst of changes costs one write) and atomic: a temp file in the same directory is
 * written with mode 0600, fsync'd, renamed over the old file, and the directory is fsync'd, so a crash leaves
 * either the old file or the new one, never a torn one.
 *
 * Reading never throws and is bounded (`maxBytes`). A file that cannot be read or parsed is renamed aside
 * (`<file>.corrupt-<wall ms>`) for a human to look at; the caller gets the reason as an issue to log. A store
 * whose document parses but has the wrong shape moves it aside the same way (`moveAside`).
 */
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { Result } from '../core/result.ts';
import { err, ok } from '../core/result.ts';

export const DEFAULT_STATE_DEBOUNCE_MS = 1_000;
export const DEFAULT_STATE_MAX_BYTES = 32 * 1024 * 1024;

export interface StateFileIssue<C extends string> {
  readonly code: C;
  readonly path: string;
  /** Where a bad file was moved; absent when it was not moved (or the move failed). */
  readonly movedTo?: string;
  readonly detail: string;
}

/** The store's own issue codes for the three things the file layer can report. */
export interface StateFileCodes<C extends string> {
  /** The path exists but cannot be read (a directory, no permission). */
  readonly unreadable: C;
  /** Too large, or not JSON. */
  readonly corrupt: C;
  /** A write failed. */
  readonly write: C;
}

export interface JsonStateFileOptions<C extends string> {
  readonly dir: string;
  readonly fileName: string;
  readonly clock: Clock;
  readonly codes: StateFileCodes<C>;
  /** The document to write, built at write time. */
  readonly document: () => unknown;
  readonly debounceMs?: number;
  readonly maxBytes?: number;
  /** Failed background writes (a scheduled write has no caller to return to). */
  readonly onIssue?: (issue: StateFileIssue<C>) => void;
}

export type StateFileRead<C extends string> =
  | { readonly kind: 'absent' }
  | { readonly kind: 'document'; readonly doc: unknown }
  | { readonly kind: 'failed'; readonly issue: StateFileIssue<C> };

export interface StateFileStats {
  writes: number;
  writeErrors: number;
}

/** A store of one kind of state over a JsonStateFile: what the ban store and the fraud-block store offer. */
export interface StateStore<Load, Issue> {
  readonly path: string;
  /** What the file holds now, validated; bad files and entries come back as issues. Never throws. */
  load(): Promise<Load>;
  /** Marks the state dirty; a write follows within debounceMs. */
  schedule(): void;
  /** Writes now if anything is pending (or always, with force) and waits for it. */
  flush(force?: boolean): Promise<Result<void, Issue>>;
  /** Resolves when no write is pending or in flight. */
  idle(): Promise<void>;
  stats(): StateFileStats;
  /** Flushes and stops the debounce timer. */
  close(): Promise<Result<void, Issue>>;
}

/** A StateStore over `file`: its own load, the file's write side. */
export function stateStoreOver<Load, C extends string>(
  file: JsonStateFile<C>,
  load: () => Promise<Load>,
): StateStore<Load, StateFileIssue<C>> {
  return { path: file.path, load, schedule: file.schedule, flush: file.flush, idle: file.idle, stats: file.stats, close: file.close };
}

export interface JsonStateFile<C extends string> {
  readonly path: string;
  /** The parsed document; a file that cannot be read or parsed has been moved aside. Never throws. */
  read(): Promise<StateFileRead<C>>;
  /** Renames the file aside (`<path>.corrupt-<wall ms>`) and describes why. Never throws. */
  moveAside(code: C, detail: string): Promise<StateFileIssue<C>>;
  /**
   * The `key` array of a `{ version, <key>: [...] }` document, entries still unchecked: none when there is no file;
   * a file that cannot be read, or a document of another version or shape (moved aside as corrupt), comes back
   * as the issue instead. Never throws.
   */
  readEntries(version: number, key: string, what: string): Promise<{ entries: readonly unknown[]; issue?: StateFileIssue<C> }>;
  /** Marks the document dirty; a write follows within debounceMs. */
  schedule(): void;
  /** Writes now if anything is pending (or always, with force) and waits for it. */
  flush(force?: boolean): Promise<Result<void, StateFileIssue<C>>>;
  /** Resolves when no write is pending or in flight. */
  idle(): Promise<void>;
  stats(): StateFileStats;
  /** Flushes and stops the debounce timer. */
  close(): Promise<Result<void, StateFileIssue<C>>>;
}

/** An fs error as its code (`ENOENT`), else its message. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return (e as NodeJS.ErrnoException).code ?? e.message;
  return String(e);
}

/** Wall-clock ms that a hand-edited file may hold: finite and not negative. */
export function isWallTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

/** The top level of a document when it is a plain object, else undefined. */
export function asRecord(doc: unknown): Record<string, unknown> | undefined {
  return typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>) : undefined;
}

export function createJsonStateFile<C extends string>(o: JsonStateFileOptions<C>): JsonStateFile<C> {
  const path = join(o.dir, o.fileName);
  const debounceMs = o.debounceMs ?? DEFAULT_STATE_DEBOUNCE_MS;
  const maxBytes = o.maxBytes ?? DEFAULT_STATE_MAX_BYTES;
  const st: StateFileStats = { writes: 0, writeErrors: 0 };
  let dirty = false;
  let timer: TimerHandle | undefined;
  let inFlight: Promise<Result<void, StateFileIssue<C>>> | undefined;
  let tmpSeq = 0;

  async function moveAside(code: C, detail: string): Promise<StateFileIssue<C>> {
    const to = `${path}.corrupt-${Math.round(o.clock.wallNow())}`;
    try {
      await rename(path, to);
      return { code, path, movedTo: to, detail };
    } catch (e) {
      return { code, path, detail: `${detail}; not moved aside: ${errorText(e)}` };
    }
  }

  async function read(): Promise<StateFileRead<C>> {
    let text: string;
    try {
      const s = await stat(path);
      if (s.isFile() && s.size > maxBytes)
        return { kind: 'failed', issue: await moveAside(o.codes.corrupt, `file larger than ${maxBytes} bytes`) };
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
      return { kind: 'failed', issue: await moveAside(o.codes.unreadable, errorText(e)) };
    }
    try {
      return { kind: 'document', doc: JSON.parse(text) as unknown };
    } catch (e) {
      return { kind: 'failed', issue: await moveAside(o.codes.corrupt, e instanceof SyntaxError ? 'invalid JSON' : errorText(e)) };
    }
  }

  async function write(): Promise<Result<void, StateFileIssue<C>>> {
    dirty = false;
    const tmp = `${path}.tmp-${process.pid}-${tmpSeq++}`;
    try {
      const body = `${JSON.stringify(o.document(), null, 1)}\n`;
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
      const issue: StateFileIssue<C> = { code: o.codes.write, path, detail: errorText(e) };
      try {
        o.onIssue?.(issue);
      } catch {
        /* a listener error must not break persistence */
      }
      return err(issue);
    }
  }

  function start(): Promise<Result<void, StateFileIssue<C>>> {
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

  async function flush(force = false): Promise<Result<void, StateFileIssue<C>>> {
    disarm();
    let last: Result<void, StateFileIssue<C>> = ok(undefined);
    if (inFlight !== undefined) last = await inFlight;
    disarm(); // the finished write may have re-armed the debounce
    if (dirty || force) last = await start();
    return last;
  }

  async function readEntries(
    version: number,
    key: string,
    what: string,
  ): Promise<{ entries: readonly unknown[]; issue?: StateFileIssue<C> }> {
    const r = await read();
    if (r.kind === 'absent') return { entries: [] };
    if (r.kind === 'failed') return { entries: [], issue: r.issue };
    const top = asRecord(r.doc);
    const entries = top?.[key];
    if (top === undefined || top.version !== version || !Array.isArray(entries))
      return { entries: [], issue: await moveAside(o.codes.corrupt, `not a version ${version} ${what} file`) };
    return { entries };
  }

  return {
    path,
    read,
    moveAside,
    readEntries,
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
