import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type FrameErrorCode, StreamFramer } from '../../../src/transport/stream-framer.ts';

const MAX = 2048;

const messageArb = fc
  .record({
    method: fc.constantFrom('INVITE', 'ACK', 'BYE', 'REGISTER', 'OPTIONS'),
    compact: fc.boolean(),
    body: fc.uint8Array({ maxLength: 300 }),
    extra: fc.array(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,12}: [ -~]{0,40}$/), { maxLength: 5 }),
  })
  .map(({ method, compact, body, extra }) => {
    const headers = extra.filter((h) => !/^(l|content-length)\s*:/i.test(h));
    const head = `${method} sip:x@y SIP/2.0\r\n${headers.map((h) => `${h}\r\n`).join('')}${compact ? 'l' : 'Content-Length'}: ${body.length}\r\n\r\n`;
    return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]);
  });

function run(framer: StreamFramer, chunks: Buffer[]): { frames: Buffer[]; pings: number; errors: FrameErrorCode[] } {
  const frames: Buffer[] = [];
  const errors: FrameErrorCode[] = [];
  let pings = 0;
  const sink = {
    onFrame: (b: Buffer): void => {
      frames.push(b);
    },
    onPing: (): void => {
      pings++;
    },
    onError: (c: FrameErrorCode): void => {
      errors.push(c);
    },
  };
  for (const c of chunks) {
    framer.push(c, sink);
    assert.ok(framer.buffered <= MAX, 'never holds more than maxMessageBytes between pushes');
  }
  return { frames, pings, errors };
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

describe('StreamFramer properties', () => {
  it('yields exactly the messages written, whatever the chunking and keep-alives between them', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(messageArb, fc.constantFrom('', '\r\n', '\r\n\r\n')), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (items, cuts) => {
          const stream = Buffer.concat(items.flatMap(([m, ka]) => [Buffer.from(ka, 'latin1'), m]));
          const { frames, pings, errors } = run(new StreamFramer(MAX), splitAt(stream, cuts));
          assert.deepEqual(errors, []);
          assert.equal(frames.length, items.length);
          frames.forEach((f, i) => {
            assert.ok(f.equals(items[i]?.[0] as Buffer));
          });
          assert.equal(pings, items.filter(([, ka]) => ka === '\r\n\r\n').length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never throws on arbitrary bytes and stops for good after an error', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 700 }), { maxLength: 12 }), (chunks) => {
        const framer = new StreamFramer(MAX);
        const { errors } = run(
          framer,
          chunks.map((c) => Buffer.from(c)),
        );
        assert.ok(errors.length <= 1);
        if (errors.length === 1) assert.equal(framer.error, errors[0]);
      }),
      { numRuns: 300 },
    );
  });
});
