import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { detectScanner, isSipviciousTag } from '../../src/security/scanner.ts';

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 40 });

describe('scanner properties', () => {
  it('every createTag-shaped tag is recognised (counter ≥ 100000)', () => {
    fc.assert(
      fc.property(printable, fc.integer({ min: 100_000, max: 4_294_967_295 }), (data, counter) => {
        const tag = Buffer.from(`${data}\x01${counter}`, 'latin1').toString('hex');
        assert.equal(isSipviciousTag(tag), true, tag);
      }),
      { numRuns: 500 },
    );
  });

  it('decimal tags of up to 10 digits (Yealink style) and random 4–8 byte hex tags never match', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.stringMatching(/^[0-9]{1,10}$/),
          fc.uint8Array({ minLength: 4, maxLength: 8 }).map((b) => Buffer.from(b).toString('hex')),
        ),
        (tag) => assert.equal(isSipviciousTag(tag), false, tag),
      ),
      { numRuns: 2000 },
    );
  });

  it('never throws on arbitrary facts', () => {
    const s = fc.option(fc.string({ maxLength: 80 }), { nil: undefined });
    fc.assert(
      fc.property(s, s, s, s, s, (userAgent, topViaBranch, fromTag, callId, requestUriHost) => {
        const r = detectScanner({ userAgent, topViaBranch, fromTag, callId, requestUriHost, ourHosts: new Set(['sip.example.com']) });
        assert.ok(r === undefined || typeof r.detail === 'string');
      }),
      { numRuns: 1000 },
    );
  });
});
