/**
 * Operator control of call authorization end to end: a real daemon (in-process, real UDP, real digest), a
 * sequential-dialling attack that makes an anomaly rule block the user, then the real CLI as a child process
 * (`palisade fraud blocks|status|unblock`) lists the block, lifts it, and the user can call again; the unblock
 * is in the audit log with the operator as actor.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { operatorActor } from '../../src/cli/commands/bans.ts';
import { eventually, type InProcessDaemon, mediaRangeYaml, palisade, startInProcess, type TempDir, tempDir } from './helpers/daemon.ts';
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

const REALM = 'fraud-cli.test';
const PASSWORD = 'pw-mallory-7';
const HOUR = 3_600_000;
const kit = digestPhoneKit(REALM, 3000);
const { peer } = kit;

let dir: TempDir;
let d: InProcessDaemon;
let pbx: ScriptedCallPbx;
let phone: Peer;
let socketPath: string;
let auditPath: string;

before(async () => {
  // The "PBX" answers every call busy: what matters is whether the INVITE got through.
  pbx = scriptCallPbx(await peer(PBX_IP), 'busy');
  dir = tempDir('cli-fraud');
  const dataDir = join(dir.path, 'data');
  mkdirSync(dataDir);
  socketPath = join(dataDir, 'palisade.sock');
  auditPath = join(dataDir, 'audit.log');
  writeDigestUsers(join(dataDir, 'users.yaml'), REALM, { mallory: PASSWORD });
  d = await startInProcess(
    dir,
    `
${fraudPolicyBase(dataDir, pbx.peer.port, REALM)}
${mediaRangeYaml()}
${SEQUENTIAL_BLOCK_FRAUD_YAML}
`,
  );
  kit.publicPort = d.port('pub');
  phone = await peer('127.0.0.41');
});

after(async () => {
  await d?.stop();
  pbx?.peer.sock.close();
  phone?.sock.close();
  dir?.remove();
});

/** INVITE, answered with digest when challenged: the status of the final answer, or of the refusal. */
async function call(dial: string): Promise<number> {
  return statusOf((await inviteWithDigest(kit, phone, 'mallory', PASSWORD, dial)).final);
}

function auditLines(): Record<string, unknown>[] {
  let text = '';
  try {
    text = readFileSync(auditPath, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('a user blocked by a sequential-dialling rule is listed by the CLI, unblocked by it, and can call again', async () => {
  // The attack: three numbers of one range; the third fires the rule, which blocks the user for an hour.
  const results: number[] = [];
  for (let i = 0; i < 3; i++) results.push(await call(`+4420794600${10 + i}`));
  assert.deepEqual(results, [486, 486, 403]);
  const reached = pbx.invites;
  assert.equal(reached, 2);
  assert.equal(await call('+33123456789'), 403, 'blocked: even an unrelated destination');
  assert.equal(pbx.invites, reached, 'nothing reached the PBX while blocked');

  const blockedAt = Date.now();
  let r = await palisade(['fraud', 'blocks', '--socket', socketPath]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^SUBJECT\s+BLOCKED UNTIL\s+EXPIRES IN$/);
  assert.equal(lines.length, 2, r.stdout);
  const cols = (lines[1] ?? '').split(/\s{2,}/);
  assert.equal(cols[0], 'user:mallory');
  assert.match(cols[2] ?? '', /^(59m \d\ds|1h 0m)$/);

  r = await palisade(['fraud', 'blocks', '--json', '--socket', socketPath]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout) as { blocks: { subject: string; until: string }[]; total: number };
  assert.equal(json.total, 1);
  assert.equal(json.blocks[0]?.subject, 'user:mallory');
  const until = Date.parse(json.blocks[0]?.until ?? '');
  assert.ok(Math.abs(until - (blockedAt + HOUR)) < 60_000, `until ${json.blocks[0]?.until}`);

  // --config finds the socket from the policy file, as an operator would run it.
  r = await palisade(['fraud', 'status', '--config', d.configPath]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^call authorization: +enabled$/m);
  assert.match(r.stdout, /^blocked callers: +1$/m);
  assert.match(r.stdout, /^decisions: .*blocked=1/m);

  r = await palisade(['fraud', 'unblock', 'bad name', '--socket', socketPath]);
  assert.equal(r.code, 2, 'a malformed subject is a usage error');

  r = await palisade(['fraud', 'unblock', 'mallory', '--socket', socketPath]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'unblocked user:mallory\n');

  r = await palisade(['fraud', 'blocks', '--socket', socketPath]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'no blocked callers\n');

  // The user can call again: the INVITE reaches the PBX.
  assert.equal(await call('+33123456789'), 486);
  assert.equal(pbx.invites, reached + 1);

  r = await palisade(['fraud', 'unblock', 'user:mallory', '--socket', socketPath]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /FRAUD_NOT_BLOCKED: user:mallory is not blocked \(HTTP 404\)/);

  // Audit: the block by the rule, the lift by the operator (named as user@host), the refused second lift.
  const actor = operatorActor();
  assert.ok(await eventually(() => auditLines().filter((l) => l.action === 'fraud.unblock').length === 2, 5000), 'two fraud.unblock lines');
  const audit = auditLines();
  const anomaly = audit.find((l) => l.action === 'fraud.anomaly');
  assert.equal(anomaly?.target, 'user:mallory');
  assert.equal(anomaly?.reason, 'sequential');
  const unblocks = audit.filter((l) => l.action === 'fraud.unblock');
  assert.deepEqual(
    unblocks.map((l) => [l.actor, l.target, l.outcome]),
    [
      [actor, 'user:mallory', 'ok'],
      [actor, 'user:mallory', 'refused'],
    ],
  );
  assert.equal(Date.parse(String((unblocks[0]?.details as { until?: unknown } | undefined)?.until)), until);
});
