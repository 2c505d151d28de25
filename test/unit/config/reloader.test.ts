import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { loadPolicyFile } from '../../../src/config/load.ts';
import { createPolicyHolder, type PolicyHolder } from '../../../src/config/reloader.ts';
import type { Policy } from '../../../src/config/schema.ts';
import type { Logger } from '../../../src/core/log.ts';

function policyText(targetPort: number): string {
  return `listeners:
  - transport: udp
    port: 0
pbx:
  targets:
    - name: pbx1
      host: 127.0.0.1
      port: ${targetPort}
`;
}

interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  msg: string;
}

function recordingLogger(lines: LogLine[]): Logger {
  const rec =
    (level: LogLine['level']) =>
    (fields: Record<string, unknown>, msg: string): void => {
      lines.push({ level, fields, msg });
    };
  const logger: Logger = {
    debug: rec('debug'),
    info: rec('info'),
    warn: rec('warn'),
    error: rec('error'),
    child: () => logger,
  };
  return logger;
}

function load(path: string): Policy {
  const r = loadPolicyFile(path);
  assert.ok(r.ok, 'fixture policy must be valid');
  return r.value;
}

/** Resolves when `pred` holds, polling; rejects after `timeoutMs` (tests stay bounded). */
async function waitFor(pred: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('createPolicyHolder', () => {
  let dir: string;
  let file: string;
  let holder: PolicyHolder | undefined;
  let logs: LogLine[];
  let changes: Array<{ next: Policy; prev: Policy }>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-reload-'));
    file = join(dir, 'palisade.yaml');
    writeFileSync(file, policyText(5070));
    logs = [];
    changes = [];
  });

  afterEach(() => {
    holder?.close();
    holder = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  function make(watch: boolean): PolicyHolder {
    holder = createPolicyHolder(file, load(file), {
      logger: recordingLogger(logs),
      onChange: (next, prev) => changes.push({ next, prev }),
      watch,
      debounceMs: 50,
    });
    return holder;
  }

  it('keeps the running policy on a broken file and logs the issues at warn', () => {
    const h = make(false);
    const before = h.current();
    writeFileSync(file, `${policyText(5071)}bogus: 1\n`);
    const out = h.reload('sighup');
    assert.equal(out.ok, false);
    assert.equal(out.reason, 'sighup');
    if (!out.ok)
      assert.deepEqual(
        out.issues.map((i) => [i.code, i.line, i.path]),
        [['CONFIG_INVALID', 9, 'bogus']],
      );
    assert.equal(h.current(), before, 'same reference: nothing was swapped');
    assert.equal(changes.length, 0);
    assert.deepEqual(h.lastReload(), out);
    const warns = logs.filter((l) => l.level === 'warn');
    assert.equal(warns.length, 1);
    assert.deepEqual(warns[0]?.fields.issues, [`${file}:9:1 bogus: unknown key`]);
  });

  it('keeps the running policy when the file disappears', () => {
    const h = make(false);
    const before = h.current();
    rmSync(file);
    const out = h.reload('api');
    assert.equal(out.ok, false);
    if (!out.ok) assert.equal(out.issues[0]?.code, 'CONFIG_IO');
    assert.equal(h.current(), before);
  });

  it('applies a good file: swaps the reference and calls onChange(next, prev)', () => {
    const h = make(false);
    const before = h.current();
    writeFileSync(file, policyText(5072));
    const out = h.reload('api');
    assert.equal(out.ok, true);
    assert.equal(out.reason, 'api');
    assert.equal(typeof out.at, 'number');
    assert.equal(h.current().pbx.targets[0]?.port, 5072);
    assert.ok(Object.isFrozen(h.current()));
    assert.equal(changes.length, 1);
    assert.equal(changes[0]?.prev, before);
    assert.equal(changes[0]?.next, h.current());
  });

  it('a good reload after a bad one recovers', () => {
    const h = make(false);
    writeFileSync(file, 'listeners: [');
    assert.equal(h.reload('sighup').ok, false);
    writeFileSync(file, policyText(5073));
    assert.equal(h.reload('sighup').ok, true);
    assert.equal(h.current().pbx.targets[0]?.port, 5073);
    assert.equal(h.lastReload()?.ok, true);
  });

  it('an onChange that throws is logged, and the new policy stays in force', () => {
    holder = createPolicyHolder(file, load(file), {
      logger: recordingLogger(logs),
      onChange: () => {
        throw new Error('subscriber broke');
      },
      watch: false,
    });
    writeFileSync(file, policyText(5074));
    assert.equal(holder.reload('api').ok, true);
    assert.equal(holder.current().pbx.targets[0]?.port, 5074);
    assert.ok(logs.some((l) => l.level === 'error' && l.fields.err === 'subscriber broke'));
  });

  it('picks up a file change through watch', async () => {
    const h = make(true);
    writeFileSync(file, policyText(5075));
    await waitFor(() => h.current().pbx.targets[0]?.port === 5075, 3000);
    assert.equal(h.lastReload()?.reason, 'watch');
    assert.equal(changes.length, 1);
  });

  it('picks up a file replaced by rename (how editors save)', async () => {
    const h = make(true);
    const tmp = join(dir, '.palisade.yaml.swp');
    writeFileSync(tmp, policyText(5076));
    renameSync(tmp, file);
    await waitFor(() => h.current().pbx.targets[0]?.port === 5076, 3000);
    // The watch keeps working on the new inode.
    writeFileSync(file, policyText(5077));
    await waitFor(() => h.current().pbx.targets[0]?.port === 5077, 3000);
  });

  it('a broken file seen by watch keeps the policy; a rewrite of the same policy does not notify', async () => {
    const h = make(true);
    const before = h.current();
    writeFileSync(file, 'listeners: [\n');
    await waitFor(() => h.lastReload()?.ok === false, 3000);
    assert.equal(h.current(), before);
    writeFileSync(file, policyText(5070));
    await waitFor(() => h.lastReload()?.ok === true, 3000);
    assert.equal(changes.length, 0, 'identical policy: no onChange');
  });

  it('ignores other files in the directory and stops after close', async () => {
    const h = make(true);
    writeFileSync(join(dir, 'other.txt'), 'x');
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(h.lastReload(), undefined);
    h.close();
    h.close();
    writeFileSync(file, policyText(5078));
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(h.lastReload(), undefined);
    assert.equal(h.current().pbx.targets[0]?.port, 5070);
  });
});
