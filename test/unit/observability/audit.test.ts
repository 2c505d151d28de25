import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import type { Logger } from '../../../src/core/log.ts';
import { auditRecord, banAuditHooks, cleanAuditText, createAuditLog } from '../../../src/observability/audit.ts';
import { AllowList } from '../../../src/security/allow-list.ts';
import { createBanManager } from '../../../src/security/bans.ts';

interface Logged {
  level: string;
  fields: Record<string, unknown>;
  msg: string;
}

function recordingLogger(into: Logged[]): Logger {
  const at =
    (level: string) =>
    (fields: Record<string, unknown>, msg: string): void => {
      into.push({ level, fields, msg });
    };
  const l: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => l };
  return l;
}

function readLines(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'palisade-audit-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;
const file = (): string => join(dir, `audit-${n++}.log`);

describe('audit log', () => {
  it('appends one JSON line per event, 0600, and logs it at info', async () => {
    const logged: Logged[] = [];
    const path = file();
    const clock = new ManualClock(0, Date.UTC(2026, 10, 29, 19, 0, 0));
    const log = createAuditLog({ path, logger: recordingLogger(logged), clock });
    log.record({
      actor: 'alice@gw1',
      action: 'ban.add',
      target: '192.0.2.7',
      reason: 'scanner',
      outcome: 'ok',
      details: { forMs: 600_000 },
    });
    clock.advance(1500);
    log.record({ actor: 'system', action: 'ban.auto', target: '2001:db8::7', outcome: 'ok' });
    await log.close();
    const lines = readLines(path);
    assert.equal(lines.length, 2);
    assert.deepEqual(lines[0], {
      time: '2026-11-29T19:00:00.000Z',
      type: 'audit',
      actor: 'alice@gw1',
      action: 'ban.add',
      target: '192.0.2.7',
      reason: 'scanner',
      outcome: 'ok',
      details: { forMs: 600_000 },
    });
    assert.equal(lines[1]?.time, '2026-11-29T19:00:01.500Z');
    assert.equal(lines[1]?.actor, 'system');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const infos = logged.filter((l) => l.level === 'info' && l.msg === 'audit');
    assert.equal(infos.length, 2);
    assert.equal(infos[0]?.fields.action, 'ban.add');
    assert.equal(infos[0]?.fields.time, undefined, 'the logger adds its own time');
    assert.deepEqual(log.stats(), { recorded: 2, written: 2, dropped: 0, ioErrors: 0, rotations: 0 });
  });

  it('tightens an existing file to 0600 and appends to it', async () => {
    const path = file();
    writeFileSync(path, '{"old":true}\n', { mode: 0o644 });
    chmodSync(path, 0o644);
    const log = createAuditLog({ path, logger: recordingLogger([]), clock: new ManualClock() });
    log.record({ actor: 'a', action: 'allow.add', target: '10.0.0.0/8', outcome: 'ok' });
    await log.close();
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const lines = readLines(path);
    assert.deepEqual(lines[0], { old: true });
    assert.equal(lines[1]?.action, 'allow.add');
  });

  it('drops credential-looking details, bounds and cleans strings', () => {
    const rec = auditRecord(
      {
        actor: 'x'.repeat(200),
        action: 'auth.fail',
        target: 'bob\n{"forged":1}',
        reason: 'r'.repeat(1000),
        outcome: 'refused',
        details: { user: 'bob', password: 'hunter2', ha1: 'abc', authorization: 'Digest x', nonce: 'n', attempts: 3, ok: false },
      },
      0,
    );
    assert.equal((rec.actor as string).length, 64);
    assert.equal(rec.target, 'bob?{"forged":1}');
    assert.equal((rec.reason as string).length, 256);
    assert.deepEqual(rec.details, { user: 'bob', attempts: 3, ok: false });
    assert.ok(!JSON.stringify(rec).includes('hunter2'));
    assert.equal(cleanAuditText('a\u001b[31mb', 10), 'a?[31mb');
  });

  it('rotates to path.1 when the file would pass maxBytes', async () => {
    const path = file();
    const log = createAuditLog({ path, logger: recordingLogger([]), clock: new ManualClock(), maxBytes: 400 });
    for (let i = 0; i < 4; i++) {
      log.record({ actor: 'op', action: 'ban.add', target: `192.0.2.${i}`, reason: 'r'.repeat(100), outcome: 'ok' });
      await log.flush();
    }
    await log.close();
    assert.ok(existsSync(`${path}.1`));
    assert.ok(statSync(path).size <= 400);
    const all = [...readLines(`${path}.1`), ...readLines(path)].map((l) => l.target);
    // One generation kept: the newest lines survive, in order.
    assert.equal(all.at(-1), '192.0.2.3');
    assert.ok(log.stats().rotations >= 1);
  });

  it('never throws on I/O errors: counts them and logs a warning', async () => {
    const logged: Logged[] = [];
    const blocker = join(dir, `blocker-${n++}`);
    mkdirSync(blocker);
    // A directory where the file should be: open() fails with EISDIR.
    const log = createAuditLog({ path: blocker, logger: recordingLogger(logged), clock: new ManualClock() });
    assert.doesNotThrow(() => log.record({ actor: 'op', action: 'ban.flush', outcome: 'ok' }));
    log.record({ actor: 'op', action: 'ban.flush', outcome: 'ok' });
    await log.close();
    const st = log.stats();
    assert.ok(st.ioErrors >= 1);
    assert.equal(st.written, 0);
    assert.equal(logged.filter((l) => l.level === 'warn' && l.msg === 'audit log write failed').length, 1);
    // Still logged through the logger.
    assert.equal(logged.filter((l) => l.msg === 'audit').length, 2);
  });

  it('without a path only logs', async () => {
    const logged: Logged[] = [];
    const log = createAuditLog({ logger: recordingLogger(logged), clock: new ManualClock() });
    log.record({ actor: 'op', action: 'allow.remove', target: '10.0.0.0/8', outcome: 'refused' });
    await log.close();
    assert.equal(logged.length, 1);
    assert.equal(log.stats().written, 0);
  });

  it('audits automatic bans, expiries and evictions through the BanManager hooks', async () => {
    const path = file();
    const clock = new ManualClock(0, Date.UTC(2026, 0, 1));
    const log = createAuditLog({ path, logger: recordingLogger([]), clock });
    const bans = createBanManager({
      clock,
      findTimeMs: 60_000,
      maxRetry: 3,
      banTimeMs: 60_000,
      factor: 2,
      maxBanTimeMs: 600_000,
      allow: new AllowList([]),
      maxTracked: 100,
      maxBans: 1,
      sweepIntervalMs: 0,
      ...banAuditHooks(log),
    });
    bans.ban('192.0.2.1', { reason: 'operator' });
    for (let i = 0; i < 3; i++) bans.offence('192.0.2.2', 'auth_failure');
    clock.advance(61_000);
    bans.sweep();
    bans.close();
    await log.close();
    const lines = readLines(path).map((l) => [l.actor, l.action, l.target, l.reason]);
    assert.deepEqual(lines, [
      ['system', 'ban.evict', '192.0.2.1', 'operator'],
      ['system', 'ban.auto', '192.0.2.2', 'auth_failure'],
      ['system', 'ban.expire', '192.0.2.2', 'auth_failure'],
    ]);
    assert.deepEqual(readLines(path)[1]?.details, { count: 3, repeat: 0, forMs: 60_000 });
  });
});
