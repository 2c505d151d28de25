/**
 * The daemon as an operator runs it: `palisade start` as a child process, policy reloads on SIGHUP (a broken
 * file keeps the running policy and says where it is broken; a fixed file applies), `palisade status` and
 * `palisade policy check` through the real CLI, and a clean exit on SIGTERM.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DaemonStatus } from '../../src/main.ts';
import { type ChildDaemon, eventually, INSIDE_IP, palisade, PBX_IP, portOf, PUBLIC_IP, startChild, type TempDir, tempDir } from './helpers/daemon.ts';
import { type UdpPeer, udpPeer } from './helpers/peers.ts';
import { branch, header, isResponse, request } from './helpers/sip-text.ts';
import { type ScriptedPbx, scriptedPbx } from './helpers/pbx.ts';

const DRAIN_MS = 1500;
/** Process teardown (closing listeners, the admin socket, node exit) on a loaded 2-core machine. */
const EXIT_MARGIN_MS = 3000;

let dir: TempDir;
let configPath = '';
let pbx: ScriptedPbx;
let phone: UdpPeer;
let child: ChildDaemon | undefined;
let udpPort = 0;

function policy(opts: { serverHeader: string; extraLines?: readonly string[]; badIndent?: boolean }): string {
  return [
    `node: { dataDir: ${JSON.stringify(join(dir.path, 'data'))}, serverHeader: ${JSON.stringify(opts.serverHeader)} }`,
    'listeners:',
    `  - { id: udp, transport: udp, address: ${PUBLIC_IP}, port: 0 }`,
    'pbx:',
    `  listen: { transport: udp, address: ${INSIDE_IP}, port: 0 }`,
    `${opts.badIndent ? '   ' : '  '}targets: [{ name: pbx1, host: ${PBX_IP}, port: ${pbx.port} }]`,
    `shutdown: { drainMs: ${DRAIN_MS} }`,
    'metrics: { enabled: false }',
    'logging: { level: silent }',
    ...(opts.extraLines ?? []),
    '',
  ].join('\n');
}

function socketPath(): string {
  return join(dir.path, 'data', 'palisade.sock');
}

interface ReloadView {
  ok: boolean;
  at: number;
  reason: string;
  issues?: Array<{ file: string; line: number; column: number; path: string; message: string }>;
}

function lastReload(s: DaemonStatus): ReloadView | null {
  return (s.policy.lastReload as ReloadView | null) ?? null;
}

/** OPTIONS to Palisade itself over UDP; resolves with the 200. */
async function optionsPing(): Promise<string> {
  phone.send(
    request({
      method: 'OPTIONS',
      uri: `sip:${PUBLIC_IP}:${udpPort}`,
      via: `SIP/2.0/UDP ${PUBLIC_IP}:${phone.port}`,
      branch: branch('opt'),
      from: `<sip:mon@${PUBLIC_IP}>;tag=mon`,
      to: `<sip:${PUBLIC_IP}>`,
      callId: `opt-${Date.now()}-${Math.random()}`,
      cseq: 1,
    }),
    udpPort,
    PUBLIC_IP,
  );
  return phone.inbox.next((m) => isResponse(m, 200, 'OPTIONS'), 3000, '200 to OPTIONS');
}

/**
 * Writes `text`, lets the directory watcher's own reload (200 ms debounce) pass, then sends SIGHUP and waits
 * for the reload outcome it produced (reason sighup, newer than the signal).
 */
async function writeAndHup(text: string): Promise<ReloadView> {
  assert.ok(child);
  writeFileSync(configPath, text);
  await new Promise((r) => setTimeout(r, 700));
  const sentAt = Date.now();
  child.proc.child.kill('SIGHUP');
  let seen: ReloadView | null = null;
  const ok = await eventually(async () => {
    seen = lastReload(await (child as ChildDaemon).status());
    return seen !== null && seen.reason === 'sighup' && seen.at >= sentAt - 5;
  }, 5000);
  assert.ok(ok, `no SIGHUP reload seen; last: ${JSON.stringify(seen)}`);
  return seen as unknown as ReloadView;
}

before(async () => {
  dir = tempDir('reload');
  configPath = join(dir.path, 'palisade.yaml');
  pbx = await scriptedPbx(PBX_IP);
  phone = await udpPeer(PUBLIC_IP);
  writeFileSync(configPath, policy({ serverHeader: 'Palisade-A' }));
  child = await startChild(configPath, socketPath());
  udpPort = portOf(await child.status(), 'udp');
});

after(async () => {
  if (child?.proc.isRunning()) await child.stop('SIGKILL', 1000);
  await phone?.close();
  await pbx?.close();
  dir?.remove();
});

describe('palisade start (child process)', { timeout: 90_000 }, () => {
  it('serves OPTIONS to itself with the policy it started with', async () => {
    const ok = await optionsPing();
    assert.equal(header(ok, 'Server'), 'Palisade-A');
  });

  it('a broken policy (unknown key) on SIGHUP is refused; the daemon keeps serving the running policy', async () => {
    const r = await writeAndHup(policy({ serverHeader: 'Palisade-B', extraLines: ['registrar:', '  maxExpire: 600'] }));
    assert.equal(r.ok, false);
    const issue = r.issues?.[0];
    assert.ok(issue, 'the refused reload names its issue');
    assert.equal(issue.file, configPath);
    assert.equal(issue.line, 11);
    assert.equal(issue.column, 3);
    assert.equal(issue.path, 'registrar.maxExpire');
    const ok = await optionsPing();
    assert.equal(header(ok, 'Server'), 'Palisade-A', 'the running policy stays in force');
  });

  it('palisade status --json shows the failed reload with FILE:LINE:COL (bad indentation)', async () => {
    const r = await writeAndHup(policy({ serverHeader: 'Palisade-B', badIndent: true }));
    assert.equal(r.ok, false);
    const cli = await palisade(['status', '--socket', socketPath(), '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    const status = JSON.parse(cli.stdout) as DaemonStatus;
    const lr = lastReload(status);
    assert.ok(lr && !lr.ok && lr.reason === 'sighup', `lastReload: ${JSON.stringify(lr)}`);
    const issue = lr.issues?.[0];
    assert.ok(issue);
    assert.equal(`${issue.file}:${issue.line}:${issue.column}`, `${configPath}:6:4`);
    assert.match(issue.message, /column/i);
    await optionsPing();
  });

  it('palisade status --config on the broken policy still finds the running daemon', async () => {
    // The operator's next command after a refused reload: the policy names the socket, but is broken.
    const cli = await palisade(['status', '--config', configPath, '--json']);
    assert.equal(cli.code, 0, `exit ${cli.code}: ${cli.stderr}`);
    assert.equal(lastReload(JSON.parse(cli.stdout) as DaemonStatus)?.ok, false);
  });

  it('palisade policy check on the broken file prints FILE:LINE:COL and exits 2', async () => {
    const cli = await palisade(['policy', 'check', configPath]);
    assert.equal(cli.code, 2, cli.stdout + cli.stderr);
    assert.ok((cli.stdout + cli.stderr).includes(`${configPath}:6:4 `), cli.stdout + cli.stderr);
  });

  it('a fixed policy on SIGHUP applies', async () => {
    const r = await writeAndHup(policy({ serverHeader: 'Palisade-B' }));
    assert.equal(r.ok, true, JSON.stringify(r));
    const ok = await optionsPing();
    assert.equal(header(ok, 'Server'), 'Palisade-B');
    const cli = await palisade(['status', '--config', configPath, '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(lastReload(JSON.parse(cli.stdout) as DaemonStatus)?.ok, true);
  });

  it('SIGTERM with no dialogs: exit 0 within drainMs + margin', async (t) => {
    assert.ok(child);
    assert.equal((await child.status()).dialogs, 0);
    const t0 = Date.now();
    const exit = await child.stop('SIGTERM', DRAIN_MS + EXIT_MARGIN_MS);
    const elapsed = Date.now() - t0;
    assert.deepEqual(exit, { code: 0, signal: null }, `exit ${JSON.stringify(exit)}; stderr: ${child.proc.stderr.toString()}`);
    assert.ok(elapsed < DRAIN_MS + EXIT_MARGIN_MS, `exit took ${elapsed} ms`);
    t.diagnostic(`SIGTERM to exit: ${elapsed} ms`);
  });
});
