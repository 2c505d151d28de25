/**
 * Credentials from an HTTP backend, for deployments whose users live in an application database. The same
 * CredentialSource interface as the users file; the daemon still only ever sees HA1 values (RFC 7616 §5.2).
 *
 * Wire contract (one request per cache miss):
 *   POST <url>   Content-Type: application/json   Authorization: Bearer <token>   (token optional)
 *   {"username":"alice","realm":"palisade"}
 *   → 200 {"ha1":{"sha256"?:hex64,"sha512_256"?:hex64,"md5"?:hex32},"groups"?:[…],"aliases"?:[…],
 *          "disabled"?:bool,"allowMd5"?:bool}          found (strict: unknown keys are refused)
 *   → 404                                                no such user in that realm
 *   → anything else, a timeout, a body over 64 KiB, bad JSON or a body the schema refuses: a failure.
 *
 * A failure is never "unknown user": `lookup` rejects with a CredentialBackendError, and the auth stage answers
 * 503 with Retry-After and counts no offence, so a backend outage cannot ban legitimate phones.
 *
 * Cache: found and not-found answers are kept for `cacheForMs` (bounded; oldest evicted first). A cached answer
 * is faster than an uncached one; that difference reveals only whether someone asked for that name lately, and
 * both a found and a not-found user then take the same path through verify.ts (dummy HA1 for unknown users).
 * Concurrent lookups of one user share one request (single-flight); requests in flight are bounded.
 * Circuit breaker: `failuresToOpen` consecutive failures open it for `openForMs`; while open, cache misses fail
 * fast. After that one trial request goes through (half-open): success closes it, failure opens it again.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { z } from 'zod';
import { BoundedMap } from '../core/bounded-map.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import { type Credential, type CredentialSource, isValidDigestName } from './credentials.ts';
import type { DigestAlgorithm } from './digest.ts';

/** Largest response body read; beyond it the answer is a failure (a backend has no reason to send more). */
export const MAX_BACKEND_BODY_BYTES = 64 * 1024;
export const DEFAULT_MAX_CACHE_ENTRIES = 10_000;
export const DEFAULT_MAX_IN_FLIGHT = 64;
/** Retry-After suggested when a single lookup failed but the breaker is still closed. */
export const RETRY_AFTER_FAILURE_MS = 5_000;

export type CredentialBackendErrorCode =
  | 'AUTH_BACKEND_OPEN' // breaker open: failed fast, no request
  | 'AUTH_BACKEND_BUSY' // too many requests in flight: failed fast, no request
  | 'AUTH_BACKEND_TIMEOUT'
  | 'AUTH_BACKEND_STATUS' // neither 200 nor 404
  | 'AUTH_BACKEND_TOO_LARGE'
  | 'AUTH_BACKEND_BAD_BODY' // not JSON, or refused by the schema
  | 'AUTH_BACKEND_IO' // connection refused, reset, TLS error
  | 'AUTH_BACKEND_CLOSED';

/** The backend could not tell whether the user exists. Carries no user name and no token. */
export class CredentialBackendError extends Error {
  readonly code: CredentialBackendErrorCode;
  /** How long the caller should suggest waiting (Retry-After). */
  readonly retryAfterMs: number;

  constructor(code: CredentialBackendErrorCode, retryAfterMs: number) {
    super(code);
    this.name = 'CredentialBackendError';
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

export function isCredentialBackendError(e: unknown): e is CredentialBackendError {
  return e instanceof CredentialBackendError;
}

/** Plain numbers, read by the metrics collector. They survive a source being rebuilt when passed in. */
export interface HttpSourceCounters {
  /** HTTP requests sent. */
  requests: number;
  cacheHits: number;
  /** Requests that failed (status, timeout, size, body, I/O); each counts toward the breaker. */
  failures: number;
  breakerOpens: number;
  /** Lookups failed fast without a request (breaker open or too many in flight). */
  rejected: number;
  /** Cache entries evicted by the bound before they expired. */
  cacheEvictions: number;
}

export function createHttpSourceCounters(): HttpSourceCounters {
  return { requests: 0, cacheHits: 0, failures: 0, breakerOpens: 0, rejected: 0, cacheEvictions: 0 };
}

export interface HttpCredentialSourceOptions {
  /** http:// or https:// */
  readonly url: string;
  readonly timeoutMs: number;
  readonly cacheForMs: number;
  readonly failuresToOpen: number;
  readonly openForMs: number;
  /** Sent as `Authorization: Bearer …`; never logged, never in an error. */
  readonly token?: string;
  readonly clock: Clock;
  readonly maxCacheEntries?: number;
  readonly maxInFlight?: number;
  readonly counters?: HttpSourceCounters;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

const hex = (n: number) =>
  z
    .string()
    .regex(new RegExp(`^[0-9a-fA-F]{${n}}$`), `expected ${n} hex digits`)
    .transform((s) => s.toLowerCase());

const backendAnswerSchema = z.strictObject({
  ha1: z
    .strictObject({ sha256: hex(64).optional(), sha512_256: hex(64).optional(), md5: hex(32).optional() })
    .refine((h) => h.md5 !== undefined || h.sha256 !== undefined || h.sha512_256 !== undefined, 'at least one HA1 is required'),
  groups: z.array(z.string().min(1).max(64)).max(64).optional(),
  aliases: z.array(z.string().min(1).max(128)).max(64).optional(),
  disabled: z.boolean().optional(),
  allowMd5: z.boolean().optional(),
});

/** A 200 body → a frozen credential for (user, realm), or undefined when it is not a valid answer. Never throws. */
export function parseBackendAnswer(body: string, user: string, realm: string): Credential | undefined {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    return undefined;
  }
  const r = backendAnswerSchema.safeParse(data);
  if (!r.success) return undefined;
  const a = r.data;
  return Object.freeze({
    user,
    realm,
    ha1: Object.freeze({
      ...(a.ha1.md5 !== undefined ? { md5: a.ha1.md5 } : {}),
      ...(a.ha1.sha256 !== undefined ? { sha256: a.ha1.sha256 } : {}),
      ...(a.ha1.sha512_256 !== undefined ? { sha512_256: a.ha1.sha512_256 } : {}),
    }),
    groups: Object.freeze([...(a.groups ?? [])]),
    aliases: Object.freeze([...(a.aliases ?? [])]),
    disabled: a.disabled ?? false,
    allowMd5: a.allowMd5 ?? false,
  });
}

interface CacheEntry {
  readonly credential: Credential | undefined;
  readonly expiresAt: number;
}

export class HttpCredentialSource implements CredentialSource {
  readonly counters: HttpSourceCounters;
  private readonly o: HttpCredentialSourceOptions;
  private readonly url: URL;
  private readonly agent: HttpAgent;
  private readonly cache: BoundedMap<string, CacheEntry>;
  private readonly inFlight = new Map<string, Promise<Credential | undefined>>();
  private readonly maxInFlight: number;
  private consecutiveFailures = 0;
  private openUntil = 0;
  private state: BreakerState = 'closed';
  private trialRunning = false;
  private closed = false;

  constructor(o: HttpCredentialSourceOptions) {
    const url = new URL(o.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError('url must be http:// or https://');
    this.o = o;
    this.url = url;
    this.maxInFlight = o.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.counters = o.counters ?? createHttpSourceCounters();
    this.agent =
      url.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true, maxSockets: this.maxInFlight })
        : new HttpAgent({ keepAlive: true, maxSockets: this.maxInFlight });
    this.cache = new BoundedMap(o.maxCacheEntries ?? DEFAULT_MAX_CACHE_ENTRIES, () => {
      this.counters.cacheEvictions++;
    });
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  breakerState(): BreakerState {
    if (this.state === 'open' && this.o.clock.now() >= this.openUntil) return 'half-open';
    return this.state;
  }

  /** Resolves to the credential or undefined (404); rejects with CredentialBackendError when it cannot tell. */
  lookup(user: string, realm: string, _algorithm: DigestAlgorithm): Promise<Credential | undefined> {
    // A name the users file could not hold cannot exist in the backend either: no request for garbage.
    if (!isValidDigestName(user) || !isValidDigestName(realm)) return Promise.resolve(undefined);
    if (this.closed) return Promise.reject(new CredentialBackendError('AUTH_BACKEND_CLOSED', RETRY_AFTER_FAILURE_MS));
    const key = `${realm}\u0000${user}`;
    const now = this.o.clock.now();
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      if (hit.expiresAt > now) {
        this.counters.cacheHits++;
        return Promise.resolve(hit.credential);
      }
      this.cache.delete(key);
    }
    const joined = this.inFlight.get(key);
    if (joined !== undefined) return joined;

    let trial = false;
    if (this.state === 'open') {
      if (now < this.openUntil || this.trialRunning) {
        this.counters.rejected++;
        return Promise.reject(new CredentialBackendError('AUTH_BACKEND_OPEN', Math.max(1000, this.openUntil - now)));
      }
      trial = true; // half-open: this request decides
      this.trialRunning = true;
    }
    if (this.inFlight.size >= this.maxInFlight) {
      if (trial) this.trialRunning = false;
      this.counters.rejected++;
      return Promise.reject(new CredentialBackendError('AUTH_BACKEND_BUSY', RETRY_AFTER_FAILURE_MS));
    }
    const p = this.fetch(user, realm).then(
      (credential) => {
        this.inFlight.delete(key);
        if (trial) this.trialRunning = false;
        this.onSuccess();
        if (this.o.cacheForMs > 0) this.cache.set(key, { credential, expiresAt: this.o.clock.now() + this.o.cacheForMs });
        return credential;
      },
      (e: unknown) => {
        this.inFlight.delete(key);
        if (trial) this.trialRunning = false;
        const code = isCredentialBackendError(e) ? e.code : 'AUTH_BACKEND_IO';
        if (code === 'AUTH_BACKEND_CLOSED') throw new CredentialBackendError(code, RETRY_AFTER_FAILURE_MS);
        this.counters.failures++;
        this.onFailure(trial);
        const retryMs = this.state === 'open' ? Math.max(1000, this.openUntil - this.o.clock.now()) : RETRY_AFTER_FAILURE_MS;
        throw new CredentialBackendError(code, retryMs);
      },
    );
    this.inFlight.set(key, p);
    return p;
  }

  /** Stops using the backend: open connections are destroyed, requests in flight fail with AUTH_BACKEND_CLOSED. */
  close(): void {
    this.closed = true;
    this.agent.destroy();
    this.cache.clear();
  }

  private onSuccess(): void {
    this.consecutiveFailures = 0;
    this.state = 'closed';
  }

  private onFailure(trial: boolean): void {
    this.consecutiveFailures++;
    // A failed half-open trial reopens at once; a closed breaker opens at the threshold. A request that was
    // already in flight when the breaker opened neither extends nor recounts the opening.
    if (trial || (this.state === 'closed' && this.consecutiveFailures >= this.o.failuresToOpen)) {
      this.state = 'open';
      this.openUntil = this.o.clock.now() + this.o.openForMs;
      this.counters.breakerOpens++;
    }
  }

  private fetch(user: string, realm: string): Promise<Credential | undefined> {
    this.counters.requests++;
    const body = Buffer.from(JSON.stringify({ username: user, realm }), 'utf8');
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      accept: 'application/json',
      'content-length': body.length,
    };
    if (this.o.token !== undefined) headers.authorization = `Bearer ${this.o.token}`;
    return new Promise<Credential | undefined>((resolve, reject) => {
      let settled = false;
      let timer: TimerHandle | undefined;
      const finish = (e: CredentialBackendError | undefined, value?: Credential): void => {
        if (settled) return;
        settled = true;
        timer?.cancel();
        if (e !== undefined) {
          req.destroy();
          reject(e);
        } else resolve(value);
      };
      const fail = (code: CredentialBackendErrorCode): void =>
        finish(new CredentialBackendError(this.closed ? 'AUTH_BACKEND_CLOSED' : code, 0));
      const send = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(this.url, { method: 'POST', headers, agent: this.agent }, (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        if (status === 404) {
          res.resume(); // drain so the connection can be reused
          finish(undefined, undefined);
          return;
        }
        if (status !== 200) {
          res.resume();
          fail('AUTH_BACKEND_STATUS');
          return;
        }
        const declared = Number(res.headers['content-length'] ?? Number.NaN);
        if (declared > MAX_BACKEND_BODY_BYTES) {
          fail('AUTH_BACKEND_TOO_LARGE');
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BACKEND_BODY_BYTES) {
            fail('AUTH_BACKEND_TOO_LARGE');
            return;
          }
          chunks.push(c);
        });
        res.on('error', () => fail('AUTH_BACKEND_IO'));
        res.on('end', () => {
          if (settled) return;
          const credential = parseBackendAnswer(Buffer.concat(chunks, size).toString('utf8'), user, realm);
          if (credential === undefined) fail('AUTH_BACKEND_BAD_BODY');
          else finish(undefined, credential);
        });
      });
      req.on('error', () => fail('AUTH_BACKEND_IO'));
      timer = this.o.clock.setTimer(this.o.timeoutMs, () => fail('AUTH_BACKEND_TIMEOUT'));
      req.end(body);
    });
  }
}

export function createHttpCredentialSource(o: HttpCredentialSourceOptions): HttpCredentialSource {
  return new HttpCredentialSource(o);
}
