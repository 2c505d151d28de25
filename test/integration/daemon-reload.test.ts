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
import {
  type ChildDaemon,
  eventually,
  INSIDE_IP,
  mediaRangeYaml,
  PBX_IP,
  PUBLIC_IP,
  palisade,
  portOf,
  startChild,
  type TempDir,
  tempDir,
} from './helpers/daemon.ts';
import { type ScriptedPbx, scriptedPbx } from './helpers/pbx.ts';
import { type UdpPeer, udpPeer } from './helpers/peers.ts';
import { branch, header, isResponse, request, sdp, uriOf } from './helpers/sip-text.ts';

const DRAIN_MS = 1500;
/** Process teardown (closing listeners, the admin socket, node exit) on a loaded 2-core machine. */
const EXIT_MARGIN_MS = 3000;

let dir: TempDir;
let configPath = '';
let pbx: ScriptedPbx;
let phone: UdpPeer;
let child: ChildDaemon | undefined;
let udpPort = 0;
const mediaLine = mediaRangeYaml();

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
    mediaLine,
    'auth: { mode: pbx }',
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
    const text = policy({ serverHeader: 'Palisade-B', extraLines: ['registrar:', '  maxExpire: 600'] });
    const badLine = text.split('\n').indexOf('  maxExpire: 600') + 1;
    const r = await writeAndHup(text);
    assert.equal(r.ok, false);
    const issue = r.issues?.[0];
    assert.ok(issue, 'the refused reload names its issue');
    assert.equal(issue.file, configPath);
    assert.equal(issue.line, badLine);
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

describe('SIGTERM with a dialog up (child process)', { timeout: 90_000 }, () => {
  let dir2: TempDir;
  let child2: ChildDaemon;
  let udp2 = 0;

  before(async () => {
    dir2 = tempDir('drain');
    const file = join(dir2.path, 'palisade.yaml');
    writeFileSync(
      file,
      [
        `node: { dataDir: ${JSON.stringify(join(dir2.path, 'data'))} }`,
        'listeners:',
        `  - { id: udp, transport: udp, address: ${PUBLIC_IP}, port: 0 }`,
        'pbx:',
        `  listen: { transport: udp, address: ${INSIDE_IP}, port: 0 }`,
        `  targets: [{ name: pbx1, host: ${PBX_IP}, port: ${pbx.port} }]`,
        `shutdown: { drainMs: ${DRAIN_MS} }`,
        'metrics: { enabled: false }',
        'logging: { level: silent }',
        mediaRangeYaml(),
        'auth: { mode: pbx }',
        '',
      ].join('\n'),
    );
    child2 = await startChild(file, join(dir2.path, 'data', 'palisade.sock'));
    udp2 = portOf(await child2.status(), 'udp');
  });

  after(async () => {
    if (child2?.proc.isRunning()) await child2.stop('SIGKILL', 1000);
    dir2?.remove();
  });

  function invite(callId: string): string {
    return request({
      method: 'INVITE',
      uri: `sip:100@${PUBLIC_IP}`,
      via: `SIP/2.0/UDP ${PUBLIC_IP}:${phone.port}`,
      branch: branch('drinv'),
      from: `<sip:alice@${PUBLIC_IP}>;tag=${callId.replace(/[^a-z0-9]/gi, '')}`,
      to: `<sip:100@${PUBLIC_IP}>`,
      callId,
      cseq: 1,
      contact: `<sip:alice@${PUBLIC_IP}:${phone.port}>`,
      body: sdp(PUBLIC_IP, 30000),
    });
  }

  it('refuses new calls with 503 while draining, then exits 0 once drainMs has passed', async (t) => {
    phone.send(invite('drain-1@phone'), udp2, PUBLIC_IP);
    const ok = await phone.inbox.next((m) => isResponse(m, 200, 'INVITE') && m.includes('drain-1@phone'), 3000, '200 to the first INVITE');
    phone.send(
      request({
        method: 'ACK',
        uri: uriOf(header(ok, 'Contact') ?? ''),
        via: `SIP/2.0/UDP ${PUBLIC_IP}:${phone.port}`,
        branch: branch('drack'),
        from: `<sip:alice@${PUBLIC_IP}>;tag=drain1phone`,
        to: header(ok, 'To') ?? '',
        callId: 'drain-1@phone',
        cseq: 1,
      }),
      udp2,
      PUBLIC_IP,
    );
    assert.ok(await eventually(async () => (await child2.status()).dialogs === 1, 2000), 'one dialog up');
    const t0 = Date.now();
    child2.proc.child.kill('SIGTERM');
    assert.ok(await eventually(async () => (await child2.status()).draining, 1000), 'status says draining');
    phone.send(invite('drain-2@phone'), udp2, PUBLIC_IP);
    const refused = await phone.inbox.next(
      (m) => isResponse(m, undefined, 'INVITE') && m.includes('drain-2@phone') && !m.startsWith('SIP/2.0 100'),
      2000,
      'answer to an INVITE during drain',
    );
    assert.match(refused, /^SIP\/2\.0 503 /);
    const exit = await child2.proc.exited;
    const elapsed = Date.now() - t0;
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(elapsed >= DRAIN_MS - 250, `exited after ${elapsed} ms, before drainMs with a dialog up`);
    assert.ok(elapsed < DRAIN_MS + EXIT_MARGIN_MS, `exited after ${elapsed} ms`);
    t.diagnostic(`SIGTERM with one dialog: exit after ${elapsed} ms (drainMs ${DRAIN_MS})`);
  });
});
