/**
 * RTP/RTCP port pairs (even RTP port, RTCP on the next odd one: RFC 3550 §11) from a fixed range.
 *
 * - Bounded: the pool is exactly the pairs in [portMin, portMax]; state lives in typed arrays sized once.
 * - Never two owners: a pair is free, in use or quarantined; acquire only hands out free pairs.
 * - Quarantine: a released pair becomes free again only after `quarantineMs`, so late packets of an ended
 *   call (and a peer still sending to it) do not reach the next call on the same port.
 * - Fair reuse: free pairs are handed out FIFO, so the least recently used pair goes first.
 * - Start: the first pair handed out is `startIndex` (default 0, the bottom of the range). A random start keeps
 *   two processes sharing a range (or a restarted one) off each other's ports.
 */
import type { Clock } from '../core/clock.ts';

export const DEFAULT_PORT_QUARANTINE_MS = 4_000;

export interface PortPair {
  readonly rtp: number;
  readonly rtcp: number;
}

export interface PortPoolOptions {
  portMin: number;
  portMax: number;
  clock: Clock;
  quarantineMs?: number;
  /** Index of the pair acquire() hands out first (taken modulo the number of pairs); default 0. */
  startIndex?: number;
}

export interface PortPoolStats {
  total: number;
  free: number;
  inUse: number;
  quarantined: number;
  /** release() of a pair that was not in use (a bug upstream; counted, otherwise ignored). */
  badReleases: number;
}

const FREE = 0;
const IN_USE = 1;
const QUARANTINED = 2;

export class PortPool {
  readonly firstPort: number;
  readonly total: number;
  private readonly quarantineMs: number;
  private readonly clock: Clock;
  private readonly state: Uint8Array;
  /** Ring of free pair indexes. */
  private readonly freeRing: Int32Array;
  private freeHead = 0;
  private freeCount = 0;
  /** Ring of quarantined pair indexes with their release-until times; FIFO is time order (constant delay). */
  private readonly qRing: Int32Array;
  private readonly qUntil: Float64Array;
  private qHead = 0;
  private qCount = 0;
  private inUse = 0;
  private badReleases = 0;

  constructor(opts: PortPoolOptions) {
    const { portMin, portMax } = opts;
    if (!Number.isInteger(portMin) || !Number.isInteger(portMax) || portMin < 1024 || portMax > 65535) {
      throw new RangeError('port range must be integers within 1024..65535');
    }
    this.firstPort = portMin % 2 === 0 ? portMin : portMin + 1;
    const total = Math.floor((portMax - this.firstPort + 1) / 2);
    if (total < 1) throw new RangeError('port range holds no even/odd pair');
    this.total = total;
    this.quarantineMs = opts.quarantineMs ?? DEFAULT_PORT_QUARANTINE_MS;
    this.clock = opts.clock;
    this.state = new Uint8Array(total);
    this.freeRing = new Int32Array(total);
    this.qRing = new Int32Array(total);
    this.qUntil = new Float64Array(total);
    const start = Number.isInteger(opts.startIndex) ? (((opts.startIndex as number) % total) + total) % total : 0;
    for (let i = 0; i < total; i++) this.freeRing[i] = (start + i) % total;
    this.freeCount = total;
  }

  /** Number of pairs acquire() could hand out now. */
  available(): number {
    this.drainQuarantine();
    return this.freeCount;
  }

  /** The RTP port of a free pair (its RTCP port is rtp + 1), or -1 when none is free. */
  acquire(): number {
    this.drainQuarantine();
    if (this.freeCount === 0) return -1;
    const idx = this.freeRing[this.freeHead] as number;
    this.freeHead = (this.freeHead + 1) % this.total;
    this.freeCount--;
    this.state[idx] = IN_USE;
    this.inUse++;
    return this.firstPort + idx * 2;
  }

  /** Returns a pair by its RTP port; it becomes free after the quarantine. Unknown or not-in-use: counted, ignored. */
  release(rtpPort: number): void {
    const idx = this.indexOf(rtpPort);
    if (idx < 0 || this.state[idx] !== IN_USE) {
      this.badReleases++;
      return;
    }
    this.inUse--;
    if (this.quarantineMs <= 0) {
      this.pushFree(idx);
      return;
    }
    this.state[idx] = QUARANTINED;
    const tail = (this.qHead + this.qCount) % this.total;
    this.qRing[tail] = idx;
    this.qUntil[tail] = this.clock.now() + this.quarantineMs;
    this.qCount++;
  }

  /**
   * Moves up to `n` free pairs from the front of the line to its back. After a bind failure the next pairs in line
   * are likely held by the same other process (ranges are taken in blocks); this jumps past them. O(n).
   */
  rotate(n: number): void {
    this.drainQuarantine();
    const k = Math.min(Math.max(0, Math.floor(n)), this.freeCount);
    for (let i = 0; i < k; i++) {
      const idx = this.freeRing[this.freeHead] as number;
      this.freeHead = (this.freeHead + 1) % this.total;
      this.freeRing[(this.freeHead + this.freeCount - 1) % this.total] = idx;
    }
  }

  isInUse(rtpPort: number): boolean {
    const idx = this.indexOf(rtpPort);
    return idx >= 0 && this.state[idx] === IN_USE;
  }

  stats(): PortPoolStats {
    this.drainQuarantine();
    return {
      total: this.total,
      free: this.freeCount,
      inUse: this.inUse,
      quarantined: this.qCount,
      badReleases: this.badReleases,
    };
  }

  private indexOf(rtpPort: number): number {
    const off = rtpPort - this.firstPort;
    if (!Number.isInteger(off) || off < 0 || off % 2 !== 0) return -1;
    const idx = off / 2;
    return idx < this.total ? idx : -1;
  }

  private pushFree(idx: number): void {
    this.state[idx] = FREE;
    this.freeRing[(this.freeHead + this.freeCount) % this.total] = idx;
    this.freeCount++;
  }

  private drainQuarantine(): void {
    if (this.qCount === 0) return;
    const now = this.clock.now();
    while (this.qCount > 0 && (this.qUntil[this.qHead] as number) <= now) {
      const idx = this.qRing[this.qHead] as number;
      this.qHead = (this.qHead + 1) % this.total;
      this.qCount--;
      this.pushFree(idx);
    }
  }
}
