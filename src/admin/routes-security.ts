/**
 * Admin API routes for operator control of bans and the allow list. Every change is audited with the actor
 * named by the `x-palisade-actor` request header (informational: on the unix socket, file permissions are
 * the authentication).
 *
 *   GET    /v1/bans               → 200 { bans: BanInfo[], total }
 *   POST   /v1/bans               { target, for?, reason? } → 201 { ban } | 400 BAN_* | 400 ADMIN_BAD_REQUEST
 *   POST   /v1/bans/flush         → 200 { removed }
 *   DELETE /v1/bans/:target       (a CIDR's '/' sent as %2F) → 200 { removed: true } | 404 BAN_NOT_FOUND
 *   GET    /v1/allow              → 200 { entries: AllowEntry[] }
 *   POST   /v1/allow              { cidr } → 201 { entry, unbanned } | 200 (already there) | 400 ALLOW_*
 *   DELETE /v1/allow/:cidr        → 200 { removed: true } | 404 ALLOW_NOT_FOUND | 409 ALLOW_POLICY_ENTRY
 *
 * Error bodies keep the server's shape `{ error: { code, message } }`; codes are the BanError / AllowList
 * codes plus the few below, so clients can switch on them.
 */
import { z } from 'zod';
import { parseDuration } from '../config/schema.ts';
import type { AuditEvent } from '../observability/audit.ts';
import type { AllowEntry, AllowList } from '../security/allow-list.ts';
import { type BanErrorCode, type BanInfo, type BanManager, parseTarget } from '../security/bans.ts';
import { AdminHttpError, type AdminRequest, type AdminRoute, reply } from './router.ts';

export interface SecurityControl {
  readonly bans: BanManager;
  readonly allow: AllowList;
  readonly audit: { record(e: AuditEvent): void };
  /** Wall-clock ms (allow-list entries record when they were added). */
  now(): number;
}

export type SecurityErrorCode = BanErrorCode | 'BAN_NOT_FOUND' | 'ALLOW_BAD_CIDR' | 'ALLOW_FULL' | 'ALLOW_NOT_FOUND' | 'ALLOW_POLICY_ENTRY';

export const ACTOR_HEADER = 'x-palisade-actor';
export const MAX_ACTOR_CHARS = 64;
/** parseTarget refuses longer text; the bound here keeps junk out of error messages and audit lines. */
export const MAX_TARGET_CHARS = 64;
export const MAX_BAN_REASON_CHARS = 200;
const MAX_DURATION_TEXT_CHARS = 16;
/** Longest timed ban: ten years (omit `for` to ban until unbanned). */
export const MAX_BAN_FOR_MS = 10 * 366 * 86_400_000;
const DEFAULT_LIST_LIMIT = 10_000;
const MAX_LIST_LIMIT = 100_000;
const MANUAL_REASON = 'manual';

const banBody = z.strictObject({
  target: z.string().min(1).max(MAX_TARGET_CHARS),
  for: z.union([z.string().min(1).max(MAX_DURATION_TEXT_CHARS), z.number()]).optional(),
  reason: z.string().max(MAX_BAN_REASON_CHARS).optional(),
});
const allowBody = z.strictObject({ cidr: z.string().min(1).max(MAX_TARGET_CHARS) });
const emptyBody = z.union([z.undefined(), z.null(), z.strictObject({})]);

/** Request as the server may pass it: headers are optional so these routes also run on a server without them. */
type RequestWithHeaders = AdminRequest & { readonly headers?: Readonly<Record<string, string | string[] | undefined>> };

// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** `user@host` from the header: only [A-Za-z0-9._@+:-] kept (others become '_'), at most 64 chars, else 'unknown'. */
export function sanitizeActor(raw: string | readonly string[] | undefined): string {
  const v = typeof raw === 'string' ? raw : raw?.[0];
  if (v === undefined) return 'unknown';
  const s = v
    .trim()
    .slice(0, MAX_ACTOR_CHARS)
    .replace(/[^A-Za-z0-9._@+:-]/g, '_');
  return s === '' ? 'unknown' : s;
}

function actorOf(req: AdminRequest): string {
  return sanitizeActor((req as RequestWithHeaders).headers?.[ACTOR_HEADER]);
}

function cleanText(s: string, max: number): string {
  return s.slice(0, max).replace(CONTROL, ' ').trim();
}

function fail(status: number, code: SecurityErrorCode, message: string): ReturnType<typeof reply> {
  return reply(status, { error: { code, message } });
}

/** zod issue → 400 ADMIN_BAD_REQUEST naming the field. */
function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue === undefined || issue.path.length === 0 ? 'body' : issue.path.map(String).join('.');
  throw new AdminHttpError(400, 'ADMIN_BAD_REQUEST', `${where}: ${issue?.message ?? 'invalid'}`);
}

/** Duration as the API takes it: seconds (number) or text like '10m'; NaN when invalid or out of range. */
export function parseBanDuration(v: string | number): number {
  const ms = parseDuration(v);
  return Number.isFinite(ms) && ms > 0 && ms <= MAX_BAN_FOR_MS ? ms : Number.NaN;
}

const BAN_MESSAGES: Record<BanErrorCode, string> = {
  BAN_BAD_TARGET: 'target is not an IP address or CIDR range',
  BAN_BAD_DURATION: "duration must be a positive number of seconds or text like '10m', '2h', '7d' (at most 10 years)",
  BAN_ALLOWLISTED: 'target is on the allow list and cannot be banned',
  BAN_TOO_MANY_RANGES: 'too many range bans; remove one first',
};

/** Canonical text of an address or range (`10.0.0.5/8` → `10.0.0.0/8`), or undefined. */
function canonical(text: string): string | undefined {
  if (text.length > MAX_TARGET_CHARS) return undefined;
  const t = parseTarget(text);
  if (t === undefined) return undefined;
  return t.kind === 'cidr' ? t.text : t.key;
}

export function createSecurityRoutes(ctrl: SecurityControl): AdminRoute[] {
  const { bans, allow, audit } = ctrl;

  const listBans = (req: AdminRequest): unknown => {
    const limitText = req.query.get('limit');
    let limit = DEFAULT_LIST_LIMIT;
    if (limitText !== null) {
      if (!/^[1-9][0-9]{0,5}$/.test(limitText) || Number(limitText) > MAX_LIST_LIMIT)
        throw new AdminHttpError(400, 'ADMIN_BAD_REQUEST', `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
      limit = Number(limitText);
    }
    const all: BanInfo[] = bans.list();
    all.sort((a, b) => b.bannedAt - a.bannedAt);
    return { bans: all.slice(0, limit), total: all.length };
  };

  const addBan = (req: AdminRequest): unknown => {
    const actor = actorOf(req);
    const body = parseBody(banBody, req.body);
    const reason = cleanText(body.reason ?? '', MAX_BAN_REASON_CHARS) || MANUAL_REASON;
    const target = cleanText(body.target, MAX_TARGET_CHARS);
    let forMs: number | undefined;
    if (body.for !== undefined) {
      forMs = parseBanDuration(body.for);
      if (Number.isNaN(forMs)) {
        audit.record({ actor, action: 'ban.add', target, reason, outcome: 'refused', details: { code: 'BAN_BAD_DURATION' } });
        return fail(400, 'BAN_BAD_DURATION', BAN_MESSAGES.BAN_BAD_DURATION);
      }
    }
    const r = bans.ban(target, forMs === undefined ? { reason } : { forMs, reason });
    if (!r.ok) {
      audit.record({ actor, action: 'ban.add', target, reason, outcome: 'refused', details: { code: r.error.code } });
      return fail(400, r.error.code, BAN_MESSAGES[r.error.code]);
    }
    const details: Record<string, string | number | boolean> = { kind: r.value.kind };
    if (forMs !== undefined) details.forMs = forMs;
    audit.record({ actor, action: 'ban.add', target: r.value.target, reason, outcome: 'ok', details });
    return reply(201, { ban: r.value });
  };

  const removeBan = (req: AdminRequest): unknown => {
    const actor = actorOf(req);
    const raw = cleanText(req.params.target ?? '', MAX_TARGET_CHARS + 1);
    const target = canonical(raw);
    if (target === undefined) {
      audit.record({ actor, action: 'ban.remove', target: raw, outcome: 'refused', details: { code: 'BAN_BAD_TARGET' } });
      return fail(400, 'BAN_BAD_TARGET', BAN_MESSAGES.BAN_BAD_TARGET);
    }
    if (!bans.unban(target)) {
      audit.record({ actor, action: 'ban.remove', target, outcome: 'refused', details: { code: 'BAN_NOT_FOUND' } });
      return fail(404, 'BAN_NOT_FOUND', `${target} is not banned`);
    }
    audit.record({ actor, action: 'ban.remove', target, outcome: 'ok' });
    return { removed: true, target };
  };

  const flushBans = (req: AdminRequest): unknown => {
    const actor = actorOf(req);
    parseBody(emptyBody, req.body);
    const removed = bans.flush();
    audit.record({ actor, action: 'ban.flush', outcome: 'ok', details: { removed } });
    return { removed };
  };

  const listAllow = (): unknown => ({ entries: allow.list() satisfies AllowEntry[] });

  const addAllow = (req: AdminRequest): unknown => {
    const actor = actorOf(req);
    const body = parseBody(allowBody, req.body);
    const raw = cleanText(body.cidr, MAX_TARGET_CHARS);
    const cidr = canonical(raw);
    if (cidr === undefined) {
      audit.record({ actor, action: 'allow.add', target: raw, outcome: 'refused', details: { code: 'ALLOW_BAD_CIDR' } });
      return fail(400, 'ALLOW_BAD_CIDR', 'cidr is not an IP address or CIDR range');
    }
    const existed = allow.list().some((e) => e.origin === 'runtime' && canonical(e.cidr) === cidr);
    let r: ReturnType<AllowList['add']>;
    try {
      r = allow.add(cidr, actor, ctrl.now());
    } catch (e) {
      // The entry is live in memory but allow.json could not be written: say so rather than pretend.
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      audit.record({ actor, action: 'allow.add', target: cidr, outcome: 'error', details: { code } });
      throw new AdminHttpError(500, 'INTERNAL', `allow list not persisted (${code}); the entry is active until restart`);
    }
    if (!r.ok) {
      audit.record({ actor, action: 'allow.add', target: cidr, outcome: 'refused', details: { code: r.error.code } });
      return fail(
        400,
        r.error.code,
        r.error.code === 'ALLOW_FULL' ? 'runtime allow list is full' : 'cidr is not an IP address or CIDR range',
      );
    }
    if (existed) {
      audit.record({ actor, action: 'allow.add', target: cidr, outcome: 'ok', details: { existed: true } });
      return reply(200, { entry: r.value, unbanned: [] });
    }
    // Single-address bans now covered by the allow list would otherwise outlive it (the gate checks bans first).
    const unbanned: string[] = [];
    for (const b of bans.list()) {
      if (b.kind === 'address' && allow.has(b.target) && bans.unban(b.target)) unbanned.push(b.target);
    }
    audit.record({ actor, action: 'allow.add', target: cidr, outcome: 'ok', details: { unbanned: unbanned.length } });
    for (const t of unbanned) audit.record({ actor, action: 'ban.remove', target: t, reason: `allow-listed ${cidr}`, outcome: 'ok' });
    return reply(201, { entry: r.value, unbanned });
  };

  const removeAllow = (req: AdminRequest): unknown => {
    const actor = actorOf(req);
    const raw = cleanText(req.params.cidr ?? '', MAX_TARGET_CHARS + 1);
    const cidr = canonical(raw);
    if (cidr === undefined) {
      audit.record({ actor, action: 'allow.remove', target: raw, outcome: 'refused', details: { code: 'ALLOW_BAD_CIDR' } });
      return fail(400, 'ALLOW_BAD_CIDR', 'cidr is not an IP address or CIDR range');
    }
    const entries = allow.list();
    // Entries loaded from allow.json may be in a non-canonical spelling: remove by the stored text.
    const stored = entries.find((e) => e.origin === 'runtime' && canonical(e.cidr) === cidr);
    if (stored !== undefined) {
      let removed: boolean;
      try {
        removed = allow.remove(stored.cidr);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? 'error';
        audit.record({ actor, action: 'allow.remove', target: cidr, outcome: 'error', details: { code } });
        throw new AdminHttpError(500, 'INTERNAL', `allow list not persisted (${code}); the removal holds until restart`);
      }
      if (removed) {
        audit.record({ actor, action: 'allow.remove', target: cidr, outcome: 'ok' });
        return { removed: true, cidr };
      }
    }
    if (entries.some((e) => e.origin === 'policy' && canonical(e.cidr) === cidr)) {
      audit.record({ actor, action: 'allow.remove', target: cidr, outcome: 'refused', details: { code: 'ALLOW_POLICY_ENTRY' } });
      return fail(409, 'ALLOW_POLICY_ENTRY', `${cidr} comes from the policy file (security.bans.allow): edit the policy and reload`);
    }
    audit.record({ actor, action: 'allow.remove', target: cidr, outcome: 'refused', details: { code: 'ALLOW_NOT_FOUND' } });
    return fail(404, 'ALLOW_NOT_FOUND', `${cidr} is not on the runtime allow list`);
  };

  // /v1/bans/flush before /v1/bans/:target: the router takes the first row whose pattern and method match.
  return [
    { method: 'GET', path: '/v1/bans', handler: listBans },
    { method: 'POST', path: '/v1/bans', handler: addBan },
    { method: 'POST', path: '/v1/bans/flush', handler: flushBans },
    { method: 'DELETE', path: '/v1/bans/:target', handler: removeBan },
    { method: 'GET', path: '/v1/allow', handler: listAllow },
    { method: 'POST', path: '/v1/allow', handler: addAllow },
    { method: 'DELETE', path: '/v1/allow/:cidr', handler: removeAllow },
  ];
}
