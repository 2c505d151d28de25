import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { readUsersFile } from '../../../src/auth/credentials.ts';
import { computeAllHa1 } from '../../../src/auth/digest.ts';
import { type PasswordReader, registerUser, runUserAdd, runUserPasswd, stripOneNewline } from '../../../src/cli/commands/user.ts';
import { runCli } from '../../../src/cli/program.ts';
import { capture } from './helpers.ts';

function passwords(answers: string[], stdin = ''): PasswordReader & { prompts: number } {
  const r = {
    prompts: 0,
    fromStdin: async () => stripOneNewline(stdin),
    prompt: async () => {
      r.prompts++;
      const a = answers.shift();
      if (a === undefined) throw new Error('no terminal to prompt on: use --password-stdin');
      return a;
    },
  };
  return r;
}

/** Runs `palisade user …` through commander with the injected password reader. */
async function run(argv: string[], pw: PasswordReader): Promise<{ code: number; out: string; err: string }> {
  const c = capture();
  let code = 0;
  const program = new Command('palisade').exitOverride().configureOutput({ writeOut: c.ctx.io.out, writeErr: c.ctx.io.err });
  registerUser(
    program,
    c.ctx,
    (n) => {
      code = n;
    },
    pw,
  );
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch {
    code = 2;
  }
  return { code, out: c.out(), err: c.err() };
}

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'palisade-user-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const SECRET = 'Tr0ub4dor&3 secret';

describe('palisade user', () => {
  it('add with --password-stdin writes all three HA1s, never the password, file 0600', async () => {
    const file = join(dir, 'a.yaml');
    const pw = passwords([], `${SECRET}\n`);
    const r = await run(
      ['user', 'add', 'alice', '--users', file, '--realm', 'pbx.example', '--groups', 'staff, sales,staff', '--password-stdin'],
      pw,
    );
    assert.equal(r.code, 0, r.err);
    assert.equal(pw.prompts, 0);
    assert.ok(!r.out.includes(SECRET) && !r.err.includes(SECRET));
    const text = readFileSync(file, 'utf8');
    assert.ok(!text.includes(SECRET));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const users = readUsersFile(file);
    assert.ok(users.ok);
    assert.deepEqual(users.value[0]?.ha1, computeAllHa1('alice', 'pbx.example', SECRET));
    assert.deepEqual(users.value[0]?.groups, ['staff', 'sales']);
    // HA1 values are not printed either.
    assert.ok(!r.out.includes(users.value[0]?.ha1.sha256 ?? 'x'));
  });

  it('add prompts twice without echo and refuses a mismatch, an empty password, a duplicate user', async () => {
    const file = join(dir, 'b.yaml');
    const ok = await run(['user', 'add', 'bob', '--users', file], passwords([SECRET, SECRET]));
    assert.equal(ok.code, 0, ok.err);
    const users = readUsersFile(file);
    assert.ok(users.ok);
    assert.equal(users.value[0]?.realm, 'palisade');
    assert.equal(users.value[0]?.ha1.md5, computeAllHa1('bob', 'palisade', SECRET).md5);

    const mismatch = await run(['user', 'add', 'carol', '--users', file], passwords([SECRET, `${SECRET}x`]));
    assert.equal(mismatch.code, 2);
    assert.match(mismatch.err, /differ/);
    assert.ok(!mismatch.err.includes(SECRET));

    const empty = await run(['user', 'add', 'carol', '--users', file, '--password-stdin'], passwords([], '\n'));
    assert.equal(empty.code, 2);
    assert.match(empty.err, /empty password/);

    const dup = await run(['user', 'add', 'bob', '--users', file, '--password-stdin'], passwords([], 'x'));
    assert.equal(dup.code, 1);
    assert.match(dup.err, /already exists/);

    const noTty = await run(['user', 'add', 'dave', '--users', file], passwords([]));
    assert.equal(noTty.code, 2);
    assert.match(noTty.err, /--password-stdin/);

    const badName = await run(['user', 'add', 'a:b', '--users', file, '--password-stdin'], passwords([], 'x'));
    assert.equal(badName.code, 2);

    const after = readUsersFile(file);
    assert.ok(after.ok);
    assert.deepEqual(
      after.value.map((u) => u.user),
      ['bob'],
    );
  });

  it('passwd changes the HA1s; remove deletes; list shows users without digests', async () => {
    const file = join(dir, 'c.yaml');
    const c = capture();
    assert.equal(await runUserAdd(c.ctx, 'erin', { users: file, config: '/nonexistent', passwordStdin: true }, passwords([], 'one')), 0);
    assert.equal(
      await runUserAdd(
        c.ctx,
        'frank',
        { users: file, config: '/nonexistent', passwordStdin: true, realm: 'r2', allowMd5: true },
        passwords([], 'two'),
      ),
      0,
    );
    assert.equal(
      await runUserPasswd(c.ctx, 'erin', { users: file, config: '/nonexistent', passwordStdin: true }, passwords([], 'three')),
      0,
    );
    const u = readUsersFile(file);
    assert.ok(u.ok);
    assert.deepEqual(u.value[0]?.ha1, computeAllHa1('erin', 'palisade', 'three'));
    assert.equal(u.value[1]?.allowMd5, true);

    const list = await run(['user', 'list', '--users', file], passwords([]));
    assert.equal(list.code, 0);
    assert.match(list.out, /^erin\trealm=palisade/m);
    assert.match(list.out, /^frank\trealm=r2.*md5-allowed/m);
    for (const h of Object.values(u.value[0]?.ha1 ?? {})) assert.ok(!list.out.includes(h));
    const json = await run(['user', 'list', '--users', file, '--json'], passwords([]));
    assert.deepEqual(
      (JSON.parse(json.out) as Array<{ user: string; algorithms: string[] }>).map((x) => [x.user, x.algorithms]),
      [
        ['erin', ['md5', 'sha256', 'sha512_256']],
        ['frank', ['md5', 'sha256', 'sha512_256']],
      ],
    );

    const missing = await run(['user', 'remove', 'nobody', '--users', file], passwords([]));
    assert.equal(missing.code, 1);
    const removed = await run(['user', 'remove', 'frank', '--users', file], passwords([]));
    assert.equal(removed.code, 0, removed.err);
    const after = readUsersFile(file);
    assert.ok(after.ok);
    assert.deepEqual(
      after.value.map((x) => x.user),
      ['erin'],
    );
  });

  it('asks for --realm when a user exists in several realms', async () => {
    const file = join(dir, 'd.yaml');
    await run(['user', 'add', 'gina', '--users', file, '--realm', 'r1', '--password-stdin'], passwords([], 'p'));
    await run(['user', 'add', 'gina', '--users', file, '--realm', 'r2', '--password-stdin'], passwords([], 'p'));
    const amb = await run(['user', 'remove', 'gina', '--users', file], passwords([]));
    assert.equal(amb.code, 2);
    assert.match(amb.err, /--realm/);
    const ok = await run(['user', 'remove', 'gina', '--users', file, '--realm', 'r1'], passwords([]));
    assert.equal(ok.code, 0);
  });

  it('an invalid users file is reported and left untouched', async () => {
    const file = join(dir, 'e.yaml');
    writeFileSync(file, 'users:\n  - user: x\n    password: plain\n');
    const r = await run(['user', 'add', 'h', '--users', file, '--password-stdin'], passwords([], 'p'));
    assert.equal(r.code, 2);
    assert.match(r.err, /USERS_INVALID/);
    assert.ok(!r.err.includes('plain'));
    assert.equal(readFileSync(file, 'utf8'), 'users:\n  - user: x\n    password: plain\n');
  });

  it('defaults to <dataDir>/users.yaml of the policy; is registered in the program', async () => {
    const data = join(dir, 'data');
    const policy = join(dir, 'palisade.yaml');
    writeFileSync(
      policy,
      [
        'node:',
        `  dataDir: ${JSON.stringify(data)}`,
        'listeners:',
        '  - transport: udp',
        '    port: 5060',
        'pbx:',
        '  targets:',
        '    - name: pbx1',
        '      host: 127.0.0.1',
        '',
      ].join('\n'),
    );
    const r = await run(['user', 'add', 'ivan', '--config', policy, '--password-stdin'], passwords([], 'p'));
    assert.equal(r.code, 0, r.err);
    const users = readUsersFile(join(data, 'users.yaml'));
    assert.ok(users.ok);
    assert.equal(users.value[0]?.user, 'ivan');

    const c = capture();
    const code = await runCli(['user', 'list', '--users', join(data, 'users.yaml')], c.ctx);
    assert.equal(code, 0, c.err());
    assert.match(c.out(), /^ivan\t/m);
  });
});
