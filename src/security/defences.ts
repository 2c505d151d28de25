/**
 * Builds the attack defences from the policy: bans (persisted), the live allow list, flood limiter, gate,
 * scanner stage and digest-authentication stage, with their counters. A factory, not a place for decisions:
 * each piece decides on its own; this module only connects their events (a flood is an offence, a ban closes
 * the source's connections and is written to disk).
 */
import { createHmac } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { type Credential, loadUsersFileSource, StaticCredentialSource } from '../auth/credentials.ts';
import { createHttpSourceCounters, HttpCredentialSource, type HttpSourceCounters } from '../auth/http-source.ts';
import { NonceCountTracker } from '../auth/nonce.ts';
import { type CredentialLookup, createAuthCounters, createAuthStage } from '../auth/stage.ts';
import { formatIssue, resolveSecret } from '../config/load.ts';
import type { Policy } from '../config/schema.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import { PalisadeError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Stage, StageContext } from '../pipeline/stage.ts';
import type { SipMessage } from '../sip/types.ts';
import { AllowList } from './allow-list.ts';
import { type BanStore, createBanStore } from './ban-store.ts';
import { type BanInfo, type BanManager, createBanManager, type UnbanReason } from './bans.ts';
import { CidrSet, sourceKey } from './cidr.ts';
import { Gate } from './gate.ts';
import type { OffenceKind } from './offences.ts';
import { createFloodLimiter, type FloodLimiter } from './rate-limit.ts';
import { createScannerCounters, createScannerStage } from './scanner-stage.ts';

export interface DefenceEvents {
  /** A ban was added (auto or manual): close the source's stream connections. */
  onBan(ban: BanInfo): void;
  onUnban(ban: BanInfo, why: UnbanReason): void;
}

export interface DefencesDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly dataDir: string;
  /** Node secret (nonce keys are derived from it). */
  readonly secret: Buffer;
  readonly isForUs: (msg: SipMessage) => boolean;
  readonly ourHosts: () => ReadonlySet<string>;
  readonly events: DefenceEvents;
}

export interface Defences {
  readonly gate: Gate;
  readonly bans: BanManager;
  readonly allow: AllowList;
  readonly store: BanStore;
  /** Stages in order: scanner, then (after the caller's sanity stage) auth. */
  readonly scannerStage: Stage;
  readonly authStage: Stage;
  readonly counters: {
    readonly auth: ReturnType<typeof createAuthCounters>;
    /** The HTTP credential backend (auth.http); stays at zero when it is not configured. Survives reloads. */
    readonly authBackend: HttpSourceCounters;
    readonly scanner: ReturnType<typeof createScannerCounters>;
    readonly offences: Record<OffenceKind, number>;
    readonly bansAdded: Record<string, number>;
    readonly bansLifted: Record<UnbanReason, number>;
  };
  limiter(): FloodLimiter | undefined;
  /** Whether a source is banned (its own address, or for IPv6 its /64). */
  isBanned(address: string): boolean;
  offence(address: string, kind: OffenceKind, user?: string): void;
  reconfigure(p: Policy): void;
  close(): Promise<void>;
}

export async function createDefences(policy: Policy, deps: DefencesDeps): Promise<Defences> {
  const { clock, logger: log } = deps;
  let p = policy;
  const allow = new AllowList(p.security.bans.allow, deps.dataDir);
  const allowIssue = allow.load(clock.wallNow());
  if (allowIssue) log.warn({}, allowIssue);

  const counters = {
    auth: createAuthCounters(),
    authBackend: createHttpSourceCounters(),
    scanner: createScannerCounters(),
    offences: { auth_failure: 0, unknown_user: 0, replayed_nonce: 0, malformed: 0, scanner: 0, flood: 0, policy_violation: 0 } as Record<
      OffenceKind,
      number
    >,
    bansAdded: {} as Record<string, number>,
    bansLifted: { expired: 0, manual: 0, flush: 0, evicted: 0 } as Record<UnbanReason, number>,
  };

  let store: BanStore | undefined;
  let limiter: FloodLimiter | undefined;
  const b = p.security.bans;
  const bans = createBanManager({
    clock,
    findTimeMs: b.findTime,
    maxRetry: b.maxRetry,
    ...(b.maxRetryPerUser !== undefined ? { maxRetryPerUser: b.maxRetryPerUser } : {}),
    banTimeMs: b.banTime,
    factor: b.factor,
    maxBanTimeMs: b.maxBanTime,
    allow,
    maxTracked: 100_000,
    onBan: (ban) => {
      const key = ban.source === 'manual' ? 'manual' : ban.reason;
      counters.bansAdded[key] = (counters.bansAdded[key] ?? 0) + 1;
      store?.schedule();
      if (ban.kind === 'address') limiter?.forget(ban.target);
      log.warn({ target: ban.target, reason: ban.reason, source: ban.source, expiresAt: ban.expiresAt }, 'banned');
      deps.events.onBan(ban);
    },
    onUnban: (ban, why) => {
      counters.bansLifted[why]++;
      store?.schedule();
      deps.events.onUnban(ban, why);
    },
  });
  store = createBanStore({
    dir: deps.dataDir,
    clock,
    snapshot: () => bans.list(),
    onIssue: (i) => log.error({ code: i.code, path: i.path }, i.detail),
  });
  const loaded = await store.load();
  for (const i of loaded.issues) log.error({ code: i.code, path: i.path, movedTo: i.movedTo }, i.detail);
  bans.restore(loaded.bans);
  if (loaded.bans.length > 0) log.info({ bans: loaded.bans.length, expired: loaded.expired }, 'bans restored');

  // Strikes and automatic bans count the source's accountable unit (an IPv6 /64, see sourceKey).
  const offence = (address: string, kind: OffenceKind, user?: string): void => {
    counters.offences[kind]++;
    // An allow-listed host is never banned, and its offences do not count against its /64 either.
    if (p.security.bans.enabled) bans.offence(allow.has(address) ? address : sourceKey(address), kind, user);
  };

  const buildLimiter = (q: Policy): FloodLimiter | undefined => {
    const f = q.security.flood;
    if (!f.enabled) return undefined;
    return createFloodLimiter({
      clock,
      rates: { REGISTER: f.register, INVITE: f.invite, OPTIONS: f.options, other: f.other },
      globalRatePerSec: f.global.ratePerSec,
      globalBurst: f.global.burst,
      maxSources: 100_000,
      floodRefusals: f.floodRefusals,
      floodWindowMs: f.floodWindow,
      onFlood: (address) => offence(address, 'flood'),
    });
  };
  limiter = buildLimiter(p);

  let access = { allow: new CidrSet(p.access.allow), deny: new CidrSet(p.access.deny) };
  /** A source's own address is banned, or (IPv6, not allow-listed) its /64 is. One lookup for IPv4. */
  const isBanned = (a: string): boolean => bans.isBanned(a) || (a.includes(':') && !allow.has(a) && bans.isBanned(sourceKey(a)));
  const gate = new Gate({
    isBanned,
    access: () => access,
    limiter: () => limiter,
  });

  const scannerStage = createScannerStage({
    ourHosts: deps.ourHosts,
    checkRequestUriHost: p.security.scanner.checkRequestUriHost,
    offence: (a, k) => offence(a, k),
    counters: counters.scanner,
  });
  const scannerEnabled = (): boolean => p.security.scanner.enabled;

  // Users: the users file, re-read when it changes (palisade user add/passwd/remove write it atomically).
  const usersPath = (): string => (isAbsolute(p.auth.usersFile) ? p.auth.usersFile : join(deps.dataDir, p.auth.usersFile));
  let users: StaticCredentialSource = new StaticCredentialSource([]);
  const loadUsers = (): void => {
    const r = loadUsersFileSource(usersPath());
    if (r.ok) {
      users = r.value;
      log.info({ users: users.size }, 'users loaded');
    } else {
      log.error({ errors: r.error.map((e) => e.message) }, 'users file refused; previous users kept');
    }
  };
  loadUsers();
  let usersWatcher: FSWatcher | undefined;
  let usersTimer: TimerHandle | undefined;
  const watchUsers = (): void => {
    usersWatcher?.close();
    try {
      const file = basename(usersPath());
      usersWatcher = watch(dirname(usersPath()), { persistent: false }, (_e, name) => {
        if (name !== null && name !== file) return;
        usersTimer?.cancel();
        usersTimer = clock.setTimer(200, loadUsers);
      });
      usersWatcher.on('error', () => {});
    } catch {
      usersWatcher = undefined; // no directory yet: SIGHUP re-reads
    }
  };
  watchUsers();

  const nonceSecret = createHmac('sha256', deps.secret).update('palisade nonce key v1').digest();
  const nonceCounts = new NonceCountTracker();
  let trustedSets = buildTrusted(p);
  let md5First = new CidrSet(p.auth.md5FirstFor);
  const md5AllowedFor = (c: Credential | undefined): boolean =>
    p.auth.allowMd5 || (c !== undefined && (c.allowMd5 || c.groups.some((g) => p.auth.md5Groups.includes(g))));
  const lookup: CredentialLookup = { lookupSync: (u, r) => users.lookupSync(u, r) };

  // auth.http: the HTTP backend replaces the users file for lookups. It is rebuilt only when its settings (or
  // the token) change, so a reload keeps its cache and breaker state.
  let http: { source: HttpCredentialSource; lookup: CredentialLookup; key: string } | undefined;
  const buildHttp = (q: Policy, starting: boolean): void => {
    const h = q.auth.http;
    if (h === undefined) {
      http?.source.close();
      http = undefined;
      return;
    }
    let token: string | undefined;
    if (h.token !== undefined) {
      const r = resolveSecret(h.token, deps.dataDir, { at: { path: 'auth.http.token' } });
      if (!r.ok) {
        // The issue names the file or variable, never the value.
        if (starting) throw new PalisadeError('CONFIG_INVALID', { path: 'auth.http.token' }, formatIssue(r.error));
        log.error({ path: 'auth.http.token', issue: r.error.message }, 'auth.http token unreadable; previous backend settings kept');
        return;
      }
      token = r.value;
    }
    const key = JSON.stringify([h.url, h.timeout, h.cacheFor, h.failuresToOpen, h.openFor, token ?? null]);
    if (http?.key === key) return;
    http?.source.close();
    const source = new HttpCredentialSource({
      url: h.url,
      timeoutMs: h.timeout,
      cacheForMs: h.cacheFor,
      failuresToOpen: h.failuresToOpen,
      openForMs: h.openFor,
      ...(token !== undefined ? { token } : {}),
      clock,
      counters: counters.authBackend,
    });
    http = { source, key, lookup: { lookupSync: () => undefined, lookupAsync: (u, r, a) => source.lookup(u, r, a) } };
    log.info({ url: `${new URL(h.url).origin}${new URL(h.url).pathname}` }, 'credentials from an HTTP backend');
  };
  buildHttp(p, true);

  // Challenges offer MD5 when anyone may use it; whether this user may is checked on the answer, so the
  // challenge itself never depends on the user (anti-enumeration). The HTTP backend cannot say in advance.
  const offerMd5 = (q: Policy): boolean => q.auth.allowMd5 || q.auth.md5Groups.length > 0 || (http === undefined && users.anyAllowMd5());
  const buildAuthStage = (q: Policy): Stage =>
    createAuthStage({
      realm: q.auth.realm,
      secrets: [nonceSecret],
      nonceTtlMs: q.auth.nonceLifetime,
      nonceCounts,
      credentials: () => http?.lookup ?? lookup,
      md5AllowedFor,
      offerMd5: () => offerMd5(p),
      md5First: (address) => md5First.has(address),
      trustedPeer: (ctx: StageContext) => {
        for (const t of trustedSets) {
          if (t.cidrs.has(ctx.source.address)) return t.name;
          const cn = ctx.source.tls?.authorized ? ctx.source.tls.peerCommonName : undefined;
          if (cn !== undefined && t.cns.includes(cn)) return t.name;
        }
        return undefined;
      },
      isForUs: deps.isForUs,
      wallNow: () => clock.wallNow(),
      offence,
      counters: counters.auth,
    });
  let authStageInner = buildAuthStage(p);
  const authStage: Stage = {
    name: 'auth',
    run: (ctx) => (p.auth.mode === 'palisade' ? authStageInner.run(ctx) : { kind: 'continue' }),
  };
  const guardedScanner: Stage = {
    name: 'scanner',
    run: (ctx) => (scannerEnabled() ? scannerStage.run(ctx) : { kind: 'continue' }),
  };

  return {
    gate,
    bans,
    allow,
    store,
    scannerStage: guardedScanner,
    authStage,
    counters,
    limiter: () => limiter,
    isBanned,
    offence,
    reconfigure(next: Policy) {
      const usersMoved = usersPath() !== (isAbsolute(next.auth.usersFile) ? next.auth.usersFile : join(deps.dataDir, next.auth.usersFile));
      p = next;
      allow.setPolicy(next.security.bans.allow);
      access = { allow: new CidrSet(next.access.allow), deny: new CidrSet(next.access.deny) };
      limiter = buildLimiter(next);
      trustedSets = buildTrusted(next);
      md5First = new CidrSet(next.auth.md5FirstFor);
      loadUsers();
      buildHttp(next, false);
      authStageInner = buildAuthStage(next);
      if (usersMoved) watchUsers();
    },
    async close() {
      usersWatcher?.close();
      usersTimer?.cancel();
      http?.source.close();
      bans.close();
      await store?.close();
    },
  };
}

function buildTrusted(p: Policy): Array<{ name: string; cidrs: CidrSet; cns: readonly string[] }> {
  return p.auth.trusted.map((t) => ({ name: t.name, cidrs: new CidrSet(t.cidrs), cns: t.tlsCommonNames }));
}
