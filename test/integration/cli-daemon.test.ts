/**
 * `palisade start` as a real child process, driven by `palisade status` / `palisade reload` children over
 * the admin socket, then stopped with SIGTERM. Everything binds 127.0.0.1 on port 0.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD_TIMEOUT_MS = 30_000;
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function palisade(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      { cwd: ROOT, timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      },
    );
  });
}

function policy(dataDir: string, pbxName: string): string {
  return [
    'node:',
    `  dataDir: ${JSON.stringify(dataDir)}`,
    'listeners:',
    '  - transport: udp',
    '    address: 127.0.0.1',
    '    port: 0',
    'pbx:',
    '  listen:',
    '    address: 127.0.0.1',
    '    port: 0',
    '  targets:',
    `    - name: ${pbxName}`,
    '      host: 127.0.0.1',
    '      port: 9',
    'metrics:',
    '  enabled: false',
    'logging:',
    '  level: warn',
    'shutdown:',
    '  drainMs: 0',
    '',
  ].join('\n');
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('palisade start / status / reload (child processes)', () => {
  let dir = '';
  let daemon: ChildProcess | undefined;
  let daemonErr = '';
  let exit: Promise<number | null> = Promise.resolve(null);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-daemon-'));
  });
  after(() => {
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts, answers status and reload, refuses a broken reload, stops on SIGTERM', async () => {
    const file = join(dir, 'palisade.yaml');
    const dataDir = join(dir, 'data');
    const sock = join(dataDir, 'palisade.sock');
    writeFileSync(file, policy(dataDir, 'pbx1'));

    daemon = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--config', file], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    daemon.stderr?.setEncoding('utf8');
    daemon.stderr?.on('data', (c: string) => {
      daemonErr += c;
    });
    const child = daemon;
    exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));

    await waitFor(() => existsSync(sock) || child.exitCode !== null, START_TIMEOUT_MS, 'the admin socket');
    assert.equal(child.exitCode, null, `daemon exited early: ${daemonErr}`);
    assert.equal(lstatSync(sock).mode & 0o777, 0o600);

    const status = await palisade(['status', '--config', file, '--json']);
    assert.equal(status.code, 0, status.stderr);
    const body = JSON.parse(status.stdout) as { pid?: unknown };
    assert.equal(body.pid, child.pid);

    const reload = await palisade(['reload', '--config', file]);
    assert.equal(reload.code, 0, reload.stderr);
    assert.match(reload.stdout, /^reload: ok/);

    // A broken file is refused: exit 2, the daemon keeps running on its previous policy.
    writeFileSync(file, `${policy(dataDir, 'pbx1')}bogusKey: 1\n`);
    const bad = await palisade(['reload', '--config', file]);
    assert.equal(bad.code, 2, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /bogusKey/);
    assert.equal((await palisade(['status', '--socket', sock])).code, 0);

    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exit, new Promise((r) => (timer = setTimeout(() => r('timeout'), STOP_TIMEOUT_MS)))]);
    clearTimeout(timer);
    assert.equal(code, 0, `daemon did not exit cleanly on SIGTERM: ${daemonErr}`);
    assert.equal(existsSync(sock), false, 'the admin socket is removed on stop');

    const after = await palisade(['status', '--socket', sock]);
    assert.equal(after.code, 1);
    assert.match(after.stderr, /not running/);
  });
});
