/**
 * The `palisade` CLI as a user runs it: a child process through tsx, real files, a real admin socket.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startAdminServer } from '../../src/admin/server.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD_TIMEOUT_MS = 30_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Async (not spawnSync): some tests serve the admin socket from this very process. */
function palisade(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      { cwd: ROOT, timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL', env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'palisade-cli-int-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function policyText(socket: string): string {
  return [
    'node:',
    `  dataDir: ${JSON.stringify(join(dir, 'data'))}`,
    'admin:',
    `  socket: ${JSON.stringify(socket)}`,
    'listeners:',
    '  - transport: udp',
    '    port: 5060',
    'pbx:',
    '  targets:',
    '    - name: pbx1',
    '      host: 127.0.0.1',
    '',
  ].join('\n');
}

describe('palisade CLI (child process)', () => {
  it('--help lists the commands and exits 0', async () => {
    const r = await palisade(['--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const c of ['start', 'policy', 'status', 'reload']) assert.match(r.stdout, new RegExp(`\\b${c}\\b`));
  });

  it('policy check on a broken file prints FILE:LINE:COL and exits 2', async () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'listeners:\n  - transport: udp\n    port: 99999\npbx:\n  targets:\n    - name: pbx1\n      host: 127.0.0.1\n');
    const r = await palisade(['policy', 'check', file]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(r.stdout + r.stderr, new RegExp(`${escaped}:3:\\d+ `));
  });

  it('policy check on a valid file exits 0', async () => {
    const file = join(dir, 'good.yaml');
    writeFileSync(file, policyText('ok.sock'));
    const r = await palisade(['policy', 'check', file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it('status with no daemon exits 1 with exactly one line', async () => {
    const file = join(dir, 'nodaemon.yaml');
    writeFileSync(file, policyText('nobody.sock'));
    const r = await palisade(['status', '--config', file]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? '', /not running/);
  });

  it('status reads the socket from the policy and prints the daemon state', async () => {
    const file = join(dir, 'live.yaml');
    writeFileSync(file, policyText('live.sock'));
    const srv = await startAdminServer({
      socketPath: join(dir, 'data', 'live.sock'),
      handlers: { status: () => ({ state: 'running', uptimeSeconds: 12 }), reload: () => ({ ok: true }) },
    });
    try {
      const human = await palisade(['status', '--config', file]);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /state: running/);
      const json = await palisade(['status', '--socket', srv.socketPath, '--json']);
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout), { state: 'running', uptimeSeconds: 12 });
    } finally {
      await srv.close();
    }
  });
});
