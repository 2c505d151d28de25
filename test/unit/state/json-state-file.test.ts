/** The generic file layer (the ban store's tests cover it through createBanStore; these cover what they cannot). */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import { createJsonStateFile, type StateFileIssue } from '../../../src/state/json-state-file.ts';

const CODES = { unreadable: 'X_UNREADABLE', corrupt: 'X_CORRUPT', write: 'X_WRITE' } as const;
type Code = (typeof CODES)[keyof typeof CODES];
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'palisade-state-file-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('json state file', () => {
  it('reads back what it wrote; absent before the first write', async () => {
    let doc: unknown = { a: 1 };
    const f = createJsonStateFile({ dir, fileName: 'one.json', clock: new ManualClock(), codes: CODES, document: () => doc });
    assert.deepEqual(await f.read(), { kind: 'absent' });
    assert.ok((await f.flush(true)).ok);
    assert.deepEqual(await f.read(), { kind: 'document', doc: { a: 1 } });
    doc = [1, 'two'];
    assert.ok((await f.flush(true)).ok);
    assert.deepEqual(await f.read(), { kind: 'document', doc: [1, 'two'] });
  });

  it('a document that cannot be built or serialised is a write issue with the store code, not a throw', async () => {
    const issues: StateFileIssue<Code>[] = [];
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const f = createJsonStateFile({
      dir,
      fileName: 'two.json',
      clock: new ManualClock(),
      codes: CODES,
      document: () => cyclic,
      onIssue: (i) => issues.push(i),
    });
    const r = await f.flush(true);
    assert.equal(r.ok ? undefined : r.error.code, 'X_WRITE');
    assert.deepEqual(
      issues.map((i) => i.code),
      ['X_WRITE'],
    );
    assert.equal(
      (await readdir(dir)).some((n) => n.startsWith('two.json')),
      false,
      'no file and no temp file',
    );
  });

  it('moveAside keeps the bytes and names where they went', async () => {
    await writeFile(join(dir, 'three.json'), '{"version":9}');
    const f = createJsonStateFile({
      dir,
      fileName: 'three.json',
      clock: new ManualClock(0, 1_770_000_000_000),
      codes: CODES,
      document: () => ({}),
    });
    const r = await f.read();
    assert.equal(r.kind, 'document');
    const issue = await f.moveAside('X_CORRUPT', 'wrong version');
    assert.deepEqual(issue, {
      code: 'X_CORRUPT',
      path: join(dir, 'three.json'),
      movedTo: join(dir, 'three.json.corrupt-1770000000000'),
      detail: 'wrong version',
    });
    assert.equal(await readFile(issue.movedTo as string, 'utf8'), '{"version":9}');
    const again = await f.moveAside('X_CORRUPT', 'gone');
    assert.equal(again.movedTo, undefined);
    assert.equal(again.detail, 'gone; not moved aside: ENOENT');
  });
});
