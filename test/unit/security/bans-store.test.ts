import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import type { BanStoreIssue } from '../../../src/security/ban-store.ts';
import { createBanStore } from '../../../src/security/ban-store.ts';
import type { BanInfo } from '../../../src/security/bans.ts';
import { createBanManager } from '../../../src/security/bans.ts';
import { CidrSet } from '../../../src/security/cidr.ts';
import { tempDirs } from '../helpers/temp-dirs.ts';

const HOUR = 3_600_000;
const freshDir = tempDirs('palisade-bans-');

function manager(clock: ManualClock) {
  return createBanManager({
    clock,
    findTimeMs: 600_000,
    maxRetry: 3,
    banTimeMs: HOUR,
    factor: 2,
    maxBanTimeMs: 8 * HOUR,
    allow: new CidrSet([]),
    maxTracked: 100,
    sweepIntervalMs: 0,
  });
}

function entry(over: Partial<BanInfo>, clock: ManualClock): BanInfo {
  return {
    target: '203.0.113.1',
    kind: 'address',
    reason: 'r',
    source: 'manual',
    bannedAt: clock.wallNow(),
    expiresAt: clock.wallNow() + HOUR,
    firstOffenceAt: null,
    lastOffenceAt: null,
    count: 0,
    repeat: 0,
    ...over,
  };
}

describe('ban store', () => {
  it('round trip: bans written atomically with mode 0600 come back into a new process', async () => {
    const dir = await freshDir();
    const clock = new ManualClock(0);
    const m = manager(clock);
    const store = createBanStore({ dir, clock, snapshot: () => m.list() });
    for (let i = 0; i < 3; i++) m.offence('203.0.113.7', 'auth_failure', 'alice');
    m.ban('198.51.100.0/24', { reason: 'abuse desk ticket 42', forMs: 2 * HOUR });
    m.ban('2001:db8::5', { reason: 'forever' });
    const w = await store.flush(true);
    assert.ok(w.ok);
    const s = await stat(store.path);
    assert.equal(s.mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ['bans.json'], 'no temp file left behind');
    const doc = JSON.parse(await readFile(store.path, 'utf8')) as { version: number; bans: BanInfo[] };
    assert.equal(doc.version, 1);
    assert.equal(doc.bans.length, 3);

    // Restart 20 minutes later (wall), monotonic time from zero.
    const clock2 = new ManualClock(0, clock.wallNow() + 20 * 60_000);
    const m2 = manager(clock2);
    const loaded = await createBanStore({ dir, clock: clock2, snapshot: () => m2.list() }).load();
    assert.deepEqual(loaded.issues, []);
    assert.equal(loaded.expired, 0);
    assert.deepEqual(loaded.bans.map((b) => b.target).sort(), ['198.51.100.0/24', '2001:db8::5', '203.0.113.7']);
    assert.deepEqual(loaded.bans, m.list());
    assert.equal(m2.restore(loaded.bans), 3);
    assert.equal(m2.isBanned('203.0.113.7'), true);
    assert.equal(m2.isBanned('198.51.100.200'), true);
    assert.equal(m2.isBanned('2001:db8::5'), true);
    clock2.advance(40 * 60_000);
    assert.equal(m2.isBanned('203.0.113.7'), false, 'the one-hour auto ban ended at its wall-clock time');
    assert.equal(m2.isBanned('198.51.100.200'), true);
  });

  it('writes are debounced: a burst of changes is one write', async () => {
    const dir = await freshDir();
    const clock = new ManualClock(0);
    const m = manager(clock);
    const store = createBanStore({ dir, clock, debounceMs: 500, snapshot: () => m.list() });
    for (let i = 1; i <= 5; i++) {
      m.ban(`192.0.2.${i}`, { reason: 'r' });
      store.schedule();
    }
    clock.advance(499);
    await store.idle();
    assert.equal(existsSync(store.path), false);
    clock.advance(1);
    await store.idle();
    assert.equal(store.stats().writes, 1);
    const doc = JSON.parse(await readFile(store.path, 'utf8')) as { bans: unknown[] };
    assert.equal(doc.bans.length, 5);
    // Nothing pending: flush does not write again; close flushes what is pending.
    assert.ok((await store.flush()).ok);
    assert.equal(store.stats().writes, 1);
    m.unban('192.0.2.1');
    store.schedule();
    await store.close();
    assert.equal(store.stats().writes, 2);
    const doc2 = JSON.parse(await readFile(store.path, 'utf8')) as { bans: unknown[] };
    assert.equal(doc2.bans.length, 4);
    assert.equal(clock.pendingTimers(), 0);
  });

  it('a change during a write in flight is written afterwards, not lost', async () => {
    const dir = await freshDir();
    const clock = new ManualClock(0);
    const m = manager(clock);
    const store = createBanStore({ dir, clock, debounceMs: 100, snapshot: () => m.list() });
    m.ban('192.0.2.1', { reason: 'first' });
    store.schedule();
    clock.advance(100); // the write starts now and is in flight
    m.ban('192.0.2.2', { reason: 'second' });
    store.schedule();
    await store.idle();
    assert.equal(store.stats().writes, 1);
    clock.advance(100);
    await store.idle();
    assert.equal(store.stats().writes, 2);
    const doc = JSON.parse(await readFile(store.path, 'utf8')) as { bans: BanInfo[] };
    assert.deepEqual(doc.bans.map((b) => b.target).sort(), ['192.0.2.1', '192.0.2.2']);
  });

  it('a missing file is an empty start without issues', async () => {
    const dir = await freshDir();
    const r = await createBanStore({ dir, clock: new ManualClock(), snapshot: () => [] }).load();
    assert.deepEqual(r, { bans: [], expired: 0, issues: [] });
  });

  const badFiles: Array<[string, string]> = [
    ['garbage', 'this is not json \u0000\u00ff'],
    ['truncated', '{"version":1,"savedAt":1,"bans":[{"target":"203.0.113.1","kind":"addr'],
    ['wrong version', '{"version":2,"bans":[]}'],
    ['bans not an array', '{"version":1,"bans":{}}'],
    ['empty', ''],
  ];
  for (const [name, text] of badFiles) {
    it(`a corrupt file (${name}) is moved aside and reported, never thrown`, async () => {
      const dir = await freshDir();
      const clock = new ManualClock(0, 1_750_000_000_000);
      await writeFile(join(dir, 'bans.json'), text);
      const r = await createBanStore({ dir, clock, snapshot: () => [] }).load();
      assert.deepEqual(r.bans, []);
      assert.equal(r.issues.length, 1);
      const issue = r.issues[0] as BanStoreIssue;
      assert.equal(issue.code, 'BAN_STORE_CORRUPT');
      assert.equal(issue.movedTo, join(dir, 'bans.json.corrupt-1750000000000'));
      assert.equal(existsSync(join(dir, 'bans.json')), false);
      assert.equal(await readFile(issue.movedTo as string, 'utf8'), text, 'kept byte for byte for a human');
    });
  }

  it('a truncated real file (a valid write cut short) is moved aside', async () => {
    const dir = await freshDir();
    const clock = new ManualClock(0);
    const m = manager(clock);
    const store = createBanStore({ dir, clock, snapshot: () => m.list() });
    for (let i = 1; i <= 10; i++) m.ban(`192.0.2.${i}`, { reason: `r${i}` });
    assert.ok((await store.flush(true)).ok);
    const full = await readFile(store.path);
    await writeFile(store.path, full.subarray(0, Math.floor(full.length / 2)));
    const r = await store.load();
    assert.equal(r.issues[0]?.code, 'BAN_STORE_CORRUPT');
    assert.deepEqual(r.bans, []);
    // The next write recreates a good file.
    assert.ok((await store.flush(true)).ok);
    assert.equal((await store.load()).bans.length, 10);
  });

  it('an unreadable path (a directory) is moved aside and reported', async () => {
    const dir = await freshDir();
    await mkdir(join(dir, 'bans.json'));
    const r = await createBanStore({ dir, clock: new ManualClock(0, 1_760_000_000_000), snapshot: () => [] }).load();
    assert.equal(r.issues[0]?.code, 'BAN_STORE_UNREADABLE');
    assert.equal(r.issues[0]?.movedTo, join(dir, 'bans.json.corrupt-1760000000000'));
    assert.equal((await stat(join(dir, 'bans.json.corrupt-1760000000000'))).isDirectory(), true);
  });

  it('expired entries are dropped, invalid entries skipped with one issue, good ones kept', async () => {
    const dir = await freshDir();
    const clock = new ManualClock(0);
    const good = entry({ target: '203.0.113.1' }, clock);
    const forever = entry({ target: '2001:db8::1', expiresAt: null }, clock);
    const expired = entry({ target: '203.0.113.2', expiresAt: clock.wallNow() - 1 }, clock);
    const invalid = [
      { ...good, target: 'not-an-ip' },
      { ...good, kind: 'cidr' },
      { ...good, count: -1 },
      { ...good, expiresAt: 'tomorrow' },
      { ...good, source: 'robot' },
      null,
      42,
    ];
    await writeFile(join(dir, 'bans.json'), JSON.stringify({ version: 1, savedAt: 0, bans: [good, expired, forever, ...invalid] }));
    const r = await createBanStore({ dir, clock, snapshot: () => [] }).load();
    assert.deepEqual(r.bans, [good, forever]);
    assert.equal(r.expired, 1);
    assert.deepEqual(
      r.issues.map((i) => [i.code, i.detail]),
      [['BAN_STORE_ENTRIES_SKIPPED', '7 invalid entries skipped']],
    );
    assert.equal(existsSync(join(dir, 'bans.json')), true, 'a file with some bad entries is not moved');
  });

  it('a failed write returns an issue and calls onIssue; nothing throws', async () => {
    const dir = await freshDir();
    const clock = new ManualClock(0);
    const issues: BanStoreIssue[] = [];
    const store = createBanStore({
      dir: join(dir, 'missing', 'deeper'),
      clock,
      snapshot: () => [entry({}, clock)],
      onIssue: (i) => issues.push(i),
    });
    store.schedule();
    clock.advance(1_000);
    await store.idle();
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.code, 'BAN_STORE_WRITE');
    assert.equal(issues[0]?.detail, 'ENOENT');
    const r = await store.flush(true);
    assert.equal(r.ok ? undefined : r.error.code, 'BAN_STORE_WRITE');
    assert.equal(store.stats().writeErrors, 2);
  });
});
