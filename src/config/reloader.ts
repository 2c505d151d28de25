/**
 * Holds the running policy and replaces it on reload (SIGHUP, file change, admin API). Load → validate → freeze
 * → swap one reference. An invalid file keeps the running policy and logs why (warn); nothing else happens.
 * Signal handlers are not installed here: main.ts calls `reload('sighup')`.
 */
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { type Clock, systemClock, type TimerHandle } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import { type ConfigIssue, formatIssue, loadPolicyFile } from './load.ts';
import type { Policy } from './schema.ts';

export type ReloadReason = 'sighup' | 'watch' | 'api';

export type ReloadOutcome =
  | { readonly ok: true; readonly at: number; readonly reason: ReloadReason }
  | { readonly ok: false; readonly at: number; readonly reason: ReloadReason; readonly issues: readonly ConfigIssue[] };

export interface PolicyHolder {
  current(): Policy;
  /** Re-reads the file now. Synchronous: the outcome says whether the new policy is in force. */
  reload(reason: ReloadReason): ReloadOutcome;
  lastReload(): ReloadOutcome | undefined;
  /** Stops watching. Idempotent; `current()` keeps working. */
  close(): void;
}

export interface PolicyHolderOptions {
  readonly logger: Logger;
  /** Called after each swap. Not called for a file-change event that leaves the policy identical. */
  readonly onChange: (next: Policy, prev: Policy) => void;
  readonly watch: boolean;
  /** Wall time for `at` and the debounce timers; default the system clock. */
  readonly clock?: Clock;
  /** Quiet time after the last file event before reloading. */
  readonly debounceMs?: number;
  /** Upper bound from the first event to the reload, so a file rewritten continuously still reloads. */
  readonly maxDelayMs?: number;
}

export const WATCH_DEBOUNCE_MS = 200;
export const WATCH_MAX_DELAY_MS = 2000;

export function createPolicyHolder(path: string, initial: Policy, opts: PolicyHolderOptions): PolicyHolder {
  const clock = opts.clock ?? systemClock;
  const log = opts.logger;
  const debounceMs = opts.debounceMs ?? WATCH_DEBOUNCE_MS;
  const maxDelayMs = Math.max(debounceMs, opts.maxDelayMs ?? WATCH_MAX_DELAY_MS);
  const fileName = basename(path);

  let policy = initial;
  let last: ReloadOutcome | undefined;
  let closed = false;
  let watcher: FSWatcher | undefined;
  let timer: TimerHandle | undefined;
  let firstEventAt: number | undefined;

  function reload(reason: ReloadReason): ReloadOutcome {
    const at = clock.wallNow();
    const r = loadPolicyFile(path);
    if (!r.ok) {
      last = { ok: false, at, reason, issues: r.error };
      log.warn({ file: path, reason, issues: r.error.map(formatIssue) }, 'policy reload failed; the running policy stays in force');
      return last;
    }
    const prev = policy;
    last = { ok: true, at, reason };
    // Editors fire several events per save; an identical policy is not a change. SIGHUP and the API always
    // notify, because they are also how an operator makes Palisade re-read certificate and secret files.
    if (reason === 'watch' && JSON.stringify(r.value) === JSON.stringify(prev)) {
      log.debug({ file: path, reason }, 'policy file touched; policy unchanged');
      return last;
    }
    policy = r.value;
    log.info({ file: path, reason }, 'policy reloaded');
    try {
      opts.onChange(r.value, prev);
    } catch (e) {
      log.error({ file: path, reason, err: e instanceof Error ? e.message : String(e) }, 'policy change handler failed');
    }
    return last;
  }

  function fire(): void {
    timer = undefined;
    firstEventAt = undefined;
    if (!closed) reload('watch');
  }

  function onEvent(_event: string, changed: string | Buffer | null): void {
    if (closed) return;
    const name = changed === null ? null : changed.toString();
    // Kubernetes mounts swap a `..data` symlink instead of touching the file itself.
    if (name !== null && name !== fileName && !name.startsWith('..')) return;
    const now = clock.now();
    firstEventAt ??= now;
    timer?.cancel();
    const wait = Math.max(0, Math.min(debounceMs, firstEventAt + maxDelayMs - now));
    timer = clock.setTimer(wait, fire);
  }

  if (opts.watch) {
    // The directory, not the file: editors and config managers replace the file (new inode), which a
    // watch on the file itself would stop seeing.
    const dir = dirname(resolve(path));
    try {
      const w = watch(dir, { persistent: false }, onEvent);
      w.on('error', (e) => {
        log.warn({ file: path, err: e.message }, 'policy file watch failed; reload with SIGHUP or the admin API');
        w.close();
        if (watcher === w) watcher = undefined;
      });
      watcher = w;
    } catch (e) {
      log.warn(
        { file: path, err: e instanceof Error ? e.message : String(e) },
        'cannot watch the policy directory; reload with SIGHUP or the admin API',
      );
    }
  }

  return {
    current: () => policy,
    reload,
    lastReload: () => last,
    close() {
      if (closed) return;
      closed = true;
      timer?.cancel();
      timer = undefined;
      watcher?.close();
      watcher = undefined;
    },
  };
}
