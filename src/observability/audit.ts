/**
 * Audit log: one JSON line per security-relevant event (operator changes to bans and the allow list, automatic
 * bans, authentication failures), appended to a 0600 file and also logged at info.
 *
 * Line format (one object per line, keys in this order):
 *   {"time":"2026-11-29T19:40:00.000Z","type":"audit","actor":"alice@gw1","action":"ban.add",
 *    "target":"192.0.2.7","reason":"scanner","outcome":"ok","details":{"forMs":600000}}
 *
 * `record()` never throws and never blocks: lines are queued (bounded; overflow is dropped and counted) and
 * written in batches by one async writer. I/O errors are counted and logged (rate-limited), never raised: a
 * full disk must not stop an operator from banning an attacker. When the file would grow past `maxBytes` it
 * is renamed to `<path>.1` (one generation kept) and a fresh file is started.
 *
 * Secrets never enter a record: strings are length-bounded and stripped of control characters, and `details`
 * keys that look like credentials (password, secret, token, ha1, key, authorization, nonce, cookie) are dropped.
 */
import { type FileHandle, open, rename } from 'node:fs/promises';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import type { BanInfo, UnbanReason } from '../security/bans.ts';

export type AuditOutcome = 'ok' | 'refused' | 'error';

export interface AuditEvent {
  /** Who: `user@host` of an operator, or `system` for the daemon's own decisions. */
  readonly actor: string;
  /** Dotted verb: ban.add, ban.remove, ban.flush, ban.auto, allow.add, allow.remove, auth.fail, ... */
  readonly action: string;
  readonly target?: string;
  readonly reason?: string;
  readonly outcome: AuditOutcome;
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

export interface AuditLogOptions {
  /** File to append to; absent: events are only logged. */
  readonly path?: string;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Rotation threshold; default 50 MiB. */
  readonly maxBytes?: number;
}

export interface AuditStats {
  recorded: number;
  written: number;
  /** Lines dropped because the write queue was full (the disk is slower than the event rate). */
  dropped: number;
  ioErrors: number;
  rotations: number;
}

export interface AuditLog {
  record(e: AuditEvent): void;
  /** Resolves when every line queued so far has been written (or has failed). */
  flush(): Promise<void>;
  stats(): AuditStats;
  /** Flushes, then closes the file; later records are only logged. */
  close(): Promise<void>;
}

export const AUDIT_DEFAULT_MAX_BYTES = 50 * 1024 * 1024;
/** Queue bound between record() and the writer. */
export const AUDIT_MAX_QUEUE_BYTES = 1024 * 1024;
const MAX_ACTOR_CHARS = 64;
const MAX_ACTION_CHARS = 64;
const MAX_TARGET_CHARS = 128;
const MAX_REASON_CHARS = 256;
const MAX_DETAIL_KEYS = 16;
const MAX_DETAIL_KEY_CHARS = 32;
const MAX_DETAIL_VALUE_CHARS = 256;
const ERROR_LOG_INTERVAL_MS = 10_000;
/** Detail keys that could carry credentials: dropped, whatever their value. */
const SECRET_KEY = /pass|secret|token|ha1|key|auth|nonce|cookie|credential|cnonce|response/i;
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Bounded, printable text: control characters (log and terminal injection) become '?'. */
export function cleanAuditText(s: string, max: number): string {
  const t = s.length > max ? s.slice(0, max) : s;
  return t.replace(CONTROL, '?');
}

/** The JSON object written for one event (exported for tests and for syslog/CEF exporters). */
export function auditRecord(e: AuditEvent, wallMs: number): Record<string, unknown> {
  const rec: Record<string, unknown> = {
    time: new Date(wallMs).toISOString(),
    type: 'audit',
    actor: cleanAuditText(e.actor, MAX_ACTOR_CHARS) || 'unknown',
    action: cleanAuditText(e.action, MAX_ACTION_CHARS),
  };
  if (e.target !== undefined) rec.target = cleanAuditText(e.target, MAX_TARGET_CHARS);
  if (e.reason !== undefined) rec.reason = cleanAuditText(e.reason, MAX_REASON_CHARS);
  rec.outcome = e.outcome;
  if (e.details !== undefined) {
    const d: Record<string, string | number | boolean> = {};
    let n = 0;
    for (const [k, v] of Object.entries(e.details)) {
      if (n >= MAX_DETAIL_KEYS) break;
      if (SECRET_KEY.test(k)) continue;
      const key = cleanAuditText(k, MAX_DETAIL_KEY_CHARS);
      if (typeof v === 'string') d[key] = cleanAuditText(v, MAX_DETAIL_VALUE_CHARS);
      else if (typeof v === 'number') d[key] = Number.isFinite(v) ? v : String(v);
      else if (typeof v === 'boolean') d[key] = v;
      else continue;
      n++;
    }
    if (n > 0) rec.details = d;
  }
  return rec;
}

export function createAuditLog(opts: AuditLogOptions): AuditLog {
  const { path, logger, clock } = opts;
  const maxBytes = opts.maxBytes ?? AUDIT_DEFAULT_MAX_BYTES;
  const st: AuditStats = { recorded: 0, written: 0, dropped: 0, ioErrors: 0, rotations: 0 };
  const queue: string[] = [];
  let queuedBytes = 0;
  let fh: FileHandle | undefined;
  let size = 0;
  let closed = false;
  let draining: Promise<void> | undefined;
  let lastErrorLogAt = Number.NEGATIVE_INFINITY;
  let unloggedErrors = 0;

  function ioError(op: string, e: unknown): void {
    st.ioErrors++;
    unloggedErrors++;
    const now = clock.now();
    if (now - lastErrorLogAt < ERROR_LOG_INTERVAL_MS) return;
    lastErrorLogAt = now;
    const code = (e as NodeJS.ErrnoException | undefined)?.code ?? (e instanceof Error ? e.message : 'error');
    logger.warn({ path, op, code, errors: unloggedErrors, totalErrors: st.ioErrors }, 'audit log write failed');
    unloggedErrors = 0;
  }

  async function ensureOpen(p: string): Promise<FileHandle> {
    if (fh !== undefined) return fh;
    const h = await open(p, 'a', 0o600);
    try {
      // The mode above applies only on creation: tighten a file someone created wider.
      await h.chmod(0o600);
      size = (await h.stat()).size;
    } catch (e) {
      await h.close().catch(() => undefined);
      throw e;
    }
    fh = h;
    return h;
  }

  async function closeFile(): Promise<void> {
    const h = fh;
    fh = undefined;
    if (h !== undefined) await h.close().catch((e: unknown) => ioError('close', e));
  }

  async function writeBatch(p: string, lines: string[]): Promise<void> {
    const chunk = Buffer.from(lines.join(''), 'utf8');
    try {
      await ensureOpen(p);
      if (size > 0 && size + chunk.length > maxBytes) {
        await closeFile();
        await rename(p, `${p}.1`);
        st.rotations++;
        await ensureOpen(p);
      }
      const h = fh as FileHandle;
      let off = 0;
      while (off < chunk.length) {
        const { bytesWritten } = await h.write(chunk, off, chunk.length - off);
        if (bytesWritten <= 0) throw new Error('short write');
        off += bytesWritten;
      }
      size += chunk.length;
      st.written += lines.length;
    } catch (e) {
      ioError('write', e);
      // Reopen on the next batch: the file may have been removed or the disk remounted.
      await closeFile();
    }
  }

  async function drain(p: string): Promise<void> {
    while (queue.length > 0) {
      const lines = queue.splice(0, queue.length);
      queuedBytes = 0;
      await writeBatch(p, lines);
    }
  }

  function kick(): Promise<void> {
    if (path === undefined) return Promise.resolve();
    draining ??= drain(path).finally(() => {
      draining = undefined;
    });
    return draining;
  }

  async function flush(): Promise<void> {
    while (draining !== undefined || queue.length > 0) await kick();
  }

  return {
    record(e: AuditEvent): void {
      try {
        st.recorded++;
        const rec = auditRecord(e, clock.wallNow());
        // The logger stamps its own time: leave ours out of its fields so no line carries two `time` keys.
        const { time: _time, ...fields } = rec;
        logger.info(fields, 'audit');
        if (path === undefined || closed) return;
        const line = `${JSON.stringify(rec)}\n`;
        if (queuedBytes + line.length > AUDIT_MAX_QUEUE_BYTES) {
          st.dropped++;
          return;
        }
        queue.push(line);
        queuedBytes += line.length;
        void kick();
      } catch (err) {
        // A throwing logger or a hostile getter must not reach the caller.
        ioError('record', err);
      }
    },
    flush,
    stats: () => ({ ...st }),
    async close(): Promise<void> {
      await flush();
      if (closed) return;
      closed = true;
      await closeFile();
    },
  };
}

/**
 * BanManager `onBan` / `onUnban` listeners that audit what the daemon decides on its own: automatic bans
 * (`ban.auto`), expiries (`ban.expire`) and bans pushed out of a full table (`ban.evict`, worth an alert).
 * Manual bans, unbans and flushes are audited by the admin routes, with the operator as actor.
 */
export function banAuditHooks(audit: { record(e: AuditEvent): void }): {
  onBan(b: BanInfo): void;
  onUnban(b: BanInfo, why: UnbanReason): void;
} {
  return {
    onBan(b: BanInfo): void {
      if (b.source !== 'auto') return;
      const details: Record<string, number> = { count: b.count, repeat: b.repeat };
      if (b.expiresAt !== null) details.forMs = b.expiresAt - b.bannedAt;
      audit.record({ actor: 'system', action: 'ban.auto', target: b.target, reason: b.reason, outcome: 'ok', details });
    },
    onUnban(b: BanInfo, why: UnbanReason): void {
      if (why !== 'expired' && why !== 'evicted') return;
      audit.record({
        actor: 'system',
        action: why === 'expired' ? 'ban.expire' : 'ban.evict',
        target: b.target,
        reason: b.reason,
        outcome: 'ok',
        details: { source: b.source },
      });
    },
  };
}
