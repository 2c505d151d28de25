import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { createFraudRoutes, type FraudControl } from '../../../src/admin/routes-fraud.ts';
import { type AdminServer, startAdminServer } from '../../../src/admin/server.ts';
import { renderBlocks, renderFraudStatus } from '../../../src/cli/commands/fraud.ts';
import type { AuditEvent } from '../../../src/observability/audit.ts';
import { createFraudStageStats } from '../../../src/policy/stage.ts';
import { run } from './helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'palisade-cli-fraud-'));
after(() => rmSync(root, { recursive: true, force: true }));
const HOUR = 3_600_000;

describe('palisade fraud', () => {
  let server: AdminServer;
  let socketPath: string;
  let events: AuditEvent[];
  let map: Map<string, number>;
  let n = 0;
  beforeEach(async () => {
    events = [];
    map = new Map();
    const live = () => [...map].filter(([, u]) => u > Date.now()).map(([subject, until]) => ({ subject, until }));
    const auth: FraudControl['auth'] = {
      blocks: live,
      unblock: (s) => live().some((b) => b.subject === s) && map.delete(s),
      summary: () => ({
        enabled: true,
        stats: { ...createFraudStageStats(), allowed: 12, denied: 5, anomalies: 1 },
        decisions: { allowed: 12, blocked: 4, destination: 1 },
        terminations: {},
        callsInProgress: 3,
        blocked: live().length,
        anomalySubjects: 9,
        anomalyEvictions: 0,
      }),
    };
    socketPath = join(root, `s${++n}.sock`);
    server = await startAdminServer({
      socketPath,
      handlers: { status: () => ({}), reload: () => ({}) },
      routes: createFraudRoutes({ auth, audit: { record: (e) => events.push(e) } }),
    });
  });
  afterEach(async () => {
    await server.close();
  });
  const s = (): string[] => ['--socket', socketPath];

  it('lists blocks (table and JSON), unblocks, and reports a subject that is not blocked with exit 1', async () => {
    let r = await run(['fraud', 'blocks', ...s()]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'no blocked callers\n');

    map.set('user:mallory', Date.now() + HOUR);
    map.set('trunk:sbc1', Date.now() + 10 * 60_000);
    r = await run(['fraud', 'blocks', ...s()]);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^SUBJECT\s+BLOCKED UNTIL\s+EXPIRES IN$/);
    assert.equal(lines.length, 3);
    const row = (subject: string): string[] => (lines.find((l) => l.startsWith(`${subject} `)) ?? '').split(/\s{2,}/);
    assert.match(row('user:mallory')[1] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.match(row('user:mallory')[2] ?? '', /^(59m 5\ds|1h 0m)$/);
    assert.match(row('trunk:sbc1')[2] ?? '', /^(9m 5\ds|10m 0s)$/);

    r = await run(['fraud', 'blocks', '--json', ...s()]);
    assert.equal(r.code, 0);
    const json = JSON.parse(r.out) as { blocks: { subject: string; until: string }[]; total: number };
    assert.equal(json.total, 2);
    assert.deepEqual(json.blocks.map((b) => b.subject).sort(), ['trunk:sbc1', 'user:mallory']);

    r = await run(['fraud', 'unblock', 'mallory', ...s()]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'unblocked user:mallory\n');
    assert.equal(map.has('user:mallory'), false);
    assert.equal(events.at(-1)?.action, 'fraud.unblock');
    assert.equal(events.at(-1)?.target, 'user:mallory');
    assert.match(events.at(-1)?.actor ?? '', /^[A-Za-z0-9._+:-]+@[A-Za-z0-9._@+:-]+$/, 'the operator is named: user@host');

    r = await run(['fraud', 'unblock', 'trunk:sbc1', '--json', ...s()]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), { removed: true, subject: 'trunk:sbc1' });

    r = await run(['fraud', 'unblock', 'user:mallory', ...s()]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^palisade: unblock failed: FRAUD_NOT_BLOCKED: user:mallory is not blocked \(HTTP 404\)\n$/);
    assert.equal(r.out, '');
  });

  it('refuses a bad subject locally with exit 2: nothing reaches the daemon', async () => {
    for (const args of [
      ['fraud', 'unblock', 'peer:x'],
      ['fraud', 'unblock', 'user:'],
      ['fraud', 'unblock', 'al ice'],
      ['fraud', 'unblock', 'trunk:a/b'],
      ['fraud', 'unblock', 'user:a"b'],
      ['fraud', 'unblock', ''],
      ['fraud', 'unblock'],
      ['fraud', 'nope'],
    ]) {
      const r = await run([...args, ...s()]);
      assert.equal(r.code, 2, args.join(' '));
      assert.notEqual(r.err, '', args.join(' '));
    }
    assert.equal(events.length, 0);
  });

  it('shows the status (human and JSON)', async () => {
    let r = await run(['fraud', 'status', ...s()]);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trimEnd().split('\n');
    assert.equal(lines[0], 'call authorization: enabled');
    assert.ok(lines.includes('calls in progress:  3'), r.out);
    assert.ok(lines.includes('allowed / denied:   12 / 5'), r.out);
    assert.ok(lines.includes('decisions:          allowed=12, blocked=4, destination=1'), r.out);
    assert.ok(lines.includes('terminations:       -'), r.out);
    r = await run(['fraud', 'status', '--json', ...s()]);
    assert.equal(r.code, 0);
    assert.equal((JSON.parse(r.out) as { callsInProgress: number }).callsInProgress, 3);
  });
});

describe('palisade fraud without a daemon', () => {
  it('exits 1 with one line when nothing listens on the socket', async () => {
    for (const cmd of [['blocks'], ['status'], ['unblock', 'alice']]) {
      const r = await run(['fraud', ...cmd, '--socket', join(root, 'missing.sock')]);
      assert.equal(r.code, 1, cmd.join(' '));
      assert.match(r.err, /^palisade: daemon not running \(no admin socket at .*missing\.sock\)\n$/);
      assert.equal(r.out, '');
    }
  });
});

describe('fraud rendering of untrusted replies', () => {
  it('never prints control characters and copes with junk', () => {
    const lines = renderBlocks({ blocks: [{ subject: 'user:\u001b[31mx', until: 'garbage' }, 7, null] }, Date.now());
    assert.equal(lines.length, 2);
    assert.equal(lines.join('\n').includes('\u001b'), false);
    assert.match(lines[1] ?? '', /^user:\?\[31mx\s+-\s+-$/);
    assert.deepEqual(renderBlocks('nope', 0), ['no blocked callers']);
    const status = renderFraudStatus({ decisions: { '\u001bbad': 1 }, stats: 'x' });
    assert.equal(status.join('\n').includes('\u001b'), false);
    assert.equal(status[0], 'call authorization: -');
  });
});
