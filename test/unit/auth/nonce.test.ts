import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createNonce,
  DEFAULT_NONCE_TTL_MS,
  NC_WINDOW,
  NONCE_LENGTH,
  NonceCountTracker,
  nonceIssuedAt,
  verifyNonce,
} from '../../../src/auth/nonce.ts';
import { ManualClock } from '../../../src/core/clock.ts';

const secret = Buffer.alloc(32, 7);
const other = Buffer.alloc(32, 9);

describe('stateless nonces', () => {
  it('ok within the lifetime, stale after it, with a ManualClock', () => {
    const clock = new ManualClock();
    const nonce = createNonce({ secret, realm: 'palisade', source: '127.0.0.1', nowMs: clock.wallNow() });
    assert.equal(nonce.length, NONCE_LENGTH);
    assert.match(nonce, /^[A-Za-z0-9_-]+$/);
    const v = () => verifyNonce(nonce, { secrets: [secret], realm: 'palisade', source: '127.0.0.1', nowMs: clock.wallNow() });
    assert.equal(v(), 'ok');
    clock.advance(DEFAULT_NONCE_TTL_MS);
    assert.equal(v(), 'ok');
    clock.advance(1);
    assert.equal(v(), 'stale');
    assert.equal(nonceIssuedAt(nonce), 1_700_000_000_000);
  });

  it('honours a custom ttl', () => {
    const clock = new ManualClock();
    const nonce = createNonce({ secret, realm: 'r', source: '::1', nowMs: clock.wallNow() });
    clock.advance(31_000);
    assert.equal(verifyNonce(nonce, { secrets: [secret], realm: 'r', source: '::1', nowMs: clock.wallNow(), ttlMs: 30_000 }), 'stale');
  });

  it('invalid for another secret, realm or source', () => {
    const now = 1_700_000_000_000;
    const nonce = createNonce({ secret, realm: 'r', source: '127.0.0.1', nowMs: now });
    const base = { secrets: [secret], realm: 'r', source: '127.0.0.1', nowMs: now };
    assert.equal(verifyNonce(nonce, { ...base, secrets: [other] }), 'invalid');
    assert.equal(verifyNonce(nonce, { ...base, realm: 'r2' }), 'invalid');
    assert.equal(verifyNonce(nonce, { ...base, source: '127.0.0.2' }), 'invalid');
    // realm/source boundary cannot be shifted.
    const n2 = createNonce({ secret, realm: 'ab', source: 'c', nowMs: now });
    assert.equal(verifyNonce(n2, { ...base, realm: 'a', source: 'bc' }), 'invalid');
    // A rotated-out secret is still accepted while listed.
    assert.equal(verifyNonce(nonce, { ...base, secrets: [other, secret] }), 'ok');
  });

  it('invalid when tampered, truncated, non-canonical, from the future or not a string', () => {
    const now = 1_700_000_000_000;
    const nonce = createNonce({ secret, realm: 'r', source: 's', nowMs: now });
    const base = { secrets: [secret], realm: 'r', source: 's', nowMs: now };
    const flip = (i: number) => nonce.slice(0, i) + (nonce[i] === 'A' ? 'B' : 'A') + nonce.slice(i + 1);
    assert.equal(verifyNonce(flip(3), base), 'invalid');
    assert.equal(verifyNonce(flip(30), base), 'invalid');
    assert.equal(verifyNonce(nonce.slice(0, -1), base), 'invalid');
    assert.equal(verifyNonce(`${nonce}A`, base), 'invalid');
    assert.equal(verifyNonce('', base), 'invalid');
    assert.equal(verifyNonce(nonce.replace(/.$/, '+'), base), 'invalid');
    assert.equal(verifyNonce(undefined, base), 'invalid');
    // Another last character (here: a neighbour in the alphabet) is another nonce, refused.
    const last = nonce.at(-1) ?? 'A';
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const idx = alphabet.indexOf(last);
    const sibling = alphabet[(idx & ~3) | ((idx + 1) & 3)] ?? 'A';
    assert.equal(verifyNonce(nonce.slice(0, -1) + sibling, base), 'invalid');
    const future = createNonce({ secret, realm: 'r', source: 's', nowMs: now + 60_000 });
    assert.equal(verifyNonce(future, base), 'invalid');
  });
});

describe('one nonce per challenge', () => {
  it('two challenges to one address in the same millisecond get different nonces, each with its own nonce count', () => {
    const now = 1_700_000_000_000;
    const input = { secret, realm: 'palisade', source: '203.0.113.5', nowMs: now };
    const issued = new Set(Array.from({ length: 1000 }, () => createNonce(input)));
    assert.equal(issued.size, 1000);
    const [a, b] = [...issued] as [string, string];
    const base = { secrets: [secret], realm: 'palisade', source: '203.0.113.5', nowMs: now };
    assert.equal(verifyNonce(a, base), 'ok');
    assert.equal(verifyNonce(b, base), 'ok');
    assert.equal(nonceIssuedAt(a), now);
    // Two phones behind one NAT both answer with nc=00000001: neither is a replay.
    const t = new NonceCountTracker(10);
    assert.equal(t.check(a, now, 1), 'ok');
    assert.equal(t.check(b, now, 1), 'ok');
    assert.equal(t.check(b, now, 1), 'replay');
  });
});

describe('NonceCountTracker', () => {
  it('accepts increasing nc and refuses a replayed one', () => {
    const t = new NonceCountTracker(10);
    assert.equal(t.check('n', 0, 1), 'ok');
    assert.equal(t.check('n', 0, 2), 'ok');
    assert.equal(t.check('n', 0, 2), 'replay');
    assert.equal(t.check('n', 0, 1), 'replay');
    assert.equal(t.check('n', 0, 5), 'ok');
    assert.equal(t.check('n', 0, 5), 'replay');
    // Separate nonces keep separate counts.
    assert.equal(t.check('m', 0, 1), 'ok');
  });

  it('accepts out-of-order nc within the window exactly once', () => {
    const t = new NonceCountTracker(10);
    assert.equal(t.check('n', 0, 40), 'ok');
    assert.equal(t.check('n', 0, 38), 'ok');
    assert.equal(t.check('n', 0, 38), 'replay');
    assert.equal(t.check('n', 0, 39), 'ok');
    assert.equal(t.check('n', 0, 39), 'replay');
    assert.equal(t.check('n', 0, 40 - (NC_WINDOW - 1)), 'ok', 'oldest slot of the window');
    assert.equal(t.check('n', 0, 40 - (NC_WINDOW - 1)), 'replay');
    assert.equal(t.check('n', 0, 40 - NC_WINDOW), 'replay', 'outside the window');
    // Moving the top keeps earlier bits.
    assert.equal(t.check('n', 0, 42), 'ok');
    assert.equal(t.check('n', 0, 38), 'replay');
    assert.equal(t.check('n', 0, 41), 'ok');
    assert.equal(t.check('n', 0, 37), 'ok');
    // A jump wider than the window forgets everything below it.
    assert.equal(t.check('n', 0, 42 + 100), 'ok');
    assert.equal(t.check('n', 0, 42), 'replay');
    assert.equal(t.check('n', 0, 141), 'ok');
    assert.equal(t.check('n', 0, 141), 'replay');
  });

  it('refuses nc outside 1..2^32-1', () => {
    const t = new NonceCountTracker(10);
    assert.equal(t.check('n', 0, 0), 'replay');
    assert.equal(t.check('n', 0, 2 ** 32), 'replay');
    assert.equal(t.check('n', 0, 0xffffffff), 'ok');
  });

  it('is bounded, counts evictions, and answers stale for forgotten nonces instead of reopening them', () => {
    const t = new NonceCountTracker(3);
    assert.equal(t.check('a', 100, 1), 'ok');
    assert.equal(t.check('b', 200, 1), 'ok');
    assert.equal(t.check('c', 300, 1), 'ok');
    assert.equal(t.check('d', 400, 1), 'ok');
    assert.equal(t.size, 3);
    assert.equal(t.evictions, 1);
    // 'a' was forgotten: its replay must not be accepted.
    assert.equal(t.check('a', 100, 1), 'stale');
    // An unseen nonce issued before the forgotten one is stale too; a newer one is fine.
    assert.equal(t.check('z', 50, 1), 'stale');
    assert.equal(t.check('e', 500, 1), 'ok');
  });

  it('sweep drops expired entries', () => {
    const t = new NonceCountTracker(10);
    t.check('a', 0, 1);
    t.check('b', 1000, 1);
    assert.equal(t.sweep(1500, 1000), 1);
    assert.equal(t.size, 1);
  });
});
