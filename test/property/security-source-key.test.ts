import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { slowSourceKey, sourceKey } from '../../src/security/cidr.ts';

test('sourceKey: the string fast path agrees with the BigInt path on any IPv6 address, and never throws', () => {
  fc.assert(
    fc.property(fc.ipV6(), (a) => {
      assert.equal(sourceKey(a), slowSourceKey(a));
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 60 }), (s) => {
      assert.equal(typeof sourceKey(s), 'string');
    }),
    { numRuns: 1000 },
  );
});
