import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { loadPolicyText } from '../../../src/config/load.ts';

const root = resolve(import.meta.dirname, '../../..');
const DEFAULT = readFileSync(resolve(root, 'config/palisade.yaml'), 'utf8');

/** Every issue has a 1-based position inside the text (or none, for I/O), a known code and a message. */
function assertWellFormed(text: string): void {
  const r = loadPolicyText(text, 'p.yaml');
  if (r.ok) return;
  assert.ok(r.error.length > 0);
  const lineCount = text.split(/\r\n|\r|\n/).length;
  for (const i of r.error) {
    assert.ok(['CONFIG_YAML', 'CONFIG_INVALID', 'CONFIG_IO'].includes(i.code));
    assert.ok(i.message.length > 0);
    if (i.code === 'CONFIG_IO') continue;
    assert.ok(i.line >= 1 && i.line <= lineCount + 1, `line ${i.line} outside 1..${lineCount + 1}`);
    assert.ok(i.column >= 1);
  }
}

describe('loadPolicyText never throws', () => {
  it('on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => assertWellFormed(s)),
      { numRuns: 300 },
    );
  });

  it('on the default policy with random edits', () => {
    const edit = fc.tuple(fc.nat({ max: DEFAULT.length }), fc.nat({ max: 8 }), fc.string({ maxLength: 6 }));
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        let t = DEFAULT;
        for (const [at, del, ins] of edits) t = t.slice(0, at) + ins + t.slice(at + del);
        assertWellFormed(t);
      }),
      { numRuns: 300 },
    );
  });
});
