import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import type { Logger } from '../../../src/core/log.ts';
import {
  type Alert,
  createWebhookAlerter,
  retryAfterMs,
  type WebhookAlerter,
  type WebhookAlerterOptions,
  WebhookConfigError,
} from '../../../src/observability/webhook.ts';
import { generateSelfSignedCert } from '../../../src/transport/self-signed.ts';

const TEST_TIMEOUT_MS = 10_000;

interface Received {
  readonly at: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: Record<string, unknown>;
}

interface Reply {
  readonly status?: number;
  readonly headers?: Record<string, string>;
  /** Answer after this long. */
  readonly delayMs?: number;
  /** Never answer (until the receiver closes). */
  readonly hang?: boolean;
  /** Send the status line and headers, then a body byte every 50 ms without ever ending it. */
  readonly trickle?: boolean;
}

interface Receiver {
  readonly url: string;
  readonly got: Received[];
  /** Decides the reply to the n-th request (0-based). */
  reply: (n: number, body: Record<string, unknown>) => Reply;
  /** Resolves once `n` requests have arrived (bounded by the test timeout). */
  waitFor(n: number): Promise<void>;
  /** Open connections from clients (keep-alive sockets included). */
  connections(): Promise<number>;
  close(): Promise<void>;
}

const receivers: Receiver[] = [];
const alerters: WebhookAlerter[] = [];
after(async () => {
  await Promise.all(alerters.map((a) => a.close()));
  await Promise.all(receivers.map((r) => r.close()));
});

async function startReceiver(path = '/hook'): Promise<Receiver> {
  const got: Received[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        body = { unparsable: true };
      }
      const n = got.length;
      got.push({ at: performance.now(), headers: req.headers, body });
      for (const w of waiters.filter((x) => got.length >= x.n)) w.resolve();
      const r = rcv.reply(n, body);
      const answer = (): void => {
        res.writeHead(r.status ?? 204, r.headers ?? {});
        res.end();
      };
      if (r.hang === true) hanging.push(res);
      else if (r.trickle === true) {
        hanging.push(res);
        res.writeHead(r.status ?? 200, { 'content-type': 'text/plain' });
        const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write('.')), 50);
        res.on('close', () => clearInterval(t));
      } else if (r.delayMs !== undefined) setTimeout(answer, r.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const rcv: Receiver = {
    url: `http://127.0.0.1:${port}${path}`,
    got,
    reply: () => ({ status: 204 }),
    connections: () => new Promise((resolve) => server.getConnections((_e, n) => resolve(n))),
    waitFor: (n) => (got.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  receivers.push(rcv);
  return rcv;
}

function alerter(opts: WebhookAlerterOptions): WebhookAlerter {
  const a = createWebhookAlerter(opts);
  alerters.push(a);
  return a;
}

interface Logged {
  level: string;
  fields: Record<string, unknown>;
  msg: string;
}

/** Records every line with its child bindings, so a test can search the whole output for a secret. */
function recordingLogger(into: Logged[], bindings: Record<string, unknown> = {}): Logger {
  const at =
    (level: string) =>
    (fields: Record<string, unknown>, msg: string): void => {
      into.push({ level, fields: { ...bindings, ...fields }, msg });
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (b) => recordingLogger(into, { ...bindings, ...b }),
  };
}

const base: Alert = { rule: 'fraud.sequential', subject: 'alice', action: 'block_user', severity: 'critical' };

describe('webhook alerter: delivery', { timeout: TEST_TIMEOUT_MS }, () => {
  it('POSTs the JSON body with the configured headers', async () => {
    const r = await startReceiver();
    const clock = new ManualClock(0, Date.UTC(2026, 10, 29, 21, 0, 0));
    const a = alerter({ url: r.url, headers: { Authorization: 'Bearer s3cr3t' }, node: 'gw1', clock });
    a.alert({
      ...base,
      details: { dialled: '+88213', count: 5, nested: { ok: true, list: [1, 'two'] }, password: 'hunter2', apiToken: 'x' },
    });
    await a.flush();
    assert.equal(r.got.length, 1);
    const g = r.got[0];
    assert.ok(g);
    assert.equal(g.headers['content-type'], 'application/json');
    assert.equal(g.headers.authorization, 'Bearer s3cr3t');
    assert.match(String(g.body.id), /^[0-9a-f-]{36}$/);
    assert.deepEqual(
      { ...g.body, id: 'x' },
      {
        id: 'x',
        time: '2026-11-29T21:00:00.000Z',
        rule: 'fraud.sequential',
        subject: 'alice',
        action: 'block_user',
        severity: 'critical',
        details: { dialled: '+88213', count: 5, nested: { ok: true, list: [1, 'two'] } },
        suppressed: 0,
        node: 'gw1',
      },
    );
    assert.deepEqual(a.stats(), { sent: 1, failed: 0, retried: 0, deduped: 0, rateLimited: 0, dropped: 0, queued: 0, keysEvicted: 0 });
  });

  it('alert() never throws and never blocks, whatever the details hold', async () => {
    const r = await startReceiver();
    const a = alerter({ url: r.url, maxBodyBytes: 2048, dedupWindowMs: 0, ratePerMinute: 0 });
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const t0 = performance.now();
    a.alert({ ...base, details: { cyclic, big: 10n, fn: () => 1, sym: Symbol('s'), nan: Number.NaN, when: new Date(0) } });
    a.alert({
      ...base,
      subject: 'bob',
      details: { huge: 'x'.repeat(100_000), many: Array.from({ length: 100 }, (_, i) => 'y'.repeat(50) + i) },
    });
    a.alert(null as unknown as Alert);
    a.alert({ rule: 7, subject: undefined, action: {}, severity: 'panic' } as unknown as Alert);
    assert.ok(performance.now() - t0 < 50, 'alert() returns at once');
    await a.flush();
    assert.equal(r.got.length, 4);
    const [first, second, third, fourth] = r.got.map((g) => g.body);
    assert.deepEqual(first?.details, {
      cyclic: { name: 'loop', self: { name: 'loop', self: { name: 'loop' } } },
      big: '10',
      nan: 'NaN',
      when: '1970-01-01T00:00:00.000Z',
    });
    assert.deepEqual(second?.details, { truncated: true });
    assert.equal(third?.rule, '');
    assert.equal(fourth?.severity, 'warning');
    assert.equal(fourth?.rule, '7');
  });

  it('control characters in rule and subject are neutralised', async () => {
    const r = await startReceiver();
    const a = alerter({ url: r.url });
    a.alert({ ...base, subject: 'eve\r\nX-Injected: 1\u2028' });
    await a.flush();
    assert.equal(r.got[0]?.body.subject, 'eve??X-Injected: 1?');
  });
});

describe('webhook alerter: dedup and rate limits', { timeout: TEST_TIMEOUT_MS }, () => {
  it('one alert per rule and subject within the dedup window; the next one carries the suppressed count', async () => {
    const r = await startReceiver();
    const clock = new ManualClock();
    const a = alerter({ url: r.url, clock, dedupWindowMs: 60_000, ratePerMinute: 0, globalRatePerMinute: 0 });
    a.alert(base);
    a.alert(base);
    clock.advance(30_000);
    a.alert(base);
    a.alert({ ...base, subject: 'bob' });
    a.alert({ ...base, rule: 'fraud.shortCalls' });
    await a.flush();
    assert.deepEqual(
      r.got.map((g) => [g.body.rule, g.body.subject, g.body.suppressed]),
      [
        ['fraud.sequential', 'alice', 0],
        ['fraud.sequential', 'bob', 0],
        ['fraud.shortCalls', 'alice', 0],
      ],
    );
    clock.advance(29_999);
    a.alert(base);
    clock.advance(1);
    a.alert(base);
    await a.flush();
    assert.equal(r.got.length, 4);
    assert.equal(r.got[3]?.body.suppressed, 3);
    assert.equal(a.stats().deduped, 3);
    assert.equal(a.stats().sent, 4);
    clock.advance(60_000);
    a.alert(base);
    await a.flush();
    assert.equal(r.got[4]?.body.suppressed, 0, 'the count starts again after it was reported');
  });

  it('per rule+subject rate limit, then the global cap; both refill with time', async () => {
    const r = await startReceiver();
    const clock = new ManualClock();
    const a = alerter({ url: r.url, clock, dedupWindowMs: 0, ratePerMinute: 3, globalRatePerMinute: 5 });
    for (let i = 0; i < 5; i++) a.alert(base);
    await a.flush();
    assert.equal(r.got.length, 3, 'per-key: 3 per minute');
    assert.equal(a.stats().rateLimited, 2);
    for (const s of ['bob', 'carol', 'dave', 'erin']) a.alert({ ...base, subject: s });
    await a.flush();
    assert.equal(r.got.length, 5, 'global: 5 per minute');
    assert.deepEqual(
      r.got.slice(3).map((g) => g.body.subject),
      ['bob', 'carol'],
    );
    assert.equal(a.stats().rateLimited, 4);
    clock.advance(60_000);
    a.alert(base);
    a.alert({ ...base, subject: 'dave' });
    await a.flush();
    assert.deepEqual(
      r.got.slice(5).map((g) => [g.body.subject, g.body.suppressed]),
      [
        ['alice', 2],
        ['dave', 1],
      ],
    );
  });

  it('the rule+subject table is bounded', async () => {
    const r = await startReceiver();
    const clock = new ManualClock();
    const a = alerter({ url: r.url, clock, maxKeys: 10, globalRatePerMinute: 0 });
    for (let i = 0; i < 25; i++) a.alert({ ...base, subject: `u${i}` });
    await a.flush();
    assert.equal(a.stats().keysEvicted, 15);
    assert.equal(r.got.length, 25);
  });
});

describe('webhook alerter: retries and failures', { timeout: TEST_TIMEOUT_MS }, () => {
  it('retries 503s with doubling back-off, then delivers the same alert', async () => {
    const r = await startReceiver();
    r.reply = (n) => (n < 3 ? { status: 503 } : { status: 200 });
    const a = alerter({ url: r.url, backoffMs: 40, retries: 5 });
    a.alert(base);
    await a.flush();
    assert.equal(r.got.length, 4);
    const ids = new Set(r.got.map((g) => g.body.id));
    assert.equal(ids.size, 1, 'one alert, four attempts');
    const gaps = r.got.slice(1).map((g, i) => g.at - (r.got[i]?.at ?? 0));
    // 40, 80, 160 ms (timers fire no earlier than asked; allow 5 ms of clock granularity).
    assert.ok(gaps[0] !== undefined && gaps[0] >= 35, `gaps ${gaps}`);
    assert.ok(gaps[1] !== undefined && gaps[1] >= 75, `gaps ${gaps}`);
    assert.ok(gaps[2] !== undefined && gaps[2] >= 155, `gaps ${gaps}`);
    assert.deepEqual({ sent: a.stats().sent, retried: a.stats().retried, failed: a.stats().failed }, { sent: 1, retried: 3, failed: 0 });
  });

  it('gives up after `retries`, and the next alert goes out', async () => {
    const r = await startReceiver();
    r.reply = (_n, body) => (body.subject === 'alice' ? { status: 500 } : { status: 200 });
    const log: Logged[] = [];
    const a = alerter({ url: r.url, backoffMs: 5, retries: 2, logger: recordingLogger(log) });
    a.alert(base);
    a.alert({ ...base, subject: 'bob' });
    await a.flush();
    assert.deepEqual(
      r.got.map((g) => g.body.subject),
      ['alice', 'alice', 'alice', 'bob'],
    );
    assert.deepEqual({ sent: a.stats().sent, retried: a.stats().retried, failed: a.stats().failed }, { sent: 1, retried: 2, failed: 1 });
    assert.ok(log.some((l) => l.level === 'warn' && /retries exhausted/.test(l.msg)));
  });

  it('does not retry other 4xx (nor 3xx)', async () => {
    const r = await startReceiver();
    r.reply = (n) => (n === 0 ? { status: 400 } : { status: 301, headers: { location: '/elsewhere' } });
    const a = alerter({ url: r.url, backoffMs: 5 });
    a.alert(base);
    a.alert({ ...base, subject: 'bob' });
    await a.flush();
    assert.equal(r.got.length, 2);
    assert.deepEqual({ failed: a.stats().failed, retried: a.stats().retried }, { failed: 2, retried: 0 });
  });

  it('honours Retry-After on 429 (seconds) over its own back-off', async () => {
    const r = await startReceiver();
    r.reply = (n) => (n === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 });
    const a = alerter({ url: r.url, backoffMs: 5 });
    a.alert(base);
    await a.flush();
    assert.equal(r.got.length, 2);
    const gap = (r.got[1]?.at ?? 0) - (r.got[0]?.at ?? 0);
    assert.ok(gap >= 990 && gap < 3000, `gap ${gap}`);
    assert.equal(a.stats().sent, 1);
  });

  it('retries network errors (connection refused), then gives up', async () => {
    const r = await startReceiver();
    const url = r.url;
    await r.close();
    const a = alerter({ url, backoffMs: 5, retries: 3 });
    a.alert(base);
    await a.flush();
    assert.deepEqual({ sent: a.stats().sent, retried: a.stats().retried, failed: a.stats().failed }, { sent: 0, retried: 3, failed: 1 });
  });

  it('a slow receiver times out and is retried; one within the timeout is not', async () => {
    const r = await startReceiver();
    r.reply = (n) => (n < 2 ? { delayMs: 400 } : { delayMs: 50 });
    const a = alerter({ url: r.url, timeoutMs: 150, backoffMs: 5, retries: 1 });
    const t0 = performance.now();
    a.alert(base);
    await a.flush();
    assert.equal(r.got.length, 2);
    assert.deepEqual({ failed: a.stats().failed, retried: a.stats().retried, sent: a.stats().sent }, { failed: 1, retried: 1, sent: 0 });
    assert.ok(performance.now() - t0 < 1500, 'two timeouts, not two full answers');
    a.alert({ ...base, subject: 'bob' });
    await a.flush();
    assert.equal(a.stats().sent, 1);
  });

  it('never logs header values or the URL path (both may be secrets)', async () => {
    const r = await startReceiver('/services/T0/B0/sekretpath');
    r.reply = () => ({ status: 503 });
    const log: Logged[] = [];
    const a = alerter({
      url: r.url,
      headers: { Authorization: 'Bearer tok-abc123' },
      backoffMs: 5,
      retries: 2,
      logger: recordingLogger(log),
    });
    a.alert(base);
    await a.flush();
    const r2 = await startReceiver();
    r2.reply = () => ({ status: 401 });
    const b = alerter({ url: r2.url, headers: { 'X-Api-Key': 'key-xyz789' }, logger: recordingLogger(log) });
    b.alert(base);
    await b.flush();
    assert.ok(log.length >= 4, `${log.length} lines`);
    const all = JSON.stringify(log);
    assert.ok(all.includes('127.0.0.1'), 'logs name the receiver by origin');
    for (const secret of ['tok-abc123', 'key-xyz789', 'sekretpath']) assert.ok(!all.includes(secret), secret);
  });
});

describe('webhook alerter: bounded queue and close', { timeout: TEST_TIMEOUT_MS }, () => {
  it('drops the oldest waiting alerts past maxQueue, never the one in flight', async () => {
    const r = await startReceiver();
    r.reply = (n) => (n === 0 ? { delayMs: 300 } : { status: 204 });
    const a = alerter({ url: r.url, maxQueue: 3, globalRatePerMinute: 0 });
    for (let i = 0; i < 10; i++) a.alert({ ...base, subject: `s${i}` });
    assert.equal(a.stats().queued, 3);
    assert.equal(a.stats().dropped, 7);
    await a.flush();
    assert.deepEqual(
      r.got.map((g) => g.body.subject),
      ['s0', 's8', 's9'],
    );
    assert.equal(a.stats().sent, 3);
  });

  it('close() waits a bounded grace, then drops what is left and refuses new alerts', async () => {
    const r = await startReceiver();
    r.reply = () => ({ hang: true });
    const a = alerter({ url: r.url, timeoutMs: 5000, closeGraceMs: 100 });
    a.alert(base);
    a.alert({ ...base, subject: 'bob' });
    await r.waitFor(1);
    const t0 = performance.now();
    await a.close();
    assert.ok(performance.now() - t0 < 1000, 'bounded by closeGraceMs');
    a.alert({ ...base, subject: 'carol' });
    await a.close();
    await a.flush();
    assert.deepEqual(
      { dropped: a.stats().dropped, queued: a.stats().queued, sent: a.stats().sent, failed: a.stats().failed },
      { dropped: 3, queued: 0, sent: 0, failed: 0 },
    );
  });

  it('close() with an idle queue returns at once; no connection outlives a delivery, even a slow-bodied answer', async () => {
    const r = await startReceiver();
    const a = alerter({ url: r.url, timeoutMs: 200 });
    a.alert(base);
    await a.flush();
    const t0 = performance.now();
    await a.close();
    assert.ok(performance.now() - t0 < 50, 'nothing to wait for');
    // The receiver's keep-alive timeout is 5 s: only the alerter ending its connection makes this 0 sooner.
    let open = 1;
    for (let i = 0; i < 50 && open > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      open = await r.connections();
    }
    assert.equal(open, 0);
    assert.equal(a.stats().sent, 1);
  });

  it('a 2xx whose body never ends does not hold up the next alert', async () => {
    const r = await startReceiver();
    r.reply = (n) => (n === 0 ? { status: 200, trickle: true } : { status: 204 });
    const a = alerter({ url: r.url, timeoutMs: 200, backoffMs: 5 });
    a.alert(base);
    a.alert({ ...base, subject: 'bob' });
    await a.flush();
    assert.deepEqual(
      r.got.map((g) => g.body.subject),
      ['alice', 'bob'],
    );
    assert.deepEqual({ sent: a.stats().sent, retried: a.stats().retried }, { sent: 2, retried: 0 });
  });
});

describe('webhook alerter: https', { timeout: TEST_TIMEOUT_MS }, () => {
  it('delivers to an https receiver trusted through `ca`, and refuses one it cannot verify', async () => {
    const cert = generateSelfSignedCert('palisade-test-receiver', ['127.0.0.1']);
    const got: string[] = [];
    const server = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      let b = '';
      req.on('data', (c: Buffer) => (b += c.toString('utf8')));
      req.on('end', () => {
        got.push(b);
        res.writeHead(204);
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const trusted = alerter({ url, ca: cert.certPem });
      trusted.alert(base);
      await trusted.flush();
      assert.equal(trusted.stats().sent, 1);
      assert.equal((JSON.parse(got[0] ?? '{}') as Record<string, unknown>).subject, 'alice');
      const untrusted = alerter({ url, backoffMs: 5, retries: 1 });
      untrusted.alert(base);
      await untrusted.flush();
      assert.deepEqual({ sent: untrusted.stats().sent, failed: untrusted.stats().failed }, { sent: 0, failed: 1 });
      assert.equal(got.length, 1, 'nothing reached the receiver without verification');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('webhook alerter: configuration', () => {
  it('refuses URLs and headers the schema should have caught, with a code and no secret in the message', () => {
    const cases: Array<[WebhookAlerterOptions, string]> = [
      [{ url: 'not a url' }, 'WEBHOOK_BAD_URL'],
      [{ url: 'ftp://127.0.0.1/x' }, 'WEBHOOK_BAD_URL'],
      [{ url: 'http://user:pw-secret@127.0.0.1/x' }, 'WEBHOOK_BAD_URL'],
      [{ url: 'http://127.0.0.1/x', headers: { 'Bad Header': 'v' } }, 'WEBHOOK_BAD_HEADER'],
      [{ url: 'http://127.0.0.1/x', headers: { Authorization: 'tok\r\nX: y-secret' } }, 'WEBHOOK_BAD_HEADER'],
      [{ url: 'http://127.0.0.1/x', headers: { 'Content-Length': '1' } }, 'WEBHOOK_BAD_HEADER'],
    ];
    for (const [opts, code] of cases) {
      assert.throws(
        () => createWebhookAlerter(opts),
        (e: unknown) => e instanceof WebhookConfigError && e.code === code && !e.message.includes('secret'),
        JSON.stringify(opts.url),
      );
    }
  });

  it('retryAfterMs reads delta-seconds and HTTP dates', () => {
    const now = Date.UTC(2026, 10, 29, 21, 0, 0);
    assert.equal(retryAfterMs('3', now), 3000);
    assert.equal(retryAfterMs([' 0 '], now), 0);
    assert.equal(retryAfterMs('Sun, 29 Nov 2026 21:00:10 GMT', now), 10_000);
    assert.equal(retryAfterMs('Sun, 29 Nov 2026 20:00:00 GMT', now), 0);
    assert.equal(retryAfterMs('soon', now), undefined);
    assert.equal(retryAfterMs('-1', now), undefined);
    assert.equal(retryAfterMs(undefined, now), undefined);
  });
});
