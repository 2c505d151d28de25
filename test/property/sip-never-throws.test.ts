import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { SipMessage } from '../../src/sip/index.ts';
import { parseMessage } from '../../src/sip/index.ts';
import { genMessage, render } from '../unit/sip/arbitraries.ts';

/** Every read a caller may do; none may throw. */
function readEverything(m: SipMessage): void {
  m.vias();
  m.topVia();
  m.from();
  m.to();
  m.cseq();
  m.callId();
  m.contacts();
  m.routes();
  m.recordRoutes();
  m.maxForwards();
  m.expires();
  m.headers();
  m.getAll('via');
  m.getAll('x-unknown');
  if (m.isRequest) m.uri();
  m.serialize();
}

function check(bytes: Uint8Array, stream: boolean): void {
  const r = parseMessage(Buffer.from(bytes), { stream });
  assert.equal(typeof r.ok, 'boolean');
  if (r.ok) readEverything(r.value);
  else assert.match(r.error.code, /^SIP_/);
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('del' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ kind: fc.constant('ins' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 60 }) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(b: Buffer, ms: readonly Mutation[]): Buffer {
  let out = b;
  for (const m of ms) {
    const at = out.length === 0 ? 0 : m.at % out.length;
    switch (m.kind) {
      case 'set':
        if (out.length > 0) {
          out = Buffer.from(out);
          out[at] = m.byte;
        }
        break;
      case 'del':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.len)]);
        break;
      case 'ins':
        out = Buffer.concat([out.subarray(0, at), Buffer.from(m.bytes), out.subarray(at)]);
        break;
      case 'dup':
        out = Buffer.concat([out.subarray(0, at + m.len), out.subarray(at)]);
        break;
    }
  }
  return out;
}

describe('parseMessage never throws', () => {
  it('on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (b, stream) => check(b, stream)),
      { numRuns: 300 },
    );
  });

  it('on arbitrary text built from SIP-ish pieces', () => {
    const piece = fc.constantFrom(
      'INVITE ',
      'SIP/2.0',
      ' ',
      '\r\n',
      '\r\n ',
      ':',
      ';',
      ',',
      '"',
      '\\',
      '<',
      '>',
      '[',
      ']',
      '@',
      'sip:',
      'Via',
      'v',
      'From',
      'To',
      'CSeq',
      'Call-ID',
      'Content-Length',
      'l',
      'tag=',
      'branch=',
      '1',
      '0',
      '99999999999',
      '::1',
      '%',
      '%00',
      '\0',
      '\t',
      'é',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 80 }), (parts) => check(Buffer.from(parts.join(''), 'utf8'), false)),
      { numRuns: 300 },
    );
  });

  it('on mutated valid messages', () => {
    fc.assert(
      fc.property(genMessage, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), (g, ms, stream) => {
        check(mutate(render(g), ms), stream);
      }),
      { numRuns: 300 },
    );
  });
});
