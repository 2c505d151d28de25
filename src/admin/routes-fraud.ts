/**
 * Admin API routes for operator control of call authorization (toll fraud): who is blocked by an anomaly rule
 * (action block_user), lifting a block that was a false positive, and the fraud counters. Lifting a block is
 * audited like a ban change (`fraud.unblock`, actor from the `x-palisade-actor` header, which the HTTPS API
 * replaces with the bearer token's subject).
 *
 *   GET    /v1/fraud                  → 200 CallAuthorizationSummary                  (viewer)
 *   GET    /v1/fraud/blocks           → 200 { blocks: [{ subject, until (ISO) }], total } (viewer)
 *   DELETE /v1/fraud/blocks/:subject  → 200 { removed: true, subject } | 400 FRAUD_BAD_SUBJECT | 404 FRAUD_NOT_BLOCKED (operator)
 *
 * A subject is `user:NAME` or `trunk:NAME`; a bare NAME means `user:NAME` (the CLI checks with the same parser).
 * Error bodies keep the server's shape `{ error: { code, message } }`.
 */
import { isValidDigestName } from '../auth/credentials.ts';
import type { CallAuthorization } from '../daemon/fraud.ts';
import type { AuditEvent } from '../observability/audit.ts';
import { type AdminRequest, type AdminRoute, reply } from './router.ts';
import { ACTOR_HEADER, sanitizeActor } from './routes-security.ts';

export interface FraudControl {
  /** The daemon's call authorization (src/daemon/fraud.ts) or a test double. */
  readonly auth: Pick<CallAuthorization, 'blocks' | 'unblock' | 'summary'>;
  readonly audit: { record(e: AuditEvent): void };
}

export type FraudErrorCode = 'FRAUD_BAD_SUBJECT' | 'FRAUD_NOT_BLOCKED';

/** Trusted peer names as the policy allows them (security.trusted[].name). */
const TRUNK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** `trunk:` + 64 or `user:` + 128: anything longer is not a subject. */
export const MAX_SUBJECT_CHARS = 134;

/**
 * `user:alice` / `trunk:sbc1` / `alice` (→ `user:alice`) → the detector's subject key; undefined when not a valid
 * user name (digest rules: 1-128 characters, no space, colon, quote, backslash or control) or trunk name.
 */
export function parseFraudSubject(text: string): string | undefined {
  const t = text.trim();
  if (t.length === 0 || t.length > MAX_SUBJECT_CHARS) return undefined;
  const colon = t.indexOf(':');
  const kind = colon < 0 ? 'user' : t.slice(0, colon);
  const name = colon < 0 ? t : t.slice(colon + 1);
  if (kind === 'user') return isValidDigestName(name) ? `user:${name}` : undefined;
  if (kind === 'trunk') return TRUNK_NAME.test(name) ? `trunk:${name}` : undefined;
  return undefined;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** What an audit line may say about text that did not parse: bounded and printable. */
function printable(s: string): string {
  return s.slice(0, MAX_SUBJECT_CHARS + 1).replace(CONTROL, '?');
}

type RequestWithHeaders = AdminRequest & { readonly headers?: Readonly<Record<string, string | string[] | undefined>> };

function actorOf(req: AdminRequest): string {
  return sanitizeActor((req as RequestWithHeaders).headers?.[ACTOR_HEADER]);
}

function fail(status: number, code: FraudErrorCode, message: string): ReturnType<typeof reply> {
  return reply(status, { error: { code, message } });
}

function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isFinite(d.getTime()) ? d.toISOString() : new Date(8.64e15).toISOString();
}

export function createFraudRoutes(ctrl: FraudControl): AdminRoute[] {
  const { auth, audit } = ctrl;

  const summary = (): unknown => auth.summary();

  const listBlocks = (): unknown => {
    const blocks = auth.blocks().map((b) => ({ subject: b.subject, until: iso(b.until) }));
    return { blocks, total: blocks.length };
  };

  const unblock = (req: AdminRequest): unknown => {
    const actor = actorOf(req);
    const raw = req.params.subject ?? '';
    const subject = parseFraudSubject(raw);
    if (subject === undefined) {
      audit.record({ actor, action: 'fraud.unblock', target: printable(raw), outcome: 'refused', details: { code: 'FRAUD_BAD_SUBJECT' } });
      return fail(400, 'FRAUD_BAD_SUBJECT', 'subject must be user:NAME, trunk:NAME or a user name');
    }
    const until = auth.blocks().find((b) => b.subject === subject)?.until;
    if (!auth.unblock(subject)) {
      audit.record({ actor, action: 'fraud.unblock', target: subject, outcome: 'refused', details: { code: 'FRAUD_NOT_BLOCKED' } });
      return fail(404, 'FRAUD_NOT_BLOCKED', `${subject} is not blocked`);
    }
    audit.record({
      actor,
      action: 'fraud.unblock',
      target: subject,
      outcome: 'ok',
      ...(until !== undefined && { details: { until: iso(until) } }),
    });
    return { removed: true, subject };
  };

  return [
    { method: 'GET', path: '/v1/fraud', handler: summary, role: 'viewer' },
    { method: 'GET', path: '/v1/fraud/blocks', handler: listBlocks, role: 'viewer' },
    { method: 'DELETE', path: '/v1/fraud/blocks/:subject', handler: unblock, role: 'operator' },
  ];
}
