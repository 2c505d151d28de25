import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import type { Logger } from '../../../src/core/log.ts';
import {
  createFraudBlockStore,
  type FraudBlock,
  type FraudBlockIssue,
  openFraudBlockStore,
  parseFraudBlockEntry,
} from '../../../src/daemon/fraud-block-store.ts';
import { createAnomalyDetector } from '../../../src/policy/anomaly.ts';
import { tempDirs } from '../helpers/temp-dirs.ts';

const HOUR = 3_600_000;
const freshDir = tempDirs('palisade-fraud-blocks-');

/** A detector with no rules: blocks come from restoreBlock only, which is all the store needs. */
function detector(onBlocksChanged?: () => void) {
  return createAnomalyDetector({}, onBlocksChanged === undefined ? {} : { onBlocksChanged });
}

function recordingLogger(): { logger: Logger; lines: Array<[string, Record<string, unknown>, string]> } {
  const lines: Array<[string, Record<string, unknown>, string]> = [];
  const logger: Logger = {
    debug: (f, m) => lines.push(['debug', f, m]),
    info: (f, m) => lines.push(['info', f, m]),
    warn: (f, m) => lines.push(['warn', f, m]),
    error: (f, m) => lines.push(['error', f, m]),
    child: () => logger,
  };
  return { logger, lines };
}

describe('fraud block store', () => {
  it('round trip: blocks written atomically with mode 0600 come back into a new detector after a restart', async () => {
    const dir = await freshDir();
    const clock = new ManualClock(0);
    const now = clock.wallNow();
    const det = detector();
    det.restoreBlock('user:mallory', now + HOUR);
    det.restoreBlock('trunk:sbc1', now + 2 * HOUR);
    const store = createFraudBlockStore({ dir, clock, snapshot: () => det.blocks(clock.wallNow()) });
    assert.ok((await store.flush(true)).ok);
    assert.equal((await stat(store.path)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ['fraud-blocks.json'], 'no temp file left behind');
    const doc = JSON.parse(await readFile(store.path, 'utf8')) as { version: number; savedAt: number; blocks: FraudBlock[] };
    assert.equal(doc.version, 1);
    assert.equal(doc.savedAt, now);
    assert.deepEqual(doc.blocks, [
      { subject: 'user:mallory', until: now + HOUR },
      { subject: 'trunk:sbc1', until: now + 2 * HOUR },
    ]);

    // Restart 20 minutes later (wall), monotonic time from zero.
    const clock2 = new ManualClock(0, now + 20 * 60_000);
    const det2 = detector();
    const { logger, lines } = recordingLogger();
    await openFraudBlockStore({ dir, clock: clock2, snapshot: () => det2.blocks(clock2.wallNow()), logger, into: det2 });
    assert.deepEqual(det2.blocks(clock2.wallNow()), det.blocks(now));
    assert.equal(det2.blockedUntil('user:mallory', clock2.wallNow()), now + HOUR);
    assert.deepEqual(
      lines.map(([level, fields, msg]) => [level, fields, msg]),
      [['info', { blocks: 2, expired: 0 }, 'fraud blocks restored']],
    );
  });

  it('the detector reports every change: a write follows a block added, lifted and expired ones dropped', async () => {
    const dir = await freshDir();
    const clock = new ManualClock(0);
    const t = clock.wallNow();
    let store: ReturnType<typeof createFraudBlockStore> | undefined;
    let changes = 0;
    const det = detector(() => {
      changes++;
      store?.schedule();
    });
    store = createFraudBlockStore({ dir, clock, debounceMs: 100, snapshot: () => det.blocks(clock.wallNow()) });
    const written = async (): Promise<FraudBlock[]> => {
      clock.advance(100);
      await store?.idle();
      return (JSON.parse(await readFile(store?.path as string, 'utf8')) as { blocks: FraudBlock[] }).blocks;
    };
    det.restoreBlock('user:a', t + 1_000);
    det.restoreBlock('user:b', t + HOUR);
    assert.equal(changes, 0, 'a restore is what the file holds already: no write');
    assert.equal(det.unblock('user:b'), true);
    assert.equal(changes, 1);
    assert.deepEqual(await written(), [{ subject: 'user:a', until: t + 1_000 }]);
    clock.advance(1_000); // user:a has expired; blocks() drops it and says so
    assert.deepEqual(det.blocks(clock.wallNow()), []);
    assert.equal(changes, 2);
    assert.deepEqual(await written(), []);
    assert.equal(det.unblock('user:nobody'), false);
    assert.equal(changes, 2, 'lifting nothing changes nothing');
    await store.close();
    assert.equal(clock.pendingTimers(), 0);
  });

  it('expired entries are dropped and counted; a missing file is an empty start without issues', async () => {
    const dir = await freshDir();
    const clock = new ManualClock(0);
    const now = clock.wallNow();
    const empty = await createFraudBlockStore({ dir, clock, snapshot: () => [] }).load();
    assert.deepEqual(empty, { blocks: [], expired: 0, issues: [] });
    await writeFile(
      join(dir, 'fraud-blocks.json'),
      JSON.stringify({
        version: 1,
        savedAt: now - HOUR,
        blocks: [
          { subject: 'user:gone', until: now - 1 },
          { subject: 'user:now', until: now },
          { subject: 'user:kept', until: now + 1 },
        ],
      }),
    );
    const r = await createFraudBlockStore({ dir, clock, snapshot: () => [] }).load();
    assert.deepEqual(r, { blocks: [{ subject: 'user:kept', until: now + 1 }], expired: 2, issues: [] });
  });

  const badFiles: Array<[string, string]> = [
    ['garbage', 'this is not json \u0000\u00ff'],
    ['truncated', '{"version":1,"savedAt":1,"blocks":[{"subject":"user:mal'],
    ['wrong version', '{"version":2,"blocks":[]}'],
    ['blocks not an array', '{"version":1,"blocks":{"user:alice":1}}'],
    ['a bans file', '{"version":1,"savedAt":1,"bans":[]}'],
    ['an array', '[]'],
    ['empty', ''],
  ];
  for (const [name, text] of badFiles) {
    it(`a corrupt file (${name}) is moved aside and reported as an error, never thrown`, async () => {
      const dir = await freshDir();
      const clock = new ManualClock(0, 1_750_000_000_000);
      await writeFile(join(dir, 'fraud-blocks.json'), text);
      const det = detector();
      const { logger, lines } = recordingLogger();
      const store = await openFraudBlockStore({ dir, clock, snapshot: () => det.blocks(clock.wallNow()), logger, into: det });
      const movedTo = join(dir, 'fraud-blocks.json.corrupt-1750000000000');
      assert.equal(lines.length, 1);
      const [level, fields] = lines[0] as [string, Record<string, unknown>, string];
      assert.equal(level, 'error');
      assert.deepEqual(fields, { code: 'FRAUD_BLOCKS_CORRUPT', path: store.path, movedTo });
      assert.equal(existsSync(store.path), false);
      assert.equal(await readFile(movedTo, 'utf8'), text, 'kept byte for byte for a human');
      assert.deepEqual(det.blocks(clock.wallNow()), []);
      // The next write recreates a good file.
      det.restoreBlock('user:alice', clock.wallNow() + HOUR);
      assert.ok((await store.flush(true)).ok);
      assert.equal((await createFraudBlockStore({ dir, clock, snapshot: () => [] }).load()).blocks.length, 1);
    });
  }

  it('an unreadable path (a directory) is moved aside and reported', async () => {
    const dir = await freshDir();
    await mkdir(join(dir, 'fraud-blocks.json'));
    const r = await createFraudBlockStore({ dir, clock: new ManualClock(0, 1_760_000_000_000), snapshot: () => [] }).load();
    assert.equal(r.issues[0]?.code, 'FRAUD_BLOCKS_UNREADABLE');
    assert.equal(r.issues[0]?.movedTo, join(dir, 'fraud-blocks.json.corrupt-1760000000000'));
    assert.equal((await stat(join(dir, 'fraud-blocks.json.corrupt-1760000000000'))).isDirectory(), true);
  });

  it('a file larger than maxBytes is moved aside unread', async () => {
    const dir = await freshDir();
    await writeFile(join(dir, 'fraud-blocks.json'), JSON.stringify({ version: 1, savedAt: 0, blocks: [], pad: 'x'.repeat(2000) }));
    const r = await createFraudBlockStore({ dir, clock: new ManualClock(0), snapshot: () => [], maxBytes: 1000 }).load();
    assert.deepEqual(
      r.issues.map((i) => [i.code, i.detail]),
      [['FRAUD_BLOCKS_CORRUPT', 'file larger than 1000 bytes']],
    );
  });

  it('a hand-edited file: bad entries skipped and reported at warn, good ones restored, the daemon goes on', async () => {
    const dir = await freshDir();
    const clock = new ManualClock(0);
    const now = clock.wallNow();
    const good = { subject: 'user:alice', until: now + HOUR };
    const trunk = { subject: 'trunk:sbc1.example', until: now + HOUR, rule: 'sequential', note: 'extra fields are ignored' };
    const invalid: unknown[] = [
      { subject: 'alice', until: now + HOUR }, // not the detector's form (the CLI adds user:, the file must not need to)
      { subject: ' user:bob', until: now + HOUR },
      { subject: 'user:', until: now + HOUR },
      { subject: 'user:has space', until: now + HOUR },
      { subject: 'user:quo"te', until: now + HOUR },
      { subject: 'peer:x', until: now + HOUR },
      { subject: 'anonymous', until: now + HOUR },
      { subject: `user:${'a'.repeat(200)}`, until: now + HOUR },
      { subject: 'trunk:-bad', until: now + HOUR },
      { subject: 42, until: now + HOUR },
      { until: now + HOUR },
      { subject: 'user:carol' },
      { subject: 'user:carol', until: 'tomorrow' },
      { subject: 'user:carol', until: -1 },
      { subject: 'user:carol', until: 1e300 },
      { subject: 'user:carol', until: null },
      null,
      'user:carol',
      [good.subject, good.until],
    ];
    await writeFile(join(dir, 'fraud-blocks.json'), JSON.stringify({ version: 1, savedAt: 0, blocks: [good, ...invalid, trunk] }));
    const det = detector();
    const { logger, lines } = recordingLogger();
    const store = await openFraudBlockStore({ dir, clock, snapshot: () => det.blocks(clock.wallNow()), logger, into: det });
    assert.deepEqual(det.blocks(now), [
      { subject: 'trunk:sbc1.example', until: now + HOUR },
      { subject: 'user:alice', until: now + HOUR },
    ]);
    assert.deepEqual(lines[0], [
      'warn',
      { code: 'FRAUD_BLOCKS_ENTRIES_SKIPPED', path: store.path },
      `${invalid.length} invalid entries skipped`,
    ]);
    assert.equal(lines[1]?.[0], 'info');
    assert.equal(existsSync(store.path), true, 'a file with some bad entries is not moved');
  });

  it('entries are bounded: past maxEntries subjects the rest are skipped and reported; a repeated subject keeps its latest expiry', async () => {
    const dir = await freshDir();
    const clock = new ManualClock(0);
    const now = clock.wallNow();
    const blocks = [
      { subject: 'user:u0', until: now + 1_000 },
      { subject: 'user:u0', until: now + 5_000 },
      { subject: 'user:u0', until: now + 2_000 },
    ];
    for (let i = 1; i < 10; i++) blocks.push({ subject: `user:u${i}`, until: now + HOUR });
    await writeFile(join(dir, 'fraud-blocks.json'), JSON.stringify({ version: 1, savedAt: 0, blocks: [...blocks, { subject: 'x' }] }));
    const r = await createFraudBlockStore({ dir, clock, snapshot: () => [], maxEntries: 4 }).load();
    assert.deepEqual(r.blocks, [
      { subject: 'user:u0', until: now + 5_000 },
      { subject: 'user:u1', until: now + HOUR },
      { subject: 'user:u2', until: now + HOUR },
      { subject: 'user:u3', until: now + HOUR },
    ]);
    assert.deepEqual(
      r.issues.map((i) => [i.code, i.detail]),
      [['FRAUD_BLOCKS_ENTRIES_SKIPPED', '1 invalid entries skipped; 6 entries beyond the bound of 4 skipped']],
    );
  });

  it('a failed write returns an issue and calls onIssue; nothing throws', async () => {
    const dir = await freshDir();
    const clock = new ManualClock(0);
    const issues: FraudBlockIssue[] = [];
    const store = createFraudBlockStore({
      dir: join(dir, 'missing'),
      clock,
      snapshot: () => [{ subject: 'user:alice', until: clock.wallNow() + HOUR }],
      onIssue: (i) => issues.push(i),
    });
    store.schedule();
    clock.advance(1_000);
    await store.idle();
    assert.deepEqual(
      issues.map((i) => [i.code, i.detail]),
      [['FRAUD_BLOCKS_WRITE', 'ENOENT']],
    );
    const r = await store.flush(true);
    assert.equal(r.ok ? undefined : r.error.code, 'FRAUD_BLOCKS_WRITE');
    assert.deepEqual(store.stats(), { writes: 0, writeErrors: 2 });
  });

  it('parseFraudBlockEntry keeps only subject and until', () => {
    assert.deepEqual(parseFraudBlockEntry({ subject: 'trunk:sbc1', until: 5, rule: 'baseline' }), { subject: 'trunk:sbc1', until: 5 });
    assert.equal(parseFraudBlockEntry({ subject: 'trunk:sbc1', until: Number.NaN }), undefined);
    assert.equal(parseFraudBlockEntry(undefined), undefined);
  });
});
