/**
 * Bounded, incremental framing of SIP over a byte stream (TCP, TLS): RFC 3261 §18.3.
 *
 * The framer does not parse SIP. It finds the end of the header section (CRLFCRLF), reads Content-Length
 * (or its compact form `l`, any case), and yields whole messages. Everything else is the parser's job.
 *
 *   ┌───────── header section ─────────┬──CRLFCRLF──┬──── body: Content-Length bytes ────┐
 *   │ start-line CRLF *(header CRLF)   │            │                                    │
 *   └──────────────────────────────────┴────────────┴────────────────────────────────────┘
 *   header section + CRLFCRLF + body  ≤  maxMessageBytes, or the stream fails.
 *
 * Keep-alives (RFC 5626 §3.5.1): at a message boundary, CRLFCRLF is a ping (the caller answers CRLF), and a lone
 * CRLF (a pong, or the leading CRLFs RFC 3261 §7.5 says to ignore) is skipped.
 *
 * Failure is final: after a framing error the stream cannot be resynchronised and the connection must close.
 * Memory: at most maxMessageBytes are kept between pushes; each push scans new bytes once (no quadratic
 * rescans on a 1-byte trickle).
 */

export type FrameErrorCode =
  /** A stream message without Content-Length cannot be delimited (RFC 3261 §18.3: mandatory on streams). */
  | 'FRAME_NO_CONTENT_LENGTH'
  /** Content-Length not a decimal number, or two Content-Length headers that disagree (smuggling). */
  | 'FRAME_BAD_CONTENT_LENGTH'
  /** No CRLFCRLF within maxMessageBytes. */
  | 'FRAME_HEADER_TOO_LARGE'
  /** Header section plus declared body exceeds maxMessageBytes. */
  | 'FRAME_TOO_LARGE';

export interface FrameSink {
  /** A whole message; the buffer is a fresh copy owned by the receiver. */
  onFrame(message: Buffer): void;
  /** A CRLFCRLF keep-alive ping: answer with a single CRLF. */
  onPing(): void;
  onError(code: FrameErrorCode): void;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const DOUBLE_CRLF = Buffer.from('\r\n\r\n', 'latin1');
/** "content-length" in lower case, compared byte by byte with ASCII folding. */
const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
/** Ten digits are far past any sane limit; longer numbers are refused rather than parsed. */
const MAX_CL_DIGITS = 10;

export function isFrameSizeError(code: FrameErrorCode): boolean {
  return code === 'FRAME_HEADER_TOO_LARGE' || code === 'FRAME_TOO_LARGE';
}

export class StreamFramer {
  readonly maxMessageBytes: number;
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes of the current (incomplete) message held in `buf[0, len)`. */
  private len = 0;
  /** Bytes from the message start already searched for CRLFCRLF without success. */
  private scanned = 0;
  /** Total size (headers + body) of the current message once its header section is known, else -1. */
  private total = -1;
  private failed: FrameErrorCode | undefined;

  constructor(maxMessageBytes: number) {
    if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 16) throw new RangeError('maxMessageBytes too small');
    this.maxMessageBytes = maxMessageBytes;
  }

  /** The error that stopped this framer, if any. */
  get error(): FrameErrorCode | undefined {
    return this.failed;
  }

  /** Bytes currently buffered (never more than maxMessageBytes between pushes). */
  get buffered(): number {
    return this.len;
  }

  /** Feeds bytes; calls the sink for each event. Returns false once the stream has failed. */
  push(chunk: Buffer, sink: FrameSink): boolean {
    if (this.failed !== undefined) return false;
    if (chunk.length === 0) return true;
    let data: Buffer;
    const fromChunk = this.len === 0;
    if (fromChunk) {
      data = chunk;
    } else {
      this.append(chunk);
      data = this.buf.subarray(0, this.len);
    }
    let pos = 0;
    const end = data.length;
    while (pos < end && this.failed === undefined) {
      if (this.total < 0) {
        if (this.scanned === 0 && (data[pos] === CR || data[pos] === LF)) {
          const step = this.keepAlive(data, pos, sink);
          if (step === 0) break; // partial CRLF at the end: wait for more
          pos += step;
          continue;
        }
        const from = pos + Math.max(0, this.scanned - 3);
        const idx = data.indexOf(DOUBLE_CRLF, from);
        if (idx < 0) {
          this.scanned = end - pos;
          if (this.scanned > this.maxMessageBytes) this.fail('FRAME_HEADER_TOO_LARGE', sink);
          break;
        }
        const headerBytes = idx + 4 - pos;
        if (headerBytes > this.maxMessageBytes) {
          this.fail('FRAME_HEADER_TOO_LARGE', sink);
          break;
        }
        const cl = readContentLength(data, pos, idx);
        if (cl < 0) {
          this.fail(cl === -1 ? 'FRAME_NO_CONTENT_LENGTH' : 'FRAME_BAD_CONTENT_LENGTH', sink);
          break;
        }
        if (headerBytes + cl > this.maxMessageBytes) {
          this.fail('FRAME_TOO_LARGE', sink);
          break;
        }
        this.total = headerBytes + cl;
      }
      if (end - pos < this.total) break;
      const message = Buffer.allocUnsafe(this.total);
      data.copy(message, 0, pos, pos + this.total);
      pos += this.total;
      this.total = -1;
      this.scanned = 0;
      sink.onFrame(message);
    }
    if (this.failed !== undefined) {
      this.len = 0;
      this.buf = Buffer.alloc(0);
      return false;
    }
    this.keepRest(data, pos, fromChunk);
    return true;
  }

  /**
   * At a message boundary starting with CR or LF: returns bytes consumed, or 0 to wait for more input.
   * CRLFCRLF → ping; CRLF → skipped; a stray CR or LF is skipped too (RFC 3261 §7.5 leniency).
   */
  private keepAlive(data: Buffer, pos: number, sink: FrameSink): number {
    const avail = data.length - pos;
    if (data[pos] === LF) return 1;
    if (avail < 2) return 0;
    if (data[pos + 1] !== LF) return 1;
    if (avail < 3) return 0;
    if (data[pos + 2] !== CR) return 2;
    if (avail < 4) return 0;
    if (data[pos + 3] === LF) {
      sink.onPing();
      return 4;
    }
    return 2;
  }

  private fail(code: FrameErrorCode, sink: FrameSink): void {
    this.failed = code;
    sink.onError(code);
  }

  private append(chunk: Buffer): void {
    const need = this.len + chunk.length;
    if (need > this.buf.length) {
      let cap = Math.max(1024, this.buf.length);
      while (cap < need) cap *= 2;
      const next = Buffer.allocUnsafe(cap);
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    chunk.copy(this.buf, this.len);
    this.len = need;
  }

  private keepRest(data: Buffer, pos: number, fromChunk: boolean): void {
    const rest = data.length - pos;
    if (rest === 0) {
      this.len = 0;
      // Drop a large buffer once idle so a single big message does not pin memory per connection.
      if (this.buf.length > 16384) this.buf = Buffer.alloc(0);
      return;
    }
    if (fromChunk) {
      if (this.buf.length < rest) this.buf = Buffer.allocUnsafe(Math.max(1024, rest));
      data.copy(this.buf, 0, pos);
    } else if (pos > 0) {
      this.buf.copyWithin(0, pos, this.len);
    }
    this.len = rest;
  }
}

function lower(b: number): number {
  return b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
}

/**
 * Content-Length of the header section data[start, crlfcrlf): -1 when absent, -2 when malformed or
 * contradictory. Header names may be followed by whitespace before the colon (RFC 3261 §7.3.1 HCOLON).
 */
export function readContentLength(data: Buffer, start: number, headerEnd: number): number {
  let found = -1;
  // Skip the start-line.
  let line = data.indexOf(LF, start);
  while (line >= 0 && line < headerEnd) {
    const ls = line + 1;
    let le = data.indexOf(LF, ls);
    if (le < 0 || le > headerEnd) le = headerEnd;
    const value = headerValueIfContentLength(data, ls, le);
    if (value !== -1) {
      if (value === -2) return -2;
      if (found >= 0 && found !== value) return -2;
      found = value;
    }
    line = le < headerEnd ? le : -1;
  }
  return found;
}

/** For the header line data[ls, le): -1 if not Content-Length, -2 if malformed, else the value. */
function headerValueIfContentLength(data: Buffer, ls: number, le: number): number {
  let p = ls;
  const first = data[p];
  if (first === undefined || first === SP || first === HTAB) return -1; // continuation line
  let nameLen = 0;
  if (lower(first) === 0x6c /* l: compact form, RFC 3261 §7.3.3 */) {
    p = ls + 1;
  } else if (lower(first) === 0x63 /* c */) {
    while (p < le && nameLen < CONTENT_LENGTH.length && lower(data[p] as number) === CONTENT_LENGTH[nameLen]) {
      p++;
      nameLen++;
    }
    if (nameLen !== CONTENT_LENGTH.length) return -1;
  } else {
    return -1;
  }
  while (p < le && (data[p] === SP || data[p] === HTAB)) p++;
  if (data[p] !== COLON) return -1;
  p++;
  while (p < le && (data[p] === SP || data[p] === HTAB)) p++;
  let e = le;
  while (e > p && (data[e - 1] === CR || data[e - 1] === SP || data[e - 1] === HTAB)) e--;
  if (e === p || e - p > MAX_CL_DIGITS) return -2;
  let v = 0;
  for (let i = p; i < e; i++) {
    const d = (data[i] as number) - 0x30;
    if (d < 0 || d > 9) return -2;
    v = v * 10 + d;
  }
  return v;
}
