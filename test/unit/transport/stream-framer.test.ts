import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type FrameErrorCode, readContentLength, StreamFramer } from '../../../src/transport/stream-framer.ts';

class Collector {
  frames: string[] = [];
  pings = 0;
  errors: FrameErrorCode[] = [];
  readonly sink = {
    onFrame: (b: Buffer): void => {
      this.frames.push(b.toString('latin1'));
    },
    onPing: (): void => {
      this.pings++;
    },
    onError: (code: FrameErrorCode): void => {
      this.errors.push(code);
    },
  };
}

const collector = (): Collector => new Collector();

const msg = (body: string, clHeader = 'Content-Length'): string =>
  `OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP x;branch=z9hG4bK1\r\n${clHeader}: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

describe('StreamFramer', () => {
  it('frames a message with a body delivered byte by byte', () => {
    const f = new StreamFramer(4096);
    const c = collector();
    const m = msg('v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n');
    for (const b of Buffer.from(m)) assert.equal(f.push(Buffer.from([b]), c.sink), true);
    assert.deepEqual(c.frames, [m]);
    assert.equal(f.buffered, 0);
  });

  it('frames two messages and a partial third in one chunk', () => {
    const f = new StreamFramer(4096);
    const c = collector();
    const a = msg('hello');
    const b = msg('', 'l');
    const third = msg('xyz');
    f.push(Buffer.from(a + b + third.slice(0, 20)), c.sink);
    assert.deepEqual(c.frames, [a, b]);
    f.push(Buffer.from(third.slice(20)), c.sink);
    assert.deepEqual(c.frames, [a, b, third]);
  });

  it('accepts compact and oddly cased Content-Length with whitespace before the colon', () => {
    const f = new StreamFramer(4096);
    const c = collector();
    const a = msg('abc', 'L ');
    const b = msg('abcd', 'cOnTeNt-LeNgTh\t');
    f.push(Buffer.from(a + b), c.sink);
    assert.deepEqual(c.frames, [a, b]);
  });

  it('answers CRLFCRLF pings and skips lone CRLFs between messages', () => {
    const f = new StreamFramer(4096);
    const c = collector();
    const a = msg('x');
    f.push(Buffer.from(`\r\n\r\n${a}\r\n`), c.sink);
    f.push(Buffer.from(`${a}\r\n\r`), c.sink);
    f.push(Buffer.from('\n'), c.sink);
    assert.deepEqual(c.frames, [a, a]);
    assert.equal(c.pings, 2);
    assert.deepEqual(c.errors, []);
  });

  it('fails on a missing Content-Length', () => {
    const f = new StreamFramer(4096);
    const c = collector();
    assert.equal(f.push(Buffer.from('OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n'), c.sink), false);
    assert.deepEqual(c.errors, ['FRAME_NO_CONTENT_LENGTH']);
    assert.equal(f.error, 'FRAME_NO_CONTENT_LENGTH');
    assert.equal(f.push(Buffer.from(msg('')), c.sink), false, 'a failed framer stays failed');
    assert.deepEqual(c.frames, []);
  });

  it('fails on contradictory or non-numeric Content-Length', () => {
    for (const headers of ['Content-Length: 1\r\nl: 2', 'Content-Length: -1', 'Content-Length: 1e3', 'l:', 'l: 99999999999']) {
      const f = new StreamFramer(4096);
      const c = collector();
      f.push(Buffer.from(`INVITE sip:a SIP/2.0\r\n${headers}\r\n\r\n`), c.sink);
      assert.deepEqual(c.errors, ['FRAME_BAD_CONTENT_LENGTH'], headers);
    }
  });

  it('fails when the header section exceeds the limit, even when trickled', () => {
    const f = new StreamFramer(256);
    const c = collector();
    let ok = true;
    for (let i = 0; i < 300 && ok; i++) ok = f.push(Buffer.from('a'), c.sink);
    assert.equal(ok, false);
    assert.deepEqual(c.errors, ['FRAME_HEADER_TOO_LARGE']);
    assert.ok(f.buffered === 0);
  });

  it('fails when header plus declared body exceed the limit, before the body arrives', () => {
    const f = new StreamFramer(256);
    const c = collector();
    f.push(Buffer.from('MESSAGE sip:a SIP/2.0\r\nContent-Length: 100000\r\n\r\n'), c.sink);
    assert.deepEqual(c.errors, ['FRAME_TOO_LARGE']);
  });

  it('accepts a message of exactly the limit', () => {
    const body = 'b'.repeat(100);
    const m = msg(body);
    const f = new StreamFramer(Buffer.byteLength(m));
    const c = collector();
    f.push(Buffer.from(m), c.sink);
    assert.deepEqual(c.frames, [m]);
  });

  it('never keeps more than maxMessageBytes between pushes on random input', () => {
    let seed = 7;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let round = 0; round < 200; round++) {
      const f = new StreamFramer(512);
      const c = collector();
      for (let k = 0; k < 20; k++) {
        const chunk = Buffer.alloc(rnd() % 200);
        for (let i = 0; i < chunk.length; i++) chunk[i] = rnd() % 4 === 0 ? 0x0d + (rnd() % 2) * -3 : rnd() & 0xff;
        f.push(chunk, c.sink);
        assert.ok(f.buffered <= 512);
      }
      assert.ok(c.errors.length <= 1);
    }
  });
});

describe('readContentLength', () => {
  it('ignores lookalike headers and continuation lines', () => {
    const h = Buffer.from('X sip:a SIP/2.0\r\nContact: <sip:l@x>\r\nContent-Lengthy: 3\r\n l: 9\r\nLocation: 4\r\n\r\n');
    assert.equal(readContentLength(h, 0, h.indexOf('\r\n\r\n')), -1);
    const g = Buffer.from('X sip:a SIP/2.0\r\nContent-Length : 12 \r\n\r\n');
    assert.equal(readContentLength(g, 0, g.indexOf('\r\n\r\n')), 12);
  });
});
