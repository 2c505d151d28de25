/**
 * The authentication stage (RFC 3261 §22, RFC 7616, RFC 8760). Public-side, out-of-dialog requests must carry
 * digest credentials for our realm: REGISTER is challenged with 401/WWW-Authenticate, everything else with
 * 407/Proxy-Authenticate. In-dialog requests are bound to the dialog that authenticated (the proxy answers 481
 * to a request for a dialog it does not know); ACK and CANCEL ride on their INVITE's transaction.
 *
 * Anti-enumeration: the challenge never depends on the user; unknown users, wrong passwords, disabled accounts,
 * refused algorithms and replays all get a fresh challenge (verify.ts does the same work for each).
 */
import { CONTINUE, type Stage, type StageContext, type Verdict } from '../pipeline/stage.ts';
import type { OffenceKind } from '../security/offences.ts';
import type { SipMessage } from '../sip/types.ts';
import type { Credential } from './credentials.ts';
import { buildChallenges, type DigestAlgorithm, parseAlgorithm } from './digest.ts';
import type { DigestCredentials } from './digest-header.ts';
import { createNonce, type NonceCountTracker, verifyNonce } from './nonce.ts';
import { type AuthFailReason, replyFor, selectCredentials, verifyAuthorization } from './verify.ts';

export interface CredentialLookup {
  lookupSync(user: string, realm: string): Credential | undefined;
  /**
   * A source that must wait (the HTTP backend). When present it is used instead of lookupSync. A rejection means
   * "could not tell" — never "unknown user": the request gets 503 with Retry-After and no offence is counted,
   * so a backend outage cannot ban legitimate phones. A rejection carrying a numeric `retryAfterMs` sets Retry-After.
   */
  lookupAsync?: (user: string, realm: string, algorithm: DigestAlgorithm) => Promise<Credential | undefined>;
}

/** Retry-After (seconds) when the credential source could not answer and gave no hint. */
export const UNAVAILABLE_RETRY_AFTER_S = 5;

function retryAfterSeconds(e: unknown): number {
  const ms = typeof e === 'object' && e !== null && 'retryAfterMs' in e ? e.retryAfterMs : undefined;
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? Math.min(3600, Math.ceil(ms / 1000)) : UNAVAILABLE_RETRY_AFTER_S;
}

export interface AuthCounters {
  challenges: number;
  successes: number;
  trusted: number;
  /** Requests answered 503 because the credential source could not tell (backend down, breaker open). */
  unavailable: number;
  failures: Record<AuthFailReason | 'identity_mismatch', number>;
}

export function createAuthCounters(): AuthCounters {
  return {
    challenges: 0,
    successes: 0,
    trusted: 0,
    unavailable: 0,
    failures: {
      unknown_user: 0,
      bad_password: 0,
      disabled: 0,
      algorithm_not_allowed: 0,
      replay: 0,
      bad_realm: 0,
      malformed: 0,
      bad_uri: 0,
      identity_mismatch: 0,
    },
  };
}

export interface AuthStageOptions {
  readonly realm: string;
  /** Nonce secrets, current first. */
  readonly secrets: readonly Uint8Array[];
  readonly nonceTtlMs: number;
  readonly nonceCounts: NonceCountTracker;
  /** The current credential source (swapped on reload). */
  readonly credentials: () => CredentialLookup;
  /** Whether MD5 is accepted for this user (global flag, group or per-user). */
  readonly md5AllowedFor: (c: Credential | undefined) => boolean;
  /** Whether challenges offer MD5 at all (some user or group may use it). Never depends on the user asked for. */
  readonly offerMd5: () => boolean;
  /** Sources whose challenges list MD5 first (auth.md5FirstFor). */
  readonly md5First?: (address: string) => boolean;
  /** Name of the trusted peer a request comes from, if any. */
  readonly trustedPeer: (ctx: StageContext) => string | undefined;
  readonly isForUs: (msg: SipMessage) => boolean;
  readonly wallNow: () => number;
  readonly offence: (address: string, kind: OffenceKind, user?: string) => void;
  readonly counters: AuthCounters;
}

const OFFENCE_FOR: Record<AuthFailReason, OffenceKind> = {
  unknown_user: 'unknown_user',
  bad_password: 'auth_failure',
  disabled: 'auth_failure',
  algorithm_not_allowed: 'auth_failure',
  replay: 'replayed_nonce',
  bad_realm: 'auth_failure',
  malformed: 'malformed',
  bad_uri: 'malformed',
};

export function createAuthStage(o: AuthStageOptions): Stage {
  const challenge = (ctx: StageContext, proxy: boolean, stale: boolean): Verdict => {
    o.counters.challenges++;
    const nonce = createNonce({ secret: o.secrets[0] as Uint8Array, realm: o.realm, source: ctx.source.address, nowMs: o.wallNow() });
    const name = proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate';
    const values = buildChallenges({ realm: o.realm, nonce, stale, allowMd5: o.offerMd5() });
    // Legacy phones that read only the first challenge: MD5 leads for their source ranges.
    if (o.md5First?.(ctx.source.address) === true) {
      const i = values.findIndex((v) => /algorithm=MD5(?![-\w])/i.test(v));
      if (i > 0) values.unshift(...values.splice(i, 1));
    }
    return { kind: 'challenge', proxy, headers: values.map((v) => [name, v] as const) };
  };

  return {
    name: 'auth',
    run(ctx: StageContext): Verdict | Promise<Verdict> {
      if (ctx.side !== 'public') return CONTINUE;
      const msg = ctx.msg;
      const method = msg.method ?? '';
      if (method === 'ACK' || method === 'CANCEL') return CONTINUE;
      const to = msg.to();
      // In-dialog requests ride on the dialog that authenticated (the proxy answers 481 to any other); a REGISTER
      // is never in a dialog, so a To tag does not exempt it.
      if (to.ok && to.value.tag !== undefined && method !== 'REGISTER') return CONTINUE;
      const peer = o.trustedPeer(ctx);
      if (peer !== undefined) {
        ctx.facts.trustedPeer = peer;
        o.counters.trusted++;
        return CONTINUE;
      }
      if (method === 'OPTIONS' && o.isForUs(msg)) return CONTINUE;
      const proxy = method !== 'REGISTER';
      const lname = proxy ? 'proxy-authorization' : 'authorization';
      // Digest parameters are comma-separated, so the raw field values are used, never a list split.
      const values: string[] = [];
      for (const f of msg.headers()) if (f.lname === lname) values.push(f.value);
      if (values.length === 0) return challenge(ctx, proxy, false);
      const selected: string | DigestCredentials | undefined = selectCredentials(values, o.realm);
      if (selected === undefined) return challenge(ctx, proxy, false);
      const username = typeof selected === 'string' ? undefined : selected.username;
      const source = o.credentials();
      if (source.lookupAsync !== undefined && typeof selected !== 'string') {
        const algorithm = parseAlgorithm(selected.algorithm);
        // Only answers to a nonce we issued to this source are worth a backend request (a forged or foreign
        // nonce is challenged by verify.ts before the credential is used). Both checks are user-independent.
        const nonceOk =
          verifyNonce(selected.nonce, {
            secrets: o.secrets,
            realm: o.realm,
            source: ctx.source.address,
            nowMs: o.wallNow(),
            ttlMs: o.nonceTtlMs,
          }) !== 'invalid';
        if (algorithm !== undefined && nonceOk) {
          return source.lookupAsync(selected.username, o.realm, algorithm).then(
            (credential) => decide(ctx, proxy, selected, selected.username, credential),
            (e: unknown): Verdict => {
              o.counters.unavailable++;
              // RFC 3261 §21.5.4: 503 with Retry-After; a client may also try another server (RFC 3263 §4.3).
              return {
                kind: 'reply',
                status: 503,
                reason: 'Service Unavailable',
                headers: [['Retry-After', String(retryAfterSeconds(e))]],
              };
            },
          );
        }
        return decide(ctx, proxy, selected, username, undefined);
      }
      const credential = username !== undefined ? source.lookupSync(username, o.realm) : undefined;
      return decide(ctx, proxy, selected, username, credential);
    },
  };

  function decide(
    ctx: StageContext,
    proxy: boolean,
    selected: string | DigestCredentials,
    username: string | undefined,
    credential: Credential | undefined,
  ): Verdict {
    const msg = ctx.msg;
    const method = msg.method ?? '';
    const verdict = verifyAuthorization({
      method,
      requestUri: msg.requestUri ?? '',
      body: msg.body,
      header: selected,
      credential,
      realm: o.realm,
      now: o.wallNow(),
      source: ctx.source.address,
      allowMd5: o.md5AllowedFor(credential),
      secrets: o.secrets,
      nonceCounts: o.nonceCounts,
      nonceTtlMs: o.nonceTtlMs,
    });
    if (verdict.kind === 'ok') {
      // Identity binding: the From user must be the authenticated user or one of its aliases; for REGISTER the
      // address of record (To) too, or one user could bind its phone to another user's AOR (third-party
      // registration is an administrative act, not something a phone does).
      const from = msg.from();
      const fromUser = from.ok ? from.value.uri.user : undefined;
      const mine = (u: string | undefined): boolean => u === verdict.user || (u !== undefined && verdict.credential.aliases.includes(u));
      const aor = msg.to();
      const toUser = msg.method === 'REGISTER' ? (aor.ok ? aor.value.uri.user : undefined) : fromUser;
      if (!mine(fromUser) || !mine(toUser)) {
        o.counters.failures.identity_mismatch++;
        o.offence(ctx.source.address, 'policy_violation', verdict.user);
        return { kind: 'reply', status: 403, reason: 'Forbidden' };
      }
      o.counters.successes++;
      ctx.facts.user = verdict.user;
      ctx.facts.groups = verdict.credential.groups;
      return CONTINUE;
    }
    if (verdict.kind === 'fail') {
      o.counters.failures[verdict.reason]++;
      o.offence(ctx.source.address, OFFENCE_FOR[verdict.reason], username);
    }
    const reply = replyFor(verdict);
    switch (reply.kind) {
      case 'accept':
        return CONTINUE;
      case 'challenge':
        return challenge(ctx, proxy, reply.stale);
      case 'reject':
        return { kind: 'reply', status: reply.status, reason: 'Bad Request' };
    }
  }
}
