/**
 * Webhook alerts: one JSON POST per alert (who, what, which rule, what Palisade did), with dedup and rate limits per
 * rule and subject, a global rate cap, a bounded queue, and retries with exponential back-off.
 *
 * Body (keys in this order):
 *   {"id":"<uuid>","time":"2026-11-29T21:00:00.000Z","rule":"fraud.sequential","subject":"alice","action":"block_user",
 *    "severity":"critical","details":{...},"suppressed":3,"node":"gw1"}
 * `time` is when alert() was called, not when the POST went out; `suppressed` counts the alerts of the same rule and
 * subject that dedup or the rate limits swallowed since the previous one that was sent.
 *
 * alert() never throws and never blocks: it decides (dedup → rate limits → queue) synchronously and one sender
 * delivers the queue in order, one request at a time. A failing receiver holds the head of the queue during back-off
 * rather than being hammered with the alerts behind it; the queue bound drops the oldest (counted) meanwhile.
 * Retried: network errors, timeouts, 5xx and 429 (Retry-After in seconds or as an HTTP date, capped). Not retried:
 * other statuses (a 4xx will not get better by repeating it; 3xx redirects are not followed).
 *
 * Time: the injected clock drives dedup, rate limits, retry back-off and the body's `time`; the I/O deadlines (attempt
 * timeout, close grace) are real timers, because they bound real sockets (a manual clock in a test must not fire them).
 *
 * Secrets: header values (an Authorization token) are never logged, and neither is the URL's path or query (a Slack-
 * style URL is itself the secret): logs name the receiver by origin only. Detail keys that look like credentials are
 * dropped from the body, as in the audit log.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BoundedMap } from '../core/bounded-map.ts';
import { type Clock, systemClock, type TimerHandle } from '../core/clock.ts';
import { type Logger, silentLogger } from '../core/log.ts';

export type AlertSeverity = 'info' | 'warning' | 'critical';

export interface Alert {
  readonly rule: string;
  /** The user, trunk or source address the alert is about. */
  readonly subject: string;
  /** What Palisade did: `alert`, `reject`, `block_user`, `ban_source`, … */
  readonly action: string;
  readonly severity: AlertSeverity;
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface WebhookAlerterOptions {
  /** http: or https: URL of the receiver. */
  readonly url: string;
  /** Extra request headers (e.g. Authorization). Their values are never logged. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Per attempt, connect to end of response headers. Default 5000. */
  readonly timeoutMs?: number;
  /** Retries after the first attempt. Default 5. */
  readonly retries?: number;
  /** First retry delay; doubles each retry up to maxBackoffMs. Default 1000. */
  readonly backoffMs?: number;
  /** Default 60 000. */
  readonly maxBackoffMs?: number;
  /** Longest Retry-After honoured. Default 300 000. */
  readonly maxRetryAfterMs?: number;
  /** Same rule and subject within this long after a sent alert → suppressed. Default 300 000; 0 disables. */
  readonly dedupWindowMs?: number;
  /** Alerts per rolling minute per rule and subject. Default 6; 0 disables this limit. */
  readonly ratePerMinute?: number;
  /** Alerts per rolling minute for the whole alerter. Default 60; 0 disables this limit. */
  readonly globalRatePerMinute?: number;
  /** Alerts waiting to be sent; past it the oldest waiting one is dropped. Default 1000. */
  readonly maxQueue?: number;
  /** Rule+subject pairs remembered for dedup and rate limits (oldest forgotten first). Default 10 000. */
  readonly maxKeys?: number;
  /** Bodies larger than this have their details replaced by `{"truncated":true}`. Default 16 KiB. */
  readonly maxBodyBytes?: number;
  /** How long close() lets queued alerts go out before dropping them. Default 2000. */
  readonly closeGraceMs?: number;
  /** Extra trust anchors (PEM) for an https: receiver with a private CA; the system store is used otherwise. */
  readonly ca?: string | Buffer;
  /** Added to every body as `node`. */
  readonly node?: string;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export interface WebhookStats {
  /** Delivered (2xx). */
  readonly sent: number;
  /** Given up: a non-retryable status, or retries exhausted. */
  readonly failed: number;
  /** Retry attempts made. */
  readonly retried: number;
  /** Swallowed by the dedup window. */
  readonly deduped: number;
  /** Swallowed by the per-key or the global rate limit. */
  readonly rateLimited: number;
  /** Dropped: queue overflow, or still queued at close(), or alerted after close(). */
  readonly dropped: number;
  /** Waiting now, including the one in flight or in back-off. */
  readonly queued: number;
  /** Rule+subject entries forgotten because of maxKeys. */
  readonly keysEvicted: number;
}

export interface WebhookAlerter {
  alert(a: Alert): void;
  stats(): WebhookStats;
  /** Resolves when everything queued so far has been delivered or given up. */
  flush(): Promise<void>;
  /** Stops accepting alerts, lets the queue drain for closeGraceMs, then aborts and drops the rest. Idempotent. */
  close(): Promise<void>;
}

export type WebhookConfigErrorCode = 'WEBHOOK_BAD_URL' | 'WEBHOOK_BAD_HEADER';

/** Thrown by createWebhookAlerter only, for options the policy schema should already have refused. */
export class WebhookConfigError extends Error {
  readonly code: WebhookConfigErrorCode;
  constructor(code: WebhookConfigErrorCode, message: string) {
    super(message);
    this.name = 'WebhookConfigError';
    this.code = code;
  }
}

const MAX_RULE_CHARS = 128;
const MAX_SUBJECT_CHARS = 256;
const MAX_ACTION_CHARS = 64;
const MAX_DETAIL_DEPTH = 4;
const MAX_DETAIL_KEYS = 32;
const MAX_DETAIL_ARRAY = 64;
const MAX_DETAIL_STRING_CHARS = 1024;
const MAX_RESPONSE_BYTES_READ = 64 * 1024;
const MINUTE_MS = 60_000;
/** Detail keys that could carry credentials (mirrors the audit log): dropped, whatever their value. */
const SECRET_KEY = /pass|secret|token|ha1|key|auth|nonce|cookie|credential|cnonce|response/i;
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const SEVERITIES: ReadonlySet<string> = new Set<AlertSeverity>(['info', 'warning', 'critical']);

/** A token bucket refilled continuously: `perMinute` tokens per minute, burst of `perMinute`. */
interface Bucket {
  tokens: number;
  at: number;
}

interface KeyState {
  /** clock.now() of the last alert accepted for sending; -Infinity when none. */
  lastSentAt: number;
  suppressed: number;
  bucket: Bucket;
}

interface Pending {
  readonly id: string;
  readonly rule: string;
  readonly body: Buffer;
  attempts: number;
}

type AttemptOutcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'retry'; readonly why: string; readonly retryAfterMs?: number }
  | { readonly kind: 'fail'; readonly why: string };

export function createWebhookAlerter(opts: WebhookAlerterOptions): WebhookAlerter {
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw new WebhookConfigError('WEBHOOK_BAD_URL', 'alerts.webhook.url is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new WebhookConfigError('WEBHOOK_BAD_URL', `alerts.webhook.url must be http: or https: (got ${url.protocol})`);
  }
  if (url.username !== '' || url.password !== '') {
    // Credentials in the URL would end up in every log line that names the receiver; use a header instead.
    throw new WebhookConfigError('WEBHOOK_BAD_URL', 'alerts.webhook.url must not carry user:password; use an Authorization header');
  }
  const extraHeaders: Record<string, string> = {};
  for (const [name, value] of Object.entries(opts.headers ?? {})) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/.test(name)) {
      throw new WebhookConfigError('WEBHOOK_BAD_HEADER', `alerts.webhook.headers: bad header name ${JSON.stringify(name.slice(0, 64))}`);
    }
    // Value not echoed: it may be a token.
    if (typeof value !== 'string' || !/^[\t\x20-\x7e\x80-\xff]*$/.test(value) || value.length > 8192) {
      throw new WebhookConfigError('WEBHOOK_BAD_HEADER', `alerts.webhook.headers.${name}: bad value`);
    }
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'host' || lower === 'transfer-encoding' || lower === 'connection') {
      throw new WebhookConfigError('WEBHOOK_BAD_HEADER', `alerts.webhook.headers.${name}: set by Palisade`);
    }
    extraHeaders[name] = value;
  }

  const clock = opts.clock ?? systemClock;
  const log = (opts.logger ?? silentLogger).child({ component: 'alerts.webhook', receiver: url.origin });
  const timeoutMs = positive(opts.timeoutMs, 5000);
  const retries = nonNegative(opts.retries, 5);
  const backoffMs = nonNegative(opts.backoffMs, 1000);
  const maxBackoffMs = nonNegative(opts.maxBackoffMs, 60_000);
  const maxRetryAfterMs = nonNegative(opts.maxRetryAfterMs, 300_000);
  const dedupWindowMs = nonNegative(opts.dedupWindowMs, 300_000);
  const ratePerMinute = nonNegative(opts.ratePerMinute, 6);
  const globalRatePerMinute = nonNegative(opts.globalRatePerMinute, 60);
  const maxQueue = Math.max(1, Math.floor(positive(opts.maxQueue, 1000)));
  const maxBodyBytes = Math.max(512, positive(opts.maxBodyBytes, 16 * 1024));
  const closeGraceMs = nonNegative(opts.closeGraceMs, 2000);
  const node = opts.node;

  const isHttps = url.protocol === 'https:';
  // A fresh connection per attempt (`agent: false`, Connection: close): alerts are rare (the global cap), and no pooled
  // socket can outlive close() or leave a timed-out request waiting behind a response still trickling in.
  const doRequest = isHttps ? httpsRequest : httpRequest;

  const keys = new BoundedMap<string, KeyState>(Math.max(1, Math.floor(positive(opts.maxKeys, 10_000))));
  const globalBucket: Bucket = { tokens: globalRatePerMinute, at: clock.now() };
  const queue: Pending[] = [];

  let sent = 0;
  let failed = 0;
  let retried = 0;
  let deduped = 0;
  let rateLimited = 0;
  let dropped = 0;

  /** The alert being sent or waiting for its retry: queue[0] while true. */
  let busy = false;
  let retryTimer: TimerHandle | undefined;
  let abortCurrent: (() => void) | undefined;
  let accepting = true;
  /** Set at the end of close(): outcomes of the aborted attempt are ignored (it is already counted as dropped). */
  let closed = false;
  let closing: Promise<void> | undefined;
  let idleWaiters: Array<() => void> = [];

  function take(b: Bucket, perMinute: number, now: number): boolean {
    if (perMinute <= 0) return true;
    b.tokens = Math.min(perMinute, b.tokens + ((now - b.at) * perMinute) / MINUTE_MS);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  function alert(a: Alert): void {
    try {
      accept(a);
    } catch (e) {
      // A bug here must not reach the caller (a SIP stage): count it as dropped and say so once per occurrence.
      dropped++;
      log.error({ err: e instanceof Error ? e.message : String(e) }, 'alert dropped: internal error');
    }
  }

  function accept(a: Alert): void {
    if (!accepting) {
      dropped++;
      return;
    }
    const now = clock.now();
    const rule = cleanText(a?.rule, MAX_RULE_CHARS);
    const subject = cleanText(a?.subject, MAX_SUBJECT_CHARS);
    const key = `${rule}\u0000${subject}`;
    let st = keys.get(key);
    if (st === undefined) {
      st = { lastSentAt: Number.NEGATIVE_INFINITY, suppressed: 0, bucket: { tokens: ratePerMinute, at: now } };
      keys.set(key, st);
    } else keys.touch(key);

    if (dedupWindowMs > 0 && now - st.lastSentAt < dedupWindowMs) {
      st.suppressed++;
      deduped++;
      return;
    }
    // Per-key first, so one noisy subject does not spend the global budget it is refused anyway.
    if (!take(st.bucket, ratePerMinute, now)) {
      st.suppressed++;
      rateLimited++;
      return;
    }
    if (!take(globalBucket, globalRatePerMinute, now)) {
      // Give the per-key token back: this alert was not sent on its account.
      if (ratePerMinute > 0) st.bucket.tokens = Math.min(ratePerMinute, st.bucket.tokens + 1);
      st.suppressed++;
      rateLimited++;
      return;
    }
    const suppressed = st.suppressed;
    st.suppressed = 0;
    st.lastSentAt = now;

    const id = randomUUID();
    const body = encodeBody(id, clock.wallNow(), rule, subject, a, suppressed, node, maxBodyBytes);
    if (queue.length >= maxQueue) {
      // Drop the oldest that is not in flight: queue[0] is being sent (or waiting to retry) while busy.
      const at = busy ? 1 : 0;
      if (at < queue.length) {
        queue.splice(at, 1);
        dropped++;
      } else {
        dropped++;
        return;
      }
    }
    queue.push({ id, rule, body, attempts: 0 });
    pump();
  }

  function pump(): void {
    if (busy) return;
    const head = queue[0];
    if (head === undefined) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
      return;
    }
    busy = true;
    attempt(head);
  }

  function done(): void {
    queue.shift();
    busy = false;
    pump();
  }

  function attempt(p: Pending): void {
    p.attempts++;
    send(p.body, (outcome) => {
      if (closed) return;
      switch (outcome.kind) {
        case 'ok':
          sent++;
          done();
          return;
        case 'fail':
          failed++;
          log.warn({ rule: p.rule, id: p.id, why: outcome.why, attempts: p.attempts }, 'alert not delivered (not retryable)');
          done();
          return;
        case 'retry': {
          if (p.attempts > retries || !accepting) {
            failed++;
            log.warn({ rule: p.rule, id: p.id, why: outcome.why, attempts: p.attempts }, 'alert not delivered (retries exhausted)');
            done();
            return;
          }
          retried++;
          const exp = Math.min(maxBackoffMs, backoffMs * 2 ** (p.attempts - 1));
          const delay = outcome.retryAfterMs !== undefined ? Math.min(maxRetryAfterMs, outcome.retryAfterMs) : exp;
          log.debug({ rule: p.rule, id: p.id, why: outcome.why, attempt: p.attempts, delayMs: delay }, 'alert delivery failed, will retry');
          retryTimer = clock.setTimer(delay, () => {
            retryTimer = undefined;
            attempt(p);
          });
          return;
        }
      }
    });
  }

  /** One POST; `cb` is called exactly once. */
  function send(body: Buffer, cb: (o: AttemptOutcome) => void): void {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (o: AttemptOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      abortCurrent = undefined;
      cb(o);
    };
    let req: ReturnType<typeof httpRequest>;
    try {
      req = doRequest(url, {
        method: 'POST',
        agent: false,
        ...(isHttps && opts.ca !== undefined && { ca: opts.ca }),
        headers: {
          'user-agent': 'palisade-alerts',
          'content-type': 'application/json',
          ...extraHeaders,
          'content-length': String(body.length),
        },
      });
    } catch (e) {
      // Synchronous refusals (a header value node rejects): not going to improve.
      setImmediate(() => finish({ kind: 'fail', why: e instanceof Error && 'code' in e ? String(e.code) : 'request error' }));
      return;
    }
    timer = setTimeout(() => {
      req.destroy(new Error('timeout'));
      finish({ kind: 'retry', why: 'timeout' });
    }, timeoutMs);
    abortCurrent = () => {
      req.destroy(new Error('closed'));
      finish({ kind: 'fail', why: 'closed' });
    };
    req.on('error', (e: NodeJS.ErrnoException) => {
      finish({ kind: 'retry', why: e.code ?? e.message.slice(0, 64) });
    });
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      // The body is not needed: read it (bounded in size and time) so the connection ends cleanly.
      let seen = 0;
      const bodyTimer = setTimeout(() => res.destroy(), timeoutMs);
      res.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > MAX_RESPONSE_BYTES_READ) res.destroy();
      });
      res.on('close', () => clearTimeout(bodyTimer));
      res.on('error', () => {});
      if (status >= 200 && status < 300) finish({ kind: 'ok' });
      else if (status === 429 || status >= 500) {
        const ra = retryAfterMs(res.headers['retry-after'], clock.wallNow());
        finish(ra === undefined ? { kind: 'retry', why: `HTTP ${status}` } : { kind: 'retry', why: `HTTP ${status}`, retryAfterMs: ra });
      } else finish({ kind: 'fail', why: `HTTP ${status}` });
    });
    req.end(body);
  }

  function whenIdle(): Promise<void> {
    if (!busy && queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => idleWaiters.push(resolve));
  }

  async function close(): Promise<void> {
    if (closing !== undefined) return closing;
    accepting = false;
    closing = (async () => {
      if (busy || queue.length > 0) {
        let graceTimer: NodeJS.Timeout | undefined;
        await Promise.race([whenIdle(), new Promise<void>((r) => (graceTimer = setTimeout(r, closeGraceMs)))]);
        clearTimeout(graceTimer);
      }
      retryTimer?.cancel();
      retryTimer = undefined;
      const inFlight = abortCurrent;
      closed = true;
      // Whatever is left is dropped: the one in flight or in back-off included.
      dropped += queue.length;
      queue.length = 0;
      busy = false;
      inFlight?.();
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
    })();
    return closing;
  }

  return {
    alert,
    stats: () => ({ sent, failed, retried, deduped, rateLimited, dropped, queued: queue.length, keysEvicted: keys.evictions }),
    flush: whenIdle,
    close,
  };
}

/** Retry-After: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(v: string | string[] | undefined, wallNowMs: number): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined) return undefined;
  const t = s.trim();
  if (/^\d{1,9}$/.test(t)) return Number(t) * 1000;
  // IMF-fixdate, RFC 850 and asctime forms all start with a day name; this also keeps Date.parse off "-1".
  if (t.length > 64 || !/^[A-Za-z]{3}/.test(t)) return undefined;
  const at = Date.parse(t);
  return Number.isNaN(at) ? undefined : Math.max(0, at - wallNowMs);
}

function encodeBody(
  id: string,
  wallMs: number,
  rule: string,
  subject: string,
  a: Alert,
  suppressed: number,
  node: string | undefined,
  maxBodyBytes: number,
): Buffer {
  const severity = SEVERITIES.has(a?.severity) ? a.severity : 'warning';
  const rec: Record<string, unknown> = {
    id,
    time: new Date(wallMs).toISOString(),
    rule,
    subject,
    action: cleanText(a?.action, MAX_ACTION_CHARS),
    severity,
    details: cleanDetails(a?.details, 0),
    suppressed,
  };
  if (node !== undefined) rec.node = cleanText(node, MAX_SUBJECT_CHARS);
  let body = Buffer.from(JSON.stringify(rec));
  if (body.length > maxBodyBytes) {
    rec.details = { truncated: true };
    body = Buffer.from(JSON.stringify(rec));
  }
  return body;
}

function cleanText(v: unknown, max: number): string {
  const s = typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
  const t = s.length > max ? s.slice(0, max) : s;
  return t.replace(CONTROL, '?');
}

/** A JSON-safe copy: bounded depth, keys, array lengths and strings; credential-like keys dropped. */
function cleanDetails(v: unknown, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return out;
  let n = 0;
  for (const k of Object.keys(v)) {
    if (n >= MAX_DETAIL_KEYS) break;
    if (SECRET_KEY.test(k)) continue;
    const c = cleanValue((v as Record<string, unknown>)[k], depth + 1);
    if (c === undefined) continue;
    out[cleanText(k, 64)] = c;
    n++;
  }
  return out;
}

function cleanValue(v: unknown, depth: number): unknown {
  switch (typeof v) {
    case 'string':
      return cleanText(v, MAX_DETAIL_STRING_CHARS);
    case 'number':
      return Number.isFinite(v) ? v : String(v);
    case 'boolean':
      return v;
    case 'bigint':
      return v.toString();
    case 'object':
      if (v === null) return null;
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
      if (depth >= MAX_DETAIL_DEPTH) return undefined;
      if (Array.isArray(v)) {
        const arr: unknown[] = [];
        for (let i = 0; i < v.length && i < MAX_DETAIL_ARRAY; i++) {
          const c = cleanValue(v[i], depth + 1);
          arr.push(c === undefined ? null : c);
        }
        return arr;
      }
      return cleanDetails(v, depth);
    default:
      return undefined;
  }
}

function positive(v: number | undefined, dflt: number): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : dflt;
}

function nonNegative(v: number | undefined, dflt: number): number {
  return v !== undefined && Number.isFinite(v) && v >= 0 ? v : dflt;
}
