import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type Credential,
  isValidDigestName,
  loadUsersFileSource,
  parseUsersYaml,
  readUsersFile,
  StaticCredentialSource,
  writeUsersFile,
} from '../../../src/auth/credentials.ts';
import { computeAllHa1 } from '../../../src/auth/digest.ts';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'palisade-auth-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const PASSWORD = 'Circle of Life';
const alice: Credential = {
  user: 'alice',
  realm: 'palisade',
  ha1: computeAllHa1('alice', 'palisade', PASSWORD),
  groups: ['staff', 'sales'],
  aliases: ['1001'],
  disabled: false,
  allowMd5: true,
};
const bob: Credential = {
  ...alice,
  user: 'bob',
  ha1: { sha256: computeAllHa1('bob', 'other', 'pw').sha256 },
  realm: 'other',
  groups: [],
  aliases: [],
  allowMd5: false,
  disabled: true,
};

describe('users file', () => {
  it('round-trips through an atomic 0600 write, with no clear password in it', () => {
    const file = join(dir, 'sub', 'users.yaml');
    writeUsersFile(file, [alice, bob]);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const text = readFileSync(file, 'utf8');
    assert.ok(!text.includes(PASSWORD));
    assert.ok(!text.includes('Circle'));
    assert.ok(!/password/i.test(text.replace(/^#.*$/m, '')));
    const r = readUsersFile(file);
    assert.ok(r.ok);
    assert.deepEqual(r.value, [alice, bob]);
    assert.ok(Object.isFrozen(r.value) && Object.isFrozen(r.value[0]) && Object.isFrozen(r.value[0]?.ha1));
    // Only the final file remains: no temp file left behind.
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['users.yaml']);
    // Rewriting replaces the content.
    writeUsersFile(file, [bob]);
    const r2 = readUsersFile(file);
    assert.ok(r2.ok);
    assert.deepEqual(r2.value, [bob]);
  });

  it('a missing file is an empty list; an unreadable path is USERS_IO', () => {
    const r = readUsersFile(join(dir, 'none.yaml'));
    assert.ok(r.ok);
    assert.equal(r.value.length, 0);
    const io = readUsersFile(dir);
    assert.ok(!io.ok);
    assert.equal(io.error[0]?.code, 'USERS_IO');
  });

  it('refuses unknown keys (such as a clear password), bad HA1s, duplicates, bad names, YAML errors', () => {
    const entry = (extra: string) => `users:\n  - user: alice\n    realm: palisade\n    ha1: { md5: ${alice.ha1.md5} }\n${extra}`;
    assert.ok(parseUsersYaml(entry('')).ok);
    const cases: Array<[string, string, string]> = [
      [entry('    password: hunter2\n'), 'USERS_INVALID', 'users[0]'],
      ['users:\n  - user: alice\n    realm: palisade\n    ha1: { md5: XYZ }\n', 'USERS_INVALID', 'users[0].ha1.md5'],
      [
        'users:\n  - user: alice\n    realm: palisade\n    ha1: { md5: ABCDEF0123456789ABCDEF0123456789 }\n',
        'USERS_INVALID',
        'users[0].ha1.md5',
      ],
      ['users:\n  - user: alice\n    realm: palisade\n    ha1: {}\n', 'USERS_INVALID', 'users[0].ha1'],
      [`${entry('')}  - user: alice\n    realm: palisade\n    ha1: { md5: ${alice.ha1.md5} }\n`, 'USERS_INVALID', 'users[1].user'],
      ['users:\n  - user: "a:b"\n    realm: palisade\n    ha1: { sha256: x }\n', 'USERS_INVALID', 'users[0].user'],
      ['version: 2\nusers: []\n', 'USERS_INVALID', 'version'],
      ['users: [\n', 'USERS_YAML', ''],
      ['users: []\nusers: []\n', 'USERS_YAML', ''],
    ];
    for (const [text, code, path] of cases) {
      const r = parseUsersYaml(text);
      assert.ok(!r.ok, text);
      assert.equal(r.error[0]?.code, code, text);
      assert.ok(
        r.error.some((e) => e.path === path),
        `${text} → ${JSON.stringify(r.error)}`,
      );
      // Messages never echo values from the file.
      assert.ok(!r.error.some((e) => e.message.includes('hunter2')));
    }
  });

  it('an empty document is an empty list; defaults are filled in', () => {
    const r = parseUsersYaml('');
    assert.ok(r.ok);
    assert.equal(r.value.length, 0);
    const d = parseUsersYaml(`users:\n  - user: carol\n    realm: palisade\n    ha1: { sha512_256: ${'a'.repeat(64)} }\n`);
    assert.ok(d.ok);
    assert.deepEqual(d.value[0], {
      user: 'carol',
      realm: 'palisade',
      ha1: { sha512_256: 'a'.repeat(64) },
      groups: [],
      aliases: [],
      disabled: false,
      allowMd5: false,
    });
  });

  it('StaticCredentialSource looks up by (user, realm) only', async () => {
    const file = join(dir, 'lookup.yaml');
    writeFileSync(file, `users:\n  - user: alice\n    realm: palisade\n    ha1: { md5: ${alice.ha1.md5} }\n    aliases: ['1001']\n`);
    const s = loadUsersFileSource(file);
    assert.ok(s.ok);
    assert.equal(s.value.size, 1);
    assert.equal((await s.value.lookup('alice', 'palisade', 'SHA-256'))?.user, 'alice');
    assert.equal(await s.value.lookup('alice', 'other', 'SHA-256'), undefined);
    assert.equal(await s.value.lookup('1001', 'palisade', 'SHA-256'), undefined);
    assert.ok(Object.isFrozen(new StaticCredentialSource([])));
  });

  it('validates names', () => {
    assert.ok(isValidDigestName('alice@example.com'));
    assert.ok(isValidDigestName('jöhn'));
    for (const bad of ['', 'a b', 'a:b', 'a"b', 'a\\b', 'a\nb', 'x'.repeat(129)]) assert.ok(!isValidDigestName(bad), bad);
  });
});
