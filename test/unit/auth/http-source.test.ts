/**
 * HttpCredentialSource against a real node:http server on 127.0.0.1:0. Time (cache expiry, breaker, request
 * timeout) runs on a ManualClock, so nothing here sleeps for a timeout.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { computeAllHa1, computeResponse } from '../../../src/auth/digest.ts';
import {
  CredentialBackendError,
  createHttpSourceCounters,
  HttpCredentialSource,
  type HttpCredentialSourceOptions,
  MAX_BACKEND_BODY_BYTES,
  parseBackendAnswer,
} from '../../../src/auth/http-source.ts';
import { createNonce, NonceCountTracker } from '../../../src/auth/nonce.ts';
import { type CredentialLookup, createAuthCounters, createAuthStage } from '../../../src/auth/stage.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import type { StageContext } from '../../../src/pipeline/stage.ts';
import { parseMessage } from '../../../src/sip/parser.ts';
import type { Source } from '../../../src/transport/types.ts';

const SHA256 = 'a'.repeat(64);
const SHA512 = 'B'.repeat(64);
const MD5 = 'c'.repeat(32);
const TOKEN = 'tok-3f9a-secret';

interface Seen {
  readonly body: string;
  readonly auth: string | undefined;
  readonly type: string | undefined;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server;
let url = '';
let handler: Handler;
let seen: Seen[] = [];
/** Responses held by the test (timeouts, single-flight); released in beforeEach. */
let held: ServerResponse[] = [];
let arrived: Array<() => void> = [];

const json = (res: ServerResponse, status: number, value: unknown): void => {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};
const found =
  (extra: Record<string, unknown> = {}): Handler =>
  (_q, res) =>
    json(res, 200, { ha1: { sha256: SHA256 }, ...extra });
const hold: Handler = (_q, res) => {
  held.push(res);
};

/** Resolves once the server has received `n` requests in total. */
function requestsArrived(n: number): Promise<void> {
  if (seen.length >= n) return Promise.resolve();
  return new Promise((resolve) => {
    const check = (): void => {
      if (seen.length >= n) resolve();
      else arrived.push(check);
    };
    arrived.push(check);
  });
}

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ body, auth: req.headers.authorization, type: req.headers['content-type'] });
      const waiting = arrived;
      arrived = [];
      for (const w of waiting) w();
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/users/lookup`;
});

after(async () => {
  for (const r of held) r.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

beforeEach(() => {
  for (const r of held) r.destroy();
  held = [];
  seen = [];
  arrived = [];
  handler = found();
});

const sources: HttpCredentialSource[] = [];
after(() => {
  for (const s of sources) s.close();
});

function make(clock: ManualClock, o: Partial<HttpCredentialSourceOptions> & { noToken?: boolean } = {}): HttpCredentialSource {
  const { noToken, ...rest } = o;
  const s = new HttpCredentialSource({
    url,
    timeoutMs: 2000,
    cacheForMs: 60_000,
    failuresToOpen: 3,
    openForMs: 30_000,
    ...(noToken === true ? {} : { token: TOKEN }),
    clock,
    ...rest,
  });
  sources.push(s);
  return s;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<CredentialBackendError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof CredentialBackendError, `expected a CredentialBackendError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.ok(!String(e.message).includes(TOKEN) && !String(e.stack).includes(TOKEN), 'the token never appears in an error');
    return e;
  }
  assert.fail(`expected ${code}, got an answer`);
}

describe('HttpCredentialSource answers', { timeout: 10_000 }, () => {
  it('found: POSTs {username, realm} as JSON with the bearer token and returns a frozen credential', async () => {
    handler = found({ ha1: { sha256: SHA256, sha512_256: SHA512, md5: MD5 }, groups: ['staff'], aliases: ['1001'], allowMd5: true });
    const s = make(new ManualClock());
    const c = await s.lookup('alice', 'palisade', 'SHA-256');
    assert.ok(c);
    assert.equal(c.user, 'alice');
    assert.equal(c.realm, 'palisade');
    assert.deepEqual(c.ha1, { sha256: SHA256, sha512_256: SHA512.toLowerCase(), md5: MD5 });
    assert.deepEqual(c.groups, ['staff']);
    assert.deepEqual(c.aliases, ['1001']);
    assert.equal(c.disabled, false);
    assert.equal(c.allowMd5, true);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.ha1));
    assert.equal(seen.length, 1);
    assert.deepEqual(JSON.parse(seen[0]?.body ?? ''), { username: 'alice', realm: 'palisade' });
    assert.equal(seen[0]?.auth, `Bearer ${TOKEN}`);
    assert.equal(seen[0]?.type, 'application/json');
    assert.equal(s.counters.requests, 1);
    assert.equal(s.counters.failures, 0);
  });

  it('no token configured: no Authorization header', async () => {
    const s = make(new ManualClock(), { noToken: true });
    await s.lookup('alice', 'palisade', 'SHA-256');
    assert.equal(seen[0]?.auth, undefined);
  });

  it('404 is an unknown user, not a failure', async () => {
    handler = (_q, res) => {
      res.writeHead(404);
      res.end('no such user');
    };
    const s = make(new ManualClock());
    assert.equal(await s.lookup('nobody', 'palisade', 'SHA-256'), undefined);
    assert.equal(s.counters.failures, 0);
    assert.equal(s.breakerState(), 'closed');
  });

  it('500 is a failure', async () => {
    handler = (_q, res) => json(res, 500, { error: 'db down' });
    const s = make(new ManualClock());
    await rejectsWith(s.lookup('alice', 'palisade', 'SHA-256'), 'AUTH_BACKEND_STATUS');
    assert.equal(s.counters.failures, 1);
  });

  it('a 200 whose body is not JSON, or not the schema, is a failure', async () => {
    const s = make(new ManualClock(), { failuresToOpen: 100 });
    const bodies: Array<string | Record<string, unknown>> = [
      '{"ha1": ',
      'null',
      { ha1: {} },
      { ha1: { sha256: 'a'.repeat(63) } },
      { ha1: { md5: 'a'.repeat(64) } },
      { ha1: { sha256: 'g'.repeat(64) } },
      { ha1: { sha256: SHA256 }, password: 'x' },
      { ha1: { sha256: SHA256, sha1: 'a'.repeat(40) } },
      { ha1: { sha256: SHA256 }, disabled: 'no' },
      { ha1: { sha256: SHA256 }, groups: [''] },
    ];
    let i = 0;
    for (const b of bodies) {
      handler = (_q, res) => {
        const text = typeof b === 'string' ? b : JSON.stringify(b);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(text);
      };
      await rejectsWith(s.lookup(`u${i++}`, 'palisade', 'SHA-256'), 'AUTH_BACKEND_BAD_BODY');
    }
    assert.equal(s.counters.failures, bodies.length);
  });

  it('a body over 64 KiB is a failure, declared or streamed', async () => {
    const s = make(new ManualClock());
    const big = Buffer.alloc(MAX_BACKEND_BODY_BYTES + 1, 0x20);
    handler = (_q, res) => {
      res.writeHead(200, { 'content-length': big.length });
      res.end(big);
    };
    await rejectsWith(s.lookup('alice', 'palisade', 'SHA-256'), 'AUTH_BACKEND_TOO_LARGE');
    handler = (_q, res) => {
      res.writeHead(200); // chunked, no length
      res.write(big.subarray(0, 40_000));
      res.end(big.subarray(40_000));
    };
    await rejectsWith(s.lookup('bob', 'palisade', 'SHA-256'), 'AUTH_BACKEND_TOO_LARGE');
    assert.equal(s.counters.failures, 2);
  });

  it('a backend that does not answer within the timeout is a failure', async () => {
    handler = hold;
    const clock = new ManualClock();
    const s = make(clock, { timeoutMs: 2000 });
    const p = s.lookup('alice', 'palisade', 'SHA-256');
    await requestsArrived(1);
    clock.advance(1999);
    assert.equal(s.inFlightCount, 1, 'still waiting just before the timeout');
    clock.advance(1);
    await rejectsWith(p, 'AUTH_BACKEND_TIMEOUT');
    assert.equal(s.inFlightCount, 0);
    assert.equal(s.counters.failures, 1);
  });

  it('a refused connection is a failure', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const s = make(new ManualClock(), { url: `http://127.0.0.1:${port}/` });
    await rejectsWith(s.lookup('alice', 'palisade', 'SHA-256'), 'AUTH_BACKEND_IO');
  });

  it('names the users file could not hold are unknown without a request', async () => {
    const s = make(new ManualClock());
    for (const u of ['', 'a b', 'a:b', 'a"b', 'x'.repeat(129), 'a\u0000b'])
      assert.equal(await s.lookup(u, 'palisade', 'SHA-256'), undefined);
    assert.equal(seen.length, 0);
    assert.equal(s.counters.requests, 0);
  });

  it('refuses a URL that is not http(s)', () => {
    assert.throws(() => make(new ManualClock(), { url: 'ftp://127.0.0.1/' }), RangeError);
  });
});

describe('HttpCredentialSource cache and single flight', { timeout: 10_000 }, () => {
  it('caches found and not-found answers for cacheFor, then asks again', async () => {
    const clock = new ManualClock();
    const s = make(clock, { cacheForMs: 60_000 });
    handler = (_q, res, body) => {
      if ((JSON.parse(body) as { username: string }).username === 'alice') json(res, 200, { ha1: { sha256: SHA256 } });
      else {
        res.writeHead(404);
        res.end();
      }
    };
    assert.ok(await s.lookup('alice', 'palisade', 'SHA-256'));
    assert.equal(await s.lookup('ghost', 'palisade', 'SHA-256'), undefined);
    assert.equal(seen.length, 2);
    clock.advance(59_999);
    assert.equal((await s.lookup('alice', 'palisade', 'SHA-256'))?.ha1.sha256, SHA256);
    assert.equal(await s.lookup('ghost', 'palisade', 'SHA-256'), undefined);
    assert.equal(seen.length, 2, 'both answered from the cache');
    assert.equal(s.counters.cacheHits, 2);
    // The realm is part of the key.
    await s.lookup('alice', 'other', 'SHA-256');
    assert.equal(seen.length, 3);
    clock.advance(1);
    await s.lookup('alice', 'palisade', 'SHA-256');
    await s.lookup('ghost', 'palisade', 'SHA-256');
    assert.equal(seen.length, 5, 'expired entries are fetched again');
    assert.equal(s.counters.requests, 5);
  });

  it('failures are not cached; cacheFor 0 caches nothing', async () => {
    const s = make(new ManualClock(), { cacheForMs: 0 });
    handler = (_q, res) => json(res, 503, {});
    await rejectsWith(s.lookup('alice', 'palisade', 'SHA-256'), 'AUTH_BACKEND_STATUS');
    handler = found();
    assert.ok(await s.lookup('alice', 'palisade', 'SHA-256'));
    assert.ok(await s.lookup('alice', 'palisade', 'SHA-256'));
    assert.equal(seen.length, 3);
    assert.equal(s.cacheSize, 0);
  });

  it('the cache is bounded and counts evictions', async () => {
    const s = make(new ManualClock(), { maxCacheEntries: 3 });
    for (const u of ['a1', 'a2', 'a3', 'a4', 'a5']) await s.lookup(u, 'palisade', 'SHA-256');
    assert.equal(s.cacheSize, 3);
    assert.equal(s.counters.cacheEvictions, 2);
    await s.lookup('a1', 'palisade', 'SHA-256');
    assert.equal(seen.length, 6, 'the oldest entry was evicted');
  });

  it('concurrent lookups of one user share one request', async () => {
    handler = hold;
    const s = make(new ManualClock());
    const ps = Array.from({ length: 5 }, () => s.lookup('alice', 'palisade', 'SHA-256'));
    await requestsArrived(1);
    assert.equal(s.inFlightCount, 1);
    json(held[0] as ServerResponse, 200, { ha1: { sha256: SHA256 } });
    const got = await Promise.all(ps);
    assert.equal(seen.length, 1);
    assert.ok(got.every((c) => c === got[0] && c?.user === 'alice'));
    assert.equal(s.counters.requests, 1);
  });

  it('requests in flight are bounded: beyond the bound a lookup fails fast', async () => {
    handler = hold;
    const s = make(new ManualClock(), { maxInFlight: 2 });
    const a = s.lookup('u1', 'palisade', 'SHA-256');
    const b = s.lookup('u2', 'palisade', 'SHA-256');
    await rejectsWith(s.lookup('u3', 'palisade', 'SHA-256'), 'AUTH_BACKEND_BUSY');
    assert.equal(s.counters.rejected, 1);
    await requestsArrived(2);
    for (const r of held) json(r, 200, { ha1: { sha256: SHA256 } });
    await Promise.all([a, b]);
    assert.equal(seen.length, 2);
    assert.equal(s.counters.failures, 0, 'shedding load is not a backend failure');
  });

  it('close() fails requests in flight and later lookups', async () => {
    handler = hold;
    const s = make(new ManualClock());
    const p = s.lookup('alice', 'palisade', 'SHA-256');
    await requestsArrived(1);
    s.close();
    await rejectsWith(p, 'AUTH_BACKEND_CLOSED');
    await rejectsWith(s.lookup('bob', 'palisade', 'SHA-256'), 'AUTH_BACKEND_CLOSED');
    assert.equal(s.counters.failures, 0);
  });
});

describe('HttpCredentialSource circuit breaker', { timeout: 10_000 }, () => {
  it('opens after failuresToOpen consecutive failures, fails fast, half-opens after openFor, closes on success', async () => {
    const clock = new ManualClock();
    const counters = createHttpSourceCounters();
    const s = make(clock, { failuresToOpen: 3, openForMs: 30_000, counters });
    assert.equal(s.counters, counters, 'the counters passed in are the ones counted');
    handler = found();
    await s.lookup('cached', 'palisade', 'SHA-256');
    handler = (_q, res) => json(res, 500, {});
    await rejectsWith(s.lookup('u1', 'palisade', 'SHA-256'), 'AUTH_BACKEND_STATUS');
    handler = found();
    await s.lookup('u2', 'palisade', 'SHA-256'); // a success resets the count
    handler = (_q, res) => json(res, 500, {});
    for (const u of ['u3', 'u4']) await rejectsWith(s.lookup(u, 'palisade', 'SHA-256'), 'AUTH_BACKEND_STATUS');
    assert.equal(s.breakerState(), 'closed');
    const third = await rejectsWith(s.lookup('u5', 'palisade', 'SHA-256'), 'AUTH_BACKEND_STATUS');
    assert.equal(s.breakerState(), 'open');
    assert.equal(counters.breakerOpens, 1);
    assert.equal(third.retryAfterMs, 30_000, 'the failure that opens it suggests waiting openFor');

    const before = seen.length;
    clock.advance(10_000);
    const fast = await rejectsWith(s.lookup('u6', 'palisade', 'SHA-256'), 'AUTH_BACKEND_OPEN');
    assert.equal(fast.retryAfterMs, 20_000);
    assert.equal(seen.length, before, 'no request while open');
    assert.equal(counters.rejected, 1);
    assert.ok(await s.lookup('cached', 'palisade', 'SHA-256'), 'cached users still work while open');

    // Half-open: one trial; it fails → open again for openFor.
    clock.advance(20_000);
    assert.equal(s.breakerState(), 'half-open');
    handler = hold;
    const trial = s.lookup('u7', 'palisade', 'SHA-256');
    await rejectsWith(s.lookup('u8', 'palisade', 'SHA-256'), 'AUTH_BACKEND_OPEN');
    await requestsArrived(before + 1);
    json(held[0] as ServerResponse, 502, {});
    await rejectsWith(trial, 'AUTH_BACKEND_STATUS');
    assert.equal(s.breakerState(), 'open');
    assert.equal(counters.breakerOpens, 2);
    await rejectsWith(s.lookup('u9', 'palisade', 'SHA-256'), 'AUTH_BACKEND_OPEN');

    // Next trial succeeds → closed; lookups go through again.
    clock.advance(30_000);
    handler = found();
    assert.ok(await s.lookup('u10', 'palisade', 'SHA-256'));
    assert.equal(s.breakerState(), 'closed');
    assert.ok(await s.lookup('u11', 'palisade', 'SHA-256'));
    assert.equal(counters.failures, 5);
    assert.equal(seen.length, before + 3);
  });

  it('a 404 counts as the backend answering (closes a half-open breaker)', async () => {
    const clock = new ManualClock();
    const s = make(clock, { failuresToOpen: 1, openForMs: 1000 });
    handler = (_q, res) => json(res, 500, {});
    await rejectsWith(s.lookup('u1', 'palisade', 'SHA-256'), 'AUTH_BACKEND_STATUS');
    assert.equal(s.breakerState(), 'open');
    clock.advance(1000);
    handler = (_q, res) => {
      res.writeHead(404);
      res.end();
    };
    assert.equal(await s.lookup('u2', 'palisade', 'SHA-256'), undefined);
    assert.equal(s.breakerState(), 'closed');
  });

  it('timeouts count toward the breaker', async () => {
    const clock = new ManualClock();
    const s = make(clock, { failuresToOpen: 2, timeoutMs: 500 });
    handler = hold;
    const a = s.lookup('u1', 'palisade', 'SHA-256');
    const b = s.lookup('u2', 'palisade', 'SHA-256');
    await requestsArrived(2);
    clock.advance(500);
    await rejectsWith(a, 'AUTH_BACKEND_TIMEOUT');
    await rejectsWith(b, 'AUTH_BACKEND_TIMEOUT');
    assert.equal(s.breakerState(), 'open');
    assert.equal(s.counters.breakerOpens, 1);
  });
});

describe('parseBackendAnswer', () => {
  it('never throws and refuses anything but the documented shape', () => {
    for (const body of ['', '[]', '1', '"x"', '{"ha1":null}', '{"ha1":{"sha256":1}}', '\u0000', '{'.repeat(10_000)]) {
      assert.equal(parseBackendAnswer(body, 'u', 'r'), undefined, body.slice(0, 20));
    }
    const c = parseBackendAnswer(JSON.stringify({ ha1: { md5: MD5.toUpperCase() }, disabled: true }), 'u', 'r');
    assert.deepEqual(c, { user: 'u', realm: 'r', ha1: { md5: MD5 }, groups: [], aliases: [], disabled: true, allowMd5: false });
  });
});

describe('auth stage with an asynchronous source', { timeout: 10_000 }, () => {
  const secret = new Uint8Array(32).fill(7);
  const realm = 'palisade';
  const wall = 1_800_000_000_000;
  const addr = '127.0.0.9';

  function setup(lookupAsync: NonNullable<CredentialLookup['lookupAsync']>) {
    const offences: string[] = [];
    const counters = createAuthCounters();
    const stage = createAuthStage({
      realm,
      secrets: [secret],
      nonceTtlMs: 300_000,
      nonceCounts: new NonceCountTracker(),
      credentials: () => ({ lookupSync: () => undefined, lookupAsync }),
      md5AllowedFor: () => false,
      offerMd5: () => false,
      trustedPeer: () => undefined,
      isForUs: () => false,
      wallNow: () => wall,
      offence: (_a, kind) => offences.push(kind),
      counters,
    });
    return { stage, offences, counters };
  }

  function ctx(nonce: string, password: string): StageContext {
    const uri = 'sip:127.0.0.1:5060';
    const ha1 = computeAllHa1('alice', realm, password).sha256;
    const response = computeResponse({
      algorithm: 'SHA-256',
      ha1,
      nonce,
      method: 'REGISTER',
      uri,
      qop: 'auth',
      nc: '00000001',
      cnonce: 'ab',
    });
    const text = [
      `REGISTER ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${addr}:5062;branch=z9hG4bK1`,
      'Max-Forwards: 70',
      'From: <sip:alice@127.0.0.1>;tag=1',
      'To: <sip:alice@127.0.0.1>',
      'Call-ID: c1',
      'CSeq: 1 REGISTER',
      `Authorization: Digest username="alice", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="ab"`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    const parsed = parseMessage(Buffer.from(text));
    assert.ok(parsed.ok);
    const source: Source = {
      transport: 'udp',
      address: addr,
      port: 5062,
      listenerId: 'pub',
      localAddress: '127.0.0.1',
      localPort: 5060,
      connectionId: undefined,
      tls: undefined,
      receivedAt: 0,
    };
    return { msg: parsed.value, source, side: 'public', now: 0, facts: {} };
  }

  const goodNonce = (): string => createNonce({ secret, realm, source: addr, nowMs: wall });

  it('a lookup that cannot tell answers 503 with Retry-After and counts no offence', async () => {
    const { stage, offences, counters } = setup(() => Promise.reject(new CredentialBackendError('AUTH_BACKEND_OPEN', 12_300)));
    const v = await stage.run(ctx(goodNonce(), 'pw'));
    assert.deepEqual(v, { kind: 'reply', status: 503, reason: 'Service Unavailable', headers: [['Retry-After', '13']] });
    assert.deepEqual(offences, []);
    assert.equal(counters.unavailable, 1);
    assert.equal(counters.failures.unknown_user, 0);
  });

  it('found → continue; not found → challenge and an unknown_user offence', async () => {
    const cred = parseBackendAnswer(JSON.stringify({ ha1: computeAllHa1('alice', realm, 'pw') }), 'alice', realm);
    const found = setup(() => Promise.resolve(cred));
    const c = ctx(goodNonce(), 'pw');
    assert.deepEqual(await found.stage.run(c), { kind: 'continue' });
    assert.equal(c.facts.user, 'alice');
    const missing = setup(() => Promise.resolve(undefined));
    const v = await missing.stage.run(ctx(goodNonce(), 'pw'));
    assert.equal(v.kind, 'challenge');
    assert.deepEqual(missing.offences, ['unknown_user']);
  });

  it('a nonce we did not issue to this source costs no lookup', async () => {
    let lookups = 0;
    const { stage } = setup(() => {
      lookups++;
      return Promise.resolve(undefined);
    });
    const forged = createNonce({ secret: new Uint8Array(32).fill(9), realm, source: addr, nowMs: wall });
    const v = await stage.run(ctx(forged, 'pw'));
    assert.equal(v.kind, 'challenge');
    assert.equal(lookups, 0);
  });
});
