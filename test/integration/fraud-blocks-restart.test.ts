/**
 * Toll-fraud blocks survive a restart: a real daemon (child process, real UDP, real digest), the sequential-dialling
 * attack of cli-fraud.test.ts blocks the user, the daemon is killed (SIGKILL: a crash the attacker might provoke)
 * and started again on the same data directory, and the real CLI (`palisade fraud blocks`) still lists the block
 * with the same expiry and the user is still refused. A hand-edited bad entry in fraud-blocks.json does not stop
 * the daemon. `palisade fraud unblock` then lifts it, and after a clean stop and another start it stays lifted.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ChildDaemon, eventually, mediaRangeYaml, palisade, portOf, startChild, type TempDir, tempDir } from './helpers/daemon.ts';
import { digestPhoneKit, PBX_IP, type Peer } from './helpers/digest-phone.ts';
import {
  fraudPolicyBase,
  inviteWithDigest,
  type ScriptedCallPbx,
  SEQUENTIAL_BLOCK_FRAUD_YAML,
  scriptCallPbx,
  statusOf,
  writeDigestUsers,
} from './helpers/fraud-rig.ts';

const REALM = 'fraud-restart.test';
const PASSWORD = 'pw-mallory-9';
const HOUR = 3_600_000;
const kit = digestPhoneKit(REALM, 3000);
const { peer } = kit;

let dir: TempDir;
let d: ChildDaemon | undefined;
let pbx: ScriptedCallPbx;
let phone: Peer;
let configPath: string;
let socketPath: string;
let blocksPath: string;

before(async () => {
  // The "PBX" answers every call busy: what matters is whether the INVITE got through.
  pbx = scriptCallPbx(await peer(PBX_IP), 'busy');
  dir = tempDir('fraud-blocks-restart');
  const dataDir = join(dir.path, 'data');
  mkdirSync(dataDir);
  socketPath = join(dataDir, 'palisade.sock');
  blocksPath = join(dataDir, 'fraud-blocks.json');
  writeDigestUsers(join(dataDir, 'users.yaml'), REALM, { mallory: PASSWORD });
  configPath = join(dir.path, 'palisade.yaml');
  writeFileSync(
    configPath,
    `
${fraudPolicyBase(dataDir, pbx.peer.port, REALM)}
admin: { socket: ${socketPath} }
${mediaRangeYaml()}
${SEQUENTIAL_BLOCK_FRAUD_YAML}
`,
  );
  phone = await peer('127.0.0.42');
});

after(async () => {
  await d?.stop('SIGKILL');
  pbx?.peer.sock.close();
  phone?.sock.close();
  dir?.remove();
});

/** Starts the daemon on the shared data directory and points the phone at its (new) public port. */
async function start(): Promise<ChildDaemon> {
  d = await startChild(configPath, socketPath);
  kit.publicPort = portOf(await d.status(), 'pub');
  return d;
}

async function stop(signal: NodeJS.Signals): Promise<void> {
  const r = await d?.stop(signal);
  d = undefined;
  if (signal === 'SIGTERM') assert.equal(r?.code, 0, 'a clean stop');
}

/** INVITE, answered with digest when challenged: the status of the final answer, or of the refusal. */
async function call(dial: string): Promise<number> {
  return statusOf((await inviteWithDigest(kit, phone, 'mallory', PASSWORD, dial)).final);
}

/** `palisade fraud blocks --json` through the admin socket. */
async function listedBlocks(): Promise<Array<{ subject: string; until: string }>> {
  const r = await palisade(['fraud', 'blocks', '--json', '--socket', socketPath]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { blocks: Array<{ subject: string; until: string }> }).blocks;
}

function fileBlocks(): Array<{ subject: string; until: number }> {
  try {
    return (JSON.parse(readFileSync(blocksPath, 'utf8')) as { blocks: Array<{ subject: string; until: number }> }).blocks;
  } catch {
    return [];
  }
}

test('an anomaly block survives a crash and a restart; unblock is persisted too', async () => {
  await start();
  // The attack: three numbers of one range; the third fires the rule, which blocks the user for an hour.
  const results: number[] = [];
  for (let i = 0; i < 3; i++) results.push(await call(`+4420794600${20 + i}`));
  assert.deepEqual(results, [486, 486, 403]);
  const before = await listedBlocks();
  assert.deepEqual(
    before.map((b) => b.subject),
    ['user:mallory'],
  );
  const until = Date.parse(before[0]?.until ?? '');
  assert.ok(Math.abs(until - (Date.now() + HOUR)) < 60_000, `until ${before[0]?.until}`);

  // The block reaches the file within the store's debounce; then the daemon dies without a chance to flush.
  assert.ok(await eventually(() => fileBlocks().some((b) => b.subject === 'user:mallory'), 5000), 'fraud-blocks.json holds the block');
  assert.deepEqual(fileBlocks(), [{ subject: 'user:mallory', until }]);
  await stop('SIGKILL');

  // A hand edit that went wrong: one bad entry is skipped (logged at warn), the daemon starts, the good one stays.
  const doc = JSON.parse(readFileSync(blocksPath, 'utf8')) as { blocks: unknown[] };
  doc.blocks.push({ subject: 'user:has space', until }, { subject: 'user:expired', until: Date.now() - 1000 });
  writeFileSync(blocksPath, JSON.stringify(doc));

  await start();
  let r = await palisade(['fraud', 'blocks', '--socket', socketPath]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 2, r.stdout);
  assert.equal((lines[1] ?? '').split(/\s{2,}/)[0], 'user:mallory', 'still blocked after the restart');
  assert.deepEqual(await listedBlocks(), before, 'with the same expiry');
  const reached = pbx.invites;
  assert.equal(await call('+33123456789'), 403, 'the restarted daemon still refuses the blocked user');
  assert.equal(pbx.invites, reached, 'nothing reached the PBX');

  r = await palisade(['fraud', 'unblock', 'mallory', '--socket', socketPath]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'unblocked user:mallory\n');
  // A clean stop right away: the pending write is flushed at shutdown.
  await stop('SIGTERM');
  assert.deepEqual(fileBlocks(), [], 'the lift is on disk');

  await start();
  r = await palisade(['fraud', 'blocks', '--socket', socketPath]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'no blocked callers\n', 'the lifted block did not come back');
  assert.equal(await call('+33123456789'), 486, 'the user can call again');
  assert.equal(pbx.invites, reached + 1);
  await stop('SIGTERM');
});
