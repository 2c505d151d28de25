/** A temp root per test file (removed after it) and a fresh 0700 directory under it per call. */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

export function tempDirs(prefix: string): () => Promise<string> {
  let root = '';
  let n = 0;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), prefix));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  return async () => {
    const d = join(root, `d${n++}`);
    await mkdir(d, { mode: 0o700 });
    return d;
  };
}
